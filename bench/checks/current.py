"""Checks of the current the charger lets flow and the PWM it offers (IEC 61851-1, OCPP smart charging).

- `current_follows_limit`: the measured current stays within the composite schedule's limit, the
  PWM offer reaches it, and the charger delivers what the EV requests;
- `pwm_matches_limit`: the CP duty is the Annex A duty of the limit;
- `energy_stops_within`: on an EV-side fault (state E/F) the current stops within 100 ms.
"""
from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from bench.checks.arrays import annex_a_current, stretches_entered_from
from bench.checks.base import (RULE_DELIVERY, RULE_DISCONNECT, RULE_EVIDENCE, RULE_LIMIT, RULE_OFFER, RULE_PWM,
                               CheckInputs, check_record, covered_share, errored, sampling_period, settle_mask,
                               short_evidence, skipped)
from bench.checks.declare import CheckDef, CheckParams, Default, Measures, NonNegative, from_config, setting
from bench.checks.timeline import value_at
from bench.record import CheckRecord, Measurement, Verdict, failed, judge

IEC61851_DISCONNECT_S = 0.1  # state C -> B, E or F: the EVSE opens the contactor within 100 ms


class CurrentFollowsLimitParams(CheckParams):
    tolerance_abs_a: NonNegative | None = None
    tolerance_rel_pct: NonNegative | None = None
    settle_time_s: NonNegative | None = None
    DEFAULTS: ClassVar = {
        "tolerance_abs_a": from_config("tolerances.current_abs_a"),
        "tolerance_rel_pct": from_config("tolerances.current_rel_pct"),
        # the DUT's and the EV's reaction (IEC 61851-1 Annex A) and the bench's margin
        "settle_time_s": Default("dut.reaction_time_s + ev.reaction_time_s + tolerances.settle_margin_s",
                                 lambda pos, tol: pos.dut.reaction_time_s + pos.ev.reaction_time_s
                                 + tol.settle_margin_s),
    }


class PwmMatchesLimitParams(CheckParams):
    tolerance_pct: NonNegative | None = None
    settle_time_s: NonNegative | None = None
    DEFAULTS: ClassVar = {
        "tolerance_pct": from_config("tolerances.pwm_duty_pct"),
        "settle_time_s": Default("dut.reaction_time_s + tolerances.settle_margin_s",
                                 lambda pos, tol: pos.dut.reaction_time_s + tol.settle_margin_s),
    }


class EnergyStopsWithinParams(CheckParams):
    states: list[Literal["A", "B", "C", "D", "E", "F"]] = Field(["E", "F"], description="an EV-side fault")
    within_s: NonNegative = Field(IEC61851_DISCONNECT_S, description="IEC 61851-1")
    margin_s: NonNegative | None = Field(None, description="two sampling periods of the run")
    threshold_a: NonNegative | None = None
    DEFAULTS: ClassVar = {"threshold_a": from_config("tolerances.current_abs_a")}


# ---- current_follows_limit -----------------------------------------------------

def current_follows_limit(inp: CheckInputs) -> CheckRecord:
    """Outside the settle windows after each change (allowed DUT + EV reaction, margin, one
    sampling period), three things, each with its own culprit:
    - excess: measured current per phase <= limit + tolerance, always the charger's fault;
    - offer: the charger's PWM offer (Annex A current of the measured duty) reaches the expected
      limit (an offer below it starves the EV);
    - delivery: measured current per phase reaches what the EV itself requests, min(offer, EV max),
      less the EV's own under-draw (an EV may draw less than offered; far less means the charger
      cut the power). Without a duty measurement the expected offer stands in for it."""
    name = "current_follows_limit"
    tol = inp.tolerances
    args = CurrentFollowsLimitParams.of(inp.params).resolved(inp.position, tol)
    abs_a = setting(args.tolerance_abs_a)
    rel = setting(args.tolerance_rel_pct) / 100.0
    settle = setting(args.settle_time_s)
    if not any(inp.has(f"meter_current_l{p}_a") for p in inp.phases):
        return skipped(name, "no power meter current on this position")
    t = inp.trace["t_mono_s"]
    period = sampling_period(t)
    settling, windows = settle_mask(t, inp.expected.changes, settle + period)
    limit = value_at(inp.expected.limit_a, t)
    want = value_at(inp.expected.current_a, t)
    ev_phases = value_at(inp.expected.ev_phases, t) if inp.expected.ev_phases else None
    ev_max = value_at(inp.expected.ev_max_a, t) if inp.expected.ev_max_a else np.full(t.shape, np.inf)
    expected_duty = value_at(inp.expected.duty_pct, t)
    expected_offer = annex_a_current(expected_duty)  # NaN where the PWM is not judged (no transaction)
    eligible = ~settling & ~np.isnan(limit)
    min_share = tol.min_coverage_pct / 100.0 * covered_share(int(eligible.sum()), period, inp)
    params = {"tolerance_abs_a": abs_a, "tolerance_rel_pct": rel * 100, "settle_time_s": settle,
              "sampling_period_s": period, "ev_underdraw_a": tol.ev_underdraw_a, "settle_windows": windows}
    ms: list[Measurement] = []
    offered = None
    if inp.has("ev_pwm_duty_pct"):
        duty = inp.trace["ev_pwm_duty_pct"]
        offered = annex_a_current(duty)
        pwm_settling, _ = settle_mask(t, inp.expected.changes,
                                       inp.position.dut.reaction_time_s + tol.settle_margin_s + period)
        judged = ~pwm_settling & (np.nan_to_num(expected_offer) > 0) & ~np.isnan(offered)
        if judged.any():
            # the duty tolerance in amps at each instant (Annex A slope: 0.6 A/% up to 51 A, 2.5 above)
            slope = np.where(expected_offer <= 51.0, 0.6, 2.5)
            allowed = slope * tol.pwm_duty_pct
            short = expected_offer - offered
            i = int(np.argmax(np.where(judged, short - allowed, -np.inf)))
            ms.append(judge("offer_shortfall_a", float(short[i]), "A", None, float(allowed[i]), t_mono_s=float(t[i]),
                            note=f"offered {offered[i]:.1f} A (duty {duty[i]:.1f} %) for a limit of "
                                 f"{expected_offer[i]:.1f} A", rule=RULE_OFFER, samples=int(judged.sum()),
                            coverage=covered_share(int(judged.sum()), period, inp),
                            uncertainty=float(slope[i] * tol.reference_duty_pct)))
    limit_shares: list[float] = []
    # what the EV itself requests: all it is offered, up to its own maximum
    request = np.minimum(offered if offered is not None else expected_offer, ev_max)
    request = np.where(np.isnan(request), want, request)
    for p in inp.phases:
        cur = inp.trace[f"meter_current_l{p}_a"]
        ok = eligible & ~np.isnan(cur)
        n = int(ok.sum())
        share = covered_share(n, period, inp)
        limit_shares.append(share)
        if share < min_share or not n:
            ms.append(short_evidence(f"compared_share_l{p}", share, min_share,
                                      f"the reference meter gave no current on L{p} for part of the scenario"))
            if not n:
                continue
        allowed = abs_a + rel * limit
        margin = np.where(ok, allowed - (cur - limit), np.inf)
        i = int(np.argmin(margin))
        ms.append(judge(f"excess_over_limit_l{p}_a", float(cur[i] - limit[i]), "A", None, float(allowed[i]),
                        t_mono_s=float(t[i]), note=f"limit {limit[i]:.1f} A", rule=RULE_LIMIT, samples=n,
                        coverage=share, uncertainty=float(tol.reference_current_pct / 100.0 * cur[i])))
        drawing = ok & (want > 0) & (request > 0)
        if ev_phases is not None:  # a step changed the EV's phases: no current expected on the others
            drawing &= ~(ev_phases < p)
        if drawing.any():
            allowed_short = abs_a + rel * request + tol.ev_underdraw_a
            short = np.where(drawing, (request - cur) - allowed_short, -np.inf)
            j = int(np.argmax(short))
            # the name predates the offer/request split (trends and reports follow it): what is
            # expected of the charger here is to deliver what the EV requests
            ms.append(judge(f"shortfall_below_expected_l{p}_a", float(request[j] - cur[j]), "A", None,
                            float(allowed_short[j]), t_mono_s=float(t[j]),
                            note=f"the EV requests {request[j]:.1f} A (offer {_amps_or_unmeasured(offered, j)}, "
                                 f"EV max {ev_max[j]:g} A), may draw {tol.ev_underdraw_a:g} A less",
                            rule=RULE_DELIVERY, samples=int(drawing.sum()),
                            coverage=covered_share(int(drawing.sum()), period, inp),
                            uncertainty=float(tol.reference_current_pct / 100.0 * request[j])))
    # the evidence is the limit judgement's: every instant outside settle windows with a limit
    return check_record(name, ms, params, min_coverage=min_share, coverage=min(limit_shares))


# ---- pwm_matches_limit --------------------------------------------------------------

def pwm_matches_limit(inp: CheckInputs) -> CheckRecord:
    """While a transaction runs and the EV is connected, the duty on CP equals the Annex A duty
    of the composite limit (100 % below 6 A) within the generator's accuracy, outside the settle
    windows (allowed DUT reaction, margin, one sampling period)."""
    name = "pwm_matches_limit"
    args = PwmMatchesLimitParams.of(inp.params).resolved(inp.position, inp.tolerances)
    tol = setting(args.tolerance_pct)
    settle = setting(args.settle_time_s)
    if not inp.has("ev_pwm_duty_pct"):
        return skipped(name, "no EV emulator duty measurement on this position")
    t = inp.trace["t_mono_s"]
    period = sampling_period(t)
    settling, windows = settle_mask(t, inp.expected.changes, settle + period)
    want = value_at(inp.expected.duty_pct, t)
    duty = inp.trace["ev_pwm_duty_pct"]
    eligible = ~settling & ~np.isnan(want)
    ok = eligible & ~np.isnan(duty)
    min_share = inp.tolerances.min_coverage_pct / 100.0 * covered_share(int(eligible.sum()), period, inp)
    params = {"tolerance_pct": tol, "settle_time_s": settle, "sampling_period_s": period, "settle_windows": windows}
    if not ok.any():
        return errored(name, "no duty samples while a transaction ran (outside settle windows)", params)
    err = np.where(ok, duty - want, np.nan)
    i = int(np.nanargmax(np.abs(err)))
    n = int(ok.sum())
    ms = [judge("duty_error_pct", float(err[i]), "%", -tol, tol, t_mono_s=float(t[i]),
                note=f"expected {want[i]:.1f} %, measured {duty[i]:.1f} %", rule=RULE_PWM, samples=n,
                coverage=covered_share(n, period, inp), uncertainty=inp.tolerances.reference_duty_pct)]
    if covered_share(n, period, inp) < min_share:
        ms.append(short_evidence("compared_share", covered_share(n, period, inp), min_share,
                                  "the EV emulator gave no duty for part of the scenario"))
    return check_record(name, ms, params, min_coverage=min_share)



# ---- energy_stops_within -------------------------------------------------------------------


def _state_entries(states: np.ndarray, targets: set[str]) -> list[tuple[int, int]]:
    """(first, last) sample indices of each stretch the CP line spends in `targets` after charging
    (C/D). Rows without a CP state (the EV emulator's read stalled: its cell is empty) are left
    out, so a missed read neither hides an entry nor cuts a stretch short."""
    known = np.flatnonzero(np.asarray(states, dtype=object) != "")
    return [(int(known[a]), int(known[b])) for a, b in stretches_entered_from(states[known], targets, ("C", "D"))]


def energy_stops_within(inp: CheckInputs) -> CheckRecord:
    """Each time the CP line goes from charging (C/D) to one of `states` (default E, F: an EV-side
    fault), the current on every phase falls to zero within `within_s` (IEC 61851-1: 100 ms) plus
    the bench's own uncertainty, and stays there while the state lasts. That uncertainty is two
    sampling periods: the trace sees no finer than one, and the CP state and the meter current of
    one sample row come from two instruments read at slightly different moments (up to another)."""
    name = "energy_stops_within"
    args = EnergyStopsWithinParams.of(inp.params).resolved(inp.position, inp.tolerances)
    targets: set[str] = set(args.states)
    within = args.within_s
    zero_a = setting(args.threshold_a)
    if not inp.has("meter_current_l1_a") or "ev_cp_state" not in inp.trace or not len(inp.trace["ev_cp_state"]):
        return skipped(name, "needs the power meter's current and the EV emulator's CP state")
    t = inp.trace["t_mono_s"]
    period = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    margin = 2 * period if args.margin_s is None else args.margin_s
    params = {"states": sorted(targets), "within_s": within, "margin_s": margin, "threshold_a": zero_a}
    entries = _state_entries(inp.trace["ev_cp_state"], targets)
    if not entries:
        return errored(name, f"the CP line never went from C/D to {'/'.join(sorted(targets))} in this scenario", params)
    current = np.nanmax(np.vstack([inp.trace[f"meter_current_l{p}_a"] for p in inp.phases]), axis=0)
    ms: list[Measurement] = []
    for n, (a, b) in enumerate(entries, 1):
        state = inp.trace["ev_cp_state"][a]
        zero = np.nonzero(current[a:b + 1] <= zero_a)[0]
        if not zero.size and t[b] - t[a] <= within + margin:  # left the state before its time was up
            ms.append(Measurement(f"stop{n}_delay_s", None, "s", None, within + margin, Verdict.ERROR,
                                  t_mono_s=float(t[a]), rule=RULE_DISCONNECT, samples=int(b - a + 1),
                                  note=f"not judged: state {state} was seen for {t[b] - t[a]:.2f} s, within the "
                                       f"{within + margin:.2f} s the stop may take, and current still flowed"))
            continue
        if not zero.size:
            ms.append(failed(f"stop{n}_delay_s", "s", f"current kept flowing for the whole {t[b] - t[a]:.1f} s "
                                                    f"in state {state} (max {np.nanmax(current[a:b + 1]):.1f} A)",
                             RULE_DISCONNECT))
            continue
        k = a + int(zero[0])
        # the limit carries the bench's uncertainty (margin): a stop within it is not resolved
        ms.append(judge(f"stop{n}_delay_s", float(t[k] - t[a]), "s", None, within + margin, t_mono_s=float(t[a]),
                        note=f"state {state} seen at {t[a]:.2f} s, current <= {zero_a:g} A at {t[k]:.2f} s",
                        rule=RULE_DISCONNECT, samples=int(b - a + 1), coverage=covered_share(b - a + 1, period, inp),
                        uncertainty=margin))
        after = current[k:b + 1]
        ms.append(judge(f"stop{n}_current_after_a", float(np.nanmax(after)), "A", None, zero_a, t_mono_s=float(t[k]),
                        note=f"largest phase current while in state {state} once stopped", rule=RULE_DISCONNECT,
                        samples=int(after.size)))
    return check_record(name, ms, params)


_SETTLED = "outside {settle_time_s:g} s after each change"
CHECKS = {
    "current_follows_limit": CheckDef(current_follows_limit, CurrentFollowsLimitParams, (
        Measures("excess_over_limit_l{phase}_a", "A",
                 "<= {tolerance_abs_a:g} A + {tolerance_rel_pct:g} % of the limit, " + _SETTLED, RULE_LIMIT),
        Measures("offer_shortfall_a", "A", "<= {tolerances.pwm_duty_pct:g} % of duty in A (0.6 A per %, 2.5 A "
                 "above 51 A)", RULE_OFFER),
        Measures("shortfall_below_expected_l{phase}_a", "A",
                 "<= {tolerance_abs_a:g} A + {tolerance_rel_pct:g} % of the EV's request + "
                 "{tolerances.ev_underdraw_a:g} A",
                 RULE_DELIVERY),
        Measures("compared_share_l{phase}", "share", ">= {tolerances.min_coverage_pct:g} % of the judged time",
                 RULE_EVIDENCE),
    ), summary="current within the composite limit, offered and delivered"),
    "pwm_matches_limit": CheckDef(pwm_matches_limit, PwmMatchesLimitParams, (
        Measures("duty_error_pct", "%", "within ±{tolerance_pct:g} %, " + _SETTLED, RULE_PWM),
        Measures("compared_share", "share", ">= {tolerances.min_coverage_pct:g} % of the judged time",
                 RULE_EVIDENCE),
    ), summary="CP duty is the Annex A duty of the limit"),
    "energy_stops_within": CheckDef(energy_stops_within, EnergyStopsWithinParams, (
        Measures("stop{n}_delay_s", "s", "<= {within_s:g} s + {margin_s:g} s (bench uncertainty)", RULE_DISCONNECT),
        Measures("stop{n}_current_after_a", "A", "<= {threshold_a:g} A", RULE_DISCONNECT),
    ), summary="current stops on a fault state"),
}


def _amps_or_unmeasured(values: np.ndarray | None, i: int) -> str:
    """`values[i]` in amperes, or "not measured" (no column, or no reading at that row)."""
    if values is None or np.isnan(values[i]):
        return "not measured"
    return f"{values[i]:.1f} A"
