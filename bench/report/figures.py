"""Key figures per scenario: the few numbers a nightly trend follows across runs.

Derived from the run folder alone (record.json + the position's trace), so any
run, old or new, can be trended. The verdicts stay with the checks; these
figures only show how close to its limits a charger runs, night after night.

  overshoot_a       worst current above the expected limit outside the settle windows,
                    any phase (from current_follows_limit); 0 = never above the limit
  settle_time_s     longest time from a change of the expected limit until every phase's
                    current is within tolerance (at most limit + tolerance, and within
                    tolerance of the value it settles to) and stays there for STEADY_S;
                    a phase that never settles before the next change counts the whole
                    interval. A later short spike is an overshoot, not a slow settle.
  energy_error_pct  worst meter energy error vs the reference meter (MeterValues register
                    per load point, meterStop - meterStart), signed
  duty_error_pct    worst PWM duty error vs the Annex A duty of the limit, signed
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.trace import PHASES
from bench.record import RunRecord, ScenarioRecord
from bench.report.tracefile import load_trace


@dataclass(frozen=True)
class FigureDef:
    unit: str
    label: str
    worse: str  # "up": larger is worse; "abs": further from zero is worse
    band: float  # default drift band for `bench trend`/`bench compare`, in `unit`


FIGURES: dict[str, FigureDef] = {
    "overshoot_a": FigureDef("A", "worst overshoot above the limit", "up", 0.5),
    "settle_time_s": FigureDef("s", "settle time after a limit change", "up", 1.0),
    "energy_error_pct": FigureDef("%", "meter energy error vs reference", "abs", 0.5),
    "duty_error_pct": FigureDef("%", "PWM duty error", "abs", 0.5),
}
CURRENT_CHECK = "current_follows_limit"
PWM_CHECK = "pwm_matches_limit"
# tolerance when the scenario did not run current_follows_limit (same defaults as lab_config.yaml)
DEFAULT_TOL_ABS_A, DEFAULT_TOL_REL_PCT = 0.5, 2.0
FINAL_SHARE = 0.2  # the last 20 % of an interval between changes give the value it settled to
MIN_FINAL_SAMPLES = 3
STEADY_S = 2.0  # within tolerance this long (or to the end of the interval) = settled


def badness(name: str, value: float) -> float:
    """A figure on a 'larger is worse' scale (|x| for signed errors)."""
    return abs(value) if FIGURES[name].worse == "abs" else value


def compute_figures(run_dir: Path, record: RunRecord, scenario: ScenarioRecord,
                    trace: dict[str, np.ndarray] | None = None) -> dict[str, float | None]:
    """Every figure of FIGURES for one scenario; None where there is nothing to derive it from."""
    if trace is None:
        trace = _scenario_trace(Path(run_dir), record, scenario)
    return {
        "overshoot_a": overshoot_a(scenario),
        "settle_time_s": settle_time_s(scenario, trace),
        "energy_error_pct": _worst_signed(scenario, lambda c, m: "energy_error" in m.name),
        "duty_error_pct": _worst_signed(scenario, lambda c, m: c.name == PWM_CHECK and m.name.startswith("duty_error")),
    }


def figures_of(run_dir: Path, record: RunRecord, scenario: ScenarioRecord) -> dict[str, float | None]:
    """The figures stored in record.json when the reports were rendered, else derived now
    (a run recorded with --no-report, or before the figures existed)."""
    stored = scenario.figures or {}
    if all(name in stored for name in FIGURES):
        return {name: stored[name] for name in FIGURES}
    return compute_figures(run_dir, record, scenario)


def overshoot_a(scenario: ScenarioRecord) -> float | None:
    values = [m.value for c in scenario.checks if c.name == CURRENT_CHECK for m in c.measurements
              if m.name.startswith("excess_over_limit") and m.value is not None]
    return round(max(0.0, max(values)), 3) if values else None


def _worst_signed(scenario: ScenarioRecord, wanted) -> float | None:
    values = [m.value for c in scenario.checks for m in c.measurements if wanted(c, m) and m.value is not None]
    worst: float | None = max(values, key=abs) if values else None
    return round(worst, 4) if worst is not None else None


def _scenario_trace(run_dir: Path, record: RunRecord, scenario: ScenarioRecord) -> dict[str, np.ndarray] | None:
    rel = record.traces.get(scenario.position)
    if not rel or not (run_dir / rel).is_file():
        return None
    full = load_trace(run_dir / rel)
    t = full["t_mono_s"]
    t_end = scenario.t_end_mono_s if scenario.t_end_mono_s > scenario.t_start_mono_s else math.inf
    lo, hi = np.searchsorted(t, scenario.t_start_mono_s, "left"), np.searchsorted(t, t_end, "right")
    return {k: v[lo:hi] for k, v in full.items()}


def _tolerance(scenario: ScenarioRecord) -> tuple[float, float]:
    for c in scenario.checks:
        if c.name == CURRENT_CHECK and "tolerance_abs_a" in c.params:
            return float(c.params["tolerance_abs_a"]), float(c.params.get("tolerance_rel_pct", 0.0)) / 100.0
    return DEFAULT_TOL_ABS_A, DEFAULT_TOL_REL_PCT / 100.0


def limit_changes(scenario: ScenarioRecord) -> list[tuple[float, float, float]]:
    """(t_change, new limit, t_next_change_or_end) for each change of the expected limit."""
    pts = sorted((float(t), float(v)) for t, v in scenario.expected_limit)
    end = scenario.t_end_mono_s if scenario.t_end_mono_s > scenario.t_start_mono_s else math.inf
    out = []
    for i in range(1, len(pts)):
        (_, before), (t, v) = pts[i - 1], pts[i]
        if v == before or t >= end:
            continue
        t_next = next((tn for tn, vn in pts[i + 1:] if vn != v), end)
        out.append((t, v, min(t_next, end)))
    return out


def settle_time_s(scenario: ScenarioRecord, trace: dict[str, np.ndarray] | None) -> float | None:
    """Longest settle time over the limit changes of the scenario (see module notes)."""
    if trace is None or not len(trace.get("t_mono_s", ())):
        return None
    phases = [trace[f"meter_current_l{p}_a"] for p in PHASES
              if f"meter_current_l{p}_a" in trace and np.isfinite(trace[f"meter_current_l{p}_a"]).any()]
    if not phases:
        return None
    abs_a, rel = _tolerance(scenario)
    t = trace["t_mono_s"]
    worst = None
    for t_change, limit, t_next in limit_changes(scenario):
        lo, hi = np.searchsorted(t, t_change, "left"), np.searchsorted(t, t_next, "left")
        if hi - lo < MIN_FINAL_SAMPLES:
            continue
        end = t_next if math.isfinite(t_next) else float(t[hi - 1])
        tol = abs_a + rel * limit
        for cur in phases:
            s = _settle_one(t[lo:hi], cur[lo:hi], limit, tol, t_change, end)
            if s is not None:
                worst = s if worst is None else max(worst, s)
    return None if worst is None else round(worst, 3)


def _settle_one(t: np.ndarray, cur: np.ndarray, limit: float, tol: float, t_change: float,
                t_end: float) -> float | None:
    good = np.isfinite(cur)
    if good.sum() < MIN_FINAL_SAMPLES:
        return None
    t, cur = t[good], cur[good]
    tail = cur[int(len(cur) * (1 - FINAL_SHARE)):]
    final = float(np.median(tail if len(tail) >= MIN_FINAL_SAMPLES else cur[-MIN_FINAL_SAMPLES:]))
    ok = (cur <= limit + tol) & (np.abs(cur - final) <= tol)
    # runs of consecutive in-tolerance samples: [start, end)
    edges = np.diff(np.concatenate([[0], ok.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    for a, b in zip(starts, ends):
        if b == len(cur) or t[b - 1] - t[a] >= STEADY_S:
            return max(float(t[a] - t_change), 0.0)
    return t_end - t_change  # never settled in this interval
