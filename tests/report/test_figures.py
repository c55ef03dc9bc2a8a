"""Key figures (overshoot, settle time, energy and duty error) and the fast trace reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.trace import Trace, _read_csv_exact, binary_path, header_path, read_trace
from bench.record import CheckRecord, ScenarioRecord, Verdict, judge
from bench.report.figures import FIGURES, compute_figures, figures_of, limit_changes, settle_time_s
from bench.report.tracefile import load_trace
from report_runs import T0, base_record, current_check, limit_at, write_trace

LIMIT = [[T0, 16.0], [T0 + 20, 10.0], [T0 + 40, 6.0]]


def scenario(t_end: float = T0 + 60, checks=None, limit=LIMIT) -> ScenarioRecord:
    return ScenarioRecord(name="s", file="s.yaml", position="pos1", verdict=Verdict.PASS, t_start_mono_s=T0,
                          t_end_mono_s=t_end, expected_limit=limit,
                          checks=checks if checks is not None else [current_check(limit, [], 0.1, T0 + 5)])


def trace_of(tmp_path: Path, current_of) -> dict[str, np.ndarray]:
    write_trace(tmp_path / "t.csv", T0, T0 + 60, current_of)
    return load_trace(tmp_path / "t.csv")


def test_settle_time_of_a_charger_that_follows(tmp_path: Path) -> None:
    # follows each change after 2.5 s; write_trace adds 0.05*p A per phase (within tolerance)
    tr = trace_of(tmp_path, lambda t: limit_at(LIMIT, t - 2.5))
    assert limit_changes(scenario()) == [(T0 + 20, 10.0, T0 + 40), (T0 + 40, 6.0, T0 + 60)]
    assert settle_time_s(scenario(), tr) == pytest.approx(2.5, abs=0.11)


def test_settle_time_of_a_charger_that_ignores_the_limit(tmp_path: Path) -> None:
    tr = trace_of(tmp_path, lambda t: 16.0)
    # never within limit + tolerance: the whole interval to the next change counts
    assert settle_time_s(scenario(), tr) == pytest.approx(20.0)


def test_a_later_spike_is_no_slow_settle(tmp_path: Path) -> None:
    tr = trace_of(tmp_path, lambda t: 25.0 if T0 + 30 <= t < T0 + 30.3 else limit_at(LIMIT, t - 1.0))
    assert settle_time_s(scenario(), tr) == pytest.approx(1.0, abs=0.11)


def test_settle_time_not_applicable(tmp_path: Path) -> None:
    tr = trace_of(tmp_path, lambda t: 16.0)
    assert settle_time_s(scenario(limit=[[T0, 16.0]]), tr) is None  # the limit never changed
    assert settle_time_s(scenario(), None) is None  # no trace
    no_meter = {k: (np.full_like(v, np.nan) if k.startswith("meter_current") else v) for k, v in tr.items()}
    assert settle_time_s(scenario(), no_meter) is None


def test_figures_from_the_checks(tmp_path: Path) -> None:
    checks = [
        CheckRecord("current_follows_limit", Verdict.FAIL, [judge("excess_over_limit_l1_a", -0.4, "A", None, 0.7),
                                                            judge("excess_over_limit_l2_a", 2.5, "A", None, 0.7),
                                                            judge("shortfall_below_expected_l1_a", 9.0, "A", None, 0.7)]),
        CheckRecord("pwm_matches_limit", Verdict.PASS, [judge("duty_error_pct", -0.3, "%", -0.5, 0.5)]),
        CheckRecord("meter_values_match_reference", Verdict.FAIL, [
            judge("energy_error_point1_pct", 0.4, "%", -2, 2), judge("energy_error_point2_pct", -3.1, "%", -2, 2),
            judge("current_error_l1_pct", 9.0, "%", -2, 2)]),
        CheckRecord("transaction_energy_matches_reference", Verdict.PASS,
                    [judge("tx1_energy_error_pct", 1.5, "%", -2, 2)]),
    ]
    write_trace(tmp_path / "traces" / "pos1.csv", T0, T0 + 60, lambda t: limit_at(LIMIT, t - 1.0))
    record = base_record(traces={"pos1": "traces/pos1.csv"})
    figures = compute_figures(tmp_path, record, scenario(checks=checks))
    assert set(figures) == set(FIGURES)
    assert figures["overshoot_a"] == 2.5  # the worst phase, shortfall is no overshoot
    assert figures["energy_error_pct"] == -3.1  # worst by magnitude, sign kept
    assert figures["duty_error_pct"] == -0.3
    assert figures["settle_time_s"] == pytest.approx(1.0, abs=0.11)
    # below the limit everywhere: no overshoot (not a negative one)
    under = [CheckRecord("current_follows_limit", Verdict.PASS, [judge("excess_over_limit_l1_a", -16, "A", None, 1)])]
    assert compute_figures(tmp_path, record, scenario(checks=under))["overshoot_a"] == 0.0
    assert compute_figures(tmp_path, record, scenario(checks=[]))["overshoot_a"] is None


def test_stored_figures_win_over_derived(tmp_path: Path) -> None:
    s = scenario(checks=[CheckRecord("current_follows_limit", Verdict.PASS,
                                     [judge("excess_over_limit_l1_a", 0.1, "A", None, 0.7)])])
    s.figures = {n: 1.0 for n in FIGURES}
    assert figures_of(tmp_path, base_record(), s) == s.figures
    s.figures = {"overshoot_a": 1.0}  # written by an older version: derive them all again
    assert figures_of(tmp_path, base_record(), s)["overshoot_a"] == pytest.approx(0.1)


def test_fast_csv_reader_matches_the_exact_one(tmp_path: Path) -> None:
    """A run folder from before the binary trace: the CSV alone, read by numpy and row by row."""
    path = tmp_path / "t.csv"
    trace = Trace(path)
    for i in range(50):
        row = {"t_mono_s": T0 + i / 10, "meter_current_l1_a": 1.5 * i, "ev_cp_state": "C" if i % 2 else ""}
        if i % 3:  # gaps: the instrument did not answer
            row.update({"meter_current_l2_a": 2.0, "meter_current_l3_a": 3.0})
        if i % 5 == 0:
            row["meter_energy_import_wh"] = 123456.789  # written with the wide format
        trace.append(row)
    trace.close()
    for f in (binary_path(path), header_path(path)):
        f.unlink()
    with open(path, "a") as f:
        f.write("1005.0,1.0,2")  # a killed run's torn last row
    fast, exact = load_trace(path), _read_csv_exact(path)
    assert set(fast) == set(exact) - {"ev_cp_state"}
    for name, col in fast.items():
        assert np.array_equal(col, exact[name], equal_nan=True), name
    assert np.isnan(fast["meter_current_l2_a"][0]) and fast["meter_current_l2_a"][1] == 2.0
    assert len(fast["t_mono_s"]) == 50
    assert list(read_trace(path)["ev_cp_state"]) == list(exact["ev_cp_state"])


def test_fast_trace_reader_on_an_empty_trace(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    Trace(path).close()
    assert len(load_trace(path)["t_mono_s"]) == 0
    for f in (binary_path(path), header_path(path)):
        f.unlink()
    assert len(load_trace(path)["t_mono_s"]) == len(read_trace(path)["ev_cp_state"]) == 0
