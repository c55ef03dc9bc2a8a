"""The reference meter's side of the metering checks: its values over a DUT reading's instant
interval, its energy between two stamped readings, its register's resolution, the DUT's
MeterValues by measurand and phase, and the steady load points of a scenario. Used by the
metering, load-point and Eichrecht families (bench/checks/metering.py, load_points.py, eichrecht.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import numpy as np
from pydantic import Field

from bench.checks.arrays import medians, require_sorted, rows_from, windows_by_length
from bench.checks.base import RULE_MID, CheckInputs, sampling_period
from bench.checks.declare import CheckParams, NonNegative, from_config
from bench.config import PositionConfig
from bench.record import Measurement, judge

ENERGY = "Energy.Active.Import.Register"
CURRENT = "Current.Import"


def _interp(trace: dict[str, np.ndarray], column: str, t: np.ndarray) -> np.ndarray:
    ts, ys = trace["t_mono_s"], trace[column]
    good = ~np.isnan(ys)
    if good.sum() < 2:
        return np.full(np.shape(t), np.nan)
    inside = (t >= ts[good][0]) & (t <= ts[good][-1])
    return np.where(inside, np.interp(t, ts[good], ys[good]), np.nan)


def reference_energy_step_wh(trace: dict[str, np.ndarray]) -> float:
    """The reference meter's energy resolution as seen in the trace. A meter with a coarse
    register (e.g. 100 Wh steps) needs long intervals to compare. A register that held still
    between two increases, energy flowing, is coarser than one sample's energy: its step is the
    smallest increase. One that rose at every sample is finer than that, and the smallest
    increase is only the energy of the shortest sampling period at the lowest power (it would
    set the interval by the sampler's jitter): its step is the decimal digit its values end on."""
    e = trace.get("meter_energy_import_wh")
    if e is None:
        return 0.0
    e = e[~np.isnan(e)]
    steps = np.diff(e)
    rising = steps[steps > 1e-9]
    if not rising.size:
        return 0.0
    held = (np.abs(steps[1:-1]) <= 1e-9) & (steps[:-2] > 1e-9) & (steps[2:] > 1e-9)
    if held.any():
        return float(rising.min())
    return min(float(rising.min()), _decimal_step(e))


def _decimal_step(values: np.ndarray) -> float:
    """The largest power of ten all values are whole multiples of (0 when none down to 1 uWh:
    a binary float register, as fine as the comparison needs)."""
    for k in range(3, -7, -1):
        q = 10.0 ** k
        if np.all(np.abs(values / q - np.round(values / q)) < 1e-6):
            return q
    return 0.0


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
    least judge steadiness: at a slow sampling rate (a long scenario's) the window widens to hold them.
    The windows of all readings are sliced out of the (sorted) trace at once: linear in its rows."""
    ts, ys = trace["t_mono_s"], trace[column]
    good = ~np.isnan(ys)
    ts, ys = require_sorted(ts[good]), ys[good]
    half = sampling_period(ts) / 2
    pad_s = max(pad_s, (5 * 2 * half - res) / 2)
    t = np.asarray(t, dtype=float)
    out = np.full(len(t), np.nan)
    if not ts.size:
        return out
    reached = (ts[0] <= t + half) & (ts[-1] >= t + res - half)
    around = rows_from(ts, t - pad_s), rows_from(ts, t + res + pad_s)
    inside = rows_from(ts, t - half), rows_from(ts, t + res + half)
    judged = np.flatnonzero(reached & (around[1] - around[0] >= 5) & (inside[1] > inside[0]))
    steady = judged[_steady(ys, around[0][judged], around[1][judged], floor)]
    out[steady] = medians(ys, inside[0][steady], inside[1][steady])
    return out


def _steady(ys: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: float) -> np.ndarray:
    """For each window ys[lo:hi] (>= 5 values), whether every value is within 5 noise sigmas of the
    window's median, or within `floor` (see _reference_over). Sigma of a step is estimated from the
    median absolute deviation of the window's successive differences (robust to outliers; 1.4826
    MAD is sigma for normal noise), one sample's sigma is that over sqrt(2)."""
    out = np.zeros(lo.shape, dtype=bool)
    for rows, w in windows_by_length(ys, lo, hi):
        steps = np.diff(w, axis=1)
        spread = np.abs(steps - np.median(steps, axis=1, keepdims=True))
        noise = 1.4826 * np.median(spread, axis=1) / np.sqrt(2.0)
        allowed = np.where(5.0 * noise > floor, 5.0 * noise, floor)  # max(floor, 5 sigma) as Python's max
        out[rows] = np.max(np.abs(w - np.median(w, axis=1, keepdims=True)), axis=1) <= allowed
    return out


Readings = dict[tuple[str, str | None], list[tuple[float, float]]]


def readings_of(inp: CheckInputs, measurands: tuple[str, ...]) -> Readings:
    """The transactions' stamped samples of `measurands` by (measurand, phase), as (bench time,
    value): one pass, each stamp (shared by the samples of one MeterValues) mapped once."""
    mono: dict[datetime, float] = {}
    out: Readings = {}
    for tx in inp.transactions:
        for s in tx.samples:
            if s.timestamp is not None and s.measurand in measurands:
                t = mono.get(s.timestamp)
                if t is None:
                    t = mono[s.timestamp] = inp.mono_of(s.timestamp)
                out.setdefault((s.measurand, s.phase), []).append((t, s.value))
    return out


def samples_of(readings: Readings, measurand: str, phase: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of a measurand, in time order: on a phase (any label starting with it, e.g.
    L1-N), or without one."""
    rows = sorted(r for (m, ph), rs in readings.items() if m == measurand
                  and (ph is None if phase is None else (ph or "").startswith(phase)) for r in rs)
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


@dataclass(frozen=True)
class EnergyTrace:
    """The reference meter's energy register over the record (the trace around the scenario when
    given): its NaN rows dropped once per check, which then looks up any number of intervals."""

    t: np.ndarray
    wh: np.ndarray

    @classmethod
    def of(cls, inp: CheckInputs) -> EnergyTrace:
        trace = inp.record_trace if inp.record_trace is not None else inp.trace
        ts, es = trace["t_mono_s"], trace["meter_energy_import_wh"]
        good = ~np.isnan(es)
        return cls(ts[good], es[good])


def reference_energy(energy: EnergyTrace, t_a: float, t_b: float, res: float,
                     not_after: float | None = None) -> ReferenceEnergy | None:
    """None when a reading's interval lies wholly outside the recorded reference (the bench's
    record does not reach it). A reading stamped just before the window (a Transaction.Begin
    value truncated to the second) still overlaps it: the overlap is where it was taken. A
    reading was taken before the message carrying it arrived (`not_after`, e.g. the stop's
    arrival): a value stamped in the last second of a transaction ends its interval there."""
    ts, es = energy.t, energy.wh
    if ts.size < 2:
        return None
    lo, hi = ts[0], ts[-1]

    def end(t: float) -> float:
        return t + res if not_after is None else max(t, min(t + res, not_after))

    a0, a1 = max(t_a, lo), min(end(t_a), hi)
    b0, b1 = max(t_b, lo), min(end(t_b), hi)
    if a0 > a1 or b0 > b1:
        return None
    e = np.interp([a0, a1, (a0 + a1) / 2, b0, b1, (b0 + b1) / 2], ts, es)
    return ReferenceEnergy(float(e[5] - e[2]), float(e[3] - e[1]), float(e[4] - e[0]))


def judge_energy(label: str, d_dut: float, ref: ReferenceEnergy, mpe: float, inp: CheckInputs, t_b: float,
                  note: str, samples: int, coverage: float | None) -> Measurement:
    """DUT energy against the reference: the limit is the MID MPE widened by what the timestamps'
    resolution allows (a known bound, in the DUT's favour: whole seconds are legal); the
    reference meter's class is the bench's uncertainty (flagged near the limit)."""
    err = (d_dut - ref.nominal_wh) / ref.nominal_wh * 100.0
    limit = mpe + ref.timing_pct
    return judge(label, float(err), "%", -limit, limit, t_mono_s=t_b,
                 note=f"{note}; limit MPE {mpe:g} % + {ref.timing_pct:.2f} % for the timestamps' resolution",
                 rule=energy_rule(inp.position), samples=samples, coverage=coverage,
                 uncertainty=inp.tolerances.reference_energy_pct)


def energy_rule(position: PositionConfig) -> str:
    """The rule an energy comparison enforces: the DUT's metering regime's, else the MID default."""
    preset = position.dut.regime
    return RULE_MID if preset is None else preset.session().rule


@dataclass(frozen=True)
class LoadPoint:
    """A steady stretch of expected current (after settling): where MeterValues are compared."""

    t_from: float
    t_to: float
    level_a: float


def steady_load_points(inp: CheckInputs) -> list[LoadPoint]:
    settle = inp.position.dut.reaction_time_s + inp.position.ev.reaction_time_s + inp.tolerances.settle_margin_s
    edges = [t for t, _ in inp.expected.current_a] + [inp.t_end]
    return [LoadPoint(t_a + settle, t_b, level) for (t_a, level), t_b in zip(inp.expected.current_a, edges[1:])
            if level > 0 and t_b > t_a + settle]




class EnergyParams(CheckParams):
    """An energy comparison's parameters: the MPE (default: the DUT's class, dut.meter_mpe_pct) and
    how many steps of the registers' last digit an interval must span to be judged."""

    energy_tolerance_pct: NonNegative | None = None
    min_register_steps: int = Field(100, ge=0, description="type examination: 100 steps of the last digit")
    DEFAULTS: ClassVar = {"energy_tolerance_pct": from_config("dut.meter_mpe_pct")}


ENERGY_LIMIT = "±({energy_tolerance_pct:g} % + the timestamps' resolution), over >= {min_register_steps} register steps"
