"""The pytest plugin as a lab engineer uses it: pytest runs in their own processes against the
virtual lab (free ports, `realism: ideal`, time-warped), all started at once and read here.

- a test file in a folder outside the repository, with nothing but the installed plugin:
  passes on the correct simulated charger, FAILS (a failure, not an error) when it ignores
  charging profiles; a bench error (bad step arguments) is a pytest error, not a failure;
- a scenario file as a pytest item: 1 passed, and 1 failed with the fault;
- the examples of docs/pytest.md (a limit sweep, a test branching on capabilities), and the
  sweep failing at its first limit when the charger ignores profiles;
- the library selected by tag (`-m smart_charging`) without marker warnings;
- Ctrl-C in the middle of a test: the bench in the safe state and the record kept.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEP_DOWN = "scenarios/smart_charging/txprofile_step_down.yaml"

PROOF = '''
"""A lab engineer's own test: a TxProfile of 10 A holds the current."""


async def test_ten_amps(position):
    await position.step("plug_in")
    await position.step("remote_start", id_tag="TAG-ACCEPTED")
    await position.step("ev_state", state="C")
    await position.step("set_profile", purpose="TxProfile", stack_level=1, limit=10)
    await position.hold(8)
    check = await position.check("current_follows_limit")
    assert check.verdict.value == "PASS" and check.measurements
    await position.step("remote_stop")
    await position.step("unplug")
'''

BENCH_ERROR = '''
import pytest


async def test_bad_step_arguments(position):
    await position.step("set_profile", purpose="NoSuchPurpose", limit=10)


@pytest.mark.position("no_such_position")
async def test_unknown_position(position):
    pass


def test_not_async(position):
    position.step("plug_in")  # a coroutine nobody awaits: refused, not passed
'''

INTERRUPTED = '''
from pathlib import Path


async def test_long_charge(position):
    await position.step("plug_in")
    await position.step("remote_start", id_tag="TAG-ACCEPTED")
    await position.step("ev_state", state="C")
    await position.hold(5)
    Path("charging").write_text("yes")  # the parent sends Ctrl-C from here on
    await position.hold(100000)
'''


@dataclass
class PytestRun:
    name: str
    returncode: int
    output: str
    out_dir: Path  # the run folder inside it, and the JUnit XML next to it

    def junit(self) -> dict[str, str]:
        """test name -> outcome (passed, failure, error, skipped) from the run's JUnit XML."""
        outcomes = {}
        for case in ET.parse(self.out_dir / f"{self.name}.xml").getroot().iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            outcomes[case.get("name", "")] = kinds[0] if kinds else "passed"
        return outcomes

    @property
    def record(self) -> dict:
        (path,) = self.out_dir.glob("*/record.json")
        return json.loads(path.read_text())


def _pytest(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)]


@pytest.fixture(scope="module")
def lab_config(tmp_path_factory) -> Path:
    from bench.sim.matrix import free_port_config

    return free_port_config(ROOT / "lab_config.yaml", tmp_path_factory.mktemp("config"), realism="ideal",
                            speed="max")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, lab_config) -> dict[str, PytestRun]:
    outside = tmp_path_factory.mktemp("lab_tests")  # a folder of the lab's own, not the repository
    assert ROOT not in outside.parents
    (outside / "test_proof.py").write_text(PROOF)
    (outside / "test_bench_error.py").write_text(BENCH_ERROR)
    jobs = {
        "proof_clean": (outside, ["test_proof.py"]),
        "proof_fault": (outside, ["test_proof.py", "test_bench_error.py", "--bench-fault", "ignores_profile"]),
        "yaml_clean": (ROOT, [STEP_DOWN, "--bench-speed", "max"]),
        "yaml_fault": (ROOT, [STEP_DOWN, "--bench-fault", "ignores_profile"]),
        "bad_speed": (ROOT, [STEP_DOWN, "--bench-speed", "fast"]),
        "examples": (ROOT, ["examples"]),
        "sweep_fault": (ROOT, ["examples/test_limit_sweep.py", "--bench-fault", "ignores_profile"]),
        # no bench: collection only (started with the others, the library takes a while to load)
        "by_tag": (ROOT, ["scenarios", "-m", "smart_charging", "--collect-only", "-q",
                          "-W", "error::pytest.PytestUnknownMarkWarning"]),
    }
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    procs = {}
    for name, (cwd, args) in jobs.items():
        out = tmp_path_factory.mktemp(name)
        cmd = _pytest(*args, "--lab-config", lab_config, "--bench-out", out, "--junitxml", out / f"{name}.xml")
        procs[name] = (out, cwd, subprocess.Popen(cmd, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT))
    results = {}
    try:
        for name, (out, _, proc) in procs.items():
            output, _ = proc.communicate(timeout=240)
            results[name] = PytestRun(name, proc.returncode, output, out)
    finally:
        for _, _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def test_a_lab_test_outside_the_repository_passes_on_the_correct_charger(runs):
    run = runs["proof_clean"]
    assert run.returncode == 0, run.output
    assert run.junit() == {"test_ten_amps": "passed"}, run.output
    record = run.record
    assert record["suite"] == "pytest" and record["verdict"] == "PASS" and record["complete"] is True
    (test,) = record["scenarios"]
    assert [s["name"] for s in test["steps"]][:4] == ["plug_in", "remote_start", "ev_state", "set_profile"]
    assert [c["name"] for c in test["checks"]] == ["current_follows_limit", "step_expectations",
                                                   "protocol_conformance"]
    assert (run.out_dir / record["run_id"] / "ocpp.jsonl").stat().st_size > 0


def test_the_same_test_fails_on_a_charger_ignoring_profiles_and_a_bench_error_is_an_error(runs):
    run = runs["proof_fault"]
    assert run.returncode == 1, run.output
    assert run.junit() == {"test_ten_amps": "failure", "test_bad_step_arguments": "error",
                           "test_unknown_position": "error", "test_not_async": "error"}, run.output
    assert "current_follows_limit: excess_over_limit_l1_a" in run.output  # the check's own message
    verdicts = {s["name"]: s["verdict"] for s in run.record["scenarios"]}
    assert verdicts == {"test_ten_amps": "FAIL", "test_bad_step_arguments": "ERROR"}
    assert "NoSuchPurpose" in run.output  # the bad value named
    assert "no position 'no_such_position'" in run.output and "must be an `async def` function" in run.output
    # after the failed test and at the end of the session: EV unplugged, loads off
    (run_dir,) = [p.parent for p in run.out_dir.glob("*/record.json")]
    with open(run_dir / "traces" / "pos1.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert last["ev_cp_state"] == "A" and float(last["load_current_l1_a"] or 0) == 0.0


def test_a_scenario_file_is_a_pytest_item(runs):
    clean, fault = runs["yaml_clean"], runs["yaml_fault"]
    assert clean.returncode == 0 and "1 passed" in clean.output, clean.output
    assert fault.returncode == 1 and "1 failed" in fault.output, fault.output
    assert fault.junit() == {"txprofile_step_down": "failure"}
    (scenario,) = fault.record["scenarios"]
    assert scenario["verdict"] == "FAIL" and fault.record["fault"] == "ignores_profile"


def test_a_bad_speed_is_bad_input_before_any_bench(runs):
    run = runs["bad_speed"]
    assert run.returncode != 0 and "--bench-speed: not a number nor 'max': 'fast'" in run.output, run.output


def test_the_documented_examples_run_on_the_virtual_lab(runs):
    run = runs["examples"]
    assert run.returncode == 0, run.output
    # the default bench speaks OCPP 1.6: the test marked for 2.x only is SKIPPED, not run
    assert run.junit() == {"test_limit_sweep": "passed", "test_charges_within_what_it_reports": "passed",
                           "test_only_on_ocpp_2": "skipped"}, run.output
    sweep = next(s for s in run.record["scenarios"] if s["name"] == "test_limit_sweep")
    judged = [c for c in sweep["checks"] if c["name"] in ("current_follows_limit", "pwm_matches_limit")]
    assert len(judged) == 2 * len(range(6, 33, 2)) and all(c["verdict"] == "PASS" for c in judged)


def test_the_sweep_fails_at_its_first_limit_on_a_charger_ignoring_profiles(runs):
    run = runs["sweep_fault"]
    assert run.returncode == 1 and run.junit() == {"test_limit_sweep": "failure"}, run.output
    (sweep,) = run.record["scenarios"]
    # the 6 A limit's own stretch of the recording: the charger offered the car its 16 A anyway
    failed = [c for c in sweep["checks"] if c["verdict"] == "FAIL"]
    assert failed[0]["name"] == "current_follows_limit"
    assert [s["args"].get("limit") for s in sweep["steps"] if s["name"] == "set_profile"] == [6]


def test_the_library_selected_by_tag_without_marker_warnings(runs):
    from bench.scenario.model import load_suite

    run = runs["by_tag"]
    assert run.returncode == 0, run.output
    collected = {line for line in run.output.splitlines() if "::" in line}
    tagged = {f"{Path(s.file).relative_to(ROOT)}::{s.name}" for s in load_suite([ROOT / "scenarios"])
              if "smart_charging" in (s.block, *s.tags)}
    assert f"{STEP_DOWN}::txprofile_step_down" in collected
    assert collected == tagged
    assert not list(run.out_dir.glob("*/record.json"))  # nothing collected starts a bench


def test_importing_the_plugin_starts_and_loads_nothing_of_the_bench():
    code = ("import sys, bench.testing.plugin as p; "
            "print(sorted(m for m in sys.modules if m.startswith(('bench.', 'instruments'))))")
    out = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True, timeout=60, check=True)
    assert out.stdout.strip() == "['bench.testing', 'bench.testing.plugin']"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job starts with SIGINT ignored


def test_ctrl_c_in_a_test_leaves_the_bench_safe_and_keeps_the_record(tmp_path, lab_config):
    (tmp_path / "test_interrupted.py").write_text(textwrap.dedent(INTERRUPTED))
    out = tmp_path / "results"
    proc = subprocess.Popen(_pytest("test_interrupted.py", "--lab-config", lab_config, "--bench-out", out),
                            cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "charging").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (tmp_path / "charging").exists(), proc.communicate(timeout=30)[0]
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, output  # pytest: interrupted
    (run_dir,) = [p.parent for p in out.glob("*/record.json")]
    record = json.loads((run_dir / "record.json").read_text())
    assert record["complete"] is False and record["verdict"] == "ERROR"
    assert "interrupted by SIGINT (Ctrl-C)" in record["error"]
    (test,) = record["scenarios"]
    assert test["verdict"] == "ERROR" and test["error"] == "interrupted by SIGINT (Ctrl-C)"
    with open(run_dir / "traces" / "pos1.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r["meter_current_l1_a"] and float(r["meter_current_l1_a"]) > 10 for r in rows), "never charged"
    last = rows[-1]
    assert last["ev_cp_state"] == "A"
    assert float(last["load_current_l1_a"] or 0) == 0.0
    assert float(last["meter_current_l1_a"] or 0) == 0.0
