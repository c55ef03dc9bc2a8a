"""The virtual lab's own car, for protocol-only positions (no instruments configured).

A protocol-only position has no EV emulator and no AC loads, yet scenarios still need
a cable plugged in and a car that draws what the PWM offers, or the simulated charger
never starts a session. These two classes give the bench exactly that, acting on the
virtual lab's Plant in-process (a person plugging in a car, in effect). They implement
the instrument roles so the unchanged `EvModel` drives them; nothing here is measured:
the position has no trace columns and every physical check is SKIPPED.
"""
from __future__ import annotations

from bench.sim.plant import Plant
from instruments.iec61851 import CpState, duty_to_current_a
from instruments.roles import AcLoad, AcLoadReading, EvEmulator, EvEmulatorReading, Identity


class PlantEv(EvEmulator):
    """Sets the CP state on the plant and reads back the charger's PWM."""

    def __init__(self, plant: Plant) -> None:
        super().__init__("virtual car", "virtual-lab:plant")
        self.plant = plant
        self.applied = CpState.A
        self.error = "NONE"

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def identify(self) -> Identity:
        return Identity("evbench", "virtual-lab car")

    async def set_cp_state(self, state: str) -> None:
        self.applied = CpState(state)
        self._apply()

    async def inject_error(self, kind: str) -> None:
        """CP faults as the reference EV emulator makes them (SHORT, DIODE: the line shows E; NONE)."""
        if kind not in ("NONE", "DIODE", "SHORT"):
            raise ValueError(f"unknown CP error {kind!r}")
        self.error = kind
        self._apply()

    def _apply(self) -> None:
        self.plant.set_ev_cp_state(CpState.E if self.error != "NONE" else self.applied)

    async def read(self) -> EvEmulatorReading:
        duty = self.plant.cp_duty_pct()
        return EvEmulatorReading(self.plant.cp_state().value, duty, duty_to_current_a(duty))


class PlantLoad(AcLoad):
    """Draws a current on one phase of the plant (the car's on-board charger, in effect)."""

    def __init__(self, plant: Plant, phase: int) -> None:
        super().__init__(f"virtual car L{phase}", "virtual-lab:plant")
        self.plant = plant
        self.index = phase - 1

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def identify(self) -> Identity:
        return Identity("evbench", "virtual-lab car load")

    async def set_current(self, current_a: float) -> None:
        self.plant.set_load(self.index, setpoint_a=current_a)

    async def set_enabled(self, on: bool) -> None:
        self.plant.set_load(self.index, enabled=on)

    async def read(self) -> AcLoadReading:
        i = self.index
        return AcLoadReading(self.plant.current_a(i), self.plant.power_w(i), self.plant.load_side_voltage_v(i),
                             self.plant.load_enabled[i])


def plant_car(plant: Plant, phases: int) -> tuple[PlantEv, list[PlantLoad]]:
    """The car of a protocol-only position: its CP and one load per phase it draws on."""
    return PlantEv(plant), [PlantLoad(plant, p) for p in range(1, phases + 1)]
