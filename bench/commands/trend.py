"""`bench trend RESULTS_DIR` and `bench compare RUN_A RUN_B`: regressions across runs.

Exit codes: 0 no regression, 1 a regression (newest run of the trend, or run B of the
comparison), 2 bad input (no runs, not a run folder, a bad --band).

A scenario of run A that run B did not run at all (B ran a selection: `--tags`, `-k`, a
folder) is listed but no regression unless `bench compare --strict`: a nightly comparing
against a full run must not fail for what it did not ask to run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.commands import LoadVirtualLab
from bench.config import ConfigError
from bench.report.figures import FIGURES
from bench.report.trend import DEFAULT_BASELINE_RUNS

console = Console(highlight=False)
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "SKIPPED": "yellow"}
TABLE_RUNS = 10  # newest runs in the console table; trend.csv has them all


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    trend = subparsers.add_parser(
        "trend", help="verdicts and key figures across every run under a results folder; flags regressions",
        description="Reads every run folder under RESULTS_DIR (each with a record.json), writes trend.pdf, "
                    "trend.png, trend.csv, trend_figures.csv and trend.json, prints the verdict table and "
                    "flags scenarios that newly fail or whose key figures drifted beyond their band. "
                    f"Figures: {', '.join(f'{n} ({d.unit}, band {d.band:g})' for n, d in FIGURES.items())}.")
    trend.add_argument("results_dir", type=Path)
    trend.add_argument("--out", type=Path, help="where the trend files go (default: RESULTS_DIR)")
    _band_args(trend)
    trend.add_argument("--baseline", type=int, default=DEFAULT_BASELINE_RUNS, metavar="N",
                       help=f"baseline = median of the last N passing runs (default {DEFAULT_BASELINE_RUNS})")
    trend.set_defaults(func=cmd_trend)

    compare = subparsers.add_parser("compare", help="what changed between two runs (verdicts and figures)")
    compare.add_argument("run_a", type=Path)
    compare.add_argument("run_b", type=Path)
    compare.add_argument("--json", type=Path, metavar="FILE",
                         help="also write the comparison as JSON ('-' = stdout only)")
    compare.add_argument("--strict", action="store_true",
                         help="a scenario of RUN_A that RUN_B did not run is a regression (default: only listed, "
                              "as RUN_B may have run a selection)")
    _band_args(compare)
    compare.set_defaults(func=cmd_compare)


def _band_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--band", action="append", default=[], metavar="FIGURE=VALUE",
                   help="drift band of a key figure in its unit, e.g. --band settle_time_s=0.5 (repeatable)")


def parse_bands(items: list[str]) -> dict[str, float]:
    bands = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in FIGURES:
            raise ConfigError(f"--band {item!r}: expected FIGURE=VALUE with FIGURE one of {', '.join(FIGURES)}")
        try:
            bands[name] = float(value)
        except ValueError:
            raise ConfigError(f"--band {item!r}: {value!r} is not a number") from None
        if bands[name] < 0:
            raise ConfigError(f"--band {item!r}: a band cannot be negative")
    return bands


def cmd_trend(args: argparse.Namespace) -> int:
    from bench.report.trend import trend_of
    from bench.report.trend_render import write_trend

    bands = parse_bands(args.band)
    if not args.results_dir.is_dir():
        raise ConfigError(f"{args.results_dir}: not a folder")
    if args.baseline < 1:
        raise ConfigError("--baseline: must be at least 1")
    trend = trend_of(args.results_dir, bands, args.baseline)
    if not trend.runs:
        raise ConfigError(f"{args.results_dir}: no run folders (with a record.json) under it")
    files = write_trend(trend, args.out or args.results_dir)
    _print_trend(trend)
    console.print(f"trend: {files.pdf}  {files.png}  {files.csv}  {files.json}")
    return 1 if trend.latest_regressions() else 0


def _print_trend(trend) -> None:
    runs = trend.runs[-TABLE_RUNS:]
    table = Table(title=f"verdicts of the newest {len(runs)} of {len(trend.runs)} runs")
    table.add_column("scenario", overflow="fold")
    for r in runs:
        table.add_column(r.label, overflow="fold")
    new = {(f.run_id, f.scenario) for f in trend.flags if f.kind == "new_failure"}
    for key in trend.scenarios:
        cells = []
        for r in runs:
            sp = r.scenarios.get(key)
            if sp is None:
                cells.append("")
                continue
            v = sp.verdict.value
            cells.append(f"[{VERDICT_STYLE[v]}]{'NEW ' if (r.run_id, key) in new else ''}{v}[/]")
        table.add_row(escape(key), *cells)
    console.print(table)
    for f in trend.unreadable:
        console.print(f"[yellow]unreadable:[/] {escape(f)}")
    regressions = trend.latest_regressions()
    latest = trend.latest
    others = [f for f in trend.flags_of(latest.run_id) if not f.regression]
    console.print(f"newest run {latest.run_id}: " + (f"[bold red]{len(regressions)} regression(s)[/]" if regressions
                                                     else "[bold green]no regression[/]"))
    for f in regressions:
        console.print(f"  [red]{f.kind}[/] {escape(f.message)}")
    for f in others:
        console.print(f"  [green]{f.kind}[/] {escape(f.message)}")


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.report.compare import compare_runs

    bands = parse_bands(args.band)
    for d in (args.run_a, args.run_b):
        if not (d / "record.json").is_file():
            raise ConfigError(f"{d}: no record.json (not a run folder)")
    comparison = compare_runs(args.run_a, args.run_b, bands)
    absent = [c.key for c in comparison.scenarios if c.status == "removed"]
    if not args.strict:  # not run in B is not worse in B
        comparison = dataclasses.replace(comparison, scenarios=[c for c in comparison.scenarios
                                                                if c.status != "removed"])
    result = {**comparison.to_dict(), "not_run_in_b": absent, "strict": args.strict}
    data = json.dumps(result, indent=2, default=str)
    if args.json is not None and str(args.json) == "-":
        sys.stdout.write(data + "\n")
    else:
        console.print(escape(comparison.to_text()))
        if absent and not args.strict:
            console.print(escape(f"not run in B ({len(absent)}, not counted as regressions; --strict counts them): "
                                 f"{', '.join(absent)}"), soft_wrap=True)
        if args.json is not None:
            args.json.write_text(data + "\n")
    return 1 if comparison.regressions else 0
