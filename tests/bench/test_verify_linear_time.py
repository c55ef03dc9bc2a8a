"""The checks in linear time give exactly the records the per-event checks gave.

bench/checks/'s checks once passed over the whole trace for every event (a MeterValues reading,
a limit change, a CP state change): quadratic in a long run's length. They now slice each event's
rows out of the sorted trace. The per-event code is frozen in verify_before_linear.py; every
check's record (verdict, message, every measurement's value, limits, notes, evidence, params with
the compared series) must be the same as the frozen code's, bit for bit, on synthetic runs with
the features of real ones (verify_synthetic.py), and each rewritten helper the same as the one it
replaced on random data, edge cases included.

When a check's semantics change on purpose, this test has done its job: drop the frozen copy."""
from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import verify_before_linear as old
from bench.config import load_config
from bench.checks import composite_schedule, current, library, reference
from bench.checks.arrays import annex_a_current, round3
from instruments.iec61851 import duty_to_current_a
from verify_synthetic import Synthetic, differences

from test_config import ROOT

# the checks now, where they live now
new = SimpleNamespace(run_check=library.run_check, _reference_over=reference._reference_over,
                      _settle_mask=current.settle_mask, _state_entries=current._state_entries,
                      _farther_than=composite_schedule._farther_than)

# energy_stops_within takes the largest phase current per row: rows where the meter gave none
# (the synthetic runs' gaps) warn, in both implementations alike
pytestmark = pytest.mark.filterwarnings("ignore:All-NaN slice encountered:RuntimeWarning")


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def records(module, inputs) -> dict[str, Any]:
    # the checks the reference implementation has (those added since are proven by their own tests)
    return {name: module.run_check(name, inputs) for name in old.CHECKS}


def assert_same_records(inputs) -> dict[str, Any]:
    before, now = records(old, inputs), records(new, inputs)
    wrong = differences(before, now)
    assert not wrong, "\n".join(wrong[:20])
    return now


# ---- whole checks on synthetic runs ------------------------------------------------------------------

SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_check_gives_the_same_record_on_varied_runs(cfg, seed):
    assert_same_records(Synthetic.varied(seed).inputs(cfg))


def test_the_varied_runs_reach_every_branch_that_matters(cfg):
    """The seeds above are worth something only if they reach PASS, FAIL and ERROR of the checks
    that changed, readings compared and dropped as unsteady, load points without a reading."""
    seen: dict[str, set[str]] = {}
    unsteady = dropped_points = 0
    for seed in SEEDS:
        recs = records(new, Synthetic.varied(seed).inputs(cfg))
        for name, rec in recs.items():
            seen.setdefault(name, set()).add(rec.verdict.value)
        mv = recs["meter_values_match_reference"]
        unsteady += sum(1 for m in mv.measurements if "none while the reference was steady" in m.note)
        points = mv.params.get("load_points", [])
        dropped_points += sum(1 for pt in points for k, v in pt.items() if k.startswith("current_samples") and not v)
    for name in ("current_follows_limit", "pwm_matches_limit"):
        assert {"PASS", "FAIL"} <= seen[name], (name, seen[name])
    for name in ("meter_values_match_reference", "transaction_energy_matches_reference", "energy_stops_within",
                 "transaction_meter_values_match_reference", "composite_schedule_matches"):
        assert {"PASS", "FAIL", "ERROR"} <= seen[name], (name, seen[name])
    assert unsteady and dropped_points


@pytest.mark.parametrize("spec", [
    Synthetic(duration_s=7200.0, seed=1, faults=6, composite_reports=1, memory_marks=5),  # the benchmark's run
    Synthetic(duration_s=3600.0, seed=2, rate_hz=1.0, mv_interval_s=60.0, slow_from=0.5),  # slow sampling
    Synthetic(duration_s=1800.0, seed=3, stamp_res_s=0.001, noise_pct=3.0, meter_gaps=8, lone_nan_share=0.1),
    Synthetic(duration_s=900.0, seed=4, rate_hz=0.2, mv_interval_s=2.0, transactions=2, bad_data=True),
], ids=["2h_regular", "1h_slow", "ms_stamps_noisy_gappy", "very_slow_sampling"])
def test_every_check_gives_the_same_record_on_long_and_odd_runs(cfg, spec):
    assert_same_records(spec.inputs(cfg))


# ---- the rewritten helpers on random data ------------------------------------------------------------

def _random_trace(rng: np.random.Generator, n: int, regular: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sorted times with jitter, duplicates, stalls and a slow stretch (or on an exact 10 Hz grid);
    values with noise, spikes of 3-7 sigma, steps, NaN runs and lone NaN."""
    if regular:
        t = np.round(50.0 + np.arange(n) * 0.1, 3)
    else:
        dt = rng.choice([0.1, 0.1, 0.1, 0.0, 0.5, 3.0, 12.0], n, p=[0.6, 0.1, 0.1, 0.05, 0.1, 0.03, 0.02])
        t = np.round(50.0 + np.cumsum(dt * rng.uniform(0.8, 1.2, n)), 3)
    y = np.repeat(rng.choice([0.0, 0.5, 6.0, 10.0, 16.0], n // 50 + 1), 50)[:n]
    sigma = rng.choice([0.0, 0.01, 0.04, 0.1])
    y = y + rng.normal(0, sigma, n) + np.where(rng.random(n) < 0.02, rng.uniform(3, 7, n) * sigma, 0.0)
    y[rng.random(n) < 0.03] = np.nan
    a = int(rng.integers(0, n))
    y[a:a + int(rng.integers(0, 60))] = np.nan
    return t, y


@pytest.mark.parametrize("seed", range(24))
def test_reference_over_each_reading_is_the_same(seed):
    rng = np.random.default_rng(seed)
    t, y = _random_trace(rng, int(rng.integers(0, 3000)), regular=seed % 2 == 0)
    trace = {"t_mono_s": t, "c": y}
    lo, hi = (t[0] - 20.0, t[-1] + 20.0) if t.size else (0.0, 10.0)
    whole = np.arange(math.floor(lo), math.ceil(hi), 1.0)  # whole seconds: windows ending on a row
    readings = np.sort(np.concatenate([rng.uniform(lo, hi, 200), whole, whole - 0.05, t[:3], t[-3:], t[-3:] - 1.0]))
    for res, pad, floor in ((1.0, 1.0, 0.2), (0.001, 1.0, 0.2), (1.0, 0.0, 0.0), (5.0, 3.0, 1.0), (1.0, 1.0, 0.1)):
        a = old._reference_over(trace, "c", readings, res, pad, floor)
        b = new._reference_over(trace, "c", readings, res, pad, floor)
        assert np.array_equal(a, b, equal_nan=True), (res, pad, floor)


@pytest.mark.parametrize("seed", range(20))
def test_settle_windows_are_the_same(seed):
    rng = np.random.default_rng(seed)
    t, _ = _random_trace(rng, int(rng.integers(0, 2000)))
    changes = sorted(rng.uniform(0.0, 500.0, int(rng.integers(0, 30))).tolist()) + ([float(t[5])] * 2 if t.size > 5
                                                                                     else [])
    for settle in (0.0, 0.1, 4.2, 60.0, -1.0):
        a, wa = old._settle_mask(t, changes, settle)
        b, wb = new._settle_mask(t, changes, settle)
        assert np.array_equal(a, b) and wa == wb


@pytest.mark.parametrize("seed", range(20))
def test_cp_state_stretches_are_the_same(seed):
    rng = np.random.default_rng(seed)
    states = np.array(rng.choice(list("ABCDEF") + [""], int(rng.integers(0, 400)),
                                 p=[0.05, 0.2, 0.35, 0.1, 0.12, 0.12, 0.06]), dtype=object)
    states = np.repeat(states, rng.integers(1, 6, states.size))  # stretches of a few rows
    for targets in ({"E", "F"}, {"E"}, {"B"}, {"B", "C"}, {"C", "D"}, {"A", "B", "E", "F"}, set()):
        assert old._state_entries(states, None, targets) == new._state_entries(states, targets), targets


def test_annex_a_current_is_duty_to_current_a_on_every_value():
    rng = np.random.default_rng(5)
    thousandths = np.arange(-1000, 101_000) / 1000.0
    halves = (np.arange(0, 100_000) + 0.5) / 1000.0  # a hair from a half thousandth: the rounding matters
    duty = np.concatenate([thousandths, halves, np.nextafter(halves, 0), np.nextafter(halves, 200),
                           rng.uniform(-5, 105, 50_000), [np.nan, np.inf, -np.inf, 1e7, -1e7, 7.9995, 9.9995,
                                                          85.0004999, 85.0005, 96.0005, 97.0005]])
    want = np.array([np.nan if np.isnan(d) else duty_to_current_a(float(d)) for d in duty])
    assert np.array_equal(annex_a_current(duty), want, equal_nan=True)
    rounded = round3(duty)
    assert np.array_equal(rounded, np.array([round(float(d), 3) for d in duty]), equal_nan=True)


def test_composite_breaks_are_judged_the_same(cfg):
    rng = np.random.default_rng(3)
    offsets = np.arange(0.25, 3600, 0.5)
    for _ in range(50):
        breaks = rng.choice(np.arange(0.0, 3600.0, 0.5), int(rng.integers(0, 40)))
        tol = float(rng.choice([0.0, 0.25, 1.0, 2.0]))
        want = np.ones(offsets.shape, dtype=bool)
        for b in breaks:
            want &= np.abs(offsets - b) > tol
        assert np.array_equal(new._farther_than(offsets, breaks, tol), want)


def test_reference_over_at_the_five_sigma_bound_is_the_same():
    """Heavy-tailed noise puts many windows' largest deviation near 5 sigma; floors swept across
    that bound decide steadiness on the edge between `floor` and 5 sigma."""
    rng = np.random.default_rng(11)
    t = np.round(50.0 + np.arange(4000) * 0.1, 3)
    y = 10.0 + 0.05 * rng.standard_t(2.5, t.size)
    trace = {"t_mono_s": t, "c": y}
    readings = np.arange(52.0, 440.0, 1.0)
    for floor in np.linspace(0.1, 0.6, 41):
        a = old._reference_over(trace, "c", readings, 1.0, 1.0, float(floor))
        b = new._reference_over(trace, "c", readings, 1.0, 1.0, float(floor))
        assert np.array_equal(a, b, equal_nan=True), floor


def test_a_trace_out_of_time_order_is_an_error_not_a_wrong_slice(cfg):
    inputs = Synthetic(duration_s=300.0, seed=5).inputs(cfg)
    t = inputs.trace["t_mono_s"]
    t[100], t[101] = t[101], t[100]
    for name in ("current_follows_limit", "pwm_matches_limit", "meter_values_match_reference"):
        rec = new.run_check(name, inputs)
        assert rec.verdict.value == "ERROR" and "not in time order" in rec.message, (name, rec.message)
