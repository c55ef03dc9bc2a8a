"""Each injectable fault changes exactly the behaviour a bench check looks at, by a
margin well beyond the check's tolerance; the correct charger is the control.

These tests run the virtual lab 10x faster than real time (the charger and the
plant only know the injected clock), so a slow reaction of 11 s takes ~1 s."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from bench.sim import faults as F
from bench.sim.charger import ChargerSimConfig
from instruments.iec61851 import current_to_duty_pct

SPEED = 10.0


@pytest.fixture
def clock_speed() -> float:
    return SPEED


def test_fault_names_are_validated():
    assert F.unknown_faults(["pwm_offset", "no_such_fault", "meter_gain_error"]) == ["no_such_fault"]
    assert set(F.FAULTS) >= {"ignores_profile", "slow_reaction", "meter_gain_error", "wrong_current_report",
                             "pwm_offset"}
    with pytest.raises(ValueError, match="no_such_fault"):
        ChargerSimConfig("X", "ws://127.0.0.1:1", faults=frozenset({"no_such_fault"}))
    assert F.effective_reaction_time_s(1.0, ["slow_reaction"]) == 16.0
    assert F.offered_duty_pct(16.7, ["pwm_offset"]) == 20.7
    assert F.offered_duty_pct(100.0, ["pwm_offset"]) == 100.0   # "no charging" stays no charging


@pytest.mark.parametrize("faults, offset", [(frozenset(), 0.0), (frozenset({F.PWM_OFFSET}), 4.0)])
async def test_pwm_offset_raises_the_duty_for_every_limit(lab, faults, offset):
    charger = await lab.charger(faults=faults)
    tx_id = await lab.start_charging(charger)
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == pytest.approx(53.3 + offset), timeout=2)
    assert await lab.set_profile(lab.tx_profile(10.0, tx_id=tx_id)) == "Accepted"
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == pytest.approx(current_to_duty_pct(10.0) + offset),
                         timeout=2)


@pytest.mark.parametrize("faults", [frozenset(), frozenset({F.IGNORES_PROFILE})])
async def test_ignores_profile_keeps_offering_rated_current(lab, faults):
    charger = await lab.charger(faults=faults)
    tx_id = await lab.start_charging(charger)
    assert await lab.set_profile(lab.tx_profile(10.0, tx_id=tx_id)) == "Accepted"   # accepted either way
    await lab.clock.sleep(3.0)        # 15 x the reaction time
    expected = 53.3 if faults else 16.7
    assert lab.plant.pwm_duty_pct == expected
    res = await lab.csms.cp.call(call.GetCompositeSchedule(connector_id=1, duration=60))
    assert res.charging_schedule["charging_schedule_period"][0]["limit"] == 10.0   # it still reports the limit


@pytest.mark.parametrize("faults, reaction_s", [(frozenset(), 0.2), (frozenset({F.SLOW_REACTION}), 0.2 * 6 + 10)])
async def test_slow_reaction_delays_the_pwm_change(lab, faults, reaction_s):
    charger = await lab.charger(faults=faults)
    tx_id = await lab.start_charging(charger)
    t0 = lab.clock.monotonic()
    assert await lab.set_profile(lab.tx_profile(10.0, tx_id=tx_id)) == "Accepted"
    await lab.wait_until(lambda: lab.plant.pwm_duty_pct == 16.7, timeout=3)
    took = lab.clock.monotonic() - t0         # in the charger's own (clock) seconds
    assert reaction_s <= took < reaction_s + 0.5


@pytest.mark.parametrize("faults, energy_gain, current_gain", [
    (frozenset(), 1.0, 1.0),
    (frozenset({F.METER_GAIN_ERROR}), 1.04, 1.0),
    (frozenset({F.WRONG_CURRENT_REPORT}), 1.0, 1.25),
])
async def test_meter_faults_skew_energy_power_or_current(lab, faults, energy_gain, current_gain):
    charger = await lab.charger(faults=faults, meter_sample_interval_s=5.0)
    energy0 = lab.plant.energy_wh()
    await lab.start_charging(charger, amps=16.0)
    mark = lab.csms.mark()
    sample = (await lab.csms.wait_for("MeterValues", since=mark, timeout=2)).payload
    await lab.clock.sleep(20.0)
    await lab.csms.cp.call(call.RemoteStopTransaction(transaction_id=charger.transaction_id()))
    stop = (await lab.csms.wait_for("StopTransaction", since=mark)).payload
    true_wh = lab.plant.energy_wh() - energy0
    assert true_wh > 60.0                     # 11 kW for > 20 s

    begin, end = (float(mv["sampledValue"][0]["value"]) for mv in stop["transactionData"])
    assert (end - begin) / true_wh == pytest.approx(energy_gain, abs=0.004)   # 0.1 Wh digits
    values = {(v["measurand"], v.get("phase")): float(v["value"]) for v in sample["meterValue"][0]["sampledValue"]}
    assert values[("Power.Active.Import", None)] == pytest.approx(3 * 16 * 230 * energy_gain, abs=0.1)
    assert values[("Current.Import", "L1")] == pytest.approx(16.0 * current_gain, abs=0.005)
    assert values[("Voltage", "L1-N")] == 230.0
