"""The checks' shared machinery: recorded traces + OCPP data + expected timeline -> measurements -> verdicts.

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

A check takes time linear in the trace's rows plus its events (MeterValues, limit changes, CP
state changes), whatever the run's length: what it needs around each event is sliced out of the
time-sorted trace by binary search and computed for all events at once (bench/checks/arrays.py).

The checks themselves are declared by family (bench/checks/<family>.py, found by
bench/checks/library.py); this module holds what they share: their inputs, the rules they cite
and the helpers building their records.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import numpy as np

from bench.checks.arrays import in_windows
from bench.checks.declare import CheckParams
from bench.checks.timeline import Expected
from bench.config import PositionConfig, TolerancesConfig
from bench.memory import MemoryMark
from bench.record import CheckRecord, Measurement, Verdict, combine

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
# the default (no dut.meter_regime): the class's error limit at reference conditions, Itr <= I <= Imax
# (EN 50470-3, the harmonised standard for MID classes A/B/C): stricter than MID's MPE over its rated
# operating conditions (Annex V Table 2: A 3.5 %, B 2 %, C 0.7 %), which the mid_* regimes apply
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
RULE_OCPP_J = ("OCPP-J (1.6 sections 4.1-4.2, 2.0.1 part 4 section 4) and the version's JSON schemas: "
               "every frame of the DUT is a valid message")
RULE_STEPS = "each step's own rule (bench/scenario/rules.py): the DUT answers as a compliant charger must"
# not the DUT's rule but the bench's: too little compared is an ERROR, never a PASS on part of the evidence
RULE_EVIDENCE = "bench evidence: tolerances.min_coverage_pct of the judged time compared, else ERROR"


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
    # the check's parameters: the model validated when the scenario loaded (bench/checks/declare.py),
    # or a mapping written in code; a check reads them with its model's `of()`
    params: Mapping[str, Any] | CheckParams = field(default_factory=dict)
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


def skipped(name: str, why: str) -> CheckRecord:
    return CheckRecord(name, Verdict.SKIPPED, message=why)


def errored(name: str, why: str, params: dict | None = None) -> CheckRecord:
    return CheckRecord(name, Verdict.ERROR, message=why, params=params or {})


def _verdict_of(ms: list[Measurement]) -> Verdict:
    return combine([m.verdict for m in ms])


def check_record(name: str, ms: list[Measurement], params: dict[str, Any], min_coverage: float | None = None,
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


def sampling_period(t: np.ndarray) -> float:
    """The trace's sampling period: the finest time step the bench can see."""
    return float(np.median(np.diff(t))) if t.size > 1 else 0.0


def covered_share(n: int, period: float, inp: CheckInputs) -> float:
    return min(1.0, n * period / inp.duration_s)


def short_evidence(name: str, share: float, min_share: float, why: str) -> Measurement:
    """Too little compared: the bench's data, not the DUT's behaviour, is missing (ERROR)."""
    return Measurement(name, round(share, 4), "share", round(min_share, 4), None, Verdict.ERROR,
                       note=f"compared {share:.0%} of the scenario, needs {min_share:.0%}: {why}", coverage=share)


def settle_mask(t: np.ndarray, changes: list[float], settle_s: float) -> tuple[np.ndarray, list[list[float]]]:
    windows = [[c, c + settle_s] for c in changes]
    return in_windows(t, windows), windows


def _g(x: float) -> str:
    """A number as `:g` would print it, never "-0" (adding 0.0 turns -0.0 into 0.0)."""
    return f"{x + 0.0:g}"


def _first_failure_message(ms: list[Measurement]) -> str:
    for m in ms:
        if m.verdict != Verdict.PASS:
            lim = f"[{'' if m.low is None else _g(m.low)}, {'' if m.high is None else _g(m.high)}]"
            text = f"{m.name} = {round(m.value, 3) + 0.0} {m.unit} outside {lim}" if m.value is not None \
                else f"{m.name}: {m.note}"
            if m.value is not None and m.verdict == Verdict.ERROR:
                text = f"{m.name}: {m.note}"
            return f"{text} ({m.rule})" if m.rule and m.verdict == Verdict.FAIL else text
    return ""


