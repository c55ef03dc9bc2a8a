"""Authorization and reservations of the simulated charger (1.6 and 2.0.1) against the bench's
CSMS stub over real websockets: the local list and its version, the cache, offline
authorization (the CSMS keeps the charger out with `take_offline`), reservations and their expiry,
the connection timeout, and the faults `blocked_tag_accepted`, `local_list_ignored`,
`reservation_ignored`. The pure list/cache and reservation rules are tested first."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.clock import iso_utc
from instruments.iec61851 import CpState
from bench.sim import faults as F
from bench.sim.charger_auth import LocalAuth
from bench.sim.charger_reservation import Reservation, Reservations


pytestmark = pytest.mark.timeout(60)
T0 = datetime(2031, 5, 6, tzinfo=timezone.utc)


# ---- pure rules ---------------------------------------------------------------------------

def test_local_list_full_differential_and_version_mismatch():
    auth = LocalAuth()
    assert auth.update_list(3, "Full", [("A", "Accepted"), ("B", "Blocked")]) == "Accepted"
    assert auth.update_list(4, "Differential", [("C", "Accepted"), ("B", None)]) == "Accepted"
    assert (auth.list_version, auth.entries) == (4, {"A": "Accepted", "C": "Accepted"})
    assert auth.update_list(4, "Differential", [("D", "Accepted")]) == "VersionMismatch"
    assert auth.update_list(5, "Full", [("E", None)]) == "Failed"  # a Full entry needs its status
    assert (auth.list_version, "D" in auth.entries) == (4, False)
    assert auth.update_list(2, "Full", []) == "Accepted" and auth.entries == {} and auth.list_version == 2


def test_list_takes_precedence_over_cache_and_the_fault_ignores_it():
    auth = LocalAuth(entries={"A": "Blocked"}, cache={"A": "Accepted", "B": "Accepted"})
    assert auth.local_status("A", use_list=True, use_cache=True) == "Blocked"
    assert auth.local_status("A", use_list=False, use_cache=True) == "Accepted"
    assert auth.local_status("B", use_list=True, use_cache=False) is None
    assert LocalAuth(entries={"A": "Accepted"}, ignore_list=True).local_status("A", use_list=True,
                                                                               use_cache=False) is None


def test_reservations_block_other_tags_and_end_when_used_or_expired():
    r = Reservations()
    r.add(Reservation(7, 1, "OWNER", T0 + timedelta(seconds=10), parent_id_tag="GROUP"))
    assert r.blocks(1, "OTHER") and not r.blocks(1, "OWNER") and not r.blocks(1, "GROUP") and not r.blocks(2, "X")
    assert r.take(1, "OTHER") is None and r.take(1, "OWNER") == 7 and r.on(1) is None
    r.add(Reservation(8, 1, "OWNER", T0))
    r.add(Reservation(8, 2, "OWNER", T0 + timedelta(seconds=5)))  # same id: replaced, now on connector 2
    assert r.on(1) is None and r.on(2).reservation_id == 8
    assert r.expire(T0 + timedelta(seconds=4)) == [] and [x.reservation_id for x in r.expire(T0 + timedelta(seconds=5))] == [8]
    ignoring = Reservations(ignore=True)
    ignoring.add(Reservation(9, 1, "OWNER", T0))
    assert ignoring.on(1) is None


def test_blocked_tag_accepted_fault_reads_blocked_and_expired_as_accepted():
    faults = {F.BLOCKED_TAG_ACCEPTED}
    assert [F.authorization_as_read(s, faults) for s in ("Blocked", "Expired", "Invalid")] == [
        "Accepted", "Accepted", "Invalid"]
    assert F.authorization_as_read("Blocked", set()) == "Blocked"


# ---- against the CSMS stub ------------------------------------------------------------------

@pytest.fixture(params=["1.6", "2.0.1"])
def version(request) -> str:
    return request.param



def _connector_statuses(blab) -> list[str]:
    return [e.data["status"] for e in blab.dut.events
            if e.kind == "status" and e.connector_id == 1 and e.data.get("source") != "chargingState"]


def _last_status(blab) -> str | None:
    statuses = _connector_statuses(blab)
    return statuses[-1] if statuses else None


async def _offline(blab, seconds: float = 20.0) -> None:
    mark = blab.dut.mark()
    await blab.csms.take_offline(blab.dut.cp_id, seconds)
    await blab.dut.wait_for("disconnected", timeout_s=5, since_index=mark)
    await blab.clock.sleep(0.3)


async def _online(blab) -> None:
    mark = blab.dut.mark()
    blab.csms.back_online(blab.dut.cp_id)
    await blab.dut.wait_for("connected", timeout_s=10, since_index=mark)


async def test_local_list_commands_round_trip(blab, version):
    await blab.charger(version)
    dut = blab.dut
    assert await dut.send_local_list(3, "Full", [("TAG-A", "Accepted"), ("TAG-B", "Blocked")]) == "Accepted"
    assert await dut.get_local_list_version() == 3
    assert await dut.send_local_list(4, "Differential", [("TAG-B", None)]) == "Accepted"
    assert await dut.send_local_list(4, "Differential", [("TAG-C", "Accepted")]) == "VersionMismatch"
    assert await dut.get_local_list_version() == 4
    assert await dut.clear_cache() == "Accepted"


async def test_offline_local_list_authorizes_and_the_fault_does_not(blab, version):
    for faults, starts in ((frozenset(), True), (frozenset({F.LOCAL_LIST_IGNORED}), False)):
        charger = await blab.charger(version, faults=faults)
        assert await blab.dut.send_local_list(1, "Full", [("TAG-LOCAL", "Accepted")]) == "Accepted"
        await _offline(blab)
        blab.plant.set_ev_cp_state(CpState.B)
        assert await charger.present_id_tag("TAG-LOCAL") == ("Accepted" if starts else "Invalid")
        assert await charger.present_id_tag("TAG-UNKNOWN") == "Invalid"
        mark = blab.dut.mark()
        await _online(blab)
        if starts:
            started = await blab.dut.wait_for("transaction_started", timeout_s=5, since_index=mark)
            assert started.data["transaction"].id_tag == "TAG-LOCAL"
        else:
            await blab.clock.sleep(1.0)
            assert not [e for e in blab.dut.events[mark:] if e.kind == "transaction_started"]
        blab.plant.set_ev_cp_state(CpState.A)
        await blab.clock.sleep(0.5)
        await charger.stop()


async def test_cache_authorizes_offline_until_cleared(blab, version):
    charger = await blab.charger(version)
    assert await charger.present_id_tag("TAG-1") == "Accepted"  # online: asked, and cached
    await blab.wait_until(lambda: charger.local_auth.cache.get("TAG-1") == "Accepted")
    charger.connectors[1].authorized_tag = None  # the driver walks away (no cable, nothing started)
    await _offline(blab)
    assert await charger.present_id_tag("TAG-1") == "Accepted"
    charger.connectors[1].authorized_tag = None
    await _online(blab)
    assert await blab.dut.clear_cache() == "Accepted"
    await _offline(blab)
    assert await charger.present_id_tag("TAG-1") == "Invalid"
    await _online(blab)


async def test_blocked_tag_refused_unless_the_fault(blab, version):
    charger = await blab.charger(version)
    blab.plant.set_ev_cp_state(CpState.B)
    assert await charger.present_id_tag("TAG-BLOCKED") == "Blocked"
    assert await charger.present_id_tag("TAG-EXPIRED") == "Expired"
    await blab.clock.sleep(0.5)
    assert charger.transaction_id() is None
    await charger.stop()
    faulty = await blab.charger(version, faults=frozenset({F.BLOCKED_TAG_ACCEPTED}))
    mark = blab.dut.mark()
    assert await faulty.present_id_tag("TAG-BLOCKED") == "Accepted"
    started = await blab.dut.wait_for("transaction_started", timeout_s=5, since_index=mark)
    assert started.data["transaction"].id_tag == "TAG-BLOCKED"


async def test_reservation_reserved_other_tag_refused_owner_uses_it(blab, version):
    charger = await blab.charger(version)
    await blab.wait_until(lambda: _last_status(blab) == "Available")
    expiry = iso_utc(blab.clock.utcnow() + timedelta(seconds=60))
    assert await blab.dut.reserve_now(1, "TAG-2", expiry, 41) == "Accepted"
    await blab.wait_until(lambda: _last_status(blab) == "Reserved")
    assert await blab.dut.remote_start(1, "TAG-1") == "Rejected"
    assert await charger.present_id_tag("TAG-1") == "Accepted"  # the CSMS says yes, the connector no
    assert charger.connectors[1].authorized_tag is None
    assert await blab.dut.reserve_now(1, "TAG-1", expiry, 42) == "Occupied"  # reserved already
    mark = blab.dut.mark()
    await charger.present_id_tag("TAG-2")
    blab.plant.set_ev_cp_state(CpState.B)
    started = await blab.dut.wait_for("transaction_started", timeout_s=5, since_index=mark)
    assert (started.data["transaction"].id_tag, started.data["transaction"].reservation_id) == ("TAG-2", 41)
    assert await blab.dut.cancel_reservation(41) == "Rejected"  # used up
    assert await blab.dut.reserve_now(1, "TAG-2", expiry, 43) == "Occupied"  # a transaction runs


async def test_reservation_expires_and_cancel(blab, version):
    await blab.charger(version)
    soon = iso_utc(blab.clock.utcnow() + timedelta(seconds=1.5))
    assert await blab.dut.reserve_now(1, "TAG-1", soon, 51) == "Accepted"
    await blab.wait_until(lambda: _last_status(blab) == "Reserved")
    await blab.wait_until(lambda: _last_status(blab) == "Available", timeout=5)
    if version != "1.6":
        event = await blab.dut.wait_for("reservation_status", timeout_s=2)
        assert event.data == {"reservation_id": 51, "status": "Expired"}
    assert await blab.dut.cancel_reservation(51) == "Rejected"
    later = iso_utc(blab.clock.utcnow() + timedelta(seconds=60))
    assert await blab.dut.reserve_now(1, "TAG-1", later, 52) == "Accepted"
    assert await blab.dut.cancel_reservation(52) == "Accepted"
    await blab.wait_until(lambda: _last_status(blab) == "Available")
    if version == "1.6":
        assert await blab.dut.reserve_now(0, "TAG-1", later, 53) == "Rejected"  # ReserveConnectorZeroSupported false


async def test_reservation_ignored_fault_accepts_but_never_reserves(blab, version):
    charger = await blab.charger(version, faults=frozenset({F.RESERVATION_IGNORED}))
    expiry = iso_utc(blab.clock.utcnow() + timedelta(seconds=60))
    assert await blab.dut.reserve_now(1, "TAG-2", expiry, 61) == "Accepted"
    await blab.clock.sleep(0.5)
    assert "Reserved" not in _connector_statuses(blab)
    mark = blab.dut.mark()
    await charger.present_id_tag("TAG-1")
    blab.plant.set_ev_cp_state(CpState.B)
    started = await blab.dut.wait_for("transaction_started", timeout_s=5, since_index=mark)
    assert (started.data["transaction"].id_tag, started.data["transaction"].reservation_id) == ("TAG-1", None)


async def test_authorization_lapses_after_connection_timeout(blab, version):
    charger = await blab.charger(version)
    assert await blab.dut.change_configuration("ConnectionTimeOut", "1") == "Accepted"
    assert await charger.present_id_tag("TAG-1") == "Accepted"
    assert charger.connectors[1].authorized_tag == "TAG-1"
    await blab.wait_until(lambda: charger.connectors[1].authorized_tag is None, timeout=4)
    mark = blab.dut.mark()
    blab.plant.set_ev_cp_state(CpState.B)
    await blab.clock.sleep(1.0)
    assert not [e for e in blab.dut.events[mark:] if e.kind == "transaction_started"]
