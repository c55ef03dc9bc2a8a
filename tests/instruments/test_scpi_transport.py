"""The SCPI transport's two paths: raw sockets on the event loop (no thread, no pyvisa), INSTR
sessions in one long-lived worker thread per instrument; and a cancelled exchange, which may leave
a reply in flight, followed by an exchange that still gets its own answer."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pyvisa.resources import MessageBasedResource

from bench.clock import MAX, WarpClock
from bench.sim.instruments.registry import start_simulator
from bench.sim.plant import Plant
from instruments.iec61851 import CpState
from instruments.registry import create_instrument
from instruments.transports.scpi import ScpiIO, ScpiTransport

IDN = "EVBENCH,REF-EV-EMULATOR,SIM0001,1.0.0"


async def _cancel_mid_query(transport: ScpiTransport, command: str) -> None:
    """Start `command` and cancel it once it is written and waits for its reply."""
    written = asyncio.Event()

    async def steps(io: ScpiIO) -> str:
        await io.write(command)
        io.awaiting_reply = True  # as query() does: the reply is owed from here on
        written.set()
        return await io.read()

    task = asyncio.create_task(transport.exchange(steps, what=command))
    await written.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# ---- a cancelled exchange ---------------------------------------------------------------------------
async def test_a_reply_left_by_a_cancelled_query_is_not_the_answer_to_the_next_one(plant, sim):
    running = await sim("reference_ev_emulator", plant)
    link = ScpiTransport("raw", running.address)
    await link.open()
    try:
        await _cancel_mid_query(link, "*IDN?")
        assert link.out_of_step  # its reply is on its way
        assert await link.query("CP:STATE?") == "A"  # not the *IDN? reply, which arrives meanwhile
        assert not link.out_of_step
        await _cancel_mid_query(link, "*IDN?")
        await asyncio.sleep(0.02)  # the reply has arrived unread by now
        assert await link.query("CP:STATE?") == "A"
        assert await link.query("SYST:ERR?") == '0,"No error"'  # the resync left nothing queued
        assert await link.query("*IDN?") == IDN
    finally:
        await link.close()


async def test_a_query_cancelled_while_the_instrument_is_stalled_is_resynchronised(plant, sim, driver):
    # the late reply arrives during the next exchange's resync: read and dropped there
    running = await sim("reference_ev_emulator", plant)
    ev = await driver("reference_ev_emulator", running.address, timeout_s=0.5)
    running.device.stall(0.2)
    read = asyncio.create_task(ev.read())
    await asyncio.sleep(0.05)
    read.cancel()
    await asyncio.gather(read, return_exceptions=True)
    assert ev.transport.out_of_step
    plant.set_pwm(True, 25.0)
    await ev.set_cp_state("C")  # its SYST:ERR? gets its own 0,"No error"
    assert plant.ev_cp_state == CpState.C
    assert (await ev.read()).cp_state == "C"
    assert not ev.transport.out_of_step


async def test_a_write_only_exchange_cancelled_leaves_the_link_in_step(plant, sim):
    running = await sim("reference_ev_emulator", plant)
    link = ScpiTransport("raw", running.address)
    await link.open()
    try:
        task = asyncio.create_task(link.write("CP:STATE B"))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not link.out_of_step  # nothing was owed: no resync round trip
        assert await link.query("*IDN?") == IDN
    finally:
        await link.close()


# ---- raw socket: on the loop ---------------------------------------------------------------------------
async def test_socket_exchanges_run_on_the_loop_without_a_thread_or_pyvisa(plant, sim, monkeypatch):
    running = await sim("reference_ev_emulator", plant)
    loop = asyncio.get_running_loop()
    hops = []
    monkeypatch.setattr(loop, "run_in_executor", lambda *args: hops.append(args))
    monkeypatch.setattr(MessageBasedResource, "read", lambda *_: pytest.fail("pyvisa used on a raw socket"))
    threads = {t.ident for t in threading.enumerate()}
    link = ScpiTransport("raw", running.address)
    await link.open()
    seen = set()

    async def steps(io: ScpiIO) -> str:
        seen.add(threading.get_ident())
        return await io.query("CP:STATE?")

    try:
        replies = [await link.exchange(steps, what="CP:STATE?") for _ in range(20)]
    finally:
        await link.close()
    assert replies == ["A"] * 20
    assert seen == {threading.get_ident()}  # the loop's thread
    assert hops == [] and {t.ident for t in threading.enumerate()} == threads


# ---- INSTR (VXI-11): one worker thread per instrument ---------------------------------------------------
@pytest.fixture
def pyvisa_threads(monkeypatch) -> set[int]:
    """The threads pyvisa-py reads in."""
    seen: set[int] = set()
    original = MessageBasedResource.read

    def read(self, *args, **kwargs):
        seen.add(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MessageBasedResource, "read", read)
    return seen


def _workers(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"scpi-{name}")]


async def test_instr_exchanges_share_one_worker_thread_which_close_ends(plant, sim, driver, pyvisa_threads):
    running = await sim("yokogawa_wt300", plant, framing="vxi11", model="WT333")
    meter = await driver("yokogawa_wt300", running.address)
    for _ in range(20):
        assert (await meter.read()).voltage_v == pytest.approx([230.0] * 3)
    assert len(pyvisa_threads) == 1 and threading.get_ident() not in pyvisa_threads
    workers = _workers(meter.name)
    assert [t.ident for t in workers] == list(pyvisa_threads)
    await meter.close()
    workers[0].join(timeout=2.0)
    assert not workers[0].is_alive()


async def test_instr_query_cancelled_in_the_worker_is_resynchronised_in_the_same_worker(plant, sim, driver,
                                                                                      pyvisa_threads):
    # the cancelled query keeps the worker until it ends (a thread cannot be stopped); the next exchange
    # queues behind it in the same worker, then clears the device (*CLS, *OPC?) before its own query.
    # (The VXI-11 simulator answers a read with nothing to read at once: a stalled read cannot be held
    # open here, the hand-over to the worker is what gets cancelled.)
    running = await sim("yokogawa_wt300", plant, framing="vxi11", model="WT333")
    meter = await driver("yokogawa_wt300", running.address)
    read = asyncio.create_task(meter.read())
    while not meter.transport._io.awaiting_reply:  # the query is in the worker
        await asyncio.sleep(0)
    read.cancel()
    await asyncio.gather(read, return_exceptions=True)
    assert meter.transport.out_of_step
    assert (await meter.identify()).model == "WT333"
    assert (await meter.read()).frequency_hz == pytest.approx(50.0)
    assert not meter.transport.out_of_step and len(pyvisa_threads) == 1
    assert running.device.execute_line(":STATUS:ERROR?") == ['0,"No error"']


def test_instr_exchanges_on_the_warp_loop_keep_virtual_time_still_while_the_worker_runs(monkeypatch):
    # the worker's calls go through the loop's run_in_executor: the warp loop sees a thread running and
    # waits in real time instead of jumping to its next timer while pyvisa talks to the simulator
    original = MessageBasedResource.read

    def slow_read(self, *args, **kwargs):  # an instrument that takes its time: the loop sits idle meanwhile
        time.sleep(0.02)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MessageBasedResource, "read", slow_read)
    clock = WarpClock(MAX)
    loop = clock.new_loop()

    async def main() -> float:
        plant = Plant(clock)
        running = await start_simulator("yokogawa_wt300", plant, "127.0.0.1", 0, framing="vxi11", model="WT333")
        meter = create_instrument("meter", "yokogawa_wt300", running.address)
        try:
            await meter.open()
            # a far timer: at max speed an idle loop jumps straight to it
            far = loop.call_later(3600.0, lambda: None)
            t0 = clock.monotonic()
            for _ in range(10):
                assert (await meter.read()).voltage_v == pytest.approx([230.0] * 3)
            far.cancel()
            return clock.monotonic() - t0
        finally:
            await meter.close()
            await running.close()

    try:
        assert loop.run_until_complete(main()) < 60.0  # no jump to the hour-long timer
    finally:
        loop.close()
