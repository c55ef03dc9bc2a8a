"""The firmware, diagnostics and display message steps against the simulated charger over
the bench's CSMS stub (real sockets, free ports): a compliant charger passes them, each
fault of these blocks makes one of them raise StepFailed with a reason that names it."""
from __future__ import annotations

import pytest

from bench.scenario.library import STEP_ARGS, STEPS
from bench.scenario.steps import StepContext, StepFailed
from bench.sim import faults as F
from tests.sim.bench_csms import open_bench_lab
from tests.sim.conftest import TestClock

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def blab():
    lab = await open_bench_lab(TestClock())
    yield lab
    await lab.stop()
    await lab.csms.stop()
    lab.log.close()


def _ctx(blab) -> StepContext:
    # The protocol steps need the DUT and the clock only (no instruments, no limit timeline).
    return StepContext(blab.clock, None, None, blab.dut, None, None, event_cursor=blab.dut.mark())  # type: ignore[arg-type]


async def run(ctx: StepContext, name: str, **args) -> None:
    await STEPS[name].run(ctx, STEP_ARGS[name](**args))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_compliant_charger_passes_the_firmware_steps(blab, version):
    await blab.charger(version)
    ctx = _ctx(blab)
    await run(ctx, "update_firmware", file="served", version="3.1.4", retry_interval_s=0, settle_s=0.2)
    assert blab.dut.identity.firmware == "3.1.4"
    await run(ctx, "update_firmware", file="missing", retries=1, retry_interval_s=0, settle_s=0.2)
    await run(ctx, "expect_firmware_statuses", statuses=["Downloading", "DownloadFailed"], absent=["Installing"])
    await run(ctx, "get_diagnostics", server="accepting", settle_s=0.2)
    await run(ctx, "get_diagnostics", server="refusing", retry_interval_s=0, settle_s=0.2)


async def test_firmware_status_skipped_fails_on_the_missing_download(blab):
    await blab.charger("2.0.1", faults=frozenset({F.FIRMWARE_STATUS_SKIPPED}))
    with pytest.raises(StepFailed, match="got no download"):
        await run(_ctx(blab), "update_firmware", file="served", settle_s=0.2)
    with pytest.raises(StepFailed, match="expected DownloadFailed next.*Downloading, Downloaded"):
        await run(_ctx(blab), "update_firmware", file="missing", settle_s=0.2)


async def test_diagnostics_not_uploaded_fails_on_the_missing_file(blab):
    await blab.charger("1.6", faults=frozenset({F.DIAGNOSTICS_NOT_UPLOADED}))
    with pytest.raises(StepFailed, match="no non-empty file arrived"):
        await run(_ctx(blab), "get_diagnostics", server="accepting", settle_s=0.2)


async def test_display_steps_pass_and_the_fault_fails(blab):
    await blab.charger("2.0.1")
    ctx = _ctx(blab)
    await run(ctx, "set_display_message", id=1, content="one", priority="InFront", language="en")
    await run(ctx, "set_display_message", id=2, content="two", format="ASCII")
    await run(ctx, "set_display_message", id=3, format="unsupported")  # HTML: NotSupportedMessageFormat
    await run(ctx, "get_display_messages", priority="InFront")
    await run(ctx, "get_display_messages")
    await run(ctx, "clear_display_message", id=1)
    await run(ctx, "get_display_messages", ids=[1], expect="Unknown")
    with pytest.raises(StepFailed, match="answered Accepted, a compliant charger answers Unknown"):
        await run(ctx, "get_display_messages", ids=[2], expect="Unknown")
    await blab.stop()
    blab.chargers.clear()
    await blab.charger("2.0.1", faults=frozenset({F.DISPLAY_MESSAGE_NOT_STORED}))
    ctx = _ctx(blab)
    await run(ctx, "set_display_message", id=5, content="five")
    with pytest.raises(StepFailed, match=r"answered Unknown.*did not clear \[5\]"):
        await run(ctx, "get_display_messages", ids=[5])


async def test_a_download_before_the_retrieve_date_fails(blab, monkeypatch):
    """A charger that ignores retrieveDate (downloads at once) is caught by the file server's log."""
    from dataclasses import replace

    from bench.sim import charger_firmware as FW

    flow = FW.update_firmware

    def at_once(host, request, *args, **kwargs):
        return flow(host, replace(request, retrieve_at=None), *args, **kwargs)
    monkeypatch.setattr(FW, "update_firmware", at_once)
    await blab.charger("1.6")
    with pytest.raises(StepFailed, match="before the retrieveDate"):
        await run(_ctx(blab), "update_firmware", file="served", retrieve_in_s=3, settle_s=0.2)


async def test_update_firmware_accepts_accepted_canceled(blab):
    """L01.FR.24: a DUT that cancels an update in progress for the step's answers AcceptedCanceled."""
    from datetime import timedelta

    await blab.charger("2.0.1")
    scheduled = await blab.dut.update_firmware("http://127.0.0.1:9/never.bin",
                                               blab.clock.utcnow() + timedelta(seconds=30))
    assert scheduled.status == "Accepted"
    ctx = _ctx(blab)
    await run(ctx, "update_firmware", file="served", version="5.0.0", retry_interval_s=0, settle_s=0.2)
    assert blab.dut.identity.firmware == "5.0.0"
    answers = [e.frame[2].get("status") for e in blab.log.entries
               if e.direction == "dut->csms" and e.frame and e.frame[0] == 3 and e.action == "UpdateFirmware"]
    assert answers == ["Accepted", "AcceptedCanceled"]
