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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _meter_current_a(address: str) -> float:
    from instruments.registry import create_instrument
    from instruments.roles import Ratings

    meter = create_instrument("meter", "eastron_sdm630", address, Ratings(63.0, 50_000.0, 300.0))
    await meter.open()
    try:
        reading = await meter.read()
    finally:
        await meter.close()
    return max(c or 0.0 for c in reading.current_a)


def _scpi(address: str, line: str) -> str:
    import socket

    host, port = re.match(r"TCPIP::([^:]+)::(\d+)::SOCKET", address).groups()
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall((line + "\n").encode())
        return s.makefile().readline().strip()


def test_sigkill_mid_charge_leaves_the_ev_unplugged_by_its_watchdog(tmp_path: Path):
    """The bench process killed outright (nothing of it runs any more): the reference EV
    emulator, whose watchdog the bench armed, unplugs within its watchdog time, and the
    charger stops the current. The lab runs in its own process (`bench sim`), as a real one would."""
    import asyncio

    from instruments.drivers.reference_ev_emulator import KEEPALIVE_S, WATCHDOG_S

    data = yaml.safe_load(free_port_config(tmp_path, speed=1).read_text())
    data["bench"]["csms"]["port"] = _free_port()
    sim_config = tmp_path / "sim.yaml"
    sim_config.write_text(yaml.safe_dump(data))
    sim = _start("sim", "--config", str(sim_config))
    run = None
    try:
        addresses = {}
        while len(addresses) < len(data["positions"][0]["instruments"]):
            m = _read_until(sim, r"pos1: (\S+)\s+\S+\s+(\S+)$")
            addresses[m[1]] = m[2]
        _read_until(sim, r"virtual lab running")
        data["virtual_lab"]["enabled"] = False  # the bench drives the lab's instruments as real ones
        for name, ins in data["positions"][0]["instruments"].items():
            ins["address"] = addresses[name]
        run_config = tmp_path / "run.yaml"
        run_config.write_text(yaml.safe_dump(data))
        run = _start("run", str(ROOT / "scenarios" / "remote_control" / "remote_start_stop.yaml"),
                     "--config", str(run_config), "--out", str(tmp_path / "results"), "--no-report")
        _read_until(run, r"step 4/7 hold", timeout_s=90)
        time.sleep(2.0)  # charging now
        ev = addresses["ev"]
        assert asyncio.run(_meter_current_a(addresses["meter"])) > 10.0
        run.kill()
        killed = time.monotonic()
        run.wait()
        # watch the meter (reading it does not feed the EV emulator's watchdog)
        stopped = None
        while time.monotonic() - killed < WATCHDOG_S + 10 and stopped is None:
            if asyncio.run(_meter_current_a(addresses["meter"])) < 0.5:
                stopped = time.monotonic() - killed
            time.sleep(0.5)
        assert stopped is not None, f"current still flowing {WATCHDOG_S + 10:g} s after SIGKILL"
        # fed at least every KEEPALIVE_S until the kill: it trips WATCHDOG_S after the last command
        assert WATCHDOG_S - KEEPALIVE_S - 1 <= stopped <= WATCHDOG_S + 2, stopped
        assert _scpi(ev, "CP:STATE?") == "A"
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        _stop(sim)
