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
Validation happens for every file of the suite before any instrument is touched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.capabilities import FEATURES
from bench.config import ConfigError


OCPP_VERSIONS: tuple[Literal["1.6", "2.0.1", "2.1"], ...] = ("1.6", "2.0.1", "2.1")
NEEDS: tuple[str, ...] = (*FEATURES, "ev_emulator", "tag_presenter")


@dataclass(frozen=True)
class StepSpec:
    name: str
    args: BaseModel


@dataclass(frozen=True)
class CheckSpec:
    name: str
    args: dict[str, Any]


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
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    tags: list[str] = []
    ocpp_ids: list[str] = []
    block: str | None = None
    ocpp_versions: list[Literal["1.6", "2.0.1", "2.1"]] = list(OCPP_VERSIONS)
    needs: list[str] = []
    long: bool = False
    sampling_rate_hz: Annotated[float, Field(gt=0, le=100)] | None = None
    steps: list[Any]
    checks: list[Any] = []


MAX_REPEAT = 10_000


@dataclass
class _Where:
    path: Path
    key: str = ""
    notes: list[str] = field(default_factory=list)

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
    from bench.verify import CHECKS

    where = _Where(Path(path))
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(
            f"{path}: {'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}" for e in exc.errors())) from None
    for i, need in enumerate(header.needs):
        if need not in NEEDS:
            where.error(f"needs[{i}]", f"unknown need {need!r}; known: {', '.join(NEEDS)}")
    steps = _parse_steps(header.steps, where, "steps")
    checks = []
    for i, entry in enumerate(header.checks):
        parsed = _split(entry, where, f"checks[{i}]")
        if parsed is None:
            continue
        name, args = parsed
        if name not in CHECKS:
            where.error(f"checks[{i}]", f"unknown check {name!r}; known: {', '.join(sorted(CHECKS))}")
            continue
        unknown = set(args) - set(CHECKS[name].params)
        if unknown:
            where.error(f"checks[{i}].{name}", f"unknown argument(s) {', '.join(sorted(unknown))}")
            continue
        checks.append(CheckSpec(name, args))
    if where.notes:
        raise ConfigError("\n".join(where.notes))
    needs = set(header.needs).union(*(STEP_NEEDS.get(step.name, frozenset()) for step in steps))
    return Scenario(header.name, str(path), header.description, tuple(header.tags), tuple(header.ocpp_ids),
                    tuple(steps), tuple(checks), block=header.block or Path(path).parent.name,
                    ocpp_versions=tuple(header.ocpp_versions), needs=tuple(sorted(needs)),
                    long=header.long, sampling_rate_hz=header.sampling_rate_hz)


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
            steps.append(StepSpec(name, STEP_ARGS[name].model_validate(args)))
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in e["loc"])
                where.error(f"{key}[{i}].{name}{'.' + loc if loc else ''}",
                            "unknown key" if e["type"] == "extra_forbidden" else e["msg"])
    return steps


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
    names = [s.name for s in scenarios]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"duplicate scenario names: {', '.join(sorted(dupes))}")
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
