"""Trace benchmarks: how long reading a position's trace back takes, with the machine load.

Builds a 10 Hz, 3-phase trace of --hours with the real `bench.trace.Trace` writer (noise,
gaps, CP state changes), then times `read_trace` on it: the binary columns (what the reports
read) and, with --csv, the CSV export (the fallback for run folders written before the binary
form). One JSON line per figure (figures.py), with the load averages and the number of cores, since a
figure on a busy machine is not the same figure. Nothing here asserts a time: the floor
(24 h in <= 1 s) and the results are kept with the project's change notes.

    python tests/benchmarks/trace_benchmarks.py                 # trace_read_24h_s
    python tests/benchmarks/trace_benchmarks.py --hours 72 --csv --repeat 3
    make bench ARGS="--only trace"                              # via warp_benchmarks.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).parent))

from figures import emit, emit_machine  # noqa: E402

from bench.trace import Trace, read_trace, read_trace_csv  # noqa: E402

RATE_HZ = 10.0
T0 = 1000.0


def build(path: Path, hours: float) -> int:
    """A trace of `hours` at 10 Hz written row by row, as the sampler writes it."""
    n = int(hours * 3600 * RATE_HZ)
    rng = np.random.default_rng(14)
    noise = rng.normal(0.0, 0.05, size=(n, 3))
    trace = Trace(path)
    energy = 0.0
    for i in range(n):
        t = T0 + i / RATE_HZ
        amps = 16.0 if (i // 36000) % 2 else 10.0  # a limit step every hour
        energy += 3 * 230.0 * amps / RATE_HZ / 3600.0
        row: dict[str, float | str | None] = {"t_mono_s": t, "meter_power_total_w": 3 * 230.0 * amps,
                                              "meter_energy_import_wh": energy, "ev_offered_current_a": amps,
                                              "ev_pwm_duty_pct": amps / 0.6, "ev_cp_state": "C" if i % 9000 else "B"}
        if i % 997:  # now and then the meter does not answer: a gap (NaN)
            for p in (1, 2, 3):
                row[f"meter_voltage_l{p}_v"] = 230.0 + noise[i, p - 1]
                row[f"meter_current_l{p}_a"] = amps + noise[i, p - 1]
                row[f"load_current_l{p}_a"] = amps
        trace.append(row)
        if i % 36000 == 0:
            trace.forget_before(t)  # as a scenario start does: memory holds one scenario
    trace.close()
    return n


def figure(name: str, seconds: float, **extra: object) -> None:
    emit(name, seconds, "s", **extra)


def best_of(repeat: int, read, path: Path) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = len(read(path)["t_mono_s"])
        times.append(time.perf_counter() - t0)
    return min(times), rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", default="24", help="comma list of trace lengths in hours")
    p.add_argument("--repeat", type=int, default=3, help="reads per figure (the best is printed)")
    p.add_argument("--csv", action="store_true", help="also time reading the CSV export")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-trace-") as tmp:
        for hours in (float(h) for h in args.hours.split(",")):
            path = Path(tmp) / f"pos{hours:g}h.csv"
            t0 = time.perf_counter()
            n = build(path, hours)
            label = f"{hours:g}h"
            figure(f"trace_write_{label}_s", time.perf_counter() - t0, rows=n)
            seconds, rows = best_of(args.repeat, read_trace, path)
            figure(f"trace_read_{label}_s", seconds, rows=rows, repeat=args.repeat)
            if args.csv:
                seconds, rows = best_of(args.repeat, read_trace_csv, path)
                figure(f"trace_read_csv_{label}_s", seconds, rows=rows, repeat=args.repeat)
    return 0


if __name__ == "__main__":
    emit_machine()
    raise SystemExit(main())
