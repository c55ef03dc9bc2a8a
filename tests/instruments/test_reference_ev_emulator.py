"""Reference EV emulator: exact exchanges, against its simulator, error paths, link loss."""
from __future__ import annotations

import socket

import pytest

from instruments.iec61851 import CpState
from instruments.roles import InstrumentError, LinkLost

NO_ERROR = '0,"No error"'
# what open() sends: clear the status, arm the watchdog (and check it was taken)
ARMED = [("*CLS", None), ("SYST:WDOG 30", None), ("SYST:ERR?", NO_ERROR)]


# ---- protocol -----------------------------------------------------------------------------
async def test_exchanges(scpi_peer, driver):
    peer = await scpi_peer(
        [
            *ARMED,
            ("*IDN?", "EVBENCH,REF-EV-EMULATOR,SN42,2.1.0"),
            ("CP:STATE C", None),
            ("SYST:ERR?", NO_ERROR),
            ("CP:STATE?;DUTY?;VOLT?", "C;53.30;6.00"),
            ("PP:RES 680", None),
            ("SYST:ERR?", NO_ERROR),
            ("EV:ERR DIODE", None),
            ("SYST:ERR?", NO_ERROR),
            ("CP:STATE A", None),
            ("SYST:ERR?", NO_ERROR),
        ]
    )
    ev = await driver("reference_ev_emulator", peer.address)
    identity = await ev.identify()
    await ev.set_cp_state("C")
    reading = await ev.read()
    await ev.set_pp_resistance(680)
    await ev.inject_error("diode")
    await ev.safe_state()

    assert peer.received == peer.expected
    assert (identity.model, identity.serial, identity.firmware) == ("REF-EV-EMULATOR", "SN42", "2.1.0")
    assert reading.cp_state == "C"
    assert reading.pwm_duty_pct == 53.3
    assert reading.offered_current_a == pytest.approx(31.98)
    assert reading.cp_voltage_v == 6.0


async def test_error_queue_entry_after_a_set_command_raises(scpi_peer, driver):
    peer = await scpi_peer([*ARMED, ("CP:STATE D", None), ("SYST:ERR?", '-221,"Settings conflict"')])
    ev = await driver("reference_ev_emulator", peer.address)
    with pytest.raises(InstrumentError) as err:
        await ev.set_cp_state(CpState.D)
    assert str(err.value) == "test-reference_ev_emulator: 'CP:STATE D' refused: SYST:ERR? = -221,\"Settings conflict\""


async def test_invalid_state_is_refused_before_sending(scpi_peer, driver):
    peer = await scpi_peer([*ARMED, ("*IDN?", "EVBENCH,REF-EV-EMULATOR,SN42,2.1.0")])
    ev = await driver("reference_ev_emulator", peer.address)
    with pytest.raises(ValueError, match="A..E"):
        await ev.set_cp_state("F")
    await ev.identify()
    assert peer.received == peer.expected  # nothing went out between open and *IDN? but the arming


async def test_malformed_read_reply(scpi_peer, driver):
    peer = await scpi_peer([*ARMED, ("CP:STATE?;DUTY?;VOLT?", "C;53.3")])
    ev = await driver("reference_ev_emulator", peer.address)
    with pytest.raises(InstrumentError, match=r"malformed reply to 'CP:STATE\?;DUTY\?;VOLT\?': 'C;53.3'"):
        await ev.read()


# ---- link loss ------------------------------------------------------------------------------
async def test_dropped_link_is_reopened_and_the_exchange_repeated(scpi_peer, driver):
    peer = await scpi_peer(
        [*ARMED, ("CP:STATE?;DUTY?;VOLT?", "B;100.00;9.00"), ("CP:STATE?;DUTY?;VOLT?", "B;100.00;9.00")],
        drop_after=(3,),  # the peer hangs up after answering the first read
    )
    ev = await driver("reference_ev_emulator", peer.address)
    assert (await ev.read()).cp_state == "B"
    second = await ev.read()
    assert second.offered_current_a == 0.0  # 100 % duty: no charging allowed
    assert peer.connections == 2
    assert peer.received == peer.expected


async def test_link_gone_for_good_raises_after_bounded_retries(scpi_peer, driver):
    peer = await scpi_peer([*ARMED])
    ev = await driver("reference_ev_emulator", peer.address)
    await peer.close()
    with pytest.raises(InstrumentError) as err:
        await ev.read()
    message = str(err.value)
    assert "test-reference_ev_emulator" in message and "CP:STATE?;DUTY?;VOLT?" in message
    assert "3 reconnect attempts failed" in message


async def test_link_dropped_mid_query_is_detected_and_retried(scpi_peer, driver):
    peer = await scpi_peer(
        [*ARMED, ("CP:STATE?;DUTY?;VOLT?", None), ("CP:STATE?;DUTY?;VOLT?", "A;0.00;12.00")],
        drop_after=(3,),  # the peer hangs up instead of answering
    )
    ev = await driver("reference_ev_emulator", peer.address, timeout_s=0.3)
    assert (await ev.read()).cp_state == "A"
    assert peer.connections == 2


async def test_open_fails_clearly_when_nothing_listens(driver):
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        address = f"TCPIP::127.0.0.1::{s.getsockname()[1]}::SOCKET"
    with pytest.raises(InstrumentError, match=f"link to {address} lost during 'connect'.*[Rr]efused"):
        await driver("reference_ev_emulator", address)


# ---- against the simulator ------------------------------------------------------------------
async def test_driver_against_simulator_follows_the_plant(plant, sim, driver):
    running = await sim("reference_ev_emulator", plant)
    ev = await driver("reference_ev_emulator", running.address)
    assert (await ev.identify()).vendor == "EVBENCH"

    await ev.set_cp_state("B")
    assert plant.ev_cp_state == CpState.B
    reading = await ev.read()
    assert (reading.cp_state, reading.pwm_duty_pct, reading.cp_voltage_v) == ("B", 0.0, 9.0)

    plant.set_pwm(True, 25.0)  # the charger offers 15 A
    await ev.set_cp_state("C")
    reading = await ev.read()
    assert (reading.cp_state, reading.pwm_duty_pct, reading.offered_current_a) == ("C", 25.0, pytest.approx(15.0))
    assert reading.cp_voltage_v == 6.0

    plant.set_state_f(True)  # the charger forces F: the EV sees -12 V and no PWM
    reading = await ev.read()
    assert (reading.cp_state, reading.cp_voltage_v, reading.offered_current_a) == ("F", -12.0, 0.0)
    plant.set_state_f(False)

    await ev.inject_error("SHORT")
    assert plant.ev_cp_state == CpState.E
    await ev.inject_error("NONE")
    assert plant.ev_cp_state == CpState.C  # back to what the EV applies

    await ev.set_pp_resistance(1500)
    assert running.device.pp_ohm == 1500.0

    await ev.safe_state()
    assert plant.ev_cp_state == CpState.A


async def test_simulator_range_error_reaches_the_driver(plant, sim, driver):
    running = await sim("reference_ev_emulator", plant)
    ev = await driver("reference_ev_emulator", running.address)
    with pytest.raises(InstrumentError, match=r"'PP:RES 1e\+06' refused: SYST:ERR\? = -222,\"Data out of range"):
        await ev.set_pp_resistance(1e6)
    await ev.reset()  # the queue was drained by the driver: the next command is clean
    assert running.device.pp_ohm == 220.0


# ---- watchdog ----------------------------------------------------------------------------------
async def test_the_driver_arms_the_watchdog_while_open_and_disarms_it_on_close(plant, sim, driver):
    running = await sim("reference_ev_emulator", plant)
    ev = await driver("reference_ev_emulator", running.address)
    assert ev.watchdog_s == running.device.watchdog_s == 30.0
    await ev.close()
    assert running.device.watchdog_s == 0.0 and ev.watchdog_s is None


async def test_an_emulator_without_a_watchdog_is_used_without_one(scpi_peer, driver):
    peer = await scpi_peer([("*CLS", None), ("SYST:WDOG 30", None), ("SYST:ERR?", '-113,"Undefined header"'),
                            ("*IDN?", "EVBENCH,REF-EV-EMULATOR,SN42,2.1.0")])
    ev = await driver("reference_ev_emulator", peer.address)
    assert ev.watchdog_s is None
    assert (await ev.identify()).serial == "SN42"


async def test_a_starved_watchdog_unplugs_the_ev(plant, sim):
    import asyncio

    from instruments.transports.scpi import ScpiTransport

    running = await sim("reference_ev_emulator", plant)
    link = ScpiTransport("raw", running.address)
    await link.open()
    try:
        assert await link.query("SYST:WDOG 0.3;:CP:STATE C;*OPC?") == "1"
        assert plant.ev_cp_state == CpState.C
        for _ in range(3):  # fed: still charging
            await asyncio.sleep(0.15)
            assert await link.query("CP:STATE?") == "C"
        await asyncio.sleep(0.5)  # nothing sent for longer than the watchdog: the bench is gone
        assert plant.ev_cp_state == CpState.A and running.device.watchdog_trips == 1
        assert await link.query("EV:ERR?") == "NONE"
    finally:
        await link.close()


async def test_a_late_reply_is_never_read_as_the_answer_to_the_next_query(plant, sim, driver):
    running = await sim("reference_ev_emulator", plant)
    ev = await driver("reference_ev_emulator", running.address, timeout_s=0.4)
    running.device.stall(0.6)
    with pytest.raises(InstrumentError, match=r"no reply to 'CP:STATE\?;DUTY\?;VOLT\?' within 0.4 s"):
        await ev.read()
    # asked while it is still stalled: the late "A;100.00;12.00" arrives during this exchange, and
    # is read and dropped by the resync (*CLS, *OPC? answered 1) before *IDN? is sent
    assert (await ev.identify()).model == "REF-EV-EMULATOR"
    assert not ev.transport.out_of_step
    await ev.set_cp_state("B")  # its SYST:ERR? reads its own 0,"No error"
    assert (await ev.read()).cp_state == "B"


async def test_a_link_given_up_is_tried_once_per_exchange_afterwards(scpi_peer, driver):
    # teardown sends several commands to a lost instrument: each must fail at once, not after a new
    # series of reconnects
    peer = await scpi_peer([*ARMED])
    ev = await driver("reference_ev_emulator", peer.address)
    await peer.close()
    with pytest.raises(LinkLost, match="3 reconnect attempts failed"):
        await ev.read()
    with pytest.raises(LinkLost, match="still gone, one reconnect attempt failed"):
        await ev.set_cp_state("A")
