"""What a power analyser sees of the Plant: per element (phase) quantities and an
integrator, shared by the analyser simulators. The integrator runs on the Plant's
energy, so the analyser's energy is exact in any clock."""
from __future__ import annotations

import math

from bench.sim.plant import Plant

NO_DATA = float("nan")
OVER_RANGE = float("inf")


def apparent_va(plant: Plant, phase: int) -> float:
    return plant.voltage_v(phase) * plant.current_a(phase)


def quantity(plant: Plant, phase: int, function: str) -> float:
    """One measured function on one phase; NaN where the instrument has no data."""
    u, i, p = plant.voltage_v(phase), plant.current_a(phase), plant.power_w(phase)
    s = apparent_va(plant, phase)
    if function == "U":
        return u
    if function == "I":
        return i
    if function == "P":
        return p
    if function == "S":
        return s
    if function == "Q":
        return math.sqrt(max(0.0, s * s - p * p))
    if function == "LAMBDA":
        return p / s if s > 0 else NO_DATA
    if function == "PHI":
        return math.degrees(math.acos(max(-1.0, min(1.0, p / s)))) if s > 0 else NO_DATA
    if function == "FU":
        return plant.settings.frequency_hz if u > 0 else NO_DATA
    if function == "FI":
        return plant.settings.frequency_hz if i > 0 else NO_DATA
    raise KeyError(function)


class Integrator:
    """RESET -> START -> STOP (-> START continues) -> RESET, per phase, in Wh and seconds."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.state = "RESET"
        self._held_wh = [0.0, 0.0, 0.0]
        self._base_wh = [0.0, 0.0, 0.0]
        self._held_s = 0.0
        self._t_start = 0.0

    def start(self) -> None:
        self._base_wh = [self.plant.energy_wh(p) for p in range(3)]
        self._t_start = self.plant.clock.monotonic()
        self.state = "START"

    def stop(self) -> None:
        self._held_wh = [self.energy_wh(p) for p in range(3)]
        self._held_s = self.elapsed_s()
        self.state = "STOP"

    def reset(self) -> None:
        self._held_wh = [0.0, 0.0, 0.0]
        self._held_s = 0.0
        self.state = "RESET"

    def energy_wh(self, phase: int) -> float:
        if self.state != "START":
            return self._held_wh[phase]
        return self._held_wh[phase] + self.plant.energy_wh(phase) - self._base_wh[phase]

    def elapsed_s(self) -> float:
        if self.state != "START":
            return self._held_s
        return self._held_s + self.plant.clock.monotonic() - self._t_start
