"""The words of report.pdf: what a reader sees of a scenario in one line, the "Why" of a
FAIL, how a scenario is laid out, the tolerances and the composite schedules.

Everything here reads the record alone, so the PDF can be rebuilt from a run folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from bench.clock import parse_iso
from bench.record import CheckRecord, Measurement, RunRecord, ScenarioRecord, StepRecord, Verdict, skip_label
from bench.report.junit import fmt_fixed, fmt_value, worst_measurement
from bench.checks.library import CHECKS

COMPOSITE_CHECK = "composite_schedule_matches"
NOT_SUPPORTED = "NOT SUPPORTED"
# the counts on the cover, in this order: a SKIPPED scenario whose DUT lacks the feature is NOT SUPPORTED
COUNT_LABELS = ("PASS", "FAIL", "ERROR", NOT_SUPPORTED, "SKIPPED")


class Layout(str, Enum):
    """How much paper a scenario gets in the default report."""

    EVIDENCE = "evidence"  # FAIL / ERROR: every plot, measurement, step and the OCPP frames around the failure
    COMPACT = "compact"  # PASS with physical measurements: one page
    ROW = "row"  # PASS judged on the protocol alone: its row in the summary
    SKIPPED = "skipped"  # did not run: its row in the summary, with the reason


def label(s: ScenarioRecord) -> str:
    """The verdict as counted on the cover: NOT SUPPORTED for a SKIPPED the DUT lacks the feature of."""
    v = Verdict(s.verdict)
    return NOT_SUPPORTED if v == Verdict.SKIPPED and s.skip_kind == "not_supported" else v.value


def counts(record: RunRecord) -> dict[str, int]:
    out = dict.fromkeys(COUNT_LABELS, 0)
    for s in record.scenarios:
        out[label(s)] += 1
    return out


def is_physical(check: CheckRecord) -> bool:
    """A check judging measured quantities (current, PWM, energy), per the bench's check table."""
    known = CHECKS.get(check.name)
    return known is not None and known.physical


def layout(s: ScenarioRecord) -> Layout:
    v = Verdict(s.verdict)
    if v in (Verdict.FAIL, Verdict.ERROR):
        return Layout.EVIDENCE
    if v == Verdict.SKIPPED:
        return Layout.SKIPPED
    measured = any(is_physical(c) and c.verdict == Verdict.PASS and c.measurements for c in s.checks)
    return Layout.COMPACT if measured else Layout.ROW


def never_ran(s: ScenarioRecord) -> bool:
    return not s.steps and s.t_end_mono_s <= s.t_start_mono_s


def duration_text(s: ScenarioRecord) -> str:
    """Seconds, "not run" for a scenario that never started a step, "cut short" if it never ended."""
    if s.t_end_mono_s > s.t_start_mono_s:
        return fmt_fixed(s.t_end_mono_s - s.t_start_mono_s, 1)
    return "not run" if never_ran(s) else "cut short"


def skip_reason(s: ScenarioRecord) -> str:
    reasons = [s.skipped] if s.skipped else []
    reasons += [f"{c.name}: {c.message}" for c in s.checks if c.verdict == Verdict.SKIPPED and c.message]
    return "; ".join(reasons) or "not applicable"


def skip_text(s: ScenarioRecord) -> str:
    return f"{skip_label(s.skip_kind)}: {skip_reason(s)}"


# ---------------------------------------------------------------- times

def utc_at(s: ScenarioRecord, t_mono_s: float) -> datetime | None:
    """The UTC clock at a time of the scenario (from its recorded start), None if not recorded."""
    try:
        start = parse_iso(s.utc_start) if s.utc_start else None
    except ValueError:
        return None
    return None if start is None else start + timedelta(seconds=t_mono_s - s.t_start_mono_s)


def clock_text(dt: datetime | None) -> str:
    """'10:13:45.2' (UTC clock to a tenth of a second), '—' when unknown."""
    if dt is None:
        return "—"
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 100_000}"


def when_text(s: ScenarioRecord, t_mono_s: float | None) -> str:
    if t_mono_s is None:
        return "time not recorded"
    dt = utc_at(s, t_mono_s)
    utc = f" ({dt:%Y-%m-%d} {clock_text(dt)} UTC)" if dt is not None else ""
    return f"at {fmt_fixed(t_mono_s - s.t_start_mono_s, 1)} s after the scenario start{utc}"


# ---------------------------------------------------------------- the "Why"

def _how_much(m: Measurement) -> str:
    v, u = m.value, f" {m.unit}" if m.unit else ""
    if v is None:
        return f"{m.name}: {m.note or 'no value to judge'}"
    if m.high is not None and v > m.high:
        return (f"{m.name} was {fmt_value(v)}{u}, {fmt_value(v - m.high)}{u} above its upper limit "
                f"of {fmt_value(m.high)}{u}")
    if m.low is not None and v < m.low:
        return (f"{m.name} was {fmt_value(v)}{u}, {fmt_value(m.low - v)}{u} below its lower limit "
                f"of {fmt_value(m.low)}{u}")
    return f"{m.name} = {fmt_value(v)}{u}"


def failed_step(s: ScenarioRecord) -> StepRecord | None:
    return next((st for st in s.steps if not st.ok), None)


def _when_failed(s: ScenarioRecord, m: Measurement | None) -> str:
    """When the measurement was taken; for a verdict on the steps (no time of its own), the step
    that failed, numbered as in the steps table."""
    if m is not None and m.t_mono_s is not None:
        return when_text(s, m.t_mono_s)
    st = failed_step(s)
    if st is None:
        return "time not recorded"
    end = f" to {fmt_fixed(st.t_end_mono_s - s.t_start_mono_s, 1)} s" if st.t_end_mono_s is not None else ""
    dt = utc_at(s, st.t_start_mono_s)
    utc = f" (from {dt:%Y-%m-%d} {clock_text(dt)} UTC)" if dt is not None else ""
    return (f"during step {st.index + 1} {st.name}, {fmt_fixed(st.t_start_mono_s - s.t_start_mono_s, 1)} s{end} "
            f"after the scenario start{utc}")


def why_sentence(s: ScenarioRecord, check: CheckRecord) -> str:
    """One sentence: what failed, by how much, against which limit and rule, and when."""
    bad = worst_measurement([m for m in check.measurements if m.verdict != Verdict.PASS])
    if bad is None:
        return f"{check.name}: {check.message or Verdict(check.verdict).value}; {_when_failed(s, None)}."
    if bad.unit == "count" and check.message:
        what = check.message  # e.g. "step 4 expect_status: ..." names the step itself
    else:
        what = _how_much(bad)
        if bad.note and bad.value is not None:
            what += f" ({bad.note})"
    rule = f"; rule: {bad.rule}" if bad.rule else ""
    return f"{check.name}: {what}{rule}; {_when_failed(s, bad)}."


def why_sentences(s: ScenarioRecord) -> list[str]:
    out = [f"Scenario error: {s.error}"] if s.error else []
    out += [why_sentence(s, c) for c in s.checks if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
    return out or [f"scenario ended in {Verdict(s.verdict).value} without a failing check"]


# ---------------------------------------------------------------- one line per scenario

def _worst_physical(s: ScenarioRecord) -> tuple[CheckRecord, Measurement] | None:
    """The physical measurement closest to its limit; a zero that must be zero (nothing stamped
    outside the transaction, no register decrease) sits on its limit but says nothing of the margin."""
    pairs = [(c, m) for c in s.checks if is_physical(c) for m in c.measurements if m.value is not None]
    telling = [(c, m) for c, m in pairs if not (m.value == 0 and 0 in (m.low, m.high))]
    pairs = telling or pairs
    worst = worst_measurement([m for _, m in pairs])
    return next(((c, m) for c, m in pairs if m is worst), None)


def limits_text(m: Measurement) -> str:
    u = f" {m.unit}" if m.unit and m.unit != "count" else ""
    if m.low is not None and m.high is not None:
        return f"{fmt_value(m.low)} … {fmt_value(m.high)}{u}" if m.low != m.high else f"= {fmt_value(m.low)}{u}"
    if m.high is not None:
        return f"≤ {fmt_value(m.high)}{u}"
    if m.low is not None:
        return f"≥ {fmt_value(m.low)}{u}"
    return "—"


def _protocol_text(s: ScenarioRecord) -> str:
    parts = []
    for c in s.checks:
        if is_physical(c):
            continue
        notes = [m.note for m in c.measurements if m.note]
        if notes:
            parts.append(notes[0])
        elif c.verdict == Verdict.SKIPPED:
            parts.append(f"{c.name} SKIPPED: {c.message}" if c.message else f"{c.name} SKIPPED")
        elif c.measurements:
            m = c.measurements[0]
            parts.append(f"{fmt_value(m.value)} {m.name.replace('_', ' ')}")
    return "; ".join(parts) or "no checks ran"


def result_text(s: ScenarioRecord) -> str:
    """What the summary row says: the failure, the closest physical margin, the protocol evidence,
    or the reason it did not run."""
    kind = layout(s)
    if kind == Layout.SKIPPED:
        return skip_text(s)
    if kind == Layout.EVIDENCE:
        failing = [c for c in s.checks if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
        if s.error and not failing:
            return f"scenario error: {s.error}"
        return "; ".join(_short_failure(c) for c in failing) or f"scenario error: {s.error}"
    worst = _worst_physical(s)
    if kind == Layout.COMPACT and worst is not None:
        c, m = worst
        return f"closest to a limit: {m.name} = {fmt_value(m.value)} {m.unit} (limit {limits_text(m)}; {c.name})"
    text = _protocol_text(s)
    return text + (f"; not measured: {', '.join(s.not_measured)}" if s.not_measured else "")


def _short_failure(c: CheckRecord) -> str:
    bad = worst_measurement([m for m in c.measurements if m.verdict != Verdict.PASS])
    if bad is None or (bad.unit == "count" and c.message):
        return f"{c.name}: {c.message or Verdict(c.verdict).value}"
    if bad.value is None:
        return f"{c.name}: {bad.name}: {bad.note or 'no value'}"
    return f"{c.name}: {bad.name} = {fmt_value(bad.value)} {bad.unit} (limit {limits_text(bad)})"


# ---------------------------------------------------------------- tolerances

@dataclass(frozen=True)
class Tolerance:
    name: str
    value: Any
    set_in: str  # where the value came from: the config file, the default, a check's parameters
    basis: str  # the rule or the bench policy behind it


def tolerances(record: RunRecord) -> list[Tolerance]:
    """As recorded from the config; for a record written before that, the ones the checks applied."""
    if record.tolerances:
        return [Tolerance(name, t.get("value"), t.get("set_in", ""), t.get("basis", ""))
                for name, t in record.tolerances.items()]
    seen: dict[str, Tolerance] = {}
    for s in record.scenarios:
        for c in s.checks:
            for key, value in c.params.items():
                if "tolerance" in key and isinstance(value, (int, float)) and f"{c.name}.{key}" not in seen:
                    seen[f"{c.name}.{key}"] = Tolerance(f"{c.name}.{key}", value, "check parameters", "")
    return list(seen.values())


# ---------------------------------------------------------------- composite schedules

@dataclass(frozen=True)
class CompositeRow:
    asked: str
    expected: str
    reported: str
    verdict: Verdict


def _periods(schedule: Any) -> list[dict[str, Any]] | None:
    """The chargingSchedulePeriod list wherever the answer nests it (1.6 chargingSchedule, 2.x schedule)."""
    if isinstance(schedule, dict):
        if isinstance(schedule.get("chargingSchedulePeriod"), list):
            return schedule["chargingSchedulePeriod"]
        for value in schedule.values():
            found = _periods(value)
            if found is not None:
                return found
    if isinstance(schedule, list):
        for value in schedule:
            found = _periods(value)
            if found is not None:
                return found
    return None


def periods_text(schedule: Any, unit: str) -> str:
    periods = _periods(schedule)
    if periods is None:
        return "no schedule"
    return "; ".join(f"from {fmt_value(p.get('startPeriod'))} s: {fmt_value(p.get('limit'))} {unit}"
                     for p in periods) or "no periods"


def composite_rows(check: CheckRecord) -> list[CompositeRow]:
    """Each GetCompositeSchedule the check judged: the bench's composite and what the DUT reported."""
    rows = []
    for i, rep in enumerate(check.params.get("reports") or [], 1):
        unit = str(rep.get("unit", ""))
        answer = rep.get("answer") or {}
        reported = rep.get("error") or (periods_text(answer, unit) if answer.get("status", "Accepted") == "Accepted"
                                        else f"status {answer.get('status')}")
        mine = [m for m in check.measurements if m.name.startswith(f"composite{i}_")]
        verdict = Verdict.FAIL if any(m.verdict == Verdict.FAIL for m in mine) else (
            Verdict.ERROR if any(m.verdict == Verdict.ERROR for m in mine) else Verdict.PASS)
        asked = f"connector {rep.get('connector')}, {fmt_value(rep.get('duration_s'))} s, in {unit}"
        rows.append(CompositeRow(asked, periods_text(rep.get("expected"), unit), str(reported), verdict))
    return rows
