"""Smart charging for OCPP 2.0.1 and 2.1: profile rules, composite schedule, station store.

Expected values are worked out by hand from OCPP 2.0.1 functional block K, its
2023-12 errata, the 2.0.1/2.1 JSON schemas shipped with the `ocpp` library and the
worked example of OCTT TC_K_41_CS (reference page smart-charging.md); an
independent per-instant oracle cross-checks EVSE 0 sums on generated stacks.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ocpp
import pytest
from jsonschema import Draft6Validator

from bench.smart_charging import (
    ActiveTransaction,
    InstalledProfile,
    ProfileError,
    ProfileStore201,
    ProfileStore21,
    composite_schedule,
    limit_at,
    make_store,
    validate_profile,
)

UTC = timezone.utc
T0 = datetime(2024, 1, 1, 12, 24, 36, tzinfo=UTC)
DEFAULT_A = 32.0
VOLT = 230.0
MAX, EXT, TXDEF, TX = "ChargingStationMaxProfile", "ChargingStationExternalConstraints", "TxDefaultProfile", "TxProfile"
TXID = "c2f1d2a0-tx-41"


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def profile(pid: int, purpose: str, periods, *, stack: int = 0, kind: str = "Absolute",
            start: datetime | None = T0, duration: int | None = None, unit: str = "A",
            phases: int | None = None, schedule_extra: dict | None = None, **extra) -> dict:
    """A 2.x wire ChargingProfile: `id`, chargingSchedule as a list with one schedule."""
    schedule: dict = {"id": pid, "chargingRateUnit": unit, "chargingSchedulePeriod": []}
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
    schedule.update(schedule_extra or {})
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [schedule], **extra}


def inst(evse: int, prof: dict, tx: str | None = None) -> InstalledProfile:
    return InstalledProfile(evse, prof, tx)


def comp(profiles, start, duration_s, evse=1, version="2.0.1", **kw):
    kw.setdefault("default_limit_a", DEFAULT_A)
    kw.setdefault("voltage_v", VOLT)
    return composite_schedule(profiles, evse, start, duration_s, ocpp_version=version, **kw)


def lim(profiles, when, evse=1, version="2.0.1", **kw):
    kw.setdefault("default_limit_a", DEFAULT_A)
    kw.setdefault("voltage_v", VOLT)
    return limit_at(profiles, evse, when, ocpp_version=version, **kw)


def shape(schedule) -> list[tuple[int, float]]:
    return [(p.start_s, round(p.limit, 6)) for p in schedule.periods]


def _validator(version: str, name: str) -> Draft6Validator:
    path = Path(ocpp.__file__).parent / version / "schemas" / f"{name}.json"
    return Draft6Validator(json.loads(path.read_text(encoding="utf-8-sig")))


def assert_wire_valid(version: str, evse: int, prof: dict) -> None:
    _validator(version, "SetChargingProfileRequest").validate({"evseId": evse, "chargingProfile": prof})


# ---------------------------------------------------------------------------
# TC_K_41 exactly as on the reference page


def tc_k_41(version: str = "2.0.1") -> ProfileStore201:
    store = make_store(version)
    assert isinstance(store, ProfileStore201)
    station_max = profile(1, MAX, [(0, 10)], phases=3, duration=86404)
    tx_default = profile(2, TXDEF, [(0, 6), (60, 10), (120, 8), (180, 15), (260, 8)], phases=3, duration=304)
    tx = profile(3, TX, [(0, 8), (50, 11), (140, 16), (200, 6), (240, 12)], phases=3, duration=264,
                 transactionId=TXID)
    for evse, prof, active in ((0, station_max, None), (1, tx_default, TXID), (1, tx, TXID)):
        assert_wire_valid("v201" if version == "2.0.1" else "v21", evse, prof)
        ok, why = store.install(evse, prof, active_transaction_id=active)
        assert ok, why
    return store


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_tc_k_41_composite_exactly_as_the_reference(version):
    store = tc_k_41(version)
    tx = {1: ActiveTransaction(T0 - timedelta(minutes=2), TXID)}
    schedule = comp(store.profiles, at(4), 400, version=version, transactions=tx)  # 12:24:40Z for 400 s
    assert [(p.start_s, p.limit, p.number_phases) for p in schedule.periods] == [
        (0, 8, 3), (46, 10, 3), (196, 6, 3), (236, 10, 3), (260, 8, 3), (300, 10, 3)]
    wire = schedule.to_ocpp_composite(1)
    assert wire["scheduleStart"] == "2024-01-01T12:24:40.000Z" and wire["duration"] == 400
    _validator("v201" if version == "2.0.1" else "v21", "GetCompositeScheduleResponse").validate(
        {"status": "Accepted", "schedule": wire})


def test_tc_k_41_every_second_agrees_with_limit_at():
    store = tc_k_41()
    tx = dict(transaction_start=T0, transaction_id=TXID)
    schedule = comp(store.profiles, at(4), 400, **tx)
    for s in range(400):
        assert lim(store.profiles, at(4 + s), **tx) == schedule.limit_at(at(4 + s)), s


def test_tc_k_41_station_wide_composite_is_the_evse_capped_by_the_max():
    store = tc_k_41()
    tx = {1: ActiveTransaction(T0, TXID)}
    assert shape(comp(store.profiles, at(4), 400, evse=0, transactions=tx)) == \
        shape(comp(store.profiles, at(4), 400, transactions=tx))


def test_tc_k_41_transaction_end_leaves_default_and_max():
    store = tc_k_41()
    store.end_transaction(1)
    assert [p.profile["id"] for p in store.profiles] == [1, 2]
    assert shape(comp(store.profiles, at(4), 400)) == [(0, 6), (56, 10), (116, 8), (176, 10), (256, 8), (300, 10)]


# ---------------------------------------------------------------------------
# Composite rules that differ from 1.6


def test_relative_starts_when_energy_can_flow_also_for_a_profile_received_later():
    # 2023-12 errata: periods stay relative to the moment the EVSE was ready (EV connected and authorized),
    # also when the TxProfile arrives while charging is already under way.
    ready = at(0)
    prof = profile(1, TX, [(0, 6), (60, 16)], kind="Relative", start=None, transactionId=TXID)
    profiles = [inst(1, prof, TXID)]
    later = comp(profiles, at(40), 60, transaction_start=ready, transaction_id=TXID)  # received 40 s after
    assert shape(later) == [(0, 6), (20, 16)]


def test_tx_default_on_evse_and_station_compete_by_stack_level():
    profiles = [inst(0, profile(1, TXDEF, [(0, 10)], stack=5)), inst(1, profile(2, TXDEF, [(0, 16)], stack=0))]
    assert lim(profiles, at(1)) == 10  # 2.0.1: stackLevel decides
    assert lim(profiles, at(1), evse=2) == 10

    def v16(p: InstalledProfile) -> InstalledProfile:
        wire = {k: v for k, v in p.profile.items() if k != "id"}
        schedule = {k: v for k, v in wire.pop("chargingSchedule")[0].items() if k != "id"}
        return InstalledProfile(p.connector_id, {"chargingProfileId": p.profile["id"], **wire,
                                                 "chargingSchedule": schedule})
    assert lim([v16(p) for p in profiles], at(1), version="1.6") == 16  # 1.6: the connector's replaces


def test_external_constraints_on_evse_zero_cap_every_evse_and_the_total():
    store = ProfileStore201(evses=2)
    assert store.install_external(0, profile(9, EXT, [(0, 10)]))[0]
    assert store.install_external(2, profile(8, EXT, [(0, 7)]))[0]
    assert store.install(0, profile(1, TXDEF, [(0, 16)]), active_transaction_id=None)[0]
    assert lim(store.profiles, at(1), evse=1) == 10
    assert lim(store.profiles, at(1), evse=2) == 7
    assert lim(store.profiles, at(1), evse=0, connectors=2) == 10  # 16 + 7 = 23, capped by EVSE 0's 10


def test_evse_zero_sums_evses_with_their_own_phases_and_units():
    # libocpp #943/#1062: W->A must not be done before summing on a wrong phase count; #819: EVSE-specific
    # profiles belong in the station-wide composite.
    profiles = [
        inst(1, profile(1, TX, [(0, 16, 1)], transactionId="A"), "A"),             # 16 A on 1 phase = 3680 W
        inst(2, profile(2, TX, [(0, 11040, 3)], unit="W", transactionId="B"), "B"),  # 16 A on 3 phases
    ]
    tx = {1: ActiveTransaction(T0, "A"), 2: ActiveTransaction(T0, "B")}
    amps = comp(profiles, T0, 60, evse=0, transactions=tx)
    assert [(p.limit, p.number_phases) for p in amps.periods] == [(32, 3)]  # the worst phase carries both
    watts = comp(profiles, T0, 60, evse=0, transactions=tx, unit="W")
    assert [(p.limit, p.number_phases) for p in watts.periods] == [(14720, 3)]
    capped = profiles + [inst(0, profile(3, MAX, [(0, 20)]))]
    assert shape(comp(capped, T0, 60, evse=0, transactions=tx)) == [(0, 20)]
    assert shape(comp(capped, T0, 60, evse=0, transactions=tx, unit="W")) == [(0, 20 * 690)]


def test_evse_zero_fills_idle_evses_with_the_rating():
    profiles = [inst(1, profile(1, TXDEF, [(0, 6)]))]
    assert shape(comp(profiles, T0, 60, evse=0, connectors=2)) == [(0, 6 + DEFAULT_A)]
    assert shape(comp([], T0, 60, evse=0, connectors=3)) == [(0, 3 * DEFAULT_A)]


def test_period_starting_after_the_window_start_is_reported():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10), (30, 7)], start=at(100)))]
    assert shape(comp(profiles, T0, 300)) == [(0, DEFAULT_A), (100, 10), (130, 7)]


def test_zero_second_window_reports_the_active_profile_not_the_default():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10)]))]
    schedule = comp(profiles, at(5), 0)
    assert schedule.to_ocpp_composite(1)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}]


def test_composite_is_reported_in_the_unit_asked_with_phases():
    profiles = [inst(1, profile(1, TXDEF, [(0, 4140, 1)], unit="W"))]  # 18 A on one phase
    assert comp(profiles, T0, 60, unit="W").to_ocpp_composite(1)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 4140.0, "numberPhases": 1}]
    assert comp(profiles, T0, 60).to_ocpp_composite(1)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 18.0, "numberPhases": 1}]


def test_daily_recurrence_is_anchored_to_start_schedule():
    anchor = datetime(2024, 1, 1, 7, 30, tzinfo=UTC)
    profiles = [inst(0, profile(1, TXDEF, [(0, 6)], kind="Recurring", recurrencyKind="Daily", start=anchor,
                                duration=3600))]
    day = datetime(2024, 2, 10, tzinfo=UTC)
    assert shape(comp(profiles, day, 86400)) == [(0, DEFAULT_A), (27000, 6), (30600, DEFAULT_A)]


def test_more_than_one_decimal_is_accepted_and_reported_floored():
    prof = profile(1, TXDEF, [(0, 8.15)])
    validate_profile(prof, 1, "2.0.1")  # 2.x: the one-decimal rule is description text, not schema
    assert comp([inst(1, prof)], T0, 60).to_ocpp_composite(1)["chargingSchedulePeriod"][0]["limit"] == 8.1


def test_first_schedule_of_several_is_executed():
    prof = profile(1, TXDEF, [(0, 10)])
    second = dict(prof["chargingSchedule"][0], id=2, chargingSchedulePeriod=[{"startPeriod": 0, "limit": 20}])
    prof["chargingSchedule"].append(second)
    assert_wire_valid("v201", 1, prof)
    assert lim([inst(1, prof)], at(1)) == 10


def test_2_1_period_without_limit_sets_no_limit():
    profiles = [inst(1, profile(1, TXDEF, [(0, 10)])),
                inst(1, {**profile(2, TXDEF, [(0, 0)], stack=1, duration=60),
                         "chargingSchedule": [{"id": 2, "chargingRateUnit": "A", "duration": 60,
                                               "startSchedule": iso(T0),
                                               "chargingSchedulePeriod": [{"startPeriod": 0}]}]})]
    assert_wire_valid("v21", 1, profiles[1].profile)
    assert shape(comp(profiles, T0, 120, version="2.1")) == [(0, DEFAULT_A), (60, 10)]


# ---------------------------------------------------------------------------
# Acceptance rules of a 2.0.1 / 2.1 station


def _install(store, evse, prof, tx=None, **kw):
    return store.install(evse, prof, active_transaction_id=tx, **kw)


@pytest.mark.parametrize("evse, prof, tx, rule", [
    (1, profile(1, TX, [(0, 10)], transactionId=TXID), None, "needs an active transaction"),  # K02
    (1, profile(1, TX, [(0, 10)]), TXID, "needs a transactionId"),
    (1, profile(1, TX, [(0, 10)], transactionId="other"), TXID, "transactionId other is not the transaction"),  # K16
    (0, profile(1, TX, [(0, 10)], transactionId=TXID), TXID, "only be set on an EVSE > 0"),  # K11
    (3, profile(1, TXDEF, [(0, 10)]), None, "EVSE 3 does not exist"),  # K14
    (1, profile(1, MAX, [(0, 10)]), None, "only be set on EVSE 0"),
    (0, profile(1, MAX, [(0, 10)], kind="Relative", start=None), None, "may not be Relative"),
    (1, profile(1, TXDEF, [(0, 10)], kind="Relative", schedule_extra={"startSchedule": iso(T0)}), None,
     "Relative profile must not have"),
    (1, profile(1, TXDEF, [(0, 10)], start=None), None, "Absolute profile needs chargingSchedule[0].startSchedule"),
    (0, profile(1, EXT, [(0, 10)]), None, "set by an external system"),
    (1, profile(1, TXDEF, [(0, 10)], transactionId=7), None, "transactionId must be a string"),
    (1, profile(1, TXDEF, [(0, 10)], chargingSchedule=[]), None, "list of 1..3 schedules"),
])
def test_station_refuses_with_the_rule(evse, prof, tx, rule):
    store = ProfileStore201(evses=2)
    ok, why = _install(store, evse, prof, tx)
    assert not ok and rule in why and "charging profile id 1" in why
    assert store.profiles == []


def test_unsupported_unit_and_phases_are_refused():  # K12/K42
    store = ProfileStore201(units=("A",), supply_phases=1)
    ok, why = _install(store, 1, profile(1, TXDEF, [(0, 4000)], unit="W"))
    assert not ok and "chargingRateUnit W is not supported" in why
    ok, why = _install(store, 1, profile(2, TXDEF, [(0, 10, 3)]))
    assert not ok and "numberPhases 3 exceeds the 1 supply phases" in why


def test_phase_to_use_needs_one_phase_and_phase_switching():
    prof = profile(1, TXDEF, [(0, 10, 1)])
    prof["chargingSchedule"][0]["chargingSchedulePeriod"][0]["phaseToUse"] = 2
    ok, why = _install(ProfileStore201(), 1, prof)
    assert not ok and "phaseToUse needs AC phase switching" in why
    assert _install(ProfileStore201(phase_switching=True), 1, prof)[0]
    prof["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] = 3
    with pytest.raises(ProfileError, match="phaseToUse is only allowed with numberPhases 1"):
        validate_profile(prof, 1, "2.0.1")


def test_same_id_replaces_even_with_other_stack_level():  # K04
    store = ProfileStore201()
    assert _install(store, 1, profile(5, TXDEF, [(0, 10)], stack=1))[0]
    ok, why = _install(store, 1, profile(5, TXDEF, [(0, 12)], stack=3))
    assert ok and "replaced" in why
    assert [(p.profile["id"], p.profile["stackLevel"]) for p in store.profiles] == [(5, 3)]


def test_same_stack_level_and_purpose_is_refused_not_replaced_unless_validity_is_disjoint():
    store = ProfileStore201()
    assert _install(store, 1, profile(1, TXDEF, [(0, 10)], stack=2, validTo=iso(at(3600))))[0]
    ok, why = _install(store, 1, profile(2, TXDEF, [(0, 12)], stack=2))
    assert not ok and "overlapping validity" in why
    ok, why = _install(store, 1, profile(3, TXDEF, [(0, 12)], stack=2, validFrom=iso(at(3600))))
    assert ok, why
    assert _install(store, 1, profile(4, TXDEF, [(0, 12)], stack=3))[0]


def test_tx_default_stack_level_is_either_station_wide_or_per_evse():
    store = ProfileStore201(evses=2)
    assert _install(store, 0, profile(1, TXDEF, [(0, 10)], stack=1))[0]
    ok, why = _install(store, 2, profile(2, TXDEF, [(0, 12)], stack=1))
    assert not ok and "a stack level is either station-wide or per EVSE" in why
    assert _install(store, 2, profile(2, TXDEF, [(0, 12)], stack=2))[0]


def test_tx_profiles_of_one_transaction_need_distinct_stack_levels():
    store = ProfileStore201()
    assert _install(store, 1, profile(1, TX, [(0, 10)], stack=1, transactionId=TXID), TXID)[0]
    ok, why = _install(store, 1, profile(2, TX, [(0, 8)], stack=1, transactionId=TXID), TXID)
    assert not ok and "same transaction already has stackLevel 1" in why
    assert _install(store, 1, profile(1, TX, [(0, 8)], stack=1, transactionId=TXID), TXID)[0]  # same id: replace


def test_request_start_transaction_profile():  # K37/K38
    store = ProfileStore201()
    ok, why = _install(store, 1, profile(1, TXDEF, [(0, 10)]), "T1", source="RequestStartTransaction")
    assert not ok and "must be a TxProfile" in why
    ok, _ = _install(store, 1, profile(2, TX, [(0, 10)], kind="Relative"), "T1", source="RequestStartTransaction")
    assert ok and store.profiles[0].transaction_id == "T1"
    assert lim(store.profiles, at(1), transaction_start=T0, transaction_id="T1") == 10
    assert lim(store.profiles, at(1), transaction_start=T0, transaction_id="T2") == DEFAULT_A


def test_external_constraints_cannot_be_replaced_or_cleared_by_the_csms():
    store = ProfileStore201()
    assert store.install_external(0, profile(9, EXT, [(0, 10)]))[0]
    ok, why = _install(store, 0, profile(9, TXDEF, [(0, 20)]))
    assert not ok and "cannot replace" in why
    assert not store.clear(profile_id=9) and not store.clear()
    assert not store.install_external(0, profile(10, TXDEF, [(0, 10)]))[0]


def test_clear_by_criteria_and_end_of_transaction():  # K05-K10, K24
    store = ProfileStore201(evses=2)
    _install(store, 0, profile(1, MAX, [(0, 30)]))
    _install(store, 0, profile(2, TXDEF, [(0, 16)], stack=0))
    _install(store, 1, profile(3, TXDEF, [(0, 12)], stack=1))
    _install(store, 1, profile(4, TX, [(0, 8)], stack=1, transactionId=TXID), TXID)
    assert not store.clear(connector_id=2)
    assert store.clear(purpose=TXDEF, stack_level=1)
    assert sorted(p.profile["id"] for p in store.profiles) == [1, 2, 4]
    store.end_transaction(1)
    assert sorted(p.profile["id"] for p in store.profiles) == [1, 2]
    assert store.clear(profile_id=1, connector_id=1)  # the id alone decides
    assert store.clear() and not store.clear()


@pytest.mark.parametrize("change, rule", [
    (lambda p: p.update(chargingProfilePurpose="PriorityCharging"), "PriorityCharging is refused"),
    (lambda p: p.update(chargingProfilePurpose="LocalGeneration"), "LocalGeneration is refused"),
    (lambda p: p.update(chargingProfileKind="Dynamic"), "Dynamic is refused"),
    (lambda p: p.update(dynUpdateInterval=60), "only allowed on a Dynamic profile"),
    (lambda p: p["chargingSchedule"][0].update(useLocalTime=True), "useLocalTime is refused"),
    (lambda p: p["chargingSchedule"][0].update(limitAtSoC={"soc": 80, "limit": 10}), "limitAtSoC is refused"),
    (lambda p: p.update(chargingProfilePurpose=MAX) or p["chargingSchedule"][0].update(randomizedDelay=30),
     "randomizedDelay is only allowed on TxProfile and TxDefaultProfile"),
    (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(operationMode="CentralSetpoint"),
     "operationMode CentralSetpoint is refused"),
    (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(limit_L2=10), "limit_L2 is refused"),
    (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(setpoint=3), "setpoint is refused"),
    (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(evseSleep=True), "evseSleep is refused"),
    (lambda p: p["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(numberPhases=0),
     "numberPhases must be 1..3"),
])
def test_2_1_station_refuses_the_optional_features_it_does_not_offer(change, rule):
    prof = profile(4, TXDEF, [(0, 10)])
    change(prof)
    if prof["chargingProfilePurpose"] == MAX:
        evse = 0
    else:
        evse = 1
    ok, why = ProfileStore21().install(evse, prof, active_transaction_id=None)
    assert not ok and rule in why and "charging profile id 4" in why
    with pytest.raises(ProfileError, match=rule):  # the calculator refuses it as well
        validate_profile(prof, evse, "2.1")


def test_2_1_accepts_what_2_0_1_accepts_plus_neutral_values():
    prof = profile(1, TXDEF, [(0, 10)])
    prof["chargingSchedule"][0].update(randomizedDelay=0, useLocalTime=False)
    prof["chargingSchedule"][0]["chargingSchedulePeriod"][0].update(operationMode="ChargingOnly", evseSleep=False)
    assert_wire_valid("v21", 1, prof)
    assert ProfileStore21().install(1, prof, active_transaction_id=None)[0]


def test_make_store_knows_every_version():
    assert make_store("1.6").ocpp_version == "1.6"
    assert make_store("2.0.1", evses=2).evses == 2
    assert isinstance(make_store("2.1"), ProfileStore21)
    with pytest.raises(ValueError, match="not supported"):
        make_store("1.5")


# ---------------------------------------------------------------------------
# Cross-check EVSE 1 and EVSE 0 against an independent per-instant oracle


def _oracle(profiles, evse_count, t, txs, evse):
    """Literal reading of K at one instant, A only, 3 phases, tx ids matching."""
    def value(prof, origin):
        sched = prof["chargingSchedule"][0]
        off = (t - origin).total_seconds()
        length = sched.get("duration", float("inf"))
        if prof["chargingProfileKind"] == "Recurring":
            if off < 0:
                return None
            off %= 86400
            length = min(length, 86400)
        if off < 0 or off >= length:
            return None
        if "validFrom" in prof and t < datetime.fromisoformat(prof["validFrom"]):
            return None
        if "validTo" in prof and t >= datetime.fromisoformat(prof["validTo"]):
            return None
        return [p["limit"] for p in sched["chargingSchedulePeriod"] if p["startPeriod"] <= off][-1]

    def winner(cands):
        best = None
        for prof, origin in cands:
            v = value(prof, origin)
            if v is not None and (best is None or prof["stackLevel"] >= best[0]):
                best = (prof["stackLevel"], v)
        return None if best is None else best[1]

    def origin(prof, e):
        if prof["chargingProfileKind"] == "Relative":
            return txs[e] if e in txs else t_window
        return datetime.fromisoformat(prof["chargingSchedule"][0]["startSchedule"])

    def one(e, caps):
        tx_cands = [(p.profile, origin(p.profile, e)) for p in profiles
                    if p.connector_id == e and p.profile["chargingProfilePurpose"] == TX and e in txs and t >= txs[e]]
        defaults = [(p.profile, origin(p.profile, e)) for c in (0, e) for p in profiles  # EVSE's own wins ties
                    if p.connector_id == c and p.profile["chargingProfilePurpose"] == TXDEF]
        side = winner(tx_cands)
        side = side if side is not None else winner(defaults)
        values = [v for v in [side] + caps if v is not None]
        return min(values) if values else DEFAULT_A

    station_max = winner([(p.profile, origin(p.profile, 0)) for p in profiles
                          if p.profile["chargingProfilePurpose"] == MAX])
    if evse:
        return one(evse, [station_max])
    total = sum(one(e, []) for e in range(1, evse_count + 1))
    return min(total, station_max) if station_max is not None else total


t_window = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(12))
def test_evse_and_station_composites_match_the_oracle(seed):
    rng = random.Random(seed)
    evses = 2
    profiles = []
    for pid in range(rng.randint(2, 7)):
        purpose, evse = rng.choice([(MAX, 0), (TXDEF, 0), (TXDEF, 1), (TXDEF, 2), (TX, 1), (TX, 2)])
        kind = rng.choice(["Absolute", "Relative", "Recurring"] if purpose != MAX else ["Absolute", "Recurring"])
        starts = [0] + sorted(rng.sample(range(1, 240), rng.randint(0, 3)))
        extra = {"recurrencyKind": "Daily"} if kind == "Recurring" else {}
        if rng.random() < 0.3:
            extra["validFrom"] = iso(t_window + timedelta(minutes=rng.randint(0, 600)))
        if rng.random() < 0.3:
            extra["validTo"] = iso(t_window + timedelta(minutes=rng.randint(300, 900)))
        if purpose == TX:
            extra["transactionId"] = f"T{evse}"
        prof = profile(pid, purpose, [(s * 60, rng.randint(0, 32)) for s in starts], kind=kind,
                       stack=rng.randint(0, 3), start=t_window + timedelta(minutes=rng.randint(-600, 600)),
                       duration=rng.choice([None, rng.randint(1, 600) * 60]), **extra)
        profiles.append(inst(evse, prof, extra.get("transactionId")))
    txs = {e: t_window + timedelta(minutes=rng.randint(-60, 60)) for e in (1, 2) if rng.random() < 0.7}
    transactions = {e: ActiveTransaction(s, f"T{e}") for e, s in txs.items()}
    for evse in (0, 1):
        schedule = comp(profiles, t_window, 86400, evse=evse, transactions=transactions, connectors=evses)
        for k in range(0, 86400 // 30):
            t = t_window + timedelta(seconds=30 * k)
            assert schedule.limit_at(t) == _oracle(profiles, evses, t, txs, evse), (evse, t)
