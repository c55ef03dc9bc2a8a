"""Samples a position's instruments on the run's one monotonic clock into traces.

A trace is a CSV file streamed to disk as it is sampled (flushed every second,
so a killed run keeps its data) and kept in memory as numpy arrays for the
checks. Columns carry units in their names; a quantity the instrument does not
provide is NaN. `ev_cp_state` is the only text column.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast


from bench.clock import Clock, sleep_or_until
from bench.trace import PHASES, Trace
from instruments.roles import AcLoad, EvEmulator, InstrumentError, LinkLost, PowerMeter

@dataclass
class PositionInstruments:
    """The instruments of one position, by role (any of them may be absent)."""

    meter: PowerMeter | None = None
    loads: list[AcLoad] = field(default_factory=list)  # index 0 = L1
    ev: EvEmulator | None = None


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
        self._last_t: float | None = None  # the time of the last row appended
        self._coverage_waiters: list[tuple[float, asyncio.Future]] = []

    @property
    def task(self) -> asyncio.Task | None:
        """The sampling task (done once the sampler stopped or lost an instrument)."""
        return self._task

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

    async def covered(self, t: float) -> bool:
        """Wait until the trace has a row at or after `t` (at most about one period away while
        sampling); False if the sampler stopped first. A scenario's judge waits for it, so the
        trace covers the scenario to its very end (a message stamped in its last moments too)."""
        if self._last_t is not None and self._last_t >= t:
            return True
        if self._task is None or self._task.done():
            return False
        future = asyncio.get_running_loop().create_future()
        self._coverage_waiters.append((t, future))
        self._task.add_done_callback(lambda _: _settle(future, False))
        return await future

    def _appended(self, t: float) -> None:
        self._last_t = t
        waiting = []
        for t_wanted, future in self._coverage_waiters:
            if future.done():
                continue
            if t >= t_wanted:
                _settle(future, True)
            else:
                waiting.append((t_wanted, future))
        self._coverage_waiters = waiting

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
            self._appended(t)
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
            # a link whose reconnects failed is gone now; other errors (a timeout, a bad reply) get
            # max_consecutive_errors chances
            if isinstance(exc, LinkLost) or consecutive[name] >= self.max_consecutive_errors:
                self.lost = f"{name} lost after {consecutive[name]} failed reads: {exc}"
                self.trace.flush()
                return True
        return False

    async def _rate_change_within(self, seconds: float) -> bool:
        """Sleep `seconds` of clock time; True (early) if the rate changed meanwhile."""
        await sleep_or_until(self.clock, seconds, self._rate_changed)
        if self._rate_changed.is_set():
            self._rate_changed.clear()
            return True
        return False


def _settle(future: asyncio.Future, result: bool) -> None:
    if not future.done():
        future.set_result(result)


def _at(values: list[float | None], i: int) -> float | None:
    return values[i] if i < len(values) else None
