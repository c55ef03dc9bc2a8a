"""Tolerance presets per metering regime (bench/metering_regimes.py), their selection in the config,
and the load points' durations (bench/scenario/steps_metering.py)."""
from pathlib import Path

import pytest
import yaml

from bench.config import ConfigError, TolerancesConfig, load_config
from bench.metering_regimes import MID_SOURCE, NIST_SOURCE, REGIMES, MeterRatings
from bench.scenario.steps_metering import (DURATION_MARGIN, RANGE_ENTRY_MARGIN, LoadPointArgs, load_point_current_a,
                                           load_point_seconds, settle_s)
from bench.sim import faults as F

ROOT = Path(__file__).resolve().parents[2]
METER = MeterRatings(imin_a=0.25, itr_a=0.5, imax_a=80.0)


@pytest.mark.parametrize(("name", "below_itr", "above_itr"), [
    ("mid_a", 3.5, 3.5), ("mid_b", 2.0, 2.0), ("mid_c", 1.0, 0.7)])
def test_mid_presets_are_annex_v_table_2_at_the_reference_band(name, below_itr, above_itr):
    regime = REGIMES[name]
    low, high = regime.at_current(0.3, METER), regime.at_current(16.0, METER)
    assert (low.mpe_pct, high.mpe_pct) == (below_itr, above_itr)
    assert low.current_range.startswith("Imin <= I < Itr") and high.current_range.startswith("Itr <= I <= Imax")
    for tol in (low, high):  # the source travels with the number into the measurement's rule
        assert MID_SOURCE in tol.rule and "+5 °C … +30 °C" in tol.rule and f"class {name[-1].upper()}" in tol.rule
    assert regime.at_current(0.5, METER).mpe_pct == above_itr  # Itr itself opens the upper range
    assert regime.session().mpe_pct == max(below_itr, above_itr)


def test_mid_sets_no_mpe_outside_imin_and_imax():
    for current in (0.2, 81.0):
        tol = REGIMES["mid_a"].at_current(current, METER)
        assert tol.mpe_pct is None and "no MPE" in tol.rule
    with pytest.raises(ValueError, match="meter_imin_a"):
        REGIMES["mid_b"].at_current(1.0, MeterRatings(None, 0.5, 80.0))


def test_nist_preset_is_the_acceptance_tolerance_of_t_2_2():
    tol = REGIMES["nist_hb44"].at_current(0.1, MeterRatings(None, None, None))
    assert tol.mpe_pct == 1.0 and NIST_SOURCE in tol.rule and "T.2.2" in tol.rule and "maintenance 2 %" in tol.rule
    assert REGIMES["nist_hb44"].session().mpe_pct == 1.0


def _config(tmp_path: Path, **dut) -> Path:
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    data["positions"][0]["dut"].update(dut)
    path = tmp_path / "lab_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_without_a_regime_the_default_tolerance_is_unchanged(tmp_path):
    dut = load_config(ROOT / "lab_config.yaml").positions[0].dut
    assert dut.meter_regime is None and dut.regime is None and dut.meter_mpe_pct == 2.0
    assert load_config(_config(tmp_path, meter_accuracy_class="C")).positions[0].dut.meter_mpe_pct == 0.5


def test_a_regime_sets_the_session_tolerance(tmp_path):
    dut = load_config(_config(tmp_path, meter_regime="mid_c", meter_accuracy_class="C")).positions[0].dut
    assert dut.meter_mpe_pct == 1.0 and dut.meter_ratings == METER
    assert load_config(_config(tmp_path, meter_regime="nist_hb44")).positions[0].dut.meter_mpe_pct == 1.0


@pytest.mark.parametrize(("dut", "message"), [
    ({"meter_regime": "mid_b"}, "meter_regime mid_b is MID class B but meter_accuracy_class is A"),
    ({"meter_regime": "mid_a", "meter_itr_a": None}, "needs meter_imin_a, meter_itr_a and meter_imax_a"),
    ({"meter_itr_a": 0.2}, "meter_imin_a < meter_itr_a < meter_imax_a"),
    ({"meter_regime": "mid_z"}, "positions[0].dut.meter_regime"),
])
def test_bad_regime_settings_name_the_file_and_key(tmp_path, dut, message):
    with pytest.raises(ConfigError) as exc:
        load_config(_config(tmp_path, **dut))
    assert "lab_config.yaml: positions[0].dut" in str(exc.value) and message in str(exc.value)


def test_load_points_come_from_the_config_and_last_for_their_register_steps():
    position = load_config(ROOT / "lab_config.yaml").positions[0]
    tol = TolerancesConfig()
    assert load_point_current_a(position, "imin") == pytest.approx(0.25 * RANGE_ENTRY_MARGIN)
    assert load_point_current_a(position, "itr") == pytest.approx(0.5 * RANGE_ENTRY_MARGIN)
    assert load_point_current_a(position, "imax_10pct") == pytest.approx(1.6)
    assert load_point_current_a(position, "imax") == 16.0
    # 100 steps of 0.1 Wh at 0.255 A x 230 V on one phase: 10 Wh / 58.65 W
    seconds = load_point_seconds(position, tol, LoadPointArgs(point="imin", phases=1))
    expected = 10.0 / (0.25 * RANGE_ENTRY_MARGIN * 230.0) * 3600.0 * DURATION_MARGIN
    assert seconds == pytest.approx(expected + settle_s(position, tol))
    assert load_point_seconds(position, tol, LoadPointArgs(point="imax", phases=3, min_seconds=300)) == \
        pytest.approx(300 + settle_s(position, tol))


def test_a_load_point_without_the_meter_current_names_the_key():
    position = load_config(ROOT / "lab_config.yaml").positions[0]
    bare = position.model_copy(update={"dut": position.dut.model_copy(update={"meter_itr_a": None})})
    with pytest.raises(ValueError, match=r"dut.meter_itr_a is not configured"):
        load_point_current_a(bare, "itr")


def test_meter_creep_fault_states_its_magnitude():
    assert F.creep_wh_per_h([F.METER_CREEP]) == F.magnitude(F.METER_CREEP, "wh_per_h") == 30.0
    assert F.creep_wh_per_h([]) == 0.0
    assert "30 Wh/h" in F.FAULTS[F.METER_CREEP].description


def test_a_scenario_needing_an_unconfigured_meter_current_is_refused_before_the_run(tmp_path):
    from bench.scenario.model import check_fits, load_suite

    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    del data["positions"][0]["dut"]["meter_itr_a"]
    config = load_config(_config_file(tmp_path, data))
    with pytest.raises(ConfigError) as exc:
        check_fits(load_suite([ROOT / "scenarios/metering/load_points_three_phase.yaml"]), config, "lab_config.yaml")
    assert "load_points_three_phase.yaml: steps[" in str(exc.value)
    assert "load_point.point: load point itr: positions[pos1].dut.meter_itr_a is not configured" in str(exc.value)


def _config_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "lab_config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_lone_missed_read_does_not_split_a_no_load_stretch_but_a_long_loss_does():
    from types import SimpleNamespace

    import numpy as np

    from bench.checks.base import CheckInputs
    from bench.checks.load_points import MAX_READ_GAP_S, _no_load_stretches

    position = load_config(ROOT / "lab_config.yaml").positions[0]
    t = np.arange(0.0, 200.0, 0.5)
    current = np.where((t >= 20) & (t < 180), 0.0, 16.0)
    current[t == 60.0] = np.nan          # one missed read: bridged
    current[(t >= 120) & (t < 125)] = np.nan  # 5 s without the reference: split there
    trace = {"t_mono_s": t, **{f"meter_current_l{p}_a": current.copy() for p in (1, 2, 3)}}
    tx = SimpleNamespace(t_start_mono_s=5.0, t_stop_mono_s=195.0)
    inp = CheckInputs(position, TolerancesConfig(), 0.0, 200.0, trace, None, [tx], lambda ts: 0.0)  # type: ignore[arg-type]  # no timeline needed
    assert MAX_READ_GAP_S < 5.0
    assert _no_load_stretches(inp, 0.05) == [(20.0, 119.5), (125.0, 179.5)]
