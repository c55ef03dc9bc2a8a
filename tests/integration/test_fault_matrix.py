"""The fault matrix, on OCPP 1.6 and 2.0.1: every injectable fault of the simulated charger is
caught (a scenario FAILs), and the correct charger passes every scenario of the library.

`bench faults --matrix --ocpp VERSION` runs, for each version, every scenario clean and, for
each fault, the scenarios of its block; each run in its own virtual lab on free ports. On 2.1
only the clean runs (its faults: test_versions.py). The versions run at the same time. Every frame of every run's message log must also validate
against the `ocpp` package's JSON schemas of its version.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from bench.matrix import applicable_faults
from bench.scenario.model import load_suite
from bench.sim import faults as F

from .conftest import ROOT, bench_cmd, free_port_config
from .test_versions import validate_message_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]  # the runs are in the fixture
VERSIONS = ("1.6", "2.0.1")
CLEAN_ONLY_VERSIONS = ("2.1",)  # faults on 2.1: test_versions.py
LABS_PER_VERSION = 5


@pytest.fixture(scope="module")
def matrices(tmp_path_factory) -> dict[str, tuple[dict, str, object]]:
    base = tmp_path_factory.mktemp("fault_matrix")
    config = free_port_config(base)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    procs = {}
    try:
        for version in VERSIONS + CLEAN_ONLY_VERSIONS:
            out = base / version
            clean_only = ["--clean-only"] if version in CLEAN_ONLY_VERSIONS else []
            procs[version] = (out, subprocess.Popen(
                bench_cmd("faults", "--matrix", "--ocpp", version, "--config", str(config), "--out", str(out),
                          "--jobs", str(LABS_PER_VERSION), *clean_only),
                cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        results = {}
        for version, (out, proc) in procs.items():
            stdout, stderr = proc.communicate(timeout=1200)
            assert stdout.strip(), f"OCPP {version}: no matrix printed\n{stderr[-3000:]}"
            results[version] = (json.loads(stdout), stderr, out, proc.returncode)
        return results
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fault_is_caught(matrices, version):
    matrix, stderr, _, _ = matrices[version]
    applicable = applicable_faults(ROOT / "scenarios", sorted(F.FAULTS), version)
    assert set(matrix["faults"]) == set(applicable)
    if version == "2.0.1":
        assert set(applicable) == set(F.FAULTS)  # 2.0.1 has every block
    missed = [fault for fault, failing in matrix["faults"].items() if not failing]
    assert not missed, f"OCPP {version}: faults no scenario caught: {missed}\n{stderr[-3000:]}"


@pytest.mark.parametrize("version", VERSIONS + CLEAN_ONLY_VERSIONS)
def test_the_correct_charger_passes_every_scenario(matrices, version):
    matrix, stderr, _, returncode = matrices[version]
    defined = {s.name for s in load_suite([ROOT / "scenarios"]) if version in s.ocpp_versions}
    assert set(matrix["clean"]) == defined, f"OCPP {version}: scenarios not run: {defined - set(matrix['clean'])}"
    bad = {name: verdict for name, verdict in matrix["clean"].items() if verdict != "PASS"}
    assert not bad, f"OCPP {version}: not PASS on the correct charger: {bad}\n{stderr[-3000:]}"
    assert returncode == 0, stderr[-3000:]


@pytest.mark.parametrize("version", VERSIONS + CLEAN_ONLY_VERSIONS)
async def test_every_frame_of_every_run_follows_the_schemas(matrices, version):
    _, _, out, _ = matrices[version]
    runs = sorted(log.parent for log in out.glob("*/*/ocpp.jsonl"))
    assert runs, f"no message logs under {out}"
    counted: dict[str, int] = {}
    for run_dir in runs:
        await validate_message_log(run_dir, version, counted)
    assert sum(counted.values()) > 1000
