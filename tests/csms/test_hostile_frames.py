"""Frames a hostile or broken charger sends: each is a finding, gets the answer OCPP-J asks for
(1.6: OCPP-J 1.6 section 4.2.3; 2.x: part 4 sections 4.1.4, 4.2.3, 4.3, 4.4), nothing crashes, and
the same connection goes on serving."""
from __future__ import annotations

import asyncio
import json

import pytest

from bench.csms import FindingKind


async def _answer_to(ws, frame: str) -> list | None:
    """Send `frame`, then a Heartbeat: the CALLERROR that came first (None if the frame got none)."""
    await ws.send(frame)
    await ws.send(json.dumps([2, "hb", "Heartbeat", {}]))
    first = json.loads(await asyncio.wait_for(ws.recv(), 5))
    if first[:2] == [3, "hb"]:
        return None
    second = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert second[:2] == [3, "hb"], second  # still served
    return first


DEEP = "[" * 10_000 + "]" * 10_000
CASES_2X = [  # frame, (message id, error code) of the CALLERROR, finding
    (DEEP, ("-1", "RpcFrameworkError"), FindingKind.MALFORMED_FRAME),
    ("not json", ("-1", "RpcFrameworkError"), FindingKind.MALFORMED_FRAME),
    ('[2, "n1", "Heartbeat", {"x": NaN}]', ("n1", "FormatViolation"), FindingKind.MALFORMED_FRAME),
    ('[2, "i1", "DataTransfer", {"vendorId": "x", "data": Infinity}]', ("i1", "FormatViolation"),
     FindingKind.MALFORMED_FRAME),
    ('[2, 12345, "Heartbeat", {}]', ("-1", "RpcFrameworkError"), FindingKind.BAD_MESSAGE_ID),
    ('[2, "", "Heartbeat", {}]', ("-1", "RpcFrameworkError"), FindingKind.BAD_MESSAGE_ID),
    (json.dumps([2, "x" * 37, "Heartbeat", {}]), ("-1", "RpcFrameworkError"), FindingKind.BAD_MESSAGE_ID),
    ('[7, "u1", "Heartbeat", {}]', ("u1", "MessageTypeNotSupported"), FindingKind.UNKNOWN_MESSAGE_TYPE),
    ('{"not": "an array"}', ("-1", "RpcFrameworkError"), FindingKind.MALFORMED_FRAME),
]
CASES_16 = [  # 1.6 has no "-1" rule nor RpcFrameworkError: only a CALL whose id can be read is answered
    (DEEP, None, FindingKind.MALFORMED_FRAME),
    ('[2, "n1", "Heartbeat", {"x": NaN}]', ("n1", "FormationViolation"), FindingKind.MALFORMED_FRAME),
    ('[2, 12345, "Heartbeat", {}]', None, FindingKind.BAD_MESSAGE_ID),
    (json.dumps([2, "x" * 37, "Heartbeat", {}]), None, FindingKind.BAD_MESSAGE_ID),
    ('[7, "u1", "Heartbeat", {}]', None, FindingKind.UNKNOWN_MESSAGE_TYPE),
    # valid by the 1.6 schemas (a bare integer), forbidden by section 6
    ('[2, "c1", "StatusNotification", {"connectorId": -1, "errorCode": "NoError", "status": "Available"}]',
     ("c1", "PropertyConstraintViolation"), "PropertyConstraintViolation"),
    ('[2, "c2", "StartTransaction", {"connectorId": 0, "idTag": "TAG-OK", "meterStart": 0, '
     '"timestamp": "2031-05-06T07:08:09Z"}]', ("c2", "PropertyConstraintViolation"), "PropertyConstraintViolation"),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_each_hostile_frame_is_a_finding_and_gets_its_answer(csms, clients, version):
    ws = await clients.raw("CP1", subprotocols=[f"ocpp{version}"])
    for frame, answer, kind in CASES_16 if version == "1.6" else CASES_2X:
        before = len(csms.dut("CP1").findings)
        got = await _answer_to(ws, frame)
        if answer is None:
            assert got is None, (frame[:60], got)
        else:
            assert got is not None and got[0] == 4 and tuple(got[1:3]) == answer, (frame[:60], got)
            assert len(got) == 5 and isinstance(got[3], str) and isinstance(got[4], dict)
        findings = csms.dut("CP1").findings[before:]
        assert [f.kind for f in findings] == [kind], (frame[:60], findings)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_stray_answers_are_findings_and_the_next_command_still_works(csms, clients, version):
    charger = await (clients.charger("CP1") if version == "1.6" else clients.charger2x(version, "CP1"))
    for i in range(500):  # answers to CALLs the bench never sent
        await charger._connection.send(json.dumps([3, f"stray-{i}", {}]))
    dut = csms.dut("CP1")
    assert await dut.trigger_message("Heartbeat") == "Accepted"
    assert sum(f.kind == FindingKind.STRAY_RESPONSE for f in dut.findings) == 500


def _random_value(rng, depth: int = 0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.randrange(-5, 100)
    if kind == 1:
        return rng.choice(["", "x", "Heartbeat", "ÄÖ", "a" * 40, "-1"])
    if kind == 2:
        return rng.choice([None, True, False, 1.5, -0.0])
    if kind == 3:
        return rng.choice(["Heartbeat", "BootNotification", "StatusNotification", "Teleport", "TransactionEvent"])
    if kind == 4:
        return rng.random() * 1e6
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["status", "connectorId", "idTag", "x", "timestamp"]): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def _random_frame(rng) -> str:
    shape = rng.randrange(4)
    if shape == 0:  # a CALL-like array with random parts
        frame = [rng.choice([2, 2, 3, 4, 5, 6, 7, "2", None]), _random_value(rng), _random_value(rng),
                 _random_value(rng)]
        return json.dumps(frame[:rng.randrange(1, 6)])
    if shape == 1:
        return json.dumps(_random_value(rng))
    if shape == 2:  # bytes of a valid frame, cut
        text = json.dumps([2, f"id-{rng.randrange(1000)}", "Heartbeat", {}])
        return text[:rng.randrange(len(text))]
    return rng.choice(["NaN", "[2, \"a\", \"Heartbeat\", {\"x\": -Infinity}]", "[]", "[[]]", "\"\"", "{}"])


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
async def test_500_generated_frames_never_break_the_connection_and_every_answer_is_ocpp_j(csms, clients, version):
    import random

    rng = random.Random(f"hostile-{version}")  # fixed: the same 500 frames every run
    ws = await clients.raw("CP1", subprotocols=[f"ocpp{version}"])
    for n in range(500):
        await ws.send(_random_frame(rng))
    await ws.send(json.dumps([2, "last", "Heartbeat", {}]))
    answers = []
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        answers.append(answer)
        if answer[:2] == [3, "last"]:
            break
    for a in answers:  # OCPP-J: [3, id, {}] or [4, id, code, description, {details}], id a string of <= 36
        assert isinstance(a, list) and a[0] in (3, 4), a
        assert isinstance(a[1], str) and 0 < len(a[1]) <= 36, a
        if a[0] == 4:
            assert len(a) == 5 and isinstance(a[2], str) and isinstance(a[3], str) and isinstance(a[4], dict), a
    assert csms.dut("CP1").findings, "garbage left no finding"
