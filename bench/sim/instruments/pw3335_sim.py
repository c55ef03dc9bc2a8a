"""Simulated Hioki PW3335 family power meter (PW3335: 1 channel, PW3336: 2, PW3337: 3).

Rules the simulator enforces (check the item names against the communication
manual of your model):
- `:MEASure? <item>[,<item>...]` returns the items comma separated in NR3; with
  `:HEADer ON` (the default) each value is preceded by its item name
  (`U1 +2.3000E+02`), with `:HEADer OFF` the values stand alone;
- items per channel n: `Un`, `In`, `Pn`, `Sn`, `Qn`, `PFn`, `FREQUn`, `FREQIn`,
  `WP+n`, `WP-n`, `WPn`; sums over the channels of the wiring: `P12`, `P123`,
  `WP+123`, ... (only channels the model has); an unknown item is refused (-224, an
  execution error in `*ESR?`);
- `+9999.9E+99` where the meter cannot show a value (over range: current above 130 %
  of the 50 A range; no input: frequency without voltage);
- integration: `:INTEGrate:STARt|STOP|RESet`, `:INTEGrate?` answers RESET, START or
  STOP; START while running and RESET while running are execution errors;
- errors show in the standard event status register (`*ESR?`), no SYSTem:ERRor.
"""
from __future__ import annotations

import math
import re

from bench.sim.instruments.analyser_plant import AnalyserSim, quantity
from bench.sim.instruments.scpi_server import (
    EXECUTION_ERROR,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    Command,
    ScpiError,
    bool_arg,
)
from bench.sim.plant import Plant

MODELS = {"PW3335": 1, "PW3336": 2, "PW3337": 3}
DEFAULT_MODEL = "PW3337"
INVALID = "+9999.9E+99"
CURRENT_RANGE_A = 50.0
OVER_RANGE_FACTOR = 1.3
_ITEM_RE = re.compile(r"^(U|I|P|S|Q|PF|FREQU|FREQI|WP\+|WP-|WP)(\d+)$")
PER_CHANNEL = {"U", "I", "S", "PF", "FREQU", "FREQI"}  # no sums of these here


class Pw3335Sim(AnalyserSim):
    DRIVER = "hioki_pw3335"
    MANUFACTURER = "HIOKI"
    MODELS = MODELS
    INTEGRATION_ERROR = EXECUTION_ERROR

    def __init__(self, plant: Plant, *, model: str = DEFAULT_MODEL, serial: str = "123456789",
                 firmware: str = "V1.10") -> None:
        super().__init__(plant, model=model, serial=serial, firmware=firmware)
        self.channels = MODELS[self.model]

    def reset(self) -> None:
        self.header = True

    def commands(self) -> list[Command]:
        return [
            Command("HEADer", self._set_header),
            Command("HEADer?", lambda a: ("HEADER " if self.header else "") + ("ON" if self.header else "OFF")),
            Command("MEASure?", self._measure),
            Command("INTEGrate:STARt", self._integ_start),
            Command("INTEGrate:STOP", self._integ_stop),
            Command("INTEGrate:RESet", self._integ_reset),
            Command("INTEGrate?", lambda a: ("INTEGRATE " if self.header else "") + self.integrator.state),
        ]

    def _set_header(self, args: list[str]) -> None:
        self.header = bool_arg(args)

    # ---- values -----------------------------------------------------------------------
    def _measure(self, args: list[str]) -> str:
        if not args:
            raise ScpiError(MISSING_PARAMETER)
        out = []
        for raw in args:
            item = raw.strip().upper()
            value = self._item_value(item)
            text = INVALID if math.isnan(value) or math.isinf(value) else f"{value:+.4E}"
            out.append(f"{item} {text}" if self.header else text)
        return ",".join(out)

    def _item_value(self, item: str) -> float:
        m = _ITEM_RE.match(item)
        if not m:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"item {item}")
        function, digits = m[1], m[2]
        channels = [int(d) - 1 for d in digits]
        if len(set(channels)) != len(channels) or any(not 0 <= c < self.channels for c in channels):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"item {item} (a {self.model} has {self.channels} channel(s))")
        if len(channels) > 1 and function in PER_CHANNEL:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"item {item}: no sum of {function}")
        if function in ("WP", "WP+"):
            return sum(self.integrator.energy_wh(c) for c in channels)
        if function == "WP-":
            return 0.0  # the bench only draws power
        if any(self.plant.current_a(c) > CURRENT_RANGE_A * OVER_RANGE_FACTOR for c in channels) and function != "U":
            return float("inf")
        name = {"PF": "LAMBDA", "FREQU": "FU", "FREQI": "FI"}.get(function, function)
        return sum(quantity(self.plant, c, name) for c in channels)
