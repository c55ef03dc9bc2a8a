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

from bench.sim.plant import Plant
from instruments.sim.scpi_server import (
    SETTINGS_CONFLICT,
    Command,
    ScpiDevice,
    ScpiError,
    bool_arg,
    no_args,
    number_arg,
    one_arg,
)


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


class Chroma63800Sim(ScpiDevice):
    SUPPORTS_SYST_ERR = False
    QUERY_INTERRUPT = True

    def __init__(
        self,
        plant: Plant,
        phase: int,
        *,
        model: str = DEFAULT_MODEL,
        serial: str | None = None,
        firmware: str = "01.20",
    ) -> None:
        if not 1 <= phase <= 3:
            raise ValueError(f"chroma_63800 simulator: phase must be 1..3, got {phase}")
        self.plant = plant
        self.phase = phase
        self.index = phase - 1  # Plant phase index (0 = L1)
        if model not in MODELS:
            raise ValueError(f"chroma_63800 simulator: unknown model {model!r}; known: {', '.join(MODELS)}")
        self.model = MODELS[model]
        self.serial = serial or f"{model}0000{phase}"
        self.firmware = firmware
        self.mode = "CURR"
        self.protection = 0
        super().__init__()
        self.reset()

    def idn(self) -> str:
        return f"Chroma,{self.model.name},{self.serial},{self.firmware}"

    def reset(self) -> None:
        self.mode = "CURR"
        self.plant.set_load(self.index, enabled=False, setpoint_a=0.0)

    def commands(self) -> list[Command]:
        return [
            Command("[LOAD:]MODE", self._set_mode),
            Command("[LOAD:]MODE?", lambda a: self.mode),
            Command("LOAD[:STATe]", self._set_load),
            Command("LOAD[:STATe]?", lambda a: "1" if self.plant.load_enabled[self.index] else "0"),
            Command("[LOAD:]CURRent[:STATic]", self._set_current),
            Command("[LOAD:]CURRent[:STATic]?", lambda a: f"{self.plant.load_setpoint_a[self.index]:.3f}"),
            Command("MEASure:CURRent?", lambda a: f"{self.plant.current_a(self.index):.4f}"),
            Command("MEASure:VOLTage?", lambda a: f"{self.plant.load_side_voltage_v(self.index):.3f}"),
            Command("MEASure:POWer?", lambda a: f"{self.plant.power_w(self.index):.2f}"),
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
        self.plant.set_load(self.index, enabled=on)
        self._check_protection()

    def _set_current(self, args: list[str]) -> None:
        amps = number_arg(args, 0.0, self.model.max_current_a)
        self.plant.set_load(self.index, setpoint_a=amps)
        self._check_protection()

    def _clear_protection(self, args: list[str]) -> None:
        no_args(args)
        self.protection = 0

    def _meas_freq(self, args: list[str]) -> str:
        live = self.plant.load_side_voltage_v(self.index) > 0
        return f"{self.plant.settings.frequency_hz if live else 0.0:.2f}"

    # ---- protection -------------------------------------------------------------------
    def before_command(self) -> None:
        self._check_protection()

    def _check_protection(self) -> None:
        tripped = 0
        if self.plant.current_a(self.index) > self.model.max_current_a:
            tripped |= PROT_OCP
        if self.plant.power_w(self.index) > self.model.max_power_w:
            tripped |= PROT_OPP
        if tripped:
            self.protection |= tripped
            self.plant.set_load(self.index, enabled=False)
