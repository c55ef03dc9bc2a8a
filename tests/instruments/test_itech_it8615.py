"""ITECH IT8615/IT8616 AC load: exact exchanges, against its simulator, its rules and error paths."""
from __future__ import annotations

import pytest

from bench.sim.instruments.it8615_sim import It8615Sim
from instruments.roles import InstrumentError, RatingError, Ratings

NO_ERROR = '0,"No error"'
OPEN_ITECH = [("SYST:REM", None), ("*CLS", None), ("INP OFF", None), ("SYST:MODE AC", None), ("FUNC CURR", None),
              ("SYST:ERR?", NO_ERROR)]


# ---- protocol -------------------------------------------------------------------------------------
async def test_open_identify_setpoint_enable_read_exchanges(scpi_peer, driver):
    peer = await scpi_peer(OPEN_ITECH + [
        ("*IDN?", "ITECH Ltd,IT8615,800062011767710025,1.11-1.08"),
        ("CURR 7.500", None), ("SYST:ERR?", NO_ERROR),
        ("INP ON", None), ("SYST:ERR?", NO_ERROR), ("INP?", "1"),
        ("CURR 6.000", None), ("SYST:ERR?", NO_ERROR), ("INP?", "1"),  # while on: still on?
        (":MEAS:CURR:RMS?;:MEAS:POW?;:MEAS:VOLT:RMS?;:INP?", "5.998;1379.5;229.9;1"),
        ("INP OFF", None), ("SYST:ERR?", NO_ERROR),
    ])
    load = await driver("itech_it8615", peer.address, Ratings(max_current_a=20, max_power_w=1800), phase=3)
    identity = await load.identify()
    await load.set_current(7.5)
    await load.set_enabled(True)
    await load.set_current(6)
    reading = await load.read()
    await load.safe_state()
    assert peer.received == peer.expected
    assert (identity.vendor, identity.model, identity.serial) == ("ITECH Ltd", "IT8615", "800062011767710025")
    assert (reading.current_a, reading.power_w, reading.voltage_v, reading.enabled) == (5.998, 1379.5, 229.9, True)


async def test_load_that_switched_itself_off_is_an_error(scpi_peer, driver):
    peer = await scpi_peer(OPEN_ITECH + [("INP ON", None), ("SYST:ERR?", NO_ERROR), ("INP?", "0")])
    load = await driver("itech_it8615", peer.address)
    with pytest.raises(InstrumentError, match=r"input switched itself off after 'INP ON' \(INP\? = 0\)"):
        await load.set_enabled(True)


async def test_refused_command_names_the_error(scpi_peer, driver):
    peer = await scpi_peer(OPEN_ITECH + [("CURR 25.000", None), ("SYST:ERR?", '-222,"Data out of range"')])
    load = await driver("itech_it8615", peer.address)
    with pytest.raises(InstrumentError, match=r"'CURR 25.000' refused: SYST:ERR\? = -222,\"Data out of range\""):
        await load.set_current(25)


async def test_rating_exceeded_sends_nothing(scpi_peer, driver):
    peer = await scpi_peer(OPEN_ITECH)
    load = await driver("itech_it8615", peer.address, Ratings(max_current_a=20, max_power_w=1800))
    with pytest.raises(RatingError, match="1840 W exceeds its rating of 1800"):
        await load.set_current(8)
    assert peer.received == peer.expected


async def test_identity_and_options_are_checked(scpi_peer, driver):
    peer = await scpi_peer(OPEN_ITECH + [("*IDN?", "Chroma,63804,1,1")])
    load = await driver("itech_it8615", peer.address)
    with pytest.raises(InstrumentError, match="not an ITECH IT8600 series load"):
        await load.identify()
    from instruments.registry import create_instrument
    with pytest.raises(ValueError, match="phase must be 1, 2 or 3"):
        create_instrument("l", "itech_it8615", "TCPIP::127.0.0.1::30000::SOCKET", phase=0)
    with pytest.raises(ValueError, match="not a SCPI socket address"):
        create_instrument("l", "itech_it8615", "TCPIP::127.0.0.1::INSTR", phase=1)


# ---- against the simulator -------------------------------------------------------------------------
async def test_driver_against_simulator(plant, sim, driver):
    running = await sim("itech_it8615", plant, phase=2, model="IT8616")
    load = await driver("itech_it8615", running.address, Ratings(max_current_a=40, max_power_w=3600), phase=2)
    plant.set_contactor(True)
    await load.set_current(14.0)
    await load.set_enabled(True)
    reading = await load.read()
    assert plant.load_enabled == [False, True, False] and plant.load_setpoint_a[1] == 14.0
    assert (reading.current_a, reading.voltage_v, reading.enabled) == (pytest.approx(14.0), pytest.approx(230.0), True)
    assert reading.power_w == pytest.approx(3220.0)
    assert (await load.identify()).model == "IT8616"
    await load.safe_state()
    assert plant.load_enabled[1] is False


async def test_simulated_protection_switches_the_input_off(plant, sim, driver):
    running = await sim("itech_it8615", plant, phase=1, model="IT8615")
    load = await driver("itech_it8615", running.address, phase=1)  # no ratings: the load protects itself
    plant.set_contactor(True)
    await load.set_current(9.0)  # 2070 W at 230 V: beyond an IT8615's 1800 VA once drawn
    with pytest.raises(InstrumentError, match="input switched itself off"):
        await load.set_enabled(True)
    assert plant.load_enabled[0] is False and running.device.tripped
    await load.set_current(7.0)  # 1610 W: fine again
    await load.set_enabled(True)
    assert (await load.read()).current_a == pytest.approx(7.0)


async def test_simulator_rejects_current_above_model_maximum(plant, sim, driver):
    running = await sim("itech_it8615", plant, phase=1, model="IT8615")
    load = await driver("itech_it8615", running.address, phase=1)
    with pytest.raises(InstrumentError, match=r"'CURR 20.500' refused: SYST:ERR\? = -222"):
        await load.set_current(20.5)
    assert plant.load_setpoint_a[0] == 0.0


# ---- the simulator's rules ----------------------------------------------------------------------------
def test_set_commands_need_remote_mode(plant):
    load = It8615Sim(plant, phase=1)
    load.execute_line("CURR 5")
    assert load.execute_line("SYST:ERR?") == ['-221,"Settings conflict; CURR in local mode; send SYST:REM first"']
    load.execute_line("SYST:REM;CURR 5")
    assert load.execute_line("SOUR:CURR:LEV:IMM:AMPL?;:SOURCE:CURRENT?;SYST:ERR?") == ["5.0000", "5.0000", '0,"No error"']


def test_only_ac_constant_current_switches_on(plant):
    load = It8615Sim(plant, phase=1)
    load.execute_line("SYST:REM;SYST:MODE DC;INP ON")
    load.execute_line("SYST:MODE AC;SOUR:FUNC RES;INP ON")
    load.execute_line("FUNC SHORT;FUNC?")
    assert load.execute_line("FUNC?") == ["SHOR"]
    errors = [load.execute_line("SYST:ERR?")[0] for _ in range(2)]
    assert errors[0].startswith('-221,"Settings conflict; DC mode on AC mains')
    assert errors[1].startswith('-221,"Settings conflict; function RES is not simulated')
    assert plant.load_enabled[0] is False
    load.execute_line("FUNC CURR;INP 1")
    assert load.execute_line("input?;input:state?") == ["1", "1"]
