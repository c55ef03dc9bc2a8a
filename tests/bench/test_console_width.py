"""At 80 columns (a CI log, a small terminal) `bench list`, `bench faults`, `bench instruments
list` and the end-of-run table keep every name whole: a scenario, fault or driver name is what
a user copies into the next command. Names may sit anywhere on a line, never split across two."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from bench.cli import _summary, counts_line, summary_table
from bench.record import CheckRecord, RunRecord, ScenarioRecord, Verdict
from bench.scenario.model import load_suite
from bench.sim import FAULTS
from instruments.registry import DRIVERS

ROOT = Path(__file__).resolve().parents[2]
WIDTH = 80


COMMANDS = {"list": ["list"], "faults": ["faults"], "instruments": ["instruments", "list"],
            "list_config": ["list", "--config", "lab_config.yaml", "--ocpp", "2.0.1", "-k", "v16"]}
MARK = "=== output of "


@pytest.fixture(scope="module")
def at_80() -> dict[str, str]:
    """The commands' output with COLUMNS=80 and no terminal (a CI log), from one interpreter."""
    script = "; ".join(["from bench.cli import main"] + [
        f"print({MARK + name!r}, flush=True); assert main({args!r}) == 0" for name, args in COMMANDS.items()])
    env = {**os.environ, "COLUMNS": str(WIDTH), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    parts = proc.stdout.split(MARK)[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts}


def assert_whole(text: str, names) -> None:
    lines = text.splitlines()
    # a path is never wrapped (it is copied whole): the part of a line before it must fit
    too_wide = [line for line in lines if len(line.split("report: ")[0].rstrip()) > WIDTH]
    assert too_wide == [], too_wide[:3]
    broken = [n for n in names if not any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", ln) for ln in lines)]
    assert broken == [], f"names broken or missing at {WIDTH} columns: {broken}"


def test_list_faults_and_instruments_keep_names_whole_at_80_columns(at_80) -> None:
    suite = load_suite([ROOT / "scenarios"])
    assert_whole(at_80["list"], {s.name for s in suite} | {s.block for s in suite}
                 | {c.name for s in suite for c in s.checks} | {t for s in suite for t in s.tags})
    assert_whole(at_80["faults"], set(FAULTS) | {b for f in FAULTS.values() for b in f.blocks})
    assert_whole(at_80["instruments"], set(DRIVERS) | {m for d in DRIVERS.values() for m in d.models})


def test_list_with_a_config_says_what_its_dut_would_skip(at_80) -> None:
    out = at_80["list_config"]
    assert "SKIPPED here: NOT APPLICABLE (not defined for OCPP 2.0.1)" in out
    assert re.search(r"on lab_config\.yaml: 0 run, [1-9]\d* SKIPPED", out), out


def library_record() -> RunRecord:
    """A run of the whole library, with long notes: every FAIL has a message, every SKIPPED a reason."""
    scenarios = []
    for i, s in enumerate(load_suite([ROOT / "scenarios"])):
        verdict = (Verdict.PASS, Verdict.FAIL, Verdict.SKIPPED, Verdict.ERROR)[i % 4]
        message = "excess_over_limit_l1_a = 6.04 A outside [, 0.7]: the current stayed above the limit " * 2
        scenarios.append(ScenarioRecord(
            s.name, str(s.file), "pos1", verdict=verdict, t_start_mono_s=0.0, t_end_mono_s=123.4 * (i % 3),
            checks=[CheckRecord("current_follows_limit", verdict, [], message)] if verdict == Verdict.FAIL else [],
            skipped="not defined for OCPP 1.6 (only 2.0.1, 2.1)" if verdict == Verdict.SKIPPED else "",
            skip_kind="not_applicable" if verdict == Verdict.SKIPPED else "",
            error="bench error: the DUT did not reconnect in time" if verdict == Verdict.ERROR else ""))
    record = RunRecord("20261205T100000Z-default", "default", "2026-12-05T10:00:00Z", "lab_config.yaml",
                       "sha256:0", "1.6", scenarios=scenarios, complete=True)
    record.finalize_verdict()
    return record


def test_end_of_run_table_at_80_columns(tmp_path: Path, monkeypatch) -> None:
    record = library_record()
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, force_terminal=False)
    monkeypatch.setattr("bench.cli.console", console)
    _summary(record, tmp_path)
    text = out.getvalue()
    assert_whole(text, {s.name for s in record.scenarios})
    rows = [line for line in text.splitlines() if line.split(" ", 1)[0] in {s.name for s in record.scenarios}]
    assert len(rows) == len(record.scenarios)  # one line per scenario
    assert "NOT APPLICABLE: not" in text and "excess_over_limit_l1_a" in text  # notes cut to the width
    last = text.rstrip().splitlines()[-1]  # the counts and where the report is, last
    n = len(record.scenarios)
    assert last.startswith(f"overall: ERROR  {n} scenarios: ") and f"report: {tmp_path / 'record.json'}" in last
    assert Text.from_markup(counts_line(record)).plain in last
    n_of = {v: sum(s.verdict == v for s in record.scenarios) for v in Verdict}
    assert f"{n_of[Verdict.PASS]} PASS, {n_of[Verdict.FAIL]} FAIL, {n_of[Verdict.ERROR]} ERROR, " \
           f"{n_of[Verdict.SKIPPED]} SKIPPED" in last


def test_end_of_run_table_uses_a_wider_terminal() -> None:
    record = library_record()
    wide = Console(file=io.StringIO(), width=160, force_terminal=False)
    wide.print(summary_table(record, 160))
    text = wide.file.getvalue()  # type: ignore[attr-defined]
    assert "the current stayed above the limit" in text  # the note gets the room
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 160
