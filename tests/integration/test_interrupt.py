"""Ctrl-C (or SIGTERM from a cancelled CI job) in the middle of a charging session: loads off, EV unplugged, the record and
traces of what ran are kept, and the exit code says the run did not complete."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time

import pytest

from .conftest import ROOT, SCENARIOS, bench_cmd, free_port_config

pytestmark = pytest.mark.integration


def _default_sigint() -> None:
    # a shell's background job starts with SIGINT ignored; a user's terminal does not
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stop_mid_session_leaves_the_bench_safe_and_keeps_the_data(tmp_path, signum):
    config = free_port_config(tmp_path, speed=1)  # the signal lands mid-hold: real time is the point
    out = tmp_path / "results"
    proc = subprocess.Popen(
        bench_cmd("run", str(SCENARIOS / "remote_control" / "remote_start_stop.yaml"), "--config", str(config),
                  "--out", str(out)),
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_default_sigint)
    try:
        lines = []
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # wait until the EV is charging
            lines.append(line)
            if "step 4/7 hold" in line or time.monotonic() > deadline:
                break
        assert any("step 4/7 hold" in line for line in lines), "".join(lines)
        time.sleep(3.0)  # current is flowing now
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, "".join(lines) + rest
    run_dir = next(out.iterdir())
    record = json.loads((run_dir / "record.json").read_text())
    assert record["complete"] is False
    assert record["verdict"] == "ERROR"
    why = "interrupted by SIGTERM" if signum == signal.SIGTERM else "interrupted by SIGINT (Ctrl-C)"
    assert why in record["error"]
    # the scenario in progress is in the record, ERROR with the reason, with the steps it did
    (scenario,) = record["scenarios"]
    assert scenario["name"] == "remote_start_stop" and scenario["verdict"] == "ERROR"
    assert scenario["error"] == why
    assert [s["name"] for s in scenario["steps"]][:4] == ["plug_in", "remote_start", "ev_state", "hold"]
    with open(run_dir / "traces" / "pos1.csv") as f:
        rows = list(csv.DictReader(f))
    charging = [r for r in rows if r["meter_current_l1_a"] and float(r["meter_current_l1_a"]) > 10]
    assert charging, "the EV never drew current before the interrupt"
    last = rows[-1]
    assert last["ev_cp_state"] == "A"
    assert float(last["load_current_l1_a"] or 0) == 0.0
    assert float(last["meter_current_l1_a"] or 0) == 0.0
    assert (run_dir / "report.pdf").exists()
