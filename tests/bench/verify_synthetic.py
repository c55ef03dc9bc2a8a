"""Synthetic check inputs of any length with what real recorded runs carry: the trace as the runner
hands it to the checks (the scenario window and the wider record trace around it, columns as
`Trace.columns` gives them) and the DUT's transactions with their MeterValues as the CSMS stub
records them.

Real-signal features, each drawn from the seed unless asked for: meter noise (reference and DUT
independently), limit steps at random instants with a charger reaction anywhere up to (and now and
then beyond) the allowed time, an EV drawing less than offered, sampler jitter, rows missing
(sampler stalls) and rows with NaN (an instrument lost for a while, lone lost reads), a stretch
sampled slowly, EV-side faults (state E/F), MeterValues stamped to the second (or the
millisecond) with a charger clock offset, readings near and past the trace's edges, a register
going back, a value stamped outside its transaction, a transaction that never ended, a missing
phase, composite schedule answers and memory marks.

`differences` compares two check records exactly. Used by the equivalence test of the checks
(tests/bench/test_verify_linear_time.py) and the checks' benchmark (tests/benchmarks/check_benchmarks.py)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

import numpy as np

from bench.config import LabConfig, PositionConfig
from bench.csms.events import MeterSample, Transaction
from bench.memory import MemoryMark
from bench.checks.timeline import CompositeReport, Expected, value_at
from bench.trace import NUMERIC_COLUMNS
from bench.checks.base import CheckInputs
from instruments.iec61851 import current_to_duty_pct

UTC0 = datetime(2031, 5, 6, 0, 0, 0, tzinfo=timezone.utc)  # bench time 0 on the charger's clock
RECORD_MARGIN_S = 5.0  # as the runner: the record trace reaches this far around the window
LEVELS_A = (4.0, 6.0, 8.0, 10.0, 13.0, 16.0, 20.0, 25.0, 32.0)  # 4 A: below 6 A, no charging
ENERGY = "Energy.Active.Import.Register"


@dataclass
class Synthetic:
    """One synthetic scenario. The defaults are a regular long run (the benchmark's); `varied(seed)`
    draws every feature from the seed (the equivalence test's)."""

    duration_s: float = 1800.0
    seed: int = 0
    rate_hz: float = 10.0
    jitter: float = 0.2  # sampler jitter, share of a period (0: rows on an exact grid)
    mv_interval_s: float = 10.0
    phases: int = 3
    limit_every_s: float = 300.0  # mean time between limit steps
    steps_on_stamps: bool = False  # limit steps at instants a MeterValue's stamp maps to (bounds exactly hit)
    late_share: float = 0.0  # share of limit steps the charger follows too late (5 s)
    stamp_res_s: float = 1.0  # 1.0: whole seconds; 0.001: milliseconds
    clock_offset_s: float = 0.3  # the charger's clock ahead of the bench's
    noise_pct: float = 1.0  # 3-sigma, reference meter and DUT meter independently
    stalls: int = 3  # stretches of rows missing (sampler stalls)
    meter_gaps: int = 3  # stretches where the meter answered nothing (NaN rows)
    lone_nan_share: float = 0.002  # single lost reads per column
    slow_from: float | None = None  # share of the run after which the sampler runs slowly ...
    slow_factor: int = 20  # ... at rate / slow_factor
    faults: int = 2  # state E/F stretches
    late_stop_share: float = 0.0  # share of faults where the current keeps flowing 1 s
    transactions: int = 1
    unended: bool = False  # the last transaction's stop never came
    bad_data: bool = False  # a register going back and a value stamped a minute late
    missing_phase: int | None = None  # a phase the DUT never reports
    phase_label: str = "L{p}"  # "L{p}-N" for a DUT naming the neutral
    ev_phase_switch: bool = False  # the EV switches to one phase halfway
    ev_max_a: float = 16.0
    meter_gain: float = 1.0
    coarse_reference_wh: float = 0.01  # the reference register's step
    with_record_trace: bool = True
    composite_reports: int = 0
    memory_marks: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def varied(cls, seed: int, duration_s: float | None = None) -> Synthetic:
        rng = np.random.default_rng(1000 + seed)
        pick = lambda *options: options[int(rng.integers(len(options)))]  # noqa: E731
        return cls(duration_s=duration_s or float(rng.uniform(300.0, 1500.0)), seed=seed,
                   rate_hz=pick(10.0, 10.0, 10.0, 5.0, 1.0, 0.2), jitter=pick(0.2, 0.2, 0.0),
                   mv_interval_s=pick(2.0, 5.0, 10.0, 30.0), phases=pick(3, 3, 1),
                   limit_every_s=float(rng.uniform(40.0, 400.0)), steps_on_stamps=pick(False, True),
                   late_share=pick(0.0, 0.0, 0.3),
                   stamp_res_s=pick(1.0, 1.0, 0.001), clock_offset_s=float(rng.uniform(-0.5, 0.9)),
                   noise_pct=pick(0.0, 0.5, 1.0, 1.0, 3.0), stalls=int(rng.integers(0, 5)),
                   meter_gaps=int(rng.integers(0, 5)), lone_nan_share=pick(0.0, 0.002, 0.05),
                   slow_from=pick(None, None, float(rng.uniform(0.2, 0.9))), slow_factor=pick(5, 20, 100),
                   faults=int(rng.integers(0, 4)), late_stop_share=pick(0.0, 0.5),
                   transactions=pick(1, 1, 2, 3), unended=pick(False, False, True),
                   bad_data=pick(False, True), missing_phase=pick(None, None, None, 2),
                   phase_label=pick("L{p}", "L{p}-N"), ev_phase_switch=pick(False, False, True),
                   ev_max_a=pick(16.0, 32.0, 13.0), meter_gain=pick(1.0, 1.0, 1.025, 0.97),
                   coarse_reference_wh=pick(0.01, 0.01, 1.0, 100.0), with_record_trace=pick(True, True, False),
                   composite_reports=int(rng.integers(0, 3)), memory_marks=pick(0, 4),
                   params=pick({}, {}, {}, {"tolerance_abs_a": 0.7, "settle_time_s": 6.0, "min_register_steps": 20,
                                           "states": ["E"], "within_s": 0.2, "current_tolerance_rel_pct": 3.0,
                                           "start_period_tolerance_s": 2.0}))

    def inputs(self, cfg: LabConfig) -> CheckInputs:
        return _Builder(self, cfg).inputs()


class _Builder:
    def __init__(self, spec: Synthetic, cfg: LabConfig) -> None:
        self.s, self.cfg = spec, cfg
        self.rng = np.random.default_rng(spec.seed)
        self.t0 = 100.0 + float(self.rng.uniform(0.0, 1.0))
        self.t1 = self.t0 + spec.duration_s

    # ---- the bench's clock and the EV side --------------------------------------------------

    def times(self) -> np.ndarray:
        s, rng = self.s, self.rng
        n = int((self.t1 - self.t0 + 2 * RECORD_MARGIN_S) * s.rate_hz)
        period = 1.0 / s.rate_hz
        t = self.t0 - RECORD_MARGIN_S + np.arange(n) * period + rng.uniform(-1.0, 1.0, n) * s.jitter * period
        keep = np.ones(n, dtype=bool)
        for _ in range(s.stalls):  # the sampler stalled: no rows at all
            a = rng.uniform(self.t0 - RECORD_MARGIN_S, self.t1)
            keep &= ~((t >= a) & (t < a + rng.uniform(0.5, 20.0)))
        if s.slow_from is not None:  # a slow stretch: every slow_factor-th row only
            slow = t >= self.t0 + s.slow_from * s.duration_s
            keep &= ~slow | (np.arange(n) % s.slow_factor == 0)
        return np.round(t[keep], 3)

    def transaction_spans(self) -> list[tuple[float, float]]:
        k = self.s.transactions
        edges = np.linspace(self.t0 + 0.1, self.t1 - 0.5, k + 1)
        return [(float(a) if i == 0 else float(a) + 20.0, float(b)) for i, (a, b) in enumerate(zip(edges, edges[1:]))]

    def fault_spans(self, spans: list[tuple[float, float]]) -> list[tuple[float, float, str]]:
        out = []
        for _ in range(self.s.faults):
            a, b = spans[int(self.rng.integers(len(spans)))]
            start = float(self.rng.uniform(a + 5.0, max(a + 6.0, b - 15.0)))
            out.append((start, start + float(self.rng.uniform(2.0, 10.0)), "EF"[int(self.rng.integers(2))]))
        return sorted(out)

    def limit_steps(self) -> list[tuple[float, float]]:
        steps, t = [(self.t0, 16.0)], self.t0
        while True:
            t += float(self.rng.exponential(self.s.limit_every_s)) + 5.0
            if t >= self.t1:
                return steps
            at = float(math.floor(t)) - self.s.clock_offset_s if self.s.steps_on_stamps else round(t, 3)
            steps.append((at, float(LEVELS_A[int(self.rng.integers(len(LEVELS_A)))])))

    # ---- the inputs -----------------------------------------------------------------------------

    def inputs(self) -> CheckInputs:
        s, rng = self.s, self.rng
        t = self.times()
        spans = self.transaction_spans()
        faults = self.fault_spans(spans)
        steps = self.limit_steps()
        charging = _in_spans(t, spans) & ~_in_spans(t, [(a, b) for a, b, _ in faults])
        # the charger applies each step after its reaction (sometimes late), the EV 1 s after that
        reaction = np.where(rng.random(len(steps)) < s.late_share, 5.0, rng.uniform(0.2, 3.0, len(steps)))
        applied = [(a + float(r), lim) for (a, lim), r in zip(steps, reaction)]
        limit_now = value_at(applied, t)
        limit_now = np.where(np.isnan(limit_now), 16.0, limit_now)
        offer = np.where(limit_now >= 6.0, np.minimum(limit_now, s.ev_max_a), 0.0)
        ev_offer = np.where(np.isnan(value_at(applied, t - 1.0)), 16.0, value_at(applied, t - 1.0))
        ev_draw = np.where(ev_offer >= 6.0, np.minimum(ev_offer, s.ev_max_a), 0.0)
        switch_at = self.t0 + s.duration_s / 2 if s.ev_phase_switch else math.inf
        trace = {c: np.full(t.size, np.nan) for c in NUMERIC_COLUMNS}
        trace["t_mono_s"] = t
        true = np.zeros((s.phases, t.size))
        for p in range(s.phases):
            under = 0.55 + 0.25 * np.sin(2 * math.pi * t / rng.uniform(20.0, 120.0) + rng.uniform(0, 6.3))
            flowing = charging & ((p == 0) | (t < switch_at))
            true[p] = np.where(flowing, np.maximum(ev_draw - under, 0.0), 0.0)
        self.stop_current_late(t, true, faults)
        volts = 230.0 + 5.0 * np.sin(2 * math.pi * t / rng.uniform(60.0, 600.0))
        energy = 5000.0 + np.concatenate([[0.0], np.cumsum((true * volts).sum(axis=0)[1:] * np.diff(t))]) / 3600.0
        for p in range(s.phases):
            trace[f"meter_current_l{p + 1}_a"] = true[p] * (1 + self.noise(t.size))
            trace[f"meter_voltage_l{p + 1}_v"] = volts
            trace[f"load_current_l{p + 1}_a"] = true[p]
        trace["meter_energy_import_wh"] = np.floor(energy / s.coarse_reference_wh) * s.coarse_reference_wh
        trace["meter_power_total_w"] = (true * volts).sum(axis=0)
        in_tx = _in_spans(t, spans)
        levels, level_of_row = np.unique(limit_now, return_inverse=True)
        duty = np.where(in_tx, np.array([current_to_duty_pct(v) for v in levels])[level_of_row], 100.0)
        trace["ev_pwm_duty_pct"] = duty + rng.uniform(-0.3, 0.3, t.size)
        trace["ev_offered_current_a"] = offer
        trace["ev_cp_state"] = self.cp_states(t, spans, faults)
        self.lose_samples(trace)
        window = (t >= self.t0) & (t <= self.t1)
        txs = self.transactions(t, true, energy, spans)
        record = {c: v.copy() for c, v in trace.items()} if s.with_record_trace else None
        return CheckInputs(self.position(), self.cfg.tolerances, self.t0, self.t1,
                           {c: v[window].copy() for c, v in trace.items()},
                           self.expected(steps, spans, faults, switch_at), txs,
                           lambda ts: (ts - UTC0).total_seconds() - s.clock_offset_s, params=dict(s.params),
                           record_trace=record, memory_marks=self.marks())

    def position(self) -> PositionConfig:
        """The lab's first position with this run's EV phases and MeterValues interval."""
        pos = self.cfg.positions[0]
        dut = pos.dut.model_copy(update={"meter_sample_interval_s": int(round(self.s.mv_interval_s))})
        return pos.model_copy(update={"ev": pos.ev.model_copy(update={"phases": self.s.phases}), "dut": dut})

    def noise(self, n: int) -> np.ndarray:
        return self.s.noise_pct * np.clip(self.rng.normal(0.0, 1 / 3, n), -1, 1) / 100.0

    def stop_current_late(self, t: np.ndarray, true: np.ndarray, faults: list[tuple[float, float, str]]) -> None:
        """The charger opens its contactor 50 ms into a fault, or (late_stop_share) a second."""
        for a, b, _ in faults:
            delay = 1.0 if self.rng.random() < self.s.late_stop_share else 0.05
            late = (t >= a) & (t < min(a + delay, b))
            before = true[:, np.searchsorted(t, a) - 1] if np.searchsorted(t, a) else true[:, 0]
            true[:, late] = before[:, None]

    def cp_states(self, t: np.ndarray, spans: list[tuple[float, float]],
                  faults: list[tuple[float, float, str]]) -> np.ndarray:
        states = np.where(_in_spans(t, [(a + 1.0, b) for a, b in spans]), "C", "B").astype(object)
        states[t < self.t0 + 0.05] = "A"
        for a, b, kind in faults:
            states[(t >= a) & (t < b)] = kind
        return states

    def lose_samples(self, trace: dict[str, np.ndarray]) -> None:
        s, rng, t = self.s, self.rng, trace["t_mono_s"]
        meter = [c for c in NUMERIC_COLUMNS if c.startswith("meter_")]
        for _ in range(s.meter_gaps):  # the meter (or the EV emulator) answered nothing for a while
            a = rng.uniform(self.t0 - RECORD_MARGIN_S, self.t1)
            lost = (t >= a) & (t < a + rng.uniform(0.3, 15.0))
            for c in meter if rng.random() < 0.7 else ["ev_pwm_duty_pct"]:
                trace[c][lost] = np.nan
        for c in meter + ["ev_pwm_duty_pct"]:  # lone lost reads
            trace[c][rng.random(t.size) < s.lone_nan_share] = np.nan

    def expected(self, steps: list[tuple[float, float]], spans: list[tuple[float, float]],
                 faults: list[tuple[float, float, str]], switch_at: float) -> Expected:
        s = self.s
        cuts = sorted({a for a, _ in steps} | {x for sp in spans for x in sp} | {x for f in faults for x in f[:2]})
        cuts = [c for c in cuts if self.t0 <= c <= self.t1]
        limit, current, duty = [], [], []
        for c in cuts:
            lim = float(value_at(steps, c))
            tx = bool(_in_spans(np.array([c]), spans)[0])
            fault = bool(_in_spans(np.array([c]), [(a, b) for a, b, _ in faults])[0])
            limit.append((c, lim))
            current.append((c, min(lim, s.ev_max_a) if tx and not fault and lim >= 6.0 else 0.0))
            duty.append((c, current_to_duty_pct(lim) if tx else None))
        changes = sorted({t for series in (limit, current, duty) for t, _ in _merge(series)[1:]})
        ev_phases = [(switch_at, 1)] if math.isfinite(switch_at) else []
        if ev_phases:
            changes = sorted(set(changes) | {switch_at})
        return Expected(_merge(limit), _merge(current), _merge(duty), changes, ev_phases=ev_phases,
                        ev_max_a=[(self.t0, s.ev_max_a)], composite_reports=self.composites(steps))

    def composites(self, steps: list[tuple[float, float]]) -> list[CompositeReport]:
        out = []
        for k in range(self.s.composite_reports):
            at = self.t0 + (k + 1) * self.s.duration_s / (self.s.composite_reports + 1)
            duration = int(min(self.s.duration_s, 86400.0))  # GetCompositeSchedule: a day at most
            periods = [{"startPeriod": 0, "limit": float(value_at(steps, at)), "numberPhases": 3}] + [
                {"startPeriod": int(a - at), "limit": lim, "numberPhases": 3} for a, lim in steps
                if at + 1 <= a < at + duration]
            shift = float(self.rng.uniform(-1.5, 1.5))
            answer_periods = [{**p, "startPeriod": max(0, p["startPeriod"] + int(self.rng.integers(-1, 2)))}
                              for p in periods]
            schedule = {"duration": duration, "chargingRateUnit": "A", "chargingSchedulePeriod": answer_periods}
            answer = {"status": "Accepted", "connectorId": 1,
                      "scheduleStart": _iso(UTC0 + timedelta(seconds=at + shift)), "chargingSchedule": schedule}
            expected = {"duration": duration, "chargingRateUnit": "A", "chargingSchedulePeriod": periods}
            out.append(CompositeReport(at, 1, duration, "A", UTC0 + timedelta(seconds=at), expected, answer))
        return out

    def marks(self) -> list[MemoryMark]:
        n = self.s.memory_marks
        return [MemoryMark(self.t0 + k * self.s.duration_s / max(n, 1), 50_000_000 + int(self.rng.integers(0, 10**6)),
                           1000 * k, 30_000_000 + 2000 * k) for k in range(n)]

    # ---- the DUT's MeterValues ------------------------------------------------------------------

    def transactions(self, t: np.ndarray, true: np.ndarray, energy: np.ndarray,
                     spans: list[tuple[float, float]]) -> list[Transaction]:
        return [self.transaction(n, a, b, t, true, energy, last=n == len(spans))
                for n, (a, b) in enumerate(spans, 1)]

    def transaction(self, n: int, a: float, b: float, t: np.ndarray, true: np.ndarray, energy: np.ndarray,
                    last: bool) -> Transaction:
        s = self.s
        ended = not (last and s.unended)
        instants = np.concatenate([[a], np.arange(a + s.mv_interval_s, b, s.mv_interval_s), [b] if ended else []])
        if last and s.with_record_trace:  # a reading just past the window (the record trace has it)
            instants = np.append(instants, self.t1 + 0.4)
        register = np.floor((5000.0 + (np.interp(instants, t, energy) - 5000.0) * s.meter_gain) * 10.0) / 10.0
        if s.bad_data and instants.size > 6:
            register[3] -= 50.0  # the register goes back
        tx = Transaction(n, 1, "TAG", float(register[0]), a, self.stamp(a), meter_stop_wh=float(register[-1])
                         if ended else None, t_stop_mono_s=b + 0.05 if ended else None)
        currents = [np.round(np.interp(instants, t, true[p]) * (1 + self.noise(instants.size)), 2)
                    for p in range(s.phases)]
        for k, ti in enumerate(instants):
            context = "Transaction.Begin" if k == 0 else "Transaction.End" if ended and k == instants.size - 1 \
                else "Sample.Periodic"
            late = 60.0 if s.bad_data and k == instants.size // 2 else 0.0  # stamped outside the transaction
            stamp = self.stamp(float(ti) + late)
            tx.samples.append(MeterSample(float(ti) + 0.05, stamp, float(register[k]), "Wh", context=context))
            for p in range(s.phases):
                if p + 1 != s.missing_phase:
                    tx.samples.append(MeterSample(float(ti) + 0.05, stamp, float(currents[p][k]), "A",
                                                  "Current.Import", phase=s.phase_label.format(p=p + 1),
                                                  context=context))
        return tx

    def stamp(self, t_bench: float) -> datetime:
        """The charger's time of a reading taken at `t_bench`, truncated to its resolution."""
        res = self.s.stamp_res_s
        on_charger = t_bench + self.s.clock_offset_s
        return UTC0 + timedelta(seconds=math.floor(round(on_charger / res, 6)) * res if res >= 1.0
                                else math.floor(on_charger * 1000.0) / 1000.0)


def _in_spans(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    out = np.zeros(t.shape, dtype=bool)
    for a, b in spans:
        out |= (t >= a) & (t < b)
    return out


def _merge(points: list) -> list:
    out: list = []
    for t, v in points:
        if not out or out[-1][1] != v:
            out.append((t, v))
    return out


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two check records (or parts of them) differ: the same types and equal values, floats
    compared exactly (NaN equals NaN), no tolerance."""
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return differences(dataclasses.asdict(a), dataclasses.asdict(b), path)
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items, {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return differences(np.asarray(a).tolist(), np.asarray(b).tolist(), path)
    if isinstance(a, Enum) or isinstance(b, Enum):
        return [] if a == b else [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if type(a) is not type(b):  # an int become a numpy int would not even reach record.json
        return [f"{path}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
