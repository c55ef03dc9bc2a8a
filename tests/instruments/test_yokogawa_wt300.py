"""Yokogawa WT300: exact exchanges, against its simulator over a raw socket and over VXI-11
(INSTR), and the simulator's rules (numeric items, NAN/INF, integration, update rate, errors)."""
from __future__ import annotations

import asyncio

import pytest

from bench.sim.instruments.wt300_sim import Wt300Sim
from bench.sim.plant import Plant
from instruments.drivers.yokogawa_wt300 import elements_of, numeric_items
from instruments.roles import InstrumentError

NO_ERROR = '0,"No error"'
ITEMS_WT333 = ["U,1", "U,2", "U,3", "I,1", "I,2", "I,3", "P,1", "P,2", "P,3", "P,SIGMA", "FU,1", "WHP,SIGMA"]


def open_script(model: str, items: list[str], integrator: str = "RESET") -> list[tuple[str, str | None]]:
    script = [("*IDN?", f"YOKOGAWA,{model},C2PH13047V,F1.03"), ("*CLS", None), (":COMMUNICATE:HEADER OFF", None),
              (":NUMERIC:FORMAT ASCII", None), (":RATE 100MS", None), (f":NUMERIC:NORMAL:NUMBER {len(items)}", None)]
    script += [(f":NUMERIC:NORMAL:ITEM{i} {item}", None) for i, item in enumerate(items, 1)]
    script += [(":STATUS:ERROR?", NO_ERROR), (":INTEGRATE:STATE?", integrator)]
    if integrator != "START":
        if integrator != "RESET":
            script.append((":INTEGRATE:RESET", None))
        script += [(":INTEGRATE:START", None), (":STATUS:ERROR?", NO_ERROR)]
    return script


# ---- protocol ------------------------------------------------------------------------------------
async def test_open_sets_up_items_and_starts_integration_then_one_query_reads_all(scpi_peer, driver):
    values = "230.12E+00,231.05E+00,229.87E+00,15.98E+00,16.01E+00,NAN,3.6774E+03,3.6985E+03,INF," \
             "7.3759E+03,49.998E+00,1.2345E+03"
    peer = await scpi_peer(open_script("WT333", ITEMS_WT333) + [(":NUMERIC:NORMAL:VALUE?", values)])
    meter = await driver("yokogawa_wt300", peer.address)
    reading = await meter.read()

    assert peer.received == peer.expected
    assert meter.elements == 3
    assert reading.voltage_v == [230.12, 231.05, 229.87]
    assert reading.current_a == [15.98, 16.01, None]  # NAN: no data
    assert reading.power_w == [3677.4, 3698.5, None]  # INF: over range
    assert (reading.power_total_w, reading.frequency_hz, reading.energy_import_wh) == (7375.9, 49.998, 1234.5)


async def test_wt310_is_one_element(scpi_peer, driver):
    items = ["U,1", "I,1", "P,1", "P,1", "FU,1", "WHP,1"]
    peer = await scpi_peer(open_script("WT310", items, integrator="START")
                           + [(":NUMERIC:NORMAL:VALUE?", "230.0E+00,10.0E+00,2.3E+03,2.3E+03,50.0E+00,9.91E+37")])
    meter = await driver("yokogawa_wt300", peer.address)
    reading = await meter.read()
    assert peer.received == peer.expected  # integration already running: left alone
    assert (reading.voltage_v, reading.current_a, reading.energy_import_wh) == ([230.0], [10.0], None)


async def test_stopped_integrator_is_reset_and_restarted(scpi_peer, driver):
    peer = await scpi_peer(open_script("WT333", ITEMS_WT333, integrator="STOP"))
    await driver("yokogawa_wt300", peer.address)
    assert peer.received == peer.expected
    assert ":INTEGRATE:RESET" in peer.received


async def test_refused_setup_names_the_error(scpi_peer, driver):
    script = open_script("WT333", ITEMS_WT333)
    index = script.index((":STATUS:ERROR?", NO_ERROR))
    script[index] = (":STATUS:ERROR?", '113,"Undefined header"')
    peer = await scpi_peer(script[:index + 1])
    with pytest.raises(InstrumentError, match=r'numeric item setup refused: :STATUS:ERROR\? = 113,"Undefined header"'):
        await driver("yokogawa_wt300", peer.address)


async def test_malformed_and_short_replies_are_named(scpi_peer, driver):
    peer = await scpi_peer(open_script("WT333", ITEMS_WT333)
                           + [(":NUMERIC:NORMAL:VALUE?", "1,2,3"), (":NUMERIC:NORMAL:VALUE?", ",".join(["OOPS"] * 12))])
    meter = await driver("yokogawa_wt300", peer.address)
    with pytest.raises(InstrumentError, match=r"malformed reply to ':NUMERIC:NORMAL:VALUE\?': 3 values instead of 12"):
        await meter.read()
    with pytest.raises(InstrumentError, match=r"'OOPS' is not a number"):
        await meter.read()


async def test_identity_rejects_another_instrument(scpi_peer, driver):
    peer = await scpi_peer([("*IDN?", "Chroma,63804,1,1")])
    with pytest.raises(InstrumentError, match="not a Yokogawa WT300 series meter"):
        await driver("yokogawa_wt300", peer.address)


def test_models_and_items():
    assert [elements_of(m) for m in ("WT310", "WT310EH", "WT332", "WT333E")] == [1, 1, 2, 3]
    with pytest.raises(ValueError):
        elements_of("WT500")
    assert [f"{fn},{el}" for fn, el in numeric_items(3)] == ITEMS_WT333


# ---- against the simulator: raw socket and VXI-11 ------------------------------------------------
@pytest.mark.parametrize("framing", ["tcp", "vxi11"])
async def test_driver_against_simulator_reads_the_plant(plant, sim, driver, framing):
    running = await sim("yokogawa_wt300", plant, framing=framing)
    assert running.address.endswith("::INSTR" if framing == "vxi11" else "::SOCKET")
    meter = await driver("yokogawa_wt300", running.address)
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=16.0)
    plant.set_load(2, enabled=True, setpoint_a=6.0)
    await asyncio.sleep(0.11)  # the data update interval (100 ms after open)
    reading = await meter.read()
    assert (await meter.identify()).model == "WT333"
    assert reading.voltage_v == pytest.approx([230.0] * 3)
    assert reading.current_a == pytest.approx([16.0, 0.0, 6.0])
    assert reading.power_total_w == pytest.approx(5060.0)
    assert reading.frequency_hz == pytest.approx(50.0)
    assert running.device.integrator.state == "START"


async def test_energy_is_the_integrator_on_the_plant_clock(sim, driver, manual_clock):
    plant = Plant(manual_clock)
    running = await sim("yokogawa_wt300", plant)
    meter = await driver("yokogawa_wt300", running.address)
    plant.set_contactor(True)
    for phase in range(3):
        plant.set_load(phase, enabled=True, setpoint_a=10.0)
    manual_clock.advance(1800.0)
    assert (await meter.read()).energy_import_wh == pytest.approx(3450.0, rel=1e-5)


async def test_wt310_on_a_three_phase_plant_measures_l1_only(plant, sim, driver):
    running = await sim("yokogawa_wt300", plant, model="WT310")
    meter = await driver("yokogawa_wt300", running.address)
    plant.set_contactor(True)
    plant.set_load(1, enabled=True, setpoint_a=16.0)  # on L2: not seen
    reading = await meter.read()
    assert (reading.current_a, reading.power_total_w) == ([0.0], 0.0)


async def test_over_range_reads_null(plant, sim, driver):
    running = await sim("yokogawa_wt300", plant, model="WT310")
    meter = await driver("yokogawa_wt300", running.address)
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=30.0)  # above 140 % of the 20 A range
    reading = await meter.read()
    assert (reading.voltage_v, reading.current_a, reading.power_w) == ([230.0], [None], [None])


async def test_vxi11_read_without_a_query_times_out_with_the_command(plant, sim, driver):
    running = await sim("yokogawa_wt300", plant, framing="vxi11")
    meter = await driver("yokogawa_wt300", running.address, timeout_s=0.5)

    async def read_nothing(io):
        io.last_command = "(read only)"
        return await io.read()

    with pytest.raises(InstrumentError, match=r"no reply to '\(read only\)'"):
        await meter.transport.exchange(read_nothing, what="read")
    assert (await meter.read()).frequency_hz == pytest.approx(50.0)  # the link is still good


async def test_vxi11_link_comes_back_after_a_restart(plant, sim, driver):
    running = await sim("yokogawa_wt300", plant, framing="vxi11")
    meter = await driver("yokogawa_wt300", running.address)
    await meter.read()
    port = running.port
    await running.close()
    restarted = await sim("yokogawa_wt300", plant, framing="vxi11", port=port)  # a fresh meter: default items
    assert len(restarted.device.execute_line(":NUM:NORM:VAL?")[0].split(",")) == 13
    reading = await meter.read()  # the driver set its items up again before repeating the query
    assert reading.voltage_v == pytest.approx([230.0] * 3) and reading.frequency_hz == pytest.approx(50.0)
    assert restarted.device.items[:12] == [tuple(i.split(",")) for i in ITEMS_WT333]
    assert restarted.device.integrator.state == "START"  # energy counts again from the restart


@pytest.mark.parametrize("framing", ["tcp", "vxi11"])
async def test_a_stalled_meter_is_read_in_step_again_once_it_answers(plant, sim, driver, framing):
    # raw socket: the late reply is drained; VXI-11: device clear drops what waits; then *CLS, *OPC?
    running = await sim("yokogawa_wt300", plant, framing=framing, model="WT333")
    meter = await driver("yokogawa_wt300", running.address, timeout_s=0.3)
    running.device.stall(0.5)
    with pytest.raises(InstrumentError, match=r"no reply to ':NUMERIC:NORMAL:VALUE\?'"):
        await meter.read()
    while running.device.link_stall.active:
        await asyncio.sleep(0.05)
    reading = await meter.read()
    assert reading.voltage_v == pytest.approx([230.0] * 3) and reading.frequency_hz == pytest.approx(50.0)
    assert (await meter.identify()).model == "WT333"
    assert not meter.transport.out_of_step
    assert running.device.execute_line(":STATUS:ERROR?") == [NO_ERROR]


# ---- the simulator's rules ------------------------------------------------------------------------------
@pytest.fixture
def wt(plant) -> Wt300Sim:
    return Wt300Sim(plant, model="WT333")


@pytest.mark.parametrize("query", [":NUMERIC:NORMAL:VALUE? 1", ":NUM:NORM:VAL? 1", "numeric:value? 1",
                                   ":Num:Normal:VALue? 1"])
def test_short_long_and_case_forms_are_the_same_command(wt, query):
    wt.execute_line(":NUMERIC:NORMAL:ITEM1 U,2")
    assert wt.execute_line(query) == ["2.30000E+02"]
    assert wt.execute_line(":STATUS:ERROR?") == [NO_ERROR]


def test_numbered_items_and_headers(wt):
    wt.execute_line(":NUM:NORM:ITEM7 LAMBDA,SIGMA")
    assert wt.execute_line(":NUM:NORM:ITEM7?") == [":NUMERIC:NORMAL:ITEM7 LAMBDA,SIGMA"]  # header ON by default
    wt.execute_line(":COMM:HEAD OFF")
    assert wt.execute_line(":NUM:NORM:ITEM7?;:INTEG:STATE?") == ["LAMBDA,SIGMA", "RESET"]


def test_nan_where_there_is_no_data(wt):
    wt.execute_line(":NUM:NORM:NUMBER 3;:NUM:NORM:ITEM1 LAMBDA,1;:NUM:NORM:ITEM2 FI,1;:NUM:NORM:ITEM3 I,1")
    assert wt.execute_line(":NUM:NORM:VAL?") == ["NAN,NAN,0.00000E+00"]  # no current: no power factor, no FI


def test_refused_settings_go_to_the_error_queue(plant):
    wt310 = Wt300Sim(plant, model="WT310")
    wt310.execute_line(":NUM:NORM:ITEM1 U,SIGMA")  # no SIGMA on a single element
    wt310.execute_line(":NUM:NORM:ITEM2 U,2")
    wt310.execute_line(":NUM:FORMAT FLOAT")
    wt310.execute_line(":NUM:NORM:ITEM1 VOLTS,1")
    errors = [wt310.execute_line(":STATUS:ERROR?")[0] for _ in range(5)]
    assert errors[0].startswith('-224,"Illegal parameter value; element SIGMA')
    assert errors[1].startswith('-224,"Illegal parameter value; element 2')
    assert errors[2].startswith('-221,"Settings conflict; FLOAT format is not simulated')
    assert errors[3].startswith('-224,"Illegal parameter value; function VOLTS')
    assert errors[4] == NO_ERROR
    assert wt310.execute_line("SYST:ERR?") == []  # the WT300 has no SYSTem:ERRor
    assert wt310.execute_line(":STATUS:ERROR?") == ['-113,"Undefined header; SYST:ERR?"']


def test_integration_state_machine(wt, manual_clock):
    wt.plant = plant = Plant(manual_clock)
    wt.integrator.plant = plant
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=10.0)  # 2300 W
    wt.execute_line(":COMM:HEAD OFF;:RATE 100MS;:NUM:NORM:NUMBER 2;:NUM:NORM:ITEM1 WHP,1;:NUM:NORM:ITEM2 TIME,1")
    wt.execute_line(":INTEG:START")
    manual_clock.advance(3600.0)
    assert wt.execute_line(":NUM:NORM:VAL?") == ["2.30000E+03,3.60000E+03"]
    wt.execute_line(":INTEG:START;:INTEG:RESET")  # both refused while running
    assert [wt.execute_line(":STAT:ERR?")[0][:4] for _ in range(2)] == ["-221", "0,\"N"]
    wt.execute_line(":INTEG:STOP")
    manual_clock.advance(3600.0)  # stopped: held
    assert wt.execute_line(":NUM:NORM:VAL?;:INTEG:STATE?") == ["2.30000E+03,3.60000E+03", "STOP"]
    wt.execute_line(":INTEG:START")  # continues from the held value
    manual_clock.advance(1800.0)
    assert wt.execute_line(":NUM:NORM:VAL? 1") == ["3.45000E+03"]
    wt.execute_line(":INTEG:STOP;:INTEG:RESET")
    assert wt.execute_line(":NUM:NORM:VAL?;:INTEG:STATE?") == ["0.00000E+00,0.00000E+00", "RESET"]


def test_values_hold_between_updates(manual_clock):
    plant = Plant(manual_clock)
    wt = Wt300Sim(plant, model="WT310")
    wt.execute_line(":RATE 500MS;:NUM:NORM:ITEM1 I,1")
    manual_clock.t = 1000.1
    assert wt.execute_line(":NUM:NORM:VAL? 1") == ["0.00000E+00"]
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=8.0)
    manual_clock.advance(0.3)  # same 500 ms interval
    assert wt.execute_line(":NUM:NORM:VAL? 1") == ["0.00000E+00"]
    manual_clock.advance(0.2)
    assert wt.execute_line(":NUM:NORM:VAL? 1") == ["8.00000E+00"]
    wt.execute_line(":RATE 3S")
    assert wt.execute_line(":STAT:ERR?") == ['-224,"Illegal parameter value; 3S"']
