"""The EV model: closes the physical loop the way a car does.

It applies the EV-side CP state on the EV emulator, reads the PWM duty the
charger offers, turns it into the allowed current (IEC 61851-1 Annex A) and,
within the EV's reaction time, sets the AC loads to min(EV maximum, offer);
0 A (loads off) when the offer is below 6 A, there is no PWM, or the EV is
not in state C/D.

A real PWM jitters, so the model filters the measured duty as a car's on-board
charger does: a median over the last few readings (a step passes whole, single
outliers do not), compared with the duty the car is acting on through a deadband
of the IEC 61851-1 duty accuracy. Jitter inside the accuracy is the same offer;
a move beyond it is a real change, and the car follows it within its reaction
time counted from when the change began, not from every new reading.
"""
from __future__ import annotations

import asyncio
import logging
import statistics
from collections import deque
from dataclasses import dataclass

from bench.clock import Clock
from instruments.iec61851 import CpState, duty_to_current_a
from instruments.roles import AcLoad, EvEmulator, InstrumentError

log = logging.getLogger(__name__)
POLL_S = 0.1
# After a quiet spell (no change for QUIET_AFTER_S) the car's controller reads the PWM less
# often, at most every QUIET_POLL_S, and at POLL_S again from the first reading that moves. The
# reaction time then counts from the reading before that one, and the quiet period leaves room
# for the median's three readings inside the reaction time, so the car still follows within it
# (IEC 61851-1 allows 5 s) while a 24-hour hold costs a fraction of the reads.
QUIET_AFTER_S = 30.0
QUIET_POLL_S = 1.0
# IEC 61851-1 Annex A: the EVSE's PWM pulse width is accurate to +-5 us at 1 kHz, i.e. +-0.5 %
# of duty (the generator parameters of the control pilot circuit table), and the EV must take
# any duty within that accuracy as the same offer. The bench's `tolerances.pwm_duty_pct`
# judges the charger's duty with the same 0.5 %.
DUTY_ACCURACY_PCT = 0.5
DUTY_MEDIAN_SAMPLES = 5   # 0.5 s of readings: one jittery or glitched reading never moves the median
MEDIAN_LAG_S = (DUTY_MEDIAN_SAMPLES // 2 + 1) * POLL_S  # a step reaches the median in three readings
MIN_CHANGE_A = 0.05       # smaller corrections are below any load's setting resolution


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
        # an unbalanced car: L2, L3 draw at most this (an on-board charger with unequal phase
        # modules); L1 draws all it is offered. None = balanced. Lasts until unplugged.
        self.other_phases_max_a: float | None = None
        self.failure: str | None = None  # set when the loop stops on an instrument error
        self._applied_a = 0.0
        self._task: asyncio.Task | None = None
        self._readings: deque[tuple[float, float]] = deque(maxlen=DUTY_MEDIAN_SAMPLES)  # (monotonic, duty %)
        # the medians since the offer last changed, as a running sum and count: their mean is the offer
        # (a running sum, so a day-long steady offer costs nothing per reading)
        self._offer_sum, self._offer_n = 0.0, 0
        self._changed_at: float | None = None   # when the last real change (offer, state, behaviour) began
        self._pending = False                   # a change waits for the reaction time
        self._moving_at = 0.0                   # the last reading outside the offer's band (or change)

    @property
    def offer_duty_pct(self) -> float | None:
        """The duty the car is acting on: the mean of the filtered readings since the offer last changed."""
        return self._offer_sum / self._offer_n if self._offer_n else None

    async def set_state(self, state: str | CpState) -> None:
        self._mark_change()
        self.state = CpState(state)
        await self.ev.set_cp_state(self.state.value)
        if not self.state.is_charging:  # the car stops drawing before it leaves C
            await self._apply(0.0)
        if self.state is CpState.A:
            self.other_phases_max_a = None
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

    def set_behaviour(self, *, max_current_a: float | None = None, reaction_time_s: float | None = None,
                      other_phases_max_a: float | None = None) -> None:
        self._mark_change()
        if other_phases_max_a is not None:
            self.other_phases_max_a = other_phases_max_a
        if max_current_a is not None:
            self.settings.max_current_a = max_current_a
        if reaction_time_s is not None:
            self.settings.reaction_time_s = reaction_time_s

    @property
    def task(self) -> asyncio.Task | None:
        """The EV loop (done once it stopped, e.g. on an instrument error: `failure` says why)."""
        return self._task

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
                await self.step(reading.pwm_duty_pct)
                await self.clock.sleep(self.poll_period_s())
        except InstrumentError as exc:
            self.failure = str(exc)
            log.error("EV model stopped: %s", exc)

    async def step(self, duty_pct: float) -> None:
        """One reading of the PWM duty: filter it, and follow the offer once the reaction time is up."""
        self.observe_duty(duty_pct, self.clock.monotonic())
        await self._follow()

    def _mark_change(self) -> None:
        self._changed_at = self._moving_at = self.clock.monotonic()
        self._pending = True

    def poll_period_s(self) -> float:
        """POLL_S, or QUIET_POLL_S after QUIET_AFTER_S without any change or moving reading."""
        quiet = not self._pending and self.clock.monotonic() - self._moving_at >= QUIET_AFTER_S
        return max(POLL_S, min(QUIET_POLL_S, self.settings.reaction_time_s - MEDIAN_LAG_S)) if quiet else POLL_S

    def observe_duty(self, duty_pct: float, now: float) -> None:
        """Filter one duty reading; a move beyond the duty accuracy is a real change of the offer."""
        self._readings.append((now, duty_pct))
        median = statistics.median(d for _, d in self._readings)
        offer = self.offer_duty_pct
        if offer is None:
            self._offer_sum, self._offer_n = median, 1
            self._changed_at, self._pending, self._moving_at = now, True, now
            return
        if abs(duty_pct - offer) > self._same_offer_band_pct():
            self._moving_at = now  # back to fast reads until the offer is clear
        if abs(median - offer) <= self._same_offer_band_pct():
            # the same offer: refine it (the mean converges to the nominal duty)
            self._offer_sum, self._offer_n = self._offer_sum + median, self._offer_n + 1
            return
        # A real change. It began with the first reading that left the accuracy band (the median
        # lags a step by half its window); the reaction time counts from there, and a change that
        # arrives while another one waits keeps the earlier start (a car does not re-time a ramp).
        began = self._change_began(offer, now)
        self._offer_sum, self._offer_n = median, 1
        if not self._pending:
            self._changed_at, self._pending = began, True

    def _change_began(self, offer: float, now: float) -> float:
        """The first reading that left the band, or the reading before it when the gap between
        them was a quiet-spell one (the change happened somewhere in that gap)."""
        previous: float | None = None
        for t, d in self._readings:
            if abs(d - offer) > self._same_offer_band_pct():
                return previous if previous is not None and t - previous > 1.5 * POLL_S else t
            previous = t
        return now

    def _same_offer_band_pct(self) -> float:
        """How far a reading may sit from the offer and still be the same offer: the duty accuracy,
        widened by the uncertainty of the offer estimate itself (each of its n medians is only
        accurate to the same 0.5 %; their mean to about 0.5 %/sqrt(n)). Right after a change two
        readings of one duty may differ by twice the accuracy; after a few seconds, by little more
        than the accuracy."""
        return DUTY_ACCURACY_PCT * (1.0 + max(self._offer_n, 1) ** -0.5)

    async def _follow(self) -> None:
        now = self.clock.monotonic()
        offer = self.offer_duty_pct
        target = self.target_current_a(offer if offer is not None else 0.0)
        if target == 0.0 and self._applied_a > 0 and not self.state.is_charging:
            await self._apply(0.0)  # the car stops drawing before it leaves C: no reaction time
            return
        if not self._pending or self._changed_at is None:
            return
        if now >= self._changed_at + self.settings.reaction_time_s:
            self._pending = False
            if abs(target - self._applied_a) >= MIN_CHANGE_A or (target == 0.0) != (self._applied_a == 0.0):
                await self._apply(target)

    async def _apply(self, current_a: float) -> None:
        if current_a > 0:
            cap = self.other_phases_max_a
            for i, load in enumerate(self.loads):
                await load.set_current(min(current_a, cap) if i > 0 and cap is not None else current_a)
            for load in self.loads:
                await load.set_enabled(True)
        else:
            for load in self.loads:
                await load.set_enabled(False)
        self._applied_a = current_a
