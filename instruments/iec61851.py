"""IEC 61851-1 control pilot: states and the PWM duty <-> current mapping (Annex A)."""
from __future__ import annotations

from enum import Enum

NO_CHARGING_DUTY_PCT = 100.0  # B1/C1: oscillator on at 100 %, no charging allowed
MIN_AC_CURRENT_A = 6.0
MAX_AC_CURRENT_A = 80.0


class CpState(str, Enum):
    A = "A"  # +12 V, not connected
    B = "B"  # +9 V, connected, not ready
    C = "C"  # +6 V, charging
    D = "D"  # +3 V, charging with ventilation
    E = "E"  # 0 V, error (short CP-PE)
    F = "F"  # -12 V, EVSE not available

    @property
    def high_level_v(self) -> float:
        return {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}[self.value]

    @property
    def is_charging(self) -> bool:
        return self in (CpState.C, CpState.D)

    @property
    def is_connected(self) -> bool:
        return self in (CpState.B, CpState.C, CpState.D)


def duty_to_current_a(duty_pct: float) -> float:
    """Maximum current an EV may draw for a PWM duty (Annex A, EV side). 0 = no charging."""
    d = round(duty_pct, 3)
    if d < 8.0:  # no PWM (<3 %), digital communication (3-7 %), not allowed (7-8 %)
        return 0.0
    if d < 10.0:
        return 6.0
    if d <= 85.0:
        return d * 0.6
    if d <= 96.0:
        return (d - 64.0) * 2.5
    if d <= 97.0:
        return 80.0
    return 0.0


def current_to_duty_pct(current_a: float) -> float:
    """PWM duty a charger offers for a current limit (EVSE side).

    Below 6 A there is no charging: 100 % duty (B1/C1). Values are rounded to
    0.1 % as a real PWM generator would.
    """
    if current_a < MIN_AC_CURRENT_A:
        return NO_CHARGING_DUTY_PCT
    amps = min(current_a, MAX_AC_CURRENT_A)
    duty = amps / 0.6 if amps <= 51.0 else amps / 2.5 + 64.0
    return round(duty, 1)
