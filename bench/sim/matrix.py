"""The fault matrix: proof that every check of the scenario library can FAIL and does PASS.

For one OCPP version it runs, each in its own virtual lab on its own free ports and as
its own `bench run` process (so independent labs use both cores; forked from a server that
has the bench imported already, bench/sim/preforked.py):
- the clean runs: every scenario on the correct simulated charger, a few scenarios per
  process, grouped by block;
- the fault runs: for each injectable fault, the scenarios its `FAULTS` entry names (blocks)
  (whole blocks, or single `block/scenario` files where a block is long).
A run whose scenarios judge no measured quantity runs protocol-only (no instruments).

The result is `{"faults": {fault: [scenarios that FAIL]}, "clean": {scenario: verdict}}`;
it is complete when every fault has at least one FAIL and every clean verdict is PASS
(or SKIPPED: a scenario not defined for that OCPP version).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.scenario.model import Scenario, load_suite
from bench.sim import faults as F
from bench.sim.preforked import run_bench

CLEAN_GROUP_S = 60.0  # rough length of one clean process: short groups spread over the parallel labs
GOOD_CLEAN = ("PASS", "SKIPPED")
# The security block runs at security profile 2 (TLS with the bench's CA, Basic auth): there every
# one of its probes applies (on profile 0 they are not applicable, and nothing could fail).
SECURE_BLOCKS = frozenset({"security"})
SECURE_PROFILE = 2
SECURE_PASSWORD = "evbench-matrix-password-01"


@dataclass(frozen=True)
class MatrixJob:
    name: str
    fault: str | None
    scenarios: tuple[Path, ...]
    # no scenario of the job judges a measured quantity: run it without instruments (the charger
    # and the CSMS alone cost a fraction of a sampled lab, and nothing is lost)
    protocol_only: bool = False


@dataclass
class JobResult:
    job: MatrixJob
    returncode: int
    verdicts: dict[str, str]  # scenario -> verdict
    log_tail: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # scenario not PASS -> why (from its record)


@dataclass
class Matrix:
    ocpp_version: str
    faults: dict[str, list[str]] = field(default_factory=dict)
    clean: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # job -> why it produced no record
    reasons: dict[str, str] = field(default_factory=dict)  # clean scenario not PASS -> why

    def to_json(self) -> dict:
        return {"faults": self.faults, "clean": self.clean}

    @property
    def gaps(self) -> list[str]:
        """Everything that keeps the matrix from being complete, in words."""
        out = [f"fault {f}: no scenario FAILs" for f, failed in self.faults.items() if not failed]
        out += [f"scenario {s}: {v} on the correct charger ({self.reasons.get(s, 'no reason recorded')})"
                for s, v in self.clean.items() if v not in GOOD_CLEAN]
        out += [f"run {job}: {why}" for job, why in self.errors.items()]
        return out


def fault_targets(fault: str, scenarios_root: Path) -> list[Path]:
    """The scenario files a fault must be caught by: its blocks' folders or single files."""
    paths = []
    for target in F.FAULTS[fault].blocks:
        path = scenarios_root / target
        paths.append(path if path.is_dir() else path.with_suffix(".yaml"))
    return paths


def estimated_s(scenario: Scenario) -> float:
    """Rough length of a scenario: its holds plus a few seconds for everything else."""
    holds = sum(getattr(step.args, "seconds", 0.0) for step in scenario.steps if step.name == "hold")
    return holds + 2.0 + 0.5 * len(scenario.steps)


def groups(scenarios: list[Scenario], max_s: float = CLEAN_GROUP_S) -> list[list[Scenario]]:
    """Scenarios in file order, cut into groups of at most about `max_s` each."""
    out: list[list[Scenario]] = []
    length = max_s
    for s in scenarios:
        if length + estimated_s(s) > max_s and (not out or out[-1]):
            out.append([])
            length = 0.0
        out[-1].append(s)
        length += estimated_s(s)
    return out


def measures(scenario: Scenario) -> bool:
    """Whether any check of the scenario judges measured quantities (needs the instruments)."""
    from bench.checks.library import CHECKS

    return any(CHECKS[c.name].physical for c in scenario.checks)


def applicable_faults(scenarios_root: Path, faults: list[str], version: str) -> list[str]:
    """The faults some target scenario of which is defined for `version` (e.g. a display-message
    fault has nothing to catch it on 1.6, which has no display messages) and is not hours long
    (a fault only a soak catches is proven by its own test, with a shortened soak)."""
    out = []
    for fault in faults:
        targets = load_suite(fault_targets(fault, scenarios_root))
        if any(version in s.ocpp_versions and not s.long for s in targets):
            out.append(fault)
    return out


def plan(scenarios_root: Path, faults: list[str], version: str) -> list[MatrixJob]:
    """Clean jobs (short groups of one block's scenarios) then one job per fault. The scenarios
    that run for hours (`long: true`) are left out, as from any folder run."""
    suite = [s for s in load_suite([scenarios_root]) if version in s.ocpp_versions and not s.long]
    by_block: dict[tuple[str, bool], list[Scenario]] = {}
    for s in suite:
        by_block.setdefault((s.block, measures(s)), []).append(s)
    jobs = []
    for (block, measured), items in sorted(by_block.items()):
        for n, group in enumerate(groups(items), 1):
            name = f"clean-{block}{'' if measured else '-protocol'}-{n}"
            jobs.append(MatrixJob(name, None, tuple(Path(s.file) for s in group), protocol_only=not measured))
    for fault in applicable_faults(scenarios_root, faults, version):
        targets = fault_targets(fault, scenarios_root)
        jobs.append(MatrixJob(f"fault-{fault}", fault, tuple(targets),
                              protocol_only=not any(map(measures, load_suite(targets)))))
    # longest first, so the long runs do not start last
    return sorted(jobs, key=lambda j: -sum(estimated_s(s) for s in suite if Path(s.file) in j.scenarios
                                            or any(Path(s.file).parent == p for p in j.scenarios)))


def free_port_config(config_path: Path, out: Path, *, realism: str | dict | None = None,
                     speed: float | str | None = None) -> Path:
    """A copy of the config with every port 0, so labs running side by side never collide.
    `realism` replaces `virtual_lab.realism` (e.g. "ideal" for exact values) and `speed`
    `virtual_lab.speed` (e.g. "max"); None keeps them."""
    data = yaml.safe_load(Path(config_path).read_text())
    data["bench"]["csms"]["port"] = 0
    if realism is not None:
        data.setdefault("virtual_lab", {})["realism"] = realism
    if speed is not None:
        data.setdefault("virtual_lab", {})["speed"] = speed
    for pos in data["positions"]:
        for ins in (pos.get("instruments") or {}).values():
            addr = ins["address"]
            if addr.startswith("modbus"):
                host_port, _, query = addr.partition("?")
                ins["address"] = host_port.rsplit(":", 1)[0] + ":0" + (f"?{query}" if query else "")
            else:
                parts = addr.split("::")
                if len(parts) >= 3 and parts[2].isdigit():
                    parts[2] = "0"
                ins["address"] = "::".join(parts)
    path = Path(out) / "lab_config.free_ports.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def secure_config(free_ports: Path, out: Path, charge_point_ids: list[str]) -> Path:
    """The free-port config at security profile 2, with certificates made once up front
    (parallel runs must not race each other making them)."""
    from bench.certs import ensure_certs
    from bench.clock import RealClock

    data = yaml.safe_load(Path(free_ports).read_text())
    cert_dir = Path(out) / "certs"
    ensure_certs(cert_dir, charge_point_ids, RealClock())
    data["bench"]["csms"]["security"] = {"profile": SECURE_PROFILE, "cert_dir": str(cert_dir),
                                         "password": SECURE_PASSWORD}
    path = Path(out) / "lab_config.secure.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _needs_security(job: MatrixJob) -> bool:
    return any((p if p.is_dir() else p.parent).name in SECURE_BLOCKS for p in job.scenarios)


async def _run_job(job: MatrixJob, config: Path, version: str, out: Path, gate: asyncio.Semaphore,
                   timeout_s: float, speed: str | None) -> JobResult:
    job_out = out / job.name
    args = ["run", "--config", str(config), "--ocpp", version,
            "--out", str(job_out), "--no-report", *(["--fault", job.fault] if job.fault else []),
            *(["--speed", speed] if speed is not None else []),
            *(["--protocol-only"] if job.protocol_only else []),
            *map(str, job.scenarios)]
    log = out / f"{job.name}.log"
    async with gate:
        # one lab that hangs is that job's result, not the end of the matrix; Ctrl-C kills the run
        returncode = await run_bench(args, log, timeout_s, env={"COLUMNS": "200"})
    output = log.read_text(errors="replace") if log.exists() else ""
    if returncode is None:
        output += f"\njob timed out after {timeout_s:g} s: the scenarios it did not finish count as not run"
    records = sorted(job_out.glob("*/record.json"))
    verdicts, reasons = {}, {}
    if records:
        data = json.loads(records[-1].read_text())
        verdicts = {s["name"]: s["verdict"] for s in data["scenarios"]}
        reasons = {s["name"]: _why(s) for s in data["scenarios"] if s["verdict"] not in GOOD_CLEAN}
    return JobResult(job, returncode or 0, verdicts, output[-2000:], reasons)


def _why(scenario: dict) -> str:
    """One line on why a recorded scenario is not PASS: its error, else its failed checks' messages."""
    if scenario.get("error"):
        return str(scenario["error"])
    failed = [f"{c['name']}: {c.get('message') or c['verdict']}" for c in scenario.get("checks", [])
              if c.get("verdict") not in ("PASS", "SKIPPED")]
    return "; ".join(failed)[:500] or str(scenario.get("skipped") or "")


async def run_matrix(config_path: Path, scenarios_root: Path, version: str, out: Path,
                     faults: list[str] | None = None, jobs_at_once: int = 6, timeout_s: float = 900,
                     on_result=lambda result: None, speed: str | None = None) -> Matrix:
    """Every job of `plan` as a `bench run` process, `jobs_at_once` at a time; `speed` is passed
    on to every run (None: the config's)."""
    out.mkdir(parents=True, exist_ok=True)
    config = free_port_config(config_path, out)
    cp_ids = [p["dut"]["charge_point_id"] for p in yaml.safe_load(config.read_text())["positions"]]
    secure = secure_config(config, out, cp_ids)
    faults = sorted(F.FAULTS) if faults is None else faults
    gate = asyncio.Semaphore(jobs_at_once)
    jobs = plan(scenarios_root, faults, version)
    matrix = Matrix(version, faults={j.fault: [] for j in jobs if j.fault is not None})

    async def one(job: MatrixJob) -> None:
        result = await _run_job(job, secure if _needs_security(job) else config, version, out, gate, timeout_s,
                                speed)
        collect(matrix, result)
        on_result(result)

    await asyncio.gather(*(one(job) for job in jobs))
    matrix.clean = dict(sorted(matrix.clean.items()))
    return matrix


def collect(matrix: Matrix, result: JobResult) -> None:
    job = result.job
    if not result.verdicts:
        matrix.errors[job.name] = f"no record (exit {result.returncode}): {result.log_tail[-300:]}"
        return
    if job.fault is None:
        matrix.clean.update(result.verdicts)
        matrix.reasons.update(result.reasons)
    else:
        matrix.faults[job.fault] = sorted(s for s, v in result.verdicts.items() if v == "FAIL")
