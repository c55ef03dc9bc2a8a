"""The sampler tells a scenario's judge when its trace reaches a given time."""
from __future__ import annotations

import asyncio

from bench.acquisition import PositionInstruments, Sampler
from bench.clock import MAX, WarpClock
from bench.trace import Trace


def _run(coro_fn):
    clock = WarpClock(MAX)
    with asyncio.Runner(loop_factory=clock.new_loop) as runner:
        return runner.run(coro_fn(clock))


def test_covered_waits_for_a_row_at_or_after_the_time(tmp_path):
    async def main(clock):
        sampler = Sampler(clock, PositionInstruments(), Trace(tmp_path / "t.csv"), rate_hz=10.0)
        sampler.start()
        t = clock.monotonic() + 0.35
        assert await sampler.covered(t)
        last = sampler.trace.columns(t - 1.0, t + 1.0)["t_mono_s"][-1]
        await sampler.stop()
        return t, last

    t, last = _run(main)
    assert t <= last < t + 0.1 + 1e-9  # the first row at or after it: one period at most


def test_covered_is_false_once_the_sampler_stopped(tmp_path):
    async def main(clock):
        sampler = Sampler(clock, PositionInstruments(), Trace(tmp_path / "t.csv"), rate_hz=10.0)
        sampler.start()
        waiting = asyncio.ensure_future(sampler.covered(clock.monotonic() + 60.0))
        await asyncio.sleep(0.2)
        await sampler.stop()
        return await waiting

    assert _run(main) is False
