"""`bench list` (blocks, OCTT ids, versions, coverage) and `bench faults` (listing, bad input)."""
from __future__ import annotations

import pytest

from bench.cli import main
from bench.scenario.model import load_suite
from bench.sim import faults as F


@pytest.fixture
def in_repo(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("COLUMNS", "250")


def test_list_shows_every_block_and_the_coverage_table(in_repo, capsys):
    from pathlib import Path

    suite = load_suite([Path("scenarios")])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert f"{len(suite)} scenarios in {len({s.block for s in suite})} blocks" in out
    assert main(["list", "--coverage"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| block | scenarios | OCTT ids | OCPP versions |"
    assert {row.split(" | ")[0].strip("| ") for row in table[2:]} == {s.block for s in suite}


def test_list_selects_by_tags_and_keyword(in_repo, capsys):
    assert main(["list", "--tags", "security", "-k", "tls", "--coverage"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 1 and rows[0].startswith("| security | tls_version_too_low |")


def test_faults_lists_every_fault_with_its_blocks(in_repo, capsys):
    assert main(["faults"]) == 0
    out = capsys.readouterr().out
    for name in F.FAULTS:
        assert name in out


@pytest.mark.parametrize("argv, reason", [
    (["faults", "--matrix", "--fault", "no_such_fault"], "--fault: unknown fault(s) no_such_fault"),
    (["faults", "--matrix", "--jobs", "0"], "--jobs: must be at least 1"),
    (["faults", "--matrix", "--config", "missing.yaml"], "missing.yaml"),
])
def test_faults_matrix_refuses_bad_input_before_starting_anything(in_repo, capsys, argv, reason):
    assert main(argv) == 2
    assert reason in " ".join(capsys.readouterr().err.split())
