"""The fault table: every injectable fault is one entry naming the blocks (or block/scenario
files) that must catch it, and the numbers it misbehaves by."""
import dataclasses
from pathlib import Path

import pytest

from bench.sim import faults as F

ROOT = Path(__file__).resolve().parents[2]


def test_every_fault_has_targets_that_exist():
    for name, fault in F.FAULTS.items():
        assert fault.name == name and fault.description
        assert fault.blocks, name
        for target in fault.blocks:
            path = ROOT / "scenarios" / target
            assert path.is_dir() or path.with_suffix(".yaml").is_file(), (name, target)


def test_one_entry_per_fault_and_every_name_constant_in_the_table():
    assert len(F.FAULT_TABLE) == len(F.FAULTS)
    constants = {v for k, v in vars(F).items() if k.isupper() and isinstance(v, str)}
    assert constants == set(F.FAULTS)


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        F.FAULTS[F.PWM_OFFSET].description = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        F.FAULTS["new"] = F.FAULTS[F.PWM_OFFSET]  # type: ignore[index]


def test_the_code_reads_its_numbers_from_the_table():
    assert F.magnitude(F.PWM_OFFSET, "points") == 4.0
    assert F.offered_duty_pct(16.7, [F.PWM_OFFSET]) == round(16.7 + F.magnitude(F.PWM_OFFSET, "points"), 1)
    assert F.energy_gain([F.METER_GAIN_ERROR]) == F.magnitude(F.METER_GAIN_ERROR, "gain") == 1.04
    assert F.current_report_gain([F.WRONG_CURRENT_REPORT]) == F.magnitude(F.WRONG_CURRENT_REPORT, "gain") == 1.25
    assert F.energy_gain([]) == F.current_report_gain([]) == 1.0
    assert F.heartbeat_interval_s(60, [F.HEARTBEAT_INTERVAL_IGNORED]) == F.magnitude(
        F.HEARTBEAT_INTERVAL_IGNORED, "interval_s")


def test_descriptions_state_the_magnitudes_the_code_uses():
    def n(x: float) -> str:
        return f"{x:g}"
    m = F.magnitude
    assert f"+{n(round((m(F.METER_GAIN_ERROR, 'gain') - 1) * 100, 6))} %" in F.FAULTS[F.METER_GAIN_ERROR].description
    assert f"{n(round((m(F.WRONG_CURRENT_REPORT, 'gain') - 1) * 100, 6))} % high" in F.FAULTS[
        F.WRONG_CURRENT_REPORT].description
    assert f"{n(m(F.PWM_OFFSET, 'points'))} percentage points" in F.FAULTS[F.PWM_OFFSET].description
    assert (f"x {n(m(F.SLOW_REACTION, 'factor'))} + {n(m(F.SLOW_REACTION, 'extra_s'))} s"
            in F.FAULTS[F.SLOW_REACTION].description)
    assert f"{n(m(F.ENERGY_REGISTER_RESET, 'after_s'))} s into" in F.FAULTS[F.ENERGY_REGISTER_RESET].description
    assert f"every {n(m(F.HEARTBEAT_INTERVAL_IGNORED, 'interval_s'))} s" in F.FAULTS[
        F.HEARTBEAT_INTERVAL_IGNORED].description
    assert m(F.CLOCK_ALIGNED_OFF_BOUNDARY, "interval_fraction") == 0.5 and "half an interval" in F.FAULTS[
        F.CLOCK_ALIGNED_OFF_BOUNDARY].description
