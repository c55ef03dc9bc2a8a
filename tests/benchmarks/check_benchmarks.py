"""Check benchmarks: how long each check of bench/checks/ takes on long synthetic runs.

A 10 Hz, 3-phase trace with MeterValues every 10 s (tests/bench/verify_synthetic.py: noise, limit
steps, gaps, faults), 1 h, 24 h and 72 h by default. One JSON line per run length (figures.py:
with the load averages and the number of cores, since a figure on a busy machine is not the same
figure): `verify_1h_s`, `verify_24h_s`, `verify_72h_s`, the total time of every check (each the
best of --repeat), with each check's time and verdict in `checks`. Nothing here asserts a time:
targets and results are kept with the project's change notes, not here.

    python tests/benchmarks/check_benchmarks.py                     # 1 h, 24 h, 72 h
    python tests/benchmarks/check_benchmarks.py --hours 1,6 --repeat 5
    python tests/benchmarks/check_benchmarks.py --hours 1 --before  # also the checks before linear time
    make bench ARGS="--only checks"                                 # via warp_benchmarks.py
    python tests/benchmarks/check_benchmarks.py --runs "-k meter_values --ocpp 2.0.1"

--before also times the frozen copy of the checks from before they were linear in time
(tests/bench/verify_before_linear.py): slow, quadratic in the run's length (24 h: half a minute
per repeat, 72 h: minutes).

--runs runs `bench run --speed max --no-report` on the virtual lab (a free-port copy of
lab_config.yaml) with these arguments, in this process, and has every check of every scenario
judged by both the checks and their frozen copy: the records must be the same (compared exactly)
on real recorded traces and MeterValues; the time of each is printed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "bench"))
sys.path.insert(0, str(Path(__file__).parent))

from figures import emit, emit_machine  # noqa: E402


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def time_checks(figure: str, checks: dict, inputs, repeat: int, **extra: object) -> None:
    """One JSON line: `figure` = the total of every check's best time; each check's in `checks`."""
    # energy_stops_within's nanmax warns of the rows where the meter gave no phase current (gaps)
    warnings.simplefilter("ignore", RuntimeWarning)
    total = total_median = 0.0
    each: dict[str, dict[str, object]] = {}
    for name, check in checks.items():
        times, verdict = [], ""
        for _ in range(repeat):
            inputs.params = {}
            t0 = time.perf_counter()
            verdict = check.run(inputs).verdict.value
            times.append(time.perf_counter() - t0)
        total += min(times)
        total_median += statistics.median(times)
        each[name] = {"s": round(min(times), 3), "verdict": verdict}
    emit(figure, total, "s", of_medians_s=round(total_median, 3), repeat=repeat, **extra, checks=each)


def compare_on_runs(bench_args: str) -> int:
    """Every check call of a virtual-lab run judged twice, now and before; exit 1 on any difference."""
    import shlex
    import tempfile

    import bench.scenario.runner as runner
    import verify_before_linear
    from bench.cli import main as bench_main
    from bench.sim.matrix import free_port_config
    from verify_synthetic import differences

    judge_now = runner.run_check
    calls: list[tuple[str, float, float, list[str]]] = []

    def both(name, inputs):
        t0 = time.perf_counter()
        now = judge_now(name, inputs)
        t1 = time.perf_counter()
        before = verify_before_linear.run_check(name, inputs)
        calls.append((name, t1 - t0, time.perf_counter() - t1, differences(before, now)))
        rows = inputs.trace["t_mono_s"].size
        samples = sum(len(tx.samples) for tx in inputs.transactions)
        print(f"    {name}: {now.verdict.value}, {rows} rows, {samples} MeterValues samples: now {t1 - t0:.3f} s, "
              f"before {calls[-1][2]:.3f} s, {'same' if not calls[-1][3] else 'DIFFERENT'}   [{load()}]", flush=True)
        return now

    runner.run_check = both
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        config = free_port_config(ROOT / "lab_config.yaml", Path(tmp), speed="max")
        code = bench_main(["run", "--speed", "max", "--no-report", "--config", str(config), "--out", tmp,
                           *shlex.split(bench_args)])
    different = [(n, d) for n, _, _, d in calls if d]
    print(f"bench run {bench_args}: exit {code}; {len(calls)} check calls, {len(calls) - len(different)} the same "
          f"as before   [{load()}]")
    for name, diff in different:
        print(f"    {name}: " + "; ".join(diff[:5]))
    return 1 if different else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", default="1,24,72", help="comma list of run lengths in hours")
    p.add_argument("--repeat", type=int, default=3, help="times each check runs (the best is the figure)")
    p.add_argument("--before", action="store_true", help="also time the checks from before linear time")
    p.add_argument("--runs", metavar="ARGS", help="compare with the checks before linear time on `bench run ARGS`")
    args = p.parse_args(argv)
    if args.runs:
        return compare_on_runs(args.runs)

    from bench.config import load_config
    from bench.checks.library import CHECKS
    from verify_synthetic import Synthetic

    cfg = load_config(ROOT / "lab_config.yaml")
    for hours in (float(h) for h in args.hours.split(",")):
        t0 = time.perf_counter()
        inputs = Synthetic(duration_s=hours * 3600.0, seed=1, faults=6, composite_reports=1,
                           memory_marks=5).inputs(cfg)
        samples = sum(len(tx.samples) for tx in inputs.transactions)
        built = {"rows": int(inputs.trace["t_mono_s"].size), "meter_values_samples": samples,
                 "built_s": round(time.perf_counter() - t0, 1)}
        time_checks(f"verify_{hours:g}h_s", CHECKS, inputs, args.repeat, **built)
        if args.before:
            import verify_before_linear

            time_checks(f"verify_before_linear_{hours:g}h_s", verify_before_linear.CHECKS, inputs, args.repeat, **built)
    return 0


if __name__ == "__main__":
    emit_machine()
    raise SystemExit(main())
