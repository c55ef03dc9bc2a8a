# FROZEN COPY of bench/verify.py at commit 272f18f, before the checks were made linear in time.
# Only tests/bench/test_verify_linear_time.py and tests/benchmarks/check_benchmarks.py use it: they
# show the linear-time checks give the same records (and time the old ones). Do not edit.
"""Checks: recorded traces + OCPP data + expected timeline -> measurements -> verdicts.

Every check returns a `CheckRecord` whose measurements carry value, unit, limits, the rule
they enforce and the evidence (samples compared, share of the scenario covered, the bench's
own uncertainty) as data. Who is at fault decides the verdict:
- FAIL: the DUT did something wrong, including data it must not send (a register going
  backwards, a timestamp outside its transaction, a configured measurand missing); the
  measurement names the rule.
- ERROR: the bench cannot judge (no reference data, instruments lost samples, a scenario too
  short): never PASS on part of the evidence. A check that compared less than its declared
  minimum share says so.
- SKIPPED: a physical check on a position without the instrument it needs.

Real signals: values carry noise (reference and DUT meters independently), the EV draws less
than offered, the DUT stamps MeterValues in whole seconds. Steady-state selection is relative
to the signal's own noise, and a MeterValue stamped t with resolution r was taken somewhere in
[t, t + r): it is compared with the reference over that interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import numpy as np

from bench.clock import parse_iso
from bench.config import PositionConfig, TolerancesConfig
from bench.memory import MemoryMark
from bench.record import CheckRecord, Measurement, Verdict, combine, failed, judge
from bench.checks.timeline import Expected, value_at
from instruments.iec61851 import duty_to_current_a

ENERGY = "Energy.Active.Import.Register"
CURRENT = "Current.Import"

# The rules the checks enforce, cited in every measurement they judge.
RULE_LIMIT = ("OCPP 1.6 3.13 / 2.0.1 K: the charger keeps the current within the composite schedule's limit "
              "(IEC 61851-1 Annex A: through the PWM offer)")
RULE_OFFER = "IEC 61851-1 Annex A: the PWM duty offers the composite limit (OCPP 1.6 3.13 / 2.0.1 K)"
RULE_DELIVERY = ("IEC 61851-1 Annex A: while charging (state C/D) the charger delivers what the EV draws up "
                 "to the offer; less than the EV requests means the charger cut the power")
RULE_PWM = "IEC 61851-1 Annex A: duty = limit / 0.6 A (up to 51 A), 100 % below 6 A; pulse width +-5 us at 1 kHz"
RULE_CURRENT_ACCURACY = ("Current.Import (OCPP 1.6 7.31, instantaneous current to the EV) within the DUT's "
                         "declared accuracy")
RULE_MEASURAND = ("OCPP 1.6 errata 3.13 (4.7): MeterValuesSampledData prescribes the measurands of every MeterValues; "
                  "2.0.1 J01.FR.14 (errata 2023-12): every configured measurand on every phase")
RULE_SAMPLE_INTERVAL = ("OCPP 1.6 errata 3.14.1: samples every MeterValueSampleInterval from the start of the "
                        "transaction; 2.0.1 J02.FR.01-04")
RULE_MID = "EN 50470-3 (MID class A/B/C): energy within the class's error limit at reference conditions"
RULE_REGISTER = ("OCPP 1.6 7.31 / 2.0.1 measurand Energy.Active.Import.Register: the value read from the "
                 "meter's energy register, which never decreases")
RULE_TX_TIMESTAMP = ("OCPP 2.0.1 J02.FR.10 (errata 2023-12) and E06: meter values of a transaction are "
                     "timestamped within it; 1.6 4.7 / errata 3.14.1: samples taken during the transaction")
RULE_DISCONNECT = "IEC 61851-1: on state E/F (or B) the EVSE stops the energy and opens the contactor within 100 ms"
RULE_COMPOSITE = ("OCPP 1.6 5.7 / 2.0.1 K08 GetCompositeSchedule: the charger's composite of the profiles it holds "
                  "(open conformance suites: scheduleStart/duration +-2 s, startPeriod +-1 s, limits exact)")
RULE_SECURITY = "OCPP security whitepaper (1.6) / 2.0.1 A: what a charger at this security profile must do"
RULE_TX_END = "OCPP 1.6 4.10 StopTransaction / 2.0.1 E06: every transaction ends with its stop message"


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
    # the position's trace over the whole of the scenario's transactions (may reach past the
    # window): reference values for readings just outside the window come from here when given
    record_trace: dict[str, np.ndarray] | None = None
    memory_marks: list[MemoryMark] = field(default_factory=list)  # the scenario's memory_mark steps

    @property
    def phases(self) -> list[int]:
        return list(range(1, self.position.ev.phases + 1))

    def has(self, column: str) -> bool:
        col = self.trace.get(column)
        return col is not None and col.size > 0 and not np.all(np.isnan(col))

    @property
    def duration_s(self) -> float:
        return max(self.t_end - self.t_start, 1e-9)


def _skipped(name: str, why: str) -> CheckRecord:
    return CheckRecord(name, Verdict.SKIPPED, message=why)


def _error(name: str, why: str, params: dict | None = None) -> CheckRecord:
    return CheckRecord(name, Verdict.ERROR, message=why, params=params or {})


def _verdict_of(ms: list[Measurement]) -> Verdict:
    return combine([m.verdict for m in ms])


def _record(name: str, ms: list[Measurement], params: dict[str, Any], min_coverage: float | None = None,
            coverage: float | None = None) -> CheckRecord:
    """The check's record with its evidence: samples compared over all measurements and the share of
    the scenario covered (the smallest of its measurements' unless given)."""
    counts = [m.samples for m in ms if m.samples is not None]
    if coverage is None:
        shares = [m.coverage for m in ms if m.coverage is not None]
        coverage = min(shares) if shares else None
    return CheckRecord(name, _verdict_of(ms), ms, _first_failure_message(ms), params,
                       samples=int(sum(counts)) if counts else None,
                       coverage=None if coverage is None else round(float(coverage), 4),
                       min_coverage=None if min_coverage is None else round(float(min_coverage), 4))


def _period(t: np.ndarray) -> float:
    """The trace's sampling period: the finest time step the bench can see."""
    return float(np.median(np.diff(t))) if t.size > 1 else 0.0


def _share(n: int, period: float, inp: CheckInputs) -> float:
    return min(1.0, n * period / inp.duration_s)


def _short_evidence(name: str, share: float, min_share: float, why: str) -> Measurement:
    """Too little compared: the bench's data, not the DUT's behaviour, is missing (ERROR)."""
    return Measurement(name, round(share, 4), "share", round(min_share, 4), None, Verdict.ERROR,
                       note=f"compared {share:.0%} of the scenario, needs {min_share:.0%}: {why}", coverage=share)


def _settle_mask(t: np.ndarray, changes: list[float], settle_s: float) -> tuple[np.ndarray, list[list[float]]]:
    windows = [[c, c + settle_s] for c in changes]
    mask = np.zeros(t.shape, dtype=bool)
    for a, b in windows:
        mask |= (t >= a) & (t < b)
    return mask, windows


_annex_a = np.vectorize(lambda d: np.nan if np.isnan(d) else duty_to_current_a(float(d)), otypes=[float])


def _first_failure_message(ms: list[Measurement]) -> str:
    for m in ms:
        if m.verdict != Verdict.PASS:
            # the message's number format follows bench/checks/base.py (no "-0"): wording, not verdicts
            lim = f"[{'' if m.low is None else f'{m.low + 0.0:g}'}, {'' if m.high is None else f'{m.high + 0.0:g}'}]"
            text = f"{m.name} = {round(m.value, 3) + 0.0} {m.unit} outside {lim}" if m.value is not None \
                else f"{m.name}: {m.note}"
            if m.value is not None and m.verdict == Verdict.ERROR:
                text = f"{m.name}: {m.note}"
            return f"{text} ({m.rule})" if m.rule and m.verdict == Verdict.FAIL else text
    return ""


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
    abs_a = inp.params.get("tolerance_abs_a", tol.current_abs_a)
    rel = inp.params.get("tolerance_rel_pct", tol.current_rel_pct) / 100.0
    settle = inp.params.get("settle_time_s", inp.position.dut.reaction_time_s + inp.position.ev.reaction_time_s
                            + tol.settle_margin_s)
    if not any(inp.has(f"meter_current_l{p}_a") for p in inp.phases):
        return _skipped(name, "no power meter current on this position")
    t = inp.trace["t_mono_s"]
    period = _period(t)
    settling, windows = _settle_mask(t, inp.expected.changes, settle + period)
    limit = value_at(inp.expected.limit_a, t)
    want = value_at(inp.expected.current_a, t)
    ev_phases = value_at(inp.expected.ev_phases, t) if inp.expected.ev_phases else None
    ev_max = value_at(inp.expected.ev_max_a, t) if inp.expected.ev_max_a else np.full(t.shape, np.inf)
    expected_duty = value_at(inp.expected.duty_pct, t)
    expected_offer = _annex_a(expected_duty)  # NaN where the PWM is not judged (no transaction)
    eligible = ~settling & ~np.isnan(limit)
    min_share = tol.min_coverage_pct / 100.0 * _share(int(eligible.sum()), period, inp)
    params = {"tolerance_abs_a": abs_a, "tolerance_rel_pct": rel * 100, "settle_time_s": settle,
              "sampling_period_s": period, "ev_underdraw_a": tol.ev_underdraw_a, "settle_windows": windows}
    ms: list[Measurement] = []
    offered = None
    if inp.has("ev_pwm_duty_pct"):
        duty = inp.trace["ev_pwm_duty_pct"]
        offered = _annex_a(duty)
        pwm_settling, _ = _settle_mask(t, inp.expected.changes,
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
                            coverage=_share(int(judged.sum()), period, inp),
                            uncertainty=float(slope[i] * tol.reference_duty_pct)))
    limit_shares: list[float] = []
    # what the EV itself requests: all it is offered, up to its own maximum
    request = np.minimum(offered if offered is not None else expected_offer, ev_max)
    request = np.where(np.isnan(request), want, request)
    for p in inp.phases:
        cur = inp.trace[f"meter_current_l{p}_a"]
        ok = eligible & ~np.isnan(cur)
        n = int(ok.sum())
        share = _share(n, period, inp)
        limit_shares.append(share)
        if share < min_share or not n:
            ms.append(_short_evidence(f"compared_share_l{p}", share, min_share,
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
                            note=f"the EV requests {request[j]:.1f} A (offer "
                                 # wording as bench/checks/current.py: no "nan A" for a row without a reading
                                 f"{'not measured' if offered is None or np.isnan(offered[j]) else f'{offered[j]:.1f} A'}"
                                 ", EV max "
                                 f"{ev_max[j]:g} A), may draw {tol.ev_underdraw_a:g} A less",
                            rule=RULE_DELIVERY, samples=int(drawing.sum()),
                            coverage=_share(int(drawing.sum()), period, inp),
                            uncertainty=float(tol.reference_current_pct / 100.0 * request[j])))
    # the evidence is the limit judgement's: every instant outside settle windows with a limit
    return _record(name, ms, params, min_coverage=min_share, coverage=min(limit_shares))


# ---- pwm_matches_limit --------------------------------------------------------------

def pwm_matches_limit(inp: CheckInputs) -> CheckRecord:
    """While a transaction runs and the EV is connected, the duty on CP equals the Annex A duty
    of the composite limit (100 % below 6 A) within the generator's accuracy, outside the settle
    windows (allowed DUT reaction, margin, one sampling period)."""
    name = "pwm_matches_limit"
    tol = inp.params.get("tolerance_pct", inp.tolerances.pwm_duty_pct)
    settle = inp.params.get("settle_time_s", inp.position.dut.reaction_time_s + inp.tolerances.settle_margin_s)
    if not inp.has("ev_pwm_duty_pct"):
        return _skipped(name, "no EV emulator duty measurement on this position")
    t = inp.trace["t_mono_s"]
    period = _period(t)
    settling, windows = _settle_mask(t, inp.expected.changes, settle + period)
    want = value_at(inp.expected.duty_pct, t)
    duty = inp.trace["ev_pwm_duty_pct"]
    eligible = ~settling & ~np.isnan(want)
    ok = eligible & ~np.isnan(duty)
    min_share = inp.tolerances.min_coverage_pct / 100.0 * _share(int(eligible.sum()), period, inp)
    params = {"tolerance_pct": tol, "settle_time_s": settle, "sampling_period_s": period, "settle_windows": windows}
    if not ok.any():
        return _error(name, "no duty samples while a transaction ran (outside settle windows)", params)
    err = np.where(ok, duty - want, np.nan)
    i = int(np.nanargmax(np.abs(err)))
    n = int(ok.sum())
    ms = [judge("duty_error_pct", float(err[i]), "%", -tol, tol, t_mono_s=float(t[i]),
                note=f"expected {want[i]:.1f} %, measured {duty[i]:.1f} %", rule=RULE_PWM, samples=n,
                coverage=_share(n, period, inp), uncertainty=inp.tolerances.reference_duty_pct)]
    if _share(n, period, inp) < min_share:
        ms.append(_short_evidence("compared_share", _share(n, period, inp), min_share,
                                  "the EV emulator gave no duty for part of the scenario"))
    return _record(name, ms, params, min_coverage=min_share)


# ---- meter values vs the reference meter ----------------------------------------------

def _interp(trace: dict[str, np.ndarray], column: str, t: np.ndarray) -> np.ndarray:
    ts, ys = trace["t_mono_s"], trace[column]
    good = ~np.isnan(ys)
    if good.sum() < 2:
        return np.full(np.shape(t), np.nan)
    inside = (t >= ts[good][0]) & (t <= ts[good][-1])
    return np.where(inside, np.interp(t, ts[good], ys[good]), np.nan)


# changed on purpose after the linear-time rewrite (a fine register's resolution was taken from
# the sampler's jitter): the frozen copy uses the current estimate, so the rest stays compared
from bench.checks.reference import reference_energy_step_wh  # noqa: E402


def _robust_sigma(y: np.ndarray) -> float:
    """Standard deviation estimated from the median absolute deviation (robust to outliers)."""
    return float(1.4826 * np.median(np.abs(y - np.median(y)))) if y.size else 0.0


def _reference_over(trace: dict[str, np.ndarray], column: str, t: np.ndarray, res: float, pad_s: float,
                    floor: float) -> np.ndarray:
    """The reference's value over each reading's instant interval [t, t + res) (median: noise
    averages out), or NaN where the reference was not steady around it. Steady is judged
    against the signal's own noise, estimated from successive differences (which a step barely
    moves): every sample within `pad_s` of the interval stays within 5 noise sigmas of the
    median (the noise is a 3-sigma band) or within `floor` (a drift smaller than the tolerance
    does not matter). A fixed spread would drop every sample of a noisy load point; a spread
    statistic alone would miss a step that fills only part of the window. The trace must
    cover the whole interval: the reading may have been taken anywhere in it. Five samples at
    least judge steadiness: at a slow sampling rate (a long scenario's) the window widens to hold them."""
    ts, ys = trace["t_mono_s"], trace[column]
    good = ~np.isnan(ys)
    ts, ys = ts[good], ys[good]
    half = _period(ts) / 2
    pad_s = max(pad_s, (5 * 2 * half - res) / 2)
    out = np.full(len(t), np.nan)
    for k, tk in enumerate(t):
        if not ts.size or ts[0] > tk + half or ts[-1] < tk + res - half:
            continue
        around = ys[(ts >= tk - pad_s) & (ts < tk + res + pad_s)]
        inside = ys[(ts >= tk - half) & (ts < tk + res + half)]
        if around.size < 5 or not inside.size:
            continue
        noise = _robust_sigma(np.diff(around)) / np.sqrt(2.0)
        if np.max(np.abs(around - np.median(around))) <= max(floor, 5.0 * noise):
            out[k] = float(np.median(inside))
    return out


def _samples(inp: CheckInputs, measurand: str, phase: str | None = None):
    rows = []
    for tx in inp.transactions:
        for s in tx.samples:
            if s.measurand == measurand and s.timestamp is not None and (
                    phase is None and s.phase is None or phase is not None and (s.phase or "").startswith(phase)):
                rows.append((inp.mono_of(s.timestamp), s.value))
    rows.sort()
    return np.array([r[0] for r in rows], dtype=float), np.array([r[1] for r in rows], dtype=float)


def timestamp_resolution_s(inp: CheckInputs) -> float:
    """The resolution of the DUT's timestamps: configured, else 1 s when every MeterValue is stamped
    to the whole second (the common case), else 1 ms (the finest OCPP-J times usually carry)."""
    if inp.tolerances.timestamp_resolution_s is not None:
        return inp.tolerances.timestamp_resolution_s
    stamps = [s.timestamp for tx in inp.transactions for s in tx.samples if s.timestamp is not None]
    if stamps and all(ts.microsecond == 0 for ts in stamps):
        return 1.0
    return 0.001


@dataclass(frozen=True)
class ReferenceEnergy:
    """Reference energy between two readings stamped with resolution r: each was taken somewhere
    in [t, t + r) (clipped to the recorded trace), so the reference delta is a range."""

    nominal_wh: float  # between the interval midpoints
    low_wh: float
    high_wh: float

    @property
    def timing_pct(self) -> float:
        """Half-width of the range in % of the nominal: what the timestamps' resolution allows."""
        return max(self.nominal_wh - self.low_wh, self.high_wh - self.nominal_wh) / self.nominal_wh * 100.0


def reference_energy(inp: CheckInputs, t_a: float, t_b: float, res: float,
                     not_after: float | None = None) -> ReferenceEnergy | None:
    """None when a reading's interval lies wholly outside the recorded reference (the bench's
    record does not reach it). A reading stamped just before the window (a Transaction.Begin
    value truncated to the second) still overlaps it: the overlap is where it was taken. A
    reading was taken before the message carrying it arrived (`not_after`, e.g. the stop's
    arrival): a value stamped in the last second of a transaction ends its interval there."""
    trace = inp.record_trace if inp.record_trace is not None else inp.trace
    ts, es = trace["t_mono_s"], trace["meter_energy_import_wh"]
    good = ~np.isnan(es)
    if good.sum() < 2:
        return None
    ts, es = ts[good], es[good]
    lo, hi = ts[0], ts[-1]

    def end(t: float) -> float:
        return t + res if not_after is None else max(t, min(t + res, not_after))

    a0, a1 = max(t_a, lo), min(end(t_a), hi)
    b0, b1 = max(t_b, lo), min(end(t_b), hi)
    if a0 > a1 or b0 > b1:
        return None
    e = np.interp([a0, a1, (a0 + a1) / 2, b0, b1, (b0 + b1) / 2], ts, es)
    return ReferenceEnergy(float(e[5] - e[2]), float(e[3] - e[1]), float(e[4] - e[0]))


def _judge_energy(label: str, d_dut: float, ref: ReferenceEnergy, mpe: float, inp: CheckInputs, t_b: float,
                  note: str, samples: int, coverage: float | None) -> Measurement:
    """DUT energy against the reference: the limit is the MID MPE widened by what the timestamps'
    resolution allows (a known bound, in the DUT's favour: whole seconds are legal); the
    reference meter's class is the bench's uncertainty (flagged near the limit)."""
    err = (d_dut - ref.nominal_wh) / ref.nominal_wh * 100.0
    limit = mpe + ref.timing_pct
    return judge(label, float(err), "%", -limit, limit, t_mono_s=t_b,
                 note=f"{note}; limit MPE {mpe:g} % + {ref.timing_pct:.2f} % for the timestamps' resolution",
                 rule=RULE_MID, samples=samples, coverage=coverage, uncertainty=inp.tolerances.reference_energy_pct)


@dataclass(frozen=True)
class LoadPoint:
    """A steady stretch of expected current (after settling): where MeterValues are compared."""

    t_from: float
    t_to: float
    level_a: float


def _load_points(inp: CheckInputs) -> list[LoadPoint]:
    settle = inp.position.dut.reaction_time_s + inp.position.ev.reaction_time_s + inp.tolerances.settle_margin_s
    edges = [t for t, _ in inp.expected.current_a] + [inp.t_end]
    return [LoadPoint(t_a + settle, t_b, level) for (t_a, level), t_b in zip(inp.expected.current_a, edges[1:])
            if level > 0 and t_b > t_a + settle]


def meter_values_match_reference(inp: CheckInputs) -> CheckRecord:
    """Current.Import per phase and the Energy.Active.Import.Register deltas reported in
    MeterValues agree with the reference meter (current within the DUT's declared accuracy,
    energy within the MID class MPE per load point; the interval must let the last digit step
    >= 100 times). Every load point needs at least one compared Current.Import per phase: one
    the DUT sent no value for is its FAIL, one the bench could not compare is an ERROR."""
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
    res = timestamp_resolution_s(inp)
    interval = inp.position.dut.meter_sample_interval_s
    points = _load_points(inp)
    ms: list[Measurement] = []
    series: dict[str, dict[str, Any]] = {}
    covered = np.ones(len(points), dtype=bool)
    point_rows: list[dict[str, Any]] = [{"t_from": lp.t_from, "t_to": lp.t_to, "level_a": lp.level_a}
                                        for lp in points]
    for p in inp.phases:
        ts, vals = _samples(inp, CURRENT, f"L{p}")
        ref = _reference_over(inp.trace, f"meter_current_l{p}_a", ts, res, 1.0, abs_a) if ts.size \
            else np.array([])
        use = ~np.isnan(ref) & (ref >= 1.0)
        # coverage: every load point needs a compared reading on this phase
        for n, lp in enumerate(points):
            sent = (ts >= lp.t_from) & (ts <= lp.t_to)
            compared = int((sent & use).sum())
            point_rows[n][f"current_samples_l{p}"] = compared
            if compared:
                continue
            covered[n] = False
            where = f"load point {n + 1} ({lp.level_a:g} A, {lp.t_to - lp.t_from:.0f} s)"
            if not ts.size:
                if n == 0:
                    ms.append(failed(f"current_l{p}_reported", "", f"no Current.Import on L{p} in any MeterValues "
                                     "although the bench configured it", RULE_MEASURAND))
            elif sent.any():
                ms.append(Measurement(f"current_point{n + 1}_l{p}_compared", 0, "count", 1, None, Verdict.ERROR,
                                      note=f"{where}: {int(sent.sum())} Current.Import values, none while the "
                                           "reference was steady", samples=0))
            elif lp.t_to - lp.t_from >= 2 * interval:
                ms.append(failed(f"current_point{n + 1}_l{p}_compared", "count",
                                 f"{where}: no Current.Import although the sample interval is {interval} s",
                                 RULE_SAMPLE_INTERVAL))
            else:
                ms.append(Measurement(f"current_point{n + 1}_l{p}_compared", 0, "count", 1, None, Verdict.ERROR,
                                      note=f"{where}: shorter than two sample intervals ({interval} s), "
                                           "lengthen the scenario", samples=0))
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
    ts, reg = _samples(inp, ENERGY)
    # both registers must step >= min_steps times: the DUT's and the reference meter's own
    min_wh = min_steps * max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    e_errs: list[float | None] = []
    e_times: list[float] = []
    for n, lp in enumerate(points):
        idx = np.nonzero((ts >= lp.t_from) & (ts <= lp.t_to))[0]
        point_rows[n]["energy_values"] = int(idx.size)
        if idx.size < 2:
            continue
        a, b = int(idx[0]), int(idx[-1])
        ref_e = reference_energy(inp, float(ts[a]), float(ts[b]), res)
        if ref_e is None or ref_e.nominal_wh < min_wh:
            continue
        d_dut = float(reg[b] - reg[a])
        m = _judge_energy(f"energy_error_point{len(e_errs) + 1}_pct", d_dut, ref_e, mpe, inp, float(ts[b]),
                          f"DUT {d_dut:.1f} Wh vs reference {ref_e.nominal_wh:.1f} Wh over {ts[b] - ts[a]:.0f} s",
                          int(idx.size), _share(1, float(ts[b] - ts[a]), inp))
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
    return _record(name, ms, params, min_coverage=float(span.sum()) / inp.duration_s,
                   coverage=float(span[covered].sum()) / inp.duration_s)


def transaction_energy_matches_reference(inp: CheckInputs) -> CheckRecord:
    """meterStop - meterStart (the lifetime register's delta, not meterStop alone) agrees
    with the reference energy over the transaction (between the bench's receipts of its start
    and stop), within the MID class MPE."""
    name = "transaction_energy_matches_reference"
    if not inp.has("meter_energy_import_wh"):
        return _skipped(name, "no reference power meter on this position")
    ended = [tx for tx in inp.transactions if tx.t_stop_mono_s is not None]
    if not ended:
        return _error(name, "no completed transaction (started and stopped) in this scenario")
    done = [tx for tx in ended if tx.meter_stop_wh is not None]
    if not done:  # 2.x: ended without the energy register (TxEndedMeasurands): the charger's omission
        ms = [failed("transaction_energy", "%", "no Energy.Active.Import.Register at the end of any transaction",
                     RULE_MEASURAND)]
        return _record(name, ms, {}, coverage=0.0)
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
            ms.append(failed(label, "%", f"transaction {tx.transaction_id}: no Energy.Active.Import.Register "
                                         "at the start (TxStartedMeasurands)", RULE_MEASURAND))
            continue
        # receipt times on the bench clock: the reading was taken at most one trace period before
        ref = reference_energy(inp, t_a - _period(inp.trace["t_mono_s"]), t_b - _period(inp.trace["t_mono_s"]),
                               _period(inp.trace["t_mono_s"]))
        d_dut = float(tx.meter_stop_wh - tx.meter_start_wh)
        if ref is None:
            ms.append(judge(label, None, "%", note=f"the recorded reference does not reach the transaction's "
                                                   f"start and stop ({t_a:.1f} s, {t_b:.1f} s)"))
            continue
        if ref.nominal_wh < min_wh:
            ms.append(judge(label, None, "%", note=f"reference energy {ref.nominal_wh:.1f} Wh is below {min_wh:g} Wh"))
            continue
        ms.append(_judge_energy(label, d_dut, ref, mpe, inp, t_b,
                                f"meterStop-meterStart {d_dut:.1f} Wh vs reference {ref.nominal_wh:.1f} Wh", 2,
                                _share(1, t_b - t_a, inp)))
    params = {"energy_tolerance_pct": mpe}
    return _record(name, ms, params)


# ---- composite_schedule_matches ---------------------------------------------------------

def _failed(name: str, unit: str, note: str) -> Measurement:
    """A GetCompositeSchedule answer without something to measure: the DUT's fault."""
    return failed(name, unit, note, RULE_COMPOSITE)


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
    # the charger's "now" may differ from the request by its scheduleStart error (e.g. a clock in
    # whole seconds): before that much (plus the startPeriod tolerance) it may still show what held
    # just before the request, so the start of the window is not judged either
    judged = offsets > min(abs(shift), start_tol) + period_tol if shift < 0 else np.ones(offsets.shape, dtype=bool)
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
    for m in ms:
        m.rule = m.rule or RULE_COMPOSITE
        m.samples = 1
    return _record(name, ms, params)


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
                t_mono_s=p.t_mono_s, note=f"must {p.required}: {p.detail}", rule=RULE_SECURITY, samples=1)
          for p in applicable]
    return _record(name, ms, params)


# ---- energy_stops_within -------------------------------------------------------------------

IEC61851_DISCONNECT_S = 0.1  # state C -> B, E or F: the EVSE opens the contactor within 100 ms


def _state_entries(states: np.ndarray, t: np.ndarray, targets: set[str]) -> list[tuple[int, int]]:
    """(first, last) sample indices of each stretch the CP line spends in `targets` after charging (C/D).
    Changed on purpose with the check: rows without a state (a stalled read) are skipped."""
    rows = [i for i in range(len(states)) if states[i] != ""]
    out, i = [], 1
    while i < len(rows):
        if states[rows[i]] in targets and states[rows[i - 1]] in ("C", "D"):
            j = i
            while j + 1 < len(rows) and states[rows[j + 1]] in targets:
                j += 1
            out.append((rows[i], rows[j]))
            i = j + 1
        else:
            i += 1
    return out


def energy_stops_within(inp: CheckInputs) -> CheckRecord:
    """Each time the CP line goes from charging (C/D) to one of `states` (default E, F: an EV-side
    fault), the current on every phase falls to zero within `within_s` (IEC 61851-1: 100 ms) plus
    the bench's own uncertainty, and stays there while the state lasts. That uncertainty is two
    sampling periods: the trace sees no finer than one, and the CP state and the meter current of
    one sample row come from two instruments read at slightly different moments (up to another)."""
    name = "energy_stops_within"
    targets = set(inp.params.get("states", ["E", "F"]))
    within = inp.params.get("within_s", IEC61851_DISCONNECT_S)
    zero_a = inp.params.get("threshold_a", inp.tolerances.current_abs_a)
    if not inp.has("meter_current_l1_a") or "ev_cp_state" not in inp.trace or not len(inp.trace["ev_cp_state"]):
        return _skipped(name, "needs the power meter's current and the EV emulator's CP state")
    t = inp.trace["t_mono_s"]
    period = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    margin = inp.params.get("margin_s", 2 * period)
    params = {"states": sorted(targets), "within_s": within, "margin_s": margin, "threshold_a": zero_a}
    entries = _state_entries(inp.trace["ev_cp_state"], t, targets)
    if not entries:
        return _error(name, f"the CP line never went from C/D to {'/'.join(sorted(targets))} in this scenario", params)
    current = np.nanmax(np.vstack([inp.trace[f"meter_current_l{p}_a"] for p in inp.phases]), axis=0)
    ms: list[Measurement] = []
    for n, (a, b) in enumerate(entries, 1):
        state = inp.trace["ev_cp_state"][a]
        zero = np.nonzero(current[a:b + 1] <= zero_a)[0]
        if not zero.size and t[b] - t[a] <= within + margin:  # changed on purpose with the check
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
                        rule=RULE_DISCONNECT, samples=int(b - a + 1), coverage=_share(b - a + 1, period, inp),
                        uncertainty=margin))
        after = current[k:b + 1]
        ms.append(judge(f"stop{n}_current_after_a", float(np.nanmax(after)), "A", None, zero_a, t_mono_s=float(t[k]),
                        note=f"largest phase current while in state {state} once stopped", rule=RULE_DISCONNECT,
                        samples=int(after.size)))
    return _record(name, ms, params)


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
        return _skipped(name, "no reference power meter on this position")
    if not inp.transactions:
        return _error(name, "no transaction in this scenario")
    tol = inp.tolerances
    mpe = inp.params.get("energy_tolerance_pct", inp.position.dut.meter_mpe_pct)
    resolution = max(inp.position.dut.meter_resolution_wh, reference_energy_step_wh(inp.trace))
    min_wh = inp.params.get("min_register_steps", 100) * resolution
    res = timestamp_resolution_s(inp)
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
        ref = reference_energy(inp, t_a, t_b, res, not_after=tx.t_stop_mono_s)
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
        ms.append(_judge_energy(f"{label}_energy_error_pct", d_dut, ref, mpe, inp, t_b,
                                f"register {d_dut:.1f} Wh vs reference {ref.nominal_wh:.1f} Wh over {t_b - t_a:.0f} s "
                                f"({len(rows)} values)", len(rows), _share(1, t_b - t_a, inp)))
    params = {"energy_tolerance_pct": mpe, "min_register_steps": inp.params.get("min_register_steps", 100),
              "timestamp_resolution_s": res, "clock_tolerance_s": tol.clock_tolerance_s}
    return _record(name, ms, params)


# ---- memory_flat -----------------------------------------------------------------

RULE_MEMORY = "bench policy: tolerances.memory_growth_kib_per_h (a soak's memory stays flat)"


def memory_flat(inp: CheckInputs) -> CheckRecord:
    """The charger's (virtual lab) and the bench's memory, marked at each session boundary, grow
    no faster than the policy allows: the slope of a least-squares line through the marks after
    the first (tracing starts there: the first interval is warm-up). The evidence log the bench
    keeps on purpose is reported, not judged; a real charger's memory is not observable."""
    name = "memory_flat"
    marks = inp.memory_marks[1:]
    if len(marks) < 2 or marks[-1].t_mono_s - marks[0].t_mono_s <= 0:
        return _error(name, f"{len(inp.memory_marks)} memory marks: a soak needs at least 3 "
                            "(memory_mark steps; the first interval is warm-up)")
    limit = float(inp.params.get("growth_kib_per_h", inp.tolerances.memory_growth_kib_per_h))
    t_h = np.array([m.t_mono_s for m in marks]) / 3600.0
    span_h = float(t_h[-1] - t_h[0])
    share = min(1.0, span_h * 3600.0 / inp.duration_s)

    def growth(label: str, kib: np.ndarray, low: float | None, high: float | None, note: str,
               verdict: Verdict | None = None) -> Measurement:
        slope = float(np.polyfit(t_h, kib, 1)[0])
        text = f"{note}: {kib[0]:.0f} -> {kib[-1]:.0f} KiB over {span_h:.2f} h ({len(marks)} marks)"
        if verdict is not None:
            return Measurement(label, round(slope, 1), "KiB/h", low, high, verdict, note=text,
                               samples=len(marks), coverage=share)
        return judge(label, round(slope, 1), "KiB/h", low, high, note=text, rule=RULE_MEMORY,
                     samples=len(marks), coverage=share)

    ms = [growth("bench_growth_kib_per_h", np.array([m.bench_bytes for m in marks]) / 1024, None, limit,
                 "the bench outside its evidence")]
    if all(m.dut_bytes is not None for m in marks):
        ms.append(growth("charger_growth_kib_per_h", np.array([m.dut_bytes or 0 for m in marks]) / 1024, None,
                         limit, "the simulated charger"))
    else:
        ms.append(Measurement("charger_growth_kib_per_h", None, "KiB/h", None, limit, Verdict.SKIPPED,
                              note="not measured: a real charger's memory is not visible over OCPP"))
    ms.append(growth("evidence_log_growth_kib_per_h", np.array([m.evidence_bytes for m in marks]) / 1024, None,
                     None, "reported, not judged: the DUT's messages and the scenario's samples the bench keeps",
                     verdict=Verdict.SKIPPED))
    return _record(name, ms, {"growth_kib_per_h": limit})


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
    "memory_flat": CheckDef(memory_flat, frozenset({"growth_kib_per_h"}), physical=False),
}


def run_check(name: str, inp: CheckInputs) -> CheckRecord:
    try:
        return CHECKS[name].run(inp)
    except Exception as exc:  # a bug or bad data in the bench is an ERROR, never a PASS
        return _error(name, f"check crashed: {type(exc).__name__}: {exc}")
