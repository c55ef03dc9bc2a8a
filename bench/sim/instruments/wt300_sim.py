"""Simulated Yokogawa WT300 series power meter (WT310: 1 element, WT332: 2, WT333: 3).

Follows the meter's rules as documented for the WT300 series (check details
against the communication manual of your firmware):
- numeric items: `:NUMeric[:NORMal]:NUMBer <1..255>`, `:NUMeric[:NORMal]:ITEM<x>
  <function>,<element>` (element 1..n, SIGMA on WT332/WT333 only); functions U, I, P,
  S, Q, LAMBDA, PHI, FU, FI, WH, WHP, WHM, TIME; `:NUMeric[:NORMal]:VALue? [<x>]`
  returns the items comma separated in NR3. Only `:NUMeric:FORMat ASCii` is simulated
  (FLOat is refused with -221);
- `NAN` where there is no data (frequency without input, power factor at 0 VA),
  `INF` over range (current above 140 % of the 20 A range);
- values update at the data update rate (`:RATE`, default 250 ms, on the Plant's
  clock): a query between updates returns the values of the last update;
- integration: `:INTEGrate:STARt|STOP|RESet`, `:INTEGrate:STATe?` (RESET, START,
  STOP); START while running or RESET while running is refused (-221); WH/WHP in Wh;
- errors go to a queue read with `:STATus:ERRor?` (`0,"No error"`); there is no
  SYSTem:ERRor;
- `:COMMunicate:HEADer ON` (the default) prefixes text query replies with their
  header (`:INTEGRATE:STATE START`); numeric values never carry one.
"""
from __future__ import annotations

import math

from bench.sim.instruments.analyser_plant import OVER_RANGE, AnalyserSim, quantity
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

MODELS = {"WT310": 1, "WT310E": 1, "WT332": 2, "WT333": 3, "WT333E": 3}
DEFAULT_MODEL = "WT333"
FUNCTIONS = ("U", "I", "P", "S", "Q", "LAMBDA", "PHI", "FU", "FI", "WH", "WHP", "WHM", "TIME")
OVER_RANGE_FUNCTIONS = ("I", "P", "S", "Q", "LAMBDA", "PHI")
CURRENT_RANGE_A = 20.0
OVER_RANGE_FACTOR = 1.4
RATES_S = {"100MS": 0.1, "250MS": 0.25, "500MS": 0.5, "1S": 1.0, "2S": 2.0, "5S": 5.0}
DEFAULT_RATE = "250MS"
MAX_ITEMS = 255


def nr3(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF"
    return f"{value:.5E}"


class Wt300Sim(AnalyserSim):
    DRIVER = "yokogawa_wt300"
    MANUFACTURER = "YOKOGAWA"
    MODELS = MODELS
    INTEGRATION_ERROR = SETTINGS_CONFLICT

    def __init__(self, plant: Plant, *, model: str = DEFAULT_MODEL, serial: str = "C2PH13047V",
                 firmware: str = "F1.03") -> None:
        super().__init__(plant, model=model, serial=serial, firmware=firmware)
        self.elements = MODELS[self.model]

    def reset(self) -> None:
        self.header = True
        self.format = "ASCII"
        self.rate = DEFAULT_RATE
        self.items: list[tuple[str, str]] = [(fn, "1") for fn in ("U", "I", "P", "S", "Q", "LAMBDA", "PHI", "FU",
                                                                  "FI", "WH", "WHP", "WHM", "TIME")]
        self.number = len(self.items)
        self._slot: int | None = None
        self._snapshot: dict[tuple[str, str], float] = {}

    def commands(self) -> list[Command]:
        return [
            Command("COMMunicate:HEADer", self._set_header),
            Command("COMMunicate:HEADer?", lambda a: self._h(":COMMUNICATE:HEADER", "1" if self.header else "0")),
            Command("NUMeric:FORMat", self._set_format),
            Command("NUMeric:FORMat?", lambda a: self._h(":NUMERIC:FORMAT", self.format)),
            Command("NUMeric[:NORMal]:NUMBer", self._set_number),
            Command("NUMeric[:NORMal]:NUMBer?", lambda a: self._h(":NUMERIC:NORMAL:NUMBER", str(self.number))),
            Command("NUMeric[:NORMal]:ITEM#", self._set_item),
            Command("NUMeric[:NORMal]:ITEM#?", self._get_item),
            Command("NUMeric[:NORMal]:VALue?", self._values),
            Command("INTEGrate:STARt", self._integ_start),
            Command("INTEGrate:STOP", self._integ_stop),
            Command("INTEGrate:RESet", self._integ_reset),
            Command("INTEGrate:STATe?", lambda a: self._h(":INTEGRATE:STATE", self.integrator.state)),
            Command("RATE", self._set_rate),
            Command("RATE?", lambda a: self._h(":RATE", self.rate)),
            Command("STATus:ERRor?", self._syst_err),  # the SYSTem:ERRor? reply under its own name
        ]

    # ---- settings -------------------------------------------------------------------
    def _h(self, header: str, text: str) -> str:
        return f"{header} {text}" if self.header else text

    def _set_header(self, args: list[str]) -> None:
        self.header = bool_arg(args)

    def _set_format(self, args: list[str]) -> None:
        text = one_arg(args).upper()
        if text in ("ASCII", "ASC"):
            self.format = "ASCII"
        elif text in ("FLOAT", "FLO"):
            raise ScpiError(SETTINGS_CONFLICT, "FLOAT format is not simulated; use ASCII")
        else:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)

    def _set_number(self, args: list[str]) -> None:
        text = one_arg(args)
        if not text.isdigit() or not 1 <= int(text) <= MAX_ITEMS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
        self.number = int(text)

    def _item_index(self, suffixes: list[int]) -> int:
        x = suffixes[-1]
        if not 1 <= x <= MAX_ITEMS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"ITEM{x}")
        while len(self.items) < x:
            self.items.append(("U", "1"))
        return x - 1

    def _set_item(self, args: list[str], suffixes: list[int]) -> None:
        index = self._item_index(suffixes)
        if len(args) != 2:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, ",".join(args))
        function, element = args[0].strip().upper(), args[1].strip().upper()
        element = "SIGMA" if element in ("SIGMA", "SIGM") else element
        if function not in FUNCTIONS:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"function {function}")
        valid = [str(e) for e in range(1, self.elements + 1)] + (["SIGMA"] if self.elements > 1 else [])
        if element not in valid:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"element {element} (a {self.model} has {', '.join(valid)})")
        self.items[index] = (function, element)

    def _get_item(self, args: list[str], suffixes: list[int]) -> str:
        no_args(args)
        function, element = self.items[self._item_index(suffixes)]
        return self._h(f":NUMERIC:NORMAL:ITEM{suffixes[-1]}", f"{function},{element}")

    def _set_rate(self, args: list[str]) -> None:
        text = one_arg(args).upper().replace(" ", "")
        if text not in RATES_S:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
        self.rate = text
        self._slot = None

    def integration_changed(self) -> None:
        self._slot = None  # the next query takes fresh values

    # ---- values ---------------------------------------------------------------------------
    def _values(self, args: list[str]) -> str:
        self._update()
        if args:
            text = one_arg(args)
            if not text.isdigit() or not 1 <= int(text) <= self.number:
                raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
            return nr3(self._value(*self._item(int(text) - 1)))
        return ",".join(nr3(self._value(*self._item(i))) for i in range(self.number))

    def _item(self, index: int) -> tuple[str, str]:
        return self.items[index] if index < len(self.items) else ("U", "1")

    def _update(self) -> None:
        """Take a new snapshot when the data update interval has passed (Plant clock)."""
        slot = math.floor(self.plant.clock.monotonic() / RATES_S[self.rate])
        if slot != self._slot:
            self._slot = slot
            self._snapshot = {}

    def _value(self, function: str, element: str) -> float:
        key = (function, element)
        if key not in self._snapshot:
            self._snapshot[key] = self._measure(function, element)
        return self._snapshot[key]

    def _measure(self, function: str, element: str) -> float:
        phases = list(range(self.elements)) if element == "SIGMA" else [int(element) - 1]
        if function in ("WH", "WHP"):
            return sum(self.integrator.energy_wh(p) for p in phases)
        if function == "WHM":
            return 0.0  # the bench only draws power
        if function == "TIME":
            return self.integrator.elapsed_s()
        over = any(self.plant.current_a(p) > CURRENT_RANGE_A * OVER_RANGE_FACTOR for p in phases)
        if over and function in OVER_RANGE_FUNCTIONS:
            return OVER_RANGE
        values = [quantity(self.plant, p, function) for p in phases]
        if element != "SIGMA" or function in ("P", "S", "Q"):
            return sum(values)
        if function == "LAMBDA":
            s = sum(quantity(self.plant, p, "S") for p in phases)
            return sum(quantity(self.plant, p, "P") for p in phases) / s if s > 0 else float("nan")
        return sum(values) / len(values)  # U, I, PHI, FU, FI: the mean over the elements
