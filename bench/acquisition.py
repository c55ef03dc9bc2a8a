"""Samples a position's instruments on the run's one monotonic clock into traces.

A trace is a CSV file streamed to disk as it is sampled (flushed every second,
so a killed run keeps its data) and kept in memory as numpy arrays for the
checks. Columns carry units in their names; a quantity the instrument does not
provide is NaN. `ev_cp_state` is the only text column.

Each instrument is read on its own: at every tick a read is requested from every
instrument that has none in flight, and the row (stamped at the tick) takes what
each one answered within its read timeout (`read_timeout_s`). An instrument that
does not answer in time costs only its own columns: they stay empty in the rows
until it answers again, the others keep the configured rate, a WARNING names it at
once and the stall is counted (`SamplerStats`). No second read is sent to an
instrument whose previous read is still in flight (a read the sampler gives up on is
cancelled, and its transport brings the link back in step before the next exchange).
Rows are appended in time order, each as soon as its reads are settled, so a
stalled instrument delays the trace by at most its read timeout.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bench.clock import Clock, sleep_or_until
from bench.trace import PHASES, Trace
from instruments.roles import AcLoad, EvEmulator, InstrumentError, LinkLost, PowerMeter

log = logging.getLogger(__name__)
# How long the sampler waits for one instrument's reading. Local readings take milliseconds and a
# Modbus RTU block at 9600 baud about 0.15 s; past this the instrument is stalled: reported at
# once, its columns left empty, the others sampled on (its transport's own timeout, 2 s by
# default, then ends the read and resynchronises the link).
READ_TIMEOUT_S = 0.5
# time-warped (virtual lab): the transports' own timeout. Virtual time then includes the CPU the
# lab waits for, and 0.5 s of it is a busy machine, not a stalled simulator
WARPED_READ_TIMEOUT_S = 2.0
_EPS_S = 1e-6  # a timer may fire a hair before its time
Row = dict[str, float | str | None]
# The loop's own timers wake up to 1 ms late (epoll_wait counts whole milliseconds, and asyncio
# rounds up); on real time a ticker thread wakes the loop at the tick instead, within tens of µs.
# The loop timer stays as a backstop this much later.
TICKER_BACKSTOP_S = 0.002


@dataclass
class PositionInstruments:
    """The instruments of one position, by role (any of them may be absent)."""

    meter: PowerMeter | None = None
    loads: list[AcLoad] = field(default_factory=list)  # index 0 = L1
    ev: EvEmulator | None = None


@dataclass
class InstrumentSampling:
    """How one instrument's reads went."""

    reads: int = 0
    failed: int = 0  # reads that raised, or did not answer within the read timeout (counted once)
    stalls: int = 0  # times it stopped answering in time (a WARNING each)
    rows_without: int = 0  # rows that went out without its columns


@dataclass
class SamplerStats:
    samples: int = 0
    errors: int = 0  # failed reads of all instruments, stalled ones included
    configured_hz: float = 0.0
    achieved_hz: float = 0.0
    last_error: str = ""
    stalls: int = 0  # times an instrument stopped answering within the read timeout
    instruments: dict[str, InstrumentSampling] = field(default_factory=dict)  # by instrument name
    # how late each row's reads were requested after its scheduled tick (the loop's wake-up latency:
    # what the rest of the process cost the sampler), and the ticks skipped after an overrun
    late_p50_ms: float | None = None
    late_p99_ms: float | None = None
    late_max_ms: float | None = None
    skipped_ticks: int = 0


class LatenessHistogram:
    """Bounded-memory distribution of tick lateness: 10 µs bins up to 0.2 s (a run of any length)."""

    BIN_S = 1e-5
    BINS = 20_000

    def __init__(self) -> None:
        self.counts = [0] * (self.BINS + 1)  # the last bin holds everything from 0.2 s on
        self.n = 0
        self.max_s = 0.0

    def add(self, late_s: float) -> None:
        late_s = max(0.0, late_s)
        self.counts[min(int(late_s / self.BIN_S), self.BINS)] += 1
        self.n += 1
        self.max_s = max(self.max_s, late_s)

    def quantile_ms(self, q: float) -> float | None:
        """The upper edge of the bin holding quantile `q` (so never optimistic by more than a bin)."""
        if not self.n:
            return None
        wanted, seen = q * self.n, 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= wanted and c:
                edge = self.max_s if i == self.BINS else min((i + 1) * self.BIN_S, self.max_s)
                return round(edge * 1e3, 3)
        return round(self.max_s * 1e3, 3)


@dataclass
class _Channel:
    """One instrument as the sampler reads it: at most one read in flight."""

    key: str  # which columns: "meter", "ev", "load0".."load2"
    instrument: Any
    stats: InstrumentSampling
    read: asyncio.Task | None = None
    late: bool = False  # the read in flight missed its row (already counted as failed)
    stalled_since: float | None = None  # the first read that missed its row, until one answers in time
    consecutive: int = 0  # failed reads in a row

    @property
    def name(self) -> str:
        return str(self.instrument.name)

    @property
    def busy(self) -> bool:
        return self.read is not None and not self.read.done()


class _Ticker:
    """Sets an asyncio.Event at a given time of a real-time clock, from a thread whose timed wait
    has microsecond resolution. One long-lived thread per sampler; `close()` ends it."""

    def __init__(self, clock: Clock, event: asyncio.Event) -> None:
        self._clock, self._event = clock, event
        self._loop = asyncio.get_running_loop()
        self._cond = threading.Condition()
        self._at: float | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="sampler-ticker", daemon=True)
        self._thread.start()

    def wake_at(self, t: float) -> None:
        with self._cond:
            earlier = self._at is None or t < self._at
            self._at = t
            if earlier:  # a later target: the thread finds it when it wakes for the old one
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                if self._at is None:
                    self._cond.wait()
                    continue
                delay = self._at - self._clock.monotonic()
                if delay > 0:
                    self._cond.wait(delay)  # a new target or close() wakes it early
                    continue
                self._at = None
                try:
                    self._loop.call_soon_threadsafe(self._event.set)
                except RuntimeError:  # the loop closed under us
                    return


@dataclass
class _PendingRow:
    t: float
    reads: dict[str, asyncio.Task]  # channel key -> the read requested at t


class Sampler:
    """Polls the instruments at `rate_hz` on the clock's schedule (no drift: ticks are
    absolute). A failing instrument read is recorded; after `max_consecutive_errors`
    (or at once for a lost link) the sampler stops and `lost` holds the reason, so the
    run can end in ERROR."""

    def __init__(self, clock: Clock, instruments: PositionInstruments, trace: Trace,
                 rate_hz: float = 10.0, max_consecutive_errors: int = 20,
                 read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.clock = clock
        self.instruments = instruments
        self.trace = trace
        self.period_s = 1.0 / rate_hz
        self.read_timeout_s = read_timeout_s
        self.stats = SamplerStats(configured_hz=rate_hz)
        self.max_consecutive_errors = max_consecutive_errors
        self.lost: str | None = None
        self._task: asyncio.Task | None = None
        self._t0 = 0.0
        self._base_period_s = self.period_s
        self._rate_changed = asyncio.Event()
        self._wake = asyncio.Event()  # a read settled something, or the rate changed
        self._base_span_s = 0.0  # time between samples taken at the configured rate (for achieved_hz)
        self._base_gaps = 0
        self._t_previous: float | None = None  # the last row appended at the configured rate
        self._last_t: float | None = None  # the time of the last row appended
        self._coverage_waiters: list[tuple[float, asyncio.Future]] = []
        self._channels = self._make_channels(instruments)
        self._rows: deque[_PendingRow] = deque()
        self.lateness = LatenessHistogram()
        self._ticker: _Ticker | None = None

    def _make_channels(self, ins: PositionInstruments) -> dict[str, _Channel]:
        named: list[tuple[str, Any]] = ([("meter", ins.meter)] if ins.meter else []) + \
            ([("ev", ins.ev)] if ins.ev else []) + [(f"load{i}", load) for i, load in enumerate(ins.loads)]
        channels = {}
        for key, inst in named:
            channels[key] = _Channel(key, inst, self.stats.instruments.setdefault(inst.name, InstrumentSampling()))
        return channels

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
        late = self.lateness
        self.stats.late_p50_ms, self.stats.late_p99_ms = late.quantile_ms(0.5), late.quantile_ms(0.99)
        self.stats.late_max_ms = round(late.max_s * 1e3, 3) if late.n else None
        self.trace.flush()

    def set_rate(self, rate_hz: float | None) -> None:
        """Sample at `rate_hz` from now on (a scenario's own rate, e.g. a 24-hour one that needs no
        10 Hz trace); None returns to the configured rate. The achieved rate is stated for the
        configured rate only."""
        period = self._base_period_s if rate_hz is None else 1.0 / rate_hz
        if period != self.period_s:
            self.period_s = period
            self._rate_changed.set()
            self._wake.set()  # wake a sampler sleeping on the old period

    async def covered(self, t: float) -> bool:
        """Wait until the trace has a row at or after `t` (at most about one period away while
        sampling, plus a stalled instrument's read timeout); False if the sampler stopped first.
        A scenario's judge waits for it, so the trace covers the scenario to its very end (a
        message stamped in its last moments too)."""
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
        row, _ = await self._read_once()  # a lost or stalled instrument leaves its columns empty
        self.trace.append(row)
        self.trace.flush()

    async def sample_once(self) -> Row:
        """One row: all instruments read concurrently, stamped at the request time. An
        instrument whose read fails leaves its columns empty; the others are kept."""
        row, failures = await self._read_once()
        if failures:
            raise next(iter(failures.values()))
        return row

    async def _read_once(self) -> tuple[Row, dict[str, BaseException]]:
        """Every instrument without a read in flight read once, each given the read timeout; reads
        still running then are cancelled (their transports keep the link safe)."""
        t = self.clock.monotonic()
        reads = {key: asyncio.ensure_future(ch.instrument.read())
                 for key, ch in self._channels.items() if not ch.busy}
        if reads:
            await asyncio.wait(reads.values(), timeout=self.read_timeout_s)
        row: Row = {"t_mono_s": t}
        failures: dict[str, BaseException] = {}
        for key, task in reads.items():
            name = self._channels[key].name
            if not task.done():
                task.cancel()
                failures[name] = InstrumentError(f"{name}: no answer within {self.read_timeout_s:g} s")
            elif (exc := _failure(task)) is not None:
                failures[name] = exc
            else:
                row.update(_columns(key, task.result()))
        await asyncio.gather(*reads.values(), return_exceptions=True)
        return row, failures

    # ---- the sampling loop ------------------------------------------------------------------
    async def _run(self) -> None:
        tick = 0
        scheduled = self._t0
        if getattr(self.clock, "kind", None) == "real":
            self._ticker = _Ticker(self.clock, self._wake)
        try:
            while True:
                if self._settle_reads():
                    break
                now = self.clock.monotonic()
                self._rows.append(self._request(now))
                self.lateness.add(now - scheduled)
                tick += 1
                next_t = self._t0 + tick * self.period_s
                if next_t < now:  # overrun: skip missed ticks rather than bunching samples
                    skip_to = int((now - self._t0) / self.period_s) + 1
                    self.stats.skipped_ticks += skip_to - tick
                    tick = skip_to
                    next_t = self._t0 + tick * self.period_s
                scheduled = next_t
                outcome = await self._serve_until(next_t)
                if outcome == "lost":
                    break
                if outcome == "rate":
                    self._t0, tick, self._t_previous = self.clock.monotonic(), 0, None
                    scheduled = self._t0
            self.trace.flush()  # an instrument is lost: what was read so far is on disk
        finally:
            if self._ticker is not None:
                self._ticker.close()
                self._ticker = None
            await self._cancel_reads()

    def _request(self, t: float) -> _PendingRow:
        """A read from every instrument that has none in flight, for the row stamped `t`."""
        reads = {}
        for key, ch in self._channels.items():
            if ch.busy:
                continue
            ch.read = asyncio.ensure_future(ch.instrument.read())
            ch.read.add_done_callback(self._read_done)
            ch.late = False
            reads[key] = ch.read
        return _PendingRow(t, reads)

    def _read_done(self, task: asyncio.Task) -> None:
        # wake the loop when the oldest row is complete, or a read failed (a lost link ends sampling)
        if task.cancelled() or task.exception() is not None or self._head_ready():
            self._wake.set()

    def _head_ready(self) -> bool:
        return bool(self._rows) and all(task.done() for task in self._rows[0].reads.values())

    async def _serve_until(self, next_t: float) -> str | None:
        """Settle reads and append finished rows until the next tick. "lost" if an instrument was
        given up, "rate" if the rate changed first."""
        while True:
            if self._settle_reads():
                return "lost"
            now = self.clock.monotonic()
            if self._append_rows(now):
                return "lost"
            if self._rate_changed.is_set():
                self._rate_changed.clear()
                return "rate"
            if now + _EPS_S >= next_t:
                return None
            wake_at = min(next_t, self._rows[0].t + self.read_timeout_s) if self._rows else next_t
            if self._ticker is None:
                await sleep_or_until(self.clock, max(0.0, wake_at - now), self._wake)
                continue
            # real time: the ticker sets _wake at wake_at (one loop hop, no timer tasks)
            self._ticker.wake_at(wake_at)
            backstop = asyncio.get_running_loop().call_later(max(0.0, wake_at - now) + TICKER_BACKSTOP_S,
                                                             self._wake.set)
            try:
                await self._wake.wait()
            finally:
                backstop.cancel()

    def _settle_reads(self) -> bool:
        """Account for every read that ended; True when an instrument is lost."""
        self._wake.clear()
        for ch in self._channels.values():
            if ch.read is not None and ch.read.done() and self._settle(ch):
                self._append_rows(self.clock.monotonic(), force=True)  # what was read so far is kept
                return True
        return False

    def _settle(self, ch: _Channel) -> bool:
        """One ended read: a success ends a stall if it came in time; a failure is counted (once:
        a stalled read was counted when it missed its row). True when the instrument is lost."""
        task, ch.read = ch.read, None
        assert task is not None
        ch.stats.reads += 1
        exc = _failure(task)
        if exc is None:
            ch.consecutive = 0
            if not ch.late and ch.stalled_since is not None:
                log.info("%s: answering in time again after %.1f s", ch.name,
                         self.clock.monotonic() - ch.stalled_since)
                ch.stalled_since = None
            return False
        if not isinstance(exc, (InstrumentError, OSError, asyncio.TimeoutError, asyncio.CancelledError)):
            raise exc  # a defect, not an instrument failure
        self.stats.last_error = str(exc)
        if not ch.late:
            self._count_failure(ch)
        return self._gives_up(ch, exc)

    def _count_failure(self, ch: _Channel) -> None:
        self.stats.errors += 1
        ch.stats.failed += 1
        ch.consecutive += 1

    def _gives_up(self, ch: _Channel, exc: BaseException) -> bool:
        # a link whose reconnects failed is gone now; other errors (a timeout, a bad reply, no answer
        # in time) get max_consecutive_errors chances
        if isinstance(exc, LinkLost) or ch.consecutive >= self.max_consecutive_errors:
            self.lost = f"{ch.name} lost after {ch.consecutive} failed reads: {exc}"
            return True
        return False

    def _append_rows(self, now: float, force: bool = False) -> bool:
        """Append the oldest rows whose reads all ended or ran out of time (all of them if
        `force`); True when an instrument failed too often (a stall counts as a failed read)."""
        while self._rows:
            row = self._rows[0]
            pending = [key for key, task in row.reads.items() if not task.done()]
            if pending and not force and now + _EPS_S < row.t + self.read_timeout_s:
                return False
            self._rows.popleft()
            # every stalled instrument is noted, not just the first
            lost = not force and any([self._missed(self._channels[key], now) for key in pending])
            self._append(self._row_values(row), row.t)
            if lost:
                self._append_rows(now, force=True)  # what was read so far is kept
                return True
        return False

    def _missed(self, ch: _Channel, now: float) -> bool:
        """The read in flight missed its row: counted as failed (once), a WARNING at the start of a
        stall. True when that makes too many failures in a row."""
        if ch.late:
            return False
        ch.late = True
        self._count_failure(ch)
        if ch.stalled_since is None:
            ch.stalled_since = now
            ch.stats.stalls += 1
            self.stats.stalls += 1
            log.warning("%s: stalled, no answer within %g s: its columns stay empty until it answers; the other "
                        "instruments are sampled on", ch.name, self.read_timeout_s)
        message = f"{ch.name}: no answer within {self.read_timeout_s:g} s"
        self.stats.last_error = message
        return self._gives_up(ch, InstrumentError(message))

    def _row_values(self, row: _PendingRow) -> Row:
        values: Row = {"t_mono_s": row.t}
        for key, ch in self._channels.items():
            task = row.reads.get(key)
            if task is not None and task.done() and _failure(task) is None:
                values.update(_columns(key, task.result()))
            else:
                ch.stats.rows_without += 1
        return values

    def _append(self, row: Row, t: float) -> None:
        self.trace.append(row)
        self.stats.samples += 1
        self._appended(t)
        if self._t_previous is not None and self.period_s == self._base_period_s:
            self._base_span_s += t - self._t_previous
            self._base_gaps += 1
        self._t_previous = t

    async def _cancel_reads(self) -> None:
        tasks = {ch.read for ch in self._channels.values() if ch.read is not None}
        tasks |= {task for row in self._rows for task in row.reads.values()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in self._channels.values():
            ch.read, ch.late = None, False
        self._rows.clear()


def _failure(task: asyncio.Future) -> BaseException | None:
    if task.cancelled():
        return asyncio.CancelledError()
    return task.exception()


def _columns(key: str, reading: Any) -> Row:
    """The trace columns of one instrument's reading."""
    if key == "meter":
        row: Row = {}
        for i, p in enumerate(PHASES):
            row[f"meter_voltage_l{p}_v"] = _at(reading.voltage_v, i)
            row[f"meter_current_l{p}_a"] = _at(reading.current_a, i)
        row["meter_power_total_w"] = reading.power_total_w
        row["meter_energy_import_wh"] = reading.energy_import_wh
        return row
    if key == "ev":
        return {"ev_cp_state": reading.cp_state, "ev_pwm_duty_pct": reading.pwm_duty_pct,
                "ev_offered_current_a": reading.offered_current_a}
    return {f"load_current_l{int(key[4:]) + 1}_a": reading.current_a}


def _settle(future: asyncio.Future, result: bool) -> None:
    if not future.done():
        future.set_result(result)


def _at(values: list[float | None], i: int) -> float | None:
    return values[i] if i < len(values) else None
