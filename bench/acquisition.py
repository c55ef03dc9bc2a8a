"""Samples a position's instruments on the run's one monotonic clock into traces.

A trace is a CSV file streamed to disk as it is sampled (flushed every second,
so a killed run keeps its data) and kept in memory as numpy arrays for the
checks. Columns carry units in their names; a quantity the instrument does not
provide is NaN. `ev_cp_state` is the only text column.
"""
from __future__ import annotations

import asyncio
import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from bench.clock import Clock
from instruments.roles import AcLoad, EvEmulator, InstrumentError, PowerMeter

PHASES = (1, 2, 3)
NUMERIC_COLUMNS = (
    ["t_mono_s"]
    + [f"meter_voltage_l{p}_v" for p in PHASES]
    + [f"meter_current_l{p}_a" for p in PHASES]
    + ["meter_power_total_w", "meter_energy_import_wh"]
    + [f"load_current_l{p}_a" for p in PHASES]
    + ["ev_pwm_duty_pct", "ev_offered_current_a"]
)
TEXT_COLUMNS = ["ev_cp_state"]
COLUMNS = NUMERIC_COLUMNS + TEXT_COLUMNS
_FLUSH_EVERY_S = 1.0


@dataclass
class PositionInstruments:
    """The instruments of one position, by role (any of them may be absent)."""

    meter: PowerMeter | None = None
    loads: list[AcLoad] = field(default_factory=list)  # index 0 = L1
    ev: EvEmulator | None = None


class Trace:
    """Growing in-memory columns (numpy) plus the CSV file they stream to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rows: list[list[float]] = []
        self._states: list[str] = []
        self._file = open(path, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._t_flush = -math.inf

    def append(self, row: dict[str, float | str | None]) -> None:
        values = [_num(row.get(c)) for c in NUMERIC_COLUMNS]
        state = str(row.get("ev_cp_state") or "")
        self._rows.append(values)
        self._states.append(state)
        self._writer.writerow([_fmt(v) for v in values] + [state])
        if values[0] - self._t_flush >= _FLUSH_EVERY_S:
            self.flush()
            self._t_flush = values[0]

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __len__(self) -> int:
        return len(self._rows)

    def columns(self, t_from: float = -math.inf, t_to: float = math.inf) -> dict[str, np.ndarray]:
        """Column arrays for samples with t_from <= t_mono_s <= t_to."""
        data = np.array(self._rows, dtype=float).reshape(-1, len(NUMERIC_COLUMNS))
        states = np.array(self._states, dtype=object)
        mask = (data[:, 0] >= t_from) & (data[:, 0] <= t_to)
        out = {c: data[mask, i] for i, c in enumerate(NUMERIC_COLUMNS)}
        out["ev_cp_state"] = states[mask]
        return out


def read_trace(path: Path) -> dict[str, np.ndarray]:
    """Load a trace CSV written by `Trace` (for reports regenerated from results/)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        col = [r[i] for r in rows]
        out[name] = np.array(col, dtype=object) if name in TEXT_COLUMNS else np.array(
            [float(v) if v not in ("", "nan") else np.nan for v in col], dtype=float)
    return out


def _num(v: float | str | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.6g}" if abs(v) < 1e5 else f"{v:.3f}"


@dataclass
class SamplerStats:
    samples: int = 0
    errors: int = 0
    configured_hz: float = 0.0
    achieved_hz: float = 0.0
    last_error: str = ""


class Sampler:
    """Polls the instruments at `rate_hz` on the clock's schedule (no drift: ticks are
    absolute). A failing instrument read is recorded; after `max_consecutive_errors`
    the sampler stops and `lost` holds the reason, so the run can end in ERROR."""

    def __init__(self, clock: Clock, instruments: PositionInstruments, trace: Trace,
                 rate_hz: float = 10.0, max_consecutive_errors: int = 20) -> None:
        self.clock = clock
        self.instruments = instruments
        self.trace = trace
        self.period_s = 1.0 / rate_hz
        self.stats = SamplerStats(configured_hz=rate_hz)
        self.max_consecutive_errors = max_consecutive_errors
        self.lost: str | None = None
        self._task: asyncio.Task | None = None
        self._t0 = 0.0
        self._base_period_s = self.period_s
        self._rate_changed = asyncio.Event()
        self._base_span_s = 0.0  # time between samples taken at the configured rate (for achieved_hz)
        self._base_gaps = 0

    def start(self) -> None:
        self._t0 = self.clock.monotonic()
        self._task = asyncio.create_task(self._run(), name="sampler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._base_gaps and self._base_span_s > 0:
            self.stats.achieved_hz = round(self._base_gaps / self._base_span_s, 2)
        self.trace.flush()

    def set_rate(self, rate_hz: float | None) -> None:
        """Sample at `rate_hz` from now on (a scenario's own rate, e.g. a 24-hour one that needs no
        10 Hz trace); None returns to the configured rate. The achieved rate is stated for the
        configured rate only."""
        period = self._base_period_s if rate_hz is None else 1.0 / rate_hz
        if period != self.period_s:
            self.period_s = period
            self._rate_changed.set()  # wake a sampler sleeping on the old period

    async def record_final_sample(self) -> None:
        """One more row after teardown put the instruments in the safe state, so the trace
        itself shows the state the bench was left in."""
        row, _ = await self._read_all()  # a lost instrument leaves its columns empty
        self.trace.append(row)
        self.trace.flush()

    async def sample_once(self) -> dict[str, float | str | None]:
        """One row: all instruments read concurrently, stamped at the request time. An
        instrument whose read fails leaves its columns empty; the others are kept."""
        row, failures = await self._read_all()
        if failures:
            raise next(iter(failures.values()))
        return row

    async def _read_all(self) -> tuple[dict[str, float | str | None], dict[str, BaseException]]:
        t = self.clock.monotonic()
        ins = self.instruments
        named: list[tuple[str, Any]] = ([("meter", ins.meter)] if ins.meter else []) + \
            ([("ev", ins.ev)] if ins.ev else []) + [(f"load{i}", load) for i, load in enumerate(ins.loads)]
        results = await asyncio.gather(*(inst.read() for _, inst in named), return_exceptions=True)
        row: dict[str, float | str | None] = {"t_mono_s": t}
        failures: dict[str, BaseException] = {}
        for (key, inst), reading in zip(named, results):
            if isinstance(reading, BaseException):
                if not isinstance(reading, (InstrumentError, OSError, asyncio.TimeoutError)):
                    raise reading
                failures[inst.name] = reading
            elif key == "meter":
                for i, p in enumerate(PHASES):
                    row[f"meter_voltage_l{p}_v"] = _at(reading.voltage_v, i)
                    row[f"meter_current_l{p}_a"] = _at(reading.current_a, i)
                row["meter_power_total_w"] = reading.power_total_w
                row["meter_energy_import_wh"] = reading.energy_import_wh
            elif key == "ev":
                row["ev_cp_state"] = reading.cp_state
                row["ev_pwm_duty_pct"] = reading.pwm_duty_pct
                row["ev_offered_current_a"] = reading.offered_current_a
            else:
                row[f"load_current_l{int(key[4:]) + 1}_a"] = reading.current_a
        return row, failures

    async def _run(self) -> None:
        tick = 0
        consecutive: dict[str, int] = {}
        t_previous: float | None = None
        while True:
            row, failures = await self._read_all()
            self.trace.append(row)
            self.stats.samples += 1
            t = float(cast(float, row["t_mono_s"]))
            if t_previous is not None and self.period_s == self._base_period_s:
                self._base_span_s += t - t_previous
                self._base_gaps += 1
            t_previous = t
            if self._count_failures(failures, consecutive):
                return
            tick += 1
            next_t = self._t0 + tick * self.period_s
            now = self.clock.monotonic()
            if next_t < now:  # overrun: skip missed ticks rather than bunching samples
                tick = int((now - self._t0) / self.period_s) + 1
                next_t = self._t0 + tick * self.period_s
            if await self._rate_change_within(next_t - now):
                self._t0, tick, t_previous = self.clock.monotonic(), 0, None

    def _count_failures(self, failures: dict[str, BaseException], consecutive: dict[str, int]) -> bool:
        """Count failed reads; True when an instrument is lost (`lost` says which and why)."""
        for name in list(consecutive):
            if name not in failures:
                del consecutive[name]
        for name, exc in failures.items():
            self.stats.errors += 1
            self.stats.last_error = str(exc)
            consecutive[name] = consecutive.get(name, 0) + 1
            if consecutive[name] >= self.max_consecutive_errors:
                self.lost = f"{name} lost after {consecutive[name]} failed reads: {exc}"
                self.trace.flush()
                return True
        return False

    async def _rate_change_within(self, seconds: float) -> bool:
        """Sleep `seconds` of clock time; True (early) if the rate changed meanwhile."""
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        changed = asyncio.ensure_future(self._rate_changed.wait())
        try:
            await asyncio.wait([sleep, changed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, changed):
                task.cancel()
        if self._rate_changed.is_set():
            self._rate_changed.clear()
            return True
        return False


def _at(values: list[float | None], i: int) -> float | None:
    return values[i] if i < len(values) else None
