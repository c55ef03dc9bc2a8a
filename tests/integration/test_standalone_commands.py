"""`bench csms` and `bench sim` on their own: the simulated charger of `bench sim` boots
against the stub of `bench csms`, and the simulated instruments answer on their addresses."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, bench_cmd, free_port_config

pytestmark = pytest.mark.integration


def _default_sigint() -> None:
    # a shell's background job starts with SIGINT ignored; a user's terminal does not
    signal.signal(signal.SIGINT, signal.SIG_DFL)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(bench_cmd(*args), cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_default_sigint)


def _read_until(proc: subprocess.Popen, pattern: str, timeout_s: float = 30) -> re.Match:
    deadline = time.monotonic() + timeout_s
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if m := re.search(pattern, line):
            return m
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no {pattern!r} in output:\n{''.join(seen)}")


def _stop(proc: subprocess.Popen) -> str:
    """Ctrl-C, as a user would; returns what the process printed after that."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
    return rest or ""


def test_sim_charger_boots_against_the_standalone_csms(tmp_path: Path):
    config = free_port_config(tmp_path)
    out = tmp_path / "csms_out"
    csms = _start("csms", "--config", str(config), "--out", str(out))
    sim = None
    try:
        port = int(_read_until(csms, r"CSMS stub on ws://127\.0\.0\.1:(\d+)")[1])
        data = yaml.safe_load(config.read_text())
        data["bench"]["csms"]["port"] = port
        sim_config = tmp_path / "sim.yaml"
        sim_config.write_text(yaml.safe_dump(data))
        sim = _start("sim", "--config", str(sim_config))
        _read_until(sim, r"meter\s+eastron_sdm630\s+modbus\+tcp://127\.0\.0\.1:\d+")
        _read_until(sim, r"virtual lab running")
        log_file = next(out.iterdir()) / "ocpp.jsonl"
        deadline = time.monotonic() + 20
        boot = None
        while time.monotonic() < deadline and boot is None:
            if log_file.exists():
                for line in log_file.read_text().splitlines():
                    entry = json.loads(line)
                    if entry.get("action") == "BootNotification" and entry["dir"] == "dut->csms":
                        boot = entry
            time.sleep(0.2)
        assert boot is not None, "the simulated charger never sent BootNotification"
        assert boot["cp_id"] == "EVB-SIM-001"
        assert boot["frame"][3]["chargePointVendor"]
    finally:
        sim_rest = _stop(sim) if sim is not None else ""
        csms_rest = _stop(csms)
    assert sim.returncode == 0, sim_rest
    assert csms.returncode == 0, csms_rest
