"""Every smart-charging and metering fault on OCPP 2.1 FAILs the checks that target it,
through the real sockets of the virtual lab (`bench run --ocpp 2.1`). The whole library on
the correct charger on 1.6, 2.0.1 and 2.1, every fault on 1.6 and 2.0.1, and the schema check
of every frame: the fault matrix (test_fault_matrix.py).

Each fault's scenario runs as its own subprocess with its own virtual lab on free ports, a
few at a time: more at once would saturate two cores, and a starved sampler makes
timing-sensitive checks (meter energy at 0.1 Wh) fail for the bench's reasons.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from ocpp.messages import Call, CallResult, validate_payload

from bench.sim import faults as F

from .conftest import ROOT, BenchRun, bench_cmd, free_port_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]  # the runs are in the fixture

FAULT_VERSIONS = ("2.1",)  # 1.6 and 2.0.1: test_fault_matrix.py
FAULT_RUNS_AT_ONCE = 8
START_GAP_S = 0.5  # between two process starts: their imports do not all land at the same moment
SC = "smart_charging"

# fault -> (scenario file under scenarios/, checks that must FAIL); the other checks may PASS or FAIL
FAULT_SCENARIOS: dict[str, tuple[str, list[str]]] = {
    F.IGNORES_PROFILE: (f"{SC}/txprofile_step_down.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.SLOW_REACTION: (f"{SC}/txprofile_step_down.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.PWM_OFFSET: (f"{SC}/txprofile_step_down.yaml", ["pwm_matches_limit"]),
    F.METER_GAIN_ERROR: ("metering/meter_values_accuracy.yaml",
                         ["meter_values_match_reference", "transaction_energy_matches_reference"]),
    F.WRONG_CURRENT_REPORT: ("metering/meter_values_accuracy.yaml", ["meter_values_match_reference"]),
    F.ACCEPTS_INVALID_PROFILE: (f"{SC}/txprofile_without_transaction.yaml", ["step_expectations"]),
    F.STACK_LEVEL_INVERTED: (f"{SC}/stacking.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.IGNORES_VALIDITY: (f"{SC}/validity_window.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.W_AS_A: (f"{SC}/watt_profile_one_phase.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.PHASES_IGNORED: (f"{SC}/watt_profile_one_phase.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.RECURRENCE_FROM_MIDNIGHT: (f"{SC}/daily_recurring.yaml", ["current_follows_limit", "pwm_matches_limit"]),
    F.COMPOSITE_REPORT_WRONG: (f"{SC}/composite_schedule_report.yaml", ["composite_schedule_matches"]),
}


Job = tuple[list[Path], str, "str | None"]  # scenario files, OCPP version, fault


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


@pytest.fixture(scope="session")
def version_runs(tmp_path_factory) -> dict[str, BenchRun]:
    base = tmp_path_factory.mktemp("version_runs")
    runs = Runs(base, free_port_config(base))
    faults: dict[str, Job] = {f"{fault}-{v}": ([ROOT / "scenarios" / scenario], v, fault) for v in FAULT_VERSIONS
                              for fault, (scenario, _) in FAULT_SCENARIOS.items()}
    try:
        pending = list(faults.items())
        deadline = time.monotonic() + 900
        while pending and time.monotonic() < deadline:
            if runs.running(list(faults)) < FAULT_RUNS_AT_ONCE:
                runs.start(*pending.pop(0))
            else:
                time.sleep(0.5)
        return runs.results(deadline_s=max(60.0, deadline - time.monotonic()))
    finally:
        runs.kill()


def test_the_faults_named_here_exist():
    assert set(FAULT_SCENARIOS) <= set(F.FAULTS)
    assert all((ROOT / "scenarios" / s).is_file() for s, _ in FAULT_SCENARIOS.values())


@pytest.mark.parametrize("version", FAULT_VERSIONS)
@pytest.mark.parametrize("fault", sorted(FAULT_SCENARIOS))
def test_each_fault_fails_its_scenario_on_every_version(version_runs, fault, version):
    run = version_runs[f"{fault}-{version}"]
    assert run.returncode == 1, run.stdout + run.stderr
    record = run.record
    assert record["fault"] == fault and record["ocpp_version"] == version
    scenario_file, must_fail = FAULT_SCENARIOS[fault]
    (scenario,) = record["scenarios"]
    assert scenario["verdict"] == "FAIL", (scenario["error"], [(c["name"], c["verdict"]) for c in scenario["checks"]])
    for name in must_fail:
        check = next(c for c in scenario["checks"] if c["name"] == name)
        assert check["verdict"] == "FAIL", (name, check["message"])
        assert any(m["verdict"] == "FAIL" for m in check["measurements"])


async def validate_message_log(run_dir: Path, version: str, counted: dict[str, int]) -> None:
    """Every CALL and CALLRESULT of the run's ocpp.jsonl, both directions, against the `ocpp`
    package's JSON schemas of `version`; counts them per action into `counted`."""
    for line in (run_dir / "ocpp.jsonl").read_text().splitlines():
        entry = json.loads(line)
        frame = entry["frame"]
        assert frame is not None, entry  # every frame was a JSON array
        if frame[0] == 2:
            message = Call(frame[1], frame[2], frame[3])
        elif frame[0] == 3:
            assert entry.get("action"), entry  # every answer matched a call
            message = CallResult(frame[1], frame[2], entry["action"])
        else:
            pytest.fail(f"{version}: unexpected frame {frame}")
        await validate_payload(message, version)
        counted[message.action] = counted.get(message.action, 0) + 1


