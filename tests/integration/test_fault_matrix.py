"""The fault matrix on OCPP 1.6, 2.0.1 and 2.1: every injectable fault of the simulated charger
is caught (a scenario FAILs), and the correct charger passes every scenario of the library.

`bench faults --matrix --ocpp VERSION` (conftest's session fixture `matrices`, all versions at
once) runs every scenario clean and, for each fault, the scenarios of its block, each run in
its own virtual lab on free ports. Every frame of every run's message log must also validate
against the `ocpp` package's JSON schemas of its version.
"""
from __future__ import annotations

import pytest

from bench.scenario.model import load_suite
from bench.sim import faults as F
from bench.sim.matrix import applicable_faults

from .conftest import MATRIX_VERSIONS, ROOT
from .test_versions import validate_message_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # the runs are in the fixture


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_every_fault_is_caught(matrices, version):
    run = matrices[version]
    applicable = applicable_faults(ROOT / "scenarios", sorted(F.FAULTS), version)
    assert set(run.matrix["faults"]) == set(applicable)
    if version != "1.6":
        # 2.x has every block; a fault only a long scenario catches has its own test (test_soak.py)
        assert set(applicable) == set(F.FAULTS) - {F.LEAKS_MEMORY}
    missed = [fault for fault, failing in run.matrix["faults"].items() if not failing]
    assert not missed, f"OCPP {version}: faults no scenario caught: {missed}\n{run.stderr[-3000:]}"


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
def test_the_correct_charger_passes_every_scenario(matrices, version):
    run = matrices[version]
    defined = {s.name for s in load_suite([ROOT / "scenarios"]) if version in s.ocpp_versions and not s.long}
    assert set(run.matrix["clean"]) == defined, f"OCPP {version}: not run: {defined - set(run.matrix['clean'])}"
    bad = {name: verdict for name, verdict in run.matrix["clean"].items() if verdict != "PASS"}
    assert not bad, f"OCPP {version}: not PASS on the correct charger: {bad}\n{run.stderr[-3000:]}"
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.parametrize("version", MATRIX_VERSIONS)
async def test_every_frame_of_every_run_follows_the_schemas(matrices, version):
    # the foreign_action fault's point is a frame outside the version: its run is left out
    run_dirs = sorted(log.parent for log in matrices[version].out.glob("*/*/ocpp.jsonl")
                      if log.parent.parent.name != f"fault-{F.FOREIGN_ACTION}")
    assert run_dirs, f"no message logs under {matrices[version].out}"
    counted: dict[str, int] = {}
    for run_dir in run_dirs:
        await validate_message_log(run_dir, version, counted)
    assert sum(counted.values()) > 1000
