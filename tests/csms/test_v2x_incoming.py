"""What a 2.0.1 or 2.1 charger sends: answers, transactions on the Dut, findings.
Every test runs on both versions, with the charger side built on the `ocpp` library
of that version over real websockets."""
from __future__ import annotations

import json

import pytest
from websockets.exceptions import InvalidStatus

from bench.clock import parse_iso
from bench.csms import CsmsServer, CsmsSettings, EventKind, FindingKind

from .conftest import HEARTBEAT_S, ID_TAGS, AnchoredClock

pytestmark = pytest.mark.timeout(30)
VERSIONS = ["2.0.1", "2.1"]


@pytest.fixture(params=VERSIONS)
def version(request) -> str:
    return request.param


def _sv(value, **fields):
    return {"value": value, **fields}


def _mv(timestamp, *sampled):
    return {"timestamp": timestamp, "sampledValue": list(sampled)}


def _tx_event(c, event_type, seq_no, trigger, tx_id="TX-1", **extra):
    return c.call_module.TransactionEvent(
        event_type=event_type, timestamp="2031-05-06T07:10:00Z", trigger_reason=trigger, seq_no=seq_no,
        transaction_info={"transactionId": tx_id, **extra.pop("info", {})}, **extra)


async def test_each_subprotocol_gets_its_adapter(csms, clients, version):
    ws = await clients.raw("CP1", subprotocols=[f"ocpp{version}"])
    assert ws.subprotocol == f"ocpp{version}"
    dut = csms.dut("CP1")
    await dut.wait_connected(timeout_s=5)
    assert dut.ocpp_version == version
    assert dut.events[-1].data["ocpp_version"] == version


async def test_the_version_configured_for_a_charger_wins(clock, log, clients):
    settings = CsmsSettings(accepted_ids=["CP1", "CP2"], cp_versions={"CP1": "2.1", "CP2": "2.0.1"})
    async with CsmsServer(clock, settings, log) as server:
        clients.url = server.url
        ws = await clients.raw("CP1", subprotocols=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
        assert ws.subprotocol == "ocpp2.1"  # not the server's first choice (1.6): the configured one
        with pytest.raises(InvalidStatus) as refused:
            await clients.raw("CP2", subprotocols=["ocpp1.6"])
        assert refused.value.response.status_code == 400
        assert "lab config expects ocpp2.0.1" in server.dut("CP2").findings[0].detail


async def test_boot_heartbeat_status_and_authorize(csms, clients, version):
    c = await clients.charger2x(version)
    calls = c.call_module
    boot = await c.call(calls.BootNotification(
        charging_station={"model": "AC22", "vendor_name": "Acme", "serial_number": "SN-1", "firmware_version": "2.0",
                          "modem": {"iccid": "8949"}}, reason="PowerUp"))
    assert boot.status == "Accepted" and boot.interval == HEARTBEAT_S
    assert parse_iso(boot.current_time).year == AnchoredClock.UTC0.year
    dut = csms.dut("CP1")
    assert (dut.identity.vendor, dut.identity.model, dut.identity.serial, dut.identity.firmware,
            dut.identity.iccid) == ("Acme", "AC22", "SN-1", "2.0", "8949")
    await c.call(calls.Heartbeat())
    await c.call(calls.StatusNotification(timestamp="2031-05-06T07:09:00Z", connector_status="Occupied",
                                          evse_id=1, connector_id=1))
    assert dut.status(1) == "Occupied"
    status = [e for e in dut.events if e.kind == EventKind.STATUS][-1]
    assert status.data["source"] == "StatusNotification" and status.data["connector"] == 1
    for tag, expected in dict(ID_TAGS, **{"NEVER-SEEN": "Invalid"}).items():
        answer = await c.call(calls.Authorize(id_token={"id_token": tag, "type": "ISO14443"}))
        assert answer.id_token_info["status"] == expected
    assert [e.kind for e in dut.events][:3] == ["connected", "boot", "heartbeat"]


async def test_transaction_events_make_one_transaction_with_meter_start_and_stop(csms, clients, version):
    c = await clients.charger2x(version)
    dut = csms.dut("CP1")
    begin = _mv("2031-05-06T07:10:00Z", _sv(1000.5, context="Transaction.Begin"))
    started = await c.call(_tx_event(c, "Started", 0, "RemoteStart", evse={"id": 1, "connector_id": 1},
                                     id_token={"id_token": "TAG-OK", "type": "Central"}, meter_value=[begin],
                                     info={"chargingState": "EVConnected", "remoteStartId": 7}))
    assert started.id_token_info == {"status": "Accepted"}
    tx = dut.active_transaction(1)
    assert tx is not None and tx.transaction_id == "TX-1" and tx.id_tag == "TAG-OK"
    assert tx.meter_start_wh == 1000.5 and tx.remote_start_id == 7
    assert tx.start_timestamp == parse_iso("2031-05-06T07:10:00Z")

    periodic = _mv("2031-05-06T07:10:10Z",
                   _sv(1.0065, unitOfMeasure={"unit": "kWh"}),  # kWh -> Wh
                   _sv(16.1, measurand="Current.Import", phase="L1", unitOfMeasure={"unit": "A"}),
                   _sv(11, measurand="Power.Active.Import", unitOfMeasure={"unit": "W", "multiplier": 3}))
    await c.call(_tx_event(c, "Updated", 1, "ChargingStateChanged", info={"chargingState": "Charging"}))
    await c.call(_tx_event(c, "Updated", 2, "MeterValuePeriodic", meter_value=[periodic],
                           info={"chargingState": "Charging"}))
    charging = [e for e in dut.events if e.kind == EventKind.STATUS]
    assert [(e.data["status"], e.data["source"]) for e in charging] == [("EVConnected", "chargingState"),
                                                                       ("Charging", "chargingState")]
    by_measurand = {s.measurand: s for s in dut.meter_samples if s.context == "Sample.Periodic"}
    assert by_measurand["Energy.Active.Import.Register"].value == pytest.approx(1006.5)
    assert by_measurand["Power.Active.Import"].value == 11000 and by_measurand["Power.Active.Import"].unit == "W"
    assert by_measurand["Current.Import"].phase == "L1" and by_measurand["Current.Import"].transaction_id == "TX-1"

    end = _mv("2031-05-06T07:11:00Z", _sv(1012.5, context="Transaction.End"))
    await c.call(_tx_event(c, "Ended", 3, "RemoteStop", meter_value=[begin, end],
                           info={"chargingState": "EVConnected", "stoppedReason": "Remote"}))
    assert not tx.running and tx.meter_stop_wh == 1012.5 and tx.energy_wh == pytest.approx(12.0)
    assert tx.stop_reason == "Remote" and dut.active_transaction(1) is None
    assert not dut.findings
    stopped = await dut.wait_for("transaction_stopped", timeout_s=1)
    assert stopped.data["transaction_id"] == "TX-1"


async def test_stop_reason_defaults_to_local_and_missing_registers_stay_none(csms, clients, version):
    c = await clients.charger2x(version)
    await c.call(_tx_event(c, "Started", 0, "CablePluggedIn", evse={"id": 2}))
    tx = csms.dut("CP1").active_transaction(2)
    assert tx.meter_start_wh is None and tx.id_tag == ""
    await c.call(_tx_event(c, "Updated", 1, "Authorized", id_token={"id_token": "TAG-OK", "type": "ISO14443"}))
    assert tx.id_tag == "TAG-OK"  # the driver comes later when TxStartPoint is EVConnected
    await c.call(_tx_event(c, "Ended", 2, "EVCommunicationLost"))
    assert tx.stop_reason == "Local" and tx.meter_stop_wh is None and tx.energy_wh is None


async def test_seq_no_gaps_and_events_of_unknown_transactions_are_findings(csms, clients, version):
    c = await clients.charger2x(version)
    dut = csms.dut("CP1")
    await c.call(_tx_event(c, "Started", 0, "Authorized", evse={"id": 1}))
    await c.call(_tx_event(c, "Updated", 2, "MeterValuePeriodic"))  # seqNo 1 missing
    await c.call(_tx_event(c, "Updated", 0, "MeterValuePeriodic", tx_id="NEVER-STARTED", evse={"id": 1}))
    kinds = [(f.kind, f.detail) for f in dut.findings]
    assert kinds[0][0] == FindingKind.SEQ_NO and "seqNo 2 after 0" in kinds[0][1]
    assert kinds[1][0] == FindingKind.TRANSACTION_FLOW and "NEVER-STARTED" in kinds[1][1]
    assert "NEVER-STARTED" in dut.transactions  # kept, so the rest of the run can go on


async def test_reports_events_and_notifications_become_dut_events(csms, clients, version):
    c = await clients.charger2x(version)
    calls = c.call_module
    dut = csms.dut("CP1")
    item = {"component": {"name": "TxCtrlr"}, "variable": {"name": "TxStartPoint"},
            "variable_attribute": [{"value": "PowerPathClosed"}]}
    await c.call(calls.NotifyReport(request_id=3, generated_at="2031-05-06T07:10:00Z", seq_no=0, report_data=[item],
                                    tbc=False))
    await c.call(calls.NotifyEvent(generated_at="2031-05-06T07:10:00Z", seq_no=0, event_data=[{
        "event_id": 1, "timestamp": "2031-05-06T07:10:00Z", "trigger": "Delta", "actual_value": "Occupied",
        "event_notification_type": "HardWiredNotification", "component": {"name": "Connector"},
        "variable": {"name": "AvailabilityState"}}]))
    await c.call(calls.SecurityEventNotification(type="InvalidCsmsCertificate", timestamp="2031-05-06T07:10:00Z"))
    await c.call(calls.FirmwareStatusNotification(status="Idle"))
    await c.call(calls.LogStatusNotification(status="Idle", request_id=4))
    events = {e.kind: e.data for e in dut.events}
    report = events[EventKind.NOTIFY_REPORT]
    assert report["request_id"] == 3 and report["tbc"] is False
    assert report["report_data"][0]["variableAttribute"] == [{"value": "PowerPathClosed"}]  # wire camelCase
    assert events[EventKind.NOTIFY_EVENT]["event_data"][0]["actualValue"] == "Occupied"
    assert events[EventKind.SECURITY_EVENT]["type"] == "InvalidCsmsCertificate"
    assert events[EventKind.FIRMWARE_STATUS]["status"] == "Idle"
    assert events[EventKind.LOG_STATUS] == {"status": "Idle", "request_id": 4}


async def test_schema_violations_and_unknown_actions_are_findings_with_2x_error_codes(csms, clients, version):
    ws = await clients.raw("CP1", subprotocols=[f"ocpp{version}"])
    dut = csms.dut("CP1")
    await ws.send(json.dumps([2, "a1", "Heartbeat", {"bogus": 1}]))
    assert json.loads(await ws.recv())[:3] == [4, "a1", "FormatViolation"]  # 2.x spelling (1.6: FormationViolation)
    await ws.send(json.dumps([2, "a2", "StartTransaction", {}]))  # a 1.6 action
    assert json.loads(await ws.recv())[:3] == [4, "a2", "NotImplemented"]  # part 4 4.3: not known
    await ws.send(json.dumps([2, "a3", "NotifyEVChargingNeeds", {}]))  # a valid action the bench does not use
    assert json.loads(await ws.recv())[:3] == [4, "a3", "NotSupported"]  # recognized, not supported
    kinds = [f.kind for f in dut.findings]
    assert kinds[:2] == ["FormatViolation", FindingKind.UNKNOWN_ACTION]


async def test_a_21_send_frame_needs_no_answer_and_is_no_finding(csms, clients):
    ws = await clients.raw("CP1", subprotocols=["ocpp2.1"])
    await ws.send(json.dumps([6, "s1", "NotifyPeriodicEventStream", {"id": 1, "pending": 0, "basetime": "x",
                                                                     "data": []}]))
    await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
    answer = json.loads(await ws.recv())
    assert answer[:2] == [3, "h1"]  # the next answer is the heartbeat's: nothing came for the SEND
    assert csms.dut("CP1").findings == []
