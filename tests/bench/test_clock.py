"""The warp clock: virtual time on the event loop, real sockets underneath."""
from __future__ import annotations

import asyncio
import time

import pytest

from bench.clock import MAX, RealClock, WarpClock, clock_for


def _run(clock: RealClock, coro):
    with asyncio.Runner(loop_factory=clock.new_loop) as runner:
        return runner.run(coro)


def test_the_clock_for_a_speed():
    assert type(clock_for(1)) is RealClock
    assert isinstance(clock_for(50), WarpClock) and isinstance(clock_for(MAX), WarpClock)
    with pytest.raises(ValueError, match="speed"):
        WarpClock(0)


def test_a_fixed_speed_runs_every_timer_faster():
    clock = WarpClock(50)

    async def main():
        real0, mono0, utc0 = time.monotonic(), clock.monotonic(), clock.utcnow()
        await clock.sleep(5.0)  # 0.1 s of real time
        await asyncio.wait_for(asyncio.sleep(5.0), timeout=6.0)  # the loop's own timers too
        return time.monotonic() - real0, clock.monotonic() - mono0, (clock.utcnow() - utc0).total_seconds()

    real, virtual, utc = _run(clock, main())
    assert virtual >= 10.0
    assert utc == pytest.approx(virtual, abs=0.5)
    assert real < 8.0  # far less than the 10 virtual seconds, even on a loaded machine


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        await asyncio.sleep(0.05)  # the peer takes 50 ms of virtual time to answer
        writer.write(line)
        await writer.drain()
    writer.close()


def test_max_speed_jumps_only_while_everything_waits():
    clock = WarpClock(MAX)

    async def main():
        server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        real0, mono0 = time.monotonic(), clock.monotonic()
        for _ in range(200):
            writer.write(b"ping\n")
            await writer.drain()
            # a jump while the answer is on its way would fire this timeout: it never does
            assert await asyncio.wait_for(reader.readline(), timeout=0.5) == b"ping\n"
            await clock.sleep(30.0)
        elapsed = clock.monotonic() - mono0, time.monotonic() - real0
        before = clock.monotonic()
        await asyncio.to_thread(time.sleep, 0.2)  # a worker thread: no jump meanwhile
        in_thread = clock.monotonic() - before
        writer.close()
        server.close()
        await server.wait_closed()
        return elapsed, in_thread

    (virtual, real), in_thread = _run(clock, main())
    assert virtual == pytest.approx(200 * 30.05, abs=real + 1)  # 100 virtual minutes
    assert real < 30
    assert clock.jumps >= 200
    assert 0.2 <= in_thread < 2.0  # real time, not a jump


def test_warp_sleep_refuses_a_foreign_loop():
    clock = WarpClock(10)
    with pytest.raises(RuntimeError, match="new_loop"):
        asyncio.run(clock.sleep(1))
