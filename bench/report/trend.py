"""Trends across runs (nights): verdict per scenario per run, key figures over time, flags.

Every run folder under a results directory is read from its record.json (and its
trace where a key figure was never stored). Runs are ordered by their UTC start.
A run is flagged against the runs before it:

  new_failure  the scenario FAILs or ERRORs and did not in the previous run that had it
  drift        a key figure moved beyond its band from the baseline, the median of the
               last `baseline_runs` PASSing runs of that scenario (direction: worse/better)
  missing      the scenario ran in the previous run of the same suite but not in this one

Flags that say "worse" (new_failure, missing, drift worse) are regressions; the exit
code of `bench trend` follows the regressions of the newest run.
"""
from __future__ import annotations

import logging
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.record import RunRecord, Verdict, load_record
from bench.report.figures import FIGURES, badness, figures_of
from bench.report.junit import failure_message, error_message

log = logging.getLogger(__name__)
RECORD_FILE = "record.json"
DEFAULT_BASELINE_RUNS = 5
BAD = (Verdict.FAIL, Verdict.ERROR)


@dataclass
class ScenarioPoint:
    """One scenario in one run."""

    key: str  # scenario name, or "position/name" when the runs have several positions
    name: str
    position: str
    verdict: Verdict
    figures: dict[str, float | None]
    message: str = ""  # why it failed, one line


@dataclass
class RunPoint:
    """One run (a night) as the trend sees it."""

    run_dir: Path
    run_id: str
    utc_start: str
    suite: str
    verdict: Verdict
    complete: bool
    fault: str | None
    firmware: str
    scenarios: dict[str, ScenarioPoint] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """'2025-01-03 02:00' (+ the injected fault, if any) for tables and axes."""
        text = self.utc_start[:16].replace("T", " ") if self.utc_start else self.run_id
        return f"{text} [{self.fault}]" if self.fault else text


@dataclass
class Flag:
    run_id: str
    scenario: str
    kind: str  # new_failure | drift | missing
    message: str
    figure: str | None = None
    value: float | None = None
    baseline: float | None = None
    band: float | None = None
    direction: str = ""  # drift: worse | better

    @property
    def regression(self) -> bool:
        return self.kind in ("new_failure", "missing") or self.direction == "worse"


@dataclass
class Trend:
    runs: list[RunPoint]
    scenarios: list[str]  # keys in first-seen order
    flags: list[Flag]
    bands: dict[str, float]
    baseline_runs: int
    unreadable: list[str] = field(default_factory=list)  # folders with a record.json that failed to load

    @property
    def latest(self) -> RunPoint | None:
        return self.runs[-1] if self.runs else None

    def flags_of(self, run_id: str) -> list[Flag]:
        return [f for f in self.flags if f.run_id == run_id]

    def latest_regressions(self) -> list[Flag]:
        return [f for f in self.flags_of(self.latest.run_id) if f.regression] if self.latest else []

    def figure_series(self, key: str, figure: str) -> list[tuple[int, float]]:
        """(run index, value) wherever the scenario ran and the figure exists."""
        out = []
        for i, run in enumerate(self.runs):
            sp = run.scenarios.get(key)
            value = sp.figures.get(figure) if sp is not None else None
            if value is not None:
                out.append((i, float(value)))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "bands": self.bands, "baseline_runs": self.baseline_runs, "scenarios": self.scenarios,
            "runs": [{"run_id": r.run_id, "run_dir": str(r.run_dir), "utc_start": r.utc_start, "suite": r.suite,
                      "verdict": r.verdict.value, "complete": r.complete, "fault": r.fault, "firmware": r.firmware,
                      "scenarios": {k: {"verdict": s.verdict.value, "figures": s.figures, "message": s.message}
                                    for k, s in r.scenarios.items()}} for r in self.runs],
            "flags": [{**asdict(f), "regression": f.regression} for f in self.flags],
            "latest_regressions": len(self.latest_regressions()),
            "unreadable": self.unreadable,
        }


def find_runs(results_dir: Path) -> list[Path]:
    """Every folder under results_dir holding a record.json (the results dir itself included)."""
    return sorted({p.parent for p in Path(results_dir).rglob(RECORD_FILE)})


def run_point(run_dir: Path, record: RunRecord, multi_position: bool = False) -> RunPoint:
    """One run as the trend sees it: verdicts, key figures (stored, or derived from the traces)."""
    run = RunPoint(run_dir, record.run_id, record.utc_start, record.suite, Verdict(record.verdict),
                   record.complete, record.fault, str((record.dut or {}).get("firmware") or ""))
    for s in record.scenarios:
        key = f"{s.position}/{s.name}" if multi_position else s.name
        verdict = Verdict(s.verdict)
        message = ""
        if verdict == Verdict.ERROR:
            message = (error_message(s).splitlines() or [""])[0]
        elif verdict == Verdict.FAIL:
            failed = [c for c in s.checks if c.verdict == Verdict.FAIL]
            message = failure_message(failed[0]) if failed else (s.error or "failed")
        run.scenarios[key] = ScenarioPoint(key, s.name, s.position, verdict, figures_of(run_dir, record, s), message)
    return run


def trend_of(results_dir: Path, bands: dict[str, float] | None = None,
             baseline_runs: int = DEFAULT_BASELINE_RUNS) -> Trend:
    """Read every run under results_dir and build the trend (see the module notes)."""
    records, unreadable = [], []
    for d in find_runs(results_dir):
        try:
            records.append((d, load_record(d)))
        except Exception as exc:  # one broken folder must not hide the others
            log.warning("cannot read run %s: %s", d, exc)
            unreadable.append(f"{d}: {type(exc).__name__}: {exc}")
    # scenario keys carry the position only when the runs have several positions
    multi = len({s.position for _, r in records for s in r.scenarios}) > 1
    runs = []
    for d, record in records:
        try:
            runs.append(run_point(d, record, multi))
        except Exception as exc:
            log.warning("cannot trend run %s: %s", d, exc)
            unreadable.append(f"{d}: {type(exc).__name__}: {exc}")
    trend = build_trend(runs, bands, baseline_runs)
    trend.unreadable = unreadable
    return trend


def build_trend(runs: list[RunPoint], bands: dict[str, float] | None = None,
                baseline_runs: int = DEFAULT_BASELINE_RUNS) -> Trend:
    bands = {**{n: f.band for n, f in FIGURES.items()}, **(bands or {})}
    runs = sorted(runs, key=lambda r: (r.utc_start, r.run_id))
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.scenarios if k not in keys]
    flags: list[Flag] = []
    for i, run in enumerate(runs):
        flags += _flags_for(run, runs[:i], bands, baseline_runs)
    return Trend(runs, keys, flags, bands, baseline_runs)


def _flags_for(run: RunPoint, history: list[RunPoint], bands: dict[str, float], baseline_runs: int) -> list[Flag]:
    flags = []
    for key, sp in run.scenarios.items():
        before = [r.scenarios[key] for r in history if key in r.scenarios]
        if sp.verdict in BAD and (not before or before[-1].verdict not in BAD):
            was = f"was {before[-1].verdict.value} before" if before else "first run of this scenario"
            flags.append(Flag(run.run_id, key, "new_failure",
                              f"{key}: {sp.verdict.value} ({was})" + (f": {sp.message}" if sp.message else "")))
        passing = [p for p in before if p.verdict == Verdict.PASS][-baseline_runs:]
        for name in FIGURES:
            value = sp.figures.get(name)
            past = [badness(name, v) for p in passing if (v := p.figures.get(name)) is not None]
            if value is None or not past:
                continue
            base = statistics.median(past)
            delta = badness(name, value) - base
            if abs(delta) > bands[name]:
                direction = "worse" if delta > 0 else "better"
                unit = FIGURES[name].unit
                flags.append(Flag(run.run_id, key, "drift",
                                  f"{key}: {FIGURES[name].label} {value:.4g} {unit} vs baseline {base:.4g} {unit} "
                                  f"({direction} by {abs(delta):.3g} {unit}, band {bands[name]:g} {unit})",
                                  name, value, base, bands[name], direction))
    same_suite = [r for r in history if r.suite == run.suite]
    if same_suite:
        for key in same_suite[-1].scenarios:
            if key not in run.scenarios:
                flags.append(Flag(run.run_id, key, "missing",
                                  f"{key}: ran in {same_suite[-1].run_id}, not in this run"))
    return flags
