"""A clock for unit tests of bench code: time moves only when the test moves it.

Plant, meters, drivers, the EV model and steps take a `bench.clock.Clock`; a test hands them a
`ManualClock` to make every time exact (energy after exactly one hour, a reaction within
exactly N polls) and to skip waits without spending real time. A bench test (the `bench` and
`position` fixtures) runs on the bench's own clock instead, never on this one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.clock import Clock

# far from today: a timestamp with this date came from the injected clock, not datetime.now()
DEFAULT_UTC = datetime(2031, 1, 1, tzinfo=timezone.utc)


class ManualClock:
    """A `bench.clock.Clock` that reads `t` seconds and `utc` at the start, and moves only when
    `t` is set, `advance()`d or `tick()`ed, or `sleep()` is awaited: `sleep` advances the time at
    once, without waiting and without yielding to the event loop. `utcnow()` moves with
    `monotonic()` (the two never disagree, as the Clock protocol requires).

    With `quantum_s`, time is a whole number of quanta (`ticks * quantum_s`), so a long walk in
    small steps has no float drift: every time set, advanced or slept is rounded to the nearest
    quantum (a sleep shorter than half a quantum does not move it)."""

    def __init__(self, t: float = 0.0, *, utc: datetime = DEFAULT_UTC, quantum_s: float | None = None) -> None:
        if utc.tzinfo is None:
            raise ValueError(f"utc must be timezone-aware, not {utc!r}")
        if quantum_s is not None and not quantum_s > 0:
            raise ValueError(f"quantum_s must be above 0, not {quantum_s!r}")
        self.quantum_s = quantum_s
        self.ticks = 0  # whole quanta, with quantum_s
        self._t = 0.0  # seconds, without
        self.t = t
        self._t_start = self.t
        self._utc_start = utc

    @property
    def t(self) -> float:
        return self.ticks * self.quantum_s if self.quantum_s is not None else self._t

    @t.setter
    def t(self, seconds: float) -> None:
        if self.quantum_s is not None:
            self.ticks = round(seconds / self.quantum_s)
        else:
            self._t = float(seconds)

    def advance(self, seconds: float) -> None:
        if self.quantum_s is not None:
            self.ticks += round(seconds / self.quantum_s)
        else:
            self._t += seconds

    def tick(self, n: int = 1) -> None:
        """Move `n` quanta on (a clock with `quantum_s`)."""
        if self.quantum_s is None:
            raise ValueError("tick() needs a clock with quantum_s")
        self.ticks += n

    def monotonic(self) -> float:
        return self.t

    def utcnow(self) -> datetime:
        return self._utc_start + timedelta(seconds=self.t - self._t_start)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


if TYPE_CHECKING:
    _satisfies_the_protocol: Clock = ManualClock()
