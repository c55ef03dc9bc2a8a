"""A simulated instrument link that stops answering for a while, then answers late.

What a busy instrument or a congested gateway does: requests keep arriving and are
kept in order; nothing comes back until the stall is over; then the device works
through what it was sent and the late replies go out in order. Each server applies it
the way its wire protocol does (`ScpiServer`: the input waits unread; `Vxi11Server`:
written messages wait unexecuted and reads find no reply; Modbus: replies are held
back, each with its own transaction id).

Tests start one with `stall(seconds)` on the simulated instrument
(`RunningSimulator.device`). The time runs on the event loop's clock (the run's clock
in the virtual lab); simulators never read the time themselves.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable


class LinkStall:
    """Whether the link is stalled, and what waits for the end of the stall."""

    def __init__(self) -> None:
        self.stalls = 0  # how many stalls were started (for tests)
        self._over = asyncio.Event()
        self._over.set()
        self._timer: asyncio.TimerHandle | None = None
        self._held: list[Callable[[], None]] = []

    @property
    def active(self) -> bool:
        return not self._over.is_set()

    def start(self, seconds: float) -> None:
        """Answer nothing for `seconds` from now (a stall already running is extended)."""
        if seconds <= 0:
            raise ValueError(f"a stall lasts a positive time, not {seconds!r} s")
        if self._timer is not None:
            self._timer.cancel()
        self.stalls += 1
        self._over.clear()
        self._timer = asyncio.get_running_loop().call_later(seconds, self.end)

    def end(self) -> None:
        """Answer again: what was held back goes out in order."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        held, self._held = self._held, []
        self._over.set()
        for release in held:
            release()

    async def passed(self) -> None:
        """Return once the link is not stalled (at once if it is not)."""
        await self._over.wait()

    def hold(self, release: Callable[[], None]) -> None:
        """Run `release` when the stall ends (at once if there is none)."""
        if self.active:
            self._held.append(release)
        else:
            release()
