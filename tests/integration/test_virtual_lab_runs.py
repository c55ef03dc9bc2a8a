"""The first bench's scenarios on the virtual lab: the correct charger PASSes every check with
every result file written, and each of the first injected faults makes exactly its matching
check FAIL (not ERROR), read from the fault matrix's 1.6 runs, through the real sockets."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.sim import faults as F

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # the matrix runs in a fixture

# fault -> (checks that must FAIL, checks that must still PASS) in the scenario its fault-table
# entry names first
CHECKS = {
    "ignores_profile": (["current_follows_limit", "pwm_matches_limit"], []),
    "slow_reaction": (["current_follows_limit", "pwm_matches_limit"], []),
    "pwm_offset": (["pwm_matches_limit"], []),
    "meter_gain_error": (["meter_values_match_reference", "transaction_energy_matches_reference"],
                         ["current_follows_limit"]),
    "wrong_current_report": (["meter_values_match_reference"],
                             ["transaction_energy_matches_reference", "current_follows_limit"]),
    "accepts_invalid_profile": (["step_expectations"], []),
    "meter_creep": (["register_creep"], []),
}
# fault -> (scenario, checks that must FAIL, checks that must still PASS)
EXPECTED = {fault: (Path(F.FAULTS[fault].blocks[0]).name, *checks) for fault, checks in CHECKS.items()}


def test_every_fault_named_here_exists():
    assert set(CHECKS) <= set(F.FAULTS)


def test_clean_charger_passes_the_default_suite(bench_runs):
    run = bench_runs["clean"]
    assert run.returncode == 0, run.stdout + run.stderr
    record = run.record
    assert record["verdict"] == "PASS"
    assert record["complete"] is True
    names = {s["name"] for s in record["scenarios"]}
    assert {"txprofile_step_down", "meter_values_accuracy", "remote_start_stop",
            "txprofile_without_transaction"} <= names
    for s in record["scenarios"]:
        assert s["verdict"] == "PASS", (s["name"], [(c["name"], c["message"]) for c in s["checks"]])
        judged = [m for c in s["checks"] for m in c["measurements"]]
        assert judged, f"{s['name']}: no measurements at all"
    assert record["dut"]["vendor"] and record["dut"]["firmware"]


def test_the_record_holds_the_plan_and_the_run_measured_what_it_planned(bench_runs):
    """The test plan (bench/checks/plan.py) is in record.json before the verdicts, for the report;
    every measurement taken is one its check planned, with the same unit."""
    from bench.checks.plan import PlannedMeasurement

    for s in bench_runs["clean"].record["scenarios"]:
        plan = [PlannedMeasurement.from_record(row) for row in s["plan"]]
        assert {r.check for r in plan} == {c["name"] for c in s["checks"]}, s["name"]
        for c in s["checks"]:
            for m in c["measurements"]:
                assert any(r.check == c["name"] and r.matches(m["name"]) and r.unit in (m["unit"], "A or W")
                           for r in plan), (s["name"], c["name"], m["name"], m["unit"])


def test_clean_run_writes_every_result_file(bench_runs):
    run_dir = bench_runs["clean"].run_dir
    for name in ("record.json", "ocpp.jsonl", "junit.xml", "report.pdf", "traces/pos1.csv"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "plots").glob("*.png"))
    assert (run_dir / "report.pdf").read_bytes().startswith(b"%PDF")
    with open(run_dir / "traces" / "pos1.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 100
    # teardown left the bench safe: EV unplugged and no load current in the last samples
    assert rows[-1]["ev_cp_state"] == "A"
    assert float(rows[-1]["meter_current_l1_a"] or 0) == 0.0


def test_sampling_rate_is_recorded(bench_runs):
    sampling = bench_runs["clean"].record["sampling"]["pos1"]
    assert sampling["configured_hz"] == 10
    assert sampling["achieved_hz"] > 5  # the figure itself is reported by the run summary
    # per instrument: how its reads went (a stalled link shows here, not only in the log)
    assert set(sampling["instruments"]) >= {"meter", "ev"} and "stalls" in sampling
    assert all(i["reads"] > 0 for i in sampling["instruments"].values())


@pytest.mark.parametrize("fault", sorted(EXPECTED))
def test_injected_fault_fails_its_check(matrices, fault):
    v16 = matrices["1.6"]
    scenario, must_fail, must_pass = EXPECTED[fault]
    assert v16.fault_record(fault)["fault"] == fault
    checks = {c["name"]: c for c in v16.scenario(scenario, fault)["checks"]}
    for name in must_fail:
        assert checks[name]["verdict"] == "FAIL", (name, checks[name]["message"])
        assert any(m["verdict"] == "FAIL" for m in checks[name]["measurements"])
    for name in must_pass:
        assert checks[name]["verdict"] == "PASS", name
