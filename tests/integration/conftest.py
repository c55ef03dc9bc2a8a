"""Full runs of the `bench` command against the virtual lab, on free ports.

The runs are slow (tens of seconds of real time each) and independent, so one
session fixture starts them all at once as subprocesses, each with its own
virtual lab on its own ports, and the tests read their results.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
STEP_DOWN = SCENARIOS / "smart_charging" / "txprofile_step_down.yaml"
METERING = SCENARIOS / "metering" / "meter_values_accuracy.yaml"
TX_WITHOUT_TX = SCENARIOS / "smart_charging" / "txprofile_without_transaction.yaml"

# fault -> the shipped scenario whose checks must catch it
FAULT_RUNS = {
    "ignores_profile": STEP_DOWN,
    "slow_reaction": STEP_DOWN,
    "pwm_offset": STEP_DOWN,
    "meter_gain_error": METERING,
    "wrong_current_report": METERING,
    "accepts_invalid_profile": TX_WITHOUT_TX,
}


def free_port_config(tmp: Path) -> Path:
    """The default lab config with every port 0: the virtual lab binds free ports."""
    from bench.matrix import free_port_config as free_ports

    return free_ports(ROOT / "lab_config.yaml", tmp)


@dataclass
class BenchRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    out_dir: Path

    @property
    def run_dir(self) -> Path:
        dirs = sorted(p.parent for p in self.out_dir.glob("*/record.json"))
        assert len(dirs) == 1, f"{self.name}: expected one run folder in {self.out_dir}, got {dirs}\n{self.stderr}"
        return dirs[0]

    @property
    def record(self) -> dict:
        return json.loads((self.run_dir / "record.json").read_text())

    def check(self, scenario: str, check: str) -> dict:
        for s in self.record["scenarios"]:
            if s["name"] == scenario:
                for c in s["checks"]:
                    if c["name"] == check:
                        return c
        raise AssertionError(f"{self.name}: no check {check} in scenario {scenario}\n{self.stdout}")


def bench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", *args]


def run_in_parallel(jobs: dict[str, tuple[list[str], Path]], timeout_s: float = 900) -> dict[str, BenchRun]:
    """Start one `bench` subprocess per job (name -> (arguments, results folder)) at once,
    wait for all of them, and kill whatever is left on any exit path."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    procs = {name: (out, subprocess.Popen(bench_cmd(*args), cwd=ROOT, env=env, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE))
             for name, (args, out) in jobs.items()}
    runs = {}
    try:
        for name, (out, proc) in procs.items():
            stdout, stderr = proc.communicate(timeout=timeout_s)
            runs[name] = BenchRun(name, proc.returncode, stdout, stderr, out)
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return runs


@pytest.fixture(scope="session")
def bench_runs(tmp_path_factory) -> dict[str, BenchRun]:
    base = tmp_path_factory.mktemp("runs")
    config = free_port_config(base)
    # The clean run covers the first scenarios of each block; the smart-charging set runs its
    # own clean and fault runs in parallel (test_smart_charging_suite.py), so CI stays short.
    clean = [METERING, SCENARIOS / "remote_control", STEP_DOWN, TX_WITHOUT_TX]
    jobs = {"clean": ([str(p) for p in clean], None), **{f: ([str(p)], f) for f, p in FAULT_RUNS.items()}}
    return run_in_parallel({
        name: (["run", *scenarios, "--config", str(config), "--out", str(base / name),
                *(["--fault", fault] if fault else [])], base / name)
        for name, (scenarios, fault) in jobs.items()}, timeout_s=600)
