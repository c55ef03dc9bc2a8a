"""Handshake, connection life cycle and the Dut handle over real websockets."""
from __future__ import annotations

import asyncio
import logging

import pytest
from ocpp.v16 import call
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.csms import CsmsServer, CsmsSettings, DutNotConnected, DutTimeout, EventKind, FindingKind
from bench.csms.server import cp_id_from_path

from .conftest import AnchoredClock

pytestmark = pytest.mark.timeout(30)


async def test_port_zero_binds_a_free_port_and_url_names_it(csms):
    assert csms.port > 0
    assert csms.url == f"ws://127.0.0.1:{csms.port}"


async def test_unknown_charge_point_id_is_refused_at_the_handshake(csms, clients, caplog):
    caplog.set_level(logging.WARNING, logger="bench.csms")
    with pytest.raises(InvalidStatus) as refused:
        await clients.raw("NOT-A-CHARGER")
    assert refused.value.response.status_code == 404
    assert "unknown charge point id 'NOT-A-CHARGER'" in caplog.text


@pytest.mark.parametrize("offered", [["ocpp2.0"], ["ocpp1.5", "ocpp1.2"], []])
async def test_a_charger_without_a_subprotocol_we_speak_is_refused(csms, clients, caplog, offered):
    caplog.set_level(logging.WARNING, logger="bench.csms")
    with pytest.raises(InvalidStatus) as refused:
        await clients.raw("CP1", subprotocols=offered)
    assert refused.value.response.status_code == 400
    assert "speaks ocpp1.6, ocpp2.0.1, ocpp2.1" in caplog.text
    dut = csms.dut("CP1")
    assert not dut.connected
    assert [f.kind for f in dut.findings] == [FindingKind.HANDSHAKE_REFUSED]


async def test_subprotocol_ocpp16_is_negotiated_and_the_dut_attaches(csms, clients):
    dut = csms.dut("CP1")  # the handle exists before the charger connects
    assert not dut.connected and dut.ocpp_version is None
    ws = await clients.raw("CP1")
    assert ws.subprotocol == "ocpp1.6"
    await dut.wait_connected(timeout_s=5)
    assert dut.ocpp_version == "1.6"
    assert dut.events[0].kind == EventKind.CONNECTED


def test_the_path_is_exactly_the_prefix_and_one_id_segment():
    assert cp_id_from_path("/CP1") == "CP1"
    assert cp_id_from_path("/CP%201") == "CP 1"  # percent-decoded once
    assert cp_id_from_path("/CP%2541") == "CP%41"
    assert cp_id_from_path("/CP1?token=x") == "CP1"
    assert cp_id_from_path("/ocpp/CP1", "/ocpp") == "CP1"
    for path in ("/", "/x/y/CP1", "/CP1/", "/../CP1", "/..", "/.", "/CP%2F1", "/ocpp/CP1", "//CP1"):
        assert cp_id_from_path(path) == "", path
    for path in ("/CP1", "/ocpp", "/ocpp/", "/ocppX/CP1", "/ocpp/a/CP1"):
        assert cp_id_from_path(path, "/ocpp") == "", path


@pytest.mark.parametrize("path", ["/x/y/CP1", "/CP1/", "/../CP1"])
async def test_a_path_other_than_the_charge_points_is_refused_and_logged(csms, path, caplog):
    from websockets.asyncio.client import connect

    caplog.set_level(logging.WARNING, logger="bench.csms")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{csms.url}{path}", subprotocols=["ocpp1.6"]):
            pass
    assert refused.value.response.status_code == 404
    assert "is not /<charge point id>" in caplog.text
    assert not csms.dut("CP1").connected


async def test_a_long_unknown_id_is_logged_cut(csms, clients, caplog):
    caplog.set_level(logging.WARNING, logger="bench.csms")
    with pytest.raises(InvalidStatus):
        await clients.raw("X" * 3000)
    assert "X" * 48 + "...(3000 characters)" in caplog.text and "X" * 49 not in caplog.text


def test_settings_reject_unimplemented_versions_and_bad_tag_statuses():
    with pytest.raises(ValueError, match="2.0"):
        CsmsSettings(supported_versions=("2.0",))
    with pytest.raises(ValueError, match="CP9"):
        CsmsSettings(supported_versions=("1.6",), cp_versions={"CP9": "2.1"})
    with pytest.raises(ValueError, match="TAG"):
        CsmsSettings(id_tags={"TAG": "Maybe"})


async def test_dut_handle_only_for_accepted_ids(csms):
    with pytest.raises(ValueError, match="accepted_ids"):
        csms.dut("STRANGER")


async def test_commands_without_a_connection_raise_not_connected(csms):
    with pytest.raises(DutNotConnected):
        await csms.dut("CP1").reset("Soft")


async def test_wait_connected_times_out_on_the_clock(csms):
    with pytest.raises(DutTimeout, match="did not connect"):
        await csms.dut("CP2").wait_connected(timeout_s=0.1)


async def test_disconnect_is_an_event_and_reconnect_reattaches(csms, clients):
    dut = csms.dut("CP1")
    first = await clients.charger("CP1")
    await first.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
    second = await clients.charger("CP1")  # the first socket is still open
    await dut.wait_for(EventKind.CONNECTED, since_index=1, timeout_s=5)
    # The old connection is closed by the CSMS; commands reach the new one.
    await asyncio.wait_for(first._connection.wait_closed(), 5)
    await dut.wait_for(EventKind.RIVAL_CONNECTION, since_index=3, timeout_s=5)
    assert await dut.reset("Hard") == "Accepted"
    assert "Reset" in second.received and "Reset" not in first.received
    kinds = [e.kind for e in dut.events]
    # the first socket answered our close: it was alive, two clients had the id at once
    assert kinds == ["connected", "boot", "disconnected", "connected", "rival_connection"]
    assert dut.events[2].data["reason"] == "replaced by a new connection"

    await second._connection.close()
    await dut.wait_for(EventKind.DISCONNECTED, since_index=5, timeout_s=5)
    assert not dut.connected
    third = await clients.charger("CP1")  # after a clean disconnect
    await dut.wait_connected(timeout_s=5)
    assert await dut.reset("Soft") == "Accepted" and third.received["Reset"] == {"type": "Soft"}


async def test_disconnect_while_waiting_for_an_answer_raises_not_connected(csms, clients):
    dut = csms.dut("CP1")
    charger = await clients.charger("CP1")
    charger.ignore.add("Reset")
    waiting = asyncio.create_task(dut.reset("Soft", timeout_s=10))
    await asyncio.sleep(0.1)
    await charger._connection.close()
    with pytest.raises(DutNotConnected, match="disconnected while"):
        await asyncio.wait_for(waiting, 5)


async def test_stop_closes_connections_and_finishes_handlers(clock, settings, log):
    server = CsmsServer(clock, settings, log)
    await server.start()
    from websockets.asyncio.client import connect

    ws = await connect(f"{server.url}/CP1", subprotocols=["ocpp1.6"])
    dut = server.dut("CP1")
    await dut.wait_connected(timeout_s=5)
    await server.stop()
    assert not dut.connected
    assert dut.events[-1].kind == EventKind.DISCONNECTED
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    await server.stop()  # idempotent
    await ws.close()
    await asyncio.sleep(0)
    leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftovers == []
    with pytest.raises(RuntimeError):
        server.port


async def test_wait_for_predicate_and_since_index(csms, clients):
    dut = csms.dut("CP1")
    charger = await clients.charger("CP1")
    for status in ("Available", "Preparing"):
        await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
    # History counts by default; since_index excludes the past.
    first = await dut.wait_for("status", timeout_s=1)
    assert first.data["status"] == "Available"
    preparing = await dut.wait_for("status", lambda e: e.data["status"] == "Preparing", timeout_s=1)
    assert preparing.connector_id == 1
    mark = dut.mark()
    with pytest.raises(DutTimeout):
        await dut.wait_for("status", since_index=mark, timeout_s=0.1)
    later = asyncio.create_task(dut.wait_for("status", since_index=mark, timeout_s=5))
    await charger.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
    assert (await later).data["status"] == "Charging"
    assert dut.status(1) == "Charging"
    with pytest.raises(ValueError):
        await dut.wait_for("no-such-kind", timeout_s=0.1)


async def test_two_chargers_share_one_server(csms, clients):
    one, two = await clients.charger("CP1"), await clients.charger("CP2")
    await one.call(call.BootNotification(charge_point_vendor="A", charge_point_model="One"))
    await two.call(call.BootNotification(charge_point_vendor="B", charge_point_model="Two"))
    assert csms.dut("CP1").identity.model == "One"
    assert csms.dut("CP2").identity.model == "Two"


async def test_event_times_come_from_the_injected_clock(csms, clients):
    charger = await clients.charger("CP1")
    await charger.call(call.Heartbeat())
    event = await csms.dut("CP1").wait_for("heartbeat", timeout_s=1)
    assert event.utc.year == AnchoredClock.UTC0.year


async def test_a_second_live_client_with_the_dut_id_is_a_rival_event(csms, clients):
    dut = csms.dut("CP1")
    first = await clients.raw("CP1")
    await first.close()  # the DUT reconnecting cleanly: no rival
    await asyncio.sleep(0.1)
    await clients.raw("CP1")
    await clients.raw("CP1")  # a second client while the first one is alive and answers our close
    for _ in range(100):
        if any(e.kind == EventKind.RIVAL_CONNECTION for e in dut.events):
            break
        await asyncio.sleep(0.05)
    rivals = [e for e in dut.events if e.kind == EventKind.RIVAL_CONNECTION]
    assert len(rivals) == 1 and rivals[0].data["remote"].startswith("127.0.0.1:")
    assert dut.connected
