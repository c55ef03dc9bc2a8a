"""Pure pieces of the simulated charger: status derivation, MeterValue building,
profile normalisation and its own meter."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from bench.sim.charger import derive_status, wire_profile
from bench.sim.charger_meter import ChargerMeter, ChargerMeterReading, meter_value
from bench.sim.plant import Plant, PlantSettings
from instruments.iec61851 import CpState


def status(cp, *, operative=True, tx=False, starting=False, authorized=False, finishing=False, offered=32.0):
    return derive_status(cp=cp, operative=operative, has_transaction=tx, starting=starting,
                         authorized=authorized, finishing=finishing, offered_a=offered)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(cp=CpState.A), "Available"),
    (dict(cp=CpState.A, authorized=True), "Preparing"),          # identification first, cable next
    (dict(cp=CpState.B), "Preparing"),                           # cable first
    (dict(cp=CpState.B, tx=True), "SuspendedEV"),                # PWM on, EV not asking
    (dict(cp=CpState.C, tx=True), "Charging"),
    (dict(cp=CpState.D, tx=True), "Charging"),
    (dict(cp=CpState.C, tx=True, offered=0.0), "SuspendedEVSE"),  # 0 A profile
    (dict(cp=CpState.C, tx=True, offered=5.9), "SuspendedEVSE"),  # below the 6 A minimum
    (dict(cp=CpState.B, finishing=True), "Finishing"),
    (dict(cp=CpState.E, tx=True), "Faulted"),
    (dict(cp=CpState.F), "Faulted"),
    (dict(cp=CpState.A, operative=False), "Unavailable"),
    (dict(cp=CpState.C, operative=False, tx=True), "Charging"),  # Inoperative waits for the tx end
])
def test_derive_status(kwargs, expected):
    assert status(**kwargs) == expected


def test_meter_value_formats_units_phases_and_resolution():
    reading = ChargerMeterReading(energy_wh=1234.5678, power_w=7360.04, currents_a=(16.004, 15.996),
                                  voltages_v=(230.04, 229.96))
    at = datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    mv = meter_value(reading, timestamp=at, context="Sample.Periodic", resolution_wh=0.1,
                     measurands=["Energy.Active.Import.Register", "Current.Import", "Power.Active.Import",
                                 "Voltage"])
    assert mv["timestamp"] == "2031-01-02T03:04:05.678Z"
    rows = [(v["measurand"], v.get("phase"), v["value"], v["unit"]) for v in mv["sampledValue"]]
    assert rows == [
        ("Energy.Active.Import.Register", None, "1234.6", "Wh"),
        ("Current.Import", "L1", "16.00", "A"), ("Current.Import", "L2", "16.00", "A"),
        ("Power.Active.Import", None, "7360.0", "W"),
        ("Voltage", "L1-N", "230.0", "V"), ("Voltage", "L2-N", "230.0", "V"),
    ]
    coarse = meter_value(reading, timestamp=at, context="Trigger", resolution_wh=10,
                         measurands=["Energy.Active.Import.Register"])
    assert coarse["sampledValue"][0]["value"] == "1230"


def test_wire_profile_restores_camel_case_and_plain_numbers():
    handed = {"charging_profile_id": 3, "charging_schedule": {
        "charging_rate_unit": "A", "charging_schedule_period": [{"start_period": 0, "limit": Decimal("8.1")}]}}
    assert wire_profile(handed) == {"chargingProfileId": 3, "chargingSchedule": {
        "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.1}]}}


@pytest.mark.parametrize("gain", [1.0, 1.04])
def test_charger_meter_counts_plant_energy_times_gain(gain, manual_clock):
    clock = manual_clock
    plant = Plant(clock, PlantSettings(phases=1))
    meter = ChargerMeter(plant, initial_register_wh=500.0, energy_gain=gain, current_report_gain=1.25)
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=10.0)
    clock.t = 3600.0                       # one hour at 2300 W
    reading = meter.read()
    assert reading.energy_wh == pytest.approx(500.0 + 2300.0 * gain)
    assert reading.power_w == pytest.approx(2300.0 * gain)
    assert reading.currents_a == pytest.approx((12.5,))     # reporting gain only
    assert reading.voltages_v == (230.0,)
