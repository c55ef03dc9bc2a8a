"""Scenario plots (PNG) regenerated from a run folder: record.json + trace CSVs.

Figures per scenario, each written only when there is something to draw:
  current  measured current per phase against the expected limit, tolerance band,
           settle windows and step markers; below it the voltage per phase
  pwm      PWM duty and the offered current it encodes against the expected limit
  error    error series published by checks (e.g. the meter check), with limits
Time is in seconds from the scenario start (bottom axis) and UTC clock time (top
axis). Long traces are decimated with min/max envelopes so that a short
overshoot is never lost in the picture.
"""
from __future__ import annotations

import io
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from PIL import Image as PILImage

from bench.trace import PHASES
from bench.clock import parse_iso
from bench.record import RunRecord, ScenarioRecord, Verdict
from bench.report.tracefile import load_trace
from instruments.iec61851 import current_to_duty_pct, duty_to_current_a

PLOTS_DIR = "plots"
SHORTEST_SAMPLED_S = 1.0  # a scenario at least this long has trace rows (10 Hz default, 1 Hz soaks)
MAX_POINTS = 4000  # per curve after decimation: far more than a page can resolve
FIG_SIZE_IN = (10.0, 5.2)
DPI = 120
FONT_SIZE = 10
PALETTE_COLOURS = 32  # the curves, bands and their anti-aliased edges
# IEC 60446 conductor colours, so L1/L2/L3 read like the wiring on the bench
PHASE_COLOURS = {1: "#8B4513", 2: "#202020", 3: "#8c8c8c"}
LIMIT_COLOUR = "#1f5fbf"
BAND_COLOUR = "#9ec5ff"
SETTLE_COLOUR = "#bbbbbb"
FAIL_COLOUR = "#d62728"
CURRENT_CHECK = "current_follows_limit"
PWM_CHECK = "pwm_matches_limit"
# round UTC clock steps for the top axis, in seconds: 1 s ... 12 h
CLOCK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
MAX_STEP_LABELS = 40  # more step names than this only clutter: markers alone
MAX_STEP_MARKERS = 400  # beyond this (soak runs) the steps table tells them


def minmax_decimate(t: np.ndarray, y: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (t, y) to at most `max_points` points keeping each bucket's min and max.

    Samples are split into max_points // 2 consecutive buckets; each bucket yields
    its minimum and maximum in time order, so peaks and dips survive. A bucket with
    only NaN yields one NaN point (a gap in the line, as in the original).
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    n = len(y)
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if n <= max_points:
        return t, y
    buckets = max_points // 2
    size = math.ceil(n / buckets)
    buckets = math.ceil(n / size)
    pad = buckets * size - n
    yp = np.concatenate([y, np.full(pad, np.nan)]).reshape(buckets, size)
    nan = np.isnan(yp)
    i_min = np.argmin(np.where(nan, np.inf, yp), axis=1)
    i_max = np.argmax(np.where(nan, -np.inf, yp), axis=1)
    first = np.minimum(i_min, i_max)
    second = np.maximum(i_min, i_max)
    base = np.arange(buckets) * size
    idx = np.stack([base + first, base + second], axis=1).ravel()
    idx = np.minimum(idx, n - 1)  # the padded tail never wins, but stay in range
    t_out, y_out = t[idx], y[idx]
    empty = np.repeat(nan.all(axis=1), 2)
    y_out = np.where(empty, np.nan, y_out)
    # one point per all-NaN bucket is enough to break the line
    keep = ~(empty & (np.arange(len(idx)) % 2 == 1))
    return t_out[keep], y_out[keep]


@dataclass
class ScenarioData:
    """What the figures of one scenario are drawn from (times relative to its start)."""

    t0: float
    duration_s: float
    utc0: datetime | None  # UTC at t0, for the clock axis; None = not recorded
    trace: dict[str, np.ndarray] | None  # trace columns within the scenario window; None = no trace
    limit_t: np.ndarray  # expected-limit step function, extended to the scenario end
    limit_a: np.ndarray


def render_scenario_plots(run_dir: Path, record: RunRecord, scenario: ScenarioRecord,
                          warnings: list[str] | None = None) -> list[str]:
    """Write the scenario's PNGs under `plots/`; return their paths relative to run_dir.

    Whatever is missing (trace file, instrument columns, limit) is skipped and, if
    `warnings` is given, named there.
    """
    run_dir = Path(run_dir)
    notes = warnings if warnings is not None else []
    stem = _stem(record, scenario)
    (run_dir / PLOTS_DIR).mkdir(exist_ok=True)
    kinds = (("current", _draw_current), ("pwm", _draw_pwm), ("error", _draw_error))
    for kind, _ in kinds:  # a re-render must not leave a stale figure behind
        (run_dir / f"{PLOTS_DIR}/{stem}_{kind}.png").unlink(missing_ok=True)
    if scenario.verdict == Verdict.SKIPPED:
        return []  # it did not run: any trace in its window belongs to other scenarios
    data = _scenario_data(run_dir, record, scenario, notes)
    written = []
    for kind, draw in kinds:
        rel = f"{PLOTS_DIR}/{stem}_{kind}.png"
        fig = draw(scenario, data)
        if fig is None:
            continue
        _save(fig, run_dir / rel)
        written.append(rel)
    if not written:
        notes.append(f"{scenario.name}: nothing to plot (no trace data, no expected limit, no series)")
    return written


# ---------------------------------------------------------------- data

def _scenario_data(run_dir: Path, record: RunRecord, scenario: ScenarioRecord,
                   notes: list[str]) -> ScenarioData:
    t0 = scenario.t_start_mono_s
    trace = None
    rel = record.traces.get(scenario.position)
    if not rel:
        notes.append(f"{scenario.name}: no trace recorded for position {scenario.position!r}")
    elif not (run_dir / rel).is_file():
        notes.append(f"{scenario.name}: trace file missing: {rel}")
    else:
        trace = _window(_load_trace(run_dir / rel), t0, scenario.t_end_mono_s)
        # a scenario of a few protocol messages may end between two samples: nothing is missing
        if len(trace["t_mono_s"]) == 0 and scenario.t_end_mono_s - t0 >= SHORTEST_SAMPLED_S:
            notes.append(f"{scenario.name}: trace {rel} has no samples in the scenario window")
    t_end = scenario.t_end_mono_s
    if t_end <= t0 and trace is not None and len(trace["t_mono_s"]):
        t_end = float(trace["t_mono_s"][-1])  # scenario cut short: its end was never written
    duration = max(t_end - t0, 0.0)
    limit_t, limit_a = _limit_steps(scenario.expected_limit, t0, duration)
    if trace is not None:
        trace = {**trace, "t_rel_s": trace["t_mono_s"] - t0}
    return ScenarioData(t0, duration, _utc(scenario.utc_start), trace, limit_t, limit_a)


def _utc(text: str) -> datetime | None:
    try:
        return parse_iso(text) if text else None
    except ValueError:
        return None


def _load_trace(path: Path) -> dict[str, np.ndarray]:
    """Parse each trace file once, though every scenario of a position reads it."""
    return load_trace(path)


def _window(trace: dict[str, np.ndarray], t_from: float, t_to: float) -> dict[str, np.ndarray]:
    """Samples with t_from <= t <= t_to (to the end if t_to <= t_from); traces are in time order."""
    t = trace["t_mono_s"]
    lo = int(np.searchsorted(t, t_from, "left"))
    hi = int(np.searchsorted(t, t_to, "right")) if t_to > t_from else len(t)
    return {k: v[lo:hi] for k, v in trace.items()}


def _limit_steps(points: list[list[float]], t0: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Step function as drawable points (relative time), held until the scenario end."""
    if not points:
        return np.array([]), np.array([])
    pts = sorted((float(t) - t0, float(v)) for t, v in points)
    t = [max(p[0], 0.0) for p in pts]
    v = [p[1] for p in pts]
    end = max(duration, t[-1])
    t.append(end)
    v.append(v[-1])
    return np.array(t), np.array(v)


def _stem(record: RunRecord, scenario: ScenarioRecord) -> str:
    index = next((i for i, s in enumerate(record.scenarios, 1) if s is scenario), 0)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{scenario.position}_{scenario.name}").strip("-")
    return f"{index:02d}_{slug}"[:100]


def _has(trace: dict[str, np.ndarray] | None, col: str) -> bool:
    return trace is not None and col in trace and bool(np.any(np.isfinite(trace[col])))


def _check_params(scenario: ScenarioRecord, name: str) -> dict:
    for check in scenario.checks:
        if check.name == name:
            return check.params
    return {}


# ---------------------------------------------------------------- figures

def _new_figure(rows: int = 1, height_ratios: list[float] | None = None) -> tuple[Figure, list]:
    fig = Figure(figsize=FIG_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None)[:, 0]
    for ax in axes:
        ax.tick_params(labelsize=FONT_SIZE - 1)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("Time since scenario start (s)", fontsize=FONT_SIZE)
    return fig, list(axes)


def _save(fig: Figure, path: Path) -> None:
    """PNG with an adaptive palette: line art needs few colours, and the PDF embeds a third
    of the bytes of a full-colour image (the default suite's report stays a few MB)."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    buf.seek(0)
    with PILImage.open(buf) as img:
        small = img.convert("RGB").quantize(PALETTE_COLOURS)
    tmp = path.with_suffix(".tmp.png")
    small.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def _line(ax, t: np.ndarray, y: np.ndarray, **kw) -> None:
    td, yd = minmax_decimate(t, y, MAX_POINTS)
    ax.plot(td, yd, **kw)


def _draw_limit(ax, data: ScenarioData, label: str = "expected limit") -> None:
    if len(data.limit_t):
        ax.step(data.limit_t, data.limit_a, where="post", color=LIMIT_COLOUR, lw=2.0, label=label, zorder=3)


def _draw_settle_windows(ax, data: ScenarioData, params: dict) -> None:
    for i, (a, b) in enumerate(params.get("settle_windows") or []):
        ax.axvspan(a - data.t0, b - data.t0, color=SETTLE_COLOUR, alpha=0.35, lw=0,
                   label="settle window (not judged)" if i == 0 else None, zorder=0)


def _draw_steps(ax, scenario: ScenarioRecord, data: ScenarioData, labels: bool = True) -> None:
    """Dotted vertical marker per step, its number (as in the steps table) and name written along
    it; steps too close together to label apart share one label ("steps 1-9"). A long run with
    hundreds of steps gets markers only (or none): the steps table lists them."""
    if len(scenario.steps) > MAX_STEP_MARKERS:
        return
    labels = labels and len(scenario.steps) <= MAX_STEP_LABELS
    min_gap = 0.015 * data.duration_s if data.duration_s > 0 else 0.0
    groups: list[tuple[float, list]] = []
    for step in scenario.steps:
        x = step.t_start_mono_s - data.t0
        ax.axvline(x, color="#555555", ls=":", lw=0.9, zorder=1)
        if groups and x - groups[-1][0] < min_gap:
            groups[-1][1].append(step)
        else:
            groups.append((x, [step]))
    if not labels:
        return
    for x, members in groups:
        first, last = members[0], members[-1]
        text = f"{first.index + 1} {first.name}" if len(members) == 1 else f"steps {first.index + 1}-{last.index + 1}"
        ax.text(x, 0.98, f"{text} ", transform=ax.get_xaxis_transform(), rotation=90,
                va="top", ha="left", fontsize=FONT_SIZE - 3, color="#333333", clip_on=True,
                bbox={"facecolor": "white", "alpha": 0.6, "lw": 0, "pad": 0.5})


def _draw_failures(ax, scenario: ScenarioRecord, data: ScenarioData, checks: tuple[str, ...]) -> None:
    """Red marker where a failing measurement of these checks was taken."""
    labelled = False
    for check in scenario.checks:
        if check.name not in checks:
            continue
        for m in check.measurements:
            if m.verdict == Verdict.FAIL and m.t_mono_s is not None:
                ax.axvline(m.t_mono_s - data.t0, color=FAIL_COLOUR, ls="--", lw=1.2,
                           label=None if labelled else "failing measurement", zorder=4)
                labelled = True


def clock_ticks(utc0: datetime, duration_s: float, max_ticks: int = 8) -> tuple[list[float], str]:
    """Offsets (s from utc0) of round UTC clock times across the duration, and their format."""
    step = next((s for s in CLOCK_STEPS_S if duration_s / s <= max_ticks), CLOCK_STEPS_S[-1])
    epoch = utc0.timestamp()
    first = math.ceil(epoch / step) * step - epoch
    ticks = [float(x) for x in np.arange(first, duration_s + 1e-9, step)]
    return ticks, "%H:%M:%S" if step < 60 else "%H:%M"


def _clock_axis(ax, data: ScenarioData) -> None:
    """UTC clock time on the top axis at round times, so a plot can be matched with logs of the DUT."""
    utc0 = data.utc0
    if utc0 is None or data.duration_s <= 0:
        return
    top = ax.secondary_xaxis("top")
    ticks, fmt = clock_ticks(utc0, data.duration_s)
    top.set_xticks(ticks)
    top.xaxis.set_major_formatter(FuncFormatter(
        lambda x, _pos: (utc0 + timedelta(seconds=float(x))).strftime(fmt)))
    top.tick_params(labelsize=FONT_SIZE - 2)
    top.set_xlabel(f"UTC clock ({utc0:%Y-%m-%d})", fontsize=FONT_SIZE - 1, labelpad=2)


def _finish(ax, data: ScenarioData, ylabel: str, title: str | None = None) -> None:
    ax.set_ylabel(ylabel, fontsize=FONT_SIZE)
    if data.duration_s > 0:
        ax.set_xlim(0, data.duration_s)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        # outside the axes: a legend must never hide the curve it explains
        ax.legend(fontsize=FONT_SIZE - 2, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _draw_current(scenario: ScenarioRecord, data: ScenarioData) -> Figure | None:
    tr = data.trace or {}  # no trace: no column, like None for _has()
    meter = [p for p in PHASES if _has(tr, f"meter_current_l{p}_a")]
    load = [p for p in PHASES if _has(tr, f"load_current_l{p}_a")]
    volts = [p for p in PHASES if _has(tr, f"meter_voltage_l{p}_v")]
    if not meter and not load and not len(data.limit_t):
        return None
    if volts:
        fig, (ax, ax_v) = _new_figure(2, [3.2, 1])
    else:
        fig, (ax,) = _new_figure()
    params = _check_params(scenario, CURRENT_CHECK)
    _draw_settle_windows(ax, data, params)
    if len(data.limit_t) and ("tolerance_abs_a" in params or "tolerance_rel_pct" in params):
        upper = data.limit_a + float(params.get("tolerance_abs_a", 0.0)) \
            + data.limit_a * float(params.get("tolerance_rel_pct", 0.0)) / 100.0
        ax.fill_between(data.limit_t, data.limit_a, upper, step="post", color=BAND_COLOUR, alpha=0.5,
                        lw=0, label="tolerance (limit + abs + rel %)", zorder=2)
    _draw_limit(ax, data)
    for p in meter:
        _line(ax, tr["t_rel_s"], tr[f"meter_current_l{p}_a"], color=PHASE_COLOURS[p], lw=1.2,
              label=f"meter L{p}", zorder=5)
    for p in load:
        _line(ax, tr["t_rel_s"], tr[f"load_current_l{p}_a"], color=PHASE_COLOURS[p], lw=1.0, ls="--",
              alpha=0.8, label=f"load L{p}", zorder=4)
    _draw_failures(ax, scenario, data, (CURRENT_CHECK,))
    _draw_steps(ax, scenario, data)
    ax.set_ylim(bottom=0)
    _clock_axis(ax, data)
    _finish(ax, data, "Current (A)", f"{scenario.name}: current per phase vs expected limit")
    if volts:
        for p in volts:
            _line(ax_v, tr["t_rel_s"], tr[f"meter_voltage_l{p}_v"], color=PHASE_COLOURS[p], lw=1.0,
                  label=f"meter L{p}")
        _draw_steps(ax_v, scenario, data, labels=False)
        _finish(ax_v, data, "Voltage (V)")
    return fig


def _draw_pwm(scenario: ScenarioRecord, data: ScenarioData) -> Figure | None:
    tr = data.trace or {}  # no trace: no column, like None for _has()
    if not _has(tr, "ev_pwm_duty_pct") and not _has(tr, "ev_offered_current_a"):
        return None
    fig, (ax_duty, ax_amp) = _new_figure(2, [1, 1])
    params = _check_params(scenario, PWM_CHECK)
    for ax in (ax_duty, ax_amp):
        _draw_settle_windows(ax, data, _check_params(scenario, CURRENT_CHECK))
    if len(data.limit_t):
        duty = np.array([current_to_duty_pct(a) for a in data.limit_a])
        tol = params.get("tolerance_pct")
        if tol is not None:
            ax_duty.fill_between(data.limit_t, duty - float(tol), duty + float(tol), step="post",
                                 color=BAND_COLOUR, alpha=0.5, lw=0, label=f"tolerance ±{tol} %")
        ax_duty.step(data.limit_t, duty, where="post", color=LIMIT_COLOUR, lw=2.0, label="expected duty")
    if _has(tr, "ev_pwm_duty_pct"):
        _line(ax_duty, tr["t_rel_s"], tr["ev_pwm_duty_pct"], color="#2ca02c", lw=1.2, label="measured duty")
    offered = tr["ev_offered_current_a"] if _has(tr, "ev_offered_current_a") else np.array(
        [duty_to_current_a(d) if np.isfinite(d) else np.nan for d in tr["ev_pwm_duty_pct"]])
    _draw_limit(ax_amp, data)
    _line(ax_amp, tr["t_rel_s"], offered, color="#2ca02c", lw=1.2, label="offered by PWM")
    for ax in (ax_duty, ax_amp):
        _draw_failures(ax, scenario, data, (PWM_CHECK,))
        _draw_steps(ax, scenario, data, labels=ax is ax_duty)
    _clock_axis(ax_duty, data)
    _finish(ax_duty, data, "PWM duty (%)", f"{scenario.name}: control pilot PWM vs expected limit")
    ax_amp.set_ylim(bottom=0)
    _finish(ax_amp, data, "Offered current (A)")
    return fig


def _series_limits(check, series_name: str, unit: str) -> list:
    """Measurements judging a series: same name, or same stem with a qualifier
    ('energy_error_pct' -> 'energy_error_point3_pct'); the exact name first."""
    stem = series_name.rsplit("_", 1)[0] if "_" in series_name else series_name
    same = [m for m in check.measurements if m.name == series_name]
    related = [m for m in check.measurements if m.name != series_name and m.name.startswith(stem) and m.unit == unit]
    return same + related


def _draw_error(scenario: ScenarioRecord, data: ScenarioData) -> Figure | None:
    """One panel per unit; each series with the limits of the measurement named like it."""
    by_unit: dict[str, list[tuple[str, np.ndarray, np.ndarray, list]]] = {}
    for check in scenario.checks:
        for name, s in (check.params.get("series") or {}).items():
            t = np.asarray(s.get("t_mono_s") or [], dtype=float)
            v = np.asarray([np.nan if x is None else x for x in s.get("value") or []], dtype=float)
            if len(t) == 0 or len(t) != len(v):
                continue
            unit = s.get("unit", "")
            by_unit.setdefault(unit, []).append((name, t - data.t0, v, _series_limits(check, name, unit)))
    if not by_unit:
        return None
    fig, axes = _new_figure(len(by_unit))
    for ax, (unit, series) in zip(axes, by_unit.items()):
        first = ax is axes[0]
        for i, (name, t, v, limits) in enumerate(series):
            colour = f"C{i}"
            _line(ax, t, v, color=colour, lw=1.2, marker="." if len(t) < 200 else None, label=name)
            for m in limits[:1]:
                bounds = [b for b in (m.low, m.high) if b is not None]
                for k, bound in enumerate(bounds):
                    ax.axhline(bound, color=colour, ls="--", lw=1.0, alpha=0.8,
                               label=f"{name} limit" + ("s" if len(bounds) > 1 else "") if k == 0 else None)
        ax.axhline(0, color="#555555", lw=0.8)
        _draw_steps(ax, scenario, data, labels=first)
        _finish(ax, data, f"Error ({unit})" if unit else "Error", None)
    _clock_axis(axes[0], data)
    axes[0].set_title(f"{scenario.name}: measurement error (dashed: limits)", fontsize=FONT_SIZE + 1)
    return fig
