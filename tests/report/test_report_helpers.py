"""Pure helpers of the reports: min/max decimation and ranking of measurements."""
from __future__ import annotations

import numpy as np

from bench.record import CheckRecord, Verdict, judge
from bench.report.junit import failure_message, margin, worst_measurement
from bench.report.plots import minmax_decimate


def test_minmax_decimate_keeps_peaks_and_dips() -> None:
    rng = np.random.default_rng(1)
    n = 100_003  # not a multiple of the bucket size
    t = np.arange(n) / 10.0
    y = rng.normal(10.0, 0.2, n)
    y[12_345] = 55.0  # one-sample overshoot
    y[77_777] = -40.0  # one-sample dip
    y[n - 1] = 60.0  # in the last, partial bucket
    td, yd = minmax_decimate(t, y, 1000)
    assert len(td) == len(yd) <= 1000
    assert np.all(np.diff(td) >= 0)  # still a time series
    assert yd.max() == 60.0 and yd.min() == -40.0
    assert 55.0 in yd and td[list(yd).index(55.0)] == t[12_345]  # the peak stays at its time
    # the envelope matches the data: every output point is a real sample
    assert np.all(np.isin(td, t)) and np.all(y[np.searchsorted(t, td)] == yd)


def test_minmax_decimate_short_and_nan() -> None:
    t = np.arange(10.0)
    assert minmax_decimate(t, t * 2, 100)[1].tolist() == (t * 2).tolist()  # short: unchanged
    y = np.ones(10_000)
    y[4_000:6_000] = np.nan  # instrument gap
    td, yd = minmax_decimate(np.arange(10_000.0), y, 100)
    assert len(yd) <= 100 and np.isnan(yd).any() and np.nanmax(yd) == 1.0
    gap = td[np.isnan(yd)]
    assert gap.min() >= 4_000 and gap.max() < 6_000  # the gap is drawn where it was


def test_worst_measurement_and_failure_message() -> None:
    small = judge("overshoot_l2_a", 0.8, "A", None, 0.66)
    big = judge("overshoot_l1_a", 3.1, "A", None, 0.66)
    passing = judge("energy_error_pct", 0.1, "%", -2.0, 2.0)
    assert margin(big) < margin(small) < 0 < margin(passing)
    assert worst_measurement([passing, small, big]) is big
    check = CheckRecord("current_follows_limit", Verdict.FAIL, [passing, small, big])
    assert failure_message(check) == "current_follows_limit: overshoot_l1_a=3.1 A outside [-inf, 0.66]"
    no_value = judge("response_time_s", None, "s", None, 3.0)
    assert worst_measurement([passing, no_value]) is no_value  # ERROR ranks above PASS
    assert failure_message(CheckRecord("x", Verdict.FAIL, message="no PWM")) == "x: no PWM"
