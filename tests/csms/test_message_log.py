"""ocpp.jsonl: every frame, both directions, with times and matched actions."""
from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from bench.csms import MessageLog, read_message_log
from bench.csms.message_log import CSMS_TO_DUT, DUT_TO_CSMS

from .conftest import AnchoredClock

pytestmark = pytest.mark.timeout(30)


def test_actions_of_answers_are_matched_to_their_call_per_direction(tmp_path):
    log = MessageLog(tmp_path / "ocpp.jsonl", AnchoredClock())
    log.record("CP1", DUT_TO_CSMS, '[2,"1","Heartbeat",{}]')
    log.record("CP1", CSMS_TO_DUT, '[2,"1","Reset",{"type":"Soft"}]')  # same id, other direction
    log.record("CP1", DUT_TO_CSMS, '[3,"1",{"status":"Accepted"}]')
    log.record("CP1", CSMS_TO_DUT, '[3,"1",{"currentTime":"2031-05-06T07:08:09Z"}]')
    log.record("CP1", DUT_TO_CSMS, '[4,"99","GenericError","",{}]')  # answers nothing we know
    log.record("CP1", DUT_TO_CSMS, "{not json")
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "ocpp.jsonl").read_text().splitlines()]
    assert [line.get("action") for line in lines] == ["Heartbeat", "Reset", "Reset", "Heartbeat", None, None]
    assert lines[5]["frame"] is None and lines[5]["raw"] == "{not json"
    assert "raw" not in lines[0]
    assert lines[0]["utc"].startswith("2031-05-06T07:08:")
    assert read_message_log(tmp_path / "ocpp.jsonl") == log.entries


def test_lines_are_flushed_as_they_are_written(tmp_path):
    log = MessageLog(tmp_path / "sub" / "ocpp.jsonl", AnchoredClock())
    log.record("CP1", DUT_TO_CSMS, '[2,"1","Heartbeat",{}]')
    assert len((tmp_path / "sub" / "ocpp.jsonl").read_text().splitlines()) == 1  # before close
    log.close()


def test_memory_only_log_without_a_path():
    log = MessageLog(None, AnchoredClock())
    entry = log.record("CP1", CSMS_TO_DUT, '[2,"a","Reset",{"type":"Hard"}]')
    assert entry.payload == {"type": "Hard"} and entry.unique_id == "a" and entry.message_type == 2
    with pytest.raises(ValueError):
        log.record("CP1", "sideways", "[]")


async def test_every_frame_of_a_session_is_in_ocpp_jsonl(csms, clients, log):
    charger = await clients.charger("CP1")
    await charger.call(call.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22"))
    await charger.call(call.Heartbeat())
    assert await csms.dut("CP1").reset("Soft") == "Accepted"
    ws = charger._connection
    await ws.send("garbage")  # a frame that is not JSON is logged raw

    await clients.close()
    await csms.stop()  # all handlers done: the log is complete
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    summary = [(line["dir"], line["frame"][0] if line["frame"] else None, line.get("action")) for line in lines]
    assert summary == [
        (DUT_TO_CSMS, 2, "BootNotification"),
        (CSMS_TO_DUT, 3, "BootNotification"),
        (DUT_TO_CSMS, 2, "Heartbeat"),
        (CSMS_TO_DUT, 3, "Heartbeat"),
        (CSMS_TO_DUT, 2, "Reset"),
        (DUT_TO_CSMS, 3, "Reset"),
        (DUT_TO_CSMS, None, None),
    ]
    assert lines[-1]["raw"] == "garbage"
    assert all(line["cp_id"] == "CP1" for line in lines)
    times = [line["t_mono_s"] for line in lines]
    assert times == sorted(times)
    assert all(line["utc"].startswith("2031-05-06T") and line["utc"].endswith("Z") for line in lines)
    # The boot answer on the wire carries the heartbeat interval, camelCase.
    assert lines[1]["frame"][2]["interval"] == 42 and "currentTime" in lines[1]["frame"][2]


def test_memory_keeps_only_recent_frames_when_the_file_has_them_all(tmp_path, monkeypatch):
    from bench.csms import message_log

    monkeypatch.setattr(message_log, "RECENT_FRAMES", 10)
    log = MessageLog(tmp_path / "ocpp.jsonl", AnchoredClock())
    for i in range(95):
        log.record("CP1", DUT_TO_CSMS, f'[2,"{i}","Heartbeat",{{}}]')
    log.close()
    assert 10 <= len(log.entries) <= 20 and log.entries[-1].unique_id == "94"  # bounded, the newest kept
    assert len(read_message_log(tmp_path / "ocpp.jsonl")) == 95  # the file has every frame
    unbounded = MessageLog(None, AnchoredClock())  # no file: memory is the only copy
    for i in range(95):
        unbounded.record("CP1", DUT_TO_CSMS, f'[2,"{i}","Heartbeat",{{}}]')
    assert len(unbounded.entries) == 95
