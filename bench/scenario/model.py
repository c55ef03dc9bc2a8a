"""Scenario files (YAML) -> typed, validated scenarios.

A scenario is a list of steps and a list of checks:

    name: txprofile_step_down
    description: ...
    tags: [smart_charging]
    ocpp_ids: [TC_057]
    steps:
      - plug_in
      - remote_start: {id_tag: TAG-ACCEPTED}
      - set_profile: {purpose: TxProfile, limit_a: 10}
      - hold: {seconds: 8}
    checks:
      - current_follows_limit
      - pwm_matches_limit

Each step or check is a bare name or a one-key mapping name -> arguments.
`repeat: {times: N, steps: [...]}` unrolls its steps N times (a soak's sessions).
A scenario that runs for hours says `long: true`: it runs when named, or with
`--long`, never as part of a folder by surprise. `sampling_rate_hz` sets the
bench's sampling rate while the scenario runs (default: bench.sampling_rate_hz).
Validation happens for every file of the suite before any instrument is touched: each
file is read by bench/yaml_input.py (size, encoding, duplicate keys, bounded aliases, finite
numbers) and every step's arguments are validated strictly (a bool is not a number). A step
duration (an argument named `seconds` or ending in `_s`) is at most MAX_STEP_S, 7 days: the
longest scenario of the library holds for 24 hours. Once the config is known too,
`check_fits()` holds the steps against the DUT's rating and the instruments' ratings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.capabilities import FEATURES
from bench.checks.declare import CheckParams
from bench.config import LabConfig, PositionConfig
from bench.yaml_input import ConfigError, bad_input, errors_by_key, read_mapping, validate
from instruments.iec61851 import MAX_AC_CURRENT_A


OCPP_VERSIONS: tuple[Literal["1.6", "2.0.1", "2.1"], ...] = ("1.6", "2.0.1", "2.1")
NEEDS: tuple[str, ...] = (*FEATURES, "ev_emulator", "tag_presenter")


@dataclass(frozen=True)
class StepSpec:
    name: str
    args: BaseModel
    key: str = ""  # where the step is written in its file, e.g. steps[3] or steps[2].repeat.steps[0]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    args: CheckParams  # the check's parameter model (bench/checks/declare.py), validated


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    tags: tuple[str, ...]
    ocpp_ids: tuple[str, ...]
    steps: tuple[StepSpec, ...]
    checks: tuple[CheckSpec, ...]
    block: str = ""                                  # OCPP functional block (default: the folder name)
    ocpp_versions: tuple[str, ...] = OCPP_VERSIONS   # versions the scenario applies to; others: SKIPPED
    # optional DUT features (bench/capabilities.py) and bench resources (ev_emulator, tag_presenter)
    # it needs: its own `needs:` plus what its steps need (library.STEP_NEEDS)
    needs: tuple[str, ...] = ()
    long: bool = False                               # hours long: only when named or with --long
    sampling_rate_hz: float | None = None            # the bench's sampling rate meanwhile (None: configured)


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = []
    ocpp_ids: list[str] = []
    block: str | None = None
    ocpp_versions: list[Literal["1.6", "2.0.1", "2.1"]] = Field(list(OCPP_VERSIONS), min_length=1)
    needs: list[str] = []
    long: bool = False
    sampling_rate_hz: Annotated[float, Field(gt=0, le=100)] | None = None
    steps: list[Any]
    checks: list[Any] = []


MAX_REPEAT = 10_000
MAX_STEP_S = 7 * 24 * 3600  # the longest a step may wait, hold or look ahead (the library's longest: 24 h)


@dataclass
class _Where:
    path: Path
    key: str = ""
    notes: list[str] = field(default_factory=list)
    scenario: str = ""  # the scenario's name, once its header is read

    def error(self, key: str, reason: str) -> None:
        self.notes.append(f"{self.path}: {key}: {reason}")


def _split(entry: Any, where: _Where, key: str) -> tuple[str, dict[str, Any]] | None:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        name, args = next(iter(entry.items()))
        if args is None:
            args = {}
        if not isinstance(args, dict):
            where.error(f"{key}.{name}", "arguments must be a mapping")
            return None
        return str(name), args
    where.error(key, "must be a name or a one-key mapping name: {arguments}")
    return None


def load_scenario(path: Path) -> Scenario:
    from bench.scenario.library import STEP_NEEDS

    where = _Where(Path(path))
    data = read_mapping(path, "scenario", "with 'name' and 'steps'")
    try:
        header = validate(_Header, data)
    except ValidationError as exc:
        raise bad_input(path, exc, data) from None
    where.scenario = header.name
    for i, need in enumerate(header.needs):
        if need not in NEEDS:
            where.error(f"needs[{i}]", f"unknown need {need!r}; known: {', '.join(NEEDS)}")
    steps = _parse_steps(header.steps, where, "steps")
    checks = [check for i, entry in enumerate(header.checks)
              if (check := _parse_check(entry, where, f"checks[{i}]")) is not None]
    if where.notes:
        raise ConfigError("\n".join(where.notes))
    needs = set(header.needs).union(*(STEP_NEEDS.get(step.name, frozenset()) for step in steps))
    return Scenario(header.name, str(path), header.description, tuple(header.tags), tuple(header.ocpp_ids),
                    tuple(steps), tuple(checks), block=header.block or Path(path).parent.name,
                    ocpp_versions=tuple(header.ocpp_versions), needs=tuple(sorted(needs)),
                    long=header.long, sampling_rate_hz=header.sampling_rate_hz)


def parse_step(name: str, args: dict[str, Any], where: str) -> StepSpec:
    """One library step written in code (a pytest test), validated as in a scenario file;
    `where` names the place in the error (e.g. the test)."""
    w = _Where(Path(where))
    steps = _parse_steps([{name: args}], w, "step")
    if w.notes or not steps:
        raise ConfigError("\n".join(w.notes) or f"{where}: step {name!r}: not valid")
    return steps[0]


def parse_check(name: str, args: dict[str, Any], where: str) -> CheckSpec:
    """One check asked for in code (a pytest test), validated as in a scenario file."""
    w = _Where(Path(where))
    check = _parse_check({name: args}, w, "check")
    if w.notes or check is None:
        raise ConfigError("\n".join(w.notes) or f"{where}: check {name!r}: not valid")
    return check


def _parse_check(entry: Any, where: _Where, key: str) -> CheckSpec | None:
    """A check and its parameters, validated by the check's own model (bench/checks/); errors
    name the file, the key (checks[i].<check>.<parameter>) and the scenario."""
    from bench.checks.library import CHECKS

    parsed = _split(entry, where, key)
    if parsed is None:
        return None
    name, args = parsed
    in_scenario = f" (scenario {where.scenario!r})" if where.scenario else ""
    if name not in CHECKS:
        where.error(key, f"unknown check {name!r}{in_scenario}; known: {', '.join(sorted(CHECKS))}")
        return None
    model = CHECKS[name].params
    unknown = set(args) - set(model.model_fields)
    if unknown:
        known = ", ".join(model.model_fields) or "none"
        where.error(f"{key}.{name}", f"unknown argument(s) {', '.join(sorted(unknown))}{in_scenario}; "
                                     f"{name} takes: {known}")
        return None
    try:
        return CheckSpec(name, validate(model, args))
    except ValidationError as exc:
        for bad_key, reason in errors_by_key(exc, args, f"{key}.{name}"):
            where.error(bad_key, reason + in_scenario)
        return None


def _parse_steps(entries: Any, where: _Where, key: str) -> list[StepSpec]:
    """Validated steps, `repeat` blocks unrolled; errors go to `where` with their key path."""
    from bench.scenario.library import STEP_ARGS

    if not isinstance(entries, list):
        where.error(key, "must be a list of steps")
        return []
    steps: list[StepSpec] = []
    for i, entry in enumerate(entries):
        parsed = _split(entry, where, f"{key}[{i}]")
        if parsed is None:
            continue
        name, args = parsed
        if name == "repeat":
            steps.extend(_repeat(args, where, f"{key}[{i}].repeat"))
            continue
        if name not in STEP_ARGS:
            where.error(f"{key}[{i}]", f"unknown step {name!r}; known: {', '.join(sorted(STEP_ARGS))}, repeat")
            continue
        try:
            step = StepSpec(name, validate(STEP_ARGS[name], args), f"{key}[{i}]")
        except ValidationError as exc:
            for bad_key, reason in errors_by_key(exc, args, f"{key}[{i}].{name}"):
                where.error(bad_key, reason)
            continue
        if _durations_within_bound(step, where):
            steps.append(step)
    return steps


def _durations_within_bound(step: StepSpec, where: _Where) -> bool:
    """Every duration of a step (by the units-in-names rule: `seconds`, `*_s`) within MAX_STEP_S:
    a hold of 1e9 s would keep the bench busy for 31 years, and a far offset overflows a date."""
    ok = True
    for arg, value in step.args:
        is_duration = arg == "seconds" or arg.endswith("_s")
        if is_duration and isinstance(value, int | float) and abs(value) > MAX_STEP_S:
            where.error(f"{step.key}.{step.name}.{arg}",
                        f"{value:g} s is beyond the longest a step may take, {MAX_STEP_S} s (7 days)")
            ok = False
    return ok


def _repeat(args: dict[str, Any], where: _Where, key: str) -> list[StepSpec]:
    unknown = set(args) - {"times", "steps"}
    if unknown:
        where.error(key, f"unknown key(s) {', '.join(sorted(unknown))}; a repeat has times and steps")
        return []
    times = args.get("times")
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_REPEAT:
        where.error(f"{key}.times", f"must be a whole number from 1 to {MAX_REPEAT}, not {times!r}")
        return []
    return _parse_steps(args.get("steps"), where, f"{key}.steps") * times


def check_fits(scenarios: list[Scenario], config: LabConfig, config_path: Path | str) -> None:
    """Hold every step's values against what the config says the bench has, once both are
    known and before anything starts: a charging limit no AC charger can offer (above IEC
    61851-1's 80 A) and an EV draw above what an AC load may be commanded (the bench would
    refuse it mid-run). A limit above this DUT's rating is no input error: that scenario is
    SKIPPED on it (`above_rating`), the rest of the library runs."""
    problems = [f"{scenario.file}: {step.key}.{step.name}.{arg}: {why}"
                for scenario in scenarios for step in scenario.steps
                for i, pos in enumerate(config.positions)
                for arg, why in _beyond_position(step, pos, f"{config_path}: positions[{i}]")]
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))  # a repeat block names its step once


def above_rating(scenario: Scenario, pos: PositionConfig) -> str | None:
    """Why `scenario` cannot be judged on this position's DUT: a charging limit above its rated
    current (the verdicts would judge a limit the charger may never offer), or None."""
    for step in scenario.steps:
        for arg, per_phase_a, shown in _per_phase_limits(step, pos):
            if per_phase_a > pos.dut.rated_current_a + 1e-9:
                return (f"step {step.key}.{step.name}.{arg} sets {shown}, above this DUT's rated current "
                        f"(dut.rated_current_a: {pos.dut.rated_current_a:g} A)")
    return None


def _per_phase_limits(step: StepSpec, pos: PositionConfig) -> Iterator[tuple[str, float, str]]:
    """(argument, amperes per phase, as written) of every charging limit the step sends."""
    dut = pos.dut
    for arg, limit, unit, phases in _charging_limits(step.args):
        used = min(dut.phases, phases or 3)  # the phases in use (bench/smart_charging.py)
        per_phase_a = limit if unit == "A" else limit / (dut.nominal_voltage_v * used)
        shown = f"{limit:g} A" if unit == "A" else f"{limit:g} W ({per_phase_a:.1f} A per phase on {used})"
        yield arg, per_phase_a, shown


def _beyond_position(step: StepSpec, pos: PositionConfig, where: str) -> Iterator[tuple[str, str]]:
    dut = pos.dut
    from bench.scenario.steps_metering import LoadPointArgs, load_point_current_a

    if isinstance(step.args, LoadPointArgs):  # a load point named by a meter rating the config must give
        try:
            load_point_current_a(pos, step.args.point)
        except ValueError as exc:
            yield "point", f"{exc} ({where}.dut)"
    for arg, per_phase_a, shown in _per_phase_limits(step, pos):
        if per_phase_a > MAX_AC_CURRENT_A + 1e-9:
            yield arg, (f"{shown} is above what any AC charger can offer: IEC 61851-1 Annex A ends at "
                        f"{MAX_AC_CURRENT_A:g} A")
    for arg in ("max_current_a", "other_phases_max_a") if step.name == "set_ev" else ():
        wanted = getattr(step.args, arg, None)
        if wanted is None:
            continue
        drawn = min(wanted, dut.rated_current_a)  # the EV never draws more than the charger offers
        for name, load in pos.instruments_with_role("ac_load").items():
            most = load.max_current_a()
            if most is not None and drawn > most:
                yield arg, (f"{drawn:g} A would be drawn through {name} of {pos.name}, which may be commanded "
                            f"{most:g} A at most ({where}.instruments.{name})")


def _charging_limits(args: BaseModel) -> Iterator[tuple[str, float, str, int | None]]:
    """(argument, limit, unit, numberPhases) of every charging limit a step sends: the shorthand
    `limit` / `periods` of set_profile and each period of a full wire `profile` (1.6 or 2.x)."""
    unit, phases = getattr(args, "unit", None) or "A", getattr(args, "number_phases", None)
    if isinstance(limit := getattr(args, "limit", None), int | float):
        yield "limit", float(limit), unit, phases
    for j, period in enumerate(getattr(args, "periods", None) or []):
        yield f"periods[{j}]", float(period[1]), unit, phases
    profile = getattr(args, "profile", None)
    schedules = profile.get("chargingSchedule") if isinstance(profile, dict) else None
    for k, schedule in (enumerate(schedules) if isinstance(schedules, list) else [(None, schedules)]):
        if not isinstance(schedule, dict) or not isinstance(schedule.get("chargingSchedulePeriod"), list):
            continue
        at = "profile.chargingSchedule" + (f"[{k}]" if k is not None else "")
        wire_unit = schedule.get("chargingRateUnit")
        for j, period in enumerate(schedule["chargingSchedulePeriod"]):
            limit = _number(period.get("limit")) if isinstance(period, dict) else None
            if limit is not None and wire_unit in ("A", "W"):
                wire_phases = _number(period.get("numberPhases"))
                yield (f"{at}.chargingSchedulePeriod[{j}].limit", limit, wire_unit,
                       int(wire_phases) if wire_phases is not None else None)


def _number(value: Any) -> float | None:
    """A wire profile is free-form: a number where one is expected, else None (not judged here)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def discover(paths: list[Path]) -> list[Path]:
    """Scenario files under the given files/folders, in a stable order."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.yaml")))
        elif p.exists():
            found.append(p)
        else:
            raise ConfigError(f"{p}: no such scenario file or folder")
    return found


def load_suite(paths: list[Path]) -> list[Scenario]:
    """Load and validate every scenario; all errors of all files are reported together."""
    scenarios, errors = [], []
    for path in discover(paths):
        try:
            scenarios.append(load_scenario(path))
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    files_of: dict[str, list[str]] = {}
    for s in scenarios:
        files_of.setdefault(s.name, []).append(s.file)
    dupes = [f"{files[1]}: name: {name!r} is already the name of {files[0]}"
             for name, files in files_of.items() if len(files) > 1]
    if dupes:
        raise ConfigError("duplicate scenario names:\n" + "\n".join(dupes))
    if not scenarios:
        raise ConfigError(f"no scenario files (*.yaml) found in {', '.join(map(str, paths))}")
    return scenarios


def select(scenarios: list[Scenario], tags: list[str] | None = None,
           keywords: list[str] | None = None, *, named: list[Path] | None = None,
           include_long: bool = False) -> list[Scenario]:
    """The scenarios that carry any of `tags` (a block name counts as a tag) and whose name
    contains any of `keywords`; no tags / no keywords = no filter on that side. A `long`
    scenario is left out unless `include_long` or its file is among the `named` files."""
    named_files = {Path(p).resolve() for p in named or [] if Path(p).is_file()}
    chosen = [s for s in scenarios if include_long or not s.long or Path(s.file).resolve() in named_files]
    if tags:
        wanted = set(tags)
        chosen = [s for s in chosen if wanted & ({s.block, *s.tags})]
    if keywords:
        chosen = [s for s in chosen if any(k in s.name for k in keywords)]
    if not chosen:
        known = sorted({t for s in scenarios for t in (s.block, *s.tags)})
        long_note = "" if include_long or not any(s.long for s in scenarios) else \
            " (long scenarios run only when named or with --long)"
        raise ConfigError(f"no scenario matches --tags {','.join(tags or []) or '(any)'} "
                          f"-k {','.join(keywords or []) or '(any)'}; tags and blocks: {', '.join(known)}{long_note}")
    return chosen


def split_csv(values: list[str] | None) -> list[str]:
    """`--tags a,b --tags c` -> [a, b, c]."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
