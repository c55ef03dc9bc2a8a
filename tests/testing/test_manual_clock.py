"""The shared manual clock of unit tests (bench/testing/clock.py, fixture `manual_clock`)."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from bench.clock import sleep_or_until
from bench.testing.clock import DEFAULT_UTC, ManualClock

UTC0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


def test_the_fixture_starts_at_zero_on_the_default_anchor(manual_clock):
    assert manual_clock.monotonic() == 0.0 and manual_clock.utcnow() == DEFAULT_UTC


def test_utc_is_the_anchor_at_the_start_and_moves_with_the_monotonic_time():
    clock = ManualClock(1000.0, utc=UTC0)
    assert clock.monotonic() == 1000.0 and clock.utcnow() == UTC0
    clock.t = 1012.5
    assert clock.utcnow() == UTC0 + timedelta(seconds=12.5)
    clock.advance(0.5)
    assert (clock.monotonic(), clock.utcnow()) == (1013.0, UTC0 + timedelta(seconds=13))


async def test_sleep_advances_the_time_without_waiting():
    clock = ManualClock()
    real0 = time.monotonic()
    await clock.sleep(3600.0)
    await clock.sleep(-5.0)  # a wait already over does not turn time back
    assert clock.monotonic() == 3600.0
    assert time.monotonic() - real0 < 1.0


async def test_a_timer_on_the_clock_runs_out():
    clock = ManualClock()
    assert await sleep_or_until(clock, 30.0, asyncio.Event()) is True
    assert clock.monotonic() == 30.0


def test_a_quantum_keeps_long_walks_exact():
    plain, quantized = ManualClock(), ManualClock(quantum_s=0.1)
    for _ in range(1000):
        plain.advance(0.1)
        quantized.tick()
    assert plain.t != 100.0  # float drift: what the quantum is for
    assert quantized.t == 100.0 and quantized.ticks == 1000
    quantized.advance(0.26)  # rounded to whole quanta
    assert quantized.ticks == 1003
    quantized.t = 5.04
    assert quantized.ticks == 50


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(utc=datetime(2031, 1, 1))
    with pytest.raises(ValueError, match="quantum_s"):
        ManualClock(quantum_s=0.0)
    with pytest.raises(ValueError, match="quantum_s"):
        ManualClock().tick()
