"""The smart-charging scenario set on OCPP 1.6, read from the fault matrix's runs (conftest's
`matrices`): the correct charger PASSes every scenario with its physical checks measured, the
composite reports and a one-phase EV are judged as they must be, and each smart-charging fault
makes the scenario that targets it FAIL (not ERROR) with exactly the checks that should catch it.
"""
from __future__ import annotations


import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # the matrix runs in the fixture

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


@pytest.fixture
def v16(matrices):
    return matrices["1.6"]


@pytest.mark.parametrize("group", sorted(CLEAN_GROUPS))
def test_correct_charger_passes_every_scenario(v16, group):
    for name in CLEAN_GROUPS[group]:
        s = v16.scenario(name)
        assert s["verdict"] == "PASS", (name, [(c["name"], c["verdict"], c["message"]) for c in s["checks"]])
        physical = [c for c in s["checks"] if c["name"] in ("current_follows_limit", "pwm_matches_limit")]
        assert physical and all(c["measurements"] for c in physical), name


def test_composite_reports_are_judged_against_the_bench(v16):
    s = v16.scenario("composite_schedule_report")
    check = next(c for c in s["checks"] if c["name"] == "composite_schedule_matches")
    reports = check["params"]["reports"]
    assert [(r["connector"], r["unit"]) for r in reports] == [(1, "A"), (1, "A"), (0, "W")]
    # no profile: the rated current (K39); then TxProfile 10 -> 12 A, then TxDefault capped at 14 A (K41)
    assert [p["limit"] for p in reports[0]["expected"]["chargingSchedulePeriod"]] == [32.0]
    assert [p["limit"] for p in reports[1]["expected"]["chargingSchedulePeriod"]] == [10.0, 12.0, 14.0]
    assert [p["limit"] for p in reports[2]["expected"]["chargingSchedulePeriod"]] == [6900.0, 8280.0, 9660.0]
    assert len([m for m in check["measurements"] if m["name"].endswith("_limit_error")]) == 3


def test_one_phase_ev_draws_on_l1_only(v16):
    s = v16.scenario("watt_profile_one_phase")
    check = next(c for c in s["checks"] if c["name"] == "current_follows_limit")
    names = {m["name"] for m in check["measurements"]}
    assert "shortfall_below_expected_l1_a" in names  # 12 A expected on L1 ...
    assert not {"shortfall_below_expected_l2_a", "shortfall_below_expected_l3_a"} & names  # ... nothing on L2/L3


@pytest.mark.parametrize("fault", sorted(FAULT_MATRIX))
def test_smart_charging_fault_fails_its_scenario(v16, fault):
    assert v16.fault_record(fault)["fault"] == fault
    for scenario, must_fail in FAULT_MATRIX[fault].items():
        s = v16.scenario(scenario, fault)
        assert s["verdict"] == "FAIL", (scenario, s["error"], [(c["name"], c["verdict"]) for c in s["checks"]])
        for check in s["checks"]:
            if check["name"] in must_fail:
                assert check["verdict"] == "FAIL", (scenario, check["name"], check["message"])
                assert any(m["verdict"] == "FAIL" for m in check["measurements"])
            else:
                assert check["verdict"] == "PASS", (scenario, check["name"], check["message"])
