"""The `bench` command: run, list, sim, csms, report.

Exit codes: 0 no FAIL and no ERROR (SKIPPED scenarios included; a run where every scenario
was SKIPPED exits 0 too), 1 any FAIL, 2 any ERROR or bad input.
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
from rich.text import Text

from bench.clock import MAX, RealClock, Speed, clock_for, parse_speed, speed_label
from bench.commands import VirtualLabSeam
from bench.console_fit import compact_table, fits, names, print_wrapped
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
    level = logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING
    shown = logging.StreamHandler()
    shown.setLevel(level)  # its own level: the run's log file takes the bench's INFO lines too (_start_run_log)
    shown.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[shown])  # no-op when logging is set up already
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
    ls.add_argument("--config", type=Path,
                    help="check the config and the scenarios against it as `bench run --config` does, and say "
                         "which scenarios its DUT(s) would SKIP and why")
    ls.add_argument("--ocpp", choices=OCPP_VERSIONS, metavar="VERSION", help="with --config: as `bench run --ocpp`")
    ls.add_argument("--protocol-only", action="store_true", help="with --config: as `bench run --protocol-only`")
    ls.add_argument("--coverage", action="store_true",
                    help="print the coverage table per block (Markdown): scenarios, OCTT ids, OCPP versions")
    ls.add_argument("--plan", action="store_true",
                    help="print the test plan: per scenario, the measurements its checks will take and their "
                         "limits on the config's positions (--config, default lab_config.yaml)")
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


def check_fault(fault: str | None, config: LabConfig, option: str = "--fault") -> None:
    """A fault to inject: known, and the config runs the virtual lab (`option` names it in the error)."""
    if fault is None:
        return
    from bench.sim import FAULTS

    if fault not in FAULTS:
        raise ConfigError(f"{option}: unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
    if not config.virtual_lab.enabled:
        raise ConfigError(f"{option}: faults are injected into the simulated charger; "
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
    check_fault(args.fault, config)
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
    run_log = _start_run_log(run_dir)
    try:
        with view:  # the panel goes away on every exit path, Ctrl-C included
            record = _run_stoppable(run_bench(config, opts, clock, run_dir), clock)
    except KeyboardInterrupt:
        interrupted = True
        err_console.print("[bold yellow]interrupted: instruments were put in the safe state; writing what ran[/]")
    finally:
        _stop_run_log(run_log)
    if record is None:
        record = load_record(run_dir)
    if not args.no_report:
        _render(run_dir)
        record = load_record(run_dir)  # with the key figures the reports derived
    _summary(record, run_dir)
    return 2 if interrupted else exit_code(record.verdict)


RUN_LOG = "bench.log"


def _start_run_log(run_dir: Path) -> logging.Handler:
    """The run's log file: every warning, and the bench's own INFO lines (connections, expected
    refusals such as an offline window's) that the console leaves out."""
    root = logging.getLogger()
    handler = logging.FileHandler(run_dir / RUN_LOG, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    bench_log = logging.getLogger("bench")
    if bench_log.getEffectiveLevel() > logging.INFO:
        bench_log.setLevel(logging.INFO)
    return handler


def _stop_run_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    logging.getLogger("bench").setLevel(logging.NOTSET)
    handler.close()


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


def _note(s) -> str:
    """One line on a scenario: why it failed, errored or was skipped, what it did not measure, else its figures."""
    from bench.report.figures import FIGURES

    skipped = f"{skip_label(s.skip_kind)}: {s.skipped}" if s.skipped else ""
    note = s.error or skipped or next(
        (c.message for c in s.checks if Verdict(c.verdict) in (Verdict.FAIL, Verdict.ERROR)), "")
    if not note and s.not_measured:
        note = f"not measured: {', '.join(s.not_measured)}"
    return note or ", ".join(f"{k} {v:.3g}" for k, v in (s.figures or {}).items() if k in FIGURES and v is not None)


def summary_table(record: RunRecord, width: int):
    """One line per scenario in `width` columns: the name whole, the verdict, its duration and a
    note cut to what is left of the line (the report has it all)."""
    several = len({s.position for s in record.scenarios}) > 1
    rows = []
    for s in record.scenarios:
        v = Verdict(s.verdict).value
        rows.append([s.name, *([s.position] if several else []), v,
                     _duration(s.t_end_mono_s - s.t_start_mono_s, v), _note(s)])
    headers = ["scenario", *(["pos"] if several else []), "verdict", "time", "note"]
    fixed = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers[:-1])]
    # a column separator (a space) and a space of padding either side between columns
    note_width = width - sum(fixed) - 3 * (len(headers) - 1)
    title = f"{record.suite}: {record.run_id}"
    table = compact_table(title=title, min_width=min(width, len(title)))  # a title that is not wrapped
    for h in headers[:-1]:
        table.add_column(h, no_wrap=True, justify="right" if h == "time" else "left")
    with_note = note_width >= 8  # narrower: no notes rather than broken names
    if with_note:
        table.add_column("note", no_wrap=True, overflow="ellipsis", max_width=note_width)
    verdict_col = headers.index("verdict")
    for r in rows:
        r[verdict_col] = f"[{VERDICT_STYLE[r[verdict_col]]}]{r[verdict_col]}[/]"
        table.add_row(*r[:-1], *([Text(r[-1])] if with_note else []))
    return table


def _duration(seconds: float, verdict: str) -> str:
    if verdict == Verdict.SKIPPED.value and seconds < 0.05:
        return "-"
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def counts_line(record: RunRecord) -> str:
    """`74 scenarios: 62 PASS, 0 FAIL, 0 ERROR, 12 SKIPPED`."""
    counts = {v: 0 for v in VERDICT_STYLE}
    for s in record.scenarios:
        counts[Verdict(s.verdict).value] += 1
    return f"{len(record.scenarios)} scenarios: " + ", ".join(
        f"[{VERDICT_STYLE[v]}]{n} {v}[/]" if n else f"{n} {v}" for v, n in counts.items())


def _summary(record: RunRecord, run_dir: Path) -> None:
    console.print(summary_table(record, console.width))
    if record.error:
        console.print(Text(f"bench error: {record.error}", style="bold magenta"))
    for pos in protocol_only_positions(record):
        console.print(f"[yellow]protocol-only[/] {pos}: no instruments, so current, PWM and energy were not "
                      "measured; those checks are SKIPPED")
    for pos, s in record.sampling.items():
        console.print(f"sampling {pos}: {s.get('achieved_hz')} Hz achieved of {s.get('configured_hz')} Hz, "
                      f"{s.get('samples')} samples, {s.get('read_errors')} read errors"
                      + (f", {s['stalls']} stalls (an instrument not answering within the read timeout)"
                         if s.get("stalls") else "")
                      + (f", rows requested {s['late_p99_ms']:g} ms after their tick at p99"
                         if s.get("late_p99_ms") is not None and record.clock == "real" else ""))
    v = Verdict(record.verdict).value
    pdf = run_dir / "report.pdf"
    # the last line: what a CI log's reader looks for first (a path is never wrapped)
    report = pdf if pdf.exists() else run_dir / "record.json"
    console.print(f"overall: [{VERDICT_STYLE[v]}]{v}[/]  {counts_line(record)}  report: {report}", soft_wrap=True)


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


def _versions(s) -> str:
    return "all" if set(s.ocpp_versions) == set(OCPP_VERSIONS) else " ".join(s.ocpp_versions)


def cmd_list(args: argparse.Namespace) -> int:
    scenarios = sorted(_load_selected(args), key=lambda s: (s.block, s.name))
    if args.coverage:
        print(coverage_markdown(scenarios))
        return 0
    if args.plan:
        return _print_plan(args, scenarios)
    skips = _skips_on(args, scenarios) if args.config is not None else {}
    table = compact_table()
    for col in ("block", "scenario"):
        table.add_column(col, no_wrap=True)
    for col in ("OCTT ids", "OCPP", "tags", "checks", *(["on this bench"] if args.config else [])):
        table.add_column(col)
    for s in scenarios:
        table.add_row(s.block, s.name, names(s.ocpp_ids), _versions(s), names(s.tags), names(_checks(s)),
                      *([skips.get(s.name, "runs")] if args.config else []))
    if fits(console, table):
        console.print(table)
    else:
        _print_list_lines(scenarios, skips)
    blocks = sorted({s.block for s in scenarios})
    line = f"{len(scenarios)} scenarios in {len(blocks)} blocks: {', '.join(blocks)}"
    if args.config is not None:
        line += f"; on {args.config}: {len(scenarios) - len(skips)} run, {len(skips)} SKIPPED"
    print_wrapped(console, line, more=2)
    return 0


_BUILT_IN_CHECKS = {"step_expectations": "every step answered as a compliant charger must",
                    "protocol_conformance": "every frame of the DUT a valid OCPP-J message"}


def _print_plan(args: argparse.Namespace, scenarios) -> int:
    """Per scenario and position: each check, the measurements it will take, their limits with this
    config's values, where those come from and the rule they enforce."""
    from bench.checks.library import CHECKS
    from bench.checks.plan import plan_for
    from bench.scenario.model import check_fits

    path = args.config or DEFAULT_CONFIG
    config = without_instruments(with_ocpp_version(load_config(path), args.ocpp), args.protocol_only)
    check_fits(scenarios, config, path)
    for s in scenarios:
        rows = plan_for(s, config)
        for pos in config.positions:
            where = f" on {pos.name}" if len(config.positions) > 1 else ""
            console.print(Text(f"{s.name} ({s.block}){where}", style="bold"))
            check = None
            for row in (r for r in rows if r.position == pos.name):
                if row.check != check:
                    check = row.check
                    summary = CHECKS[check].summary if check in CHECKS else _BUILT_IN_CHECKS[check]
                    print_wrapped(console, f"{check}: {summary}", indent=2)
                    if row.physical and not pos.instruments:
                        print_wrapped(console, "not measured: protocol-only position", indent=4, style="yellow")
                unit = f" [{row.unit}]" if row.unit else ""
                print_wrapped(console, f"{row.measurement}{unit}: {row.limit}", indent=4)
                sources = f"from {', '.join(row.sources)}; " if row.sources else ""
                print_wrapped(console, f"{sources}rule: {row.rule}", indent=6, more=2, style="dim")
    count = sum(len(plan_for(s, config)) for s in scenarios)
    print_wrapped(console, f"{len(scenarios)} scenarios, {count} planned measurements on {path}", more=2)
    return 0


def _checks(s) -> list[str]:
    return ["step_expectations", *(c.name for c in s.checks)]


def _print_list_lines(scenarios, skips: dict[str, str]) -> None:
    """The list for a narrow terminal: a heading per block, a line per scenario, details indented."""
    block = None
    for s in scenarios:
        if s.block != block:
            block = s.block
            console.print(Text(block, style="bold"))
        ids = f"  OCTT {names(s.ocpp_ids)}" if s.ocpp_ids else ""
        print_wrapped(console, f"{s.name}  OCPP {_versions(s)}{ids}", indent=2, more=6)
        print_wrapped(console, f"tags {names(s.tags)}; checks {names(_checks(s))}", indent=6, more=2, style="dim")
        if s.name in skips:
            print_wrapped(console, f"SKIPPED here: {skips[s.name]}", indent=6, more=2, style="yellow")


def _skips_on(args: argparse.Namespace, scenarios) -> dict[str, str]:
    """scenario -> why the config's DUT(s) would SKIP it, as far as the config tells before a run
    (OCPP version, declared unsupported features, the bench's EV emulator and tag presenter, the
    DUT's rating); what the DUT reports when it boots can SKIP more. Bad input exits 2 as in `bench run`."""
    from bench.capabilities import FEATURES
    from bench.record import SKIP_LABELS
    from bench.scenario.model import above_rating, check_fits

    config = without_instruments(with_ocpp_version(load_config(args.config), args.ocpp), args.protocol_only)
    check_fits(scenarios, config, args.config)
    lab = config.virtual_lab.enabled  # the virtual lab has its own car and tag presenter
    out: dict[str, str] = {}
    for s in scenarios:
        why = []
        for pos in config.positions:
            prefix = f"{pos.name}: " if len(config.positions) > 1 else ""
            reason = _static_skip(s, pos, lab, FEATURES, SKIP_LABELS, above_rating)
            if reason:
                why.append(prefix + reason)
        if why:
            out[s.name] = "; ".join(why)
    return out


def _static_skip(s, pos, lab: bool, features, labels, above_rating) -> str | None:
    version = pos.dut.ocpp_version
    if version not in s.ocpp_versions:
        return f"{labels['not_applicable']} (not defined for OCPP {version})"
    declared = pos.dut.features
    lacking = [n for n in s.needs if n in features and (n in declared.unsupported or (
        declared.supported is not None and n not in declared.supported))]
    if lacking:
        return f"{labels['not_supported']} (dut.features: {', '.join(lacking)})"
    has_ev = lab or any(i.role == "ev_emulator" for i in pos.instruments.values())
    if "ev_emulator" in s.needs and not has_ev:
        return f"{labels['bench']} (no EV emulator)"
    if "tag_presenter" in s.needs and not lab:
        return f"{labels['bench']} (no RFID tag presenter)"
    if (why := above_rating(s, pos)) is not None:
        return f"{labels['bench']} ({why})"
    return None


# ---- sim / csms ------------------------------------------------------------------

def cmd_sim(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_fault(args.fault, config.model_copy(update={"virtual_lab": config.virtual_lab.model_copy(
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
        from bench.csms.server import tune_for_serving
        from bench.security import certificates
        from bench.session import csms_settings, make_run_dir

        tune_for_serving()
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
