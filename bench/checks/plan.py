"""The test plan: what a scenario will measure and against which limits, before it runs.

Every check declares its measurements (bench/checks/declare.py); with the scenario's parameters
and a lab config they become rows with the limits filled in and where each value comes from
(the scenario, a config key, the check's default). `bench list --plan` prints them; a report
can print the same rows next to what was measured.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from bench.checks.base import RULE_OCPP_J, RULE_STEPS
from bench.config import LabConfig, PositionConfig, TolerancesConfig
from bench.scenario.model import Scenario


@dataclass(frozen=True)
class PlannedMeasurement:
    """One measurement a check of the scenario will take on one position."""

    scenario: str
    position: str
    check: str
    measurement: str          # name pattern: {phase} a phase, {n} a load point / transaction / report
    unit: str
    limit: str                # with this position's values filled in
    sources: tuple[str, ...]  # where each value of the limit comes from (scenario, config key, default)
    rule: str                 # what the limit enforces
    physical: bool            # needs the instruments: not measured on a protocol-only position

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> PlannedMeasurement:
        """A row of a scenario's `plan` in record.json."""
        return cls(str(row["scenario"]), str(row["position"]), str(row["check"]), str(row["measurement"]),
                   str(row["unit"]), str(row["limit"]), tuple(row["sources"]), str(row["rule"]), bool(row["physical"]))

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        # {phase} stands for a phase number, any other {...} for a word (a point, a transaction, a probe)
        text = re.sub(r"\\\{(\w+)\\\}", lambda m: r"\d+" if m.group(1) == "phase" else r"\w+?",
                      re.escape(self.measurement))
        return re.compile(f"^{text}$")

    def matches(self, name: str) -> bool:
        """Whether a measurement taken (e.g. `excess_over_limit_l2_a`) is this planned one."""
        return bool(self._pattern.match(name))


def plan_for(scenario: Scenario, config: LabConfig) -> list[PlannedMeasurement]:
    """The measurements `scenario` will take on every position of `config`, in check order."""
    return [row for pos in config.positions for row in plan_on(scenario, pos, config.tolerances)]


def plan_on(scenario: Scenario, pos: PositionConfig, tolerances: TolerancesConfig) -> list[PlannedMeasurement]:
    """The measurements `scenario` will take on one position (the run records them: ScenarioRecord.plan)."""
    from bench.checks.library import CHECKS

    # every scenario's own two checks (bench/scenario/runner.py): the steps' answers and the protocol
    rows = [PlannedMeasurement(scenario.name, pos.name, "step_expectations", "dut_answers_not_as_required", "count",
                               "0", (), RULE_STEPS, False),
            PlannedMeasurement(scenario.name, pos.name, "protocol_conformance", "protocol_findings", "count",
                               "0 (bench.verdict_mode: compatibility reports them, not judged)", (), RULE_OCPP_J,
                               False)]
    for spec in scenario.checks:
        check = CHECKS[spec.name]
        params = spec.args.resolved(pos, tolerances)
        for m in check.measures:
            sources = [spec.args.source(p) for p in m.parameters()] + [f"{k} (config)" for k in m.config_keys()]
            rows.append(PlannedMeasurement(scenario.name, pos.name, spec.name, m.name, m.unit,
                                           m.limit_text(params, pos, tolerances), tuple(sources), m.rule,
                                           check.physical))
    return rows
