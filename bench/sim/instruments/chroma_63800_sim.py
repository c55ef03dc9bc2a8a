"""Simulated Chroma 63800 AC load (one unit per phase), bound to one Plant phase.

Follows the instrument's rules as documented for the 63802/63803/63804:
- `[LOAD:]MODE {CURR|POW|VOLT|RES|RLC|RLCP|INRUSH|RECT}` or 0..7; `MODE?` answers the
  mnemonic; there is no `CC` mnemonic (-224 Illegal parameter value). Only CURR
  mode is simulated: `LOAD ON` in another mode is refused (-221 Settings conflict).
- `CURR <A rms>` above the model's maximum is rejected with -222 Data out of range
  and leaves the setpoint unchanged (no protection trips for a refused setpoint).
- Protections (`PROT?` bit mask, `PROT:CLE`): OCP (bit 32) trips when the current
  drawn exceeds the model's limit, OPP (bit 64) when the power does (at 230 V a
  63803 reaches 3600 W at about 15.7 A). A trip switches the load off and latches
  until `PROT:CLE`; `LOAD ON` while latched is refused (-221). The Plant's current
  only changes through this load or the charger's contactor, so protection is
  evaluated every time the load is addressed (the bench polls it continuously).
- A reply must be read before the next command or it is lost (-410); see
  `scpi_server`. The 63800 has no `SYST:ERR?` here: errors show in `*ESR?`.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.sim.instruments.analyser_plant import PhaseLoadSim
from bench.sim.instruments.scpi_server import (
    SETTINGS_CONFLICT,
    Command,
    ScpiError,
    bool_arg,
    no_args,
    one_arg,
)
from bench.sim.plant import Plant


@dataclass(frozen=True)
class ChromaModel:
    name: str
    max_current_a: float  # setpoint range and OCP limit
    max_power_w: float  # OPP limit


MODELS = {
    "63802": ChromaModel("63802", 18.0, 1800.0),
    "63803": ChromaModel("63803", 36.0, 3600.0),
    "63804": ChromaModel("63804", 45.0, 4500.0),
}
DEFAULT_MODEL = "63804"  # the model in the shipped lab_config.yaml
MODES = ("CURR", "POW", "VOLT", "RES", "RLC", "RLCP", "INRUSH", "RECT")  # index = numeric form
MODE_LONG_FORMS = {"CURRENT": "CURR", "POWER": "POW", "VOLTAGE": "VOLT", "RESISTANCE": "RES"}
PROT_OCP = 32
PROT_OPP = 64


class Chroma63800Sim(PhaseLoadSim):
    SUPPORTS_SYST_ERR = False
    QUERY_INTERRUPT = True
    DRIVER = "chroma_63800"
    MANUFACTURER = "Chroma"
    MODELS = MODELS

    def __init__(
        self,
        plant: Plant,
        phase: int,
        *,
        model: str = DEFAULT_MODEL,
        serial: str | None = None,
        firmware: str = "01.20",
    ) -> None:
        self.protection = 0
        super().__init__(plant, phase, model=model, serial=serial or f"{model}0000{phase}", firmware=firmware)

    def reset(self) -> None:
        self.mode = "CURR"
        super().reset()

    def commands(self) -> list[Command]:
        return [
            Command("[LOAD:]MODE", self._set_mode),
            Command("[LOAD:]MODE?", lambda a: self.mode),
            Command("LOAD[:STATe]", self._set_load),
            Command("LOAD[:STATe]?", self._enabled),
            Command("[LOAD:]CURRent[:STATic]", self._apply_current),
            Command("[LOAD:]CURRent[:STATic]?", lambda a: f"{self.plant.load_setpoint_a[self.index]:.3f}"),
            Command("MEASure:CURRent?", self._meas_current),
            Command("MEASure:VOLTage?", self._meas_voltage),
            Command("MEASure:POWer?", self._meas_power),
            Command("MEASure:FREQuency?", self._meas_freq),
            Command("PROTection?", lambda a: str(self.protection)),
            Command("PROTection:CLEar", self._clear_protection),
        ]

    # ---- handlers -------------------------------------------------------------------
    def _set_mode(self, args: list[str]) -> None:
        text = one_arg(args).upper()
        text = MODE_LONG_FORMS.get(text, text)
        if text.isdigit() and int(text) < len(MODES):
            text = MODES[int(text)]
        if text not in MODES:
            raise ScpiError((-224, "Illegal parameter value"), text)
        self.mode = text

    def _set_load(self, args: list[str]) -> None:
        on = bool_arg(args)
        if on and self.mode != "CURR":
            raise ScpiError(SETTINGS_CONFLICT, f"mode {self.mode} is not simulated, only CURR")
        if on and self.protection:
            raise ScpiError(SETTINGS_CONFLICT, f"protection latched (PROT? = {self.protection}); send PROT:CLE")
        self._switch(on)

    def _clear_protection(self, args: list[str]) -> None:
        no_args(args)
        self.protection = 0

    # ---- protection -------------------------------------------------------------------
    def _check_protection(self) -> None:
        tripped = 0
        if self.plant.current_a(self.index) > self.model.max_current_a:
            tripped |= PROT_OCP
        if self.plant.power_w(self.index) > self.model.max_power_w:
            tripped |= PROT_OPP
        if tripped:
            self.protection |= tripped
            self.plant.set_load(self.index, enabled=False)
