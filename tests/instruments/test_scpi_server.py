"""The SCPI simulator base: header forms, compound lines, error queue, status register,
and the Chroma 'read the reply before the next command' rule over a real socket."""
from __future__ import annotations

import asyncio

import pytest

from bench.sim.instruments.chroma_63800_sim import Chroma63800Sim
from bench.sim.instruments.ev_emulator_sim import EvEmulatorSim
from bench.sim.instruments.scpi_server import ERROR_QUEUE_SIZE, ScpiServer
from instruments.iec61851 import CpState


@pytest.fixture
def ev(plant) -> EvEmulatorSim:
    return EvEmulatorSim(plant)


@pytest.fixture
def load(plant) -> Chroma63800Sim:
    return Chroma63800Sim(plant, phase=1)


@pytest.mark.parametrize(
    "line", ["MEAS:CURR?", "MEASure:CURRent?", "measure:current?", "Meas:Curr?", ":MEAS:CURR?", "  meas:curr?  "]
)
def test_short_long_case_and_leading_colon_are_the_same_command(plant, load, line):
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=12.5)
    assert load.execute_line(line) == ["12.5000"]
    assert load.errors == type(load.errors)()  # nothing queued


def test_optional_node_and_numeric_mode(load):
    load.execute_line("LOAD:MODE POW")
    assert load.execute_line("MODE?") == ["POW"]
    load.execute_line("mode 0")
    assert load.execute_line("LOAD:MODE?") == ["CURR"]


def test_compound_line_uses_the_scpi_path_rule(plant, ev):
    plant.set_pwm(True, 25.0)
    ev.execute_line("CP:STATE B")
    # DUTY? and VOLT? resolve relative to CP:, *IDN? is a common command anywhere
    assert ev.execute_line("CP:STATE?;DUTY?;VOLT?") == ["B", "25.00", "9.00"]
    assert ev.execute_line("*IDN?;CP:FREQ?") == ["EVBENCH,REF-EV-EMULATOR,SIM0001,1.0.0", "1000.0"]
    assert ev.execute_line("CP:STATE C;:PP:RES 680;:PP:RES?") == ["680"]
    assert plant.ev_cp_state == CpState.C


def test_unknown_header_is_queued_with_its_status_bit(ev):
    assert ev.execute_line("CP:BOGUS 3") == []
    assert ev.execute_line("*ESR?") == ["32"]  # command error
    assert ev.execute_line("*ESR?") == ["0"]  # reading clears it
    assert ev.execute_line("SYST:ERR?") == ['-113,"Undefined header; CP:BOGUS 3"']
    assert ev.execute_line("SYSTem:ERRor:NEXT?") == ['0,"No error"']


def test_an_error_stops_the_rest_of_the_line(plant, ev):
    ev.execute_line("CP:STATE Q;CP:STATE C")
    assert plant.ev_cp_state == CpState.A
    assert ev.execute_line("SYST:ERR?") == ['-224,"Illegal parameter value; Q"']


def test_range_and_type_errors(ev):
    ev.execute_line("PP:RES -5")
    ev.execute_line("PP:RES abc")
    ev.execute_line("PP:RES")
    assert ev.execute_line("SYST:ERR?;SYST:ERR?;SYST:ERR?") == [
        '-222,"Data out of range; -5 outside 0..100000"',
        '-104,"Data type error; abc"',
        '-109,"Missing parameter"',
    ]
    assert ev.execute_line("*ESR?") == [str(16 | 32)]  # execution + command error


def test_error_queue_overflow_keeps_the_oldest_and_flags_the_loss(ev):
    for i in range(ERROR_QUEUE_SIZE + 3):
        ev.execute_line(f"NOPE{i}")
    errors = [ev.execute_line("SYST:ERR?")[0] for _ in range(ERROR_QUEUE_SIZE)]
    assert errors[0] == '-113,"Undefined header; NOPE0"'
    assert errors[-1] == '-350,"Queue overflow"'
    assert ev.execute_line("SYST:ERR?") == ['0,"No error"']


def test_cls_clears_queue_and_status(ev):
    ev.execute_line("BAD")
    ev.execute_line("*CLS")
    assert ev.execute_line("*ESR?;SYST:ERR?") == ["0", '0,"No error"']


def test_chroma_has_no_syst_err(load):
    assert load.execute_line("SYST:ERR?") == []
    assert load.execute_line("*ESR?") == ["32"]


async def _exchange(port: int, payload: bytes, expect_lines: int, timeout: float = 0.3) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        lines = []
        for _ in range(expect_lines):
            lines.append((await asyncio.wait_for(reader.readline(), timeout)).decode().strip())
        return lines
    finally:
        writer.close()
        await writer.wait_closed()


async def test_chroma_drops_a_reply_when_the_next_command_arrives_first(load):
    server = ScpiServer(load)
    await server.start()
    try:
        # two lines sent before the first reply was read: the first reply is lost (-410)
        assert await _exchange(server.port, b"*IDN?\nPROT?\n", expect_lines=1) == ["0"]
        assert await _exchange(server.port, b"*ESR?\n", expect_lines=1) == ["4"]  # query error
        # a client that reads each reply first gets every answer
        assert await _exchange(server.port, b"MODE?\n", expect_lines=1) == ["CURR"]
    finally:
        await server.close()


async def test_ev_emulator_server_answers_pipelined_queries_in_order(ev):
    server = ScpiServer(ev)
    await server.start()
    try:
        assert await _exchange(server.port, b"CP:STATE?\r\ncp:volt?\n", expect_lines=2) == ["A", "12.00"]
    finally:
        await server.close()


def test_numbered_nodes_pass_their_suffix(plant):
    from bench.sim.instruments.scpi_server import Command, ScpiDevice

    class Numbered(ScpiDevice):
        def idn(self) -> str:
            return "T,1,0,0"

        def commands(self):
            return [Command("NUMeric[:NORMal]:ITEM#?", lambda args, suffixes: str(suffixes[-1]))]

    device = Numbered()
    assert device.execute_line(":NUM:NORM:ITEM12?;ITEM3?") == ["12", "3"]  # path rule keeps NUM:NORM
    assert device.execute_line(":numeric:item?") == ["1"]  # no suffix means 1
    assert device.execute_line(":NUM:ITEMX?") == [] and device.pop_error()[0] == -113


def test_a_simulator_defect_is_a_device_error_not_a_dropped_link(plant):
    from bench.sim.instruments.scpi_server import Command, ScpiDevice

    class Broken(ScpiDevice):
        def idn(self) -> str:
            return "T,1,0,0"

        def commands(self):
            return [Command("BOOM?", lambda args: 1 / 0)]

    device = Broken()
    assert device.execute_line("BOOM?;*IDN?") == []
    assert device.pop_error() == (-300, "Device-specific error; ZeroDivisionError: division by zero")


# ---- a stalled instrument ---------------------------------------------------------------------
async def _line(reader: asyncio.StreamReader, timeout: float) -> str:
    return (await asyncio.wait_for(reader.readline(), timeout)).decode().strip()


async def test_a_stalled_instrument_answers_late_and_in_order(ev):
    server = ScpiServer(ev)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        ev.stall(0.4)
        writer.write(b"CP:STATE?\n")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await _line(reader, 0.2)  # nothing while it is stalled
        writer.write(b"CP:VOLT?\n")
        await writer.drain()
        assert [await _line(reader, 2.0), await _line(reader, 2.0)] == ["A", "12.00"]  # late, in order
        assert ev.link_stall.stalls == 1 and not ev.link_stall.active
    finally:
        writer.close()
        await writer.wait_closed()
        await server.close()


async def test_a_stalled_chroma_loses_the_late_reply_to_the_next_command(load):
    # what it was sent while stalled is read as one input: the Chroma rule applies to it, so the
    # late reply is dropped and -410 is queued (the *ESR? = 4 a client out of step then reads)
    server = ScpiServer(load)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        load.stall(0.3)
        writer.write(b"*IDN?\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(b"PROT?\n")
        await writer.drain()
        assert await _line(reader, 2.0) == "0"  # PROT?'s answer; *IDN?'s was lost
        writer.write(b"*ESR?\n")
        await writer.drain()
        assert await _line(reader, 2.0) == "4"  # query error
    finally:
        writer.close()
        await writer.wait_closed()
        await server.close()
