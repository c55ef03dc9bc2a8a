"""What a CI log shows of a real run (virtual lab, time-warped, an offline window): N/M and
the time left on the progress lines, no WARNING for the refusals the offline window is meant
to cause (they are in the run's bench.log), and the counts with the report path on the last line."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import ROOT, SCENARIOS, free_port_config


def test_an_offline_window_run_in_a_ci_log(tmp_path) -> None:
    config = free_port_config(tmp_path)
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "bench", "run", str(SCENARIOS / "offline" / "stop_while_offline.yaml"),
                           "--config", str(config), "--out", str(out), "--no-report"],
                          cwd=ROOT, env={**os.environ, "COLUMNS": "80", "PYTHONUNBUFFERED": "1"},
                          capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text
    assert "offline window" not in text and "WARNING" not in text, text
    run_dir = next(out.iterdir())
    log = (run_dir / "bench.log").read_text()
    assert re.search(r"INFO bench\.csms: CSMS refused 'EVB-SIM-001' .*offline window", log), log[-2000:]
    assert re.search(r"stop_while_offline: step 6/8 hold  \(0/1, ~\d\d:\d\d:\d\d left\)", proc.stdout)
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last == (f"overall: PASS  1 scenarios: 1 PASS, 0 FAIL, 0 ERROR, 0 SKIPPED  "
                    f"report: {run_dir / 'record.json'}"), last
