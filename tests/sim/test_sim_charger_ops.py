"""Operations on the simulated charger: configuration keys, TriggerMessage, Reset,
availability, unlock, DataTransfer, and a lost connection while charging."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from bench.clock import parse_iso
from instruments.iec61851 import CpState


async def test_get_and_change_configuration(lab):
    charger = await lab.charger()
    res = await lab.csms.cp.call(call.GetConfiguration(key=["MeterValueSampleInterval", "NoSuchKey"]))
    assert res.configuration_key == [{"key": "MeterValueSampleInterval", "readonly": False, "value": "1"}]
    assert res.unknown_key == ["NoSuchKey"]
    everything = await lab.csms.cp.call(call.GetConfiguration())
    keys = {k["key"] for k in everything.configuration_key}
    assert {"HeartbeatInterval", "MeterValuesSampledData", "ClockAlignedDataInterval",
            "NumberOfConnectors"} <= keys

    async def change(key: str, value: str) -> str:
        return (await lab.csms.cp.call(call.ChangeConfiguration(key=key, value=value))).status

    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("NumberOfConnectors", "2") == "Rejected"          # read-only
    assert await change("MeterValueSampleInterval", "soon") == "Rejected"  # not an integer
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Current.Offered") == "Accepted"
    assert await change("MeterValueSampleInterval", "2") == "Accepted"

    await lab.start_charging(charger, amps=8.0)
    mark = lab.csms.mark()
    first = await lab.csms.wait_for("MeterValues", since=mark, timeout=4)
    second = await lab.csms.wait_for("MeterValues", since=lab.csms.mark(), timeout=4)
    gap = (parse_iso(second.payload["meterValue"][0]["timestamp"])
           - parse_iso(first.payload["meterValue"][0]["timestamp"])).total_seconds()
    assert gap == pytest.approx(2.0, abs=0.2)
    sampled = second.payload["meterValue"][0]["sampledValue"]
    assert [v["measurand"] for v in sampled] == ["Energy.Active.Import.Register", "Current.Offered"]
    assert sampled[1]["value"] == "32.0"


async def test_clock_aligned_meter_values(lab):
    await lab.charger()
    assert (await lab.csms.cp.call(call.ChangeConfiguration(key="ClockAlignedDataInterval", value="1"))).status \
        == "Accepted"
    frames = [await lab.csms.wait_for("MeterValues", timeout=3)]
    frames.append(await lab.csms.wait_for("MeterValues", since=lab.csms.mark(), timeout=3))
    for frame in frames:
        value = frame.payload["meterValue"][0]
        stamp = parse_iso(value["timestamp"])
        assert stamp.microsecond < 200_000           # on the whole second (+ one tick and the loop)
        assert value["sampledValue"][0]["context"] == "Sample.Clock"
        assert "transactionId" not in frame.payload  # no transaction running


async def test_trigger_message(lab):
    charger = await lab.charger()
    await lab.start_charging(charger, amps=10.0)
    mark = lab.csms.mark()
    for message in ("MeterValues", "StatusNotification", "Heartbeat", "BootNotification"):
        res = await lab.csms.cp.call(call.TriggerMessage(requested_message=message, connector_id=None))
        assert res.status == "Accepted"
        await lab.csms.wait_for(message, since=mark)
    mv = lab.csms.of("MeterValues", since=mark)[0].payload["meterValue"][0]["sampledValue"]
    assert {v["context"] for v in mv} == {"Trigger"}
    assert (await lab.csms.cp.call(call.TriggerMessage(requested_message="MeterValues", connector_id=9))).status \
        == "Rejected"
    assert (await lab.csms.cp.call(call.TriggerMessage(requested_message="FirmwareStatusNotification"))).status \
        == "NotImplemented"


async def test_soft_reset_stops_the_transaction_and_reboots(lab):
    charger = await lab.charger()
    await lab.start_charging(charger)
    mark = lab.csms.mark()
    assert (await lab.csms.cp.call(call.Reset(type="Soft"))).status == "Accepted"
    stop = await lab.csms.wait_for("StopTransaction", since=mark)
    assert stop.payload["reason"] == "SoftReset"
    await lab.csms.wait_for("BootNotification", since=mark)
    assert len(lab.csms.connections) == 2          # a new WebSocket connection
    await lab.wait_until(lambda: charger.online)
    assert charger.boot_count == 2 and charger.transaction_id() is None


async def test_lost_connection_keeps_charging_and_replays_transaction_data(lab):
    charger = await lab.charger()
    tx_id = await lab.start_charging(charger, amps=16.0)
    await lab.csms.stop()                             # the CSMS goes away (sockets closed)
    await lab.wait_until(lambda: not charger.online)
    mark = lab.csms.mark()
    await lab.clock.sleep(1.5)                        # samples fall due while offline
    assert lab.plant.contactor_closed and lab.plant.pwm_duty_pct == 53.3   # charging goes on

    restarted = lab.clock.monotonic()
    await lab.csms.start_on(lab.csms.port)
    replayed = await lab.csms.wait_for("MeterValues", since=mark, timeout=5)
    assert replayed.payload["transactionId"] == tx_id
    sampled_at = parse_iso(replayed.payload["meterValue"][0]["timestamp"])
    assert (sampled_at - lab.clock.UTC0).total_seconds() < restarted   # sampled before the reconnect
    await lab.csms.wait_status("Charging", since=mark)      # statuses re-sent on the new connection
    # nothing in a BootNotification changed: a reconnect sends none (OCPP-J 1.6 section 5.4)
    assert not lab.csms.of("BootNotification", since=mark) and charger.boot_count == 1


async def test_change_availability_idle_and_scheduled_during_a_transaction(lab):
    charger = await lab.charger()
    mark = lab.csms.mark()
    res = await lab.csms.cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))
    assert res.status == "Accepted"
    await lab.csms.wait_status("Unavailable", since=mark)
    rs = await lab.csms.cp.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1))
    assert rs.status == "Rejected"
    assert (await lab.csms.cp.call(call.ChangeAvailability(connector_id=1, type="Operative"))).status == "Accepted"
    await lab.csms.wait_status("Available", since=mark)

    await lab.start_charging(charger)
    mark = lab.csms.mark()
    res = await lab.csms.cp.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))
    assert res.status == "Scheduled"
    assert lab.plant.contactor_closed                  # the running transaction is not touched
    await lab.csms.cp.call(call.RemoteStopTransaction(transaction_id=charger.transaction_id()))
    lab.plant.set_ev_cp_state(CpState.A)
    await lab.csms.wait_status("Unavailable", since=mark)


async def test_unlock_connector_and_data_transfer(lab):
    charger = await lab.charger()
    await lab.start_charging(charger)
    mark = lab.csms.mark()
    assert (await lab.csms.cp.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    stop = await lab.csms.wait_for("StopTransaction", since=mark)
    assert stop.payload["reason"] == "UnlockCommand"
    assert (await lab.csms.cp.call(call.UnlockConnector(connector_id=4))).status == "NotSupported"
    assert (await lab.csms.cp.call(call.DataTransfer(vendor_id="acme", message_id="x"))).status == "UnknownVendorId"


async def test_charger_waits_for_a_csms_that_comes_up_late(lab):
    await lab.csms.stop()
    charger = await lab.charger(online=False, csms_url=lab.csms.url)
    await lab.clock.sleep(0.5)                         # a few refused connection attempts
    assert not charger.online
    await lab.csms.start_on(lab.csms.port)
    await lab.wait_until(lambda: charger.online, timeout=5)
    assert lab.csms.of("BootNotification")
