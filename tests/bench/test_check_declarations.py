"""Checks are declared like steps (bench/checks/): found per family module, parameters validated
by the check's own model when the scenario loads, and the measurements each will take known
before it runs (the test plan), with the limits this config gives them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.checks.current import CurrentFollowsLimitParams
from bench.checks.declare import CheckParams
from bench.checks.library import CHECKS, run_check
from bench.checks.plan import plan_for
from bench.cli import main
from bench.config import ConfigError, load_config
from bench.scenario.model import load_scenario, load_suite, parse_check
from verify_synthetic import Synthetic

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _declared(name: str) -> list[tuple[re.Pattern[str], str]]:
    """A check's measurement name patterns as regular expressions ({phase} a number, others a
    word), with their units."""
    def one(pattern: str) -> re.Pattern[str]:
        text = re.sub(r"\\\{(\w+)\\\}", lambda m: r"\d+" if m.group(1) == "phase" else r"\w+?", re.escape(pattern))
        return re.compile(f"^{text}$")
    return [(one(m.name), m.unit) for m in CHECKS[name].measures]


def test_every_family_module_is_found_and_each_check_declared_once():
    families = {d.run.__module__ for d in CHECKS.values()}
    assert families == {f"bench.checks.{m}" for m in ("current", "metering", "load_points", "composite_schedule",
                                                      "security", "memory", "eichrecht")}
    for name, d in CHECKS.items():
        assert d.measures, name
        assert issubclass(d.params, CheckParams), name
        for m in d.measures:  # a limit is written only with the check's own parameters
            assert set(m.parameters()) <= set(d.params.model_fields), (name, m.name, m.parameters())
        assert set(d.params.DEFAULTS) <= set(d.params.model_fields), name


def test_the_measurements_a_check_takes_are_the_ones_it_declared(cfg):
    """On varied synthetic runs (PASS, FAIL and ERROR of every check), every measurement in a
    record matches one its check declared: the plan printed before the run is the run's."""
    seen = set()
    for seed in range(0, 40, 3):
        inputs = Synthetic.varied(seed).inputs(cfg)
        for name in CHECKS:
            rec = run_check(name, inputs)
            assert "check crashed" not in rec.message, (name, rec.message)
            patterns = _declared(name)
            for m in rec.measurements:
                assert any(p.match(m.name) and unit in (m.unit, "A or W") for p, unit in patterns), \
                    (name, m.name, m.unit)
                seen.add(name)
    assert {"current_follows_limit", "pwm_matches_limit", "meter_values_match_reference",
            "transaction_meter_values_match_reference", "composite_schedule_matches", "energy_stops_within"} <= seen


def _scenario(tmp_path: Path, checks: str) -> Path:
    path = tmp_path / "probe.yaml"
    path.write_text(f"name: probe_scenario\nsteps:\n  - hold: {{seconds: 1}}\nchecks:\n{checks}")
    return path


@pytest.mark.parametrize("checks, key, reason", [
    ("  - current_follows_limit: {tolerance_abs_a: lots}\n", "checks[0].current_follows_limit.tolerance_abs_a",
     "valid number"),
    ("  - pwm_matches_limit: {tolerance_pct: true}\n", "checks[0].pwm_matches_limit.tolerance_pct", "valid number"),
    ("  - meter_values_match_reference\n  - meter_values_match_reference: {min_register_steps: 2.5}\n",
     "checks[1].meter_values_match_reference.min_register_steps", "valid integer"),
    ("  - energy_stops_within: {states: [E, Q]}\n", "checks[0].energy_stops_within.states[1]", "Input should be"),
    ("  - register_creep: {threshold: 1}\n", "checks[0].register_creep", "unknown argument(s) threshold"),
])
def test_a_bad_check_parameter_names_file_scenario_check_and_key(tmp_path, checks, key, reason):
    path = _scenario(tmp_path, checks)
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}: {key}" in text and reason in text and "'probe_scenario'" in text, text


def test_a_check_loads_with_its_typed_parameters(tmp_path):
    path = _scenario(tmp_path, "  - current_follows_limit: {tolerance_abs_a: 1, settle_time_s: 2.5}\n")
    spec = load_scenario(path).checks[0]
    assert isinstance(spec.args, CurrentFollowsLimitParams)
    assert spec.args.tolerance_abs_a == 1.0 and spec.args.settle_time_s == 2.5 and spec.args.tolerance_rel_pct is None
    # in code (the pytest plugin's position.check) the same model validates
    assert parse_check("current_follows_limit", {"tolerance_abs_a": 1}, "test_x").args.tolerance_abs_a == 1.0
    with pytest.raises(ConfigError, match="test_x: check.current_follows_limit.tolerance_abs_a"):
        parse_check("current_follows_limit", {"tolerance_abs_a": -1}, "test_x")


def test_the_plan_fills_limits_from_the_scenario_else_the_config(tmp_path, cfg):
    tol = cfg.tolerances
    path = _scenario(tmp_path, "  - current_follows_limit: {tolerance_abs_a: 0.75}\n  - pwm_matches_limit\n")
    rows = {r.measurement: r for r in plan_for(load_scenario(path), cfg)}
    excess = rows["excess_over_limit_l{phase}_a"]
    assert excess.check == "current_follows_limit" and excess.unit == "A" and excess.physical
    assert excess.limit.startswith(f"<= 0.75 A + {tol.current_rel_pct:g} % of the limit"), excess.limit
    assert excess.sources[:2] == ("tolerance_abs_a (scenario)", "tolerances.current_rel_pct (config)")
    assert "IEC 61851-1" in excess.rule
    duty = rows["duty_error_pct"]
    assert f"±{tol.pwm_duty_pct:g} %" in duty.limit and duty.sources[0] == "tolerances.pwm_duty_pct (config)"
    other = cfg.model_copy(update={"tolerances": tol.model_copy(update={"pwm_duty_pct": 1.25})})
    assert "±1.25 %" in {r.measurement: r for r in plan_for(load_scenario(path), other)}["duty_error_pct"].limit


def test_the_plan_of_the_library_lists_every_checks_measurements(cfg):
    for scenario in load_suite([ROOT / "scenarios"]):
        rows = plan_for(scenario, cfg)
        assert {r.check for r in rows} == {c.name for c in scenario.checks} | {"step_expectations",
                                                                              "protocol_conformance"}, scenario.name
        assert all(r.limit and "{" not in r.limit.replace("{phase}", "") for r in rows), scenario.name


def test_bench_list_plan_prints_measurements_and_limits(capsys):
    assert main(["list", "--plan", "-k", "txprofile_step_down", str(ROOT / "scenarios"),
                 "--config", str(ROOT / "lab_config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "txprofile_step_down" in out and "excess_over_limit_l{phase}_a [A]: <= " in out
    assert "duty_error_pct [%]: within ±" in out and "tolerances.pwm_duty_pct (config)" in out


def test_a_planned_row_read_back_from_the_record_matches_the_measurements_it_stands_for(tmp_path, cfg):
    from dataclasses import asdict

    from bench.checks.plan import PlannedMeasurement

    path = _scenario(tmp_path, "  - current_follows_limit\n")
    rows = [PlannedMeasurement.from_record(asdict(r)) for r in plan_for(load_scenario(path), cfg)]
    assert rows == plan_for(load_scenario(path), cfg)
    excess = next(r for r in rows if r.measurement == "excess_over_limit_l{phase}_a")
    assert excess.matches("excess_over_limit_l3_a")
    assert not excess.matches("excess_over_limit_lx_a") and not excess.matches("shortfall_below_expected_l1_a")
