"""The simulated charger as an OCPP 2.0.1 and 2.1 charging station, against the bench's
CSMS stub over real websockets: boot, TransactionEvent flow with TxStartPoint and
TxStopPoint, device model, smart charging, reset, display messages, offline queueing."""
from __future__ import annotations

import pytest

from instruments.iec61851 import CpState
from bench.sim import faults as F


pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["2.0.1", "2.1"])
def version(request) -> str:
    return request.param



def _tx_events(blab, tx_id=None):
    return [f for f in blab.frames("TransactionEvent") if tx_id is None or f["transactionInfo"]["transactionId"] == tx_id]


async def test_boot_and_connector_status(blab, version):
    await blab.charger(version)
    boot = blab.frames("BootNotification")[0]
    assert boot["reason"] == "PowerUp" and boot["chargingStation"]["vendorName"] == "evbench"
    assert blab.dut.ocpp_version == version
    await blab.wait_until(lambda: blab.dut.status(1) == "Available")
    assert blab.frames("StatusNotification")[0] == {**blab.frames("StatusNotification")[0], "connectorStatus": "Available",
                                                     "evseId": 1, "connectorId": 1}
    await blab.dut.wait_for("notify_event", timeout_s=5)
    event = blab.frames("NotifyEvent")[0]["eventData"][0]
    assert (event["component"]["name"], event["variable"]["name"], event["actualValue"]) == (
        "Connector", "AvailabilityState", "Available")


async def test_remote_start_to_stop_is_one_transaction_with_consecutive_seq_nos(blab, version):
    charger = await blab.charger(version)
    blab.plant.set_ev_cp_state(CpState.B)
    await blab.wait_until(lambda: blab.dut.status(1) == "Occupied")
    assert charger.transaction_id() is None  # PowerPathClosed: cable alone starts nothing
    tx_id = await blab.start_charging(charger, amps=10)
    await blab.dut.wait_for("status", lambda e: e.data["status"] == "Charging", timeout_s=5)
    await blab.dut.wait_for("meter_values", lambda e: e.data["transaction_id"] == tx_id, timeout_s=5)
    assert await blab.dut.remote_stop(tx_id) == "Accepted"
    await blab.dut.wait_for("transaction_stopped", timeout_s=5)
    await blab.wait_until(lambda: not blab.plant.contactor_closed)

    events = _tx_events(blab, tx_id)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    started, ended = events[0], events[-1]
    assert started["eventType"] == "Started" and started["triggerReason"] == "RemoteStart"
    assert started["idToken"] == {"idToken": "TAG-1", "type": "Central"}
    assert started["transactionInfo"]["remoteStartId"] >= 1 and started["evse"] == {"id": 1, "connectorId": 1}
    assert started["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.Begin"
    assert {e["triggerReason"] for e in events[1:-1]} >= {"ChargingStateChanged", "MeterValuePeriodic"}
    assert ended["eventType"] == "Ended" and ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    tx = blab.dut.transactions[tx_id]
    assert tx.meter_start_wh is not None and tx.energy_wh > 0 and tx.stop_reason == "Remote"
    assert blab.dut.findings == []


async def test_tx_start_point_ev_connected_starts_at_plug_in_and_the_driver_comes_later(blab, version):
    charger = await blab.charger(version)
    results = await blab.dut.set_variables([(("TxCtrlr", "TxStartPoint"), "EVConnected")])
    assert results[0]["attributeStatus"] == "Accepted"
    blab.plant.set_ev_cp_state(CpState.B)
    started = await blab.dut.wait_for("transaction_started", timeout_s=5)
    tx = started.data["transaction"]
    assert tx.id_tag == "" and not blab.plant.pwm_on  # no driver yet: no current offered
    assert _tx_events(blab)[0]["triggerReason"] == "CablePluggedIn"
    assert await charger.present_id_tag("TAG-2") == "Accepted"
    await blab.wait_until(lambda: tx.id_tag == "TAG-2" and blab.plant.pwm_on)
    assert _tx_events(blab)[1]["triggerReason"] == "Authorized" and _tx_events(blab)[1]["idToken"]["idToken"] == "TAG-2"
    blab.plant.set_ev_cp_state(CpState.A)
    await blab.dut.wait_for("transaction_stopped", timeout_s=5)
    assert tx.stop_reason == "EVDisconnected" and _tx_events(blab)[-1]["triggerReason"] == "EVCommunicationLost"


async def test_tx_stop_point_ev_connected_keeps_the_transaction_until_unplug(blab, version):
    charger = await blab.charger(version)
    await blab.dut.set_variables([(("TxCtrlr", "TxStopPoint"), "EVConnected")])
    tx_id = await blab.start_charging(charger, amps=8)
    assert await blab.dut.remote_stop(tx_id) == "Accepted"
    await blab.wait_until(lambda: not blab.plant.pwm_on)  # energy stops ...
    assert blab.dut.transactions[tx_id].running  # ... the transaction does not
    assert _tx_events(blab, tx_id)[-1]["triggerReason"] == "RemoteStop"
    blab.plant.set_ev_cp_state(CpState.A)
    await blab.dut.wait_for("transaction_stopped", timeout_s=5)
    assert blab.dut.transactions[tx_id].stop_reason == "EVDisconnected"


async def test_device_model_get_set_and_report(blab, version):
    await blab.charger(version)
    dut = blab.dut
    results = await dut.set_variables([
        (("SampledDataCtrlr", "TxUpdatedInterval"), "3"),
        (("SampledDataCtrlr", "TxUpdatedInterval"), "soon"),
        (("TxCtrlr", "TxStartPoint"), "Bogus"),
        (("SecurityCtrlr", "SecurityProfile"), "3"),       # read-only
        (("NoSuchCtrlr", "Enabled"), "true"),
        (("TxCtrlr", "NoSuchVariable"), "1"),
        (("SecurityCtrlr", "BasicAuthPassword"), "short"),  # passwordString is 16..40 characters
    ])
    assert [r["attributeStatus"] for r in results] == [
        "Accepted", "Rejected", "Rejected", "Rejected", "UnknownComponent", "UnknownVariable", "Rejected"]
    got = await dut.get_variables([("SampledDataCtrlr", "TxUpdatedInterval"), ("SecurityCtrlr", "BasicAuthPassword"),
                                   ("SmartChargingCtrlr", "Entries", "ChargingProfiles")])
    assert (got[0]["attributeStatus"], got[0]["attributeValue"]) == ("Accepted", "3")
    assert got[1]["attributeStatus"] == "Rejected" and "attributeValue" not in got[1]  # write-only
    assert got[2]["attributeValue"] == "0"
    assert (await dut.get_configuration(["MeterValueSampleInterval"]))["configurationKey"][0]["value"] == "3"

    status, items = await dut.get_base_report("FullInventory")
    assert status == "Accepted" and len(items) > 40
    names = {(i["component"]["name"], i["variable"]["name"]) for i in items}
    assert {("SampledDataCtrlr", "TxUpdatedMeasurands"), ("AlignedDataCtrlr", "Interval"), ("TxCtrlr", "TxStopPoint"),
            ("AuthCtrlr", "AuthorizeRemoteStart"), ("SecurityCtrlr", "SecurityProfile"),
            ("SmartChargingCtrlr", "RateUnit")} <= names
    reports = blab.frames("NotifyReport")
    assert [r["seqNo"] for r in reports] == list(range(len(reports))) and len(reports) > 1
    assert [r.get("tbc", False) for r in reports][-1] is False and all(r["tbc"] for r in reports[:-1])
    password = next(i for i in items if i["variable"]["name"] == "BasicAuthPassword")
    assert "value" not in password["variableAttribute"][0]
    status, summary = await dut.get_base_report("SummaryInventory")
    assert status == "Accepted" and 0 < len(summary) < len(items)


async def test_profiles_limit_the_pwm_and_are_reported(blab, version):
    charger = await blab.charger(version)
    tx_id = await blab.start_charging(charger, amps=16)
    profile = {"id": 9, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "transactionId": tx_id, "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]}]}
    assert await blab.dut.set_charging_profile(1, profile) == "Accepted"
    await blab.wait_until(lambda: charger.applied_limit_a() == 8.0)
    no_tx = {**profile, "id": 10, "transactionId": "another-one"}
    assert await blab.dut.set_charging_profile(1, no_tx) == "Rejected"
    status, profiles = await blab.dut.get_charging_profiles()
    assert status == "Accepted" and [(evse, p["id"]) for evse, p in profiles] == [(1, 9)]
    answer = await blab.dut.get_composite_schedule(1, 30)
    assert answer["schedule"]["chargingSchedulePeriod"][0]["limit"] == 8.0
    assert await blab.dut.clear_charging_profile(id=9) == "Accepted"
    await blab.wait_until(lambda: charger.applied_limit_a() == 32.0)
    assert await blab.dut.get_charging_profiles() == ("NoProfiles", [])


@pytest.mark.parametrize("fault", [F.IGNORES_PROFILE, F.ACCEPTS_INVALID_PROFILE])
async def test_faults_work_on_2x(blab, version, fault):
    charger = await blab.charger(version, faults=frozenset({fault}))
    tx_id = await blab.start_charging(charger, amps=16)
    limited = {"id": 9, "stackLevel": 1, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
               "transactionId": tx_id, "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                                                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]}]}
    if fault == F.IGNORES_PROFILE:
        assert await blab.dut.set_charging_profile(1, limited) == "Accepted"
        await blab.clock.sleep(1.0)
        assert charger.applied_limit_a() == 32.0
    else:
        wrong = {**limited, "transactionId": "not-this-one"}
        assert await blab.dut.set_charging_profile(1, wrong) == "Accepted"  # must be Rejected
        assert await blab.dut.get_charging_profiles() == ("NoProfiles", [])


async def test_reset_immediate_ends_the_transaction_and_reboots(blab, version):
    charger = await blab.charger(version)
    tx_id = await blab.start_charging(charger, amps=8)
    mark = blab.dut.mark()
    assert await blab.dut.reset("Immediate") == "Accepted"
    await blab.dut.wait_for("boot", timeout_s=5, since_index=mark)
    assert blab.dut.transactions[tx_id].stop_reason == "ImmediateReset"  # the Ended event came before the boot
    assert blab.frames("BootNotification")[-1]["reason"] == "RemoteReset"
    await blab.wait_until(lambda: charger.boot_count == 2)


async def test_reset_on_idle_waits_for_the_transaction(blab, version):
    charger = await blab.charger(version)
    tx_id = await blab.start_charging(charger, amps=8)
    mark = blab.dut.mark()
    assert await blab.dut.reset("OnIdle") == "Scheduled"
    await blab.clock.sleep(0.5)
    assert charger.boot_count == 1 and blab.dut.transactions[tx_id].running
    blab.plant.set_ev_cp_state(CpState.A)
    await blab.dut.wait_for("boot", timeout_s=5, since_index=mark)
    assert blab.dut.transactions[tx_id].stop_reason == "EVDisconnected"


async def test_display_messages_network_profile_unlock_availability(blab, version):
    charger = await blab.charger(version)
    dut = blab.dut
    message = {"id": 1, "priority": "NormalCycle", "message": {"format": "UTF8", "content": "Willkommen"}}
    assert await dut.set_display_message(message) == "Accepted"
    html = {**message, "id": 2, "message": {"format": "HTML", "content": "<b>x</b>"}}
    assert await dut.set_display_message(html) == "NotSupportedMessageFormat"
    assert await dut.get_display_messages() == ("Accepted", [message])
    assert await dut.get_display_messages(priority="AlwaysFront") == ("Unknown", [])
    assert await dut.clear_display_message(1) == "Accepted"
    assert await dut.clear_display_message(1) == "Unknown"

    assert await dut.set_security_profile(0, blab.csms.url) == "Accepted"  # same as in use (0)
    tx_id = await blab.start_charging(charger, amps=8)
    assert await dut.unlock_connector(1) == "OngoingAuthorizedTransaction"
    assert await dut.change_availability(1, "Inoperative") == "Scheduled"
    await dut.remote_stop(tx_id)
    await blab.wait_until(lambda: dut.status(1) == "Unavailable")
    assert await dut.change_availability(0, "Operative") == "Accepted"
    await blab.wait_until(lambda: dut.status(1) == "Occupied")


async def test_triggered_messages(blab, version):
    charger = await blab.charger(version)
    dut = blab.dut
    assert await dut.trigger_message("TransactionEvent") == "Rejected"  # no transaction
    assert await dut.trigger_message("MeterValues", 1) == "Accepted"
    await dut.wait_for("meter_values", lambda e: e.data["transaction_id"] is None, timeout_s=5)
    assert await dut.trigger_message("BootNotification") == "Rejected"  # F06.FR.17: already Accepted
    tx_id = await blab.start_charging(charger, amps=8)
    assert await dut.trigger_message("TransactionEvent", 1) == "Accepted"
    await blab.wait_until(lambda: _tx_events(blab, tx_id)[-1]["triggerReason"] == "Trigger")
    assert await dut.trigger_message("LogStatusNotification") == "Accepted"
    await dut.wait_for("log_status", timeout_s=5)


async def test_transaction_events_made_offline_are_sent_later_flagged_offline(blab, version):
    charger = await blab.charger(version)
    tx_id = await blab.start_charging(charger, amps=8)
    port = blab.csms.port
    await blab.csms.stop()
    await blab.wait_until(lambda: not charger.online)
    blab.plant.set_ev_cp_state(CpState.A)  # ends the transaction while offline
    await blab.clock.sleep(0.3)
    blab.csms.settings.port = port
    await blab.csms.start()
    await blab.dut.wait_for("transaction_stopped", timeout_s=10)
    ended = _tx_events(blab, tx_id)[-1]
    assert ended["eventType"] == "Ended" and ended["offline"] is True
    # an event whose answer was lost in the outage comes again, with its seqNo: nothing is missing
    seq_nos = sorted({e["seqNo"] for e in _tx_events(blab, tx_id)})
    assert seq_nos == list(range(len(seq_nos)))
    assert blab.dut.findings == []  # a resent event is no finding
