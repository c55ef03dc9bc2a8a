"""Benchmarks (`make bench`): one command that builds its own inputs and prints one JSON line per
figure, with the load averages and the core count next to it (figures.py), the machine line first.

A figure on a busy machine is not the same figure. Nothing here asserts a time: targets and results
are kept with the project's change notes.

    python tests/benchmarks/warp_benchmarks.py                 # checks,trace,report,acq,csms
    python tests/benchmarks/warp_benchmarks.py --only library --compare-real-time
    python tests/benchmarks/warp_benchmarks.py --only matrix
    python tests/benchmarks/warp_benchmarks.py --only library --compare-speeds 10,20,50,100
    python tests/benchmarks/warp_benchmarks.py --only checks --check-hours 1,24
    python tests/benchmarks/warp_benchmarks.py --csms-duration-s 600  # the CSMS target's setting

The default (`--only checks,trace,report,acq,csms`) prints every scale figure, at a
modest cost (about a quarter of an hour on 2 cores, most of it the CSMS runs): the CSMS runs are
shortened to --csms-duration-s 120 measured seconds each; the CSMS target is measured over 600.

- checks: verify_1h_s, verify_24h_s, verify_72h_s: every check of bench/checks/ on synthetic
  10 Hz 3-phase runs of --check-hours (check_benchmarks.py, which has more options).
- trace: trace_read_24h_s (and trace_write_24h_s), reading back a 24 h 10 Hz 3-phase trace written
  by the real writer (trace_benchmarks.py: --hours, --csv for the CSV fallback).
- report: report_24h_s, report_24h_pdf_kb: `bench report` on a synthetic 24 h run folder
  (report_benchmarks.py).
- acq: acq_max_hz, acq_ratio_bare, acq_100hz_p99_jitter_ms: the sampler against the virtual lab's
  instrument simulators (the highest rate at which it reads every instrument), against a bare
  client reading them all per round, and at 100 Hz in a bench run (acq_benchmarks.py;
  --acq-seconds, default 10).
- csms: csms_1000_p99_ms, csms_1000_rss_growth_mb_per_min, csms_1000_cpu_ratio_bare,
  csms_2000_connected (csms_load.py, --csms-duration-s).
- library: library_<version>_<speed>_s and ..._x_real_time: the whole default library on one OCPP
  version (--ocpp) at --speed max (extra: verdicts). With --compare-real-time it also runs at
  speed 1 and compares every scenario's verdict and key figures (settle time, overshoot, energy and
  duty error) between the two (text lines). With --compare-speeds it runs at each fixed speed too
  and compares the verdicts with max: a fixed speed the machine cannot keep up with makes replies
  late in virtual time.
- day: day_24h_s, day_24h_x_real_time: the 24-hour daily-recurring scenario at --speed max.
- soak: soak_8h_s, soak_8h_x_real_time: the 8-hour soak at --speed max.
- matrix: matrix_s: `bench faults --matrix --ocpp all` (every fault and every scenario, three
  versions; extra: exit code, gaps).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from figures import emit, emit_machine  # noqa: E402

SCENARIOS = ROOT / "scenarios"
DAY = SCENARIOS / "smart_charging" / "daily_recurring_24h.yaml"
SOAK = SCENARIOS / "metering" / "soak_8h.yaml"
ALL = ("checks", "trace", "report", "acq", "csms", "library", "day", "soak", "matrix")
DEFAULT = "checks,trace,report,acq,csms"  # every scale figure


def config_at(base: Path, speed: str) -> Path:
    from bench.sim.matrix import free_port_config

    return free_port_config(ROOT / "lab_config.yaml", base, speed=speed if speed == "max" else float(speed))


def bench(*args: str, out: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, text=True, capture_output=True,
                          env={**os.environ, "COLUMNS": "200"})
    (out / "stdout.txt").write_text(proc.stdout)
    (out / "stderr.txt").write_text(proc.stderr)
    return time.monotonic() - t0, proc


def run_record(out: Path) -> tuple[Path, dict]:
    run_dir = sorted(p.parent for p in out.glob("*/record.json"))[-1]
    return run_dir, json.loads((run_dir / "record.json").read_text())


def report(name: str, wall_s: float, virtual_s: float | None, **extra: object) -> None:
    """Wall time, and how many times real time when the run has a virtual duration."""
    emit(f"{name}_s", wall_s, "s", **({"virtual_s": round(virtual_s)} if virtual_s else {}), **extra)
    if virtual_s:
        emit(f"{name}_x_real_time", virtual_s / wall_s, "x")


def library(base: Path, version: str, speed: str) -> tuple[Path, dict]:
    out = base / f"library-{version}-{speed}"
    out.mkdir()
    wall, proc = bench("run", "--config", str(config_at(base, speed)), "--ocpp", version, "--no-report",
                       "--out", str(out), out=out)
    run_dir, rec = run_record(out)
    verdicts = Counter(s["verdict"] for s in rec["scenarios"])
    report(f"library_{version.replace('.', '')}_{speed}", wall, rec["t_end_mono_s"] - rec["t_start_mono_s"],
           exit=proc.returncode, verdicts=dict(sorted(verdicts.items())))
    return run_dir, rec


def compare(warp: tuple[Path, dict], real: tuple[Path, dict], other: str = "real time",
            key_figures: bool = True) -> None:
    """Every scenario's verdict (and key figures), at max vs `other`."""
    from bench.record import load_record
    from bench.report.figures import figures_of

    def figures(run_dir: Path) -> dict[str, tuple[str, dict]]:
        rec = load_record(run_dir)
        return {s.name: (s.verdict, figures_of(run_dir, rec, s)) for s in rec.scenarios}

    a, b = figures(warp[0]), figures(real[0])
    differ = [n for n in a if n in b and a[n][0] != b[n][0]]
    listed = ", ".join(f"{n} ({a[n][0].value} at max, {b[n][0].value})" for n in differ)
    print(f"verdicts at max vs {other}: {len(a) - len(differ)} of {len(a)} the same"
          + (f"; differ: {listed}" if differ else ""))
    if not key_figures:
        return
    for name in sorted(set(a) & set(b)):
        for fig, value in a[name][1].items():
            other = b[name][1].get(fig)
            if value is not None and other is not None and abs(value - other) > 0:
                print(f"    {name} {fig}: warped {value:g}, real time {other:g}")


def one_scenario(base: Path, path: Path, label: str) -> None:
    out = base / label
    out.mkdir()
    wall, proc = bench("run", str(path), "--config", str(config_at(base, "max")), "--no-report", "--out", str(out),
                       out=out)
    _, rec = run_record(out)
    scenario = rec["scenarios"][0]
    report(label, wall, scenario["t_end_mono_s"] - scenario["t_start_mono_s"], verdict=scenario["verdict"],
           checks={c["name"]: c["verdict"] for c in scenario["checks"]})


def matrix(base: Path) -> None:
    out = base / "matrix"
    out.mkdir()
    wall, proc = bench("faults", "--matrix", "--ocpp", "all", "--config", str(config_at(base, "max")),
                       "--out", str(out), out=out)
    try:
        result = json.loads(proc.stdout)
        gaps = sum(len(v.get("gaps", [])) for v in result.values()) if isinstance(result, dict) else "?"
    except json.JSONDecodeError:
        gaps = "no JSON"
    report("matrix", wall, None, exit=proc.returncode, gaps=gaps)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=DEFAULT,
                   help=f"comma list of {', '.join(ALL)} (default: {DEFAULT})")
    p.add_argument("--check-hours", default="1,24,72", help="run lengths for `checks`, comma list of hours")
    p.add_argument("--ocpp", default="2.0.1")
    p.add_argument("--compare-real-time", action="store_true", help="also run the library at speed 1 and compare")
    p.add_argument("--compare-speeds", default="", metavar="X,Y",
                   help="also run the library at these fixed speeds and compare the verdicts with max")
    p.add_argument("--csms-duration-s", default="120",
                   help="measured seconds of each `csms` run (default 120; the CSMS target is measured over 600)")
    p.add_argument("--acq-seconds", default="10", help="measured seconds of each `acq` run")
    p.add_argument("--report-hours", default="24", help="run length for `report`, in hours")
    p.add_argument("--keep", type=Path, help="keep the runs here (default: a temporary folder)")
    args = p.parse_args()
    wanted = set(args.only.split(","))
    unknown = wanted - set(ALL)
    if unknown:
        p.error(f"--only: unknown {', '.join(sorted(unknown))} (known: {', '.join(ALL)})")
    with tempfile.TemporaryDirectory(prefix="bench-warp-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        emit_machine()
        if "library" in wanted:
            warp = library(base, args.ocpp, "max")
            if args.compare_real_time:
                compare(warp, library(base, args.ocpp, "1"))
            for speed in filter(None, args.compare_speeds.split(",")):
                compare(warp, library(base, args.ocpp, speed), f"speed {speed}", key_figures=False)
        if "day" in wanted:
            one_scenario(base, DAY, "day_24h")
        if "soak" in wanted:
            one_scenario(base, SOAK, "soak_8h")
        if "matrix" in wanted:
            matrix(base)
        if "checks" in wanted:
            from check_benchmarks import main as checks

            checks(["--hours", args.check_hours])
        if "trace" in wanted:
            from trace_benchmarks import main as traces

            traces(["--hours", "24"])
        if "report" in wanted:
            from report_benchmarks import main as reports

            reports(["--hours", args.report_hours])
        if "acq" in wanted:
            from acq_benchmarks import main as acquisition

            acquisition(["--seconds", args.acq_seconds])
        if "csms" in wanted:
            from csms_load import main as csms_load

            csms_load(["--duration-s", args.csms_duration_s])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
