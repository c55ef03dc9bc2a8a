"""The one clock of the bench and the virtual lab.

Every timestamp, wait and integration in `bench/` and in the simulators goes
through a `Clock`, so that the virtual lab can later run faster than real time
by swapping the clock, without touching scenarios or checks.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Protocol


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

    def __init__(self) -> None:
        self._mono0 = time.monotonic()
        self._utc0 = datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def utcnow(self) -> datetime:
        from datetime import timedelta

        return self._utc0 + timedelta(seconds=time.monotonic() - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock(RealClock):
    """The virtual lab's time running `speed` times faster than real time: monotonic and UTC
    advance `speed` seconds per real second and every sleep takes 1/`speed` of its length, so
    every part that runs on the injected clock (charger, plant, instrument simulators, EV model,
    sampler, CSMS waits, steps) sees the same virtual time. Wire protocols stay real; only the
    virtual lab may run on it (a real charger lives in real time)."""

    def __init__(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        super().__init__()
        self.speed = speed
        self._real0 = time.monotonic()

    def monotonic(self) -> float:
        return self._real0 + (time.monotonic() - self._real0) * self.speed

    def utcnow(self) -> datetime:
        from datetime import timedelta

        return self._utc0 + timedelta(seconds=(time.monotonic() - self._real0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def clock_for(speed: float) -> RealClock:
    """The run's clock: real time at speed 1, else the scaled virtual-lab clock."""
    return RealClock() if speed == 1 else ScaledClock(speed)


def iso_utc(dt: datetime) -> str:
    """OCPP style UTC timestamp with milliseconds and a Z suffix."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> datetime:
    """Parse an OCPP timestamp (with Z or an offset) into an aware datetime."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
