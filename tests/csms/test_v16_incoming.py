"""What a 1.6 charger sends: answers, bookkeeping on the Dut, findings."""
from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from bench.clock import parse_iso
from bench.csms import EventKind, FindingKind

from .conftest import HEARTBEAT_S, ID_TAGS, AnchoredClock

pytestmark = pytest.mark.timeout(30)


async def test_boot_notification_sets_identity_and_is_answered_from_the_clock(csms, clients):
    charger = await clients.charger("CP1")
    answer = await charger.call(
        call.BootNotification(
            charge_point_vendor="Acme",
            charge_point_model="AC22",
            charge_point_serial_number="SN-1",
            firmware_version="1.2.3",
            iccid="8949",
            meter_type="SDM",
        )
    )
    assert answer.status == "Accepted"
    assert answer.interval == HEARTBEAT_S
    assert parse_iso(answer.current_time).year == AnchoredClock.UTC0.year
    dut = csms.dut("CP1")
    assert dut.identity.vendor == "Acme" and dut.identity.model == "AC22"
    assert dut.identity.serial == "SN-1" and dut.identity.firmware == "1.2.3"
    assert dut.identity.iccid == "8949" and dut.identity.meter_type == "SDM"
    boot = await dut.wait_for("boot", timeout_s=1)
    assert boot.data["identity"] == dut.identity


async def test_heartbeat_answers_clock_time(csms, clients):
    charger = await clients.charger("CP1")
    answer = await charger.call(call.Heartbeat())
    assert parse_iso(answer.current_time).year == AnchoredClock.UTC0.year
    assert [e.kind for e in csms.dut("CP1").events] == ["connected", "heartbeat"]


async def test_authorize_answers_per_id_tags_and_unknown_tags_are_invalid(csms, clients):
    charger = await clients.charger("CP1")
    expected = dict(ID_TAGS, **{"NEVER-SEEN": "Invalid"})
    for tag, status in expected.items():
        answer = await charger.call(call.Authorize(id_tag=tag))
        assert answer.id_tag_info["status"] == status
    events = [e for e in csms.dut("CP1").events if e.kind == EventKind.AUTHORIZE]
    assert [(e.data["id_tag"], e.data["status"]) for e in events] == list(expected.items())


def _sampled(value, **fields):
    return {"value": str(value), **fields}


async def test_transaction_start_meter_values_and_stop(csms, clients):
    dut = csms.dut("CP1")
    charger = await clients.charger("CP1")
    started = await charger.call(
        call.StartTransaction(connector_id=1, id_tag="TAG-OK", meter_start=1000, timestamp="2031-05-06T07:10:00Z")
    )
    assert started.id_tag_info["status"] == "Accepted"
    other = await charger.call(
        call.StartTransaction(connector_id=2, id_tag="TAG-BLOCKED", meter_start=0, timestamp="2031-05-06T07:10:01Z")
    )
    assert other.transaction_id > started.transaction_id  # increasing ids
    assert other.id_tag_info["status"] == "Blocked"

    tx_id = started.transaction_id
    transaction = dut.active_transaction(1)
    assert transaction is not None and transaction.transaction_id == tx_id
    assert transaction.meter_start_wh == 1000 and transaction.id_tag == "TAG-OK"
    assert transaction.start_timestamp == parse_iso("2031-05-06T07:10:00Z")
    assert transaction.meter_stop_wh is None and transaction.running

    await charger.call(
        call.MeterValues(
            connector_id=1,
            transaction_id=tx_id,
            meter_value=[
                {
                    "timestamp": "2031-05-06T07:11:00Z",
                    "sampledValue": [
                        _sampled(1.5, unit="kWh"),  # default measurand: energy register
                        _sampled(7.2, measurand="Power.Active.Import", unit="kW"),
                        _sampled(16.1, measurand="Current.Import", unit="A", phase="L1"),
                        _sampled(230, measurand="Voltage", phase="L1-N"),  # unit defaulted
                    ],
                }
            ],
        )
    )
    samples = transaction.samples
    assert [(s.measurand, s.value, s.unit, s.phase) for s in samples] == [
        ("Energy.Active.Import.Register", 1500.0, "Wh", None),
        ("Power.Active.Import", 7200.0, "W", None),
        ("Current.Import", 16.1, "A", "L1"),
        ("Voltage", 230.0, "V", "L1-N"),
    ]
    assert all(s.transaction_id == tx_id and s.connector_id == 1 for s in samples)
    assert samples[0].timestamp == parse_iso("2031-05-06T07:11:00Z")
    assert samples[0].context == "Sample.Periodic"

    stopped = await charger.call(
        call.StopTransaction(
            meter_stop=3500,
            timestamp="2031-05-06T07:20:00Z",
            transaction_id=tx_id,
            reason="Remote",
            id_tag="TAG-OK",
            transaction_data=[
                {
                    "timestamp": "2031-05-06T07:20:00Z",
                    "sampledValue": [_sampled(3.5, unit="kWh", context="Transaction.End")],
                }
            ],
        )
    )
    assert stopped.id_tag_info["status"] == "Accepted"
    assert transaction.meter_stop_wh == 3500 and transaction.energy_wh == 2500
    assert transaction.stop_reason == "Remote" and not transaction.running
    assert transaction.t_stop_mono_s >= transaction.t_start_mono_s
    assert (transaction.samples[-1].value, transaction.samples[-1].context) == (3500.0, "Transaction.End")
    assert dut.active_transaction(1) is None
    assert dut.active_transaction(2).transaction_id == other.transaction_id
    event = await dut.wait_for("transaction_stopped", timeout_s=1)
    assert event.data["transaction"] is transaction and event.connector_id == 1
    assert len(dut.meter_samples) == 5
    assert dut.findings == []


async def test_stop_of_a_transaction_we_never_issued_is_answered_and_a_finding(csms, clients):
    charger = await clients.charger("CP1")
    await charger.call(call.StopTransaction(meter_stop=1, timestamp="2031-05-06T07:20:00Z", transaction_id=999))
    dut = csms.dut("CP1")
    assert [(f.action, f.kind) for f in dut.findings] == [("StopTransaction", FindingKind.UNKNOWN_TRANSACTION)]
    assert (await dut.wait_for("transaction_stopped", timeout_s=1)).data["transaction"] is None


async def test_data_transfer_known_and_unknown_vendor(csms, clients):
    charger = await clients.charger("CP1")
    assert (await charger.call(call.DataTransfer(vendor_id="org.evbench", data="x"))).status == "Accepted"
    assert (await charger.call(call.DataTransfer(vendor_id="com.other"))).status == "UnknownVendorId"
    events = [e.data for e in csms.dut("CP1").events if e.kind == EventKind.DATA_TRANSFER]
    assert [(d["vendor_id"], d["status"], d["data"]) for d in events] == [
        ("org.evbench", "Accepted", "x"),
        ("com.other", "UnknownVendorId", None),
    ]


async def test_a_schema_violating_request_is_a_finding_and_the_connection_stays_up(csms, clients):
    ws = await clients.raw("CP1")
    # BootNotification without the required chargePointVendor.
    await ws.send(json.dumps([2, "bad-1", "BootNotification", {"chargePointModel": "AC22"}]))
    error = json.loads(await ws.recv())
    assert error[:3] == [4, "bad-1", "ProtocolError"]
    # An enum violation: the 1.6 error code is spelled FormationViolation.
    await ws.send(json.dumps([2, "bad-2", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Flying"}]))
    error = json.loads(await ws.recv())
    assert error[:3] == [4, "bad-2", "FormationViolation"]
    # Still connected and served.
    await ws.send(json.dumps([2, "ok-1", "Heartbeat", {}]))
    answer = json.loads(await ws.recv())
    assert answer[:2] == [3, "ok-1"] and "currentTime" in answer[2]

    dut = csms.dut("CP1")
    assert dut.connected and dut.identity is None
    assert [(f.action, f.kind) for f in dut.findings] == [
        ("BootNotification", "ProtocolError"),
        ("StatusNotification", "FormationViolation"),
    ]
    assert "chargePointVendor" in dut.findings[0].detail
    assert dut.findings[0].cp_id == "CP1"


async def test_malformed_frames_and_unknown_actions_are_findings(csms, clients):
    ws = await clients.raw("CP1")
    await ws.send("this is not json")
    await ws.send(json.dumps([2, "x-1", "Teleport", {}]))
    error = json.loads(await ws.recv())
    assert error[:3] == [4, "x-1", "NotImplemented"]  # OCPP-J 1.6 4.2.3: "not known by receiver"
    await ws.send(json.dumps([2, "x-2", "Heartbeat", {}]))
    assert json.loads(await ws.recv())[:2] == [3, "x-2"]
    kinds = [f.kind for f in csms.dut("CP1").findings]
    assert kinds == [FindingKind.MALFORMED_FRAME, FindingKind.UNKNOWN_ACTION]


async def test_unparseable_timestamp_is_a_finding_not_a_crash(csms, clients):
    ws = await clients.raw("CP1")
    await ws.send(json.dumps([2, "t-1", "StartTransaction",
                              {"connectorId": 1, "idTag": "TAG-OK", "meterStart": 0, "timestamp": "yesterday"}]))
    answer = json.loads(await ws.recv())
    assert answer[0] == 3 and answer[2]["idTagInfo"]["status"] == "Accepted"
    dut = csms.dut("CP1")
    assert [f.kind for f in dut.findings] == [FindingKind.BAD_TIMESTAMP]
    assert dut.active_transaction(1).start_timestamp is None
