"""The EV model: closes the physical loop the way a car does.

It applies the EV-side CP state on the EV emulator, reads the PWM duty the
charger offers, turns it into the allowed current (IEC 61851-1 Annex A) and,
within the EV's reaction time, sets the AC loads to min(EV maximum, offer);
0 A (loads off) when the offer is below 6 A, there is no PWM, or the EV is
not in state C/D.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bench.clock import Clock
from bench.iec61851 import CpState, duty_to_current_a
from instruments.roles import AcLoad, EvEmulator, InstrumentError

log = logging.getLogger(__name__)
POLL_S = 0.1


@dataclass
class EvSettings:
    max_current_a: float
    phases: int
    reaction_time_s: float


class EvModel:
    def __init__(self, clock: Clock, ev: EvEmulator, loads: list[AcLoad], settings: EvSettings) -> None:
        self.clock = clock
        self.ev = ev
        self.loads = loads[: settings.phases]
        self.settings = settings
        self._all_loads = list(loads)
        self._configured_phases = settings.phases
        self.state = CpState.A
        self.failure: str | None = None  # set when the loop stops on an instrument error
        self._applied_a = 0.0
        self._pending: tuple[float, float] | None = None  # (target A, due at monotonic)
        self._task: asyncio.Task | None = None

    async def set_state(self, state: str | CpState) -> None:
        self.state = CpState(state)
        await self.ev.set_cp_state(self.state.value)
        if not self.state.is_charging:  # the car stops drawing before it leaves C
            await self._apply(0.0)
        if self.state is CpState.A and self.settings.phases != self._configured_phases:
            await self.set_phases(self._configured_phases)  # a phase change lasts while this EV is plugged in

    async def set_phases(self, phases: int) -> None:
        """Draw on `phases` phases (L1..Ln) from now on, e.g. a 1-phase car on a 3-phase charger.
        Unplugging (state A) returns to the configured phases."""
        if not 1 <= phases <= len(self._all_loads):
            raise ValueError(f"the EV cannot draw on {phases} phases: {len(self._all_loads)} AC loads configured")
        for load in self._all_loads[phases:]:
            await load.set_enabled(False)
        self.loads = self._all_loads[:phases]
        self.settings.phases = phases
        if self._applied_a > 0:
            await self._apply(self._applied_a)

    async def inject_error(self, kind: str) -> None:
        """A fault on the EV side of the control pilot, the EV itself unaware (it keeps its state
        and its load): `SHORT` (CP shorted to PE: state E), `DIODE` (the EV's diode missing),
        `NONE` (cleared). Needs an EV emulator with error injection (the reference one has it)."""
        inject = getattr(self.ev, "inject_error", None)
        if inject is None:
            raise InstrumentError(f"{getattr(self.ev, 'name', 'EV emulator')}: this driver cannot inject CP faults")
        await inject(kind)

    def set_behaviour(self, *, max_current_a: float | None = None, reaction_time_s: float | None = None) -> None:
        if max_current_a is not None:
            self.settings.max_current_a = max_current_a
        if reaction_time_s is not None:
            self.settings.reaction_time_s = reaction_time_s

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ev-model")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def target_current_a(self, duty_pct: float) -> float:
        if not self.state.is_charging:
            return 0.0
        offered = duty_to_current_a(duty_pct)
        return 0.0 if offered < 6.0 else min(offered, self.settings.max_current_a)

    async def _run(self) -> None:
        try:
            while True:
                reading = await self.ev.read()
                await self._follow(self.target_current_a(reading.pwm_duty_pct))
                await self.clock.sleep(POLL_S)
        except InstrumentError as exc:
            self.failure = str(exc)
            log.error("EV model stopped: %s", exc)

    async def _follow(self, target: float) -> None:
        now = self.clock.monotonic()
        if abs(target - self._applied_a) < 0.05:
            self._pending = None
            return
        if target < self._applied_a and target == 0.0 and not self.state.is_charging:
            await self._apply(0.0)
            return
        if self._pending is None or abs(self._pending[0] - target) >= 0.05:
            self._pending = (target, now + self.settings.reaction_time_s)
        if now >= self._pending[1]:
            await self._apply(target)
            self._pending = None

    async def _apply(self, current_a: float) -> None:
        if current_a > 0:
            for load in self.loads:
                await load.set_current(current_a)
            for load in self.loads:
                await load.set_enabled(True)
        else:
            for load in self.loads:
                await load.set_enabled(False)
        self._applied_a = current_a
