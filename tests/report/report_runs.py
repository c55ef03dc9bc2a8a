"""Builders of synthetic run folders for the report tests: a record, a trace CSV and an
OCPP log, written with the same classes the bench uses (RunRecord, Trace, judge)."""
from __future__ import annotations

import json
from pathlib import Path

from bench.trace import Trace
from instruments.iec61851 import current_to_duty_pct
from bench.record import CheckRecord, RunRecord, Verdict, judge

T0 = 1000.0  # run start on the monotonic scale
RATE_HZ = 10.0
TOL_ABS_A, TOL_REL_PCT = 0.5, 2.0
OVERSHOOT_A = 7.5  # how far the faulty charger stays above the limit in the FAIL scenario


def limit_at(points: list[list[float]], t: float) -> float:
    value = points[0][1]
    for tp, v in points:
        if t >= tp:
            value = v
    return value


def write_trace(path: Path, t_from: float, t_to: float, current_of, with_ev: bool = True,
                with_load: bool = True) -> None:
    """10 Hz rows: 3-phase meter current = current_of(t), PWM offering the same current."""
    path.parent.mkdir(parents=True, exist_ok=True)
    trace = Trace(path)
    energy_wh = 0.0
    n = int((t_to - t_from) * RATE_HZ) + 1
    for i in range(n):
        t = t_from + i / RATE_HZ
        amps = current_of(t)
        energy_wh += 3 * 230.0 * amps / RATE_HZ / 3600.0
        row: dict = {"t_mono_s": t, "meter_power_total_w": 3 * 230.0 * amps, "meter_energy_import_wh": energy_wh}
        for p in (1, 2, 3):
            row[f"meter_voltage_l{p}_v"] = 230.0
            row[f"meter_current_l{p}_a"] = amps + 0.05 * p
            if with_load:
                row[f"load_current_l{p}_a"] = amps
        if with_ev:
            row["ev_pwm_duty_pct"] = current_to_duty_pct(amps)
            row["ev_offered_current_a"] = amps
            row["ev_cp_state"] = "C"
        trace.append(row)
    trace.close()


def write_ocpp_log(path: Path, frames: list[tuple[float, str, str, list]]) -> None:
    with open(path, "w") as f:
        for t, direction, action, frame in frames:
            f.write(json.dumps({"t_mono_s": t, "utc": "2025-01-01T00:00:00Z", "cp_id": "EVB-SIM-001",
                                "dir": direction, "frame": frame, "action": action}) + "\n")
        f.write('{"t_mono_s": 99999, "dir": "dut->cs')  # torn last line of a killed run


def base_record(**kw) -> RunRecord:
    return RunRecord(run_id="20250101T000000Z-test", suite="smart-charging", utc_start="2025-01-01T00:00:00Z",
                     config_file="lab_config.yaml", config_digest="sha256:0123abcd", ocpp_version="1.6",
                     t_start_mono_s=T0, virtual_lab=True,
                     dut={"vendor": "AcmeCharge", "model": "AC22", "serial": "SN-42", "firmware": "fw-3.1.4"},
                     instruments=[{"name": "meter", "role": "PowerMeter", "driver": "eastron_sdm630",
                                   "address": "modbus+tcp://127.0.0.1:15020?unit=1",
                                   "identity": {"vendor": "Eastron", "model": "SDM630", "serial": "21000123"},
                                   "calibration_due": "2024-06-30"},  # overdue on the run date
                                  {"name": "load_l1", "role": "ac_load", "driver": "chroma_63800",
                                   "address": "TCPIP::127.0.0.1::15025::SOCKET",
                                   "identity": {"vendor": "Chroma", "model": "63804"},
                                   "calibration_due": "2026-03-31"}],
                     sampling={"configured_hz": 10.0, "achieved_hz": 9.9}, bench_name="bench-a",
                     **{"security_profile": 0, **kw})


def current_check(limit: list[list[float]], settle: list[list[float]], overshoot_a: float,
                  t_worst: float) -> CheckRecord:
    m = judge("excess_over_limit_l1_a", overshoot_a, "A", None, TOL_ABS_A + 0.02 * 8, t_mono_s=t_worst)
    return CheckRecord("current_follows_limit", m.verdict, [m],
                       message="" if m.verdict == Verdict.PASS else "current above the limit after settling",
                       params={"tolerance_abs_a": TOL_ABS_A, "tolerance_rel_pct": TOL_REL_PCT,
                               "settle_time_s": 5.0, "settle_windows": settle})




def write_long_trace(path: Path, t_from: float, seconds: float, limit: list[list[float]], follow_s: float = 2.0,
                     rate_hz: float = RATE_HZ, spikes: list[tuple[float, float]] = ()) -> int:
    """A long trace written the fast way (numpy): 3-phase current following `limit` after
    `follow_s`, with short spikes (t, amps) on L1; same columns and format as `Trace`."""
    import numpy as np

    from bench.trace import COLUMNS, NUMERIC_COLUMNS

    n = int(seconds * rate_hz) + 1
    t = t_from + np.arange(n) / rate_hz
    pts_t = np.array([p[0] for p in limit])
    pts_v = np.array([p[1] for p in limit])
    lim_now = pts_v[np.clip(np.searchsorted(pts_t, t, "right") - 1, 0, None)]
    amps = pts_v[np.clip(np.searchsorted(pts_t, t - follow_s, "right") - 1, 0, None)]
    amps = np.where(t - follow_s < pts_t[0], 0.0, amps)
    l1 = amps.copy()
    for t_spike, a in spikes:
        l1[(t >= t_spike) & (t < t_spike + 0.3)] = a
    energy = np.cumsum(3 * 230.0 * amps / rate_hz / 3600.0)
    cols = {"t_mono_s": t, "meter_power_total_w": 3 * 230.0 * amps, "meter_energy_import_wh": energy,
            "ev_pwm_duty_pct": np.array([current_to_duty_pct(a) for a in np.unique(lim_now)])[
                np.searchsorted(np.unique(lim_now), lim_now)],
            "ev_offered_current_a": lim_now}
    for p in (1, 2, 3):
        cols[f"meter_voltage_l{p}_v"] = np.full(n, 230.0)
        cols[f"meter_current_l{p}_a"] = (l1 if p == 1 else amps) + 0.05 * p
        cols[f"load_current_l{p}_a"] = amps
    data = np.column_stack([cols[c] for c in NUMERIC_COLUMNS])
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(",".join(COLUMNS) + "\n")
        np.savetxt(f, data, fmt=",".join(["%.6f"] + ["%.6g"] * (len(NUMERIC_COLUMNS) - 1)) + ",C")
    return n


def long_run(run: Path, hours: float, period_s: float = 1800.0) -> RunRecord:
    """A soak run of `hours` at 10 Hz: one scenario, the limit cycling 16/10/6 A every
    `period_s` (a set_profile and a hold each), meter error every minute, one 0.3 s
    overshoot spike per 6 h. The record is written; the reports are not."""
    from bench.record import ScenarioRecord, StepRecord

    seconds = hours * 3600.0
    t0 = T0 + 1.0
    levels = [16.0, 10.0, 6.0]
    limit = [[t0 + k * period_s, levels[k % 3]] for k in range(int(seconds // period_s) + 1)]
    spikes = [(t0 + h * 3600.0 + 900.0, 30.0) for h in range(0, int(hours), 6)]
    write_long_trace(run / "traces" / "pos1.csv", T0, seconds + 2.0, limit, spikes=spikes)
    steps = []
    for k, (t, v) in enumerate(limit):
        steps.append(StepRecord(2 * k, "set_profile", {"limit": v}, t, t + 0.2))
        steps.append(StepRecord(2 * k + 1, "hold", {"seconds": period_s}, t + 0.2, t + period_s))
    settle = [[t, t + 5.0] for t, _ in limit]
    over = judge("excess_over_limit_l1_a", 30.0 - 16.0, "A", None, TOL_ABS_A + 0.32, t_mono_s=spikes[0][0])
    current = CheckRecord("current_follows_limit", over.verdict, [over], "excess over the limit",
                          params={"tolerance_abs_a": TOL_ABS_A, "tolerance_rel_pct": TOL_REL_PCT,
                                  "settle_time_s": 5.0, "settle_windows": settle})
    series_t = [t0 + 60.0 * i for i in range(int(seconds // 60))]
    meter = CheckRecord("meter_values_match_reference", Verdict.PASS,
                        [judge("current_error_l1_pct", 0.4, "%", -2.0, 2.0, t_mono_s=series_t[-1])],
                        params={"series": {"current_error_l1_pct": {
                            "t_mono_s": series_t, "value": [0.3 + 0.1 * ((i % 7) - 3) / 3 for i in range(len(series_t))],
                            "unit": "%"}}})
    record = base_record(utc_end="2025-01-02T00:00:05Z", t_end_mono_s=t0 + seconds + 1, complete=True,
                         traces={"pos1": "traces/pos1.csv"}, scenarios=[ScenarioRecord(
                             name="soak_24h", file="scenarios/soak/soak.yaml", position="pos1",
                             description=f"{hours:g} h soak with the limit cycling 16/10/6 A.",
                             verdict=current.verdict, t_start_mono_s=t0, t_end_mono_s=t0 + seconds,
                             utc_start="2025-01-01T00:00:01Z", utc_end="2025-01-02T00:00:01Z",
                             expected_limit=limit, steps=steps, checks=[current, meter])])
    record.finalize_verdict()
    record.write(run)
    return record
