"""The simulated charger's normal behaviour against a real OCPP 1.6 CSMS over a socket:
boot, statuses, the IEC 61851-1 state machine, transactions and metering."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from bench.clock import parse_iso
from instruments.iec61851 import CpState, current_to_duty_pct


async def test_boot_heartbeat_and_status_flow(lab):
    lab.csms.heartbeat_s = 1
    charger = await lab.charger()
    boot = lab.csms.of("BootNotification")[0].payload
    assert (boot["chargePointVendor"], boot["chargePointModel"]) == ("evbench", "VirtualCharger-AC22")
    await lab.csms.wait_status("Available", connector_id=0)
    first = await lab.csms.wait_status("Available", connector_id=1)
    # Timestamps come from the injected clock (anchored in 2031), with milliseconds.
    assert parse_iso(first.payload["timestamp"]).year == lab.clock.UTC0.year
    assert first.payload["timestamp"].endswith("Z") and len(first.payload["timestamp"]) == 24

    hb = await lab.csms.wait_for("Heartbeat", timeout=3)
    assert hb.mono - lab.csms.of("BootNotification")[0].mono == pytest.approx(1.0, abs=0.4)

    mark = lab.csms.mark()
    lab.plant.set_ev_cp_state(CpState.B)
    await lab.csms.wait_status("Preparing", since=mark)
    assert lab.plant.pwm_on is False and lab.plant.contactor_closed is False  # no PWM before authorization
    lab.plant.set_ev_cp_state(CpState.A)
    await lab.csms.wait_status("Available", since=mark)
    assert charger.connector_status() == "Available"


async def test_remote_start_charge_and_stop_energy(lab):
    charger = await lab.charger()
    mark = lab.csms.mark()
    lab.plant.set_ev_cp_state(CpState.B)
    await lab.csms.wait_status("Preparing", since=mark)

    res = await lab.csms.cp.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
    assert res.status == "Accepted"
    start = (await lab.csms.wait_for("StartTransaction")).payload
    assert start["connectorId"] == 1 and start["idTag"] == "TAG-1"
    assert start["meterStart"] == round(charger.config.meter_initial_wh)   # lifetime register, not 0
    await lab.csms.wait_status("SuspendedEV", since=mark)                  # PWM on, EV not yet in C
    assert lab.plant.pwm_on and lab.plant.pwm_duty_pct == current_to_duty_pct(32.0) == 53.3

    energy0 = lab.plant.energy_wh()
    lab.plant.set_ev_cp_state(CpState.C)
    await lab.wait_until(lambda: lab.plant.contactor_closed)
    await lab.csms.wait_status("Charging", since=mark)
    lab.draw(32.0)
    await lab.csms.wait_for("MeterValues", since=mark, timeout=3)
    await lab.clock.sleep(2.0)

    tx_id = charger.transaction_id()
    res = await lab.csms.cp.call(call.RemoteStopTransaction(transaction_id=tx_id))
    assert res.status == "Accepted"
    stop = (await lab.csms.wait_for("StopTransaction")).payload
    assert not lab.plant.contactor_closed and not lab.plant.pwm_on
    counted = lab.plant.energy_wh() - energy0
    assert counted > 15.0                      # ~22 kW for ~2.5 s
    assert stop["transactionId"] == tx_id and stop["reason"] == "Remote" and stop["idTag"] == "TAG-1"
    assert abs((stop["meterStop"] - start["meterStart"]) - counted) <= 1.0   # integer Wh registers
    # transactionData carries the register at 0.1 Wh resolution: begin/end agree with the plant.
    begin, end = (float(mv["sampledValue"][0]["value"]) for mv in stop["transactionData"])
    assert [mv["sampledValue"][0]["context"] for mv in stop["transactionData"]] == ["Transaction.Begin",
                                                                                     "Transaction.End"]
    assert end - begin == pytest.approx(counted, abs=0.15)

    await lab.csms.wait_status("Finishing", since=mark)        # stopped while still plugged
    lab.plant.set_ev_cp_state(CpState.A)
    await lab.csms.wait_status("Available", since=mark)


async def test_meter_values_interval_and_measurands(lab):
    charger = await lab.charger()
    tx_id = await lab.start_charging(charger, amps=16.0)
    mark = lab.csms.mark()
    for _ in range(3):
        await lab.csms.wait_for("MeterValues", since=lab.csms.mark(), timeout=3)
    frames = lab.csms.of("MeterValues", since=mark)[:3]
    stamps = [parse_iso(f.payload["meterValue"][0]["timestamp"]) for f in frames]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert gaps == pytest.approx([1.0, 1.0], abs=0.2)

    payload = frames[-1].payload
    assert payload["connectorId"] == 1 and payload["transactionId"] == tx_id
    values = payload["meterValue"][0]["sampledValue"]
    by = {(v["measurand"], v.get("phase")): v for v in values}
    assert set(by) == {
        ("Energy.Active.Import.Register", None), ("Power.Active.Import", None),
        ("Current.Import", "L1"), ("Current.Import", "L2"), ("Current.Import", "L3"),
        ("Voltage", "L1-N"), ("Voltage", "L2-N"), ("Voltage", "L3-N"),
    }
    assert all(v["context"] == "Sample.Periodic" for v in values)
    assert by[("Energy.Active.Import.Register", None)]["unit"] == "Wh"
    assert float(by[("Energy.Active.Import.Register", None)]["value"]) > charger.config.meter_initial_wh
    assert by[("Current.Import", "L2")]["value"] == "16.00" and by[("Current.Import", "L2")]["unit"] == "A"
    assert float(by[("Power.Active.Import", None)]["value"]) == pytest.approx(3 * 16 * 230.0)
    assert by[("Voltage", "L3-N")]["value"] == "230.0" and by[("Voltage", "L3-N")]["unit"] == "V"


async def test_c_to_b_opens_contactor_within_100_ms_and_unplug_ends_transaction(lab):
    charger = await lab.charger()
    await lab.start_charging(charger)
    mark = lab.csms.mark()
    lab.plant.set_ev_cp_state(CpState.B)
    took = await lab.wait_until(lambda: not lab.plant.contactor_closed, timeout=1)
    assert took < 0.1
    await lab.csms.wait_status("SuspendedEV", since=mark)
    assert lab.plant.pwm_on                     # the offer stays: the EV may resume

    lab.plant.set_ev_cp_state(CpState.A)
    stop = await lab.csms.wait_for("StopTransaction", since=mark)
    assert stop.payload["reason"] == "EVDisconnected"
    await lab.csms.wait_status("Available", since=mark)
    assert charger.transaction_id() is None and not lab.plant.pwm_on


async def test_ev_error_state_faults_the_connector(lab):
    charger = await lab.charger()
    await lab.start_charging(charger)
    mark = lab.csms.mark()
    lab.plant.set_ev_cp_state(CpState.E)
    status = await lab.csms.wait_status("Faulted", since=mark)
    assert status.payload["errorCode"] == "OtherError"
    assert not lab.plant.contactor_closed and not lab.plant.pwm_on


async def test_local_start_and_stop_with_an_id_tag(lab):
    charger = await lab.charger()
    assert await charger.present_id_tag("TAG-INVALID") == "Invalid"
    assert charger.transaction_id() is None

    mark = lab.csms.mark()
    assert await charger.present_id_tag("TAG-9") == "Accepted"
    await lab.csms.wait_status("Preparing", since=mark)          # authorized, waiting for the cable
    lab.plant.set_ev_cp_state(CpState.B)
    start = await lab.csms.wait_for("StartTransaction", since=mark)
    assert start.payload["idTag"] == "TAG-9"
    assert [f.action for f in lab.csms.frames[mark:]].index("Authorize") < \
        [f.action for f in lab.csms.frames[mark:]].index("StartTransaction")

    await lab.wait_until(lambda: charger.transaction_id() is not None)
    assert await charger.present_id_tag("TAG-9") == "Accepted"   # same tag again: stop
    stop = await lab.csms.wait_for("StopTransaction", since=mark)
    assert stop.payload["reason"] == "Local"
