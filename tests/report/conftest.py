"""Fixtures of the report tests (the builders live in report_runs.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.record import CheckRecord, ScenarioRecord, StepRecord, Verdict, judge
from report_runs import OVERSHOOT_A, T0, base_record, current_check, limit_at, write_ocpp_log, write_trace


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A complete run: scenario 'ramp-down-ok' passes, 'limit-ignored' fails (current stays high)."""
    run = tmp_path / "20250101T000000Z-test"
    run.mkdir()
    s1_t0, s1_t1, s2_t0, s2_t1 = T0 + 5, T0 + 65, T0 + 70, T0 + 140
    lim1 = [[s1_t0, 16.0], [s1_t0 + 30, 10.0]]
    lim2 = [[s2_t0, 16.0], [s2_t0 + 20, 8.0]]

    def current_of(t: float) -> float:
        if t < s2_t0:  # the good charger follows within 2 s
            return limit_at(lim1, t - 2.0) if t >= s1_t0 + 2 else 0.0
        return 16.0 if t < s2_t0 + 50 else 8.0  # the faulty one ignores the drop for 30 s

    write_trace(run / "traces" / "pos1.csv", T0, s2_t1 + 2, current_of)
    write_ocpp_log(run / "ocpp.jsonl", [
        (s1_t0 + 1, "csms->dut", "SetChargingProfile", [2, "a1", "SetChargingProfile", {"connectorId": 1}]),
        (s1_t0 + 1.1, "dut->csms", "SetChargingProfile", [3, "a1", {"status": "Accepted"}]),
        (s2_t0 + 20, "csms->dut", "SetChargingProfile", [2, "b1", "SetChargingProfile", {"limit": 8}]),
        (s2_t0 + 20.1, "dut->csms", "SetChargingProfile", [3, "b1", {"status": "Accepted"}]),
        *[(s2_t0 + 21 + 2 * i, "dut->csms", "MeterValues",
           [2, f"m{i}", "MeterValues", {"meterValue": [{"sampledValue": [{"value": "16.0"}]}]}])
          for i in range(12)],
    ])
    pwm_ok = judge("duty_error_pct", 0.1, "%", -1.0, 1.0, t_mono_s=s1_t0 + 40)
    # named like bench/checks/ names them: per-phase current error, energy error per load point
    meter_ms = [judge("current_error_l1_pct", 1.2, "%", -2.0, 2.0, t_mono_s=s2_t0 + 30),
                judge("energy_error_point1_pct", 0.1, "%", -2.0, 2.0, t_mono_s=s2_t0 + 60)]
    series_t = [s2_t0 + 2 * i for i in range(35)]
    meter_check = CheckRecord("meter_values_match_reference", Verdict.PASS, meter_ms, params={"series": {
        "current_error_l1_pct": {"t_mono_s": series_t, "value": [0.3 + 0.02 * i for i in range(35)], "unit": "%"},
        "energy_error_pct": {"t_mono_s": [s2_t0 + 30, s2_t0 + 60], "value": [0.2, 0.1], "unit": "%"}}})
    fail_check = current_check(lim2, [[s2_t0 + 20, s2_t0 + 25]], OVERSHOOT_A, s2_t0 + 30)
    assert fail_check.verdict == Verdict.FAIL  # the fixture itself must hold a real failure
    record = base_record(utc_end="2025-01-01T00:02:25Z", t_end_mono_s=s2_t1 + 2, complete=True,
                         traces={"pos1": "traces/pos1.csv"}, scenarios=[
        ScenarioRecord(
            name="ramp-down-ok", file="scenarios/sc/ramp_down.yaml", position="pos1",
            description="Limit drops from 16 A to 10 A; the charger follows.", verdict=Verdict.PASS,
            t_start_mono_s=s1_t0, t_end_mono_s=s1_t1, utc_start="2025-01-01T00:00:05Z",
            utc_end="2025-01-01T00:01:05Z", expected_limit=lim1,
            steps=[StepRecord(0, "plug_in", {}, s1_t0, s1_t0 + 0.5),  # numbered from 0, as the runner does
                   StepRecord(1, "set_charging_profile", {"limit_a": 10}, s1_t0 + 30, s1_t0 + 30.2)],
            checks=[current_check(lim1, [[s1_t0 + 30, s1_t0 + 35]], 0.1, s1_t0 + 40),
                    CheckRecord("pwm_matches_limit", pwm_ok.verdict, [pwm_ok], params={"tolerance_pct": 1.0})]),
        ScenarioRecord(
            name="limit-ignored", file="scenarios/sc/limit_ignored.yaml", position="pos1",
            description="Limit drops from 16 A to 8 A; the charger keeps drawing 16 A.", verdict=Verdict.FAIL,
            t_start_mono_s=s2_t0, t_end_mono_s=s2_t1, utc_start="2025-01-01T00:01:10Z",
            utc_end="2025-01-01T00:02:20Z", expected_limit=lim2,
            steps=[StepRecord(0, "plug_in", {}, s2_t0, s2_t0 + 0.5),
                   StepRecord(1, "set_charging_profile", {"limit_a": 8}, s2_t0 + 20, s2_t0 + 20.2,
                              utc_start="2025-01-01T00:01:30.000Z"),
                   StepRecord(2, "wait", {"s": 40}, s2_t0 + 21, s2_t0 + 61)],
            checks=[fail_check, meter_check]),
    ])
    record.finalize_verdict()
    record.write(run)
    return run
