"""`bench faults`: the simulated charger's injectable faults; `--matrix` proves each is caught.

`bench faults` lists every fault with its blocks and a one-line description.
`bench faults --matrix` runs the fault matrix (bench/sim/matrix.py) on the virtual lab and prints
one JSON object `{"faults": {fault: [scenarios that FAIL]}, "clean": {scenario: verdict}}`
on stdout (progress goes to stderr); with `--ocpp all`, one such object per version under its
version, each with its `gaps`. The runs are time-warped (`--speed`, default max). Exit 0
when complete (every fault caught, every scenario PASS on the correct charger), 1 when
there is a gap, 2 on bad input.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

from bench.commands import LoadVirtualLab, VirtualLabSeam
from bench.clock import parse_speed
from bench.console_fit import compact_table, fits, names, print_wrapped
from bench.config import OCPP_VERSIONS, ConfigError, load_config

console = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    p = subparsers.add_parser("faults", help="list the simulated charger's faults; --matrix proves each is caught",
                              description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--matrix", action="store_true", help="run the fault matrix and print it as JSON")
    p.add_argument("--config", type=Path, default=Path("lab_config.yaml"))
    p.add_argument("--scenarios", type=Path, default=Path("scenarios"), help="scenario library root")
    p.add_argument("--ocpp", choices=(*OCPP_VERSIONS, "all"), metavar="VERSION",
                   help="OCPP version of the simulated charger (default: as configured); 'all': one matrix per "
                        "version, one after the other, printed as {version: matrix}")
    p.add_argument("--fault", action="append", dest="faults", metavar="NAME",
                   help="only this fault (repeatable); the clean runs still cover every scenario")
    p.add_argument("--clean-only", action="store_true",
                   help="only the clean runs: every scenario on the correct charger (e.g. on another OCPP version)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                   help="virtual labs running at once (default: one per core: time-warped labs compute, not wait)")
    p.add_argument("--speed", default="max", metavar="X",
                   help="time-warp of every run (default max: the matrix is virtual-lab only; 1 = real time)")
    p.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder)")
    p.set_defaults(func=functools.partial(cmd_faults, virtual_lab=virtual_lab))


def cmd_faults(args: argparse.Namespace, virtual_lab: LoadVirtualLab) -> int:
    lab = virtual_lab()
    if not args.matrix:
        _print_faults(lab)
        return 0
    config = load_config(args.config)  # bad input stops here
    if not config.virtual_lab.enabled:
        raise ConfigError(f"{args.config}: virtual_lab.enabled: the fault matrix needs the virtual lab")
    unknown = lab.unknown_faults(args.faults or [])
    if unknown:
        raise ConfigError(f"--fault: unknown fault(s) {', '.join(unknown)}; known: {', '.join(sorted(lab.FAULTS))}")
    if args.jobs < 1:
        raise ConfigError("--jobs: must be at least 1")
    try:
        parse_speed(args.speed)
    except ValueError as exc:
        raise ConfigError(f"--speed: {exc}") from None
    if args.ocpp != "all":
        return asyncio.run(_matrix(args, args.ocpp or config.positions[0].dut.ocpp_version, lab))
    printed: dict[str, dict] = {}
    codes = [asyncio.run(_matrix(args, version, lab, printed)) for version in OCPP_VERSIONS]
    print(json.dumps(printed, indent=2))
    return max(codes)


def _print_faults(lab: VirtualLabSeam) -> None:
    """A table where it fits whole names, else a line per fault with its description indented."""
    table = compact_table()
    table.add_column("fault", no_wrap=True)
    table.add_column("caught by")
    table.add_column("what the charger does wrong", min_width=24)
    for name in sorted(lab.FAULTS):
        fault = lab.FAULTS[name]
        table.add_row(name, names(fault.blocks), fault.description)
    if fits(console, table):
        console.print(table)
        return
    for name in sorted(lab.FAULTS):
        fault = lab.FAULTS[name]
        console.print(Text(name, style="bold"), soft_wrap=True)
        print_wrapped(console, f"caught by {names(fault.blocks)}", indent=4, more=10)
        print_wrapped(console, fault.description, indent=4, style="dim")
    console.print(f"{len(lab.FAULTS)} faults")


async def _matrix(args: argparse.Namespace, version: str, lab: VirtualLabSeam,
                  collected: dict[str, dict] | None = None) -> int:
    """One version's matrix; printed, or put in `collected` (--ocpp all prints them together)."""
    def progress(result) -> None:
        job = result.job
        summary = ", ".join(f"{s} {v}" for s, v in result.verdicts.items()) or f"no record (exit {result.returncode})"
        err.print(f"{job.name}: {summary}")

    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        out = args.out or Path(tmp)
        err.print(f"fault matrix on OCPP {version}, {args.jobs} labs at once at speed {args.speed}, runs in {out}")
        faults = [] if args.clean_only else args.faults
        matrix = await lab.run_matrix(args.config, args.scenarios, version,
                                      out / version if collected is not None else out, faults=faults,
                                      jobs_at_once=args.jobs, on_result=progress, speed=args.speed)
    if collected is None:
        print(json.dumps(matrix.to_json(), indent=2))
    else:
        collected[version] = {**matrix.to_json(), "gaps": matrix.gaps}
    for gap in matrix.gaps:
        err.print(f"[bold red]gap[/]: {gap}")
    err.print(f"OCPP {version}: {len(matrix.faults)} faults, {len(matrix.clean)} scenarios: "
              + ("complete" if not matrix.gaps else f"{len(matrix.gaps)} gap(s)"))
    sys.stdout.flush()
    return 0 if not matrix.gaps else 1
