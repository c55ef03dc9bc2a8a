"""The simulated charger's own energy meter, and the OCPP 1.6 MeterValue it reports.

The meter sits on the same conductors as the plant, so it counts the plant's
exact energy (deltas of `Plant.energy_wh()`), times a gain that models a
metering error. Reported currents have their own gain so a reporting bug can
be simulated without touching the energy. With realism the instantaneous current
and power carry the meter's own per-sample noise (independent of the reference
meter's); the energy register integrates the real plant and stays exact.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from bench.clock import iso_utc
from bench.sim.plant import Plant
from bench.sim.realism import MeasurementNoise

SUPPORTED_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Current.Import",
    "Power.Active.Import",
    "Voltage",
    "Current.Offered",
)


@dataclass(frozen=True)
class ChargerMeterReading:
    energy_wh: float                    # lifetime import register
    power_w: float                      # total active power
    currents_a: tuple[float, ...]       # per phase, L1 first (only the plant's phases)
    voltages_v: tuple[float, ...]       # L-N per phase


class ChargerMeter:
    def __init__(
        self,
        plant: Plant,
        *,
        initial_register_wh: float = 0.0,
        energy_gain: float = 1.0,
        current_report_gain: float = 1.0,
        noise: MeasurementNoise | None = None,
        creep_wh_per_h: float = 0.0,
    ) -> None:
        self._noise = noise
        self._plant = plant
        self._energy_gain = energy_gain
        self._current_gain = current_report_gain
        self._register0_wh = initial_register_wh
        self._plant_energy0_wh = plant.energy_wh()
        # a creeping register (the `meter_creep` fault): counts while no current flows, judged at each
        # read for the time since the last one (reads come every sample interval or more often)
        self._creep_wh_per_h = creep_wh_per_h
        self._creep_wh = 0.0
        self._creep_t: float | None = None

    def register_wh(self) -> float:
        """Lifetime import register, Wh (unrounded: rounding is the reporter's job)."""
        counted = self._plant.energy_wh() - self._plant_energy0_wh
        return self._register0_wh + self._energy_gain * counted + self._creep()

    def _creep(self) -> float:
        if not self._creep_wh_per_h:
            return 0.0
        now = self._plant.clock.monotonic()
        idle = all(self._plant.current_a(p) == 0.0 for p in range(3))
        if self._creep_t is not None and idle:
            self._creep_wh += self._creep_wh_per_h * (now - self._creep_t) / 3600.0
        self._creep_t = now
        return self._creep_wh

    def reset_register(self) -> None:
        """The register starts again from 0 Wh (only the `energy_register_reset` fault does this)."""
        self._register0_wh = 0.0
        self._plant_energy0_wh = self._plant.energy_wh()
        self._creep_wh = 0.0

    def read(self) -> ChargerMeterReading:
        phases = range(self._plant.settings.phases)
        noise = [self._noise.factor(p) if self._noise else 1.0 for p in range(3)]
        return ChargerMeterReading(
            energy_wh=self.register_wh(),
            power_w=self._energy_gain * sum(self._plant.power_w(p) * noise[p] for p in range(3)),
            currents_a=tuple(self._current_gain * self._plant.current_a(p) * noise[p] for p in phases),
            voltages_v=tuple(self._plant.voltage_v(p) for p in phases),
        )


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _decimals_of(resolution: float) -> int:
    return max(0, -cast(int, Decimal(str(resolution)).normalize().as_tuple().exponent))  # finite: an int


def meter_value(
    reading: ChargerMeterReading,
    *,
    timestamp: datetime,
    context: str,
    measurands: Iterable[str],
    resolution_wh: float,
    offered_a: float = 0.0,
) -> dict:
    """One OCPP 1.6 MeterValue (wire camelCase) from a meter reading."""
    energy = round(reading.energy_wh / resolution_wh) * resolution_wh
    sampled: list[dict] = []

    def add(measurand: str, value: str, unit: str, phase: str | None = None) -> None:
        sv = {"value": value, "context": context, "format": "Raw", "measurand": measurand,
              "location": "Outlet", "unit": unit}
        if phase:
            sv["phase"] = phase
        sampled.append(sv)

    for m in measurands:
        if m == "Energy.Active.Import.Register":
            add(m, _fmt(energy, _decimals_of(resolution_wh)), "Wh")
        elif m == "Power.Active.Import":
            add(m, _fmt(reading.power_w, 1), "W")
        elif m == "Current.Import":
            for i, amps in enumerate(reading.currents_a):
                add(m, _fmt(amps, 2), "A", f"L{i + 1}")
        elif m == "Voltage":
            for i, volts in enumerate(reading.voltages_v):
                add(m, _fmt(volts, 1), "V", f"L{i + 1}-N")
        elif m == "Current.Offered":
            add(m, _fmt(offered_a, 1), "A")
    return {"timestamp": iso_utc(timestamp), "sampledValue": sampled}
