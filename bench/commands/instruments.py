"""`bench instruments list|check|read`: the instrument library from the command line.

A contract other tools rely on (keep it stable):
- `bench instruments list [--json]`: the drivers available, with role, transport and models.
- `bench instruments check [--config FILE] [--attach] [--json]`: connect to every configured
  instrument, print its identity (checked against the configured `model`), one reading and
  its ratings. Exit 0 when all are fine, 2 naming the instrument and the reason otherwise.
- `bench instruments read NAME [--config FILE] [--position P] [--attach] [--json]`: one reading
  of the instrument configured under NAME (or under the only instrument of role NAME), as one
  JSON object with `--json`. Keys: power meter `voltage_v`, `current_a`, `power_w` (lists, per
  phase), `power_total_w`, `energy_import_wh`, `frequency_hz`; AC load `current_a`, `power_w`,
  `enabled`; EV emulator `cp_state`, `pwm_duty_pct`, `offered_current_a`. A quantity the
  instrument does not provide is null.

Virtual lab: with `virtual_lab.enabled: true` the command starts the configured simulators
itself on the configured ports (as `bench run` does) and stops them afterwards. With
`--attach` it starts nothing and talks to the configured addresses, e.g. a running `bench sim`.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from bench.commands import LoadVirtualLab
from bench.console_fit import compact_table, fits, names, print_wrapped
from bench.config import ConfigError, InstrumentConfig, LabConfig, load_config
from instruments.registry import DRIVERS, create_instrument, open_and_identify
from instruments.roles import (
    AcLoadReading,
    EvEmulatorReading,
    Identity,
    Instrument,
    PowerMeterReading,
    Ratings,
)

DEFAULT_CONFIG = Path("lab_config.yaml")
INSTRUMENT_TIMEOUT_S = 30.0  # open + identify + one reading, per instrument
READING_KEYS = {
    "power_meter": ("voltage_v", "current_a", "power_w", "power_total_w", "energy_import_wh", "frequency_hz"),
    "ac_load": ("current_a", "power_w", "enabled"),
    "ev_emulator": ("cp_state", "pwm_duty_pct", "offered_current_a"),
}
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    p = subparsers.add_parser("instruments",
                              help="the instrument drivers: list them, check or read the configured ones")
    sub = p.add_subparsers(required=True, metavar="ACTION")

    ls = sub.add_parser("list", help="the drivers available, with role and transport")
    ls.add_argument("--json", action="store_true", help="one JSON object per driver, as a list")
    ls.set_defaults(func=functools.partial(cmd_list, virtual_lab=virtual_lab))

    check = sub.add_parser("check", help="connect to every configured instrument: identity, one reading, ratings")
    _common(check)
    check.add_argument("--json", action="store_true", help="the results as a JSON list")
    check.set_defaults(func=functools.partial(cmd_check, virtual_lab=virtual_lab))

    read = sub.add_parser("read", help="one reading of one configured instrument")
    read.add_argument("name", metavar="ROLE", help="the instrument's name in the config (e.g. meter, load_l1, ev) "
                                                   "or a role (power_meter, ac_load, ev_emulator) with one instrument")
    read.add_argument("--position", help="the position, when several have an instrument of that name")
    _common(read)
    read.add_argument("--json", action="store_true", help="print the reading as one JSON object")
    read.set_defaults(func=functools.partial(cmd_read, virtual_lab=virtual_lab))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--attach", action="store_true",
                   help="virtual lab: start no simulators, talk to the configured addresses (e.g. a running bench sim)")


# ---- results -----------------------------------------------------------------------------------
@dataclass
class InstrumentResult:
    position: str
    name: str
    driver: str
    role: str
    address: str
    ratings: dict[str, float] = field(default_factory=dict)
    identity: Identity | None = None
    reading: dict | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return {"position": self.position, "name": self.name, "driver": self.driver, "role": self.role,
                "address": self.address, "ok": self.ok,
                "identity": self.identity.__dict__ if self.identity else None,
                "reading": self.reading, "ratings": self.ratings, "error": self.error}


def reading_dict(reading: PowerMeterReading | AcLoadReading | EvEmulatorReading) -> dict:
    """The JSON shape of `bench instruments read`: exactly the keys of the role, NaN as null."""
    role = ("power_meter" if isinstance(reading, PowerMeterReading)
            else "ac_load" if isinstance(reading, AcLoadReading) else "ev_emulator")
    return {key: _clean(getattr(reading, key)) for key in READING_KEYS[role]}


def _clean(value):
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def _build(name: str, spec: InstrumentConfig) -> Instrument:
    r = spec.ratings
    return create_instrument(name, spec.driver, spec.address, Ratings(r.max_current_a, r.max_power_w, r.max_voltage_v),
                             model=spec.model, **({"phase": spec.phase} if spec.phase else {}))


async def probe(position: str, name: str, spec: InstrumentConfig) -> InstrumentResult:
    """Open, identify (checked against the configured model), one reading, close."""
    result = InstrumentResult(position, name, spec.driver, spec.role, spec.address,
                              spec.ratings.model_dump(exclude_none=True))
    instrument: Any = None  # a PowerMeter, AcLoad or EvEmulator: the roles, each with its read()
    try:
        instrument = _build(name, spec)

        async def steps() -> None:
            result.identity = await open_and_identify(instrument)
            result.reading = reading_dict(await instrument.read())

        await asyncio.wait_for(steps(), INSTRUMENT_TIMEOUT_S)
    except asyncio.TimeoutError:
        result.error = f"no answer within {INSTRUMENT_TIMEOUT_S:g} s"
    except Exception as exc:  # every failure is reported with the instrument, never raised
        result.error = f"{type(exc).__name__}: {exc}" if not str(exc).startswith(name) else str(exc)
    finally:
        if instrument is not None:
            with contextlib.suppress(Exception):
                await instrument.close()
    return result


@contextlib.asynccontextmanager
async def lab_addresses(config: LabConfig, attach: bool, virtual_lab: LoadVirtualLab):
    """The config with the addresses to talk to: simulators started here when the virtual lab
    is enabled (and --attach is not given), stopped on the way out."""
    if not config.virtual_lab.enabled or attach:
        yield config
        return
    from bench.clock import RealClock

    lab = virtual_lab().virtual_lab(RealClock(), config, "ws://127.0.0.1:9/unused")  # instruments only, no charger
    try:
        try:
            bound = await lab.start_instruments()
        except OSError as exc:
            raise ConfigError(f"{exc}\n(is `bench sim` already running on these ports? then add --attach)") from None
        yield bound
    finally:
        await lab.stop()


# ---- list ------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, virtual_lab: LoadVirtualLab) -> int:
    simulated = virtual_lab().simulated_drivers()
    rows: list[dict[str, Any]] = [
        {"driver": d.name, "role": d.role, "transport": d.transport, "models": list(d.models),
         "simulated": d.name in simulated, "description": d.description}
        for d in sorted(DRIVERS.values(), key=lambda d: (d.role, d.name))]
    if args.json:
        print(json.dumps(rows))
        return 0
    table = compact_table()
    for col in ("driver", "role", "transport"):
        table.add_column(col, no_wrap=True)
    for col in ("models", "sim", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["driver"], r["role"], r["transport"], names(r["models"]), "yes" if r["simulated"] else "-",
                      r["description"])
    if fits(console, table):
        console.print(table)
        return 0
    for r in rows:  # narrow: a line per driver, its description indented
        console.print(Text(r["driver"], style="bold"), soft_wrap=True)
        print_wrapped(console, f"{r['role']} over {r['transport']}; models {names(r['models'])}; "
                               f"{'simulated in the virtual lab' if r['simulated'] else 'no simulator'}", indent=4)
        print_wrapped(console, r["description"], indent=4, style="dim")
    return 0


# ---- check -----------------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace, virtual_lab: LoadVirtualLab) -> int:
    config = load_config(args.config)

    async def run() -> list[InstrumentResult]:
        async with lab_addresses(config, args.attach, virtual_lab) as bound:
            return [await probe(pos.name, name, spec) for pos in bound.positions
                    for name, spec in pos.instruments.items()]

    results = asyncio.run(run())
    if args.json:
        print(json.dumps([r.as_dict() for r in results]))
    else:
        for r in results:
            _print_result(r)
    failed = [r for r in results if not r.ok]
    for r in failed:
        err_console.print(f"[bold magenta]ERROR[/] {r.position}/{r.name} ({r.driver} at {r.address}): {r.error}")
    if not results:
        err_console.print("no instruments configured")
    return 2 if failed else 0


def _print_result(r: InstrumentResult) -> None:
    status = "[bold green]OK[/]" if r.ok else "[bold magenta]ERROR[/]"
    console.print(f"{status} {r.position}/{r.name}: {r.driver} ({r.role}) at {r.address}")
    if r.identity:
        i = r.identity
        extra = "".join(f", {k} {v}" for k, v in (("serial", i.serial), ("firmware", i.firmware)) if v)
        console.print(f"    identity: {i.vendor} {i.model}{extra}")
    if r.reading is not None:
        console.print(f"    reading:  {_format_reading(r.reading)}")
    ratings = ", ".join(f"{k} {v:g}" for k, v in r.ratings.items()) or "none configured"
    console.print(f"    ratings:  {ratings}")


def _format_reading(reading: dict) -> str:
    def fmt(v):
        if v is None:
            return "null"
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} {fmt(v)}" for k, v in reading.items())


# ---- read ------------------------------------------------------------------------------------------
def _select(config: LabConfig, name: str, position: str | None) -> tuple[str, str]:
    """(position, instrument name) for NAME: an instrument name, else a role with one instrument."""
    positions = [p for p in config.positions if position in (None, p.name)]
    if position is not None and not positions:
        raise ConfigError(f"--position: no position {position!r}; configured: "
                          f"{', '.join(p.name for p in config.positions)}")
    by_name = [(p.name, name) for p in positions if name in p.instruments]
    if not by_name and name in READING_KEYS:
        by_name = [(p.name, n) for p in positions for n, i in p.instruments.items() if i.role == name]
    if len(by_name) == 1:
        return by_name[0]
    known = ", ".join(f"{p.name}/{n}" for p in positions for n in p.instruments)
    if not by_name:
        raise ConfigError(f"no instrument {name!r} in {', '.join(p.name for p in positions)}; configured: {known}")
    raise ConfigError(f"{name!r} is ambiguous ({', '.join('/'.join(x) for x in by_name)}); name one with --position "
                      "or use the instrument's name")


def cmd_read(args: argparse.Namespace, virtual_lab: LoadVirtualLab) -> int:
    config = load_config(args.config)
    position, name = _select(config, args.name, args.position)

    async def run() -> InstrumentResult:
        async with lab_addresses(config, args.attach, virtual_lab) as bound:
            pos = next(p for p in bound.positions if p.name == position)
            return await probe(position, name, pos.instruments[name])

    result = asyncio.run(run())
    if not result.ok:
        err_console.print(f"[bold magenta]ERROR[/] {position}/{name} ({result.driver} at {result.address}): "
                          f"{result.error}")
        return 2
    if args.json:
        print(json.dumps(result.reading))
    else:
        assert result.reading is not None  # probe() reads whenever it reports no error
        console.print(f"{position}/{name} ({result.driver}): {_format_reading(result.reading)}")
    return 0
