"""Real signals in the virtual lab: noise, jitter, under-draw, wandering mains, coarse clocks.

A correct charger on a real bench never produces textbook numbers: the reference meter
and the charger's own meter each see their own measurement noise, the mains voltage
wanders, the car draws a little less than it is offered, the PWM generator jitters and
the charger's clock stamps whole seconds. The checks must hold on such signals, so the
virtual lab produces them by default (`virtual_lab.realism` in lab_config.yaml).

Each effect lives where it happens physically:
- mains voltage and EV under-draw: the Plant (every meter sees the same real values,
  and energy integrates them);
- reference meter noise: `SensedPlant`, the view of the Plant a power-meter simulator reads;
- charger meter noise, reaction time, PWM jitter, timestamp resolution: the simulated charger.

All randomness comes from one seeded numpy Generator per effect (spawned from one
`SeedSequence`), so a run is reproducible and one effect drawing more often does not
change the others.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from bench.clock import Clock

if TYPE_CHECKING:
    from bench.sim.plant import Plant

# Slow effects are sums of a few sinusoids: smooth, bounded by construction, and a
# function of the clock alone (so energy integrates them the same in any clock speed).
MAINS_PERIOD_S = (60.0, 600.0)      # the grid voltage drifts over minutes
UNDERDRAW_PERIOD_S = (20.0, 120.0)  # an on-board charger's input current drifts over tens of seconds
WANDER_TERMS = 3
# A meter produces one reading per measuring cycle: every quantity read in the same cycle
# (current, power of a phase) carries the same error, a new cycle a new one.
MEASURING_CYCLE_S = 0.05
NOISE_SIGMA_FRACTION = 1 / 3        # the stated noise band is the 3-sigma band (normal, clipped to it)


@dataclass(frozen=True)
class RealismSettings:
    """The knobs of `virtual_lab.realism` (see bench.config.RealismConfig for the defaults)."""

    current_noise_pct: float = 1.0
    reaction_time_s: tuple[float, float] = (0.2, 3.0)
    ev_underdraw_a: tuple[float, float] = (0.3, 0.8)
    mains_v: tuple[float, float] = (225.0, 235.0)
    pwm_jitter_pct: float = 0.3
    timestamp_resolution_s: float = 1.0
    seed: int = 1


class Wander:
    """A slowly varying signal inside [lo, hi]: mid + half * sum(w_k sin(omega_k t + phi_k)),
    weights summing to 1, so it never leaves the band."""

    def __init__(self, rng: np.random.Generator, lo: float, hi: float, period_s: tuple[float, float]) -> None:
        self.lo, self.hi = lo, hi
        self._mid, self._half = (lo + hi) / 2, (hi - lo) / 2
        weights = rng.uniform(0.2, 1.0, WANDER_TERMS)
        self._weights = weights / weights.sum()
        self._omega = 2 * math.pi / rng.uniform(period_s[0], period_s[1], WANDER_TERMS)
        self._phase = rng.uniform(0.0, 2 * math.pi, WANDER_TERMS)
        self._terms = list(zip(self._weights.tolist(), self._omega.tolist(), self._phase.tolist()))

    def at(self, t: float | np.ndarray) -> float | np.ndarray:
        if isinstance(t, float | int):  # one instant (every instrument read): plain floats are 10x cheaper
            s = sum(w * math.sin(omega * t + phase) for w, omega, phase in self._terms)
            return min(self.hi, max(self.lo, self._mid + self._half * s))
        t_arr = np.asarray(t, dtype=float)
        s = np.sin(np.multiply.outer(t_arr, self._omega) + self._phase) @ self._weights
        value = np.clip(self._mid + self._half * s, self.lo, self.hi)
        return float(value) if value.ndim == 0 else value


class MeasurementNoise:
    """Relative per-cycle noise of one meter, independent per phase."""

    def __init__(self, rng: np.random.Generator, band_pct: float, clock: Clock) -> None:
        self._rng = rng
        self._band = band_pct / 100.0
        self._clock = clock
        self._cycle: int | None = None
        self._factors = np.ones(3)

    def factor(self, phase: int) -> float:
        """1 + the relative error of this measuring cycle on `phase` (within +-band)."""
        if self._band <= 0:
            return 1.0
        cycle = math.floor(self._clock.monotonic() / MEASURING_CYCLE_S)
        if cycle != self._cycle:
            self._cycle = cycle
            err = self._rng.normal(0.0, self._band * NOISE_SIGMA_FRACTION, 3)
            self._factors = 1.0 + np.clip(err, -self._band, self._band)
        return float(self._factors[phase])


class Realism:
    """The random sources of one position's virtual lab."""

    def __init__(self, settings: RealismSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        seeds = np.random.SeedSequence(settings.seed).spawn(6)
        mains, underdraw, ref_noise, charger_noise, reaction, jitter = (np.random.default_rng(s) for s in seeds)
        self.mains = [Wander(mains, *settings.mains_v, MAINS_PERIOD_S) for _ in range(3)]
        self.underdraw = [Wander(underdraw, *settings.ev_underdraw_a, UNDERDRAW_PERIOD_S) for _ in range(3)]
        self.reference_noise = MeasurementNoise(ref_noise, settings.current_noise_pct, clock)
        self.charger_noise = MeasurementNoise(charger_noise, settings.current_noise_pct, clock)
        self._reaction_rng = reaction
        self._jitter_rng = jitter

    def reaction_time_s(self) -> float:
        """The charger's reaction to one limit change, drawn per change."""
        lo, hi = self.settings.reaction_time_s
        return float(self._reaction_rng.uniform(lo, hi))

    def jittered_duty_pct(self, duty_pct: float) -> float:
        """The duty the PWM generator actually produces for a nominal `duty_pct`."""
        j = self.settings.pwm_jitter_pct
        return duty_pct + float(self._jitter_rng.uniform(-j, j)) if j > 0 else duty_pct

    def charger_clock(self, clock: Clock) -> Clock:
        res = self.settings.timestamp_resolution_s
        return TruncatedClock(clock, res) if res > 0 else clock


class TruncatedClock:
    """The charger's real-time clock: UTC truncated to its resolution (a typical charger
    stamps OCPP messages in whole seconds); monotonic time and sleeps are untouched."""

    def __init__(self, clock: Clock, resolution_s: float) -> None:
        self._clock = clock
        self._res = resolution_s

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def utcnow(self) -> datetime:
        now = self._clock.utcnow()
        epoch = now.replace(hour=0, minute=0, second=0, microsecond=0)
        elapsed = (now - epoch).total_seconds()
        return epoch + timedelta(seconds=math.floor(elapsed / self._res + 1e-9) * self._res)

    def fine_utcnow(self) -> datetime:
        """The true time (for the charger's control, which runs on its monotonic timer)."""
        return self._clock.utcnow()

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds)


def fine_utcnow(clock: Clock) -> datetime:
    """UTC at full resolution, also behind a `TruncatedClock`."""
    fine = getattr(clock, "fine_utcnow", None)
    return fine() if fine is not None else clock.utcnow()


class SensedPlant:
    """The Plant as a power meter senses it: the same voltages and energy, currents (and so
    power) with this meter's own per-cycle noise. Everything else is the Plant's."""

    def __init__(self, plant: "Plant", noise: MeasurementNoise) -> None:
        self._plant = plant
        self._noise = noise

    def __getattr__(self, name: str):  # clock, settings, energy_wh, cp state ...: the Plant's own
        return getattr(self._plant, name)

    def current_a(self, phase: int) -> float:
        return self._plant.current_a(phase) * self._noise.factor(phase)

    def power_w(self, phase: int) -> float:
        return self._plant.power_w(phase) * self._noise.factor(phase)

    def total_power_w(self) -> float:
        return sum(self.power_w(p) for p in range(3))
