"""Smart-charging faults of the simulated charger, through real OCPP sockets: each one makes
the charger misread its profiles (PWM) or misreport its composite in one precise way, and the
correct charger does it right. Also GetCompositeSchedule for connector 0 and profiles kept
over a reboot (K13)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from bench.clock import iso_utc
from bench.sim import faults as F
from instruments.iec61851 import current_to_duty_pct


def _profile(pid: int, periods, *, stack: int = 1, purpose: str = "TxProfile", kind: str = "Absolute",
             start=None, unit: str = "A", phases: int | None = None, tx_id: int | None = None, **extra) -> dict:
    schedule = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": float(v), **({"numberPhases": phases} if phases else {})} for s, v in periods]}
    if start is not None:
        schedule["startSchedule"] = iso_utc(start)
    profile = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
               "chargingProfileKind": kind, "chargingSchedule": schedule, **extra}
    if tx_id is not None:
        profile["transactionId"] = tx_id
    return profile


async def _limit_after(lab, charger, profiles: list[dict], connector_id: int = 1) -> float:
    """Install the profiles (all Accepted), let the reaction time pass, return the limit on the PWM."""
    for p in profiles:
        assert await lab.set_profile(p, connector_id) == "Accepted"
    await lab.wait_until(charger.limits_settled, timeout=3)
    await lab.clock.sleep(0.5)
    return charger.applied_limit_a()


def _stacked(lab, tx):
    now = lab.clock.utcnow()
    return [_profile(1, [(0, 12)], stack=1, start=now, tx_id=tx), _profile(2, [(0, 7)], stack=2, start=now, tx_id=tx)]


def _future_valid(lab, tx):
    now = lab.clock.utcnow()
    return [_profile(1, [(0, 13)], stack=1, start=now, tx_id=tx),
            _profile(2, [(0, 7)], stack=2, start=now, tx_id=tx, validFrom=iso_utc(now + timedelta(hours=1)))]


def _watts_3_phases(lab, tx):
    return [_profile(1, [(0, 6900)], start=lab.clock.utcnow(), unit="W", phases=3, tx_id=tx)]


def _watts_1_phase(lab, tx):
    return [_profile(1, [(0, 2760)], start=lab.clock.utcnow(), unit="W", phases=1, tx_id=tx)]


def _daily_from_30_s_ago(lab, tx):
    # anchored 30 s ago: 13 A (first minute of the day's recurrence); from midnight: 8 A
    return [_profile(1, [(0, 13), (60, 8)], purpose="TxDefaultProfile", kind="Recurring", recurrencyKind="Daily",
                     start=lab.clock.utcnow() - timedelta(seconds=30))]


@pytest.mark.parametrize("fault, profiles, right_a, wrong_a, wrong_report", [
    (F.STACK_LEVEL_INVERTED, _stacked, 7.0, 12.0, 12.0),
    (F.IGNORES_VALIDITY, _future_valid, 13.0, 7.0, 7.0),
    (F.W_AS_A, _watts_3_phases, 10.0, 32.0, 6900.0),  # 6900 W read as 6900 A: the rating rules the PWM
    (F.PHASES_IGNORED, _watts_1_phase, 12.0, 4.0, 4.0),  # 2760 W on 1 phase vs spread on 3
    (F.RECURRENCE_FROM_MIDNIGHT, _daily_from_30_s_ago, 13.0, 8.0, 8.0),
])
@pytest.mark.parametrize("faulty", [False, True])
async def test_fault_misreads_the_profiles_the_correct_charger_reads_right(lab, fault, profiles, right_a, wrong_a,
                                                                           wrong_report, faulty):
    charger = await lab.charger(faults=frozenset({fault}) if faulty else frozenset())
    tx = await lab.start_charging(charger)
    limit = await _limit_after(lab, charger, profiles(lab, tx))
    want = wrong_a if faulty else right_a
    assert limit == pytest.approx(want)
    assert lab.plant.pwm_duty_pct == current_to_duty_pct(want)
    # the charger reports what it believes in GetCompositeSchedule as well
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=20))
    reported = float(res.charging_schedule["charging_schedule_period"][0]["limit"])
    assert reported == pytest.approx(wrong_report if faulty else right_a, abs=0.1)


@pytest.mark.parametrize("faulty", [False, True])
async def test_composite_report_wrong_drops_later_periods_but_limits_right(lab, faulty):
    charger = await lab.charger(faults=frozenset({F.COMPOSITE_REPORT_WRONG}) if faulty else frozenset())
    tx = await lab.start_charging(charger)
    assert await _limit_after(lab, charger, [_profile(1, [(0, 10), (30, 12)], start=lab.clock.utcnow(),
                                                      tx_id=tx)]) == 10.0
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    periods = [(p["start_period"], float(p["limit"])) for p in res.charging_schedule["charging_schedule_period"]]
    if faulty:
        assert periods == [(0, 10.0)]
    else:  # the 12 A period starts 30 s after the profile, about a second before the request
        assert [limit for _, limit in periods] == [10.0, 12.0] and 28 <= periods[1][0] <= 30


async def test_misread_profiles_leaves_the_store_and_other_faults_alone():
    from bench.smart_charging import InstalledProfile

    p = InstalledProfile(1, _profile(1, [(0, 10)], unit="W", phases=1, stack=3, validTo="2030-01-01T00:00:00Z"))
    same = F.misread_profiles([p], {F.SLOW_REACTION})
    assert same == [p]
    wrong = F.misread_profiles([p], {F.W_AS_A, F.PHASES_IGNORED, F.IGNORES_VALIDITY, F.STACK_LEVEL_INVERTED})[0]
    assert wrong.profile["chargingSchedule"]["chargingRateUnit"] == "A"
    assert "numberPhases" not in wrong.profile["chargingSchedule"]["chargingSchedulePeriod"][0]
    flip = F.magnitude(F.STACK_LEVEL_INVERTED, "flip")
    assert "validTo" not in wrong.profile and wrong.profile["stackLevel"] == flip - 3
    assert p.profile["chargingSchedule"]["chargingRateUnit"] == "W" and "validTo" in p.profile  # store untouched


async def test_connector_zero_composite_is_the_station_total(lab):
    charger = await lab.charger()
    tx = await lab.start_charging(charger)
    now = lab.clock.utcnow()
    assert await lab.set_profile(_profile(1, [(0, 20)], purpose="ChargePointMaxProfile", stack=0, start=now), 0) \
        == "Accepted"
    assert await lab.set_profile(_profile(2, [(0, 14), (20, 25)], start=now, tx_id=tx)) == "Accepted"
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=0, duration=40))
    periods = [(p["start_period"], float(p["limit"])) for p in res.charging_schedule["charging_schedule_period"]]
    assert [limit for _, limit in periods] == [14.0, 20.0]  # one connector: its composite, capped by the max
    assert 19 <= periods[1][0] <= 20


async def test_replaced_profile_stays_replaced_over_a_reboot(lab):  # K13, "not persisted over reboot"
    charger = await lab.charger()
    now = lab.clock.utcnow()
    default = dict(purpose="TxDefaultProfile", stack=2, start=now)
    assert await lab.set_profile(_profile(1, [(0, 10)], **default)) == "Accepted"
    assert await lab.set_profile(_profile(2, [(0, 14)], **default)) == "Accepted"  # same stack+purpose: replaces
    boots = charger.boot_count
    assert (await lab.csms.cp.call(call.Reset(type="Hard"))).status == "Accepted"
    await lab.wait_until(lambda: charger.boot_count > boots and charger.online, timeout=5)
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=10))
    assert float(res.charging_schedule["charging_schedule_period"][0]["limit"]) == 14.0
    assert (await lab.csms.cp.call(call.ClearChargingProfile(id=1))).status == "Unknown"
