"""Checks: recorded traces + OCPP data + expected timeline -> measurements -> verdicts.

Every check returns a `CheckRecord` whose measurements carry value, unit and
limits as data. A check with nothing to judge (no samples, no transaction)
answers ERROR with the reason, never PASS. A physical check on a position
without the instrument it needs answers SKIPPED.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import numpy as np

from bench.clock import parse_iso
from bench.config import PositionConfig, TolerancesConfig
from bench.record import CheckRecord, Measurement, Verdict, combine, judge
from bench.scenario.timeline import Expected, value_at

ENERGY = "Energy.Active.Import.Register"
CURRENT = "Current.Import"


@dataclass
class CheckInputs:
    position: PositionConfig
    tolerances: TolerancesConfig
    t_start: float
    t_end: float
    trace: dict[str, np.ndarray]  # scenario window of the position's trace
    expected: Expected
    transactions: list[Any]  # bench.csms Transaction objects started in the window
    mono_of: Callable[[datetime], float]  # charger timestamp -> monotonic time
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def phases(self) -> list[int]:
        return list(range(1, self.position.ev.phases + 1))

    def has(self, column: str) -> bool:
        col = self.trace.get(column)
        return col is not None and col.size > 0 and not np.all(np.isnan(col))


def _skipped(name: str, why: str) -> CheckRecord:
    return CheckRecord(name, Verdict.SKIPPED, message=why)


def _error(name: str, why: str, params: dict | None = None) -> CheckRecord:
    return CheckRecord(name, Verdict.ERROR, message=why, params=params or {})


def _verdict_of(ms: list[Measurement]) -> Verdict:
    return combine([m.verdict for m in ms])


def _settle_mask(t: np.ndarray, changes: list[float], settle_s: float) -> tuple[np.ndarray, list[list[float]]]:
    windows = [[c, c + settle_s] for c in changes]
    mask = np.zeros(t.shape, dtype=bool)
    for a, b in windows:
        mask |= (t >= a) & (t < b)
    return mask, windows


def _first_failure_message(ms: list[Measurement]) -> str:
    for m in ms:
        if m.verdict != Verdict.PASS:
            lim = f"[{'' if m.low is None else f'{m.low:g}'}, {'' if m.high is None else f'{m.high:g}'}]"
            return f"{m.name} = {m.value if m.value is None else round(m.value, 3)} {m.unit} outside {lim}" \
                if m.value is not None else f"{m.name}: {m.note}"
    return ""


# ---- current_follows_limit -----------------------------------------------------

def current_follows_limit(inp: CheckInputs) -> CheckRecord:
    """Per phase, outside settle windows after each change: measured <= limit + tolerance,
    and, while the EV should draw, measured >= expected - tolerance (the limit rises again)."""
    name = "current_follows_limit"
    tol = inp.tolerances
    abs_a = inp.params.get("tolerance_abs_a", tol.current_abs_a)
    rel = inp.params.get("tolerance_rel_pct", tol.current_rel_pct) / 100.0
    settle = inp.params.get("settle_time_s", inp.position.dut.reaction_time_s + inp.position.ev.reaction_time_s
                            + tol.settle_margin_s)
    if not any(inp.has(f"meter_current_l{p}_a") for p in inp.phases):
        return _skipped(name, "no power meter current on this position")
    t = inp.trace["t_mono_s"]
    settling, windows = _settle_mask(t, inp.expected.changes, settle)
    limit = value_at(inp.expected.limit_a, t)
    want = value_at(inp.expected.current_a, t)
    ev_phases = value_at(inp.expected.ev_phases, t) if inp.expected.ev_phases else None
    judged = ~settling & ~np.isnan(limit)
    params = {"tolerance_abs_a": abs_a, "tolerance_rel_pct": rel * 100, "settle_time_s": settle,
              "settle_windows": windows}
    ms: list[Measurement] = []
    for p in inp.phases:
        cur = inp.trace[f"meter_current_l{p}_a"]
        ok = judged & ~np.isnan(cur)
        if not ok.any():
            ms.append(judge(f"excess_over_limit_l{p}_a", None, "A", note="no samples outside settle windows"))
            continue
        allowed = abs_a + rel * limit
        margin = np.where(ok, allowed - (cur - limit), np.inf)
        i = int(np.argmin(margin))
        ms.append(judge(f"excess_over_limit_l{p}_a", float(cur[i] - limit[i]), "A", None, float(allowed[i]),
                        t_mono_s=float(t[i]), note=f"limit {limit[i]:.1f} A"))
        drawing = ok & (want > 0)
        if ev_phases is not None:  # a step changed the EV's phases: no current expected on the others
            drawing &= ~(ev_phases < p)
        if drawing.any():
            short = np.where(drawing, (want - cur) - (abs_a + rel * want), -np.inf)
            j = int(np.argmax(short))
            allowed_short = abs_a + rel * want[j]
            ms.append(judge(f"shortfall_below_expected_l{p}_a", float(want[j] - cur[j]), "A", None,
                            float(allowed_short), t_mono_s=float(t[j]), note=f"expected {want[j]:.1f} A"))
    verdict = _verdict_of(ms)
    return CheckRecord(name, verdict, ms, _first_failure_message(ms), params)


# ---- pwm_matches_limit --------------------------------------------------------------

def pwm_matches_limit(inp: CheckInputs) -> CheckRecord:
    """While a transaction runs and the EV is connected, the duty on CP equals the
    Annex A duty of the composite limit (100 % below 6 A), outside settle windows."""
    name = "pwm_matches_limit"
    tol = inp.params.get("tolerance_pct", inp.tolerances.pwm_duty_pct)
    settle = inp.params.get("settle_time_s", inp.position.dut.reaction_time_s + inp.tolerances.settle_margin_s)
    if not inp.has("ev_pwm_duty_pct"):
        return _skipped(name, "no EV emulator duty measurement on this position")
    t = inp.trace["t_mono_s"]
    settling, windows = _settle_mask(t, inp.expected.changes, settle)
    want = value_at(inp.expected.duty_pct, t)
    duty = inp.trace["ev_pwm_duty_pct"]
    ok = ~settling & ~np.isnan(want) & ~np.isnan(duty)
    params = {"tolerance_pct": tol, "settle_time_s": settle, "settle_windows": windows}
    if not ok.any():
        return _error(name, "no duty samples while a transaction ran (outside settle windows)", params)
    err = np.where(ok, duty - want, np.nan)
    i = int(np.nanargmax(np.abs(err)))
    m = judge("duty_error_pct", float(err[i]), "%", -tol, tol, t_mono_s=float(t[i]),
              note=f"expected {want[i]:.1f} %, measured {duty[i]:.1f} %")
    return CheckRecord(name, m.verdict, [m], _first_failure_message([m]), params)


# ---- meter values vs the reference meter ----------------------------------------------

def _interp(trace: dict[str, np.ndarray], column: str, t: np.ndarray) -> np.ndarray:
    ts, ys = trace["t_mono_s"], trace[column]
    good = ~np.isnan(ys)
    if good.sum() < 2:
        return np.full(np.shape(t), np.nan)
    inside = (t >= ts[good][0]) & (t <= ts[good][-1])
    return np.where(inside, np.interp(t, ts[good], ys[good]), np.nan)


def reference_energy_step_wh(trace: dict[str, np.ndarray]) -> float:
    """The reference meter's energy resolution as seen in the trace: its smallest increase.
    A meter with a coarse register (e.g. 100 Wh steps) needs long intervals to compare."""
    e = trace.get("meter_energy_import_wh")
    if e is None:
        return 0.0
    steps = np.diff(e[~np.isnan(e)])
    steps = steps[steps > 1e-9]
    return float(steps.min()) if steps.size else 0.0


def _steady(trace, column, t, half_window_s: float, max_spread: float) -> np.ndarray:
    """Reference value at t if the reference was steady within +-half_window (else NaN):
    MeterValues near a step change are not comparable sample by sample."""
    ts, ys = trace["t_mono_s"], trace[column]
    out = np.full(len(t), np.nan)
    for k, tk in enumerate(t):
        sel = (ts >= tk - half_window_s) & (ts <= tk + half_window_s) & ~np.isnan(ys)
        if sel.sum() >= 2 and np.ptp(ys[sel]) <= max_spread:
            out[k] = float(np.median(ys[sel]))
    return out


def _samples(inp: CheckInputs, measurand: str, phase: str | None = None):
    rows = []
    for tx in inp.transactions:
        for s in tx.samples:
            if s.measurand == measurand and (phase is None or (s.phase or "").startswith(phase)):
                rows.append((inp.mono_of(s.timestamp), s.value))
    rows.sort()
    return np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float)


def meter_values_match_reference(inp: CheckInputs) -> CheckRecord:
    """Current.Import per phase and the Energy.Active.Import.Register deltas reported in
    MeterValues agree with the reference meter (energy within the MID class MPE, per
    load point; the interval must let the last digit step >= 100 times)."""
    name = "meter_values_match_reference"
    tol = inp.tolerances
    if not inp.has("meter_energy_import_wh"):
        return _skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return _error(name, "no transaction in this scenario, so no MeterValues to compare")
    rel = inp.params.get("current_tolerance_rel_pct", tol.meter_current_rel_pct)
    abs_a = inp.params.get("current_tolerance_abs_a", tol.meter_current_abs_a)
    mpe = inp.params.get("energy_tolerance_pct", inp.position.dut.meter_mpe_pct)
    min_steps = inp.params.get("min_register_steps", 100)
    ms: list[Measurement] = []
    series: dict[str, dict[str, Any]] = {}
    for p in inp.phases:
        ts, vals = _samples(inp, CURRENT, f"L{p}")
        ref = _steady(inp.trace, f"meter_current_l{p}_a", ts, 1.0, abs_a) if ts.size else np.array([])
        use = ~np.isnan(ref) & (ref >= 1.0) if ts.size else np.array([], dtype=bool)
        if not use.any():
            ms.append(judge(f"current_error_l{p}_pct", None, "%", note="no Current.Import samples while current flowed steadily"))
            continue
        err_pct = (vals[use] - ref[use]) / ref[use] * 100.0
        allowed = rel + abs_a / ref[use] * 100.0
        i = int(np.argmax(np.abs(err_pct) - allowed))
        ms.append(judge(f"current_error_l{p}_pct", float(err_pct[i]), "%", -float(allowed[i]), float(allowed[i]),
                        t_mono_s=float(ts[use][i]), note=f"reported {vals[use][i]:.2f} A, reference {ref[use][i]:.2f} A"))
        series[f"current_error_l{p}_pct"] = {"t_mono_s": ts[use].tolist(), "value": err_pct.tolist(), "unit": "%"}
    ts, reg = _samples(inp, ENERGY)
    ref_e = _interp(inp.trace, "meter_energy_import_wh", ts) if ts.size else np.array([])
    segments = _load_point_segments(inp, ts)
    # both registers must step >= min_steps times: the DUT's and the reference meter's own
    min_wh = min_steps * max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    e_errs, e_times = [], []
    for a, b in segments:
        if np.isnan(ref_e[a]) or np.isnan(ref_e[b]):
            continue
        d_ref, d_dut = ref_e[b] - ref_e[a], reg[b] - reg[a]
        if d_ref < min_wh:
            continue
        err = (d_dut - d_ref) / d_ref * 100.0
        e_errs.append(err)
        e_times.append(float(ts[b]))
        ms.append(judge(f"energy_error_point{len(e_errs)}_pct", float(err), "%", -mpe, mpe, t_mono_s=float(ts[b]),
                        note=f"DUT {d_dut:.1f} Wh vs reference {d_ref:.1f} Wh over {ts[b] - ts[a]:.0f} s"))
    if not e_errs:
        ms.append(judge("energy_error_pct", None, "%",
                        note=f"no load point long enough for {min_steps} register steps (>= {min_wh:g} Wh)"))
    else:
        series["energy_error_pct"] = {"t_mono_s": e_times, "value": e_errs, "unit": "%"}
    params = {"current_tolerance_rel_pct": rel, "current_tolerance_abs_a": abs_a, "energy_tolerance_pct": mpe,
              "min_register_steps": min_steps, "series": series}
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


def _load_point_segments(inp: CheckInputs, ts: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (first, last energy sample) inside each steady stretch of expected current."""
    if ts.size < 2:
        return []
    settle = inp.position.dut.reaction_time_s + inp.position.ev.reaction_time_s + inp.tolerances.settle_margin_s
    edges = [t for t, _ in inp.expected.current_a] + [inp.t_end]
    out = []
    for (t_a, level), t_b in zip(inp.expected.current_a, edges[1:]):
        if level <= 0:
            continue
        idx = np.nonzero((ts >= t_a + settle) & (ts <= t_b))[0]
        if idx.size >= 2:
            out.append((int(idx[0]), int(idx[-1])))
    return out


def transaction_energy_matches_reference(inp: CheckInputs) -> CheckRecord:
    """meterStop - meterStart (the lifetime register's delta, not meterStop alone) agrees
    with the reference energy over the transaction, within the MID class MPE."""
    name = "transaction_energy_matches_reference"
    if not inp.has("meter_energy_import_wh"):
        return _skipped(name, "no reference power meter on this position")
    ended = [tx for tx in inp.transactions if tx.t_stop_mono_s is not None]
    if not ended:
        return _error(name, "no completed transaction (started and stopped) in this scenario")
    done = [tx for tx in ended if tx.meter_stop_wh is not None]
    if not done:  # 2.x: ended without the energy register (TxEndedMeasurands): the charger's omission
        return CheckRecord(name, Verdict.FAIL, [_failed("transaction_energy", "%", "no Energy.Active.Import.Register "
                                                        "at the end of any transaction")],
                           "no meterStop: the transaction ended without the energy register")
    mpe = inp.params.get("energy_tolerance_pct", inp.position.dut.meter_mpe_pct)
    # OCPP 1.6 meterStart/meterStop are whole Wh, whatever the register's own resolution
    resolution_wh = max(1.0, inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = inp.params.get("min_register_steps", 100) * resolution_wh
    ms = []
    for n, tx in enumerate(done, 1):
        t_a, t_b = tx.t_start_mono_s, tx.t_stop_mono_s
        # 1.6 names the measurement by its (small, int) transaction id; 2.x ids are long strings
        label = f"tx{tx.transaction_id if isinstance(tx.transaction_id, int) else n}_energy_error_pct"
        if tx.meter_start_wh is None:  # 2.x: no energy register in the Started event (set by the bench)
            ms.append(_failed(label, "%", f"transaction {tx.transaction_id}: no Energy.Active.Import.Register "
                                          "at the start (TxStartedMeasurands)"))
            continue
        ref = _interp(inp.trace, "meter_energy_import_wh", np.array([t_a, t_b]))
        d_ref = float(ref[1] - ref[0])
        d_dut = float(tx.meter_stop_wh - tx.meter_start_wh)
        if np.isnan(d_ref) or d_ref < min_wh:
            ms.append(judge(label, None, "%", note=f"reference energy {d_ref:.1f} Wh is below {min_wh:g} Wh"))
            continue
        ms.append(judge(label, (d_dut - d_ref) / d_ref * 100.0, "%", -mpe, mpe, t_mono_s=t_b,
                        note=f"meterStop-meterStart {d_dut:.1f} Wh vs reference {d_ref:.1f} Wh"))
    params = {"energy_tolerance_pct": mpe}
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


# ---- composite_schedule_matches ---------------------------------------------------------

def _failed(name: str, unit: str, note: str) -> Measurement:
    """A measurement that fails because the DUT gave nothing to measure (its fault, not the bench's)."""
    return Measurement(name, None, unit, None, None, Verdict.FAIL, note=note)


def _step_values(periods: list[dict], offsets_s: np.ndarray, shift_s: float = 0.0) -> np.ndarray:
    starts = np.array([float(p["startPeriod"]) + shift_s for p in periods])
    limits = np.array([float(p["limit"]) for p in periods])
    idx = np.clip(np.searchsorted(starts, offsets_s, side="right") - 1, 0, None)  # before the first: the first
    return limits[idx]


def _judge_composite(label: str, rep: Any, start_tol: float, duration_tol: float, period_tol: float,
                     limit_tol: float) -> list[Measurement]:
    if rep.answer is None:
        return [_failed(f"{label}_answer", "", f"no usable answer: {rep.error}")]
    # 1.6: chargingSchedule (+ scheduleStart beside it); 2.x: schedule (with its scheduleStart)
    schedule = rep.answer.get("chargingSchedule") or rep.answer.get("schedule") or {}
    periods = schedule.get("chargingSchedulePeriod") or []
    if not periods:
        return [_failed(f"{label}_periods", "count", "Accepted without a schedule with periods")]
    ms = [judge(f"{label}_unit_mismatch", 0 if schedule.get("chargingRateUnit") == rep.unit else 1, "count", 0, 0,
                t_mono_s=rep.t_mono_s, note=f"asked {rep.unit}, got {schedule.get('chargingRateUnit')}")]
    shift = 0.0
    start_text = rep.answer.get("scheduleStart") or schedule.get("scheduleStart") or schedule.get("startSchedule")
    if start_text:
        shift = (parse_iso(start_text) - rep.requested_utc).total_seconds()
        ms.append(judge(f"{label}_start_error_s", shift, "s", -start_tol, start_tol, t_mono_s=rep.t_mono_s,
                        note=f"scheduleStart {start_text}"))
    if "duration" in schedule:
        ms.append(judge(f"{label}_duration_error_s", float(schedule["duration"] - rep.duration_s), "s",
                        -duration_tol, duration_tol, t_mono_s=rep.t_mono_s, note=f"asked {rep.duration_s} s"))
    else:
        ms.append(_failed(f"{label}_duration_error_s", "s", "duration not reported"))
    # Both schedules as step functions on the bench's window, every 0.5 s; instants within the
    # startPeriod tolerance of an expected period start are not judged.
    offsets = np.arange(0.25, max(rep.duration_s, 1), 0.5)
    want = _step_values(rep.expected["chargingSchedulePeriod"], offsets)
    got = _step_values(periods, offsets, shift)
    breaks = np.array([float(p["startPeriod"]) for p in rep.expected["chargingSchedulePeriod"][1:]])
    judged = np.ones(offsets.shape, dtype=bool)
    for b in breaks:
        judged &= np.abs(offsets - b) > period_tol
    err = np.where(judged, np.round(got - want, 6), 0.0)
    i = int(np.argmax(np.abs(err)))
    ms.append(judge(f"{label}_limit_error", float(err[i]), rep.unit, -limit_tol, limit_tol, t_mono_s=rep.t_mono_s,
                    note=f"at {offsets[i]:.1f} s of {rep.duration_s} s: reported {got[i]:g}, expected {want[i]:g} "
                         f"{rep.unit} (connector {rep.connector_id})"))
    return ms


def composite_schedule_matches(inp: CheckInputs) -> CheckRecord:
    """Every GetCompositeSchedule answer agrees with the bench's own composite (the profiles a
    compliant charger holds): unit as asked, scheduleStart and duration within their
    tolerances, and the limit over the whole window, allowing each period start to move by
    the startPeriod tolerance (open conformance suites: +-2 s, +-1 s, limits exact)."""
    name = "composite_schedule_matches"
    reports = inp.expected.composite_reports
    start_tol = inp.params.get("start_tolerance_s", 2.0)
    duration_tol = inp.params.get("duration_tolerance_s", 2.0)
    period_tol = inp.params.get("start_period_tolerance_s", 1.0)
    limit_tol = inp.params.get("limit_tolerance", 0.0)
    params = {"start_tolerance_s": start_tol, "duration_tolerance_s": duration_tol,
              "start_period_tolerance_s": period_tol, "limit_tolerance": limit_tol,
              "reports": [{"connector": r.connector_id, "duration_s": r.duration_s, "unit": r.unit,
                           "expected": r.expected, "answer": r.answer, "error": r.error} for r in reports]}
    if not reports:
        return _error(name, "no GetCompositeSchedule answer to compare (add a get_composite_schedule step)", params)
    ms: list[Measurement] = []
    for i, rep in enumerate(reports, 1):
        ms += _judge_composite(f"composite{i}", rep, start_tol, duration_tol, period_tol, limit_tol)
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


# ---- security_probes_pass ------------------------------------------------------------------

def security_probes_pass(inp: CheckInputs) -> CheckRecord:
    """Every security probe of the scenario's steps (TLS certificates and versions the DUT must
    refuse, password changes, downgrade requests) found the DUT doing what is required: one
    measurement per probe, 1 = as required. SKIPPED when no probe applies at the bench's
    security profile (e.g. TLS probes on plain ws)."""
    name = "security_probes_pass"
    probes = inp.expected.security_probes
    params = {"probes": [{"name": p.name, "required": p.required, "applicable": p.applicable, "passed": p.passed,
                          "detail": p.detail} for p in probes]}
    applicable = [p for p in probes if p.applicable]
    if not probes:
        return _error(name, "no security probe in this scenario (add a probe_* or security step)", params)
    if not applicable:
        return CheckRecord(name, Verdict.SKIPPED, message="; ".join(sorted({p.detail for p in probes})), params=params)
    ms = [judge(f"{p.name}_as_required", None if p.passed is None else float(p.passed), "bool", 1.0, 1.0,
                t_mono_s=p.t_mono_s, note=f"must {p.required}: {p.detail}") for p in applicable]
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


# ---- energy_stops_within -------------------------------------------------------------------

IEC61851_DISCONNECT_S = 0.1  # state C -> B, E or F: the EVSE opens the contactor within 100 ms


def _state_entries(states: np.ndarray, t: np.ndarray, targets: set[str]) -> list[tuple[int, int]]:
    """(first, last) sample indices of each stretch the CP line spends in `targets` after charging (C/D)."""
    out, i = [], 1
    while i < len(states):
        if states[i] in targets and states[i - 1] in ("C", "D"):
            j = i
            while j + 1 < len(states) and states[j + 1] in targets:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def energy_stops_within(inp: CheckInputs) -> CheckRecord:
    """Each time the CP line goes from charging (C/D) to one of `states` (default E, F: an EV-side
    fault), the current on every phase falls to zero within `within_s` (IEC 61851-1: 100 ms) plus
    one sampling period (the trace cannot see finer), and stays there while the state lasts."""
    name = "energy_stops_within"
    targets = set(inp.params.get("states", ["E", "F"]))
    within = inp.params.get("within_s", IEC61851_DISCONNECT_S)
    zero_a = inp.params.get("threshold_a", inp.tolerances.current_abs_a)
    if not inp.has("meter_current_l1_a") or "ev_cp_state" not in inp.trace or not len(inp.trace["ev_cp_state"]):
        return _skipped(name, "needs the power meter's current and the EV emulator's CP state")
    t = inp.trace["t_mono_s"]
    period = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    margin = inp.params.get("margin_s", period)
    params = {"states": sorted(targets), "within_s": within, "margin_s": margin, "threshold_a": zero_a}
    entries = _state_entries(inp.trace["ev_cp_state"], t, targets)
    if not entries:
        return _error(name, f"the CP line never went from C/D to {'/'.join(sorted(targets))} in this scenario", params)
    current = np.nanmax(np.vstack([inp.trace[f"meter_current_l{p}_a"] for p in inp.phases]), axis=0)
    ms: list[Measurement] = []
    for n, (a, b) in enumerate(entries, 1):
        state = inp.trace["ev_cp_state"][a]
        zero = np.nonzero(current[a:b + 1] <= zero_a)[0]
        if not zero.size:
            ms.append(_failed(f"stop{n}_delay_s", "s", f"current kept flowing for the whole {t[b] - t[a]:.1f} s "
                                                     f"in state {state} (max {np.nanmax(current[a:b + 1]):.1f} A)"))
            continue
        k = a + int(zero[0])
        ms.append(judge(f"stop{n}_delay_s", float(t[k] - t[a]), "s", None, within + margin, t_mono_s=float(t[a]),
                        note=f"state {state} seen at {t[a]:.2f} s, current <= {zero_a:g} A at {t[k]:.2f} s"))
        after = current[k:b + 1]
        ms.append(judge(f"stop{n}_current_after_a", float(np.nanmax(after)), "A", None, zero_a, t_mono_s=float(t[k]),
                        note=f"largest phase current while in state {state} once stopped"))
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


# ---- transaction_meter_values_match_reference ----------------------------------------------------

def transaction_meter_values_match_reference(inp: CheckInputs) -> CheckRecord:
    """Every transaction of the scenario ended (its stop received: a compliant charger delivers it,
    even when it ended offline), and the energy register in its meter values (sampled, clock-
    aligned, begin/end; also those queued offline and replayed) never goes back, and its increase
    from the first to the last sample agrees with the reference energy over the same instants
    (charger timestamps), within the MID class MPE. Unlike meterStop - meterStart (whole Wh in
    1.6) the register's own resolution counts, so short sessions can be judged."""
    name = "transaction_meter_values_match_reference"
    if not inp.has("meter_energy_import_wh"):
        return _skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return _error(name, "no transaction in this scenario")
    mpe = inp.params.get("energy_tolerance_pct", inp.position.dut.meter_mpe_pct)
    resolution = max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = inp.params.get("min_register_steps", 100) * resolution
    ms: list[Measurement] = []
    for n, tx in enumerate(inp.transactions, 1):
        label = f"tx{tx.transaction_id if isinstance(tx.transaction_id, int) else n}"
        if tx.t_stop_mono_s is None or tx.t_stop_mono_s > inp.t_end:  # its stop (e.g. queued offline) never came
            ms.append(_failed(f"{label}_ended", "", f"transaction {tx.transaction_id} had not ended when the "
                                                   "scenario ended: no StopTransaction / TransactionEvent Ended"))
            continue
        rows = sorted({(s.timestamp, s.value) for s in tx.samples
                       if s.measurand == ENERGY and s.phase is None and s.timestamp is not None})
        if len(rows) < 2:
            ms.append(_failed(f"{label}_energy_error_pct", "%", f"transaction {tx.transaction_id}: fewer than two "
                                                                 "energy register values"))
            continue
        values = np.array([v for _, v in rows])
        drops = np.diff(values)
        i = int(np.argmin(drops))
        ms.append(judge(f"{label}_register_decrease_wh", float(max(0.0, -drops[i])), "Wh", None,
                        inp.position.dut.meter_resolution_wh, t_mono_s=float(inp.mono_of(rows[i + 1][0])),
                        note=f"{values[i]:.1f} Wh then {values[i + 1]:.1f} Wh"))
        t_a, t_b = inp.mono_of(rows[0][0]), inp.mono_of(rows[-1][0])
        ref = _interp(inp.trace, "meter_energy_import_wh", np.array([t_a, t_b]))
        d_ref, d_dut = float(ref[1] - ref[0]), float(values[-1] - values[0])
        if np.isnan(d_ref) or d_ref < min_wh:
            ms.append(judge(f"{label}_energy_error_pct", None, "%",
                            note=f"reference energy {d_ref:.1f} Wh is below {min_wh:g} Wh"))
            continue
        ms.append(judge(f"{label}_energy_error_pct", (d_dut - d_ref) / d_ref * 100.0, "%", -mpe, mpe, t_mono_s=t_b,
                        note=f"register {d_dut:.1f} Wh vs reference {d_ref:.1f} Wh over {t_b - t_a:.0f} s "
                             f"({len(rows)} values)"))
    params = {"energy_tolerance_pct": mpe, "min_register_steps": inp.params.get("min_register_steps", 100)}
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params)


@dataclass(frozen=True)
class CheckDef:
    run: Callable[[CheckInputs], CheckRecord]
    params: frozenset[str]
    physical: bool = True  # judges measured quantities: SKIPPED when the position has no instruments


CHECKS: dict[str, CheckDef] = {
    "current_follows_limit": CheckDef(current_follows_limit, frozenset(
        {"tolerance_abs_a", "tolerance_rel_pct", "settle_time_s"})),
    "pwm_matches_limit": CheckDef(pwm_matches_limit, frozenset({"tolerance_pct", "settle_time_s"})),
    "meter_values_match_reference": CheckDef(meter_values_match_reference, frozenset(
        {"current_tolerance_rel_pct", "current_tolerance_abs_a", "energy_tolerance_pct", "min_register_steps"})),
    "transaction_energy_matches_reference": CheckDef(transaction_energy_matches_reference, frozenset(
        {"energy_tolerance_pct", "min_register_steps"})),
    "composite_schedule_matches": CheckDef(composite_schedule_matches, frozenset(
        {"start_tolerance_s", "duration_tolerance_s", "start_period_tolerance_s", "limit_tolerance"}),
        physical=False),
    "security_probes_pass": CheckDef(security_probes_pass, frozenset(), physical=False),
    "energy_stops_within": CheckDef(energy_stops_within, frozenset({"states", "within_s", "margin_s", "threshold_a"})),
    "transaction_meter_values_match_reference": CheckDef(transaction_meter_values_match_reference, frozenset(
        {"energy_tolerance_pct", "min_register_steps"})),
}


def run_check(name: str, inp: CheckInputs) -> CheckRecord:
    try:
        return CHECKS[name].run(inp)
    except Exception as exc:  # a bug or bad data in the bench is an ERROR, never a PASS
        return _error(name, f"check crashed: {type(exc).__name__}: {exc}")
