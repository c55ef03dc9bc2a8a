"""Bad input stops `bench` with exit code 2 and a message naming file and key,
before anything is started."""
from __future__ import annotations

import os
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
