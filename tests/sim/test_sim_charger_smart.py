"""Smart charging on the simulated charger: profiles in, PWM out (after the reaction time)."""
from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from instruments.iec61851 import current_to_duty_pct


async def test_tx_profile_limits_pwm_after_the_reaction_time(lab):
    charger = await lab.charger()
    tx_id = await lab.start_charging(charger)
    assert lab.plant.pwm_duty_pct == 53.3

    t0 = asyncio.get_running_loop().time()
    assert await lab.set_profile(lab.tx_profile(10.0, tx_id=tx_id)) == "Accepted"
    took = await lab.wait_until(lambda: lab.plant.pwm_duty_pct == current_to_duty_pct(10.0) == 16.7, timeout=2)
    assert 0.2 <= asyncio.get_running_loop().time() - t0 and took < 0.2 + 0.25   # reaction 0.2 s + tick and scheduling
    assert lab.plant.offered_current_a() == pytest.approx(10.02)

    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert res.status == "Accepted" and res.connector_id == 1
    periods = res.charging_schedule["charging_schedule_period"]
    assert periods[0]["start_period"] == 0 and periods[0]["limit"] == 10.0
    assert res.charging_schedule["duration"] == 60

    mark = lab.csms.mark()
    assert await lab.set_profile(lab.tx_profile(0.0, tx_id=tx_id)) == "Accepted"   # same id replaces
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == 100.0, timeout=2)
    await lab.csms.wait_status("SuspendedEVSE", since=mark)
    assert lab.plant.offered_current_a() == 0.0
    assert lab.plant.contactor_closed        # allowed to stay closed while suspended

    res = await lab.csms.cp.call(call.ClearChargingProfile(id=7))
    assert res.status == "Accepted"
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == 53.3, timeout=2)
    await lab.csms.wait_status("Charging", since=mark)
    res = await lab.csms.cp.call(call.ClearChargingProfile(id=7))
    assert res.status == "Unknown"


async def test_tx_profile_without_transaction_is_rejected(lab):
    await lab.charger()
    assert await lab.set_profile(lab.tx_profile(10.0)) == "Rejected"
    assert await lab.set_profile(lab.tx_profile(10.0), connector_id=5) == "Rejected"   # no such connector


async def test_default_profile_limits_the_next_transaction_and_max_caps_it(lab):
    charger = await lab.charger()
    default = {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]},
    }
    cp_max = {
        "chargingProfileId": 2, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {"chargingRateUnit": "W", "startSchedule": "2020-01-01T00:00:00Z",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8280.0}]},  # 12 A x 3 x 230 V
    }
    assert await lab.set_profile(default, connector_id=0) == "Accepted"
    await lab.start_charging(charger)
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == current_to_duty_pct(16.0), timeout=2)
    assert await lab.set_profile(cp_max, connector_id=0) == "Accepted"
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == current_to_duty_pct(12.0), timeout=2)
    assert charger.applied_limit_a() == pytest.approx(12.0)


async def test_remote_start_with_profile_installs_it_for_that_transaction_only(lab):
    charger = await lab.charger()
    await lab.start_charging(charger, profile=lab.tx_profile(10.0))
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == 16.7, timeout=2)

    mark = lab.csms.mark()
    await lab.csms.cp.call(call.RemoteStopTransaction(transaction_id=charger.transaction_id()))
    await lab.csms.wait_for("StopTransaction", since=mark)
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=10))
    assert res.charging_schedule["charging_schedule_period"][0]["limit"] == 32.0   # TxProfile gone
    assert (await lab.csms.cp.call(call.ClearChargingProfile(id=7))).status == "Unknown"


async def test_remote_start_with_a_non_tx_profile_is_rejected(lab):
    charger = await lab.charger()
    profile = lab.tx_profile(10.0) | {"chargingProfilePurpose": "TxDefaultProfile"}
    res = await lab.csms.cp.call(call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1,
                                                             charging_profile=profile))
    assert res.status == "Rejected"
    assert charger.connector_status() != "Preparing"
