"""Commands from the CSMS to a 1.6 charger: what goes on the wire, what comes back."""
from __future__ import annotations

import pytest
from ocpp.v16 import call_result

from bench.csms import DutCallError, DutProtocolError, DutTimeout, FindingKind, InvalidRequest
from bench.csms.message_log import CSMS_TO_DUT

pytestmark = pytest.mark.timeout(30)

PROFILE = {
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "startSchedule": "2031-05-06T07:08:09Z",
        "duration": 3600,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 8.1, "numberPhases": 3},
            {"startPeriod": 600, "limit": 16.0},
        ],
        "minChargingRate": 6.0,
    },
}


def last_sent(log, action):
    return [e for e in log.entries if e.direction == CSMS_TO_DUT and e.action == action][-1]


async def test_set_charging_profile_goes_out_camel_case_exactly_as_given(csms, clients, log):
    charger = await clients.charger("CP1")
    assert await csms.dut("CP1").set_charging_profile(1, PROFILE) == "Accepted"
    frame = last_sent(log, "SetChargingProfile").frame
    assert frame[0] == 2 and frame[2] == "SetChargingProfile"
    assert frame[3] == {"connectorId": 1, "csChargingProfiles": PROFILE}
    # The charger's own library validated it and saw the same profile.
    got = charger.received["SetChargingProfile"]["cs_charging_profiles"]
    assert float(got["charging_schedule"]["charging_schedule_period"][0]["limit"]) == 8.1


async def test_remote_start_with_profile_and_remote_stop(csms, clients, log):
    charger = await clients.charger("CP1")
    dut = csms.dut("CP1")
    tx_profile = dict(PROFILE, chargingProfilePurpose="TxProfile")
    assert await dut.remote_start(1, "TAG-OK", charging_profile=tx_profile) == "Accepted"
    assert last_sent(log, "RemoteStartTransaction").frame[3] == {
        "connectorId": 1, "idTag": "TAG-OK", "chargingProfile": tx_profile,
    }
    assert await dut.remote_start(2, "TAG-OK") == "Accepted"
    assert last_sent(log, "RemoteStartTransaction").frame[3] == {"connectorId": 2, "idTag": "TAG-OK"}
    assert await dut.remote_stop(5) == "Accepted"
    assert charger.received["RemoteStopTransaction"] == {"transaction_id": 5}


async def test_get_composite_schedule_returns_the_payload_as_on_the_wire(csms, clients, log):
    charger = await clients.charger("CP1")
    answer = await csms.dut("CP1").get_composite_schedule(1, 300, unit="A")
    assert charger.received["GetCompositeSchedule"] == {"connector_id": 1, "duration": 300, "charging_rate_unit": "A"}
    assert answer == {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2031-05-06T07:08:09Z",
        "chargingSchedule": {
            "duration": 300,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 8.1, "numberPhases": 3},
                {"startPeriod": 60, "limit": 16},
            ],
        },
    }
    assert type(answer["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]) is float  # not Decimal


async def test_configuration_and_other_commands_round_trip(csms, clients):
    charger = await clients.charger("CP1")
    dut = csms.dut("CP1")
    config = await dut.get_configuration(["MeterValueSampleInterval", "NoSuchKey"])
    assert charger.received["GetConfiguration"] == {"key": ["MeterValueSampleInterval", "NoSuchKey"]}
    assert config == {
        "configurationKey": [{"key": "MeterValueSampleInterval", "readonly": False, "value": "2"}],
        "unknownKey": ["NoSuchKey"],
    }
    assert await dut.change_configuration("MeterValueSampleInterval", "5") == "RebootRequired"
    assert charger.received["ChangeConfiguration"] == {"key": "MeterValueSampleInterval", "value": "5"}
    assert await dut.clear_charging_profile(id=7) == "Unknown"
    assert charger.received["ClearChargingProfile"] == {"id": 7}
    assert await dut.clear_charging_profile(connector_id=1, purpose="TxProfile", stack_level=2) == "Unknown"
    assert charger.received["ClearChargingProfile"] == {
        "connector_id": 1, "charging_profile_purpose": "TxProfile", "stack_level": 2,
    }
    assert await dut.trigger_message("StatusNotification", connector_id=1) == "Accepted"
    assert charger.received["TriggerMessage"] == {"requested_message": "StatusNotification", "connector_id": 1}
    assert await dut.reset("Soft") == "Accepted"
    assert charger.received["Reset"] == {"type": "Soft"}
    assert await dut.change_availability(0, "Inoperative") == "Scheduled"
    assert charger.received["ChangeAvailability"] == {"connector_id": 0, "type": "Inoperative"}


async def test_a_callerror_answer_raises_dut_call_error(csms, clients):
    await clients.charger("CP1")  # has no UnlockConnector handler
    with pytest.raises(DutCallError) as error:
        await csms.dut("CP1").unlock_connector(1)
    assert error.value.code == "NotImplemented" and error.value.action == "UnlockConnector"


async def test_an_answer_that_violates_the_schema_is_a_finding_and_an_error(csms, clients):
    charger = await clients.charger("CP1")
    charger.answers["Reset"] = call_result.Reset(status="Maybe")
    dut = csms.dut("CP1")
    with pytest.raises(DutProtocolError, match="Reset"):
        await dut.reset("Hard")
    assert [(f.action, f.kind) for f in dut.findings] == [("Reset", FindingKind.INVALID_RESPONSE)]
    assert "Maybe" in dut.findings[0].detail
    assert dut.connected


async def test_a_request_that_fails_our_own_schema_is_not_sent(csms, clients, log):
    await clients.charger("CP1")
    sent_before = len(log.entries)
    with pytest.raises(InvalidRequest, match="Reset"):
        await csms.dut("CP1").reset("Medium")
    assert len(log.entries) == sent_before
    assert csms.dut("CP1").findings == []  # the bench's mistake, not the charger's


async def test_no_answer_raises_dut_timeout_and_the_next_command_still_works(csms, clients, clock):
    charger = await clients.charger("CP1")
    charger.ignore.add("Reset")
    dut = csms.dut("CP1")
    t0 = clock.monotonic()
    with pytest.raises(DutTimeout, match="did not answer Reset within 0.2 s"):
        await dut.reset("Soft", timeout_s=0.2)
    assert 0.2 <= clock.monotonic() - t0 < 2
    assert charger.received["Reset"] == {"type": "Soft"}  # it was sent
    assert await dut.trigger_message("Heartbeat") == "Accepted"  # the call lock was released
