"""`bench run` in protocol-only mode against an independent charge point (a peer).

One run: a lab config on a free port with no instruments and no virtual lab, `bench run`
started as a subprocess, the peer started once the CSMS listens (it retries by itself
after a Reset or a lost connection), both stopped at the end, and the run's record.json
read back as one row per scenario: verdict and the reason for anything but PASS.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from .peers import LaunchContext, Peer, RunningPeer, free_port, prepare, wait_for_listener

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
HOST = "127.0.0.1"


def known_dut_keys(bench_root: Path = ROOT) -> set[str]:
    """The `dut:` keys the bench at `bench_root` accepts (asked in a subprocess when that is
    not the bench imported here)."""
    if bench_root.resolve() == ROOT:
        from bench.config import DutConfig

        return set(DutConfig.model_fields)
    out = subprocess.run([sys.executable, "-c", "from bench.config import DutConfig; print(*DutConfig.model_fields)"],
                         cwd=bench_root, capture_output=True, text=True, check=True).stdout
    return set(out.split())


# Tags the library uses that a real charger may ask the CSMS about although the default config
# does not list them: a charger may Authorize the idTag of a ReserveNow before accepting it.
EXTRA_ID_TAGS = {"TAG-RESERVED-OWNER": "Accepted"}


def scenario_id_tags(bench_root: Path = ROOT) -> dict[str, str]:
    """The CSMS's id tags: those of the bench's default lab_config.yaml, plus EXTRA_ID_TAGS."""
    tags = {"TAG-ACCEPTED": "Accepted", "TAG-BLOCKED": "Blocked", "TAG-EXPIRED": "Expired", "TAG-INVALID": "Invalid"}
    default = bench_root / "lab_config.yaml"
    if default.exists():
        tags.update(((yaml.safe_load(default.read_text()) or {}).get("bench", {}).get("csms", {}) or {})
                    .get("id_tags") or {})
    return {**EXTRA_ID_TAGS, **tags}


def protocol_only_config(path: Path, port: int, charge_point_id: str, ocpp_version: str,
                         heartbeat_interval_s: int = 60, dut: dict | None = None,
                         bench_root: Path = ROOT) -> Path:
    """A lab config for judging a charger by OCPP alone: CSMS on `port`, one position, no
    instruments, no virtual lab. The id tags are the ones the scenario library presents.
    `dut`: the vendor's declarations (reboot time, features), each kept only where the bench's
    config knows the key."""
    known = known_dut_keys(bench_root)
    id_tags = scenario_id_tags(bench_root)
    declared = {k: v for k, v in (dut or {}).items() if k in known}
    config = {
        "bench": {
            "name": "interop",
            "csms": {"host": HOST, "port": port, "heartbeat_interval_s": heartbeat_interval_s,
                     "id_tags": id_tags},
        },
        "positions": [{
            "name": "pos1",
            "dut": {"charge_point_id": charge_point_id, "ocpp_version": ocpp_version, "connectors": 1,
                    "phases": 3, "rated_current_a": 32, "meter_sample_interval_s": 10, **declared},
        }],
        "virtual_lab": {"enabled": False},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Row:
    scenario: str
    block: str
    verdict: str
    reason: str


@dataclass
class PeerRun:
    peer: str
    ocpp_version: str
    returncode: int | None
    run_dir: Path | None
    bench_log: Path
    peer_log: Path | None
    rows: list[Row]
    error: str = ""          # the run as a whole: record.error, or why there is no record

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.verdict] = out.get(r.verdict, 0) + 1
        return out


def reason_of(scenario: dict) -> str:
    """Why a scenario is not PASS, from the record alone: its error, why it was skipped, the
    first non-PASS check's message, or the first failed step's message."""
    if scenario.get("error"):
        return scenario["error"]
    if scenario.get("skipped"):
        return scenario["skipped"]
    for check in scenario.get("checks", []):
        if check.get("verdict") in ("FAIL", "ERROR") and check.get("message"):
            return f"{check['name']}: {check['message']}"
    for step in scenario.get("steps", []):
        if not step.get("ok", True) and step.get("message"):
            return f"step {step['name']}: {step['message']}"
    return ""


def rows_of(record: dict) -> list[Row]:
    return [Row(s["name"], s.get("block", ""), s["verdict"], "" if s["verdict"] == "PASS" else reason_of(s))
            for s in record.get("scenarios", [])]


def bench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


MAX_PEER_RESTARTS = 20  # a peer that keeps dying is left dead: the bench then reports the DUT lost


def run_against_peer(peer: Peer, ocpp_version: str, scenarios: list[Path], out_dir: Path, *,
                     timeout_s: float = 3600.0, charge_point_id: str | None = None,
                     extra_args: tuple[str, ...] = (), log=lambda msg: None, bench_root: Path = ROOT) -> PeerRun:
    """`bench run` on `scenarios` with `peer` as the DUT; both processes are gone on return.
    `bench_root`: run the bench of another checkout (its folder is first on the path)."""
    workdir = prepare(peer, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    port = free_port(HOST)
    cp_id = charge_point_id or f"EVB-{(peer.short or peer.name[:12]).upper()}-{ocpp_version.replace('.', '')}"
    config = protocol_only_config(out_dir / "lab_config.yaml", port, cp_id, ocpp_version, dut=peer.dut,
                                  bench_root=bench_root)
    results = out_dir / "results"
    bench_log = out_dir / "bench.log"
    args = ["run", "--config", str(config), "--out", str(results), "--protocol-only", "--no-report",
            *extra_args, *[str(s) for s in scenarios]]
    running: RunningPeer | None = None
    with open(bench_log, "wb") as blog:
        bench = subprocess.Popen(bench_cmd(*args), cwd=bench_root, stdin=subprocess.DEVNULL, stdout=blog,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, "COLUMNS": "200"})
        try:
            if not wait_for_listener(HOST, port, 60.0, alive=lambda: bench.poll() is None):
                raise RuntimeError(f"the CSMS never listened on {HOST}:{port} (see {bench_log})")
            log(f"CSMS up on {HOST}:{port}; starting {peer.name} {ocpp_version} as {cp_id}")
            running = RunningPeer(peer, LaunchContext(f"ws://{HOST}:{port}", cp_id, ocpp_version, workdir, out_dir))
            deadline = time.monotonic() + timeout_s
            while bench.poll() is None:  # a peer that dies is restarted, as a charger's watchdog would
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(args, timeout_s)
                if not running.running and running.restarts < MAX_PEER_RESTARTS:
                    log(f"the peer exited ({running.proc.returncode}); restarting it")
                    running.restart()
                time.sleep(0.5)
        except (subprocess.TimeoutExpired, RuntimeError, KeyboardInterrupt) as exc:
            log(f"stopping the bench: {exc!r}")
            _stop_group(bench, signal.SIGTERM, 30.0)
        finally:
            if bench.poll() is None:
                _stop_group(bench, signal.SIGTERM, 30.0)
            if running is not None:
                running.stop()
    dirs = sorted(p.parent for p in results.glob("*/record.json"))
    if not dirs:
        return PeerRun(peer.name, ocpp_version, bench.returncode, None, bench_log,
                       running.log_path if running else None, [], error=f"no record.json (see {bench_log})")
    record = json.loads((dirs[-1] / "record.json").read_text())
    return PeerRun(peer.name, ocpp_version, bench.returncode, dirs[-1], bench_log,
                   running.log_path if running else None, rows_of(record), error=record.get("error") or "")


def scenario_files(paths: list[Path]) -> list[Path]:
    """The scenario files under `paths` (files as given, folders searched), in bench order."""
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("*.yaml")) if p.is_dir() else [p]
    return out


def run_isolated(peer: Peer, ocpp_version: str, scenarios: list[Path], out_dir: Path, *,
                 timeout_s: float = 1800.0, log=lambda msg: None, bench_root: Path = ROOT) -> PeerRun:
    """One `bench run` (and one fresh peer process) per scenario file: what one scenario leaves
    behind (a charger still offline, rebooting, or exited) cannot decide the next one's
    verdict. The rows are gathered into one PeerRun; a run that ended without judging its
    scenario gives an ERROR row with the run's error."""
    rows: list[Row] = []
    worst = 0
    for path in scenario_files(scenarios):
        versions = (yaml.safe_load(path.read_text()) or {}).get("ocpp_versions") or ["1.6", "2.0.1", "2.1"]
        if ocpp_version not in [str(v) for v in versions]:  # what bench run would say, without a run
            rows.append(Row(path.stem, path.parent.name, "SKIPPED",
                            f"not defined for OCPP {ocpp_version} (only {', '.join(map(str, versions))}); not run"))
            continue
        log(f"--- {path.stem}")
        run = run_against_peer(peer, ocpp_version, [path], out_dir / path.stem, timeout_s=timeout_s, log=log,
                               bench_root=bench_root)
        worst = max(worst, run.returncode if run.returncode is not None else 2)
        if run.rows:
            rows += [Row(r.scenario, r.block, r.verdict,
                         r.reason or (f"run error: {run.error}" if run.error and r.verdict != "PASS" else ""))
                     for r in run.rows]
        else:
            rows.append(Row(path.stem, path.parent.name, "ERROR", f"no verdict: {run.error}"))
    return PeerRun(peer.name, ocpp_version, worst, out_dir, out_dir / "<per scenario>/bench.log", None, rows)


def _stop_group(proc: subprocess.Popen, sig: int, grace_s: float) -> None:
    """Stop a process started with start_new_session: `sig` (bench run tears down on SIGTERM),
    SIGKILL for the group when it does not end within `grace_s`."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def markdown_table(run: PeerRun) -> str:
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    lines = ["| scenario | block | verdict | reason |", "|---|---|---|---|"]
    lines += [f"| {r.scenario} | {r.block} | {r.verdict} | {cell(r.reason)} |" for r in run.rows]
    return "\n".join(lines)


def summary_line(run: PeerRun) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(run.counts().items()))
    return f"{run.peer} OCPP {run.ocpp_version}: {counts or 'no scenarios'} (bench exit {run.returncode})"
