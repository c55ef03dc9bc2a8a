"""Faults the simulated charger can carry, so every bench check is proven able to FAIL.

A fault is named in `ChargerSimConfig.faults` (and in lab_config.yaml / `bench sim`).
Each one breaks exactly one thing a check looks at; the magnitudes below are
chosen clearly beyond the tolerance of the matching check, never at its edge.
"""
from __future__ import annotations

from collections.abc import Iterable

IGNORES_PROFILE = "ignores_profile"
SLOW_REACTION = "slow_reaction"
METER_GAIN_ERROR = "meter_gain_error"
WRONG_CURRENT_REPORT = "wrong_current_report"
PWM_OFFSET = "pwm_offset"
ACCEPTS_INVALID_PROFILE = "accepts_invalid_profile"

FAULTS: dict[str, str] = {
    IGNORES_PROFILE: "accepts SetChargingProfile but keeps offering its rated current on the PWM",
    SLOW_REACTION: "applies limit changes only after reaction_time_s x 6 + 10 s",
    METER_GAIN_ERROR: "energy register and power count +4 % (MID class A allows 2 %)",
    WRONG_CURRENT_REPORT: "Current.Import in MeterValues reported 25 % high (energy correct)",
    PWM_OFFSET: "PWM duty 4 percentage points above the Annex A duty for its limit",
    ACCEPTS_INVALID_PROFILE: "answers Accepted to a SetChargingProfile it must reject (e.g. TxProfile without transaction)",
}

# Magnitudes, as data so checks and tests can refer to them.
METER_GAIN_ERROR_FACTOR = 1.04
WRONG_CURRENT_REPORT_FACTOR = 1.25
PWM_OFFSET_PCT = 4.0
SLOW_REACTION_FACTOR = 6.0
SLOW_REACTION_EXTRA_S = 10.0


def unknown_faults(names: Iterable[str]) -> list[str]:
    """Names that are not known faults, in the order given (empty = all valid)."""
    return [name for name in names if name not in FAULTS]


def effective_reaction_time_s(reaction_time_s: float, faults: Iterable[str]) -> float:
    """Delay from a limit change to the PWM change, with `slow_reaction` applied."""
    if SLOW_REACTION in set(faults):
        return reaction_time_s * SLOW_REACTION_FACTOR + SLOW_REACTION_EXTRA_S
    return reaction_time_s


def offered_duty_pct(annex_a_duty_pct: float, faults: Iterable[str]) -> float:
    """Duty the charger puts on the CP line, with `pwm_offset` applied (never above 100 %)."""
    if PWM_OFFSET in set(faults) and annex_a_duty_pct < 100.0:
        return min(100.0, round(annex_a_duty_pct + PWM_OFFSET_PCT, 1))
    return annex_a_duty_pct
