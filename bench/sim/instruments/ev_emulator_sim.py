"""Simulated EV emulator serving the bench's reference SCPI command set.

The command set is documented in `instruments/drivers/reference_ev_emulator.py`.
The EV side of the control pilot lives in the Plant: `CP:STATE x` sets the state
the EV applies, and the queries read what the line shows (the charger may force
state F; PWM comes from the charger).

Error injection (`EV:ERR`): SHORT shorts CP to PE, which the line shows as state
E (0 V). DIODE removes the EV's diode; the Plant has no negative CP level, so the
charger sees this as state E too. `EV:ERR NONE` restores the state the EV applies.

Watchdog (`SYST:WDOG <s>`): armed, any command feeds it; `s` seconds without one and the
emulator unplugs (state A, no error injected), so a bench process that died, even by
SIGKILL, leaves no EV asking for current. Its timer runs on the event loop's clock.
"""
from __future__ import annotations

import asyncio

from bench.sim.instruments.scpi_server import Command, ScpiDevice, choice_arg, number_arg
from bench.sim.plant import Plant
from instruments.iec61851 import CpState

EV_STATES = ("A", "B", "C", "D", "E")  # F is the EVSE's state, an EV cannot apply it
EV_ERRORS = ("NONE", "DIODE", "SHORT")
PP_RESISTANCE_RANGE_OHM = (0.0, 100_000.0)
PWM_FREQUENCY_HZ = 1000.0
DEFAULT_PP_OHM = 220.0  # 32 A cable (IEC 61851-1 Annex B)
WATCHDOG_RANGE_S = (0.0, 3600.0)  # 0 = off


class EvEmulatorSim(ScpiDevice):
    SUPPORTS_SYST_ERR = True

    def __init__(self, plant: Plant, *, serial: str = "SIM0001", firmware: str = "1.0.0") -> None:
        self.plant = plant
        self.serial = serial
        self.firmware = firmware
        self.applied_state = "A"
        self.error = "NONE"
        self.pp_ohm = DEFAULT_PP_OHM
        self.watchdog_s = 0.0
        self.watchdog_trips = 0
        self._watchdog: asyncio.TimerHandle | None = None
        super().__init__()
        self.reset()

    def idn(self) -> str:
        return f"EVBENCH,REF-EV-EMULATOR,{self.serial},{self.firmware}"

    def reset(self) -> None:
        self.applied_state = "A"
        self.error = "NONE"
        self.pp_ohm = DEFAULT_PP_OHM
        self._apply()

    def commands(self) -> list[Command]:
        return [
            Command("CP:STATe", self._set_state),
            Command("CP:STATe?", lambda a: self.plant.cp_state().value),
            Command("CP:DUTY?", lambda a: f"{self.plant.cp_duty_pct():.2f}"),
            Command("CP:VOLTage?", lambda a: f"{self.plant.cp_state().high_level_v:.2f}"),
            Command("CP:FREQuency?", self._freq),
            Command("PP:RESistance", self._set_pp),
            Command("PP:RESistance?", lambda a: f"{self.pp_ohm:g}"),
            Command("EV:ERRor", self._set_error),
            Command("EV:ERRor?", lambda a: self.error),
            Command("SYSTem:WDOG", self._set_watchdog),
            Command("SYSTem:WDOG?", lambda a: f"{self.watchdog_s:g}"),
        ]

    def before_command(self) -> None:
        self._feed()

    def _set_watchdog(self, args: list[str]) -> None:
        self.watchdog_s = number_arg(args, *WATCHDOG_RANGE_S)
        self._feed()

    def _feed(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.watchdog_s > 0:
            self._watchdog = asyncio.get_running_loop().call_later(self.watchdog_s, self._starved)

    def _starved(self) -> None:
        self._watchdog = None
        self.watchdog_trips += 1
        self.applied_state, self.error = "A", "NONE"
        self._apply()

    def _set_state(self, args: list[str]) -> None:
        self.applied_state = choice_arg(args, EV_STATES)
        self._apply()

    def _set_error(self, args: list[str]) -> None:
        self.error = choice_arg(args, EV_ERRORS)
        self._apply()

    def _set_pp(self, args: list[str]) -> None:
        self.pp_ohm = number_arg(args, *PP_RESISTANCE_RANGE_OHM)

    def _freq(self, args: list[str]) -> str:
        duty = self.plant.cp_duty_pct()
        return f"{PWM_FREQUENCY_HZ if 0.0 < duty < 100.0 else 0.0:.1f}"

    def _apply(self) -> None:
        state = CpState.E if self.error != "NONE" else CpState(self.applied_state)
        if self.plant.ev_cp_state != state:
            self.plant.set_ev_cp_state(state)
