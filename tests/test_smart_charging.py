"""Smart charging (OCPP 1.6): profile rules, composite schedule, charge point store.

Expected values are worked out by hand from OCPP 1.6 edition 2 (3.13, 5.7,
5.16, 7.8-7.14), its errata sheet and the OCTT TC_K_41 example; a small
independent oracle cross-checks the breakpoint arithmetic on generated stacks.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import ocpp
import pytest
from jsonschema import Draft4Validator

from bench.smart_charging import (
    ActiveTransaction,
    CompositeSchedule,
    InstalledProfile,
    ProfileError,
    ProfileStore16,
    SchedulePeriod,
    composite_schedule,
    limit_at,
    validate_profile,
)

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, 24, 36, tzinfo=UTC)  # 2024-01-01 is a Monday
DEFAULT_A = 32.0
VOLT = 230.0
CPMAX, TXDEF, TX = "ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def profile(pid: int, purpose: str, periods, *, stack: int = 0, kind: str = "Absolute",
            start: datetime | None = T0, duration: int | None = None, unit: str = "A",
            phases: int | None = None, **extra) -> dict:
    """A wire ChargingProfile; periods = [(startPeriod, limit)] or [(startPeriod, limit, numberPhases)]."""
    schedule: dict = {"chargingRateUnit": unit, "chargingSchedulePeriod": []}
    for p in periods:
        period = {"startPeriod": p[0], "limit": p[1]}
        n = p[2] if len(p) > 2 else phases
        if n is not None:
            period["numberPhases"] = n
        schedule["chargingSchedulePeriod"].append(period)
    if kind != "Relative" and start is not None:
        schedule["startSchedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    schedule.update(extra.pop("schedule_extra", {}))
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": schedule, **extra}


def inst(connector_id: int, prof: dict, transaction_id: int | None = None) -> InstalledProfile:
    return InstalledProfile(connector_id, prof, transaction_id)


def comp(profiles, start: datetime, duration_s: int, connector_id: int = 1, **kw) -> CompositeSchedule:
    kw.setdefault("default_limit_a", DEFAULT_A)
    kw.setdefault("voltage_v", VOLT)
    return composite_schedule(profiles, connector_id, start, duration_s, **kw)


def lim(profiles, when: datetime, connector_id: int = 1, **kw) -> float:
    kw.setdefault("default_limit_a", DEFAULT_A)
    kw.setdefault("voltage_v", VOLT)
    return limit_at(profiles, connector_id, when, **kw)


def shape(schedule: CompositeSchedule) -> list[tuple[int, float]]:
    return [(p.start_s, round(p.limit, 6)) for p in schedule.periods]


def _schema(name: str) -> Draft4Validator:
    # Decimal floats, as the ocpp library does, so multipleOf 0.1 is exact.
    path = Path(ocpp.__file__).parent / "v16" / "schemas" / f"{name}.json"
    return Draft4Validator(json.loads(path.read_text(encoding="utf-8-sig"), parse_float=Decimal))


def assert_wire_valid(connector_id: int, prof: dict) -> None:
    payload = json.loads(json.dumps({"connectorId": connector_id, "csChargingProfiles": prof}), parse_float=Decimal)
    _schema("SetChargingProfile").validate(payload)


# ---------------------------------------------------------------------------
# TC_K_41 (OCTT, 2.0.1) adapted to the 1.6 purposes


def tc_k_41_store() -> ProfileStore16:
    store = ProfileStore16()
    profiles = [
        (0, profile(1, CPMAX, [(0, 10)], phases=3, duration=86404), None),
        (1, profile(2, TXDEF, [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)], phases=3, duration=304), None),
        (1, profile(3, TX, [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)], phases=3, duration=264,
                    transactionId=7), 7),
    ]
    for connector_id, prof, tx in profiles:
        assert_wire_valid(connector_id, prof)
        assert store.install(connector_id, prof, active_transaction_id=tx)[0]
    return store


def test_tc_k_41_composite_matches_reference_periods():
    store = tc_k_41_store()
    start = at(4)  # 12:24:40Z
    schedule = comp(store.profiles, start, 400, transaction_start=T0 - timedelta(minutes=1), transaction_id=7)
    assert [(p.start_s, p.limit, p.number_phases) for p in schedule.periods] == [
        (0, 8, 3), (46, 10, 3), (196, 6, 3), (236, 10, 3), (260, 8, 3), (300, 10, 3)]
    wire = schedule.to_ocpp()
    assert wire["startSchedule"] == "2024-01-01T12:24:40.000Z"
    assert wire["duration"] == 400 and wire["chargingRateUnit"] == "A"
    _schema("GetCompositeScheduleResponse").validate(json.loads(json.dumps(
        {"status": "Accepted", "connectorId": 1, "scheduleStart": wire["startSchedule"], "chargingSchedule": wire}),
        parse_float=Decimal))


def test_tc_k_41_in_watts_uses_the_same_breakpoints():
    store = tc_k_41_store()
    schedule = comp(store.profiles, at(4), 400, transaction_start=T0, transaction_id=7, unit="W")
    assert schedule.unit == "W"
    assert shape(schedule) == [(0, 8 * 690), (46, 10 * 690), (196, 6 * 690), (236, 10 * 690), (260, 8 * 690),
                               (300, 10 * 690)]


def test_tc_k_41_limit_at_agrees_with_composite_every_second():
    store = tc_k_41_store()
    schedule = comp(store.profiles, at(4), 400, transaction_start=T0, transaction_id=7)
    for s in range(0, 400, 1):
        when = at(4 + s)
        assert lim(store.profiles, when, transaction_start=T0, transaction_id=7) == schedule.limit_at(when), s


def test_tc_k_41_without_transaction_only_default_and_max_remain():
    store = tc_k_41_store()
    schedule = comp(store.profiles, at(4), 400)
    # TxDefault capped by the 10 A max: 6 until 56, then 10 (10, 8->8 at 116, 15->10 at 176, 8 at 256), 10 after 300.
    assert shape(schedule) == [(0, 6), (56, 10), (116, 8), (176, 10), (256, 8), (300, 10)]


# ---------------------------------------------------------------------------
# Stacking and validity


def test_higher_stack_level_wins_and_lower_shows_through_when_it_ends():
    profiles = [
        inst(1, profile(1, TXDEF, [(0, 16)], stack=0)),
        inst(1, profile(2, TXDEF, [(0, 8), (100, 12)], stack=1, start=at(50), duration=200)),
    ]
    assert shape(comp(profiles, T0, 400)) == [(0, 16), (50, 8), (150, 12), (250, 16)]
    assert lim(profiles, at(249.999)) == 12
    assert lim(profiles, at(250)) == 16


def test_stack_level_not_list_order_decides():
    low, high = profile(1, TXDEF, [(0, 16)], stack=3), profile(2, TXDEF, [(0, 8)], stack=5)
    for order in ([low, high], [high, low]):
        assert lim([inst(1, p) for p in order], at(10)) == 8


def test_valid_from_and_valid_to_bound_a_profile():
    profiles = [
        inst(1, profile(1, TXDEF, [(0, 16)])),
        inst(1, profile(2, TXDEF, [(0, 6)], stack=2, validFrom=iso(at(60)), validTo=iso(at(120)))),
    ]
    assert shape(comp(profiles, T0, 300)) == [(0, 16), (60, 6), (120, 16)]
    assert lim(profiles, at(59.9)) == 16 and lim(profiles, at(60)) == 6 and lim(profiles, at(120)) == 16


def test_replacement_with_future_valid_from_reverts_to_default_until_valid():
    # 3.13.2: same stackLevel+purpose replaces; until validFrom the default applies.
    store = ProfileStore16()
    assert store.install(1, profile(1, TXDEF, [(0, 10)]), active_transaction_id=None)[0]
    ok, reason = store.install(1, profile(2, TXDEF, [(0, 6)], validFrom=iso(at(100))), active_transaction_id=None)
    assert ok and "replaced chargingProfileId 1" in reason
    assert shape(comp(store.profiles, T0, 200)) == [(0, DEFAULT_A), (100, 6)]


# ---------------------------------------------------------------------------
# Kinds: Absolute, Relative, Recurring


def test_absolute_period_starting_after_window_start_is_not_ignored():
    # libocpp #609: a schedule beginning inside the window was dropped.
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (30, 7)], start=at(100)))]
    assert shape(comp(profiles, T0, 300)) == [(0, DEFAULT_A), (100, 10), (130, 7)]


def test_relative_profile_starts_at_transaction_start():
    prof = profile(1, TX, [(0, 6), (60, 16)], kind="Relative", duration=120)
    profiles = [inst(1, prof, transaction_id=5)]
    tx_start = at(30)
    schedule = comp(profiles, T0, 300, transaction_start=tx_start, transaction_id=5)
    assert shape(schedule) == [(0, DEFAULT_A), (30, 6), (90, 16), (150, DEFAULT_A)]
    assert lim(profiles, at(89), transaction_start=tx_start, transaction_id=5) == 6
    assert lim(profiles, at(90), transaction_start=tx_start, transaction_id=5) == 16


def test_relative_tx_default_without_transaction_starts_at_window_start():
    profiles = [inst(0, profile(1, TXDEF, [(0, 6), (60, 16)], kind="Relative"))]
    assert shape(comp(profiles, at(500), 120)) == [(0, 6), (60, 16)]
    assert lim(profiles, at(500)) == 6  # limit_at: "now" is the start
    with_tx = comp(profiles, at(500), 120, transaction_start=at(470), transaction_id=1)
    assert shape(with_tx) == [(0, 6), (30, 16)]


def test_recurring_daily_is_anchored_to_start_schedule_not_midnight():
    # 08:00 for 10 h every day, no limit otherwise.
    anchor = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
    profiles = [inst(0, profile(1, TXDEF, [(0, 6)], kind="Recurring", recurrencyKind="Daily", start=anchor,
                                duration=10 * 3600))]
    day = datetime(2024, 1, 5, tzinfo=UTC)
    assert shape(comp(profiles, day, 86400)) == [(0, DEFAULT_A), (8 * 3600, 6), (18 * 3600, DEFAULT_A)]
    assert lim(profiles, day.replace(hour=7, minute=59, second=59)) == DEFAULT_A
    assert lim(profiles, day.replace(hour=8)) == 6
    assert lim(profiles, day.replace(hour=17, minute=59, second=59)) == 6
    assert lim(profiles, day.replace(hour=18)) == DEFAULT_A


def test_recurring_gap_lets_lower_stack_level_show_through():
    anchor = datetime(2024, 1, 1, 22, 0, tzinfo=UTC)
    profiles = [
        inst(0, profile(1, TXDEF, [(0, 10)], stack=0)),
        inst(0, profile(2, TXDEF, [(0, 32), (3600, 24)], stack=1, kind="Recurring", recurrencyKind="Daily",
                        start=anchor, duration=8 * 3600)),  # 22:00-06:00 across midnight
    ]
    day = datetime(2024, 1, 3, 0, tzinfo=UTC)
    assert shape(comp(profiles, day, 86400)) == [(0, 24), (6 * 3600, 10), (22 * 3600, 32), (23 * 3600, 24)]


def test_spec_example_daily_w_profile_3_13_7():
    prof = profile(100, TXDEF, [(0, 11000, 3), (28800, 6000, 3), (72000, 11000, 3)], kind="Recurring",
                   recurrencyKind="Daily", start=datetime(2013, 1, 1, tzinfo=UTC), duration=86400, unit="W")
    assert_wire_valid(0, prof)
    profiles = [inst(0, prof)]
    day = datetime(2024, 6, 15, tzinfo=UTC)
    assert shape(comp(profiles, day, 86400, unit="W")) == [(0, 11000), (28800, 6000), (72000, 11000)]
    amps = comp(profiles, day, 86400)
    assert shape(amps) == [(0, round(11000 / 690, 6)), (28800, round(6000 / 690, 6)), (72000, round(11000 / 690, 6))]
    assert [p["limit"] for p in amps.to_ocpp()["chargingSchedulePeriod"]] == [15.9, 8.6, 15.9]  # floored to 0.1


def test_recurring_weekly_anchored_to_start_schedule_weekday_and_time():
    anchor = datetime(2024, 1, 3, 18, 0, tzinfo=UTC)  # a Wednesday, 18:00
    profiles = [inst(0, profile(1, TXDEF, [(0, 10)], kind="Recurring", recurrencyKind="Weekly", start=anchor,
                                duration=7200))]
    assert lim(profiles, datetime(2024, 1, 17, 18, 30, tzinfo=UTC)) == 10  # Wednesday two weeks later
    assert lim(profiles, datetime(2024, 1, 17, 20, 0, tzinfo=UTC)) == DEFAULT_A  # duration over
    assert lim(profiles, datetime(2024, 1, 18, 18, 30, tzinfo=UTC)) == DEFAULT_A  # Thursday
    week = comp(profiles, datetime(2024, 1, 8, tzinfo=UTC), 7 * 86400)  # Monday 00:00, one week
    assert shape(week) == [(0, DEFAULT_A), (2 * 86400 + 18 * 3600, 10), (2 * 86400 + 20 * 3600, DEFAULT_A)]


def test_recurring_does_not_apply_before_start_schedule():
    anchor = at(3600)
    profiles = [inst(0, profile(1, TXDEF, [(0, 10)], kind="Recurring", recurrencyKind="Daily", start=anchor))]
    assert lim(profiles, at(3599)) == DEFAULT_A
    assert lim(profiles, at(3600)) == 10
    assert lim(profiles, at(3600 + 86400 - 1)) == 10  # no duration: runs until the next restart...
    assert lim(profiles, at(3600 + 86400)) == 10  # ...which starts it again


def test_recurring_periods_beyond_the_recurrence_are_not_executed():
    # errata 3.43/3.44: a period at 25 h and a duration of 30 h are cut at 24 h.
    anchor = datetime(2024, 1, 1, tzinfo=UTC)
    profiles = [inst(0, profile(1, TXDEF, [(0, 10), (3600, 12), (90000, 6)], kind="Recurring",
                                recurrencyKind="Daily", start=anchor, duration=108000))]
    day = datetime(2024, 1, 2, tzinfo=UTC)
    assert shape(comp(profiles, day, 2 * 86400)) == [(0, 10), (3600, 12), (86400, 10), (90000, 12)]


# ---------------------------------------------------------------------------
# Duration


def test_duration_cuts_periods_and_extends_the_last_one():
    # periods past duration are not executed; duration beyond the last period keeps it.
    short = [inst(1, profile(1, TXDEF, [(0, 10), (60, 12), (120, 14)], duration=90))]
    assert shape(comp(short, T0, 200)) == [(0, 10), (60, 12), (90, DEFAULT_A)]
    long = [inst(1, profile(1, TXDEF, [(0, 10), (60, 12)], duration=500))]
    assert shape(comp(long, T0, 600)) == [(0, 10), (60, 12), (500, DEFAULT_A)]


def test_no_duration_last_period_holds_indefinitely():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (60, 12)]))]
    assert lim(profiles, at(10 * 365 * 86400)) == 12
    assert shape(comp(profiles, at(30 * 86400), 3600)) == [(0, 12)]


def test_schedule_duration_zero_never_applies():
    profiles = [inst(1, profile(1, TXDEF, [(0, 16)])), inst(1, profile(2, TXDEF, [(0, 6)], stack=1, duration=0))]
    assert shape(comp(profiles, T0, 100)) == [(0, 16)]


def test_composite_window_of_zero_seconds_reports_the_active_limit():
    # A charger answered the default limit instead of the active profile for duration 0.
    store = tc_k_41_store()
    schedule = comp(store.profiles, at(60), 0, transaction_start=T0, transaction_id=7)
    assert schedule.duration_s == 0
    assert [(p.start_s, p.limit) for p in schedule.periods] == [(0, 10)]  # TxProfile 11 capped by 10
    assert schedule.limit_at(at(60)) == 10


# ---------------------------------------------------------------------------
# Units and phases


def test_watts_to_amps_three_and_one_phase():
    three = [inst(1, profile(1, TXDEF, [(0, 11040)], unit="W"))]  # numberPhases absent -> 3
    assert lim(three, at(1)) == pytest.approx(16.0)
    one = [inst(1, profile(1, TXDEF, [(0, 7360, 1)], unit="W"))]
    assert lim(one, at(1)) == pytest.approx(32.0)
    schedule = comp(one, T0, 60)
    assert schedule.periods == [SchedulePeriod(0, pytest.approx(32.0), 1)]
    assert comp(one, T0, 60, unit="W").periods[0].limit == 7360


def test_three_phase_watt_limit_on_single_phase_charger_keeps_its_power():
    # errata 3.34: the limit is used as given for the phases that can be used.
    profiles = [inst(1, profile(1, TXDEF, [(0, 4600, 3)], unit="W"))]
    assert lim(profiles, at(1), phases=1) == pytest.approx(20.0)
    assert comp(profiles, T0, 60, phases=1).periods == [SchedulePeriod(0, pytest.approx(20.0), 1)]
    assert lim(profiles, at(1), phases=3) == pytest.approx(4600 / 690)


def test_amp_limits_are_per_phase_whatever_the_phases():
    profiles = [inst(1, profile(1, TXDEF, [(0, 16, 1)]))]
    assert lim(profiles, at(1), phases=3) == 16
    assert comp(profiles, T0, 60, unit="W").periods == [SchedulePeriod(0, 16 * 230, 1)]


def test_mixed_units_combine_on_common_phases():
    # Max 16 A on 3 phases, TxDefault 7360 W on 1 phase: 1 phase in use, 16 A on it (3680 W).
    profiles = [inst(0, profile(1, CPMAX, [(0, 16, 3)])), inst(1, profile(2, TXDEF, [(0, 7360, 1)], unit="W"))]
    assert comp(profiles, T0, 60).periods == [SchedulePeriod(0, 16, 1)]
    assert comp(profiles, T0, 60, unit="W").periods == [SchedulePeriod(0, 3680, 1)]


def test_default_limit_in_watts_uses_charger_phases():
    assert comp([], T0, 60, unit="W").periods == [SchedulePeriod(0, DEFAULT_A * 230 * 3, 3)]
    assert comp([], T0, 60, unit="W", phases=1).periods == [SchedulePeriod(0, DEFAULT_A * 230, 1)]


def test_min_charging_rate_is_not_a_cap():
    prof = profile(1, TXDEF, [(0, 10), (60, 20)], duration=120, schedule_extra={"minChargingRate": 14})
    assert_wire_valid(1, prof)
    assert shape(comp([inst(1, prof)], T0, 180)) == [(0, 10), (60, 20), (120, DEFAULT_A)]


# ---------------------------------------------------------------------------
# Purposes


def test_charge_point_max_caps_tx_profile():
    profiles = [inst(0, profile(1, CPMAX, [(0, 20)])), inst(1, profile(2, TX, [(0, 25), (60, 12)]), 3)]
    schedule = comp(profiles, T0, 120, transaction_start=T0, transaction_id=3)
    assert shape(schedule) == [(0, 20), (60, 12)]


def test_tx_profile_applies_only_during_its_transaction():
    profiles = [inst(1, profile(1, TXDEF, [(0, 16)])), inst(1, profile(2, TX, [(0, 8)], transactionId=9), 9)]
    assert lim(profiles, at(10)) == 16  # no transaction
    assert lim(profiles, at(10), transaction_start=T0, transaction_id=9) == 8
    assert lim(profiles, at(10), transaction_start=T0, transaction_id=10) == 16  # another transaction
    # bound by InstalledProfile.transaction_id when the wire profile carries none
    bound = [inst(1, profile(2, TX, [(0, 8)]), 9)]
    assert lim(bound, at(10), transaction_start=T0, transaction_id=10) == DEFAULT_A
    assert lim(bound, at(10), transaction_start=T0, transaction_id=9) == 8
    # not before the transaction started
    assert shape(comp(profiles, T0, 100, transaction_start=at(40), transaction_id=9)) == [(0, 16), (40, 8)]


def test_tx_default_fills_in_when_tx_profile_ends():
    profiles = [inst(0, profile(1, TXDEF, [(0, 16)])), inst(1, profile(2, TX, [(0, 8)], duration=60), 4)]
    assert shape(comp(profiles, T0, 120, transaction_start=T0, transaction_id=4)) == [(0, 8), (60, 16)]


def test_connector_tx_default_outranks_connector_zero_regardless_of_stack_level():
    profiles = [
        inst(0, profile(1, TXDEF, [(0, 10)], stack=5)),
        inst(1, profile(2, TXDEF, [(0, 16)], stack=0, start=at(60), duration=60)),
    ]
    assert shape(comp(profiles, T0, 200, connector_id=1)) == [(0, 10), (60, 16), (120, 10)]
    assert shape(comp(profiles, T0, 200, connector_id=2)) == [(0, 10)]  # other connectors keep connector 0's


def test_connector_zero_composite_sums_the_connectors_capped_by_the_max():
    # The rule (and 2.0.1 K): connector 0 = sum of the per-connector composites, capped by the
    # station max. (Before 2.0.1 support this module returned min(max, TxDefault on 0) for connector 0.)
    profiles = [
        inst(0, profile(1, CPMAX, [(0, 40), (100, 12)])),
        inst(0, profile(2, TXDEF, [(0, 16)], duration=150)),
        inst(1, profile(3, TXDEF, [(0, 6)])),  # belongs to connector 1 only
        inst(1, profile(4, TX, [(0, 8)]), 1),
    ]
    # connector 1 runs transaction 1 (TxProfile 8 A), connector 2 has TxDefault 16 A, then its rating
    schedule = comp(profiles, T0, 200, connector_id=0, connectors=2, transactions={1: ActiveTransaction(T0, 1)})
    assert shape(schedule) == [(0, 24), (100, 12)]
    idle = comp(profiles, T0, 200, connector_id=0, connectors=2)
    assert shape(idle) == [(0, 22), (100, 12)]
    # without `connectors`, the highest connector id among the profiles counts (here 1)
    assert shape(comp(profiles, T0, 200, connector_id=0, transaction_start=T0, transaction_id=1)) == [(0, 8)]


def test_adjacent_equal_periods_are_merged():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (30, 10), (60, 12), (90, 12), (120, 10)]))]
    schedule = comp(profiles, T0, 200)
    assert shape(schedule) == [(0, 10), (60, 12), (120, 10)]
    limits = [p.limit for p in schedule.periods]
    assert all(a != b for a, b in zip(limits, limits[1:]))


# ---------------------------------------------------------------------------
# Whole seconds, CompositeSchedule helpers


def test_breakpoints_round_to_nearest_second_and_later_wins_within_a_second():
    start = T0 + timedelta(milliseconds=700)
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (10, 12), (11, 14)], start=T0))]
    # exact offsets 9.3 -> 9 and 10.3 -> 10
    assert shape(comp(profiles, start, 30)) == [(0, 10), (9, 12), (10, 14)]
    # exact offsets 9.7 -> 10 and 10.7 -> 11 (nearest, not truncated)
    assert shape(comp(profiles, T0 + timedelta(milliseconds=300), 30)) == [(0, 10), (10, 12), (11, 14)]
    # validFrom 0.2 s after a period start: both fall in second 10, the later value rules
    crowded = [inst(1, profile(1, TXDEF, [(0, 10), (10, 12)], start=T0)),
               inst(1, profile(2, TXDEF, [(0, 6)], stack=1, start=T0, validFrom="2024-01-01T12:24:46.200Z"))]
    assert shape(comp(crowded, T0, 30)) == [(0, 10), (10, 6)]
    assert lim(crowded, at(10.1)) == 12  # limit_at is exact
    # a 0.2 s blip (5.1 s .. 5.3 s) rounds into one second and vanishes from the composite
    blip = [inst(1, profile(1, TXDEF, [(0, 10), (10, 12)], start=T0)),
            inst(1, profile(2, TXDEF, [(0, 6)], stack=1, start=T0, validFrom="2024-01-01T12:24:41.100Z",
                            validTo="2024-01-01T12:24:41.300Z"))]
    assert shape(comp(blip, T0, 30)) == [(0, 10), (10, 12)]
    assert lim(blip, at(5.2)) == 6


def test_composite_limit_at_and_window_bounds():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (60, 12)]))]
    schedule = comp(profiles, T0, 120)
    assert schedule.limit_at(T0) == 10 and schedule.limit_at(at(59.9)) == 10 and schedule.limit_at(at(60)) == 12
    with pytest.raises(ValueError):
        schedule.limit_at(at(-1))
    with pytest.raises(ValueError):
        schedule.limit_at(at(120))


def test_to_ocpp_floors_limits_to_one_decimal():
    schedule = CompositeSchedule(T0, 60, "A", [SchedulePeriod(0, 15.94, 3), SchedulePeriod(30, 8.1, 1)])
    assert schedule.to_ocpp() == {
        "startSchedule": "2024-01-01T12:24:36.000Z", "duration": 60, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 15.9, "numberPhases": 3},
                                   {"startPeriod": 30, "limit": 8.1, "numberPhases": 1}]}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="naive"):
        comp([], datetime(2024, 1, 1), 60)
    with pytest.raises(ValueError, match="unit"):
        comp([], T0, 60, unit="kW")
    with pytest.raises(ValueError, match="duration_s"):
        comp([], T0, -1)
    with pytest.raises(ValueError, match="phases"):
        comp([], T0, 60, phases=4)
    with pytest.raises(ValueError, match="3.0"):
        comp([], T0, 60, ocpp_version="3.0")
    with pytest.raises(ProfileError, match="chargingProfileId 1"):  # invalid profiles are not silently skipped
        comp([inst(1, profile(1, CPMAX, [(0, 10)]))], T0, 60)


# ---------------------------------------------------------------------------
# validate_profile


def test_valid_profiles_pass():
    validate_profile(profile(1, CPMAX, [(0, 8.1, 3)]), 0)
    validate_profile(profile(1, TX, [(0, 6), (10, 0)], kind="Relative", duration=0, transactionId=3), 1)
    validate_profile(profile(1, TXDEF, [(0, 22000.5)], kind="Recurring", recurrencyKind="Weekly", unit="W",
                             validFrom="2024-01-01T00:00:00Z", validTo="2024-02-01T00:00:00+01:00"), 0)


def _broken(change) -> dict:
    prof = profile(42, TXDEF, [(0, 10), (60, 12)])
    change(prof)
    return prof


def _without(key):
    return lambda p: p.pop(key)


def _set(key, value):
    return lambda p: p.__setitem__(key, value)


def _sched(key, value):
    return lambda p: p["chargingSchedule"].__setitem__(key, value)


def _period(i, key, value):
    return lambda p: p["chargingSchedule"]["chargingSchedulePeriod"][i].__setitem__(key, value)


@pytest.mark.parametrize("change, connector_id, rule", [
    (_without("stackLevel"), 1, "stackLevel is required"),
    (_without("chargingSchedule"), 1, "chargingSchedule is required"),
    (_set("stackLevel", -1), 1, "stackLevel must be an integer >= 0"),
    (_set("chargingProfilePurpose", "ChargingStationMaxProfile"), 1, "chargingProfilePurpose"),
    (_set("chargingProfileKind", "Once"), 1, "chargingProfileKind"),
    (_period(0, "startPeriod", 5), 1, "first startPeriod must be 0"),
    (_period(1, "startPeriod", 0), 1, "increase strictly"),
    (_period(1, "limit", -1), 1, "must be >= 0"),
    (_period(1, "limit", 8.15), 1, "more than one decimal"),
    (_period(1, "limit", "12"), 1, "must be a number"),
    (_sched("minChargingRate", 6.05), 1, "minChargingRate 6.05 has more than one decimal"),
    (lambda p: p["chargingSchedule"].pop("startSchedule"), 1, "Absolute profile needs chargingSchedule.startSchedule"),
    (_sched("startSchedule", "yesterday"), 1, "not an ISO 8601"),
    (_set("chargingProfileKind", "Recurring"), 1, "Recurring profile needs recurrencyKind"),
    (lambda p: p.update(chargingProfileKind="Recurring", recurrencyKind="Monthly"), 1, "recurrencyKind 'Monthly'"),
    (lambda p: (p.update(chargingProfileKind="Recurring", recurrencyKind="Daily"),
                p["chargingSchedule"].pop("startSchedule")), 1, "Recurring profile needs chargingSchedule.startSchedule"),
    (_set("chargingProfilePurpose", CPMAX), 1, "only be set on connector 0"),
    (_set("chargingProfilePurpose", TX), 0, "only be set on a connector > 0"),
    (_period(0, "numberPhases", 0), 1, "numberPhases must be 1..3"),
    (_period(0, "numberPhases", 4), 1, "numberPhases must be 1..3"),
    (_sched("chargingRateUnit", "kW"), 1, "chargingRateUnit 'kW'"),
    (_sched("chargingSchedulePeriod", []), 1, "at least one period"),
    (_sched("duration", -5), 1, "duration must be an integer >= 0"),
    (_set("validTo", "soon"), 1, "validTo 'soon' is not an ISO 8601"),
    (lambda p: None, -1, "connectorId -1"),
])
def test_invalid_profiles_name_profile_id_and_rule(change, connector_id, rule):
    with pytest.raises(ProfileError) as err:
        validate_profile(_broken(change), connector_id)
    assert "chargingProfileId 42" in str(err.value)
    assert rule in str(err.value)


def test_one_decimal_rule_accepts_values_that_are_inexact_in_binary():
    for value in (8.1, 0.1, 16.3, 22.7, 11000.0, 7, 0):
        validate_profile(_broken(_period(0, "limit", value)), 1)


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="not supported"):
        validate_profile(profile(1, TXDEF, [(0, 10)]), 1, ocpp_version="3.0")


# ---------------------------------------------------------------------------
# ProfileStore16


def test_store_replaces_same_id_even_on_another_connector():
    store = ProfileStore16()
    assert store.install(1, profile(7, TXDEF, [(0, 10)], stack=1), active_transaction_id=None)[0]
    ok, reason = store.install(2, profile(7, TXDEF, [(0, 12)], stack=4), active_transaction_id=None)
    assert ok and "replaced chargingProfileId 7" in reason
    assert [(p.connector_id, p.profile["stackLevel"]) for p in store.profiles] == [(2, 4)]


def test_store_replaces_same_stack_level_and_purpose_on_same_connector_only():
    store = ProfileStore16()
    store.install(0, profile(1, TXDEF, [(0, 10)], stack=2), active_transaction_id=None)
    store.install(1, profile(2, TXDEF, [(0, 12)], stack=2), active_transaction_id=None)  # other connector: kept
    store.install(1, profile(3, TXDEF, [(0, 14)], stack=3), active_transaction_id=None)  # other level: kept
    store.install(0, profile(4, CPMAX, [(0, 30)], stack=2), active_transaction_id=None)  # other purpose: kept
    assert sorted(p.profile["chargingProfileId"] for p in store.profiles) == [1, 2, 3, 4]
    ok, reason = store.install(1, profile(5, TXDEF, [(0, 8)], stack=2), active_transaction_id=None)
    assert ok and "replaced chargingProfileId 2" in reason
    assert sorted(p.profile["chargingProfileId"] for p in store.profiles) == [1, 3, 4, 5]
    assert lim(store.profiles, at(1)) == 14  # stack 3 on connector 1 still rules there


def test_store_rejects_tx_profile_without_transaction_or_with_other_transaction():
    store = ProfileStore16()
    ok, reason = store.install(1, profile(1, TX, [(0, 10)]), active_transaction_id=None)
    assert not ok and "chargingProfileId 1" in reason and "active transaction" in reason
    ok, reason = store.install(1, profile(2, TX, [(0, 10)], transactionId=5), active_transaction_id=6)
    assert not ok and "chargingProfileId 2" in reason and "transactionId 5" in reason
    assert store.profiles == []
    ok, _ = store.install(1, profile(3, TX, [(0, 10)], transactionId=6), active_transaction_id=6)
    assert ok and store.profiles[0].transaction_id == 6
    ok, _ = store.install(2, profile(4, TX, [(0, 10)]), active_transaction_id=8)  # no transactionId: bound to 8
    assert ok and store.profiles[1].transaction_id == 8


def test_store_rejects_invalid_profile_with_reason():
    store = ProfileStore16()
    ok, reason = store.install(1, profile(9, CPMAX, [(0, 10)]), active_transaction_id=None)
    assert not ok and "chargingProfileId 9" in reason and "connector 0" in reason
    assert store.profiles == []


def test_store_keeps_its_own_copy():
    store = ProfileStore16()
    prof = profile(1, TXDEF, [(0, 10)])
    store.install(1, prof, active_transaction_id=None)
    prof["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 99
    assert lim(store.profiles, at(1)) == 10


def test_end_transaction_removes_only_that_connectors_tx_profiles():
    store = ProfileStore16()
    store.install(0, profile(1, TXDEF, [(0, 16)]), active_transaction_id=None)
    store.install(1, profile(2, TX, [(0, 8)]), active_transaction_id=1)
    store.install(2, profile(3, TX, [(0, 6)]), active_transaction_id=2)
    store.install(1, profile(4, TXDEF, [(0, 12)], stack=1), active_transaction_id=1)
    assert lim(store.profiles, at(1), 1, transaction_start=T0, transaction_id=1) == 8
    store.end_transaction(1)
    assert sorted(p.profile["chargingProfileId"] for p in store.profiles) == [1, 3, 4]
    assert lim(store.profiles, at(1), 1, transaction_start=T0, transaction_id=1) == 12


def _filled_store() -> ProfileStore16:
    store = ProfileStore16()
    store.install(0, profile(1, CPMAX, [(0, 30)], stack=0), active_transaction_id=None)
    store.install(0, profile(2, TXDEF, [(0, 16)], stack=0), active_transaction_id=None)
    store.install(1, profile(3, TXDEF, [(0, 12)], stack=1), active_transaction_id=None)
    store.install(1, profile(4, TX, [(0, 8)], stack=1), active_transaction_id=5)
    return store


def _ids(store: ProfileStore16) -> list[int]:
    return sorted(p.profile["chargingProfileId"] for p in store.profiles)


def test_clear_by_id_ignores_other_fields():
    store = _filled_store()
    assert store.clear(profile_id=3, connector_id=0, purpose=CPMAX)  # errata: other fields ignored
    assert _ids(store) == [1, 2, 4]
    assert not store.clear(profile_id=3)  # Unknown


def test_clear_by_fields_matches_all_given_fields():
    store = _filled_store()
    assert store.clear(connector_id=1, stack_level=1, purpose=TXDEF)
    assert _ids(store) == [1, 2, 4]
    assert not store.clear(connector_id=1, purpose=CPMAX)
    assert store.clear(stack_level=0)
    assert _ids(store) == [4]


def test_clear_without_fields_clears_all_and_reports_unknown_when_empty():
    store = _filled_store()
    assert store.clear()
    assert store.profiles == []
    assert not store.clear()


# ---------------------------------------------------------------------------
# Cross-check against an independent per-instant oracle


def _oracle(profiles, connector_id, t, tx_start, relative_origin):
    """Literal reading of 3.13 at one instant (A units, any transaction id)."""
    def period_limit(prof, origin, t):
        sched = prof["chargingSchedule"]
        off = (t - origin).total_seconds()
        length = sched.get("duration", float("inf"))
        if prof["chargingProfileKind"] == "Recurring":
            if off < 0:
                return None
            period = 86400 if prof["recurrencyKind"] == "Daily" else 604800
            off %= period
            length = min(length, period)
        if off < 0 or off >= length:
            return None
        return [p["limit"] for p in sched["chargingSchedulePeriod"] if p["startPeriod"] <= off][-1]

    def winner(candidates):
        best = None
        for prof, origin in candidates:
            if "validFrom" in prof and t < datetime.fromisoformat(prof["validFrom"]):
                continue
            if "validTo" in prof and t >= datetime.fromisoformat(prof["validTo"]):
                continue
            value = period_limit(prof, origin, t)
            if value is not None and (best is None or prof["stackLevel"] >= best[0]):
                best = (prof["stackLevel"], value)
        return None if best is None else best[1]

    def origin(prof):
        if prof["chargingProfileKind"] == "Relative":
            return relative_origin
        return datetime.fromisoformat(prof["chargingSchedule"]["startSchedule"])

    by = lambda purpose, conn: [(p.profile, origin(p.profile)) for p in profiles  # noqa: E731
                                if p.profile["chargingProfilePurpose"] == purpose and p.connector_id == conn]
    tx = winner([c for c in by(TX, connector_id) if t >= tx_start]) if tx_start else None
    tx_side = next((v for v in (tx, winner(by(TXDEF, connector_id)), winner(by(TXDEF, 0))) if v is not None), None)
    limits = [v for v in (tx_side, winner(by(CPMAX, 0))) if v is not None]
    return min(limits) if limits else DEFAULT_A


def _random_stack(rng: random.Random) -> list[InstalledProfile]:
    profiles = []
    day0 = datetime(2024, 3, 1, tzinfo=UTC)
    for pid in range(rng.randint(2, 7)):
        purpose, connector = rng.choice([(CPMAX, 0), (TXDEF, 0), (TXDEF, 1), (TX, 1)])
        kind = rng.choice(["Absolute", "Relative", "Recurring"])
        n = rng.randint(1, 4)
        starts = [0] + sorted(rng.sample(range(1, 720), n - 1))
        periods = [(s * 60, rng.randint(0, 40)) for s in starts]
        extra = {}
        if kind == "Recurring":
            extra["recurrencyKind"] = rng.choice(["Daily", "Weekly"])
        if rng.random() < 0.3:
            extra["validFrom"] = iso(day0 + timedelta(minutes=rng.randint(0, 3000)))
        if rng.random() < 0.3:
            extra["validTo"] = iso(day0 + timedelta(minutes=rng.randint(1000, 5000)))
        duration = rng.choice([None, rng.randint(1, 1500) * 60])
        start = day0 + timedelta(minutes=rng.randint(-2000, 2000))
        prof = profile(pid, purpose, periods, stack=rng.randint(0, 3), kind=kind, start=start, duration=duration,
                       **extra)
        profiles.append(inst(connector, prof))
    return profiles


@pytest.mark.parametrize("seed", range(25))
def test_composite_matches_per_instant_oracle(seed):
    rng = random.Random(seed)
    profiles = _random_stack(rng)
    start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(-100, 1000))
    tx_start = start + timedelta(minutes=rng.randint(-60, 60)) if rng.random() < 0.7 else None
    window_s = 3 * 86400
    kw = dict(transaction_start=tx_start, transaction_id=None)
    schedule = comp(profiles, start, window_s, **kw)
    relative_origin = tx_start or start  # without a transaction, Relative starts at the window start
    # all breakpoints are whole minutes (the start is too), so sampling on the half minute sees every period
    for k in range(window_s // 30):
        t = start + timedelta(seconds=30 * k)
        assert schedule.limit_at(t) == _oracle(profiles, 1, t, tx_start, relative_origin), t
    for k in range(0, window_s // 30, 97):
        t = start + timedelta(seconds=30 * k)
        if tx_start is not None:  # limit_at anchors Relative at `at` without a transaction
            assert lim(profiles, t, **kw) == schedule.limit_at(t)
