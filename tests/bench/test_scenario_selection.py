"""Scenario selection (--tags, -k), blocks and OCPP versions from the scenario header."""
from pathlib import Path

import pytest

from bench.config import ConfigError
from bench.scenario.model import load_scenario, load_suite, select, split_csv

ROOT = Path(__file__).resolve().parents[2]


def _write(folder: Path, name: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\ntags: [t_{name}]\n{extra}steps:\n  - hold: {{seconds: 1}}\n")
    return path


def test_block_defaults_to_the_folder_and_versions_to_all(tmp_path):
    s = load_scenario(_write(tmp_path / "reservation", "reserve"))
    assert s.block == "reservation"
    assert s.ocpp_versions == ("1.6", "2.0.1", "2.1")
    s = load_scenario(_write(tmp_path / "x", "display", "block: display_messages\nocpp_versions: ['2.0.1']\n"))
    assert (s.block, s.ocpp_versions) == ("display_messages", ("2.0.1",))


def test_an_unknown_ocpp_version_names_file_and_key(tmp_path):
    path = _write(tmp_path / "b", "bad", "ocpp_versions: ['1.5']\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: ocpp_versions\[0\]: "):
        load_scenario(path)


def test_select_by_tag_block_and_keyword(tmp_path):
    _write(tmp_path / "alpha", "one")
    _write(tmp_path / "alpha", "two")
    _write(tmp_path / "beta", "three")
    suite = load_suite([tmp_path])
    assert [s.name for s in select(suite, ["beta"])] == ["three"]            # a block is a tag
    assert [s.name for s in select(suite, ["t_one", "t_three"])] == ["one", "three"]
    assert [s.name for s in select(suite, ["alpha"], ["tw"])] == ["two"]      # both filters apply
    assert [s.name for s in select(suite, None, ["o"])] == ["one", "two"]
    with pytest.raises(ConfigError, match="no scenario matches --tags gamma"):
        select(suite, ["gamma"])


def test_split_csv_accepts_repeats_and_commas():
    assert split_csv(["a,b", " c ", ""]) == ["a", "b", "c"]
    assert split_csv(None) == []


def test_the_shipped_library_has_blocks_ids_and_versions():
    suite = load_suite([ROOT / "scenarios"])
    for s in suite:
        assert s.block == Path(s.file).parent.name, s.name
        # what no OCTT test case covers (physics, EV faults) says so with the tag beyond_octt
        assert s.ocpp_ids or "beyond_octt" in s.tags, f"{s.name}: no OCTT ids"
        assert s.ocpp_versions, s.name


def _long_suite(tmp_path: Path) -> tuple[list, Path]:
    _write(tmp_path / "alpha", "short")
    long_file = tmp_path / "alpha" / "day.yaml"
    long_file.write_text("name: day\nlong: true\nsampling_rate_hz: 0.2\nsteps:\n  - hold: {seconds: 86400}\n")
    return load_suite([tmp_path]), long_file


def test_a_long_scenario_runs_only_when_named_or_asked(tmp_path):
    suite, long_file = _long_suite(tmp_path)
    assert [s.name for s in select(suite)] == ["short"]                          # a folder: not by surprise
    assert [s.name for s in select(suite, include_long=True)] == ["day", "short"]
    assert [s.name for s in select(suite, named=[long_file])] == ["day", "short"]  # its file named
    day = next(s for s in suite if s.name == "day")
    assert (day.long, day.sampling_rate_hz) == (True, 0.2)
    with pytest.raises(ConfigError, match="long scenarios run only when named or with --long"):
        select(suite, keywords=["day"])


def test_repeat_unrolls_its_steps_and_names_bad_keys(tmp_path):
    path = tmp_path / "b" / "soak.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("name: soak\nsteps:\n  - plug_in\n  - repeat:\n      times: 3\n      steps:\n"
                    "        - hold: {seconds: 1}\n        - memory_mark\n  - unplug\n")
    assert [s.name for s in load_scenario(path).steps] == ["plug_in", *["hold", "memory_mark"] * 3, "unplug"]
    path.write_text("name: soak\nsteps:\n  - repeat: {times: 0, steps: [plug_in]}\n")
    with pytest.raises(ConfigError, match=r"soak.yaml: steps\[0\].repeat.times: must be a whole number"):
        load_scenario(path)
    path.write_text("name: soak\nsteps:\n  - repeat: {times: 2, steps: [{hold: {secs: 1}}]}\n")
    with pytest.raises(ConfigError, match=r"steps\[0\].repeat.steps\[0\].hold.secs: unknown key"):
        load_scenario(path)
