"""The remote-control and availability steps (`steps_remote.py`) against the simulated charger
and the bench's CSMS over real websockets, on OCPP 1.6 and 2.0.1: they pass on the compliant
charger and fail, with the reason, on each remote-control fault."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_config
from instruments.iec61851 import CpState
from bench.scenario.steps import StepContext, StepFailed
from bench.scenario import steps_remote as R
from bench.checks.timeline import Timeline, utc_mapper
from bench.sim import faults as F


pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["1.6", "2.0.1"])
def version(request) -> str:
    return request.param



def _ctx(blab) -> StepContext:
    cfg = load_config(ROOT / "lab_config.yaml")
    timeline = Timeline(1, 32.0, 230.0, 3, utc_mapper(blab.clock.monotonic(), blab.clock.utcnow()))
    return StepContext(blab.clock, cfg.positions[0], cfg.tolerances, blab.dut, None, timeline,
                       event_cursor=blab.dut.mark())


async def _run(ctx: StepContext, name: str, **args) -> None:
    step = R.STEPS[name]
    await step.run(ctx, step.args(**args))


async def _charging(blab, version: str, faults: frozenset[str] = frozenset()):
    charger = await blab.charger(version, faults=faults)
    ctx = _ctx(blab)
    await blab.wait_until(lambda: R._reported_status(ctx, 1) == "Available")
    tx_id = await blab.start_charging(charger, amps=8)
    return ctx, tx_id


def test_expected_answers_per_version():
    class V:
        def __init__(self, version):
            self.ocpp_version = version
    mapping = {"1.6": "NotSupported", "2.0.1": ["UnknownConnector", "Rejected"]}
    assert R.wanted(V("1.6"), mapping) == ("NotSupported",)  # type: ignore[arg-type]
    assert R.wanted(V("2.1"), mapping) == ("UnknownConnector", "Rejected")  # type: ignore[arg-type]
    assert R.wanted(V("2.0.1"), "Accepted") == ("Accepted",)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="no expected answer for OCPP 2.1"):
        R.wanted(V("2.1"), {"1.6": "Unlocked"})  # type: ignore[arg-type]
    assert R._optional(V("2.0.1"), {"1.6": "UnlockCommand"}) == ()  # type: ignore[arg-type]
    with pytest.raises(StepFailed, match="DUT answered Accepted, a compliant charger answers Scheduled"):
        R.check_answer("ChangeAvailability", "Accepted", ("Scheduled",))


async def test_triggered_messages_follow(blab, version):
    ctx, _ = await _charging(blab, version)
    for message in ("MeterValues", "StatusNotification", "Heartbeat"):
        await _run(ctx, "trigger_message", message=message, connector=1)
    await _run(ctx, "trigger_message", message="MeterValues", connector=9, expect="Rejected")
    with pytest.raises(StepFailed, match="DUT answered Accepted, a compliant charger answers NotImplemented"):
        await _run(ctx, "trigger_message", message="Heartbeat", expect="NotImplemented")


async def test_an_ignored_trigger_fails(blab, version):
    ctx, _ = await _charging(blab, version, frozenset({F.TRIGGER_MESSAGE_IGNORED}))
    with pytest.raises(StepFailed, match="MeterValues was Accepted but no meter_values message for connector 1 "
                                         "came within 1 s"):
        await _run(ctx, "trigger_message", message="MeterValues", connector=1, within_s=1)


async def test_inoperative_during_a_transaction_is_scheduled(blab, version):
    ctx, tx_id = await _charging(blab, version)
    await _run(ctx, "change_availability", connector=1, kind="Inoperative", expect="Scheduled")
    await _run(ctx, "expect_transaction_state", connector=1, state="running", for_s=1)
    assert await blab.dut.remote_stop(tx_id) == "Accepted"
    await _run(ctx, "expect_availability", connector=1, status="Unavailable")
    await _run(ctx, "remote_start_request", connector=1, expect="Rejected")
    await _run(ctx, "change_availability", connector=0, kind="Operative")
    await _run(ctx, "expect_availability", connector=1, status="Finishing" if version == "1.6" else "Occupied")


async def test_inoperative_at_once_fails(blab, version):
    ctx, _ = await _charging(blab, version, frozenset({F.AVAILABILITY_NOT_SCHEDULED}))
    mark = blab.dut.mark()
    with pytest.raises(StepFailed, match="answered Accepted, a compliant charger answers Scheduled"):
        await _run(ctx, "change_availability", connector=1, kind="Inoperative", expect="Scheduled")
    await blab.dut.wait_for("transaction_stopped", timeout_s=5, since_index=mark)
    with pytest.raises(StepFailed, match="no transaction runs on connector 1"):
        await _run(ctx, "expect_transaction_state", connector=1, state="running", for_s=0.1)
    await _run(ctx, "expect_availability", connector=1, status="Unavailable")


async def test_expect_availability_names_the_last_status(blab, version):
    await blab.charger(version)
    ctx = _ctx(blab)
    await _run(ctx, "expect_availability", connector=1, status="Available")
    with pytest.raises(StepFailed, match="expected StatusNotification Unavailable on connector 1 within 0.3 s; "
                                         "last reported connector 1: Available"):
        await _run(ctx, "expect_availability", connector=1, status="Unavailable", within_s=0.3)


async def test_unlock_during_a_transaction(blab, version):
    ctx, tx_id = await _charging(blab, version)
    await _run(ctx, "unlock_connector", connector=1, expect={"1.6": "Unlocked", "2.0.1": "OngoingAuthorizedTransaction"},
               stop_reason={"1.6": "UnlockCommand"}, within_s=1)
    assert (blab.dut.active_transaction(1) is None) == (version == "1.6")
    await _run(ctx, "unlock_connector", connector=9, expect={"1.6": "NotSupported", "2.0.1": "UnknownConnector"})


async def test_unlock_that_ignores_the_transaction_fails(blab, version):
    ctx, _ = await _charging(blab, version, frozenset({F.UNLOCK_IGNORES_TRANSACTION}))
    why = "must end the transaction first" if version == "1.6" else "answers OngoingAuthorizedTransaction"
    with pytest.raises(StepFailed, match=why):
        await _run(ctx, "unlock_connector", connector=1, within_s=1,
                   expect={"1.6": "Unlocked", "2.0.1": "OngoingAuthorizedTransaction"})


async def test_remote_start_and_stop_requests(blab, version):
    await blab.charger(version)
    ctx = _ctx(blab)
    await _run(ctx, "remote_stop_unknown")
    await _run(ctx, "remote_start_request", connector=0, expect="Rejected")
    blab.plant.set_ev_cp_state(CpState.B)
    await _run(ctx, "remote_start_request", id_tag="TAG-1", connector=None, expect=["Accepted", "Rejected"],
               starts_within_s=5)
    assert blab.dut.active_transaction(1) is not None  # the simulated charger picks connector 1
    await _run(ctx, "remote_start_request", id_tag="TAG-2", connector=1, expect="Rejected")  # occupied
    await _run(ctx, "expect_transaction_state", connector=1, state="running", for_s=0.5)
    await _run(ctx, "remote_stop_unknown")
    blab.plant.set_ev_cp_state(CpState.A)
    await blab.dut.wait_for("transaction_stopped", timeout_s=5)
    await _run(ctx, "expect_transaction_state", connector=1, state="none", for_s=0.2)


async def test_the_whole_charger_goes_inoperative_after_its_transaction(blab, version):
    ctx, tx_id = await _charging(blab, version)
    await _run(ctx, "change_availability", connector=0, kind="Inoperative", expect="Scheduled")
    await _run(ctx, "expect_transaction_state", connector=1, state="running", for_s=1)
    assert blab.dut.status(0) in (None, "Available")  # 1.6 connector 0: not before the transaction ended
    assert await blab.dut.remote_stop(tx_id) == "Accepted"
    await _run(ctx, "expect_availability", connector=0, status="Unavailable")
    await _run(ctx, "expect_availability", connector=1, status="Unavailable")
    await _run(ctx, "change_availability", connector=0, kind="Operative")
    await _run(ctx, "expect_availability", connector=0, status="Available" if version == "1.6" else "Occupied")


async def test_connector_0_is_not_sent_where_the_schema_forbids_it(blab):
    await blab.charger("2.1")
    ctx = _ctx(blab)
    await _run(ctx, "remote_start_request", connector=0, expect="Rejected")
    assert ctx.notes == ["RequestStartTransaction for connector 0 not sent: OCPP 2.1's schema forbids it"]
    assert not [e for e in blab.log.entries if e.action == "RequestStartTransaction"]  # nothing went out
