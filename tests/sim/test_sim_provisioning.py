"""Provisioning and status against the simulated charger, on 1.6 and 2.0.1, through the bench's
own CSMS on a free port: the CSMS's boot answers, and the steps of the provisioning and status
blocks passing on the correct charger and failing on the charger with the matching fault."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_config
from bench.csms import Dut
from bench.scenario.model import load_scenario
from bench.scenario.steps import StepContext, StepFailed
from bench.scenario.steps_provisioning import (
    BootSequenceArgs,
    GetConfigurationArgs,
    HeartbeatIntervalArgs,
    ResetArgs,
    SetConfigurationArgs,
    expect_boot_sequence,
    expect_heartbeat_interval,
    get_configuration,
    reset,
    set_configuration,
)
from bench.scenario.steps_status import ExpectStatusArgs, _match, expect_status
from bench.checks.timeline import Timeline, utc_mapper
from bench.sim import faults as F
from instruments.iec61851 import CpState

from .bench_csms import open_bench_lab
from .conftest import TestClock

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ["1.6", "2.0.1"]
SPEED = 4.0  # the lab's clock runs this much faster than real time (intervals and waits alike)


@pytest.fixture
async def lab():
    lab = await open_bench_lab(TestClock(SPEED), heartbeat_interval_s=60)
    yield lab
    await lab.stop()
    await lab.csms.stop()


@pytest.fixture(scope="module")
def position():
    config = load_config(ROOT / "lab_config.yaml")
    return config.positions[0], config.tolerances


def _ctx(lab, position) -> StepContext:
    pos, tolerances = position
    clock = lab.clock
    timeline = Timeline(1, 32.0, 230.0, 3, utc_mapper(clock.monotonic(), clock.utcnow()))
    return StepContext(clock, pos, tolerances, lab.dut, None, timeline, event_cursor=lab.dut.mark())


def test_boot_answers_run_out_to_accepted():
    dut = Dut("CP", TestClock())
    dut.set_boot_answer("Pending", 3, times=2)
    assert [dut.boot_answer(60) for _ in range(3)] == [("Pending", 3), ("Pending", 3), ("Accepted", 60)]
    dut.set_boot_answer("Accepted")
    assert dut.boot_answer(45) == ("Accepted", 45)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("status", ["Pending", "Rejected"])
async def test_boot_retried_after_the_interval_until_accepted(lab, position, version, status):
    await lab.charger(version)
    ctx = _ctx(lab, position)
    lab.dut.set_boot_answer(status, 1, times=2)
    await reset(ctx, ResetArgs(kind="Hard"))
    await expect_boot_sequence(ctx, BootSequenceArgs(timeout_s=10))
    boots = [e for e in lab.dut.events if e.kind == "boot"][-3:]
    assert [b.data["status"] for b in boots] == [status, status, "Accepted"]
    assert all(b.t_mono_s - a.t_mono_s >= 0.9 for a, b in zip(boots, boots[1:]))


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_boot_ignored_fails(lab, position, version):
    await lab.charger(version, faults=frozenset({F.PENDING_BOOT_IGNORED}))
    ctx = _ctx(lab, position)
    lab.dut.set_boot_answer("Pending", 1, times=2)
    await reset(ctx, ResetArgs(kind="Hard"))
    with pytest.raises(StepFailed, match="StatusNotification.*nothing but BootNotification"):
        await expect_boot_sequence(ctx, BootSequenceArgs(timeout_s=10))


@pytest.mark.parametrize("version", VERSIONS)
async def test_heartbeat_interval_from_boot_and_configuration(lab, position, version):
    await lab.charger(version)
    ctx = _ctx(lab, position)
    lab.dut.set_boot_answer("Accepted", 1)
    await reset(ctx, ResetArgs(kind="Hard"))
    await expect_heartbeat_interval(ctx, HeartbeatIntervalArgs(seconds=1, observe_s=3))
    await set_configuration(ctx, SetConfigurationArgs(key="HeartbeatInterval", value="2"))
    await expect_heartbeat_interval(ctx, HeartbeatIntervalArgs(seconds=2, observe_s=4))


@pytest.mark.parametrize("version", VERSIONS)
async def test_heartbeat_interval_ignored_fails(lab, position, version):
    await lab.charger(version, faults=frozenset({F.HEARTBEAT_INTERVAL_IGNORED}))
    ctx = _ctx(lab, position)
    lab.dut.set_boot_answer("Accepted", 1)
    await reset(ctx, ResetArgs(kind="Hard"))
    with pytest.raises(StepFailed, match="expected a Heartbeat every 1 s"):
        await expect_heartbeat_interval(ctx, HeartbeatIntervalArgs(seconds=1, observe_s=3))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_with_a_transaction(lab, position, version, kind):
    charger = await lab.charger(version)
    await lab.start_charging(charger, amps=10.0)
    ctx = _ctx(lab, position)
    await reset(ctx, ResetArgs(kind=kind, idle_wait_s=1.0))
    (tx,) = lab.dut.transactions.values()
    want = {("1.6", "Soft"): "SoftReset", ("1.6", "Hard"): "HardReset",
            ("2.0.1", "Soft"): "Remote", ("2.0.1", "Hard"): "ImmediateReset"}[version, kind]
    assert tx.stop_reason == want  # 2.x OnIdle: it ran until the bench stopped it
    assert not tx.running and charger.transaction_id() is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_keeps_transaction_fails(lab, position, version):
    charger = await lab.charger(version, faults=frozenset({F.RESET_KEEPS_TRANSACTION}))
    await lab.start_charging(charger, amps=10.0)
    ctx = _ctx(lab, position)
    with pytest.raises(StepFailed, match="was not stopped"):
        await reset(ctx, ResetArgs(kind="Hard", stop_timeout_s=2))


@pytest.mark.parametrize("version", VERSIONS)
async def test_configuration_unknown_and_read_only(lab, position, version):
    await lab.charger(version)
    ctx = _ctx(lab, position)
    await get_configuration(ctx, GetConfigurationArgs(
        known=["HeartbeatInterval"], unknown=["NoSuchCtrlr.NoSuchVariable", "OCPPCommCtrlr.NoSuchVariable"]))
    await set_configuration(ctx, SetConfigurationArgs(key="NoSuchCtrlr.X", value="1", expect="NotSupported"))
    await set_configuration(ctx, SetConfigurationArgs(key="ChargeProfileMaxStackLevel", value="5", expect="Rejected"))
    await set_configuration(ctx, SetConfigurationArgs(key="MeterValueSampleInterval", value="7"))
    with pytest.raises(StepFailed, match="expected '8'"):
        await get_configuration(ctx, GetConfigurationArgs(values={"MeterValueSampleInterval": "8"}))
    with pytest.raises(StepFailed, match="Rejected"):  # a read-only key is never Accepted
        await set_configuration(ctx, SetConfigurationArgs(key="ChargeProfileMaxStackLevel", value="5"))


def test_status_match_in_order_and_strict():
    tokens = list(enumerate(["Preparing", "Charging", "SuspendedEV", "Charging"]))
    assert _match("Available", tokens, ["Available", "Preparing"], set(), True)[:2] == (2, 0)
    assert _match("Available", tokens, ["Charging", "Charging"], set(), False)[0] == 2
    assert _match("Available", tokens, ["Charging"], set(), True) == (0, None, "Preparing")
    assert _match("Available", tokens, ["Charging"], {"Preparing"}, True)[:2] == (1, 1)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("faulty", [False, True])
async def test_expect_status_through_suspension(lab, position, version, faulty):
    charger = await lab.charger(version, faults=frozenset({F.STATUS_SUSPENDED_NOT_SENT} if faulty else ()))
    await lab.start_charging(charger, amps=10.0)
    ctx = _ctx(lab, position)
    await expect_status(ctx, ExpectStatusArgs(sequence=["Charging"]))
    lab.plant.set_ev_cp_state(CpState.B)
    args = ExpectStatusArgs(sequence=["SuspendedEV"], timeout_s=2)
    if faulty:
        with pytest.raises(StepFailed, match="SuspendedEV.*still Charging"):
            await expect_status(ctx, args)
        return
    await expect_status(ctx, args)
    lab.plant.set_ev_cp_state(CpState.C)
    await expect_status(ctx, ExpectStatusArgs(sequence=["Charging"], timeout_s=2))
    (tx,) = lab.dut.transactions.values()
    assert await lab.dut.remote_stop(tx.transaction_id) == "Accepted"
    await expect_status(ctx, ExpectStatusArgs(sequence=["Finishing"], timeout_s=3))
    lab.plant.set_ev_cp_state(CpState.A)
    await expect_status(ctx, ExpectStatusArgs(sequence=["Available"], timeout_s=3))


@pytest.mark.parametrize("block", ["provisioning", "status"])
def test_shipped_scenarios_load_with_their_block(block):
    scenarios = [load_scenario(p) for p in sorted((ROOT / "scenarios" / block).glob("*.yaml"))]
    assert scenarios and all(s.block == block and block in s.tags and s.ocpp_ids for s in scenarios)
    steps = {step.name for s in scenarios for step in s.steps}
    wanted = {"provisioning": {"set_boot_answer", "reset", "expect_boot_sequence", "expect_heartbeat_interval",
                               "get_configuration", "set_configuration"}, "status": {"expect_status"}}[block]
    assert wanted <= steps
