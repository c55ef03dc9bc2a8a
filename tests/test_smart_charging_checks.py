"""The smart-charging additions to steps, timeline and checks, on synthetic data:
composite_schedule_matches (PASS, FAIL for each way an answer can be wrong, ERROR when there is
nothing to judge), set_profile's relative times, the EV's phases in the expected current."""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from bench.testing.clock import ManualClock
from bench.trace import NUMERIC_COLUMNS
from bench.config import load_config
from bench.record import Verdict
from bench.scenario.model import load_scenario
from bench.scenario.steps import SetProfileArgs, StepContext, build_profile
from bench.checks.timeline import CompositeReport, Expected, Timeline, TxSpan, utc_mapper, value_at
from bench.checks.base import CheckInputs
from bench.checks.composite_schedule import composite_schedule_matches
from bench.checks.current import current_follows_limit
from instruments.iec61851 import CpState

ROOT = Path(__file__).resolve().parents[1]
UTC0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)
EXPECTED = {"startSchedule": "2026-11-21T12:00:00.000Z", "duration": 60, "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0, "numberPhases": 3},
                                       {"startPeriod": 20, "limit": 12.0, "numberPhases": 3}]}


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _answer(periods=((0, 10.0), (20, 12.0)), *, unit="A", duration=60, start="2026-11-21T12:00:00.000Z") -> dict:
    schedule = {"duration": duration, "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods]}
    if duration is None:
        del schedule["duration"]
    answer = {"status": "Accepted", "connectorId": 1, "chargingSchedule": schedule}
    if start:
        answer["scheduleStart"] = start
    return answer


def _report(answer, error="") -> CompositeReport:
    return CompositeReport(5.0, 1, 60, "A", UTC0, EXPECTED, answer, error)


def _check(cfg, *reports, **params):
    t = np.arange(0, 10, 0.1)
    trace = {c: np.full(t.size, np.nan) for c in NUMERIC_COLUMNS}
    trace["t_mono_s"] = t
    expected = Expected([(0.0, 10.0)], [(0.0, 10.0)], [(0.0, 16.7)], [], composite_reports=list(reports))
    inp = CheckInputs(cfg.positions[0], cfg.tolerances, 0.0, 10.0, trace, expected, [], lambda dt: 0.0, params)
    return composite_schedule_matches(inp)


def test_matching_answer_passes(cfg):
    rec = _check(cfg, _report(_answer(start="2026-11-21T12:00:00.300Z")))  # received 0.3 s after it was sent
    assert rec.verdict == Verdict.PASS, rec.message
    assert {m.name for m in rec.measurements} == {"composite1_unit_mismatch", "composite1_start_error_s",
                                                  "composite1_duration_error_s", "composite1_limit_error"}
    assert rec.params["reports"][0]["expected"] == EXPECTED


def test_period_start_may_move_by_one_second_not_two(cfg):
    assert _check(cfg, _report(_answer(((0, 10.0), (21, 12.0))))).verdict == Verdict.PASS
    rec = _check(cfg, _report(_answer(((0, 10.0), (22, 12.0)))))
    assert rec.verdict == Verdict.FAIL and "composite1_limit_error" in rec.message
    assert _check(cfg, _report(_answer(((0, 10.0), (22, 12.0)))), start_period_tolerance_s=2.5).verdict == \
        Verdict.PASS


def test_whole_second_schedule_start_may_show_the_moment_before(cfg):
    """A charger whose clock runs in whole seconds starts its composite up to a second before the
    request: the first second may still show the rated current (no profile yet), nothing later."""
    early = "2026-11-21T11:59:59.000Z"  # 1 s before the request
    assert _check(cfg, _report(_answer(((0, 32.0), (1, 10.0), (21, 12.0)), start=early))).verdict == Verdict.PASS
    rec = _check(cfg, _report(_answer(((0, 32.0), (4, 10.0), (21, 12.0)), start=early)))
    assert rec.verdict == Verdict.FAIL and "composite1_limit_error" in rec.message


@pytest.mark.parametrize("answer, failing", [
    (_answer(((0, 10.0),)), "composite1_limit_error"),                     # later period dropped (libocpp #609)
    (_answer(((0, 10.0), (20, 12.1))), "composite1_limit_error"),          # limits are exact
    (_answer(unit="W"), "composite1_unit_mismatch"),                       # W asked as A or the reverse
    (_answer(duration=57), "composite1_duration_error_s"),                 # duration +-2 s
    (_answer(duration=None), "composite1_duration_error_s"),
    (_answer(start="2026-11-21T12:00:03Z"), "composite1_start_error_s"),   # scheduleStart +-2 s
    (_answer(periods=()), "composite1_periods"),                           # empty list (minItems 1)
    ({"status": "Accepted", "connectorId": 1}, "composite1_periods"),
])
def test_each_way_to_be_wrong_fails(cfg, answer, failing):
    rec = _check(cfg, _report(answer))
    assert rec.verdict == Verdict.FAIL
    assert [m.name for m in rec.measurements if m.verdict == Verdict.FAIL][0] == failing


def test_schema_violation_is_the_chargers_fault(cfg):
    rec = _check(cfg, _report(None, "the answer to GetCompositeSchedule violates the OCPP 1.6 schema: ..."))
    assert rec.verdict == Verdict.FAIL and "violates" in rec.message


def test_every_report_is_judged_and_nothing_to_judge_is_an_error(cfg):
    rec = _check(cfg, _report(_answer()), _report(_answer(((0, 10.0),))))
    assert rec.verdict == Verdict.FAIL
    assert {m.name for m in rec.measurements if m.verdict == Verdict.FAIL} == {"composite2_limit_error"}
    assert _check(cfg).verdict == Verdict.ERROR


def test_start_shift_is_applied_before_comparing(cfg):
    # a DUT whose scheduleStart is 1.4 s late reports its periods relative to its own start
    rec = _check(cfg, _report(_answer(((0, 10.0), (19, 12.0)), start="2026-11-21T12:00:01.400Z")))
    assert rec.verdict == Verdict.PASS, rec.message


# ---- the EV's phases -----------------------------------------------------------------

def test_one_phase_ev_expects_no_current_on_l2_l3(cfg):
    t = np.arange(0, 20, 0.1)
    trace = {c: np.full(t.size, np.nan) for c in NUMERIC_COLUMNS}
    trace["t_mono_s"] = t
    trace["meter_current_l1_a"] = np.full(t.size, 12.0)
    trace["meter_current_l2_a"] = trace["meter_current_l3_a"] = np.zeros(t.size)
    base = dict(limit_a=[(0.0, 12.0)], current_a=[(0.0, 12.0)], duty_pct=[(0.0, 20.0)], changes=[])
    inp = CheckInputs(cfg.positions[0], cfg.tolerances, 0.0, 20.0, trace, Expected(**base, ev_phases=[(0.0, 1)]),
                      [], lambda dt: 0.0)
    rec = current_follows_limit(inp)
    assert rec.verdict == Verdict.PASS, rec.message
    without = CheckInputs(cfg.positions[0], cfg.tolerances, 0.0, 20.0, trace, Expected(**base), [], lambda dt: 0.0)
    assert current_follows_limit(without).verdict == Verdict.FAIL  # 3-phase EV: L2/L3 fall short


def test_timeline_marks_ev_phase_changes_as_settling():
    tl = Timeline(1, 32.0, 230.0, 3, utc_mapper(0.0, UTC0))
    tl.note_profiles(0.0)
    tl.note_ev_state(0.0, CpState.C)
    tl.note_ev_phases(5.0, 1)
    exp = tl.expected(0.0, 20.0, [TxSpan(1, 1, 0.0, None, UTC0)])
    assert 5.0 in exp.changes and exp.ev_phases == [(5.0, 1)]
    assert value_at(exp.ev_phases, 6.0) == 1


def test_timeline_tells_the_checks_the_evs_own_maximum():
    # the EV takes at most 13 A of a 16 A limit, then 20 A: current_follows_limit judges the
    # measured current against min(offer, EV max), not the limit, so an EV may take less
    tl = Timeline(1, 16.0, 230.0, 3, utc_mapper(0.0, UTC0))
    tl.note_profiles(0.0)
    tl.note_ev_state(0.0, CpState.C)
    tl.note_ev_max(0.0, 13.0)
    tl.note_ev_max(10.0, 20.0)
    exp = tl.expected(0.0, 20.0, [TxSpan(1, 1, 0.0, None, UTC0)])
    assert exp.ev_max_a == [(0.0, 13.0), (10.0, 20.0)]
    assert exp.current_a == [(0.0, 13.0), (10.0, 16.0)] and exp.limit_a == [(0.0, 16.0)]


def test_timeline_follows_validity_and_recurrence_of_the_mirror():
    tl = Timeline(1, 32.0, 230.0, 3, utc_mapper(0.0, UTC0))
    tl.note_ev_state(0.0, CpState.C)
    profile = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
               "chargingSchedule": {"chargingRateUnit": "A", "startSchedule": "2026-11-20T12:00:06.000Z",
                                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 13},
                                                               {"startPeriod": 12, "limit": 8}]},
               "validTo": "2026-11-21T12:00:30.000Z"}
    assert tl.store.install(1, profile, active_transaction_id=None)[0]
    tl.note_profiles(0.0)
    exp = tl.expected(0.0, 40.0, [TxSpan(1, 1, 0.0, None, UTC0)])
    assert exp.limit_a == [(0.0, 8.0), (6.0, 13.0), (18.0, 8.0), (30.0, 32.0)]


# ---- set_profile: times relative to now, recurrence, transaction ------------------------

@dataclass
class _Tx:
    transaction_id: int


class _Dut:
    """Only what build_profile reads: the OCPP version and the transaction on a connector."""

    ocpp_version = "1.6"

    def __init__(self, tx_id: int | None) -> None:
        self.tx_id = tx_id

    def active_transaction(self, connector_id: int):
        return _Tx(self.tx_id) if self.tx_id is not None else None


def _ctx(cfg, tx_id=None) -> StepContext:
    return StepContext(ManualClock(utc=UTC0), cfg.positions[0], cfg.tolerances, _Dut(tx_id), None,  # type: ignore[arg-type]
                       Timeline(1, 32.0, 230.0, 3, utc_mapper(0.0, UTC0)), _profile_ids=itertools.count(100))


def test_offsets_are_relative_to_now(cfg):
    args = SetProfileArgs(purpose="TxProfile", limit=7, start_offset_s=-2.5, valid_from_offset_s=8,
                          valid_to_offset_s=16)
    p = build_profile(_ctx(cfg, tx_id=5), args)
    assert p["chargingSchedule"]["startSchedule"] == "2026-11-21T11:59:57.500Z"
    assert p["validFrom"] == "2026-11-21T12:00:08.000Z" and p["validTo"] == "2026-11-21T12:00:16.000Z"
    assert p["transactionId"] == 5


def test_offsets_apply_to_a_full_profile_too(cfg):
    full = {"chargingProfileId": 9, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}]}}
    p = build_profile(_ctx(cfg), SetProfileArgs(connector=0, profile=full, start_offset_s=60))
    assert p["chargingSchedule"]["startSchedule"] == (UTC0 + timedelta(seconds=60)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert "startSchedule" not in full["chargingSchedule"]  # the scenario's own dict is not changed


def test_recurring_shorthand_and_wrong_transaction(cfg):
    p = build_profile(_ctx(cfg, tx_id=5), SetProfileArgs(purpose="TxDefaultProfile", kind="Recurring",
                                                         recurrency="Daily", periods=[(0, 13), (12, 8)]))
    assert p["chargingProfileKind"] == "Recurring" and p["recurrencyKind"] == "Daily"
    assert "startSchedule" in p["chargingSchedule"] and "transactionId" not in p
    assert build_profile(_ctx(cfg, tx_id=5), SetProfileArgs(limit=8, transaction="wrong"))["transactionId"] == 1005
    assert "transactionId" not in build_profile(_ctx(cfg, tx_id=5), SetProfileArgs(limit=8, transaction="none"))
    with pytest.raises(ValueError, match="recurrency"):
        SetProfileArgs(limit=8, kind="Recurring")


def test_shipped_smart_charging_scenarios_load():
    names = [load_scenario(p).name for p in sorted((ROOT / "scenarios" / "smart_charging").glob("*.yaml"))]
    assert len(names) == 19 and {"composite_schedule_report", "daily_recurring_24h"} <= set(names)
