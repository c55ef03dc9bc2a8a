"""Checks of the metering method of a calibration lab (scenarios/metering/load_points_*, no_load_creep).

- `meter_accuracy_at_load_points`: at every steady load point of the scenario, the increase of the
  DUT's energy register (its MeterValues) against the reference energy over the same instants,
  within the MPE the DUT's metering regime sets for the current measured there
  (bench/metering_regimes.py; without a regime the flat `dut.meter_mpe_pct`). Each point must let
  the register step at least `min_register_steps` times, else the bench's scenario was too short
  (ERROR, never a quiet PASS).
- `register_creep`: while the transaction runs with no current (the reference meter reads none on
  every phase), the DUT's register advances by at most one step of its last digit.

Both reuse the MeterValues and reference-energy helpers of bench/checks/reference.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from bench.checks.arrays import rows_from, rows_through
from bench.checks.base import RULE_MID, CheckInputs, check_record, covered_share, errored, skipped
from bench.checks.declare import CheckDef, CheckParams, Measures, NonNegative
from bench.checks.reference import (ENERGY, EnergyTrace, readings_of, reference_energy, reference_energy_step_wh,
                                    samples_of, steady_load_points, timestamp_resolution_s)
from bench.metering_regimes import RULE_NO_LOAD, Tolerance
from bench.record import CheckRecord, Measurement, Verdict, judge


class LoadPointAccuracyParams(CheckParams):
    # unset: the DUT's metering regime decides at each point's current (else dut.meter_mpe_pct)
    energy_tolerance_pct: NonNegative | None = None
    min_register_steps: int = Field(100, ge=0, description="type examination: 100 steps of the last digit")


class RegisterCreepParams(CheckParams):
    threshold_a: NonNegative = Field(0.05, description="the reference reads no current: a no-load condition")
    min_duration_s: NonNegative = Field(60.0, description="the shortest no-load stretch judged")


def _point_current_a(inp: CheckInputs, t_from: float, t_to: float) -> tuple[float, list[int]]:
    """The measured current per phase of a load point (median of the reference over it, on the
    smallest phase that carried current: every phase must be in the range the point is judged by)
    and the phases that carried current."""
    t = inp.trace["t_mono_s"]  # time-sorted: the point's rows by binary search
    lo, hi = np.searchsorted(t, t_from), np.searchsorted(t, t_to, side="right")
    medians = {}
    for p in inp.phases:
        column = inp.trace.get(f"meter_current_l{p}_a")
        if column is not None and np.any(~np.isnan(column[lo:hi])):
            medians[p] = float(np.nanmedian(column[lo:hi]))
    if not medians:
        return float("nan"), []
    top = max(medians.values())
    carrying = [p for p, v in medians.items() if v > 0.5 * top]
    return min(medians[p] for p in carrying), carrying


def _tolerance(inp: CheckInputs, override: float | None, current_a: float) -> Tolerance:
    preset = inp.position.dut.regime
    if override is not None:
        return Tolerance(float(override), "any load", f"scenario override energy_tolerance_pct ({RULE_MID})")
    if preset is None:
        return Tolerance(inp.position.dut.meter_mpe_pct, "any load", RULE_MID)
    return preset.at_current(current_a, inp.position.dut.meter_ratings)


def meter_accuracy_at_load_points(inp: CheckInputs) -> CheckRecord:
    name = "meter_accuracy_at_load_points"
    if not inp.has("meter_energy_import_wh"):
        return skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return errored(name, "no transaction in this scenario, so no energy register to compare")
    dut = inp.position.dut
    args = LoadPointAccuracyParams.of(inp.params)
    min_steps = args.min_register_steps
    step_wh = max(dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = min_steps * step_wh
    res = timestamp_resolution_s(inp)
    points = steady_load_points(inp)
    params: dict[str, Any] = {"regime": dut.meter_regime, "min_register_steps": min_steps,
                              "register_step_wh": step_wh, "timestamp_resolution_s": res}
    if not points:
        return errored(name, "no steady load point in this scenario (load_point / set_ev steps)", params)
    ts, reg = samples_of(readings_of(inp, (ENERGY,)), ENERGY)
    lo = rows_from(ts, np.array([lp.t_from for lp in points]))
    hi = rows_through(ts, np.array([lp.t_to for lp in points]))
    energy = EnergyTrace.of(inp)
    ms: list[Measurement] = []
    rows: list[dict[str, Any]] = []
    for n, lp in enumerate(points, 1):
        label = f"point{n}_energy_error_pct"
        current, phases = _point_current_a(inp, lp.t_from, lp.t_to)
        where = (f"load point {n}: {lp.level_a:.3g} A asked, {current:.3f} A measured on "
                 f"{len(phases)} phase(s), {lp.t_to - lp.t_from:.0f} s")
        row: dict[str, Any] = {"t_from": lp.t_from, "t_to": lp.t_to, "level_a": lp.level_a,
                               "measured_a": None if np.isnan(current) else round(current, 3), "phases": phases}
        rows.append(row)
        if np.isnan(current) or not phases:
            ms.append(judge(label, None, "%", note=f"{where}: the reference meter measured no current"))
            continue
        tol = _tolerance(inp, args.energy_tolerance_pct, current)
        row.update(current_range=tol.current_range, mpe_pct=tol.mpe_pct)
        if tol.mpe_pct is None:
            ms.append(judge(label, None, "%", rule=tol.rule,
                            note=f"{where}: {tol.current_range}, outside what the regime judges (check the "
                                 "meter's Imin/Itr/Imax in the config and the scenario's load points)"))
            continue
        count = int(max(hi[n - 1] - lo[n - 1], 0))
        if count < 2:
            ms.append(judge(label, None, "%", note=f"{where}: {count} energy register value(s) in it, needs 2"))
            continue
        a, b = int(lo[n - 1]), int(hi[n - 1]) - 1
        ref = reference_energy(energy, float(ts[a]), float(ts[b]), res)
        if ref is None:
            ms.append(judge(label, None, "%", note=f"{where}: the recorded reference does not reach its values"))
            continue
        steps = ref.nominal_wh / step_wh
        row["register_steps"] = round(steps, 1)
        if ref.nominal_wh < min_wh:
            ms.append(judge(label, None, "%", note=f"{where}: {ref.nominal_wh:.2f} Wh is {steps:.0f} register steps "
                                                   f"of {step_wh:g} Wh, needs {min_steps}: lengthen the point"))
            continue
        d_dut = float(reg[b] - reg[a])
        err = (d_dut - ref.nominal_wh) / ref.nominal_wh * 100.0
        limit = tol.mpe_pct + ref.timing_pct
        row["energy_error_pct"] = round(err, 4)
        ms.append(judge(label, float(err), "%", -limit, limit, t_mono_s=float(ts[b]), rule=tol.rule,
                        note=f"{where}; {tol.current_range}; register {d_dut:.2f} Wh vs reference "
                             f"{ref.nominal_wh:.2f} Wh ({steps:.0f} steps of {step_wh:g} Wh, {count} values); "
                             f"limit MPE {tol.mpe_pct:g} % + {ref.timing_pct:.2f} % for the timestamps' resolution",
                        samples=count, coverage=covered_share(1, float(ts[b] - ts[a]), inp),
                        uncertainty=inp.tolerances.reference_energy_pct))
    params["load_points"] = rows
    return check_record(name, ms, params)


# ---- register_creep ------------------------------------------------------------------------

MAX_READ_GAP_S = 2.0  # a no-load stretch spans a lone missed read, never a longer loss of the reference


def _no_load_stretches(inp: CheckInputs, threshold_a: float) -> list[tuple[float, float]]:
    """(start, end) of every stretch in which the reference meter reads at most `threshold_a` on
    every phase, inside a transaction. Rows without a reading on every phase are left out: a lone
    missed read does not split a stretch, a gap longer than MAX_READ_GAP_S does."""
    currents = np.vstack([inp.trace[f"meter_current_l{p}_a"] for p in range(1, 4)
                          if f"meter_current_l{p}_a" in inp.trace])
    read = ~np.isnan(currents).any(axis=0)
    t = inp.trace["t_mono_s"][read]
    idle = np.asarray((currents[:, read] <= threshold_a).all(axis=0), dtype=bool)
    out = []
    for tx in inp.transactions:  # each transaction's rows sliced by binary search: linear in the rows
        end = tx.t_stop_mono_s if tx.t_stop_mono_s is not None else inp.t_end
        lo, hi = np.searchsorted(t, tx.t_start_mono_s), np.searchsorted(t, end, side="right")
        ts, inside = t[lo:hi], idle[lo:hi]
        gap = np.diff(ts) > MAX_READ_GAP_S
        joined_before = np.concatenate(([False], inside[:-1] & ~gap)) if ts.size else inside
        joined_after = np.concatenate((inside[1:] & ~gap, [False])) if ts.size else inside
        starts, ends = np.flatnonzero(inside & ~joined_before), np.flatnonzero(inside & ~joined_after)
        out += [(float(ts[a]), float(ts[b])) for a, b in zip(starts, ends)]
    return out


def register_creep(inp: CheckInputs) -> CheckRecord:
    """In every no-load stretch of a transaction at least `min_duration_s` long (after the settling
    time), the DUT's energy register values stamped inside it advance by at most one step of its
    last digit (`dut.meter_resolution_wh`). The reference register must stay still there too (else
    the bench did not hold a no-load condition: ERROR)."""
    name = "register_creep"
    if not inp.has("meter_current_l1_a") or not inp.has("meter_energy_import_wh"):
        return skipped(name, "needs the reference power meter's current and energy")
    if not inp.transactions:
        return errored(name, "no transaction in this scenario")
    dut = inp.position.dut
    args = RegisterCreepParams.of(inp.params)
    threshold = float(args.threshold_a)
    min_s = float(args.min_duration_s)
    settle = dut.reaction_time_s + inp.position.ev.reaction_time_s + inp.tolerances.settle_margin_s
    allowed = dut.meter_resolution_wh
    res = timestamp_resolution_s(inp)
    params = {"threshold_a": threshold, "min_duration_s": min_s, "settle_s": settle, "allowed_advance_wh": allowed}
    stretches = [(a + settle, b) for a, b in _no_load_stretches(inp, threshold) if b - (a + settle) >= min_s]
    if not stretches:
        return errored(name, f"no stretch of a transaction without current (<= {threshold:g} A on every phase) "
                            f"at least {min_s:g} s long after {settle:g} s settling", params)
    ts, reg = samples_of(readings_of(inp, (ENERGY,)), ENERGY)
    energy = EnergyTrace.of(inp)
    ref_step = reference_energy_step_wh(inp.trace)
    ms: list[Measurement] = []
    for n, (a, b) in enumerate(stretches, 1):
        label = f"no_load{n}_register_advance_wh"
        where = f"no load from {a:.1f} s to {b:.1f} s ({b - a:.0f} s)"
        # a value stamped t was taken in [t, t + res): wholly inside the stretch
        keep = (ts >= a) & (ts + res <= b)
        values, times = reg[keep], ts[keep]
        if values.size < 2:
            ms.append(judge(label, None, "Wh", note=f"{where}: {values.size} energy register value(s) in it, needs 2"))
            continue
        ref_wh = float(np.interp(b, energy.t, energy.wh) - np.interp(a, energy.t, energy.wh))
        if ref_wh > max(ref_step, 1e-6):
            ms.append(Measurement(f"no_load{n}_reference_advance_wh", round(ref_wh, 4), "Wh", None, ref_step,
                                  Verdict.ERROR, note=f"{where}: the reference register advanced: not a no-load "
                                                      "condition"))
            continue
        advance = float(values[-1] - values[0])
        ms.append(judge(label, round(advance, 6), "Wh", None, allowed + 1e-9, t_mono_s=float(times[-1]),
                        rule=RULE_NO_LOAD, samples=int(values.size), coverage=covered_share(1, b - a, inp),
                        note=f"{where}: register {values[0]:.2f} -> {values[-1]:.2f} Wh ({values.size} values), "
                             f"reference {ref_wh:.4f} Wh; one step is {allowed:g} Wh"))
    return check_record(name, ms, params)


CHECKS = {
    "meter_accuracy_at_load_points": CheckDef(meter_accuracy_at_load_points, LoadPointAccuracyParams, (
        Measures("point{n}_energy_error_pct", "%",
                 "±{energy_tolerance_pct:g} % (unset: dut.meter_regime at the point's current, else "
                 "dut.meter_mpe_pct), over >= {min_register_steps} register steps",
                 "dut.meter_regime's rule for the point's current (MID Annex V Table 2 / NIST HB 44), else "
                 + RULE_MID),
    ), summary="energy register against the reference at each load point"),
    "register_creep": CheckDef(register_creep, RegisterCreepParams, (
        Measures("no_load{n}_register_advance_wh", "Wh",
                 "<= {dut.meter_resolution_wh:g} Wh where the reference reads <= {threshold_a:g} A "
                 "for >= {min_duration_s:g} s", RULE_NO_LOAD),
        Measures("no_load{n}_reference_advance_wh", "Wh", "the reference's step (else not a no-load condition: ERROR)",
                 RULE_NO_LOAD),
    ), summary="no register advance without current"),
}
