"""Commands of the version-neutral Dut to a 2.0.1 or 2.1 charger: what goes on the wire
(validated by the `ocpp` library's schemas of that version before it is sent) and what
the Dut makes of the answers."""
from __future__ import annotations

import pytest

from bench.csms import DutNotSupported, DutProtocolError, DutTimeout, EventKind, v201
from bench.csms.dut import ReportNotSent
from bench.csms.message_log import CSMS_TO_DUT

pytestmark = pytest.mark.timeout(30)

PROFILE_16 = {  # a scenario's profile in the 1.6 form: the Dut sends it in the charger's
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "ChargePointMaxProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "startSchedule": "2031-05-06T07:08:09Z",
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900, "numberPhases": 3}],
    },
}


@pytest.fixture(params=["2.0.1", "2.1"])
def version(request) -> str:
    return request.param


def sent(log, action):
    return [e for e in log.entries if e.direction == CSMS_TO_DUT and e.action == action][-1].frame[3]


async def test_set_charging_profile_is_translated_to_the_2x_form(csms, clients, log, version):
    await clients.charger2x(version)
    assert await csms.dut("CP1").set_charging_profile(0, PROFILE_16) == "Accepted"
    assert sent(log, "SetChargingProfile") == {"evseId": 0, "chargingProfile": {
        "id": 7, "stackLevel": 1, "chargingProfilePurpose": "ChargingStationMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": 7, **PROFILE_16["chargingSchedule"]}]}}


async def test_remote_start_and_stop(csms, clients, log, version):
    charger = await clients.charger2x(version)
    dut = csms.dut("CP1")
    tx_profile = {**PROFILE_16, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative"}
    assert await dut.remote_start(1, "TAG-OK", charging_profile=tx_profile) == "Accepted"
    request = sent(log, "RequestStartTransaction")
    assert request["idToken"] == {"idToken": "TAG-OK", "type": "Central"} and request["evseId"] == 1
    assert request["chargingProfile"]["chargingSchedule"][0].get("startSchedule") is None  # Relative: none in 2.x
    assert await dut.remote_start(1, "TAG-OK") == "Accepted"
    assert sent(log, "RequestStartTransaction")["remoteStartId"] == request["remoteStartId"] + 1
    assert await dut.remote_stop("TX-9") == "Accepted"
    assert charger.received["RequestStopTransaction"] == {"transactionId": "TX-9"}


async def test_clear_charging_profile_by_id_and_by_criteria(csms, clients, log, version):
    await clients.charger2x(version)
    dut = csms.dut("CP1")
    await dut.clear_charging_profile(id=7)
    assert sent(log, "ClearChargingProfile") == {"chargingProfileId": 7}
    await dut.clear_charging_profile(connector_id=1, purpose="ChargePointMaxProfile", stack_level=0)
    assert sent(log, "ClearChargingProfile") == {"chargingProfileCriteria": {
        "evseId": 1, "chargingProfilePurpose": "ChargingStationMaxProfile", "stackLevel": 0}}
    await dut.clear_charging_profile()
    assert sent(log, "ClearChargingProfile") == {}


async def test_composite_schedule_answer_is_returned_as_on_the_wire(csms, clients, log, version):
    await clients.charger2x(version)
    answer = await csms.dut("CP1").get_composite_schedule(1, 60, "A")
    assert sent(log, "GetCompositeSchedule") == {"duration": 60, "evseId": 1, "chargingRateUnit": "A"}
    assert answer["schedule"]["chargingSchedulePeriod"][0]["limit"] == 8.5


async def test_configuration_keys_of_16_map_to_device_model_variables(csms, clients, log, version):
    charger = await clients.charger2x(version)
    dut = csms.dut("CP1")

    def set_answer(payload):
        statuses = {"TxUpdatedInterval": "Accepted", "NoSuchVariable": "UnknownVariable"}
        return {"setVariableResult": [
            {"attributeStatus": statuses.get(d["variable"]["name"], "RebootRequired"),
             "component": d["component"], "variable": d["variable"]} for d in payload["setVariableData"]]}
    charger.answers["SetVariables"] = set_answer
    assert await dut.change_configuration("MeterValueSampleInterval", "5") == "Accepted"
    assert sent(log, "SetVariables") == {"setVariableData": [{
        "component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}, "attributeValue": "5"}]}
    assert await dut.change_configuration("SampledDataCtrlr.NoSuchVariable", "1") == "NotSupported"
    assert await dut.change_configuration("NotAKey", "1") == "NotSupported"  # nothing sent for it
    assert await dut.change_configuration("HeartbeatInterval", "30") == "RebootRequired"
    assert sent(log, "SetVariables")["setVariableData"][0]["component"] == {"name": "OCPPCommCtrlr"}

    statuses = await dut.configure_metering(2, "Energy.Active.Import.Register,Current.Import")
    assert statuses == {"SampledDataCtrlr.TxUpdatedInterval": "Accepted",
                        "SampledDataCtrlr.TxUpdatedMeasurands": "RebootRequired",
                        "SampledDataCtrlr.TxStartedMeasurands": "RebootRequired",
                        "SampledDataCtrlr.TxEndedMeasurands": "RebootRequired"}

    charger.answers["GetVariables"] = lambda payload: {"getVariableResult": [
        {"attributeStatus": "Accepted", "attributeValue": "7", **d} if d["variable"]["name"] == "TxUpdatedInterval"
        else {"attributeStatus": "UnknownVariable", **d} for d in payload["getVariableData"]]}
    answer = await dut.get_configuration(["MeterValueSampleInterval", "ClockAlignedDataInterval", "Bogus"])
    assert answer == {"configurationKey": [{"key": "MeterValueSampleInterval", "value": "7", "readonly": False}],
                      "unknownKey": ["Bogus", "ClockAlignedDataInterval"]}
    results = await dut.get_variables([("SampledDataCtrlr", "TxUpdatedInterval")])
    assert results[0]["attributeValue"] == "7"


async def test_trigger_reset_unlock_availability_in_2x_words(csms, clients, log, version):
    charger = await clients.charger2x(version)
    dut = csms.dut("CP1")
    assert await dut.trigger_message("StatusNotification", 1) == "Accepted"
    assert sent(log, "TriggerMessage") == {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}}
    await dut.trigger_message("DiagnosticsStatusNotification")
    assert sent(log, "TriggerMessage") == {"requestedMessage": "LogStatusNotification"}
    await dut.reset("Hard")
    assert charger.received["Reset"] == {"type": "Immediate"}
    await dut.reset("Soft")
    assert charger.received["Reset"] == {"type": "OnIdle"}
    assert await dut.unlock_connector(2) == "Unlocked"
    assert charger.received["UnlockConnector"] == {"evseId": 2, "connectorId": 1}
    assert await dut.change_availability(0, "Inoperative") == "Scheduled"
    assert charger.received["ChangeAvailability"] == {"operationalStatus": "Inoperative"}
    await dut.change_availability(1, "Operative")
    assert charger.received["ChangeAvailability"] == {"operationalStatus": "Operative", "evse": {"id": 1}}


async def test_reports_are_collected_until_tbc_is_false(csms, clients, version):
    charger = await clients.charger2x(version)
    calls = charger.call_module
    item = {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStopPoint"},
            "variable_attribute": [{"value": "EVConnected"}]}

    async def notify(payload):
        for seq, tbc in ((0, True), (1, False)):
            await charger.call(calls.NotifyReport(request_id=payload["requestId"], generated_at="2031-05-06T07:10:00Z",
                                                  seq_no=seq, report_data=[item], tbc=tbc))
    charger.follow_ups["GetBaseReport"] = notify
    status, items = await csms.dut("CP1").get_base_report("FullInventory")
    assert status == "Accepted" and len(items) == 2
    assert items[0]["variable"] == {"name": "TxStopPoint"}

    profile = {"id": 3, "stack_level": 0, "charging_profile_purpose": "TxDefaultProfile",
               "charging_profile_kind": "Relative", "charging_schedule": [{
                   "id": 1, "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": 10}]}]}

    async def report(payload):
        await charger.call(calls.ReportChargingProfiles(
            request_id=payload["requestId"], charging_limit_source="CSO", evse_id=1, charging_profile=[profile]))
    charger.follow_ups["GetChargingProfiles"] = report
    status, profiles = await csms.dut("CP1").get_charging_profiles(evse_id=1, purpose="TxDefaultProfile")
    assert status == "Accepted" and profiles[0][0] == 1 and profiles[0][1]["stackLevel"] == 0
    assert charger.received["GetChargingProfiles"]["chargingProfile"] == {"chargingProfilePurpose": "TxDefaultProfile"}

    charger.answers["GetChargingProfiles"] = {"status": "NoProfiles"}
    assert await csms.dut("CP1").get_charging_profiles() == ("NoProfiles", [])


async def test_display_messages(csms, clients, version):
    charger = await clients.charger2x(version)
    calls = charger.call_module
    dut = csms.dut("CP1")
    message = {"id": 5, "priority": "InFront", "message": {"format": "UTF8", "content": "Tarif 0,30 EUR/kWh"}}
    assert await dut.set_display_message(message) == "Accepted"
    assert charger.received["SetDisplayMessage"] == {"message": message}

    async def notify(payload):
        await charger.call(calls.NotifyDisplayMessages(request_id=payload["requestId"], message_info=[{
            "id": 5, "priority": "InFront", "message": {"format": "UTF8", "content": "Tarif 0,30 EUR/kWh"}}]))
    charger.follow_ups["GetDisplayMessages"] = notify
    status, messages = await dut.get_display_messages(ids=[5])
    assert status == "Accepted" and messages[0]["message"]["content"] == "Tarif 0,30 EUR/kWh"
    assert await dut.clear_display_message(5) == "Unknown"


async def test_security_commands(csms, clients, log, version):
    charger = await clients.charger2x(version)
    dut = csms.dut("CP1")
    assert await dut.set_security_profile(0, "ws://127.0.0.1:1/CP1") == "Rejected"
    data = sent(log, "SetNetworkProfile")["connectionData"]
    assert data["securityProfile"] == 0 and data["ocppVersion"] == ("OCPP20" if version == "2.0.1" else "OCPP21")
    charger.answers["SetVariables"] = lambda p: {"setVariableResult": [
        {"attributeStatus": "Accepted", **{k: d[k] for k in ("component", "variable")}} for d in p["setVariableData"]]}
    assert await dut.set_basic_auth_password("0123456789abcdefXYZ") == "Accepted"
    assert sent(log, "SetVariables")["setVariableData"][0]["variable"] == {"name": "BasicAuthPassword"}


async def test_an_answer_that_breaks_the_schema_is_a_protocol_error(csms, clients, version):
    charger = await clients.charger2x(version)
    charger.answers["Reset"] = {"status": "Maybe"}
    with pytest.raises(DutProtocolError, match="Reset"):
        await csms.dut("CP1").reset("Hard")
    assert csms.dut("CP1").findings[-1].kind == "InvalidResponse"


async def test_2x_commands_are_not_supported_on_a_16_charger(csms, clients):
    await clients.charger("CP1")
    dut = csms.dut("CP1")
    await dut.wait_connected(timeout_s=5)
    with pytest.raises(DutNotSupported, match="1.6"):
        await dut.get_base_report()
    with pytest.raises(DutNotSupported):
        await dut.set_display_message({"id": 1})


async def test_a_report_that_never_comes_times_out(csms, clients, version, monkeypatch):
    monkeypatch.setattr(v201, "REPORT_TIMEOUT_S", 0.3)
    await clients.charger2x(version)  # answers Accepted, then sends nothing
    with pytest.raises(DutTimeout) as caught:  # a ReportNotSent: the answer came, its messages did not
        await csms.dut("CP1").get_base_report()
    assert isinstance(caught.value, ReportNotSent)
    assert "answered GetBaseReport (requestId" in str(caught.value) and "Accepted but sent none" in str(caught.value)
    assert "promises the messages" in caught.value.rule  # not OCPP-J 4.1.1: the CALL was answered
    assert not [e for e in csms.dut("CP1").events if e.kind == EventKind.NOTIFY_REPORT]
