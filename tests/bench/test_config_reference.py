"""Every lab_config.yaml key is documented: docs/config.md is what `bench config reference`
generates from the models (regenerate it with `bench config reference > docs/config.md`), every
key has a description, and `bench config schema` is a JSON schema that accepts the shipped
config and refuses what the bench refuses."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from bench.cli import main
from bench.config_reference import json_schema, keys, markdown_reference

ROOT = Path(__file__).resolve().parents[2]


def test_docs_config_md_is_up_to_date() -> None:
    assert (ROOT / "docs" / "config.md").read_text() == markdown_reference(), \
        "docs/config.md is stale: run `bench config reference > docs/config.md`"


def test_every_key_is_described_including_security() -> None:
    documented = keys()
    assert [k.path for k in documented if not k.description] == []
    paths = {k.path for k in documented}
    for key in ("bench.csms.security.profile", "bench.csms.security.password", "bench.csms.security.cert_dir",
                "bench.csms.security.server_names", "positions[].instruments.<name>.ratings.max_current_a",
                "positions[].dut.features.unsupported", "tolerances.current_abs_a", "virtual_lab.speed"):
        assert key in paths, key
    rated = next(k for k in documented if k.path == "positions[].dut.rated_current_a")
    assert rated.default == "required" and "> 0" in rated.type and "<= 80" in rated.type


def test_schema_accepts_the_shipped_config_and_refuses_an_unknown_key(capsys) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json_schema()
    shipped = json.loads(json.dumps(yaml.safe_load((ROOT / "lab_config.yaml").read_text()), default=str))
    jsonschema.validate(shipped, schema)
    shipped["bench"]["csms"]["security"] = {"profile": 1, "pasword": "x" * 16}  # a typo
    try:
        jsonschema.validate(shipped, schema)
    except jsonschema.ValidationError as exc:
        assert "pasword" in exc.message
    else:
        raise AssertionError("an unknown key passed the schema")


def test_config_check_names_the_bad_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "lab.yaml"
    bad.write_text((ROOT / "lab_config.yaml").read_text().replace("rated_current_a: 32", "rated_current_a: 99"))
    assert main(["config", "check", "--config", str(bad)]) == 2
    assert "positions[0].dut.rated_current_a" in capsys.readouterr().err
