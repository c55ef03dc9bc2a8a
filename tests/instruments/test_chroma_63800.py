"""Chroma 63800 AC load: exact exchanges, against its simulator, and its error paths."""
from __future__ import annotations

import time

import pytest

from instruments.roles import InstrumentError, RatingError, Ratings

# what open() sends: clear status, load off before the mode changes, CC mode, check
OPEN_CHROMA = [("*CLS", None), ("LOAD OFF", None), ("MODE CURR", None), ("*ESR?", "0")]
RATED = Ratings(max_current_a=36.0, max_power_w=8280.0)


# ---- protocol: exact command/response exchanges -------------------------------------------
async def test_open_identify_setpoint_enable_read_exchanges(scpi_peer, driver):
    peer = await scpi_peer(
        OPEN_CHROMA
        + [
            ("*IDN?", "Chroma,63803,638030001234,01.20"),
            ("CURR 16.000", None),
            ("*ESR?", "0"),
            ("PROT?", "0"),
            ("LOAD ON", None),
            ("*ESR?", "0"),
            ("PROT?", "0"),
            # one compound message (IEEE 488.2 7.4), one response message
            (":MEAS:CURR?;:MEAS:POW?;:MEAS:VOLT?;:LOAD?", "15.98;3675.4;230.01;1"),
            ("LOAD OFF", None),
            ("*ESR?", "0"),
        ]
    )
    load = await driver("chroma_63800", peer.address, RATED, phase=2)
    identity = await load.identify()
    await load.set_current(16)
    await load.set_enabled(True)
    reading = await load.read()
    await load.safe_state()

    assert peer.received == peer.expected
    assert (identity.vendor, identity.model, identity.serial, identity.firmware) == (
        "Chroma", "63803", "638030001234", "01.20"
    )
    assert (reading.current_a, reading.power_w, reading.voltage_v, reading.enabled) == (15.98, 3675.4, 230.01, True)
    assert load.phase == 2


async def test_protection_after_enabling_names_the_bits(scpi_peer, driver):
    peer = await scpi_peer(OPEN_CHROMA + [("LOAD ON", None), ("*ESR?", "0"), ("PROT?", "96")])
    load = await driver("chroma_63800", peer.address)
    with pytest.raises(InstrumentError) as err:
        await load.set_enabled(True)
    message = str(err.value)
    assert "test-chroma_63800" in message and "LOAD ON" in message
    assert "PROT? = 96" in message and "OCP" in message and "OPP" in message
    assert peer.received == peer.expected


async def test_refused_setpoint_shows_in_the_event_status_register(scpi_peer, driver):
    peer = await scpi_peer(OPEN_CHROMA + [("CURR 40.000", None), ("*ESR?", "16"), ("PROT?", "0")])
    load = await driver("chroma_63800", peer.address)  # no ratings: the instrument decides
    with pytest.raises(InstrumentError, match=r"'CURR 40.000' refused: \*ESR\? = 16 \(execution error\)"):
        await load.set_current(40)
    assert peer.received == peer.expected


@pytest.mark.parametrize(
    ("amps", "pattern"),
    [(40.0, r"40.00 A exceeds its rating of 36"), (20.0, r"4600 W exceeds its rating of 3600"), (-1.0, "negative")],
)
async def test_rating_exceeded_sends_nothing(scpi_peer, driver, amps, pattern):
    peer = await scpi_peer(OPEN_CHROMA)
    load = await driver("chroma_63800", peer.address, Ratings(max_current_a=36, max_power_w=3600))
    with pytest.raises(RatingError, match=pattern) as err:
        await load.set_current(amps)
    assert "test-chroma_63800" in str(err.value)
    assert peer.received == peer.expected  # only open()'s commands went out


async def test_malformed_reply_names_command_and_reply(scpi_peer, driver):
    peer = await scpi_peer(OPEN_CHROMA + [(":MEAS:CURR?;:MEAS:POW?;:MEAS:VOLT?;:LOAD?", "OVER;1;2;1")])
    load = await driver("chroma_63800", peer.address)
    with pytest.raises(InstrumentError, match=r"test-chroma_63800: malformed reply to 'MEAS:CURR\?': 'OVER'"):
        await load.read()


async def test_a_compound_reply_short_of_replies_is_an_error(scpi_peer, driver):
    # an instrument stops executing a message at its first refused unit: fewer replies come back
    peer = await scpi_peer(OPEN_CHROMA + [(":MEAS:CURR?;:MEAS:POW?;:MEAS:VOLT?;:LOAD?", "15.98;3675.4")])
    load = await driver("chroma_63800", peer.address)
    with pytest.raises(InstrumentError, match=r"test-chroma_63800: 2 replies to the 4 queries"):
        await load.read()


async def test_timeout_names_the_command(scpi_peer, driver):
    peer = await scpi_peer(OPEN_CHROMA + [(":MEAS:CURR?;:MEAS:POW?;:MEAS:VOLT?;:LOAD?", None)])
    load = await driver("chroma_63800", peer.address, timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(InstrumentError, match=r"test-chroma_63800: no reply to ':MEAS:CURR\?;:MEAS:POW\?;:MEAS:VOLT\?;:LOAD\?' within 0.3 s"):
        await load.read()
    assert time.monotonic() - t0 < 1.5  # a live link is not retried


async def test_identify_rejects_another_instrument(scpi_peer, driver):
    peer = await scpi_peer(OPEN_CHROMA + [("*IDN?", "YOKOGAWA,WT310,C2PH13047V,F1.03")])
    load = await driver("chroma_63800", peer.address)
    with pytest.raises(InstrumentError, match="not a Chroma 63800"):
        await load.identify()


def test_phase_option_is_validated():
    from instruments.registry import create_instrument

    with pytest.raises(ValueError, match="phase must be 1, 2 or 3"):
        create_instrument("l4", "chroma_63800", "TCPIP::127.0.0.1::5025::SOCKET", phase=4)
    with pytest.raises(TypeError, match="only the option 'phase'"):
        create_instrument("l1", "chroma_63800", "TCPIP::127.0.0.1::5025::SOCKET", channel=1)


# ---- against the simulator -----------------------------------------------------------------
async def test_driver_against_simulator_draws_current_from_its_phase(plant, sim, driver):
    running = await sim("chroma_63800", plant, phase=2, model="63803")
    load = await driver("chroma_63800", running.address, RATED, phase=2)
    plant.set_contactor(True)

    await load.set_current(12.5)
    await load.set_enabled(True)
    reading = await load.read()

    assert plant.load_enabled == [False, True, False]
    assert plant.load_setpoint_a[1] == 12.5
    assert reading.enabled is True
    assert reading.current_a == pytest.approx(12.5)
    assert reading.voltage_v == pytest.approx(230.0)
    assert reading.power_w == pytest.approx(12.5 * 230.0)
    assert (await load.identify()).model == "63803"

    plant.set_contactor(False)  # charger opens its contactor: the load sees nothing
    reading = await load.read()
    assert (reading.current_a, reading.voltage_v, reading.enabled) == (0.0, 0.0, True)

    await load.safe_state()
    assert plant.load_enabled[1] is False


async def test_simulator_rejects_current_above_model_maximum(plant, sim, driver):
    running = await sim("chroma_63800", plant, phase=1, model="63803")
    load = await driver("chroma_63800", running.address)  # no ratings in the config
    await load.set_current(10)
    with pytest.raises(InstrumentError, match="CURR 36.500.*execution error"):
        await load.set_current(36.5)
    assert plant.load_setpoint_a[0] == 10.0  # unchanged
    assert running.device.protection == 0  # a refused setpoint trips nothing
    assert running.device.execute_line("*ESR?") == ["0"]  # the driver read (and cleared) the error


async def test_simulator_trips_over_power_and_latches(plant, sim, driver):
    running = await sim("chroma_63800", plant, phase=1, model="63803")
    load = await driver("chroma_63800", running.address)
    plant.set_contactor(True)
    await load.set_current(20)  # 4600 W at 230 V: beyond a 63803's 3600 W once drawn
    with pytest.raises(InstrumentError, match=r"PROT\? = 64 \(OPP\)"):
        await load.set_enabled(True)
    assert plant.load_enabled[0] is False
    assert (await load.read()).enabled is False

    with pytest.raises(InstrumentError, match="OPP"):  # latched until cleared
        await load.set_enabled(True)
    await load.clear_protection()
    await load.set_current(15)
    await load.set_enabled(True)
    assert (await load.read()).current_a == pytest.approx(15.0)


async def test_simulator_mode_rules(plant, sim):
    running = await sim("chroma_63800", plant, phase=3, model="63803")
    device = running.device
    assert device.execute_line("MODE CC") == []
    assert device.execute_line("*ESR?;MODE?") == ["16", "CURR"]
    device.execute_line("MODE POW;LOAD ON")
    assert plant.load_enabled[2] is False  # only CURR mode is simulated: refused
    assert device.execute_line("*ESR?") == ["16"]
    assert device.execute_line("*IDN?") == ["Chroma,63803,6380300003,01.20"]


async def test_simulated_model_sets_limits_and_identity(plant, sim, driver):
    running = await sim("chroma_63800", plant, phase=1)  # default: the 63804 of lab_config.yaml
    load = await driver("chroma_63800", running.address, Ratings(max_current_a=45, max_power_w=4500), phase=1)
    plant.set_contactor(True)
    await load.set_current(16)  # 3680 W: beyond a 63803, within a 63804
    await load.set_enabled(True)
    assert (await load.read()).power_w == pytest.approx(3680.0)
    assert (await load.identify()).model == "63804"
    await load.set_enabled(False)
    running.device.execute_line("CURR 40")  # above a 63803's 36 A, accepted by a 63804
    assert plant.load_setpoint_a[0] == 40.0
    assert running.device.execute_line("*ESR?") == ["0"]


async def test_after_a_stall_the_link_is_back_in_step_before_the_next_command(plant, sim, driver):
    # the load stops answering during a read and answers late: the next command, sent while it is
    # still stalled, must get its own answer, not the query error (-410) the unread late reply left
    # behind ('LOAD OFF' refused: *ESR? = 4)
    running = await sim("chroma_63800", plant, phase=1)
    load = await driver("chroma_63800", running.address, timeout_s=0.4)
    plant.set_contactor(True)
    await load.set_current(10)
    await load.set_enabled(True)
    running.device.stall(0.6)
    with pytest.raises(InstrumentError, match=r"no reply to ':MEAS:CURR\?"):
        await load.read()
    assert load.transport.out_of_step

    await load.set_enabled(False)  # resynchronised first (*CLS, *OPC? = 1): its *ESR? reads 0
    assert not load.transport.out_of_step
    reading = await load.read()
    assert (reading.enabled, reading.current_a, reading.voltage_v) == (False, 0.0, pytest.approx(230.0))
    assert (await load.identify()).model == "63804"
    assert plant.load_enabled[0] is False


async def test_a_link_still_stalled_fails_naming_what_timed_out(plant, sim, driver):
    running = await sim("chroma_63800", plant, phase=1)
    load = await driver("chroma_63800", running.address, timeout_s=0.2)
    running.device.stall(5.0)
    with pytest.raises(InstrumentError, match=r"no reply to ':MEAS:CURR\?"):
        await load.read()
    with pytest.raises(InstrumentError, match=r"still not answering .*since ':MEAS:CURR\?.* timed out"):
        await load.set_enabled(False)
    assert load.transport.out_of_step
    running.device.link_stall.end()
    await load.set_enabled(False)
    assert not load.transport.out_of_step
