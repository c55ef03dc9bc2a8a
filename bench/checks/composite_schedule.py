"""The charger's composite schedule against the bench's own (OCPP GetCompositeSchedule).

`composite_schedule_matches`: every GetCompositeSchedule answer of the scenario agrees with the
composite of the profiles a compliant charger holds (bench/smart_charging.py, via the timeline).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from bench.checks.base import RULE_COMPOSITE, CheckInputs, check_record, errored
from bench.checks.declare import CheckDef, CheckParams, Measures, NonNegative
from bench.clock import parse_iso
from bench.record import CheckRecord, Measurement, failed, judge


_SUITES = "open conformance suites"


class CompositeScheduleParams(CheckParams):
    """The open conformance suites' tolerances (RULE_COMPOSITE): scheduleStart and duration +-2 s,
    each period's start +-1 s, limits exact."""

    start_tolerance_s: NonNegative = Field(2.0, description=_SUITES)
    duration_tolerance_s: NonNegative = Field(2.0, description=_SUITES)
    start_period_tolerance_s: NonNegative = Field(1.0, description=_SUITES)
    limit_tolerance: NonNegative = Field(0.0, description=_SUITES)


def _failed(name: str, unit: str, note: str) -> Measurement:
    """A GetCompositeSchedule answer without something to measure: the DUT's fault."""
    return failed(name, unit, note, RULE_COMPOSITE)


def _step_values(periods: list[dict], offsets_s: np.ndarray, shift_s: float = 0.0) -> np.ndarray:
    starts = np.array([float(p["startPeriod"]) + shift_s for p in periods])
    limits = np.array([float(p["limit"]) for p in periods])
    idx = np.clip(np.searchsorted(starts, offsets_s, side="right") - 1, 0, None)  # before the first: the first
    return limits[idx]


def _farther_than(offsets: np.ndarray, breaks: np.ndarray, tol: float) -> np.ndarray:
    """Offsets more than `tol` from every break: the nearest break is a neighbour in sorted order."""
    if not breaks.size:
        return np.ones(offsets.shape, dtype=bool)
    b = np.sort(breaks)
    i = np.searchsorted(b, offsets)
    before, after = b[np.maximum(i - 1, 0)], b[np.minimum(i, b.size - 1)]
    return (np.abs(offsets - before) > tol) & (np.abs(offsets - after) > tol)


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
    # the charger's "now" may differ from the request by its scheduleStart error (e.g. a clock in
    # whole seconds): before that much (plus the startPeriod tolerance) it may still show what held
    # just before the request, so the start of the window is not judged either
    judged = offsets > min(abs(shift), start_tol) + period_tol if shift < 0 else np.ones(offsets.shape, dtype=bool)
    judged &= _farther_than(offsets, breaks, period_tol)
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
    args = CompositeScheduleParams.of(inp.params)
    start_tol = args.start_tolerance_s
    duration_tol = args.duration_tolerance_s
    period_tol = args.start_period_tolerance_s
    limit_tol = args.limit_tolerance
    params = {"start_tolerance_s": start_tol, "duration_tolerance_s": duration_tol,
              "start_period_tolerance_s": period_tol, "limit_tolerance": limit_tol,
              "reports": [{"connector": r.connector_id, "duration_s": r.duration_s, "unit": r.unit,
                           "expected": r.expected, "answer": r.answer, "error": r.error} for r in reports]}
    if not reports:
        return errored(name, "no GetCompositeSchedule answer to compare (add a get_composite_schedule step)", params)
    ms: list[Measurement] = []
    for i, rep in enumerate(reports, 1):
        ms += _judge_composite(f"composite{i}", rep, start_tol, duration_tol, period_tol, limit_tol)
    for m in ms:
        m.rule = m.rule or RULE_COMPOSITE
        m.samples = 1
    return check_record(name, ms, params)


CHECKS = {
    "composite_schedule_matches": CheckDef(composite_schedule_matches, CompositeScheduleParams, (
        Measures("composite{n}_answer", "", "a usable answer", RULE_COMPOSITE),
        Measures("composite{n}_periods", "count", ">= 1 period in an Accepted answer", RULE_COMPOSITE),
        Measures("composite{n}_unit_mismatch", "count", "0 (the unit asked for)", RULE_COMPOSITE),
        Measures("composite{n}_start_error_s", "s", "±{start_tolerance_s:g} s", RULE_COMPOSITE),
        Measures("composite{n}_duration_error_s", "s", "±{duration_tolerance_s:g} s", RULE_COMPOSITE),
        Measures("composite{n}_limit_error", "A or W",
                 "±{limit_tolerance:g}, period starts may move ±{start_period_tolerance_s:g} s", RULE_COMPOSITE),
    ), physical=False, summary="GetCompositeSchedule answers against the bench's composite"),
}
