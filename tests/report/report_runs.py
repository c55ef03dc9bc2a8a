"""Builders of synthetic run folders for the report tests: a record, a trace CSV and an
OCPP log, written with the same classes the bench uses (RunRecord, Trace, judge)."""
from __future__ import annotations

import json
from pathlib import Path

from bench.acquisition import Trace
from bench.iec61851 import current_to_duty_pct
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
                                   "identity": {"model": "SDM630"}}],
                     sampling={"configured_hz": 10.0, "achieved_hz": 9.9}, **kw)


def current_check(limit: list[list[float]], settle: list[list[float]], overshoot_a: float,
                  t_worst: float) -> CheckRecord:
    m = judge("overshoot_l1_a", overshoot_a, "A", None, TOL_ABS_A + 0.02 * 8, t_mono_s=t_worst)
    return CheckRecord("current_follows_limit", m.verdict, [m],
                       message="" if m.verdict == Verdict.PASS else "current above the limit after settling",
                       params={"tolerance_abs_a": TOL_ABS_A, "tolerance_rel_pct": TOL_REL_PCT,
                               "settle_time_s": 5.0, "settle_windows": settle})


