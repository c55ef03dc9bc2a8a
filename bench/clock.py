"""The one clock of the bench and the virtual lab.

Every timestamp, wait and integration in `bench/` and in the simulators goes
through a `Clock`. A real bench runs on `RealClock`. The virtual lab may run on
a `WarpClock`: virtual time, either `speed` times faster than real time or, at
`--speed max`, jumping ahead whenever the whole lab is waiting.

Warp is done where every wait ends up: the asyncio event loop. `WarpClock.new_loop()`
makes a loop whose `time()` is the virtual time and whose selector waits the matching
real time, so `clock.sleep`, `asyncio.sleep`, `asyncio.wait_for`, the `ocpp` library's
and websockets' timers all run in the same virtual time. Sockets stay real: a jump only
happens when no socket is readable and no worker thread (pyvisa exchanges, FTP) is
running, i.e. when nothing but a timer can happen next.
"""
from __future__ import annotations

import asyncio
import math
import os
import selectors
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from concurrent.futures import Executor
from typing import Literal, Protocol, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

Speed = float | Literal["max"]
MAX: Literal["max"] = "max"


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a monotonic scale shared by every part of the run."""

    def utcnow(self) -> datetime:
        """Timezone-aware UTC wall time, coherent with `monotonic()`."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""


class RealClock:
    """Wall-clock time. UTC is derived from the monotonic clock and one anchor,
    so the two never disagree within a run (NTP steps do not tear the record)."""

    speed: Speed = 1.0
    kind = "real"

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._utc0 = datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        return self._utc0 + timedelta(seconds=self.monotonic() - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this clock's time runs on."""
        return asyncio.new_event_loop()


class WarpClock(RealClock):
    """Virtual time for the virtual lab: `speed` virtual seconds per real second, or at
    `MAX` real time plus every jump the loop made while the whole lab was idle. Only the
    virtual lab may run on it (a real charger lives in real time); its waits are virtual
    only on the loop it makes (`new_loop()`), which `sleep` insists on."""

    kind = "virtual"

    def __init__(self, speed: Speed) -> None:
        if speed != MAX and not (isinstance(speed, int | float) and 0 < speed < math.inf):
            raise ValueError(f"speed must be a positive number or {MAX!r}, not {speed!r}")
        self.speed = speed
        self._real0 = time.monotonic()
        self._jumped_s = 0.0  # at MAX: virtual time skipped while idle
        self.jumps = 0
        super().__init__()

    def monotonic(self) -> float:
        real = time.monotonic()
        if self.speed == MAX:
            return real + self._jumped_s
        return self._real0 + (real - self._real0) * self.speed

    async def sleep(self, seconds: float) -> None:
        if not isinstance(asyncio.get_running_loop(), WarpLoop):
            raise RuntimeError("a WarpClock's waits run on its own loop: use clock.new_loop()")
        await asyncio.sleep(max(0.0, seconds))

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return WarpLoop(self)

    def real_wait_s(self, virtual_s: float) -> float:
        """How long in real time a wait of `virtual_s` takes at a fixed speed."""
        assert self.speed != MAX
        return virtual_s / self.speed

    def jump(self, virtual_s: float) -> None:
        self._jumped_s += virtual_s
        self.jumps += 1


class _WarpSelector(selectors.DefaultSelector):
    """The loop's selector, waiting real time for virtual time (see WarpLoop)."""

    def __init__(self, clock: WarpClock) -> None:
        super().__init__()
        self.clock = clock
        self.threads_running = 0  # kept by WarpLoop.run_in_executor

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        if self.clock.speed != MAX:
            return super().select(self.clock.real_wait_s(timeout))
        ready = super().select(0)
        if not ready and not self.threads_running:
            # bytes written to a loopback socket can still be on their way (on a busy machine the
            # kernel delivers them later, from its softirq thread): let it run once, then look again
            os.sched_yield()
            ready = super().select(0)
        if ready or self.threads_running:
            # something to do, or a worker thread may still write: wait in real time
            return ready or super().select(timeout)
        self.clock.jump(timeout)  # nothing but a timer can happen next: go there
        return []


class WarpLoop(asyncio.SelectorEventLoop):
    """An event loop on a WarpClock's virtual time (see the module docstring)."""

    def __init__(self, clock: WarpClock) -> None:
        self._warp = _WarpSelector(clock)
        super().__init__(self._warp)
        self.clock = clock

    def time(self) -> float:
        return self.clock.monotonic()

    def run_in_executor(self, executor: Executor | None, func: Callable[[Unpack[Ts]], T],
                        *args: Unpack[Ts]) -> asyncio.Future[T]:
        # a worker thread talks to the lab over sockets the loop cannot see yet: no jumps meanwhile
        future = super().run_in_executor(executor, func, *args)
        self._warp.threads_running += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future) -> None:
        self._warp.threads_running -= 1


async def sleep_or_until(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Sleep `seconds` of `clock` time, ending early once `event` is set; True if the whole
    time passed (a timer that is restarted or woken by something happening)."""
    timer = asyncio.ensure_future(clock.sleep(seconds))
    woken = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({timer, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (timer, woken):
            task.cancel()
        await asyncio.gather(timer, woken, return_exceptions=True)
    return not timer.cancelled()


def clock_for(speed: Speed) -> RealClock:
    """The run's clock: real time at speed 1, else the virtual lab's warp clock."""
    return RealClock() if speed == 1 else WarpClock(speed)


def parse_speed(text: str) -> Speed:
    """A speed as given on a command line: 'max' or a positive number (ValueError otherwise)."""
    if text == MAX:
        return MAX
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"not a number nor {MAX!r}: {text!r}") from None
    if speed <= 0:
        raise ValueError(f"must be above 0, not {speed:g}")
    return speed


def speed_label(speed: Speed) -> str:
    return speed if isinstance(speed, str) else f"{speed:g}"


def iso_utc(dt: datetime) -> str:
    """OCPP style UTC timestamp with milliseconds and a Z suffix."""
    u = dt.astimezone(timezone.utc)  # formatted by hand: strftime was a tenth of a CSMS answer
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
            f".{u.microsecond // 1000:03d}Z")


def parse_iso(text: str) -> datetime:
    """Parse an OCPP timestamp (with Z or an offset) into an aware datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
