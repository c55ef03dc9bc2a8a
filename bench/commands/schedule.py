"""`bench schedule`: the composite schedule of a set of charging profiles, from the command line.

A contract other tools rely on (keep it stable):

    bench schedule --ocpp {1.6|2.0.1|2.1} --profiles PROFILES.json --start ISO8601 --duration SECONDS
                   [--connector N | --evse N] [--unit A|W] [--default-limit-a X] [--phases N] [--voltage V]
                   [--transaction-start ISO8601] [--plot OUT.png] [--json] [--config FILE]

- PROFILES.json: a JSON list of `{"connector": N, "profile": {...}}` (1.6) or `{"evse": N,
  "profile": {...}}` (2.0.1/2.1); `profile` is the ChargingProfile exactly as sent in
  SetChargingProfile (camelCase), in the order installed. They are installed as a compliant
  station would (same id or, in 1.6, same stackLevel and purpose replaces); a profile such a
  station must refuse is an error naming the entry, the profile and the rule (exit 2).
  2.x ChargingStationExternalConstraints come from an external system and are taken as given.
- `--json` prints one object shaped like the `chargingSchedule` of a GetCompositeSchedule
  answer: startSchedule, duration, chargingRateUnit, chargingSchedulePeriod [{startPeriod,
  limit, numberPhases}]. Periods where no profile applies carry the default limit:
  `--default-limit-a`, else the rated current of the first position's DUT in the config.
- Without `--json`: a table of the composite periods with the profiles that set each limit;
  `--plot` draws every profile's own schedule under the resulting composite.
- `--transaction-start`: a transaction runs from then on (1.6: its start; 2.x: when the EVSE was
  ready to deliver energy) on the connector/EVSE asked and on every one that has a TxProfile.
  Its id is the transactionId of those TxProfiles. Without it, TxProfiles do not apply.
- Phases, voltage and the number of connectors (for connector/EVSE 0, the sum over all) come
  from the options, else from the config when it is read, else 3 phases, 230 V and the highest
  connector id in the file.
Exit codes: 0 done, 2 bad input (file, profile or option).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.clock import iso_utc, parse_iso
from bench.commands import LoadVirtualLab
from bench.config import ConfigError, load_config
from bench.smart_charging import (
    VERSION_RULES,
    ActiveTransaction,
    CompositeSchedule,
    InstalledProfile,
    ProfileError,
    ProfileSpan,
    composite_schedule,
    make_store,
    profile_id,
    profile_spans,
    rules_for,
    validate_profile,
)

DEFAULT_CONFIG = Path("lab_config.yaml")
DEFAULT_PHASES = 3
DEFAULT_VOLTAGE_V = 230.0
BENCH_TRANSACTION_ID = {"1.6": 1, "2.0.1": "bench-tx", "2.1": "bench-tx"}  # when no TxProfile names one
console = Console(highlight=False)


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    p = subparsers.add_parser(
        "schedule", help="composite schedule of charging profiles (GetCompositeSchedule as a compliant charger)",
        description="Compute the composite schedule a compliant charging station reports for a list of "
                    "installed charging profiles (OCPP 1.6, 2.0.1, 2.1).")
    p.add_argument("--ocpp", required=True, choices=sorted(VERSION_RULES), help="OCPP version of the rules")
    p.add_argument("--profiles", required=True, type=Path, metavar="PROFILES.json",
                   help='JSON list of {"connector"|"evse": N, "profile": ChargingProfile}, in install order')
    p.add_argument("--start", required=True, metavar="ISO8601", help="window start (UTC if no offset)")
    p.add_argument("--duration", required=True, type=int, metavar="SECONDS", help="window length in seconds")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--connector", type=int, help="connector (1.6); 0 = the whole charge point (default 1)")
    where.add_argument("--evse", type=int, help="EVSE (2.0.1/2.1); 0 = the grid connection (default 1)")
    p.add_argument("--unit", choices=("A", "W"), default="A", help="chargingRateUnit of the result (default A)")
    p.add_argument("--default-limit-a", type=float, metavar="X",
                   help="limit where no profile applies (default: the DUT's rated current from the config)")
    p.add_argument("--phases", type=int, choices=(1, 2, 3), help="phases of the charger (default: config, else 3)")
    p.add_argument("--voltage", type=float, metavar="V", help="nominal voltage L-N (default: config, else 230)")
    p.add_argument("--transaction-start", metavar="ISO8601", help="a transaction runs from then on (see above)")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="draw the profiles and the composite")
    p.add_argument("--json", action="store_true", help="print the composite as one JSON ChargingSchedule")
    p.add_argument("--config", type=Path, help=f"lab config for the defaults (default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_schedule)


@dataclass(frozen=True)
class Station:
    default_limit_a: float
    phases: int
    voltage_v: float
    connectors: int | None  # None: the highest id in the profiles file


def cmd_schedule(args: argparse.Namespace) -> int:
    version = args.ocpp
    start = _time(args.start, "--start")
    if args.duration < 0:
        raise ConfigError(f"--duration: must be >= 0, not {args.duration}")
    tx_start = _time(args.transaction_start, "--transaction-start") if args.transaction_start else None
    target = args.evse if args.evse is not None else args.connector if args.connector is not None else 1
    if target < 0:
        raise ConfigError(f"--{'evse' if args.evse is not None else 'connector'}: must be >= 0, not {target}")
    entries = read_profiles(args.profiles, version)
    station = _station(args)
    connectors = max([station.connectors or 1, target] + [c for c, _ in entries])
    profiles, transactions = install(entries, version, args.profiles, tx_start, target, station.phases, connectors)
    kw: dict[str, Any] = dict(voltage_v=station.voltage_v, phases=station.phases, transactions=transactions,
                              unit=args.unit, ocpp_version=version)
    schedule = composite_schedule(profiles, target, start, args.duration, default_limit_a=station.default_limit_a,
                                  connectors=connectors, **kw)
    spans = profile_spans(profiles, target, start, args.duration, **kw)
    if args.plot:
        plot(schedule, spans, args.plot, target, version)
    if args.json:
        print(json.dumps(schedule.to_ocpp()))
    else:
        _print_table(schedule, spans, target, version, station, transactions)
        if args.plot:
            console.print(f"plot: {args.plot}")
    return 0


def _time(text: str, option: str) -> datetime:
    try:
        return parse_iso(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: {text!r} is not an ISO 8601 date-time (e.g. 2024-01-01T12:00:00Z)") from None


def _station(args: argparse.Namespace) -> Station:
    """Defaults from the options, then the config (read when the default limit or --config asks for it)."""
    phases, voltage, connectors = args.phases, args.voltage, None
    default = args.default_limit_a
    if default is None or args.config is not None:
        path = args.config or DEFAULT_CONFIG
        if not path.exists() and default is None:
            raise ConfigError(f"{path}: not found; give --default-limit-a or --config FILE for the default limit")
        dut = load_config(path).positions[0].dut
        default = dut.rated_current_a if default is None else default
        phases = phases if phases is not None else dut.phases
        voltage = voltage if voltage is not None else dut.nominal_voltage_v
        connectors = dut.connectors
    if default < 0 or not math.isfinite(default):
        raise ConfigError(f"--default-limit-a: must be a number >= 0, not {default}")
    if voltage is not None and voltage <= 0:
        raise ConfigError(f"--voltage: must be > 0, not {voltage}")
    return Station(default, phases or DEFAULT_PHASES, voltage or DEFAULT_VOLTAGE_V, connectors)


def read_profiles(path: Path, version: str) -> list[tuple[int, dict]]:
    """PROFILES.json -> [(connector or EVSE id, wire profile)], structure checked entry by entry."""
    key = "connector" if version == "1.6" else "evse"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ConfigError(f'{path}: must be a JSON list of {{"{key}": N, "profile": {{...}}}}')
    out = []
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or set(entry) != {key, "profile"}:
            raise ConfigError(f'{where}: must be {{"{key}": N, "profile": {{...}}}} (OCPP {version})')
        if not isinstance(entry[key], int) or isinstance(entry[key], bool) or entry[key] < 0:
            raise ConfigError(f"{where}: {key} must be an integer >= 0, not {entry[key]!r}")
        if not isinstance(entry["profile"], dict):
            raise ConfigError(f"{where}: profile must be a ChargingProfile object")
        out.append((entry[key], entry["profile"]))
    return out


def install(entries: list[tuple[int, dict]], version: str, path: Path, tx_start: datetime | None, target: int,
            phases: int, connectors: int) -> tuple[list[InstalledProfile], dict[int, ActiveTransaction]]:
    """The profiles a compliant station holds after these SetChargingProfile requests, and the
    transactions that run (from --transaction-start)."""
    rules = rules_for(version)
    tx_ids: dict[int, Any] = {}
    for connector, profile in entries:
        if isinstance(profile, dict) and profile.get("chargingProfilePurpose") == rules.tx:
            tx_ids.setdefault(connector, profile.get("transactionId", BENCH_TRANSACTION_ID[version]))
    if tx_start is not None and target > 0:
        tx_ids.setdefault(target, BENCH_TRANSACTION_ID[version])
    store = make_store(version) if version == "1.6" else make_store(version, evses=connectors, supply_phases=phases)
    for i, (connector, profile) in enumerate(entries):
        where = f"{path}: entry {i}"
        try:
            validate_profile(profile, connector, version)
        except ProfileError as err:
            raise ConfigError(f"{where}: {err}") from None
        active = tx_ids.get(connector) if tx_start is not None else None
        if profile["chargingProfilePurpose"] == rules.external_constraints:
            ok, why = store.install_external(connector, profile)  # type: ignore[union-attr]  # 2.x store
        else:
            ok, why = store.install(connector, profile, active_transaction_id=active)
        if not ok:
            hint = "" if tx_start is not None or "transaction" not in why else " (give --transaction-start)"
            raise ConfigError(f"{where}: refused by a compliant OCPP {version} station: {why}{hint}")
    transactions = {c: ActiveTransaction(tx_start, t) for c, t in tx_ids.items()} if tx_start is not None else {}
    return list(store.profiles), transactions


# ---- output ---------------------------------------------------------------------------

def _name(p: InstalledProfile, version: str) -> str:
    rules = rules_for(version)
    where = "EVSE" if rules.schedule_is_list else "connector"
    return (f"id {profile_id(p.profile, version)} {p.profile['chargingProfilePurpose']} "
            f"stack {p.profile['stackLevel']} ({where} {p.connector_id})")


def setters(schedule: CompositeSchedule, spans: list[ProfileSpan], target: int, version: str) -> list[str]:
    """For each composite period, why it is what it is: the profiles whose own limit equals it
    at its start, else the sum over the connectors (for 0) or the default limit."""
    out = []
    for period in schedule.periods:
        t = period.start_s + 0.5 if schedule.duration_s else 0.0
        live = [s for s in spans if s.start_s <= t < s.end_s]
        names = [_name(s.profile, version) for s in live
                 if math.isclose(s.limit, period.limit, rel_tol=1e-9, abs_tol=1e-6)]
        if names:
            out.append(", ".join(dict.fromkeys(names)))
        elif target == 0:
            out.append("sum of the connectors (default where none applies)")
        else:
            out.append("default limit (no profile applies)")
    return out


def _print_table(schedule: CompositeSchedule, spans: list[ProfileSpan], target: int, version: str,
                 station: Station, transactions: dict[int, ActiveTransaction]) -> None:
    where = "EVSE" if rules_for(version).schedule_is_list else "connector"
    console.print(f"OCPP {version} composite schedule for {where} {target}: {iso_utc(schedule.start)} "
                  f"+ {schedule.duration_s} s, unit {schedule.unit}")
    console.print(f"default limit {station.default_limit_a:g} A, {station.phases} phases, {station.voltage_v:g} V"
                  + (f"; transaction on {where} {', '.join(map(str, sorted(transactions)))}" if transactions else ""))
    table = Table()
    for col in ("from s", "from (UTC)", f"limit {schedule.unit}", "phases", "set by"):
        table.add_column(col, overflow="fold")
    for period, who in zip(schedule.periods, setters(schedule, spans, target, version)):
        limit = math.floor(period.limit * 10 + 1e-6) / 10  # as reported
        if schedule.unit == "W":
            limit_text = f"{limit:g} ({period.limit / (station.voltage_v * period.number_phases):.1f} A/phase)"
        else:
            limit_text = f"{limit:g}"
        table.add_row(str(period.start_s), iso_utc(schedule.start + timedelta(seconds=period.start_s)),
                      limit_text, str(period.number_phases), who)
    console.print(table)


def plot(schedule: CompositeSchedule, spans: list[ProfileSpan], out: Path, target: int, version: str) -> None:
    """Each profile's own schedule (thin, one row of the legend each) under the composite (bold)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    end = max(schedule.duration_s, 1)
    fig = Figure(figsize=(10, 5.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    by_profile: dict[int, list[ProfileSpan]] = {}
    for span in spans:
        by_profile.setdefault(id(span.profile), []).append(span)
    finite = [s.limit for s in spans if not math.isinf(s.limit)] + [p.limit for p in schedule.periods]
    top = max(finite) * 1.15 if finite and max(finite) > 0 else 1.0
    for k, group in enumerate(by_profile.values()):
        label = _name(group[0].profile, version)
        offset = (k + 1) * top * 0.004  # keep coinciding lines apart
        for j, s in enumerate(group):
            y = (top if math.isinf(s.limit) else s.limit) + offset
            ax.plot([s.start_s, min(s.end_s, end)], [y, y], lw=1.6, color=f"C{k % 10}", alpha=0.8,
                    label=label if j == 0 else None)
    xs, ys = [], []
    for i, p in enumerate(schedule.periods):
        nxt = schedule.periods[i + 1].start_s if i + 1 < len(schedule.periods) else end
        xs += [p.start_s, nxt]
        ys += [p.limit, p.limit]
    ax.plot(xs, ys, color="black", lw=3.0, label="composite", zorder=5)
    where = "EVSE" if rules_for(version).schedule_is_list else "connector"
    ax.set_title(f"OCPP {version} composite for {where} {target} from {iso_utc(schedule.start)}")
    ax.set_xlabel("seconds from the window start")
    ax.set_ylabel(f"limit ({'A per phase' if schedule.unit == 'A' else 'W'})")
    ax.set_xlim(0, end)
    ax.set_ylim(0, top)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as exc:
        raise ConfigError(f"--plot: cannot write {out}: {exc.strerror or exc}") from None
