"""The `bench` command: run, list, sim, csms, report.

Exit codes: 0 all PASS, 1 any FAIL, 2 any ERROR or bad input.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bench.clock import MAX, RealClock, Speed, clock_for, parse_speed, speed_label
from bench.commands import VirtualLabSeam
from bench.config import OCPP_VERSIONS, ConfigError, LabConfig, load_config, preflight
from bench.record import RunRecord, Verdict, exit_code, skip_label

if TYPE_CHECKING:
    from bench.scenario.model import Scenario

DEFAULT_CONFIG = Path("lab_config.yaml")
DEFAULT_SCENARIOS = Path("scenarios")
VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "SKIPPED": "yellow"}
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:
        err_console.print("[bold red]bad input[/]")
        # as text (a key like [/b] in a bad file is no markup), unwrapped (a path stays whole in CI logs)
        err_console.print(Text(str(exc)), soft_wrap=True)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description="Hardware-in-the-loop test bench for AC EV chargers")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run scenarios against the DUT(s) of the config")
    run.add_argument("scenarios", nargs="*", type=Path, help="scenario files or folders (default: scenarios/)")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    run.add_argument("--out", type=Path, default=Path("results"), help="results go to OUT/<UTC time>-<suite>/")
    run.add_argument("--fault", help="inject a fault into the simulated charger (virtual lab only)")
    run.add_argument("--ocpp", choices=OCPP_VERSIONS, metavar="VERSION",
                     help=f"OCPP version of every DUT, overriding lab_config.yaml ({', '.join(OCPP_VERSIONS)})")
    _selection_args(run)
    run.add_argument("--long", action="store_true", dest="include_long",
                     help="include the scenarios that run for hours (long: true; e.g. the 24-hour and soak "
                          "ones), which otherwise run only when their file is named")
    run.add_argument("--protocol-only", action="store_true",
                     help="ignore the configured instruments: test the OCPP behaviour only (physical checks SKIPPED)")
    run.add_argument("--speed", type=_speed, metavar="X",
                     help="run the virtual lab X times faster than real time, or 'max': as fast as the machine "
                          "allows, time jumping ahead while the whole lab waits (default: virtual_lab.speed, 1)")
    run.add_argument("--dut-wait", type=float, metavar="SECONDS", dest="dut_wait_s",
                     help="how long to wait for the DUT to connect (default: dut.reboot_time_s, 120 s)")
    run.add_argument("--no-report", action="store_true", help="skip PDF/plots/JUnit (record and traces only)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list the scenarios: blocks, tags, OCTT ids, OCPP versions")
    ls.add_argument("scenarios", nargs="*", type=Path)
    _selection_args(ls)
    ls.add_argument("--coverage", action="store_true",
                    help="print the coverage table per block (Markdown): scenarios, OCTT ids, OCPP versions")
    ls.set_defaults(func=cmd_list)

    sim = sub.add_parser("sim", help="run the virtual lab on its own (simulated charger and instruments)")
    sim.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    sim.add_argument("--fault", help="inject a fault into the simulated charger")
    sim.add_argument("-v", "--verbose", action="store_true")
    sim.set_defaults(func=cmd_sim)

    csms = sub.add_parser("csms", help="run the OCPP backend stub on its own (bring up a real charger by hand)")
    csms.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    csms.add_argument("--out", type=Path, default=Path("results"))
    csms.add_argument("-v", "--verbose", action="store_true")
    csms.set_defaults(func=cmd_csms)

    rep = sub.add_parser("report", help="regenerate plots, report.pdf and junit.xml of a run folder")
    rep.add_argument("run_dir", type=Path)
    rep.add_argument("--full", action="store_true", help="one section per scenario (an audit), not only the failures")
    rep.set_defaults(func=cmd_report)

    from bench.commands import register_all

    register_all(sub, _virtual_lab)
    return p


def _virtual_lab() -> VirtualLabSeam:
    """The virtual lab's seam, loaded when a command first needs it: a real bench never loads the simulator."""
    import bench.sim

    return bench.sim


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tags", action="append", metavar="TAG[,TAG]",
                   help="only scenarios with any of these tags or blocks (e.g. smart_charging,metering)")
    p.add_argument("-k", action="append", dest="keywords", metavar="TEXT",
                   help="only scenarios whose name contains TEXT (repeatable: any of them)")


def _load_selected(args: argparse.Namespace):
    from bench.scenario.model import load_suite, select, split_csv

    scenarios = load_suite(args.scenarios or [DEFAULT_SCENARIOS])
    return select(scenarios, split_csv(args.tags), split_csv(args.keywords), named=args.scenarios,
                  include_long=getattr(args, "include_long", True))  # `bench list` shows them all


# ---- run ----------------------------------------------------------------------

def _suite_name(paths: list[Path]) -> str:
    if not paths:
        return "default"
    if len(paths) == 1:
        return paths[0].stem if paths[0].is_file() else paths[0].resolve().name
    return "custom"


def with_ocpp_version(config: LabConfig, version: str | None) -> LabConfig:
    """The config with every DUT on `version` (None: as configured)."""
    if version is None:
        return config
    positions = [p.model_copy(update={"dut": p.dut.model_copy(update={"ocpp_version": version})})
                 for p in config.positions]
    return config.model_copy(update={"positions": positions})


def _speed(text: str) -> Speed:
    """`--speed`: 'max' or a number (checked against the bounds in with_speed)."""
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def with_speed(config: LabConfig, speed: Speed | None) -> LabConfig:
    """The config with the virtual lab at `speed` (None: as configured); refused on a real bench."""
    if speed is None:
        return config
    if speed != MAX and not 0 < speed <= 100:  # written so that NaN is refused too
        raise ConfigError(f"--speed: must be above 0 and at most 100 (or {MAX!r}), not {speed:g}")
    if speed != 1 and not config.virtual_lab.enabled:
        raise ConfigError(f"--speed {speed_label(speed)}: only the virtual lab runs faster than real time; this config "
                          "drives a real bench (virtual_lab.enabled: false), which runs at speed 1")
    return config.model_copy(update={"virtual_lab": config.virtual_lab.model_copy(update={"speed": speed})})


def without_instruments(config: LabConfig, protocol_only: bool) -> LabConfig:
    """The config with no instruments on any position (protocol-only mode), if asked."""
    if not protocol_only:
        return config
    return config.model_copy(update={"positions": [p.model_copy(update={"instruments": {}})
                                                   for p in config.positions]})


def _check_fault(fault: str | None, config: LabConfig) -> None:
    if fault is None:
        return
    from bench.sim import FAULTS

    if fault not in FAULTS:
        raise ConfigError(f"--fault: unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    if not config.virtual_lab.enabled:
        raise ConfigError("--fault: faults are injected into the simulated charger; "
                          "set virtual_lab.enabled: true in the config")


def _validated_inputs(args: argparse.Namespace) -> tuple[LabConfig, list[Scenario]]:
    """Every input of `bench run` checked, in the order a user fixes them: files, options,
    scenarios against the config, then what needs the machine (hosts, the CSMS port). Bad
    input stops here, before any run folder, socket or instrument."""
    from bench.scenario.model import check_fits

    config = with_ocpp_version(load_config(args.config), args.ocpp)
    config = without_instruments(config, args.protocol_only)
    config = with_speed(config, args.speed)
    scenarios = _load_selected(args)
    _check_fault(args.fault, config)
    if args.dut_wait_s is not None and not 0 < args.dut_wait_s < math.inf:
        raise ConfigError(f"--dut-wait: must be a positive number of seconds, not {args.dut_wait_s:g}")
    check_fits(scenarios, config, args.config)
    preflight(config, args.config)
    return config, scenarios


def cmd_run(args: argparse.Namespace) -> int:
    config, scenarios = _validated_inputs(args)
    from bench.live import LiveView  # the run's machinery is loaded only for valid input
    from bench.record import load_record
    from bench.session import RunOptions, make_run_dir, run_bench, suite_name

    clock = clock_for(config.virtual_lab.speed)
    # a rich panel on a terminal, plain lines in CI logs and pipes
    view = LiveView(console, clock, tolerance_abs_a=config.tolerances.current_abs_a,
                    tolerance_rel_pct=config.tolerances.current_rel_pct)
    opts = RunOptions(args.config, scenarios, suite_name(_suite_name(args.scenarios), args.fault), args.out, args.fault,
                      dut_wait_s=args.dut_wait_s, on_progress=view.on_progress, on_event=view.on_event)
    run_dir = make_run_dir(args.out, opts.suite, clock)
    console.print(f"run folder: {run_dir}")
    record: RunRecord | None = None
    interrupted = False
    try:
        with view:  # the panel goes away on every exit path, Ctrl-C included
            record = _run_stoppable(run_bench(config, opts, clock, run_dir), clock)
    except KeyboardInterrupt:
        interrupted = True
        err_console.print("[bold yellow]interrupted: instruments were put in the safe state; writing what ran[/]")
    if record is None:
        record = load_record(run_dir)
    if not args.no_report:
        _render(run_dir)
        record = load_record(run_dir)  # with the key figures the reports derived
    _summary(record, run_dir)
    return 2 if interrupted else exit_code(record.verdict)


def _run_stoppable(coro, clock: RealClock):
    """asyncio.run on the clock's loop, stoppable by Ctrl-C and by SIGTERM (a CI job being cancelled) alike:
    both cancel the run, so teardown puts the bench in the safe state. SIGINT is reset to
    Python's handler in case the bench was started with it ignored (background jobs)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)

    async def main():
        task = asyncio.current_task()
        assert task is not None  # main() runs as asyncio.run's task
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel, "interrupted by SIGTERM")
        try:
            return await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        with asyncio.Runner(loop_factory=clock.new_loop) as runner:
            return runner.run(main())
    except asyncio.CancelledError:  # SIGTERM
        raise KeyboardInterrupt from None


def _render(run_dir: Path, full: bool = False) -> None:
    try:
        from bench.report import render_all

        render_all(run_dir, full=full)
    except Exception as exc:  # the record and traces are already safe on disk
        err_console.print(f"[bold magenta]report rendering failed:[/] {type(exc).__name__}: {exc}")


def protocol_only_positions(record: RunRecord) -> list[str]:
    return [name for name, info in (record.positions or {}).items() if info.get("protocol_only")]


def _summary(record: RunRecord, run_dir: Path) -> None:
    from bench.report.figures import FIGURES

    table = Table(title=f"{record.suite}: {record.run_id}")
    for col in ("scenario", "position", "verdict", "duration", "key figures", "note"):
        table.add_column(col, overflow="fold")
    for s in record.scenarios:
        v = Verdict(s.verdict).value
        skipped = f"{skip_label(s.skip_kind)}: {s.skipped}" if s.skipped else ""
        note = s.error or skipped or next(
            (c.message for c in s.checks if Verdict(c.verdict) in (Verdict.FAIL, Verdict.ERROR)), "")
        if not note and s.not_measured:
            note = f"not measured: {', '.join(s.not_measured)}"
        table.add_row(s.name, s.position, f"[{VERDICT_STYLE[v]}]{v}[/]", f"{s.t_end_mono_s - s.t_start_mono_s:.1f} s",
                      ", ".join(f"{k} {v:.3g}" for k, v in (s.figures or {}).items() if k in FIGURES and v is not None),
                      note[:90])
    console.print(table)
    if record.error:
        console.print(f"[bold magenta]bench error:[/] {record.error}")
    for pos in protocol_only_positions(record):
        console.print(f"[yellow]protocol-only[/] {pos}: no instruments, so current, PWM and energy were not "
                      "measured; those checks are SKIPPED")
    for pos, s in record.sampling.items():
        console.print(f"sampling {pos}: {s.get('achieved_hz')} Hz achieved of {s.get('configured_hz')} Hz, "
                      f"{s.get('samples')} samples, {s.get('read_errors')} read errors"
                      + (f", {s['stalls']} stalls (an instrument not answering within the read timeout)"
                         if s.get("stalls") else ""))
    v = Verdict(record.verdict).value
    console.print(f"overall: [{VERDICT_STYLE[v]}]{v}[/]")
    pdf = run_dir / "report.pdf"
    console.print(f"report: {pdf if pdf.exists() else run_dir / 'record.json'}")


# ---- list ------------------------------------------------------------------------

def coverage_markdown(scenarios) -> str:
    """Block | scenarios | OCTT ids | OCPP versions, one row per block."""
    rows = ["| block | scenarios | OCTT ids | OCPP versions |", "|---|---|---|---|"]
    blocks: dict[str, list] = {}
    for s in scenarios:
        blocks.setdefault(s.block, []).append(s)
    for block, items in sorted(blocks.items()):
        ids = sorted({i for s in items for i in s.ocpp_ids})
        versions = [v for v in OCPP_VERSIONS if any(v in s.ocpp_versions for s in items)]
        rows.append(f"| {block} | {', '.join(s.name for s in items)} | {', '.join(ids)} | {', '.join(versions)} |")
    return "\n".join(rows)


def cmd_list(args: argparse.Namespace) -> int:
    table = Table()
    for col in ("block", "scenario", "OCTT ids", "OCPP", "tags", "checks"):
        table.add_column(col, overflow="fold")
    scenarios = sorted(_load_selected(args), key=lambda s: (s.block, s.name))
    if args.coverage:
        print(coverage_markdown(scenarios))
        return 0
    for s in scenarios:
        table.add_row(s.block, s.name, ",".join(s.ocpp_ids), ",".join(s.ocpp_versions), ",".join(s.tags),
                      ",".join(["step_expectations", *(c.name for c in s.checks)]))
    console.print(table)
    blocks = sorted({s.block for s in scenarios})
    console.print(f"{len(scenarios)} scenarios in {len(blocks)} blocks: {', '.join(blocks)}")
    return 0


# ---- sim / csms ------------------------------------------------------------------

def cmd_sim(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _check_fault(args.fault, config.model_copy(update={"virtual_lab": config.virtual_lab.model_copy(
        update={"enabled": True})}))

    async def serve() -> None:
        from bench.sim import virtual_lab

        clock = RealClock()
        c = config.bench.csms
        lab = virtual_lab(clock, config, f"ws://{c.host}:{c.port}", fault=args.fault)
        try:
            bound = await lab.start_instruments()
            for pos in bound.positions:
                for name, ins in pos.instruments.items():
                    console.print(f"{pos.name}: {name:10s} {ins.driver:22s} {ins.address}")
                console.print(f"{pos.name}: charger {pos.dut.charge_point_id} -> ws://{c.host}:{c.port}/"
                              f"{pos.dut.charge_point_id} (retries until a CSMS listens)")
            await lab.start_chargers()
            console.print("virtual lab running; Ctrl-C to stop")
            await asyncio.Event().wait()
        finally:
            await lab.stop()

    try:
        _run_stoppable(serve(), RealClock())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_csms(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    preflight(config, args.config)  # a taken port is refused before the run folder

    async def serve() -> None:
        from bench.csms import CsmsServer, MessageLog
        from bench.security import certificates
        from bench.session import csms_settings, make_run_dir

        clock = RealClock()
        run_dir = make_run_dir(args.out, "csms", clock)
        settings = csms_settings(config, certificates(config, clock))  # the same stub as `bench run`'s
        server = CsmsServer(clock, settings, (message_log := MessageLog(run_dir / "ocpp.jsonl", clock)))
        await server.start()
        console.print(f"CSMS stub on {server.url}/<chargePointId>, accepting "
                      f"{', '.join(p.dut.charge_point_id for p in config.positions)}; "
                      f"frames -> {run_dir / 'ocpp.jsonl'}")
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()
            message_log.close()

    try:
        _run_stoppable(serve(), RealClock())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bench.record import load_record

    if not (args.run_dir / "record.json").exists():
        raise ConfigError(f"{args.run_dir}: no record.json (not a run folder)")
    _render(args.run_dir, full=args.full)
    record = load_record(args.run_dir)
    _summary(record, args.run_dir)
    return exit_code(record.verdict)


if __name__ == "__main__":
    sys.exit(main())
