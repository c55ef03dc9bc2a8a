"""Legal-metrology tolerance presets for the DUT's energy meter, selected by `dut.meter_regime`.

A calibration lab judges a charger's meter by the regime it is sold under. Each preset gives the
maximum permissible error (MPE) of the energy register at a load current, with the text of its
source, which the checks put in their measurements (`rule`) and so in the report:

- `mid_a`, `mid_b`, `mid_c`: Directive 2014/32/EU (MID) Annex V (MI-003, active electrical energy
  meters), point 3, Table 2, at the operating-temperature band +5 °C … +30 °C (the band holding the
  laboratory's reference temperature, 23 °C), row "single phase meter; polyphase meter if operating
  with balanced loads", per current range Imin ≤ I < Itr and Itr ≤ I ≤ Imax. Imin, Itr and Imax
  are the meter's own (Annex V point 2: the manufacturer specifies them), from `dut.meter_*_a`.
- `nist_hb44`: NIST Handbook 44 section 3.40 (Electric Vehicle Fueling Systems), T.2.2 EVSE load
  test tolerances, the acceptance tolerance (new and reconditioned equipment: what a lab's
  acceptance test applies); accuracy testing per N.5.2 compares the energy of a transaction.

What is not applied: Table 2's row "polyphase meter if operating with single-phase load"
(Itr <= I <= Imax, wider than the balanced row) could not be confirmed against the Directive's
text when this was written, so a one-phase load point on a polyphase meter is judged by the
balanced-load row (stricter: a FAIL there between the two rows needs a second look). The NIST
paragraph numbers (T.2.2, N.5.2) are those of HB 44 3.40 as made permanent in 2022; check the
figures against the edition the lab works to.

Without a regime the checks keep the bench's flat default (`dut.meter_mpe_pct`, class A 2 %).
This module imports nothing of the bench: the config validates against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RegimeName = Literal["mid_a", "mid_b", "mid_c", "nist_hb44"]

MID_SOURCE = ("Directive 2014/32/EU (MID) Annex V (MI-003) point 3, Table 2, operating temperature +5 °C … +30 °C, "
              "single phase meter / polyphase meter with balanced loads")
# Table 2 at +5 °C … +30 °C, in percent: (Imin <= I < Itr, Itr <= I <= Imax) per class.
# The table's other bands (-10 … +5 / +30 … +40 °C and beyond) are wider; a lab works at 23 °C.
MID_TABLE2_REFERENCE_BAND_PCT: dict[str, tuple[float, float]] = {
    "A": (3.5, 3.5),
    "B": (2.0, 2.0),
    "C": (1.0, 0.7),
}
NIST_SOURCE = ("NIST Handbook 44 section 3.40 (Electric Vehicle Fueling Systems) T.2.2 EVSE load test tolerances, "
               "acceptance tolerance (N.5.2 accuracy testing: the energy of a transaction against the standard)")
NIST_ACCEPTANCE_PCT = 1.0   # T.2.2, acceptance tolerance (new or reconditioned equipment)
NIST_MAINTENANCE_PCT = 2.0  # T.2.2, maintenance tolerance (equipment in service): reported, not applied

# The no-load (creep) condition the `register_creep` check enforces.
RULE_NO_LOAD = ("2014/32/EU (MID) Annex V (MI-003): with voltage applied and no current in the current circuit the "
                "meter shall not register energy; IEC 62053-21 no-load condition: at most one test-output pulse "
                "(here: one step of the register's last digit)")


@dataclass(frozen=True)
class MeterRatings:
    """The meter's currents per MID Annex V (definitions): Imin, above which the error is within the
    MPEs; Itr, above which it is within the smallest MPE of its class; Imax, the most it measures."""

    imin_a: float | None
    itr_a: float | None
    imax_a: float | None


@dataclass(frozen=True)
class Tolerance:
    """The MPE at one load current, and where it comes from (None: the regime sets none there)."""

    mpe_pct: float | None
    current_range: str
    rule: str


@dataclass(frozen=True)
class Regime:
    name: RegimeName
    mid_class: Literal["A", "B", "C"] | None  # None: not a MID class

    def at_current(self, current_a: float, meter: MeterRatings) -> Tolerance:
        """The MPE for a load point drawing `current_a` (the measured current per phase)."""
        if self.mid_class is None:
            return Tolerance(NIST_ACCEPTANCE_PCT, "any load",
                             f"{NIST_SOURCE}: acceptance {NIST_ACCEPTANCE_PCT:g} % (maintenance "
                             f"{NIST_MAINTENANCE_PCT:g} %)")
        below_itr, above_itr = MID_TABLE2_REFERENCE_BAND_PCT[self.mid_class]
        imin, itr, imax = meter.imin_a, meter.itr_a, meter.imax_a
        if imin is None or itr is None or imax is None:
            raise ValueError(f"{self.name} needs the meter's Imin, Itr and Imax (dut.meter_imin_a, meter_itr_a, "
                             "meter_imax_a)")
        where = f"class {self.mid_class}"
        if current_a < imin:
            return Tolerance(None, f"I < Imin ({imin:g} A)",
                             f"{MID_SOURCE}: below Imin the MID sets no MPE ({where})")
        if current_a > imax:
            return Tolerance(None, f"I > Imax ({imax:g} A)", f"{MID_SOURCE}: above Imax the MID sets no MPE ({where})")
        if current_a < itr:
            return Tolerance(below_itr, f"Imin <= I < Itr ({imin:g} .. {itr:g} A)",
                             f"{MID_SOURCE}, Imin <= I < Itr, {where}: {below_itr:g} %")
        return Tolerance(above_itr, f"Itr <= I <= Imax ({itr:g} .. {imax:g} A)",
                         f"{MID_SOURCE}, Itr <= I <= Imax, {where}: {above_itr:g} %")

    def session(self) -> Tolerance:
        """The MPE for the energy of a whole session (any mix of currents the regime covers): the
        largest of its ranges, in the DUT's favour. MID Annex V point 3: under varying-load current
        the errors shall not exceed the limits of Table 2."""
        if self.mid_class is None:
            return self.at_current(0.0, MeterRatings(None, None, None))
        worst = max(MID_TABLE2_REFERENCE_BAND_PCT[self.mid_class])
        return Tolerance(worst, "Imin <= I <= Imax",
                         f"{MID_SOURCE}, class {self.mid_class}, the larger of its current ranges "
                         f"(varying load): {worst:g} %")


REGIMES: dict[str, Regime] = {
    "mid_a": Regime("mid_a", "A"),
    "mid_b": Regime("mid_b", "B"),
    "mid_c": Regime("mid_c", "C"),
    "nist_hb44": Regime("nist_hb44", None),
}


def regime(name: str | None) -> Regime | None:
    return None if name is None else REGIMES[name]
