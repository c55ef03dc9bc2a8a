"""Pure helpers of the transactions block's steps: aligned boundaries, spacing, grouping."""
from datetime import datetime, timedelta, timezone

import pytest

from bench.csms.events import MeterSample
from bench.scenario.library import STEPS
from bench.scenario.steps_transactions import (
    _boundary_offset_s,
    _by_timestamp,
    _missing_measurands,
    _runs,
    _spacing_errors,
)

T0 = datetime(2031, 5, 6, 7, 8, 0, tzinfo=timezone.utc)  # on every boundary of 5, 10, 60 s


def test_boundary_offset_counts_from_midnight_utc():
    assert _boundary_offset_s(T0, 5) == 0.0
    assert _boundary_offset_s(T0 + timedelta(seconds=5.2), 5) == pytest.approx(0.2)
    assert _boundary_offset_s(T0 + timedelta(seconds=4.9), 5) == pytest.approx(0.1)  # just before the next
    assert _boundary_offset_s(T0 + timedelta(seconds=2.5), 5) == pytest.approx(2.5)
    assert _boundary_offset_s(T0 + timedelta(seconds=7), 900) == pytest.approx(413.0)  # 07:08:07: 413 s before 07:15


def test_spacing_errors_name_each_wrong_gap():
    times = [T0 + timedelta(seconds=s) for s in (0, 3, 6.4, 12.5)]
    bad = _spacing_errors(times, 3.0, 1.0)
    assert len(bad) == 1 and bad[0].startswith("6.1 s after")


def test_grouping_by_timestamp_and_missing_measurands():
    def s(t, m, ctx="Sample.Periodic"):
        return MeterSample(0.0, T0 + timedelta(seconds=t), 1.0, "A", measurand=m, context=ctx)
    groups = _by_timestamp([s(3, "Current.Import"), s(0, "Energy.Active.Import.Register"), s(0, "Current.Import"),
                            s(1, "Current.Import", "Sample.Clock")], "Sample.Periodic")
    assert list(groups) == [T0, T0 + timedelta(seconds=3)]
    assert _missing_measurands(groups, ["Energy.Active.Import.Register", "Current.Import"]) == [
        "07:08:03: Energy.Active.Import.Register"]


def test_runs_shorten_sequences_and_steps_are_registered():
    assert _runs([0, 1, 2, 5, 6, 9]) == "0-2, 5-6, 9"
    assert _runs([]) == ""
    assert {"set_metering", "offline_window", "expect_replayed_transaction", "ev_fault",
            "expect_fault_cleared", "expect_stop_reason"} <= set(STEPS)
