"""Hioki PW3335 family: exact exchanges, against its simulator (raw socket and VXI-11), and the
simulator's rules (items, headers, invalid-data marker, integration, *ESR?)."""
from __future__ import annotations

import pytest

from bench.sim.instruments.pw3335_sim import Pw3335Sim
from bench.sim.plant import Plant
from instruments.drivers.hioki_pw3335 import channels_of, measure_items
from instruments.roles import InstrumentError

MEASURE_PW3337 = ":MEASURE? U1,U2,U3,I1,I2,I3,P1,P2,P3,P123,FREQU1,WP+123"


def open_script(model: str, integrator: str = "RESET") -> list[tuple[str, str | None]]:
    script = [("*IDN?", f"HIOKI,{model},190312345,V1.10"), ("*CLS", None), (":HEADER OFF", None), ("*ESR?", "0"),
              (":INTEGRATE?", integrator)]
    if integrator != "START":
        if integrator != "RESET":
            script.append((":INTEGRATE:RESET", None))
        script += [(":INTEGRATE:START", None), ("*ESR?", "0")]
    return script


# ---- protocol ------------------------------------------------------------------------------------
async def test_open_and_one_measure_query(scpi_peer, driver):
    values = "+230.12E+0,+231.05E+0,+229.87E+0,+15.980E+0,+9999.9E+99,+0.0000E+0,+3.6774E+3,+9999.9E+99," \
             "+0.0000E+0,+3.6774E+3,+49.998E+0,+1.2345E+3"
    peer = await scpi_peer(open_script("PW3337") + [(MEASURE_PW3337, values)])
    meter = await driver("hioki_pw3335", peer.address)
    reading = await meter.read()
    assert peer.received == peer.expected
    assert reading.voltage_v == [230.12, 231.05, 229.87]
    assert reading.current_a == [15.98, None, 0.0]  # +9999.9E+99: the meter cannot show it
    assert reading.power_w == [3677.4, None, 0.0]
    assert (reading.power_total_w, reading.frequency_hz, reading.energy_import_wh) == (3677.4, 49.998, 1234.5)


async def test_single_channel_pw3335(scpi_peer, driver):
    peer = await scpi_peer(open_script("PW3335", integrator="STOP")
                           + [(":MEASURE? U1,I1,P1,P1,FREQU1,WP+1", "+230.0E+0,+6.0E+0,+1.38E+3,+1.38E+3,+50.0E+0,+7.0E+0")])
    meter = await driver("hioki_pw3335", peer.address)
    reading = await meter.read()
    assert peer.received == peer.expected
    assert (reading.current_a, reading.energy_import_wh) == ([6.0], 7.0)


async def test_refused_command_shows_in_esr(scpi_peer, driver):
    script = open_script("PW3337")
    script[3] = ("*ESR?", "32")
    peer = await scpi_peer(script[:4])
    with pytest.raises(InstrumentError, match=r"':HEADER OFF' refused: \*ESR\? = 32 \(command error\)"):
        await driver("hioki_pw3335", peer.address)


async def test_reply_with_headers_is_malformed(scpi_peer, driver):
    peer = await scpi_peer(open_script("PW3337") + [(MEASURE_PW3337, ",".join(["U1 +230.0E+0"] * 12))])
    meter = await driver("hioki_pw3335", peer.address)
    with pytest.raises(InstrumentError, match=r"'U1 \+230.0E\+0' is not a number"):
        await meter.read()


def test_models_and_items():
    assert [channels_of(m) for m in ("PW3335", "PW3336", "PW3337")] == [1, 2, 3]
    assert measure_items(2)[-3:] == ["P12", "FREQU1", "WP+12"]
    with pytest.raises(ValueError):
        channels_of("PW3390")


# ---- against the simulator -------------------------------------------------------------------------
@pytest.mark.parametrize("framing", ["tcp", "vxi11"])
async def test_driver_against_simulator(plant, sim, driver, framing):
    running = await sim("hioki_pw3335", plant, framing=framing)
    meter = await driver("hioki_pw3335", running.address)
    plant.set_contactor(True)
    plant.set_load(1, enabled=True, setpoint_a=12.0)
    reading = await meter.read()
    assert (await meter.identify()).model == "PW3337"
    assert reading.current_a == pytest.approx([0.0, 12.0, 0.0])
    assert reading.power_total_w == pytest.approx(2760.0)
    assert reading.frequency_hz == pytest.approx(50.0)
    assert running.device.header is False and running.device.integrator.state == "START"


async def test_energy_on_the_plant_clock(sim, driver, manual_clock):
    plant = Plant(manual_clock)
    meter = await driver("hioki_pw3335", (await sim("hioki_pw3335", plant)).address)
    plant.set_contactor(True)
    for phase in range(3):
        plant.set_load(phase, enabled=True, setpoint_a=10.0)
    manual_clock.advance(1800.0)
    assert (await meter.read()).energy_import_wh == pytest.approx(3450.0, rel=1e-4)


async def test_restarted_meter_gets_headers_off_again(plant, sim, driver):
    running = await sim("hioki_pw3335", plant)
    meter = await driver("hioki_pw3335", running.address)
    port = running.port
    await running.close()
    restarted = await sim("hioki_pw3335", plant, port=port)
    assert restarted.device.header is True
    assert (await meter.read()).voltage_v == pytest.approx([230.0] * 3)
    assert restarted.device.header is False and restarted.device.integrator.state == "START"


# ---- the simulator's rules ---------------------------------------------------------------------------
@pytest.fixture
def pw(plant) -> Pw3335Sim:
    return Pw3335Sim(plant, model="PW3337")


def test_headers_on_by_default_and_case_insensitive(pw):
    assert pw.execute_line(":measure? u1,freqi1") == ["U1 +2.3000E+02,FREQI1 +9999.9E+99"]  # no current: no FI
    pw.execute_line(":HEAD OFF")
    assert pw.execute_line(":MEAS? P123,WP-123") == ["+0.0000E+00,+0.0000E+00"]
    assert pw.execute_line(":HEADER?;:INTEGRATE?") == ["OFF", "RESET"]


def test_unknown_items_are_command_errors(plant, pw):
    pw1 = Pw3335Sim(plant, model="PW3335")
    assert pw1.execute_line(":MEAS? U2") == []  # one channel only
    assert pw.execute_line(":MEAS? U123") == []  # no sum of voltages here
    assert pw.execute_line(":MEAS? VOLT1") == []
    assert pw1.execute_line("*ESR?") == ["16"] and pw.execute_line("*ESR?") == ["16"]
    assert pw.execute_line("SYST:ERR?") == []  # no SYSTem:ERRor on this meter


def test_over_range_is_the_invalid_marker(plant, pw):
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=70.0)  # above 130 % of 50 A
    pw.execute_line(":HEAD OFF")
    assert pw.execute_line(":MEAS? U1,I1,P1") == ["+2.3000E+02,+9999.9E+99,+9999.9E+99"]


def test_integration_rules(pw):
    pw.execute_line(":INTEG:START;:INTEG:START")
    assert pw.execute_line("*ESR?") == ["16"]
    pw.execute_line(":INTEG:RESET")
    assert pw.execute_line("*ESR?;:INTEG?") == ["16", "INTEGRATE START"]
    pw.execute_line(":INTEG:STOP;:INTEG:RESET")
    assert pw.execute_line("*ESR?;:INTEG?") == ["0", "INTEGRATE RESET"]
