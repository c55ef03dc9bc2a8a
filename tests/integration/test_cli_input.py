"""Bad input stops `bench` with exit code 2 and a message naming file and key,
before anything is started."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from .conftest import ROOT, bench_cmd


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # rich folds tables to the terminal width
    return subprocess.run(bench_cmd(*args), cwd=cwd, capture_output=True, text=True, timeout=60, env=env)


def test_malformed_config_exits_2_naming_the_key(tmp_path):
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    del data["positions"][0]["instruments"]["load_l1"]["address"]
    data["positions"][0]["dut"]["phases"] = "three"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "results"
    res = _run("run", "--config", str(cfg), "--out", str(out))
    assert res.returncode == 2
    assert "positions[0].instruments.load_l1.address" in res.stderr
    assert "positions[0].dut.phases" in res.stderr
    assert str(cfg) in res.stderr
    assert not out.exists()  # nothing started, nothing written


def test_bad_scenario_exits_2_naming_the_step(tmp_path):
    scn = tmp_path / "bad.yaml"
    scn.write_text("name: bad\nsteps:\n  - plug_in\n  - hold: {secs: 3}\n  - fly_away\nchecks: [nonsense]\n")
    res = _run("run", str(scn), "--out", str(tmp_path / "r"))
    assert res.returncode == 2
    assert "steps[1].hold.secs: unknown key" in res.stderr
    assert "steps[2]: unknown step 'fly_away'" in res.stderr
    assert "checks[0]: unknown check 'nonsense'" in res.stderr


def test_unknown_fault_exits_2(tmp_path):
    res = _run("run", "--fault", "gremlins", "--out", str(tmp_path / "r"))
    assert res.returncode == 2
    assert "unknown fault 'gremlins'" in res.stderr


def test_list_shows_the_default_suite():
    res = _run("list")
    assert res.returncode == 0, res.stderr
    for name in ("txprofile_step_down", "meter_values_accuracy", "remote_start_stop"):
        assert name in res.stdout


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_instrument_is_an_error_with_a_record(tmp_path):
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    data["virtual_lab"]["enabled"] = False
    data["bench"]["csms"]["port"] = 0
    for ins in data["positions"][0]["instruments"].values():  # nothing listens on any of them
        addr = ins["address"]
        ins["address"] = (f"modbus+tcp://127.0.0.1:{_closed_port()}?unit=1" if addr.startswith("modbus")
                          else f"TCPIP::127.0.0.1::{_closed_port()}::SOCKET")
    cfg = tmp_path / "real.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "results"
    res = _run("run", "scenarios/remote_control/remote_start_stop.yaml", "--config", str(cfg), "--out", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    record = json.loads((next(out.iterdir()) / "record.json").read_text())
    assert record["verdict"] == "ERROR" and record["complete"] is False
    # the error names the instrument, its address and what happened
    assert re.search(r"(ev|load_l\d|meter): link to \S+127\.0\.0\.1\S+ lost during '?connect", record["error"]), \
        record["error"]
