"""Render time and size of the report of a synthetic soak run (default 24 h at 10 Hz).

    .venv/bin/python tests/report/measure_render.py [HOURS] [RUN_DIR]

Prints the trace size, the render time and the PDF size: the figures quoted for long runs.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from report_runs import long_run  # noqa: E402

from bench.report import render_all  # noqa: E402


def main() -> None:
    hours = float(sys.argv[1]) if len(sys.argv) > 1 else 24.0
    run = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp()) / "soak"
    run.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    long_run(run, hours)
    trace = run / "traces" / "pos1.csv"
    print(f"synthetic {hours:g} h run written in {time.perf_counter() - t:.1f} s: "
          f"{sum(1 for _ in open(trace)) - 1} samples, trace {trace.stat().st_size / 1e6:.1f} MB")
    t = time.perf_counter()
    result = render_all(run)
    elapsed = time.perf_counter() - t
    print(f"render_all: {elapsed:.1f} s; report.pdf {result.pdf.stat().st_size / 1e3:.0f} kB, "
          f"{len(result.plots)} plots ({sum(p.stat().st_size for p in result.plots) / 1e3:.0f} kB); "
          f"notes: {result.notes or 'none'}; run folder {run}")


if __name__ == "__main__":
    main()
