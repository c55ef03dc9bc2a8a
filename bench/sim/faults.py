"""Faults the simulated charger can carry, so every bench check is proven able to FAIL.

A fault is named in `ChargerSimConfig.faults` (and in lab_config.yaml / `bench sim`).
Each one breaks exactly one thing a check looks at; the magnitudes below are
chosen clearly beyond the tolerance of the matching check, never at its edge.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from bench.clock import parse_iso
from bench.smart_charging import InstalledProfile

IGNORES_PROFILE = "ignores_profile"
SLOW_REACTION = "slow_reaction"
METER_GAIN_ERROR = "meter_gain_error"
WRONG_CURRENT_REPORT = "wrong_current_report"
PWM_OFFSET = "pwm_offset"
ACCEPTS_INVALID_PROFILE = "accepts_invalid_profile"
# Smart-charging mistakes: the charger misreads the profiles it holds before it evaluates its limit
# (and reports that belief in GetCompositeSchedule), or misreports a correct composite.
STACK_LEVEL_INVERTED = "stack_level_inverted"
IGNORES_VALIDITY = "ignores_validity"
W_AS_A = "w_as_a"
PHASES_IGNORED = "phases_ignored"
RECURRENCE_FROM_MIDNIGHT = "recurrence_from_midnight"
COMPOSITE_REPORT_WRONG = "composite_report_wrong"
# Security mistakes (security profiles 1..3, every OCPP version).
ACCEPTS_INVALID_SERVER_CERTIFICATE = "accepts_invalid_server_certificate"
ACCEPTS_OLD_TLS = "accepts_old_tls"
ACCEPTS_SECURITY_DOWNGRADE = "accepts_security_downgrade"
# Remote control and availability mistakes (every OCPP version).
AVAILABILITY_NOT_SCHEDULED = "availability_not_scheduled"
TRIGGER_MESSAGE_IGNORED = "trigger_message_ignored"
UNLOCK_IGNORES_TRANSACTION = "unlock_ignores_transaction"
REMOTE_START_WHEN_UNAVAILABLE = "remote_start_when_unavailable"

FAULTS: dict[str, str] = {
    IGNORES_PROFILE: "accepts SetChargingProfile but keeps offering its rated current on the PWM",
    SLOW_REACTION: "applies limit changes only after reaction_time_s x 6 + 10 s",
    METER_GAIN_ERROR: "energy register and power count +4 % (MID class A allows 2 %)",
    WRONG_CURRENT_REPORT: "Current.Import in MeterValues reported 25 % high (energy correct)",
    PWM_OFFSET: "PWM duty 4 percentage points above the Annex A duty for its limit",
    ACCEPTS_INVALID_PROFILE: "answers Accepted to a SetChargingProfile it must reject (e.g. TxProfile without transaction)",
    STACK_LEVEL_INVERTED: "the lowest stackLevel wins instead of the highest",
    IGNORES_VALIDITY: "ignores validFrom/validTo: a profile applies before it is valid and after it expired",
    W_AS_A: "takes a limit in W as if it were in A (8280 W -> 8280 A, i.e. its rated current)",
    PHASES_IGNORED: "ignores numberPhases (always 3): a 1-phase W limit gives a third of the current",
    RECURRENCE_FROM_MIDNIGHT: "restarts a Recurring profile at midnight UTC instead of at startSchedule's time of day",
    COMPOSITE_REPORT_WRONG: "GetCompositeSchedule reports the limit at the request time for the whole window "
                            "(drops every later period, like libocpp #609)",
    ACCEPTS_INVALID_SERVER_CERTIFICATE: "does not verify the CSMS certificate (unknown CA, expired, wrong host all pass)",
    ACCEPTS_OLD_TLS: "connects with TLS 1.0/1.1 when the CSMS offers nothing newer",
    ACCEPTS_SECURITY_DOWNGRADE: "accepts a lower security profile (1.6 SecurityProfile key, 2.x SetNetworkProfile)",
    AVAILABILITY_NOT_SCHEDULED: "ChangeAvailability Inoperative during a transaction: answers Accepted instead of "
                                "Scheduled and goes Unavailable at once, ending the transaction",
    TRIGGER_MESSAGE_IGNORED: "answers TriggerMessage Accepted but never sends the requested message",
    UNLOCK_IGNORES_TRANSACTION: "UnlockConnector during a transaction: 1.6 answers Unlocked but does not end the "
                                "transaction; 2.x answers Unlocked instead of OngoingAuthorizedTransaction",
    REMOTE_START_WHEN_UNAVAILABLE: "answers RemoteStartTransaction (2.x RequestStartTransaction) Accepted on an "
                                   "Inoperative connector instead of Rejected",
}

# The functional blocks (scenario folders) whose scenarios must catch each fault: the fault
# matrix (`bench faults --matrix`) runs, for each fault, the scenarios of these blocks.
FAULT_BLOCKS: dict[str, tuple[str, ...]] = {
    IGNORES_PROFILE: ("smart_charging",),
    SLOW_REACTION: ("smart_charging",),
    METER_GAIN_ERROR: ("metering",),
    WRONG_CURRENT_REPORT: ("metering",),
    PWM_OFFSET: ("smart_charging",),
    ACCEPTS_INVALID_PROFILE: ("smart_charging",),
    STACK_LEVEL_INVERTED: ("smart_charging",),
    IGNORES_VALIDITY: ("smart_charging",),
    W_AS_A: ("smart_charging",),
    PHASES_IGNORED: ("smart_charging",),
    RECURRENCE_FROM_MIDNIGHT: ("smart_charging",),
    COMPOSITE_REPORT_WRONG: ("smart_charging",),
    ACCEPTS_INVALID_SERVER_CERTIFICATE: ("security",),
    ACCEPTS_OLD_TLS: ("security",),
    ACCEPTS_SECURITY_DOWNGRADE: ("security",),
    AVAILABILITY_NOT_SCHEDULED: ("remote_control",),
    TRIGGER_MESSAGE_IGNORED: ("remote_control",),
    UNLOCK_IGNORES_TRANSACTION: ("remote_control",),
    REMOTE_START_WHEN_UNAVAILABLE: ("remote_control",),
}

# Magnitudes, as data so checks and tests can refer to them.
METER_GAIN_ERROR_FACTOR = 1.04
WRONG_CURRENT_REPORT_FACTOR = 1.25
PWM_OFFSET_PCT = 4.0
SLOW_REACTION_FACTOR = 6.0
SLOW_REACTION_EXTRA_S = 10.0
STACK_LEVEL_FLIP = 100  # stack_level_inverted reads stackLevel s as STACK_LEVEL_FLIP - s


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


def misread_profiles(profiles: Sequence[InstalledProfile], faults: Iterable[str]) -> Sequence[InstalledProfile]:
    """The installed profiles as a charger with `faults` understands them (the store itself stays right)."""
    wrong = set(faults) & {STACK_LEVEL_INVERTED, IGNORES_VALIDITY, W_AS_A, PHASES_IGNORED, RECURRENCE_FROM_MIDNIGHT}
    if not wrong:
        return profiles
    out = []
    for installed in profiles:
        p = copy.deepcopy(installed.profile)
        # 1.6: one schedule object; 2.x: a list whose first entry is the one executed
        schedule = p["chargingSchedule"][0] if isinstance(p["chargingSchedule"], list) else p["chargingSchedule"]
        if STACK_LEVEL_INVERTED in wrong:
            p["stackLevel"] = max(0, STACK_LEVEL_FLIP - p["stackLevel"])
        if IGNORES_VALIDITY in wrong:
            p.pop("validFrom", None)
            p.pop("validTo", None)
        if W_AS_A in wrong and schedule.get("chargingRateUnit") == "W":
            schedule["chargingRateUnit"] = "A"
        if PHASES_IGNORED in wrong:
            for period in schedule.get("chargingSchedulePeriod", []):
                period.pop("numberPhases", None)
        if RECURRENCE_FROM_MIDNIGHT in wrong and p.get("chargingProfileKind") == "Recurring":
            start = parse_iso(schedule["startSchedule"])
            schedule["startSchedule"] = start.strftime("%Y-%m-%dT00:00:00Z")
        out.append(InstalledProfile(installed.connector_id, p, installed.transaction_id))
    return out


def misreport_composite(charging_schedule: dict, faults: Iterable[str]) -> dict:
    """The ChargingSchedule (1.6) or CompositeScheduleType (2.x) a charger with `faults` reports
    in GetCompositeSchedule."""
    if COMPOSITE_REPORT_WRONG not in set(faults):
        return charging_schedule
    return {**charging_schedule, "chargingSchedulePeriod": charging_schedule["chargingSchedulePeriod"][:1]}
