"""The virtual lab's physics: mains, the charger's contactor, the load current, energy.

One `Plant` per position. Simulators read and write it:
- the EV emulator simulator sets the EV-side CP state (`ev_cp_state`);
- the simulated charger sets `pwm_duty_pct`, `pwm_on`, `evse_state_f` and `contactor_closed`;
- the AC load simulators set per-phase `load_enabled` / `load_setpoint_a`;
- the power meter simulator and the charger's own meter read currents and energy.

Current is piecewise constant between state changes, so energy is integrated
exactly: every mutation and every read first integrates up to `clock.monotonic()`.
With realism (bench/sim/realism.py) the mains voltage wanders and the car draws a
little less than its load setpoint, both slowly and as functions of the clock: energy
then integrates them in short steps (midpoint rule), which for signals varying over
tens of seconds is exact to far below any meter's resolution.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from bench.clock import Clock
from bench.sim.realism import Realism
from instruments.iec61851 import CpState, duty_to_current_a

INTEGRATION_STEP_S = 0.5  # with realism: the longest midpoint step of the energy integral
# the most of its setpoint the car's under-draw takes: at or above 4 x the under-draw (3.2 A with
# the default 0.8 A) the cap never applies, so every point of 6 A and more draws as before
UNDERDRAW_MAX_SHARE = 0.25


@dataclass
class PlantSettings:
    phases: int = 3
    nominal_voltage_v: float = 230.0
    frequency_hz: float = 50.0
    power_factor: float = 1.0


@dataclass
class Plant:
    clock: Clock
    settings: PlantSettings = field(default_factory=PlantSettings)
    realism: Realism | None = None  # None: ideal mains (nominal voltage) and a car drawing its setpoint
    # EV side (EV emulator)
    ev_cp_state: CpState = CpState.A
    # EVSE side (charger)
    pwm_on: bool = False
    pwm_duty_pct: float = 100.0
    evse_state_f: bool = False
    contactor_closed: bool = False
    # AC loads, one per phase (index 0 = L1)
    load_enabled: list[bool] = field(default_factory=lambda: [False, False, False])
    load_setpoint_a: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    # integrated energy per phase, Wh (what a perfect meter would count)
    _energy_wh: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _t_last: float | None = None
    # called when the EV side changes (CP state, load): a charger idling between its deadlines
    # wakes at once, as a real one's CP comparator interrupt would wake it
    listeners: list[Callable[[], None]] = field(default_factory=list, repr=False)

    # ---- mains -------------------------------------------------------------
    def voltage_v(self, phase: int) -> float:
        """Voltage on the charger's output side of the meter (L-N)."""
        return cast(float, self._voltage_at(phase, self.clock.monotonic()))  # a float for a float t

    def _voltage_at(self, phase: int, t: float | np.ndarray) -> float | np.ndarray:
        if phase >= self.settings.phases:
            return 0.0
        if self.realism is None:
            return self.settings.nominal_voltage_v
        return self.realism.mains[phase].at(t)

    def load_side_voltage_v(self, phase: int) -> float:
        """Voltage the AC load sees: only with the contactor closed."""
        return self.voltage_v(phase) if self.contactor_closed else 0.0

    # ---- currents ------------------------------------------------------------
    def current_a(self, phase: int) -> float:
        return float(self._current_at(phase, self.clock.monotonic()))

    def _current_at(self, phase: int, t: float | np.ndarray) -> float | np.ndarray:
        if not self.contactor_closed or phase >= self.settings.phases or not self.load_enabled[phase]:
            return 0.0
        setpoint = self.load_setpoint_a[phase]
        if self.realism is None or setpoint <= 0:
            return setpoint
        # the car's on-board charger draws a little less than it is allowed (and set to); a load set
        # to a fraction of an ampere (a meter's Imin) draws a share less, not nothing
        underdraw = np.minimum(self.realism.underdraw[phase].at(t), UNDERDRAW_MAX_SHARE * setpoint)
        if isinstance(underdraw, float):
            return max(0.0, setpoint - underdraw)
        return np.maximum(0.0, setpoint - underdraw)

    def power_w(self, phase: int) -> float:
        return float(self._power_at(phase, self.clock.monotonic()))

    def _power_at(self, phase: int, t: float | np.ndarray) -> float | np.ndarray:
        return self._current_at(phase, t) * self._voltage_at(phase, t) * self.settings.power_factor

    def total_power_w(self) -> float:
        return sum(self.power_w(p) for p in range(3))

    def energy_wh(self, phase: int | None = None) -> float:
        self.integrate()
        return sum(self._energy_wh) if phase is None else self._energy_wh[phase]

    # ---- control pilot --------------------------------------------------------
    def cp_state(self) -> CpState:
        """State seen on the CP line: F if the EVSE forces it, else the EV's state."""
        if self.evse_state_f:
            return CpState.F
        return self.ev_cp_state

    def cp_duty_pct(self) -> float:
        """Duty an EV measures: 0 without PWM (or unplugged/F/E), else the charger's duty."""
        state = self.cp_state()
        if not self.pwm_on or state in (CpState.A, CpState.E, CpState.F):
            return 0.0
        return self.pwm_duty_pct

    def offered_current_a(self) -> float:
        return duty_to_current_a(self.cp_duty_pct())

    # ---- mutation (always integrate first) -------------------------------------
    def integrate(self) -> None:
        now = self.clock.monotonic()
        if self._t_last is not None and now > self._t_last:
            dt_s = now - self._t_last
            if self.realism is None:  # constant power since the last change: exact
                for p in range(3):
                    self._energy_wh[p] += float(self._power_at(p, now)) * dt_s / 3600.0
            else:
                steps = max(1, math.ceil(dt_s / INTEGRATION_STEP_S))
                # one midpoint (the usual case: every read integrates) stays a float: realism's scalar path
                mid = (self._t_last + dt_s / 2 if steps == 1
                       else self._t_last + (np.arange(steps) + 0.5) * (dt_s / steps))
                for p in range(3):
                    power = np.broadcast_to(self._power_at(p, mid), np.shape(mid))
                    self._energy_wh[p] += float(power.sum()) * (dt_s / steps) / 3600.0
        self._t_last = now

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def set_ev_cp_state(self, state: CpState) -> None:
        self.integrate()
        changed = self.ev_cp_state is not CpState(state)
        self.ev_cp_state = CpState(state)
        if changed:
            self._notify()

    def set_pwm(self, on: bool, duty_pct: float = 100.0) -> None:
        self.integrate()
        self.pwm_on = on
        self.pwm_duty_pct = duty_pct

    def set_state_f(self, on: bool) -> None:
        self.integrate()
        self.evse_state_f = on

    def set_contactor(self, closed: bool) -> None:
        self.integrate()
        self.contactor_closed = closed

    def set_load(self, phase: int, *, enabled: bool | None = None, setpoint_a: float | None = None) -> None:
        self.integrate()
        before = (self.load_enabled[phase], self.load_setpoint_a[phase])
        if enabled is not None:
            self.load_enabled[phase] = enabled
        if setpoint_a is not None:
            self.load_setpoint_a[phase] = max(0.0, setpoint_a)
        if (self.load_enabled[phase], self.load_setpoint_a[phase]) != before:
            self._notify()
