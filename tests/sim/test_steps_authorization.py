"""The authorization and reservation steps against the simulated charger and the bench's CSMS
over real websockets: they pass on the correct charger and raise StepFailed, with a reason that
names what was expected and what came, on a charger with the matching fault."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_config
from instruments.iec61851 import CpState
from bench.scenario.library import STEPS
from bench.scenario.steps import StepContext, StepFailed
from bench.checks.timeline import Timeline, utc_mapper
from bench.sim import faults as F


pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def position():
    return load_config(ROOT / "lab_config.yaml").positions[0]


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request) -> str:
    return request.param



async def _context(blab, position, version: str, faults: frozenset[str] = frozenset()) -> tuple[StepContext, object]:
    charger = await blab.charger(version, faults=faults)
    cfg = load_config(ROOT / "lab_config.yaml")
    ctx = StepContext(blab.clock, position, cfg.tolerances, blab.dut, None,
                      Timeline(1, 32.0, 230.0, 3, utc_mapper(blab.clock.monotonic(), blab.clock.utcnow())),
                      tag_presenter=charger.present_id_tag, event_cursor=blab.dut.mark())
    return ctx, charger


async def run(ctx: StepContext, name: str, **args) -> None:
    step = STEPS[name]
    await step.run(ctx, step.args(**args))


async def test_reservation_steps_pass_on_the_correct_charger(blab, position, version):
    ctx, _ = await _context(blab, position, version)
    await run(ctx, "expect_connector_status", status="Available", timeout_s=3)
    await run(ctx, "reserve_now", id_tag="TAG-1", expiry_s=20)
    await run(ctx, "expect_connector_status", status="Reserved", timeout_s=3)
    await run(ctx, "swipe", id_tag="TAG-1")
    blab.plant.set_ev_cp_state(CpState.B)
    await run(ctx, "expect_transaction", id_tag="TAG-1", reservation="last", timeout_s=5)
    await run(ctx, "cancel_reservation", expect="Rejected")


async def test_reservation_ignored_fails_with_a_clear_reason(blab, position, version):
    ctx, _ = await _context(blab, position, version, frozenset({F.RESERVATION_IGNORED}))
    await run(ctx, "reserve_now", id_tag="TAG-1", expiry_s=20)  # Accepted: the fault says yes
    with pytest.raises(StepFailed, match="expected connector 1 status Reserved within 1 s; got Available"):
        await run(ctx, "expect_connector_status", status="Reserved", timeout_s=1)
    await run(ctx, "swipe", id_tag="TAG-1")
    blab.plant.set_ev_cp_state(CpState.B)
    with pytest.raises(StepFailed, match="must name reservationId 1[0-9]{3} .*it names None"):
        await run(ctx, "expect_transaction", id_tag="TAG-1", reservation="last", timeout_s=5)


async def test_expect_no_transaction_catches_a_blocked_tag_accepted(blab, position, version):
    ctx, _ = await _context(blab, position, version)
    blab.plant.set_ev_cp_state(CpState.B)
    await run(ctx, "swipe", id_tag="TAG-BLOCKED")
    await run(ctx, "expect_no_transaction", seconds=1)
    await blab.stop()
    ctx, _ = await _context(blab, position, version, frozenset({F.BLOCKED_TAG_ACCEPTED}))
    await run(ctx, "swipe", id_tag="TAG-BLOCKED")
    with pytest.raises(StepFailed, match="no transaction may start, but transaction .* for idTag 'TAG-BLOCKED'"):
        await run(ctx, "expect_no_transaction", seconds=1)


async def test_offline_steps_and_local_list(blab, position, version):
    ctx, charger = await _context(blab, position, version)
    await run(ctx, "send_local_list", version=7, entries={"TAG-LOCAL": "Accepted"})
    await run(ctx, "get_local_list_version", expect=7)
    with pytest.raises(StepFailed, match="SendLocalList Differential version 7 .*DUT answered VersionMismatch"):
        await run(ctx, "send_local_list", version=7, update_type="Differential", entries={"X": "Accepted"})
    await run(ctx, "csms_offline", max_seconds=10)
    assert not charger.online and not blab.dut.connected
    blab.plant.set_ev_cp_state(CpState.B)
    await run(ctx, "swipe", id_tag="TAG-LOCAL")
    await run(ctx, "csms_online", timeout_s=10)
    await run(ctx, "expect_transaction", id_tag="TAG-LOCAL", timeout_s=5)
