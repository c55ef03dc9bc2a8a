"""What the DUT supports: discovered from the simulated charger over the bench's own CSMS,
declared in the config, and used to skip scenarios before their first step; a CALLERROR
NotSupported is NOT SUPPORTED on an optional feature and a FAIL on a required one; the
position reset restores what a scenario changed; the boot is answered before the first CALL."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.capabilities import Capabilities
from bench.config import load_config
from bench.csms.dut import DutCallError
from bench.discovery import declared, discover
from bench.record import Verdict
from bench.scenario.model import load_scenario
from bench.scenario.runner import PositionRuntime, _unsupported_call, reset_position, run_scenario, why_skipped

from .bench_csms import open_bench_lab
from .conftest import TestClock

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture
async def lab():
    lab = await open_bench_lab(TestClock(4.0), heartbeat_interval_s=60)
    yield lab
    await lab.stop()
    await lab.csms.stop()


def _position(**dut_overrides):
    config = load_config(ROOT / "lab_config.yaml")
    pos = config.positions[0]
    if dut_overrides:
        pos = pos.model_copy(update={"dut": pos.dut.model_copy(update=dut_overrides)})
    return pos, config.tolerances


def _runtime(lab, caps: Capabilities | None = None, **dut_overrides) -> PositionRuntime:
    pos, tolerances = _position(**dut_overrides)
    # no instruments: trace and sampler are not used by the reset or by protocol steps
    return PositionRuntime(pos, tolerances, lab.clock, lab.dut, None, None, None,  # type: ignore[arg-type]  # unused here
                           capabilities=caps or Capabilities())


@pytest.mark.parametrize("version", VERSIONS)
async def test_discovery_of_the_full_charger(lab, version):
    await lab.charger(version)
    pos, _ = _position()
    caps = await discover(lab.dut, pos.dut, version)
    for feature in ("SmartCharging", "Reservation", "LocalAuthList", "FirmwareManagement", "RemoteTrigger"):
        assert caps.supports(feature), (feature, caps.source[feature])
        assert caps.source[feature] != "assumed"  # the DUT told
    assert caps.supports("DisplayMessages") == (version != "1.6")
    assert not caps.notes


async def test_declaration_wins_over_discovery(lab):
    await lab.charger("1.6")
    pos, _ = _position()
    cfg = pos.dut.model_copy(update={"features": pos.dut.features.model_copy(update={
        "unsupported": ["SmartCharging"], "file_transfer": ["ftp"]})})
    caps = await discover(lab.dut, cfg, "1.6")
    assert not caps.supports("SmartCharging")
    assert "lab_config.yaml" in caps.source["SmartCharging"]
    assert caps.file_transfer == ("ftp",)
    assert declared(cfg).supports("Reservation")


async def test_unsupported_feature_skips_before_the_first_step(lab):
    await lab.charger("1.6")
    caps = Capabilities()
    caps.mark_unsupported("SmartCharging", "SupportedFeatureProfiles = Core")
    rt = _runtime(lab, caps)
    scenario = load_scenario(ROOT / "scenarios/smart_charging/txprofile_step_down.yaml")
    skip = why_skipped(rt, scenario)
    assert skip is not None and skip.kind == "not_supported"
    assert skip.reason == "not supported by the DUT: SmartCharging (SupportedFeatureProfiles = Core)"
    mark = len(lab.log.entries)
    rec = await run_scenario(rt, scenario)
    assert rec.verdict is Verdict.SKIPPED and rec.skip_kind == "not_supported" and not rec.steps
    assert [e for e in lab.log.entries[mark:] if e.direction == "csms->dut"] == []  # nothing sent


async def test_missing_bench_resource_is_a_bench_skip(lab):
    await lab.charger("1.6")
    rt = _runtime(lab)  # no EV emulator, no tag presenter
    skip = why_skipped(rt, load_scenario(ROOT / "scenarios/authorization/rejected_tags.yaml"))
    assert skip is not None and skip.kind == "bench" and "EV emulator" in skip.reason


@pytest.mark.parametrize("version", VERSIONS)
def test_not_supported_callerror_optional_vs_required(version):
    caps = Capabilities()
    rt = PositionRuntime(_position(ocpp_version=version)[0], None, None, _NoDut(version), None, None, None,  # type: ignore[arg-type]  # only the version is read
                         capabilities=caps)
    optional = _unsupported_call(rt, DutCallError("ReserveNow", "NotSupported", ""))
    assert optional.kind == "not_supported" and not caps.supports("Reservation")
    required = _unsupported_call(rt, DutCallError("RemoteStart", "NotImplemented", ""))
    assert required.kind == "fail" and "required" in required.reason
    trigger = _unsupported_call(rt, DutCallError("TriggerMessage", "NotSupported", ""))
    # TriggerMessage: an optional profile in 1.6 (RemoteTrigger), Core in 2.x (F06)
    assert trigger.kind == ("not_supported" if version == "1.6" else "fail")


class _NoDut:
    def __init__(self, version: str) -> None:
        self.ocpp_version = version


@pytest.mark.parametrize("version", VERSIONS)
async def test_reset_restores_what_the_scenario_changed(lab, version):
    await lab.charger(version)
    rt = _runtime(lab, ocpp_version=version)
    before = await lab.dut.get_configuration(["HeartbeatInterval"])
    old = before["configurationKey"][0]["value"]
    assert await lab.dut.change_configuration("HeartbeatInterval", "17") == "Accepted"
    assert lab.dut.changed_keys == {"HeartbeatInterval": old}
    await reset_position(rt)
    after = await lab.dut.get_configuration(["HeartbeatInterval"])
    assert after["configurationKey"][0]["value"] == old
    assert lab.dut.changed_keys == {}


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_is_answered_before_the_boot_event(lab, version):
    await lab.charger(version)
    boot = next(e for e in lab.dut.events if e.kind == "boot")
    answers = [e for e in lab.log.entries if e.direction == "csms->dut" and e.message_type == 3
               and e.action == "BootNotification"]
    assert answers and answers[0].t_mono_s <= boot.t_mono_s  # the bench's first CALL can follow the event


def test_metering_asks_only_for_measurands_the_dut_declares():
    assert Capabilities().sampled_data() == "Energy.Active.Import.Register,Current.Import,Power.Active.Import,Voltage"
    caps = Capabilities(measurands=frozenset({"Current.Import"}))
    assert caps.sampled_data() == "Energy.Active.Import.Register,Current.Import"  # the register is always asked
