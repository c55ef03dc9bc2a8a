"""The smart-charging scenario set on the virtual lab, through the real sockets: the correct
charger PASSes every scenario, and each smart-charging fault of the simulated charger makes
the scenario that targets it FAIL (not ERROR), with the check that should catch it.

Like conftest.py's `bench_runs`, one session fixture starts every `bench run` at once as a
subprocess with its own virtual lab on free ports: the clean scenarios in a few groups of
about a minute each, and one run per fault with the scenario(s) that must catch it.
"""
from __future__ import annotations


import pytest

from .conftest import ROOT, BenchRun, free_port_config, run_in_parallel

pytestmark = pytest.mark.integration

SC = ROOT / "scenarios" / "smart_charging"

# The scenarios this suite adds, in groups of similar length that run in parallel.
CLEAN_GROUPS = {
    "clean_a": ["composite_schedule_report", "remote_start_with_profile"],
    "clean_b": ["daily_recurring", "validity_window"],
    "clean_c": ["stacking", "txdefault_profile", "watt_profile_one_phase", "zero_limit_suspends"],
    "clean_d": ["charge_point_max_caps_txprofile", "clear_charging_profile", "txprofile_wrong_transaction"],
}

# fault -> {scenario: checks that must FAIL}; every other check of those scenarios must PASS
FAULT_MATRIX = {
    "stack_level_inverted": {"stacking": ["current_follows_limit", "pwm_matches_limit"]},
    "ignores_validity": {"validity_window": ["current_follows_limit", "pwm_matches_limit"]},
    "w_as_a": {"charge_point_max_caps_txprofile": ["current_follows_limit", "pwm_matches_limit"],
               "watt_profile_one_phase": ["current_follows_limit", "pwm_matches_limit"]},
    "phases_ignored": {"watt_profile_one_phase": ["current_follows_limit", "pwm_matches_limit"]},
    "recurrence_from_midnight": {"daily_recurring": ["current_follows_limit", "pwm_matches_limit"]},
    "composite_report_wrong": {"composite_schedule_report": ["composite_schedule_matches"]},
}


def _scenario_file(name: str) -> str:
    return str(SC / f"{name}.yaml")


@pytest.fixture(scope="session")
def smart_runs(tmp_path_factory) -> dict[str, BenchRun]:
    base = tmp_path_factory.mktemp("smart_runs")
    config = free_port_config(base)
    jobs = {name: (files, None) for name, files in CLEAN_GROUPS.items()}
    jobs.update({fault: (list(matrix), fault) for fault, matrix in FAULT_MATRIX.items()})
    return run_in_parallel({
        name: (["run", *map(_scenario_file, scenarios), "--config", str(config), "--out", str(base / name),
                "--no-report", *(["--fault", fault] if fault else [])], base / name)
        for name, (scenarios, fault) in jobs.items()}, timeout_s=600)


def _scenario(run: BenchRun, name: str) -> dict:
    for s in run.record["scenarios"]:
        if s["name"] == name:
            return s
    raise AssertionError(f"{run.name}: scenario {name} did not run\n{run.stdout}\n{run.stderr}")


def test_every_new_scenario_is_in_a_clean_group_and_every_fault_has_a_scenario():
    from bench.sim import faults as F

    shipped = {p.stem for p in SC.glob("*.yaml")}
    grouped = [n for names in CLEAN_GROUPS.values() for n in names]
    assert len(grouped) == len(set(grouped)) and set(grouped) <= shipped
    # the two scenarios of the first bench (step down, TxProfile without transaction) run in conftest's suite
    assert shipped - set(grouped) == {"txprofile_step_down", "txprofile_without_transaction"}
    smart_faults = {F.STACK_LEVEL_INVERTED, F.IGNORES_VALIDITY, F.W_AS_A, F.PHASES_IGNORED,
                    F.RECURRENCE_FROM_MIDNIGHT, F.COMPOSITE_REPORT_WRONG}
    assert set(FAULT_MATRIX) == smart_faults
    assert all(set(m) <= shipped for m in FAULT_MATRIX.values())


@pytest.mark.parametrize("group", sorted(CLEAN_GROUPS))
def test_correct_charger_passes_every_scenario(smart_runs, group):
    run = smart_runs[group]
    assert run.returncode == 0, run.stdout + run.stderr
    for name in CLEAN_GROUPS[group]:
        s = _scenario(run, name)
        assert s["verdict"] == "PASS", (name, [(c["name"], c["verdict"], c["message"]) for c in s["checks"]])
        physical = [c for c in s["checks"] if c["name"] in ("current_follows_limit", "pwm_matches_limit")]
        assert physical and all(c["measurements"] for c in physical), name


def test_composite_reports_are_judged_against_the_bench(smart_runs):
    s = _scenario(smart_runs["clean_a"], "composite_schedule_report")
    check = next(c for c in s["checks"] if c["name"] == "composite_schedule_matches")
    reports = check["params"]["reports"]
    assert [(r["connector"], r["unit"]) for r in reports] == [(1, "A"), (1, "A"), (0, "W")]
    # no profile: the rated current (K39); then TxProfile 10 -> 12 A, then TxDefault capped at 14 A (K41)
    assert [p["limit"] for p in reports[0]["expected"]["chargingSchedulePeriod"]] == [32.0]
    assert [p["limit"] for p in reports[1]["expected"]["chargingSchedulePeriod"]] == [10.0, 12.0, 14.0]
    assert [p["limit"] for p in reports[2]["expected"]["chargingSchedulePeriod"]] == [6900.0, 8280.0, 9660.0]
    assert len([m for m in check["measurements"] if m["name"].endswith("_limit_error")]) == 3


def test_one_phase_ev_draws_on_l1_only(smart_runs):
    s = _scenario(smart_runs["clean_c"], "watt_profile_one_phase")
    check = next(c for c in s["checks"] if c["name"] == "current_follows_limit")
    names = {m["name"] for m in check["measurements"]}
    assert "shortfall_below_expected_l1_a" in names  # 12 A expected on L1 ...
    assert not {"shortfall_below_expected_l2_a", "shortfall_below_expected_l3_a"} & names  # ... nothing on L2/L3


@pytest.mark.parametrize("fault", sorted(FAULT_MATRIX))
def test_smart_charging_fault_fails_its_scenario(smart_runs, fault):
    run = smart_runs[fault]
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.record["fault"] == fault
    for scenario, must_fail in FAULT_MATRIX[fault].items():
        s = _scenario(run, scenario)
        assert s["verdict"] == "FAIL", (scenario, s["error"], [(c["name"], c["verdict"]) for c in s["checks"]])
        for check in s["checks"]:
            if check["name"] in must_fail:
                assert check["verdict"] == "FAIL", (scenario, check["name"], check["message"])
                assert any(m["verdict"] == "FAIL" for m in check["measurements"])
            else:
                assert check["verdict"] == "PASS", (scenario, check["name"], check["message"])
