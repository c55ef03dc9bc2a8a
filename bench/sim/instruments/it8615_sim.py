"""Simulated ITECH IT8600 series AC/DC load (IT8615, IT8616), bound to one Plant phase.

Rules the simulator enforces (check against the ITECH programming guide):
- set commands need remote mode (`SYSTem:REMote`); in local mode they are refused
  with -221 Settings conflict (`SYSTem:LOCal` returns to local);
- `SYSTem:MODE AC|DC`: the bench's mains are AC, so the input only switches on in AC
  mode; `[SOURce:]FUNCtion CURRent|RESistance|VOLTage|POWer|SHORt` (query answers the
  short form), only CURRent is simulated: `INPut ON` in another function is refused;
- `[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude] <A rms>` within 0..the model's
  maximum, else -222 Data out of range (setpoint unchanged);
- `INPut[:STATe] ON|OFF|1|0`, `INPut[:STATe]?` -> 1/0;
- `MEASure:VOLTage[:RMS]?`, `MEASure:CURRent[:RMS]?`, `MEASure:POWer[:ACTive]?`,
  `MEASure:FREQuency?`;
- protection: when the power drawn exceeds the model's rating (or the current its
  maximum) the load switches its input off by itself; nothing is queued, `INPut?` reads 0;
- errors go to the `SYSTem:ERRor?` queue.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.sim.instruments.analyser_plant import PhaseLoadSim
from bench.sim.instruments.scpi_server import (
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Command,
    ScpiError,
    bool_arg,
    no_args,
    one_arg,
)
from bench.sim.plant import Plant


@dataclass(frozen=True)
class ItechModel:
    name: str
    max_current_a: float
    max_power_w: float


MODELS = {  # (check) ratings per model
    "IT8615": ItechModel("IT8615", 20.0, 1800.0),
    "IT8616": ItechModel("IT8616", 40.0, 3600.0),
}
DEFAULT_MODEL = "IT8616"
FUNCTIONS = {"CURR": "CURR", "CURRENT": "CURR", "RES": "RES", "RESISTANCE": "RES", "VOLT": "VOLT",
             "VOLTAGE": "VOLT", "POW": "POW", "POWER": "POW", "SHOR": "SHOR", "SHORT": "SHOR"}


class It8615Sim(PhaseLoadSim):
    SUPPORTS_SYST_ERR = True
    DRIVER = "itech_it8615"
    MANUFACTURER = "ITECH Ltd"
    MODELS = MODELS

    def __init__(self, plant: Plant, phase: int, *, model: str = DEFAULT_MODEL, serial: str | None = None,
                 firmware: str = "1.11-1.08") -> None:
        self.remote = False
        self.mode = "AC"
        self.tripped = False
        super().__init__(plant, phase, model=model, serial=serial or f"8000{phase}", firmware=firmware)

    def reset(self) -> None:
        self.function = "CURR"
        super().reset()

    def commands(self) -> list[Command]:
        return [
            Command("SYSTem:REMote", self._remote(True)),
            Command("SYSTem:LOCal", self._remote(False)),
            Command("SYSTem:MODE", self._set_mode),
            Command("SYSTem:MODE?", lambda a: self.mode),
            Command("[SOURce:]FUNCtion", self._set_function),
            Command("[SOURce:]FUNCtion?", lambda a: self.function),
            Command("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]", self._set_current),
            Command("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?",
                    lambda a: f"{self.plant.load_setpoint_a[self.index]:.4f}"),
            Command("INPut[:STATe]", self._set_input),
            Command("INPut[:STATe]?", self._enabled),
            Command("MEASure:CURRent[:RMS]?", self._meas_current),
            Command("MEASure:VOLTage[:RMS]?", self._meas_voltage),
            Command("MEASure:POWer[:ACTive]?", self._meas_power),
            Command("MEASure:FREQuency?", self._meas_freq),
        ]

    # ---- handlers --------------------------------------------------------------------
    def _remote(self, on: bool):
        def handler(args: list[str]) -> None:
            no_args(args)
            self.remote = on
        return handler

    def _need_remote(self, what: str) -> None:
        if not self.remote:
            raise ScpiError(SETTINGS_CONFLICT, f"{what} in local mode; send SYST:REM first")

    def _set_mode(self, args: list[str]) -> None:
        self._need_remote("SYST:MODE")
        text = one_arg(args).upper()
        if text not in ("AC", "DC"):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
        if self.plant.load_enabled[self.index]:
            raise ScpiError(SETTINGS_CONFLICT, "switch the input off before changing the mode")
        self.mode = text

    def _set_function(self, args: list[str]) -> None:
        self._need_remote("FUNC")
        text = one_arg(args).upper()
        if text not in FUNCTIONS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
        self.function = FUNCTIONS[text]

    def _set_current(self, args: list[str]) -> None:
        self._need_remote("CURR")
        self._apply_current(args)

    def _set_input(self, args: list[str]) -> None:
        self._need_remote("INP")
        on = bool_arg(args)
        if on and self.mode != "AC":
            raise ScpiError(SETTINGS_CONFLICT, "DC mode on AC mains: set SYST:MODE AC")
        if on and self.function != "CURR":
            raise ScpiError(SETTINGS_CONFLICT, f"function {self.function} is not simulated, only CURR")
        self._switch(on)

    # ---- protection -------------------------------------------------------------------
    def _check_protection(self) -> None:
        if (self.plant.current_a(self.index) > self.model.max_current_a
                or self.plant.power_w(self.index) > self.model.max_power_w):
            self.tripped = True
            self.plant.set_load(self.index, enabled=False)
