"""Full runs of the `bench` command, or of scenario files as pytest items of the evbench plugin
(`plugin_cmd`), against the virtual lab, on free ports.

The runs are slow (tens of seconds of real time each) and independent, so one
session fixture starts them all at once as subprocesses, each with its own
virtual lab on its own ports, and the tests read their results.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.sim import faults as F

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
STEP_DOWN = SCENARIOS / "smart_charging" / "txprofile_step_down.yaml"
METERING = SCENARIOS / "metering" / "meter_values_accuracy.yaml"
TX_WITHOUT_TX = SCENARIOS / "smart_charging" / "txprofile_without_transaction.yaml"

# fault -> the shipped scenario whose checks must catch it (the first its fault-table entry names)
FAULT_RUNS = {  # fault runs with every report rendered (the reports tests read them)
    fault: SCENARIOS / f"{F.FAULTS[fault].blocks[0]}.yaml" for fault in ("ignores_profile", "meter_gain_error")}


def free_port_config(tmp: Path, realism: str | dict = "ideal", speed: float | str = "max") -> Path:
    """The default lab config with every port 0: the virtual lab binds free ports. The runs here
    prove the checks' verdicts on exact signals (`realism: ideal`) unless a test asks for real ones,
    and run time-warped (`speed: max`) unless real time is what a test is about."""
    from bench.sim.matrix import free_port_config as free_ports

    return free_ports(ROOT / "lab_config.yaml", tmp, realism=realism, speed=speed)


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
    return [sys.executable, "-m", "bench", *args]


def plugin_cmd(*args: str) -> list[str]:
    """pytest with the evbench plugin, as a lab runs it: scenario files as items, `--lab-config`,
    `--bench-fault`, `--bench-out` (docs/pytest.md); the run folder and record as `bench run`'s."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]


def run_in_parallel(jobs: dict[str, tuple[list[str], Path]], timeout_s: float = 900,
                    command: Callable[..., list[str]] = bench_cmd, cwd: Path = ROOT) -> dict[str, BenchRun]:
    """Start one `bench` (or `command`) subprocess per job (name -> (arguments, results folder))
    at once, wait for all of them, and kill whatever is left on any exit path."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    procs = {name: (out, subprocess.Popen(command(*args), cwd=cwd, env=env, text=True,
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
    # The first bench's four scenarios, with every report rendered; the whole library runs in the
    # fault matrix (`matrices` below), so CI stays short.
    clean = [METERING, SCENARIOS / "remote_control" / "remote_start_stop.yaml", STEP_DOWN, TX_WITHOUT_TX]
    jobs = {"clean": ([str(p) for p in clean], None), **{f: ([str(p)], f) for f, p in FAULT_RUNS.items()}}
    return run_in_parallel({
        name: (["run", *scenarios, "--config", str(config), "--out", str(base / name),
                *(["--fault", fault] if fault else [])], base / name)
        for name, (scenarios, fault) in jobs.items()}, timeout_s=600)


Job = tuple[list[Path], str, "str | None"]  # scenario files, OCPP version, fault
START_GAP_S = 0.5  # between two process starts: their imports do not all land at the same moment


class Runs:
    """`bench run` subprocesses; output to files (a full pipe would block a run)."""

    def __init__(self, base: Path, config: Path) -> None:
        self.base, self.config = base, config
        self.procs: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}

    def start(self, name: str, job: Job) -> None:
        scenarios, version, fault = job
        out = self.base / name
        args = ["run", *map(str, scenarios), "--config", str(self.config), "--out", str(out), "--no-report",
                "--ocpp", version, *(["--fault", fault] if fault else [])]
        log = self.base / f"{name}.log"
        with log.open("w") as f:
            self.procs[name] = (subprocess.Popen(bench_cmd(*args), cwd=ROOT, env=self.env, text=True,
                                                 stdout=f, stderr=subprocess.STDOUT), log)
        time.sleep(START_GAP_S)

    def running(self, names: list[str]) -> int:
        return sum(1 for n in names if n in self.procs and self.procs[n][0].poll() is None)

    def results(self, deadline_s: float) -> dict[str, BenchRun]:
        runs = {}
        end = time.monotonic() + deadline_s
        for name, (proc, log) in self.procs.items():
            proc.wait(timeout=max(1.0, end - time.monotonic()))
            runs[name] = BenchRun(name, proc.returncode, log.read_text(), "", self.base / name)
        return runs

    def kill(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


# ---- the fault matrix (`bench faults --matrix`), shared by the tests that read its runs ------------

MATRIX_VERSIONS = ("1.6", "2.0.1", "2.1")
MATRIX_LABS_PER_VERSION = 3  # time-warped labs compute rather than wait: 3 versions x 3 beside the rest of the suite


@dataclass
class MatrixRun:
    """One version's `bench faults --matrix`: the printed matrix and every run it kept in `out`."""

    version: str
    matrix: dict
    stderr: str
    returncode: int
    out: Path

    def records(self, job_prefix: str) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.out.glob(f"{job_prefix}*/*/record.json"))]

    def fault_record(self, fault: str) -> dict:
        (record,) = self.records(f"fault-{fault}")
        return record

    def scenario(self, name: str, fault: str | None = None) -> dict:
        """A scenario's record from the clean runs, or from the run of `fault`."""
        records = [self.fault_record(fault)] if fault else self.records("clean-")
        for record in records:
            for s in record["scenarios"]:
                if s["name"] == name:
                    return s
        raise AssertionError(f"OCPP {self.version}: scenario {name} not in the matrix runs "
                             f"({'fault ' + fault if fault else 'clean'})\n{self.stderr[-2000:]}")


class _MatrixLaunch:
    """The matrix processes, started as soon as collection shows a test that needs them, so
    they run next to the rest of the suite (the labs wait on sockets and timers far more than
    they compute); `matrices` waits for them."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.procs: dict[str, tuple[Path, subprocess.Popen]] = {}

    def start(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="evbench-fault-matrix-"))
        config = free_port_config(self.base)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        for version in MATRIX_VERSIONS:
            out = self.base / version
            self.procs[version] = (out, subprocess.Popen(
                bench_cmd("faults", "--matrix", "--ocpp", version, "--config", str(config), "--out", str(out),
                          "--jobs", str(MATRIX_LABS_PER_VERSION)),
                cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    def results(self) -> dict[str, MatrixRun]:
        if not self.procs:
            self.start()
        results = {}
        for version, (out, proc) in self.procs.items():
            stdout, stderr = proc.communicate(timeout=1500)
            assert stdout.strip(), f"OCPP {version}: no matrix printed\n{stderr[-3000:]}"
            results[version] = MatrixRun(version, json.loads(stdout), stderr, proc.returncode, out)
        return results

    def stop(self) -> None:
        for _, proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)


_MATRIX = _MatrixLaunch()


def pytest_collection_modifyitems(session, config, items) -> None:
    readers = [item for item in items if "matrices" in getattr(item, "fixturenames", ())]
    if readers and not config.option.collectonly:
        _MATRIX.start()
        # the tests that read the matrix go last: everything else runs while it does
        items[:] = [item for item in items if item not in readers] + readers


def pytest_sessionfinish(session, exitstatus) -> None:
    _MATRIX.stop()


@pytest.fixture(scope="session")
def matrices() -> dict[str, MatrixRun]:
    """The fault matrix on every version, each in its own labs on free ports (see _MatrixLaunch)."""
    try:
        return _MATRIX.results()
    except BaseException:
        _MATRIX.stop()
        raise
