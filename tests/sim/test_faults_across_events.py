"""The faults of what a charger must keep, or drop, across events (sessions, reboots, EV
suspensions, unbalanced phases), as pure functions: each changes exactly its one behaviour
and leaves the correct charger's alone. The scenarios that catch them run in
tests/integration/test_across_events.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.sim import faults as F
from bench.smart_charging import InstalledProfile, ProfileStore16, ProfileStore201, limit_at

T0 = datetime(2031, 1, 1, 12, 0, tzinfo=timezone.utc)


def _profile(pid: int, purpose: str, limit: float, *, kind: str = "Absolute", periods=None) -> dict:
    schedule = {"chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": float(v)} for s, v in (periods or [(0, limit)])]}
    if kind != "Relative":
        schedule["startSchedule"] = T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"chargingProfileId": pid, "stackLevel": 1, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": schedule}


def _store_with_tx_profile() -> ProfileStore16:
    store = ProfileStore16()
    assert store.install(0, _profile(1, "TxDefaultProfile", 10), active_transaction_id=None)[0]
    assert store.install(1, _profile(2, "TxProfile", 8), active_transaction_id=41)[0]
    return store


def _limit(profiles, tx_id, start=T0) -> float:
    return limit_at(profiles, 1, T0 + timedelta(seconds=30), default_limit_a=32.0, voltage_v=230.0, phases=3,
                    transaction_start=start, transaction_id=tx_id)


def test_the_correct_charger_drops_only_the_tx_profile_at_transaction_end():
    store = _store_with_tx_profile()
    F.end_transaction_profiles(store, 1, [])
    assert [p.profile["chargingProfilePurpose"] for p in store.profiles] == ["TxDefaultProfile"]
    assert _limit(store.profiles, 42) == 10.0  # the next transaction: the default again


def test_tx_profile_outlives_transaction_limits_the_next_one():
    store = _store_with_tx_profile()
    faults = [F.TX_PROFILE_OUTLIVES_TRANSACTION]
    F.end_transaction_profiles(store, 1, faults)
    assert len(store.profiles) == 2
    assert _limit(store.profiles, 42) == 10.0  # bound to transaction 41: a correct reading ignores it
    assert _limit(F.misread_profiles(store.profiles, faults), 42) == 8.0  # the faulty charger applies it


def test_tx_default_first_transaction_only_drops_the_default_at_the_first_end():
    store = _store_with_tx_profile()
    F.end_transaction_profiles(store, 1, [F.TX_DEFAULT_FIRST_TRANSACTION_ONLY])
    assert store.profiles == []
    assert _limit(store.profiles, 42) == 32.0


def test_tx_default_first_transaction_only_on_2x():
    store = ProfileStore201()
    profile = {**_profile(1, "TxDefaultProfile", 10), "id": 1}
    del profile["chargingProfileId"]
    profile["chargingSchedule"] = [{**profile["chargingSchedule"], "id": 1}]
    assert store.install(0, profile, active_transaction_id=None)[0]
    F.end_transaction_profiles(store, 1, [])
    assert len(store.profiles) == 1
    F.end_transaction_profiles(store, 1, [F.TX_DEFAULT_FIRST_TRANSACTION_ONLY])
    assert store.profiles == []


def test_profiles_persist_over_a_reboot_unless_lost():
    store = _store_with_tx_profile()
    F.after_reboot(store, [])
    assert len(store.profiles) == 2
    F.after_reboot(store, [F.PROFILES_LOST_ON_REBOOT])
    assert store.profiles == []


@pytest.mark.parametrize("status", ["Charging", "SuspendedEV", "SuspendedEVSE"])
def test_status_is_unchanged_on_the_correct_charger(status):
    assert F.status_while_transaction(status, True, []) == status


def test_status_stuck_suspended_ev_only_after_a_suspension():
    faults = [F.STATUS_STUCK_SUSPENDED_EV]
    assert F.status_while_transaction("Charging", False, faults) == "Charging"
    assert F.status_while_transaction("Charging", True, faults) == "SuspendedEV"
    assert F.status_while_transaction("SuspendedEVSE", True, faults) == "SuspendedEVSE"


def test_relative_start_is_the_transaction_start_unless_timed_from_plug_in():
    plugged, started = T0, T0 + timedelta(seconds=15)
    assert F.relative_start(started, plugged, []) == started
    assert F.relative_start(started, plugged, [F.RELATIVE_FROM_PLUG_IN]) == plugged
    assert F.relative_start(None, plugged, [F.RELATIVE_FROM_PLUG_IN]) is None  # no transaction, no schedule start
    relative = [InstalledProfile(1, _profile(3, "TxProfile", 0, kind="Relative", periods=[(0, 8), (10, 13)]), 7)]
    at = started + timedelta(seconds=2)
    assert limit_at(relative, 1, at, default_limit_a=32.0, voltage_v=230.0, phases=3,
                    transaction_start=F.relative_start(started, plugged, []), transaction_id=7) == 8.0
    assert limit_at(relative, 1, at, default_limit_a=32.0, voltage_v=230.0, phases=3,
                    transaction_start=F.relative_start(started, plugged, [F.RELATIVE_FROM_PLUG_IN]),
                    transaction_id=7) == 13.0


def test_the_correct_charger_offers_its_limit_whatever_the_phases_draw():
    assert F.offered_current_a(10.0, [10.0, 5.0, 5.0], []) == 10.0


def test_limits_phase_average_lets_one_phase_exceed_the_limit():
    faults = [F.LIMITS_PHASE_AVERAGE]
    offer = F.offered_current_a(10.0, [10.0, 5.0, 5.0], faults)
    assert offer == 20.0  # L1 may draw 20 A so that (20 + 5 + 5) / 3 = 10 A
    assert F.offered_current_a(10.0, [0.0, 0.0, 0.0], faults) == 10.0  # nothing flows yet: the limit
    assert F.offered_current_a(0.0, [3.0, 3.0, 3.0], faults) == 0.0  # a suspension stays one
