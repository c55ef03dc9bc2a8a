"""The pytest plugin: lab engineers' own tests over the same bring-up as `bench run`.

Installed with the package (entry point `pytest11: evbench`); see docs/pytest.md."""
