"""How a check is declared: its typed parameters and the measurements it will produce.

A check is declared once, in its family's module (`bench/checks/<family>.py`, `CHECKS`):

    CHECKS = {"pwm_matches_limit": CheckDef(
        pwm_matches_limit, PwmParams, physical=True,
        measures=(Measures("duty_error_pct", "%", "±{tolerance_pct:g} %", RULE_PWM),))}

- `params`: a pydantic model of what a scenario may set (`checks: - pwm_matches_limit:
  {tolerance_pct: 1}`), validated strictly when the scenario file loads, like a step's arguments.
  A parameter whose default comes from lab_config.yaml is `None` in the model and names its
  config key in the model's `DEFAULTS`; `resolved()` fills those in from the position's config.
- `measures`: the measurements the check will take, before it runs (the test plan,
  `bench list --plan`): a name pattern (`{phase}`, `{n}` stand for what the run decides), the
  unit, the limit written with the check's parameters (and config keys: `{tolerances.<key>}`),
  and the rule the limit enforces.
"""
from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from bench.config import PositionConfig, TolerancesConfig
from bench.record import CheckRecord

if TYPE_CHECKING:  # base.py imports this module
    from bench.checks.base import CheckInputs

# a tolerance, a time, a count: a finite number not below zero (a bool is not a number)
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]

P = TypeVar("P", bound="CheckParams")
# a measurement's limit may name config keys directly: {tolerances.<key>}, {dut.<key>}, {ev.<key>}
CONFIG_PARTS = ("tolerances", "dut", "ev")


@dataclass(frozen=True)
class Default:
    """Where a parameter's value comes from when the scenario does not set it: a config key
    (`source`, as a reader finds it in lab_config.yaml) read by `value`."""

    source: str
    value: Callable[[PositionConfig, TolerancesConfig], float]


def from_config(key: str) -> Default:
    """The default of a parameter that is one config key: `tolerances.<name>`, `dut.<name>`, `ev.<name>`."""
    part, name = key.split(".", 1)

    def value(position: PositionConfig, tolerances: TolerancesConfig) -> float:
        holder = tolerances if part == "tolerances" else getattr(position, part)
        return float(getattr(holder, name))
    return Default(key, value)


class CheckParams(BaseModel):
    """A check's parameters, as a scenario sets them. Subclasses add fields; those defaulting to
    a config value are `None` here and named in DEFAULTS."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    DEFAULTS: ClassVar[Mapping[str, Default]] = {}

    @classmethod
    def of(cls: type[P], params: Mapping[str, Any] | CheckParams) -> P:
        """The check's parameters from what its inputs carry: the model validated when the scenario
        loaded, or a mapping written in code (a test's shared settings: only this check's keys)."""
        if isinstance(params, cls):
            return params
        if isinstance(params, CheckParams):
            raise TypeError(f"{type(params).__name__} given where {cls.__name__} is expected")
        return cls.model_validate({k: v for k, v in params.items() if k in cls.model_fields})

    def resolved(self: P, position: PositionConfig, tolerances: TolerancesConfig) -> P:
        """A copy with every parameter the scenario left unset taken from the config."""
        filled = {name: d.value(position, tolerances) for name, d in self.DEFAULTS.items()
                  if getattr(self, name) is None}
        return self.model_copy(update=filled)

    def source(self, name: str) -> str:
        """Where a parameter's value comes from: the scenario, the config key, or the check's default
        (with what it cites: the field's description)."""
        if name in self.model_fields_set:
            return f"{name} (scenario)"
        if name in self.DEFAULTS:
            return f"{self.DEFAULTS[name].source} (config)"
        why = type(self).model_fields[name].description
        return f"{name} (default{': ' + why if why else ''})"


class NoParams(CheckParams):
    pass


def setting(value: float | None) -> float:
    """A parameter after `resolved()`: always set (a None here is a bug in the declaration)."""
    if value is None:
        raise RuntimeError("a check parameter was used before the config resolved it")
    return value


@dataclass(frozen=True)
class Measures:
    """One measurement a check will take: its name (a pattern: `{phase}` a phase number, `{n}` a
    load point, transaction or report number), unit, limit written with the check's parameters
    (`{tolerance_pct:g}`; a limit the run decides is said in words) and the rule it enforces."""

    name: str
    unit: str
    limit: str
    rule: str

    def _fields(self) -> list[str]:
        return [field for _, field, _, _ in string.Formatter().parse(self.limit) if field]

    def parameters(self) -> list[str]:
        """The check parameters the limit is written with."""
        return [f for f in self._fields() if f.split(".")[0] not in CONFIG_PARTS]

    def config_keys(self) -> list[str]:
        """The config keys the limit is written with directly (`{tolerances.ev_underdraw_a:g}`)."""
        return [f for f in self._fields() if f.split(".")[0] in CONFIG_PARTS]

    def limit_text(self, params: CheckParams, position: PositionConfig, tolerances: TolerancesConfig) -> str:
        """The limit with the values of the parameters (resolved: config values filled in) and config keys."""
        values: dict[str, Any] = {name: getattr(params, name) for name in self.parameters()}
        # a parameter still None is a value the run decides (e.g. the sampling period): shown by name
        values = {k: _Unset(k) if v is None else v for k, v in values.items()}
        return self.limit.format_map({**values, "tolerances": tolerances, "dut": position.dut, "ev": position.ev})


class _Unset:
    """A parameter the run decides, shown by name in a limit."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __format__(self, spec: str) -> str:
        return self.name


@dataclass(frozen=True)
class CheckDef:
    """A check: the function judging it, its parameters' model, the measurements it takes."""

    run: Callable[[CheckInputs], CheckRecord]
    params: type[CheckParams]
    measures: tuple[Measures, ...]
    physical: bool = True  # judges measured quantities: SKIPPED when the position has no instruments
    summary: str = ""      # what it judges, in a line (the test plan)
