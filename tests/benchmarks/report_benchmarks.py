"""Report benchmarks: how long `bench report RUN_DIR` takes on a 24-hour run, and the PDF's size.

Builds a synthetic run folder of --hours (tests/report/report_runs.py long_run: one soak scenario
at 10 Hz, the limit cycling 16/10/6 A every 30 min, a record.json the record loader reads back),
adds the binary trace form a real run has (the rows `bench.trace.Trace` writes, so the report reads
what it reads after a real run, not the CSV fallback), then times `python -m bench report RUN_DIR`
as a user runs it (a fresh process: imports included). One JSON line per figure:

- report_24h_s: wall time of `bench report` (extra: its exit code; 1 = the run's FAIL verdict).
- report_24h_pdf_kb: the size of report.pdf.

    python tests/benchmarks/report_benchmarks.py                  # 24 h
    python tests/benchmarks/report_benchmarks.py --hours 1
    make bench ARGS="--only report"                               # via warp_benchmarks.py
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "report"))
sys.path.insert(0, str(Path(__file__).parent))

from figures import emit, emit_machine  # noqa: E402


def build(run: Path, hours: float) -> int:
    """The run folder; returns the trace rows."""
    from report_runs import long_run

    from bench.trace import CP_STATES, NUMERIC_COLUMNS, Trace, binary_path, header_path, read_trace_csv

    long_run(run, hours)
    csv = run / "traces" / "pos1.csv"
    cols = read_trace_csv(csv)
    # the binary rows and their header, as Trace writes them (the header from Trace itself)
    with tempfile.TemporaryDirectory() as tmp:
        Trace(Path(tmp) / csv.name).close()
        shutil.copy(header_path(Path(tmp) / csv.name), header_path(csv))
    codes = {s: float(i) for i, s in enumerate(CP_STATES)}
    states = np.array([codes[s] for s in cols["ev_cp_state"]]) if len(set(cols["ev_cp_state"])) > 1 else \
        np.full(len(cols["t_mono_s"]), codes[cols["ev_cp_state"][0]])
    rows = np.column_stack([cols[c] for c in NUMERIC_COLUMNS] + [states]).astype("<f8")
    rows.tofile(binary_path(csv))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--keep", type=Path, help="build the run folder here and keep it")
    args = p.parse_args(argv)
    label = f"{args.hours:g}h"
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        run = args.keep or Path(tmp) / "run"
        run.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        rows = build(run, args.hours)
        built_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench", "report", str(run)], cwd=ROOT, capture_output=True,
                              text=True)
        seconds = time.perf_counter() - t0
        pdf = run / "report.pdf"
        emit(f"report_{label}_s", seconds, "s", exit=proc.returncode, rows=rows, built_s=round(built_s, 1))
        emit(f"report_{label}_pdf_kb", round(pdf.stat().st_size / 1e3, 1) if pdf.exists() else None, "kB")
        if not pdf.exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    emit_machine()
    raise SystemExit(main())
