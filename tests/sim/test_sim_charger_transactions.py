"""The transactions block on the simulated charger against the bench's CSMS (real sockets, free
port): the CSMS's offline window, the charger's queue replayed after it, and the faults of the
metering, offline and EV-fault blocks (each against the compliant behaviour)."""
from __future__ import annotations

import pytest

from bench.sim import faults as F
from instruments.iec61851 import CpState

from .conftest import CP_ID

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clock_speed() -> float:
    return 2.0  # outages and sample intervals are clock time: twice as fast as real time


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request) -> str:
    return request.param



def _sample_times(blab, tx_id) -> list:
    """Charger timestamps of the periodic samples the CSMS received for the transaction."""
    tx = blab.dut.transactions[tx_id]
    return sorted({s.timestamp for s in tx.samples if s.context == "Sample.Periodic"})


async def _outage(blab, seconds: float):
    """Take the charger offline for `seconds`; return (went offline, came back) as dut events."""
    mark = blab.dut.mark()
    await blab.csms.take_offline(CP_ID, seconds)
    gone = await blab.dut.wait_for("disconnected", timeout_s=3, since_index=mark)
    back = await blab.dut.wait_for("connected", timeout_s=seconds + 5, since_index=mark)
    return gone, back


async def test_offline_window_refuses_reconnects_until_it_ends(blab, version):
    charger = await blab.charger(version)
    gone, back = await _outage(blab, 1.5)
    assert back.t_mono_s - gone.t_mono_s >= 1.5
    refused = [r for r in blab.csms.refusals if r.cp_id == CP_ID]
    assert refused and all(r.stage == "http" and "offline" in r.reason for r in refused)
    assert all(gone.t_mono_s <= r.t_mono_s <= gone.t_mono_s + 1.5 for r in refused)
    await blab.wait_until(lambda: charger.online)
    assert not blab.csms.is_offline(CP_ID)
    # back_online ends a window early
    mark = blab.dut.mark()
    await blab.csms.take_offline(CP_ID, 60)
    await blab.dut.wait_for("disconnected", timeout_s=3, since_index=mark)
    blab.csms.back_online(CP_ID)
    await blab.dut.wait_for("connected", timeout_s=5, since_index=mark)
    # a reconnect without a reboot brings no BootNotification (OCPP-J 1.6 5.4, 2.0.1 part 4 5.3)
    assert not [e for e in blab.dut.events[mark:] if e.kind == "boot"] and charger.boot_count == 1


async def test_transaction_data_queued_offline_is_replayed_in_order(blab, version):
    charger = await blab.charger(version)
    tx_id = await blab.start_charging(charger, amps=16)
    await blab.clock.sleep(1.5)  # periodic samples before the outage
    gone, back = await _outage(blab, 2.5)
    assert blab.plant.contactor_closed  # charging goes on offline
    await blab.clock.sleep(1.5)
    times = _sample_times(blab, tx_id)
    offline = [t for t in times if gone.utc < t < back.utc]
    assert len(offline) >= 2  # one per second while offline, sent after the reconnect
    assert all((b - a).total_seconds() < 1.5 for a, b in zip(times, times[1:]))  # none missing
    if version != "1.6":
        updates = [e for e in blab.dut.events if e.kind == "transaction_updated" and e.data["transaction_id"] == tx_id]
        seq = [e.data["seq_no"] for e in updates]
        assert seq == list(range(len(seq)))
        assert any(e.data["offline"] for e in updates) and blab.dut.findings == []


async def test_queued_messages_dropped_loses_the_offline_data(blab, version):
    charger = await blab.charger(version, faults=frozenset({F.QUEUED_MESSAGES_DROPPED}))
    tx_id = await blab.start_charging(charger, amps=16)
    await blab.clock.sleep(1.5)  # periodic samples before the outage
    gone, back = await _outage(blab, 2.5)
    await blab.clock.sleep(1.5)
    times = _sample_times(blab, tx_id)
    assert len([t for t in times if gone.utc < t < back.utc]) <= 1  # at most the one already in the sender's hand
    assert max((b - a).total_seconds() for a, b in zip(times, times[1:])) > 2.0
    if version != "1.6":
        assert any(f.kind == "TransactionSeqNo" for f in blab.dut.findings)


async def test_energy_register_reset_fault_sets_the_register_to_zero(blab):
    charger = await blab.charger("1.6", faults=frozenset({F.ENERGY_REGISTER_RESET}))
    await blab.start_charging(charger, amps=16)
    assert charger.meter_register_wh() >= charger.config.meter_initial_wh
    after_s = F.magnitude(F.ENERGY_REGISTER_RESET, "after_s")
    await blab.wait_until(lambda: charger.meter_register_wh() < 100.0, timeout=after_s + 2)
    await blab.clock.sleep(0.5)
    assert 0.0 < charger.meter_register_wh() < 100.0  # counts on from 0


@pytest.mark.parametrize("fault", [False, True])
async def test_clock_aligned_values_on_the_boundary_unless_faulty(blab, fault):
    await blab.charger("1.6", faults=frozenset({F.CLOCK_ALIGNED_OFF_BOUNDARY} if fault else ()))
    assert await blab.dut.change_configuration("ClockAlignedDataInterval", "1") == "Accepted"
    mark = blab.dut.mark()
    for _ in range(2):
        await blab.dut.wait_for("meter_values", lambda e: e.data["samples"][0].context == "Sample.Clock",
                                timeout_s=3, since_index=blab.dut.mark())
    stamps = [s.timestamp for e in blab.dut.events[mark:] if e.kind == "meter_values" for s in e.data["samples"]
              if s.context == "Sample.Clock"]
    # distance of each timestamp from the 1 s boundary; tick and scheduling jitter stay under 0.2 s
    off_boundary = [min(f, 1.0 - f) for f in (ts.microsecond / 1e6 for ts in stamps)]
    target = 0.5 if fault else 0.0  # the fault samples half an interval late
    assert stamps and all(abs(off - target) < 0.2 for off in off_boundary), off_boundary


@pytest.mark.parametrize("fault", [False, True])
async def test_state_e_opens_the_contactor_unless_the_fault_is_ignored(blab, version, fault):
    charger = await blab.charger(version, faults=frozenset({F.EV_FAULT_IGNORED} if fault else ()))
    await blab.start_charging(charger, amps=16)
    mark = blab.dut.mark()
    blab.plant.set_ev_cp_state(CpState.E)  # the EV emulator's CP short shows as state E
    await blab.dut.wait_for("status", lambda e: e.data["status"] == "Faulted", timeout_s=3, since_index=mark)
    await blab.clock.sleep(0.3)
    assert blab.plant.contactor_closed is fault
    blab.plant.set_ev_cp_state(CpState.C)
    await blab.dut.wait_for("status", lambda e: e.data["status"] != "Faulted" and e.data.get("source") !=
                            "chargingState", timeout_s=3, since_index=mark)


async def test_a_charger_that_boots_on_every_connection_can_be_simulated(blab, version):
    charger = await blab.charger(version, boot_on_reconnect=True)
    _, back = await _outage(blab, 0.5)
    boot = await blab.dut.wait_for("boot", timeout_s=5, since_index=blab.dut.events.index(back))
    assert boot.t_mono_s >= back.t_mono_s
    await blab.wait_until(lambda: charger.boot_count == 2)
