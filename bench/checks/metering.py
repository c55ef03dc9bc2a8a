"""Checks of the DUT's own metering against the reference meter (OCPP MeterValues, MID/EN 50470-3).

- `meter_values_match_reference`: Current.Import per phase within the DUT's declared accuracy and
  the energy register's increase per steady load point within its class's MPE;
- `transaction_energy_matches_reference`: meterStop - meterStart against the reference energy;
- `transaction_meter_values_match_reference`: each transaction ended, its values stamped within
  it, its register never going back, and its increase against the reference energy.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bench.checks.arrays import count_between, rows_from, rows_through, running_count
from bench.checks.base import (RULE_CURRENT_ACCURACY, RULE_MEASURAND, RULE_REGISTER, RULE_SAMPLE_INTERVAL,
                               RULE_TX_END, RULE_TX_TIMESTAMP, CheckInputs, check_record, covered_share, errored,
                               sampling_period, skipped)
from bench.checks.declare import CheckDef, Measures, NonNegative, from_config, setting
from bench.checks.reference import (CURRENT, ENERGY, ENERGY_LIMIT, EnergyParams, EnergyTrace, LoadPoint,
                                    _reference_over, judge_energy, readings_of, reference_energy,
                                    reference_energy_step_wh, samples_of, steady_load_points, timestamp_resolution_s)
from bench.record import CheckRecord, Measurement, Verdict, failed, judge


class MeterValuesParams(EnergyParams):
    current_tolerance_rel_pct: NonNegative | None = None
    current_tolerance_abs_a: NonNegative | None = None
    DEFAULTS: ClassVar = {**EnergyParams.DEFAULTS,
                          "current_tolerance_rel_pct": from_config("tolerances.meter_current_rel_pct"),
                          "current_tolerance_abs_a": from_config("tolerances.meter_current_abs_a")}


def _uncompared_point(n: int, lp: LoadPoint, p: int, sent: int, interval: float) -> Measurement:
    """A load point without a compared Current.Import on phase p although the DUT sent some: the
    DUT's FAIL when it sent none in a point two sample intervals long, else the bench's ERROR."""
    where = f"load point {n + 1} ({lp.level_a:g} A, {lp.t_to - lp.t_from:.0f} s)"
    if sent:
        return Measurement(f"current_point{n + 1}_l{p}_compared", 0, "count", 1, None, Verdict.ERROR,
                           note=f"{where}: {sent} Current.Import values, none while the reference was steady",
                           samples=0)
    if lp.t_to - lp.t_from >= 2 * interval:
        return failed(f"current_point{n + 1}_l{p}_compared", "count",
                      f"{where}: no Current.Import although the sample interval is {interval} s", RULE_SAMPLE_INTERVAL)
    return Measurement(f"current_point{n + 1}_l{p}_compared", 0, "count", 1, None, Verdict.ERROR,
                       note=f"{where}: shorter than two sample intervals ({interval} s), lengthen the scenario",
                       samples=0)


def meter_values_match_reference(inp: CheckInputs) -> CheckRecord:
    """Current.Import per phase and the Energy.Active.Import.Register deltas reported in
    MeterValues agree with the reference meter (current within the DUT's declared accuracy,
    energy within the MID class MPE per load point; the interval must let the last digit step
    >= 100 times). Every load point needs at least one compared Current.Import per phase: one
    the DUT sent no value for is its FAIL, one the bench could not compare is an ERROR."""
    name = "meter_values_match_reference"
    tol = inp.tolerances
    if not inp.has("meter_energy_import_wh"):
        return skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return errored(name, "no transaction in this scenario, so no MeterValues to compare")
    args = MeterValuesParams.of(inp.params).resolved(inp.position, tol)
    rel = setting(args.current_tolerance_rel_pct)
    abs_a = setting(args.current_tolerance_abs_a)
    mpe = setting(args.energy_tolerance_pct)
    min_steps = args.min_register_steps
    res = timestamp_resolution_s(inp)
    interval = inp.position.dut.meter_sample_interval_s
    points = steady_load_points(inp)
    bounds = np.array([lp.t_from for lp in points]), np.array([lp.t_to for lp in points])
    ms: list[Measurement] = []
    series: dict[str, dict[str, Any]] = {}
    covered = np.ones(len(points), dtype=bool)
    point_rows: list[dict[str, Any]] = [{"t_from": lp.t_from, "t_to": lp.t_to, "level_a": lp.level_a}
                                        for lp in points]
    readings = readings_of(inp, (CURRENT, ENERGY))
    for p in inp.phases:
        ts, vals = samples_of(readings, CURRENT, f"L{p}")
        ref = _reference_over(inp.trace, f"meter_current_l{p}_a", ts, res, 1.0, abs_a) if ts.size \
            else np.array([])
        use = ~np.isnan(ref) & (ref >= 1.0)
        # coverage: every load point needs a compared reading on this phase (readings in
        # [t_from, t_to]: one slice of the sorted readings per point)
        lo, hi = rows_from(ts, bounds[0]), rows_through(ts, bounds[1])
        compared = count_between(running_count(use), lo, hi)
        for n, lp in enumerate(points):
            point_rows[n][f"current_samples_l{p}"] = int(compared[n])
            if compared[n]:
                continue
            covered[n] = False
            if not ts.size:
                if n == 0:
                    ms.append(failed(f"current_l{p}_reported", "", f"no Current.Import on L{p} in any MeterValues "
                                     "although the bench configured it", RULE_MEASURAND))
            else:
                ms.append(_uncompared_point(n, lp, p, int(max(hi[n] - lo[n], 0)), interval))
        if not use.any():
            continue
        err_pct = (vals[use] - ref[use]) / ref[use] * 100.0
        allowed = rel + abs_a / ref[use] * 100.0
        i = int(np.argmax(np.abs(err_pct) - allowed))
        ms.append(judge(f"current_error_l{p}_pct", float(err_pct[i]), "%", -float(allowed[i]), float(allowed[i]),
                        t_mono_s=float(ts[use][i]), note=f"reported {vals[use][i]:.2f} A, reference "
                                                         f"{ref[use][i]:.2f} A over [t, t + {res:g} s)",
                        rule=RULE_CURRENT_ACCURACY, samples=int(use.sum()),
                        uncertainty=tol.reference_current_pct))
        series[f"current_error_l{p}_pct"] = {"t_mono_s": ts[use].tolist(), "value": err_pct.tolist(), "unit": "%"}
    ts, reg = samples_of(readings, ENERGY)
    # both registers must step >= min_steps times: the DUT's and the reference meter's own
    min_wh = min_steps * max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    energy = EnergyTrace.of(inp)
    e_errs: list[float | None] = []
    e_times: list[float] = []
    lo, hi = rows_from(ts, bounds[0]), rows_through(ts, bounds[1])
    for n in range(len(points)):
        count = int(max(hi[n] - lo[n], 0))  # the register values in [t_from, t_to]
        point_rows[n]["energy_values"] = count
        if count < 2:
            continue
        a, b = int(lo[n]), int(hi[n]) - 1
        ref_e = reference_energy(energy, float(ts[a]), float(ts[b]), res)
        if ref_e is None or ref_e.nominal_wh < min_wh:
            continue
        d_dut = float(reg[b] - reg[a])
        m = judge_energy(f"energy_error_point{len(e_errs) + 1}_pct", d_dut, ref_e, mpe, inp, float(ts[b]),
                          f"DUT {d_dut:.1f} Wh vs reference {ref_e.nominal_wh:.1f} Wh over {ts[b] - ts[a]:.0f} s",
                          count, covered_share(1, float(ts[b] - ts[a]), inp))
        ms.append(m)
        e_errs.append(m.value)
        e_times.append(float(ts[b]))
        point_rows[n]["energy_error_pct"] = m.value
    if not e_errs:
        ms.append(judge("energy_error_pct", None, "%",
                        note=f"no load point long enough for {min_steps} register steps (>= {min_wh:g} Wh)"))
    else:
        series["energy_error_pct"] = {"t_mono_s": e_times, "value": e_errs, "unit": "%"}
    params = {"current_tolerance_rel_pct": rel, "current_tolerance_abs_a": abs_a, "energy_tolerance_pct": mpe,
              "min_register_steps": min_steps, "timestamp_resolution_s": res, "load_points": point_rows,
              "series": series}
    # evidence: the load points with a compared reading on every phase, as a share of the scenario;
    # all of them are required
    span = np.array([lp.t_to - lp.t_from for lp in points])
    return check_record(name, ms, params, min_coverage=float(span.sum()) / inp.duration_s,
                   coverage=float(span[covered].sum()) / inp.duration_s)


def transaction_energy_matches_reference(inp: CheckInputs) -> CheckRecord:
    """meterStop - meterStart (the lifetime register's delta, not meterStop alone) agrees
    with the reference energy over the transaction (between the bench's receipts of its start
    and stop), within the MID class MPE."""
    name = "transaction_energy_matches_reference"
    if not inp.has("meter_energy_import_wh"):
        return skipped(name, "no reference power meter on this position")
    ended = [tx for tx in inp.transactions if tx.t_stop_mono_s is not None]
    if not ended:
        return errored(name, "no completed transaction (started and stopped) in this scenario")
    done = [tx for tx in ended if tx.meter_stop_wh is not None]
    if not done:  # 2.x: ended without the energy register (TxEndedMeasurands): the charger's omission
        ms = [failed("transaction_energy", "%", "no Energy.Active.Import.Register at the end of any transaction",
                     RULE_MEASURAND)]
        return check_record(name, ms, {}, coverage=0.0)
    args = EnergyParams.of(inp.params).resolved(inp.position, inp.tolerances)
    mpe = setting(args.energy_tolerance_pct)
    # OCPP 1.6 meterStart/meterStop are whole Wh, whatever the register's own resolution
    resolution_wh = max(1.0, inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = args.min_register_steps * resolution_wh
    period = sampling_period(inp.trace["t_mono_s"])
    energy = EnergyTrace.of(inp)
    ms = []
    for n, tx in enumerate(done, 1):
        t_a, t_b = tx.t_start_mono_s, tx.t_stop_mono_s
        # 1.6 names the measurement by its (small, int) transaction id; 2.x ids are long strings
        label = f"tx{tx.transaction_id if isinstance(tx.transaction_id, int) else n}_energy_error_pct"
        if tx.meter_start_wh is None:  # 2.x: no energy register in the Started event (set by the bench)
            ms.append(failed(label, "%", f"transaction {tx.transaction_id}: no Energy.Active.Import.Register "
                                         "at the start (TxStartedMeasurands)", RULE_MEASURAND))
            continue
        # receipt times on the bench clock: the reading was taken at most one trace period before
        ref = reference_energy(energy, t_a - period, t_b - period, period)
        d_dut = float(tx.meter_stop_wh - tx.meter_start_wh)
        if ref is None:
            ms.append(judge(label, None, "%", note=f"the recorded reference does not reach the transaction's "
                                                   f"start and stop ({t_a:.1f} s, {t_b:.1f} s)"))
            continue
        if ref.nominal_wh < min_wh:
            ms.append(judge(label, None, "%", note=f"reference energy {ref.nominal_wh:.1f} Wh is below {min_wh:g} Wh"))
            continue
        ms.append(judge_energy(label, d_dut, ref, mpe, inp, t_b,
                                f"meterStop-meterStart {d_dut:.1f} Wh vs reference {ref.nominal_wh:.1f} Wh", 2,
                                covered_share(1, t_b - t_a, inp)))
    params = {"energy_tolerance_pct": mpe}
    return check_record(name, ms, params)



# ---- transaction_meter_values_match_reference ----------------------------------------------------

def transaction_meter_values_match_reference(inp: CheckInputs) -> CheckRecord:
    """Every transaction of the scenario ended (its stop received: a compliant charger delivers it,
    even when it ended offline), its meter values are timestamped within it, the energy register
    in them (sampled, clock-aligned, begin/end; also those queued offline and replayed) never
    goes back, and its increase from the first to the last value agrees with the reference
    energy over the same instants (charger timestamps, each meaning [t, t + resolution)), within
    the MID class MPE. Unlike meterStop - meterStart (whole Wh in 1.6) the register's own
    resolution counts, so short sessions can be judged."""
    name = "transaction_meter_values_match_reference"
    if not inp.has("meter_energy_import_wh"):
        return skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return errored(name, "no transaction in this scenario")
    tol = inp.tolerances
    args = EnergyParams.of(inp.params).resolved(inp.position, tol)
    mpe = setting(args.energy_tolerance_pct)
    resolution = max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = args.min_register_steps * resolution
    res = timestamp_resolution_s(inp)
    energy = EnergyTrace.of(inp)
    ms: list[Measurement] = []
    for n, tx in enumerate(inp.transactions, 1):
        label = f"tx{tx.transaction_id if isinstance(tx.transaction_id, int) else n}"
        if tx.t_stop_mono_s is None or tx.t_stop_mono_s > inp.t_end:  # its stop (e.g. queued offline) never came
            ms.append(failed(f"{label}_ended", "", f"transaction {tx.transaction_id} had not ended when the "
                                                   "scenario ended: no StopTransaction / TransactionEvent Ended",
                             RULE_TX_END))
            continue
        rows = sorted({(s.timestamp, s.value) for s in tx.samples
                       if s.measurand == ENERGY and s.phase is None and s.timestamp is not None})
        if len(rows) < 2:
            ms.append(failed(f"{label}_energy_error_pct", "%", f"transaction {tx.transaction_id}: fewer than two "
                                                                "energy register values", RULE_MEASURAND))
            continue
        values = np.array([v for _, v in rows])
        times = np.array([inp.mono_of(ts) for ts, _ in rows])
        # a value stamped t was taken in [t, t + res); the charger's clock may differ from the bench's
        # by the clock tolerance: further out than that it is not a value of this transaction
        slack = tol.clock_tolerance_s
        before = tx.t_start_mono_s - slack - (times + res)
        after = times - (tx.t_stop_mono_s + slack)
        outside = np.maximum(before, after)
        k = int(np.argmax(outside))
        ms.append(judge(f"{label}_timestamp_outside_s", float(max(0.0, outside[k])), "s", None, 0.0,
                        t_mono_s=float(times[k]), rule=RULE_TX_TIMESTAMP, samples=len(rows),
                        note=f"value stamped {rows[k][0].isoformat()} for a transaction from {tx.t_start_mono_s:.1f} s "
                             f"to {tx.t_stop_mono_s:.1f} s (clock tolerance {slack:g} s, resolution {res:g} s)"))
        # values stamped outside the transaction are the FAIL above; the rest are still compared
        inside = outside <= 0.0
        if inside.sum() < 2:
            continue
        rows = [r for r, keep in zip(rows, inside) if keep]
        values, times = values[inside], times[inside]
        drops = np.diff(values)
        i = int(np.argmin(drops))
        ms.append(judge(f"{label}_register_decrease_wh", float(max(0.0, -drops[i])), "Wh", None,
                        inp.position.dut.meter_resolution_wh, t_mono_s=float(times[i + 1]),
                        note=f"{values[i]:.1f} Wh then {values[i + 1]:.1f} Wh", rule=RULE_REGISTER, samples=len(rows)))
        t_a, t_b = float(times[0]), float(times[-1])
        ref = reference_energy(energy, t_a, t_b, res, not_after=tx.t_stop_mono_s)
        d_dut = float(values[-1] - values[0])
        if ref is None:
            ms.append(judge(f"{label}_energy_error_pct", None, "%",
                            note=f"the recorded reference does not reach the values stamped {rows[0][0].isoformat()} "
                                 f"and {rows[-1][0].isoformat()}"))
            continue
        if ref.nominal_wh < min_wh:
            ms.append(judge(f"{label}_energy_error_pct", None, "%",
                            note=f"reference energy {ref.nominal_wh:.1f} Wh is below {min_wh:g} Wh"))
            continue
        ms.append(judge_energy(f"{label}_energy_error_pct", d_dut, ref, mpe, inp, t_b,
                                f"register {d_dut:.1f} Wh vs reference {ref.nominal_wh:.1f} Wh over {t_b - t_a:.0f} s "
                                f"({len(rows)} values)", len(rows), covered_share(1, t_b - t_a, inp)))
    params = {"energy_tolerance_pct": mpe, "min_register_steps": args.min_register_steps,
              "timestamp_resolution_s": res, "clock_tolerance_s": tol.clock_tolerance_s}
    return check_record(name, ms, params)


_ENERGY_RULE = "dut.meter_regime's session rule, else " + "EN 50470-3 (MID class A/B/C)"
CHECKS = {
    "meter_values_match_reference": CheckDef(meter_values_match_reference, MeterValuesParams, (
        Measures("current_error_l{phase}_pct", "%",
                 "±({current_tolerance_rel_pct:g} % + {current_tolerance_abs_a:g} A of the reference)",
                 RULE_CURRENT_ACCURACY),
        Measures("current_l{phase}_reported", "", "Current.Import on every phase", RULE_MEASURAND),
        Measures("current_point{n}_l{phase}_compared", "count", ">= 1 compared reading per load point",
                 RULE_SAMPLE_INTERVAL),
        Measures("energy_error_point{n}_pct", "%", ENERGY_LIMIT, _ENERGY_RULE),
        Measures("energy_error_pct", "%", "a load point long enough for {min_register_steps} register steps, "
                 "else ERROR", _ENERGY_RULE),
    ), summary="MeterValues current and energy against the reference meter"),
    "transaction_energy_matches_reference": CheckDef(transaction_energy_matches_reference, EnergyParams, (
        Measures("tx{n}_energy_error_pct", "%", ENERGY_LIMIT, _ENERGY_RULE),
        Measures("transaction_energy", "%", "an energy register at the end of a transaction", RULE_MEASURAND),
    ), summary="meterStop - meterStart against the reference energy"),
    "transaction_meter_values_match_reference": CheckDef(transaction_meter_values_match_reference, EnergyParams, (
        Measures("tx{n}_ended", "", "a stop message for every transaction", RULE_TX_END),
        Measures("tx{n}_timestamp_outside_s", "s",
                 "<= 0 s outside the transaction (± {tolerances.clock_tolerance_s:g} s clock tolerance)",
                 RULE_TX_TIMESTAMP),
        Measures("tx{n}_register_decrease_wh", "Wh", "<= {dut.meter_resolution_wh:g} Wh (one register step)",
                 RULE_REGISTER),
        Measures("tx{n}_energy_error_pct", "%", ENERGY_LIMIT, _ENERGY_RULE),
    ), summary="each transaction's meter values: ended, stamped within it, register against the reference"),
}
