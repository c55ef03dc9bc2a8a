"""Faults the simulated charger can carry, so every bench check is proven able to FAIL.

A fault is named in `ChargerSimConfig.faults` (and in lab_config.yaml / `bench sim`).
Each one breaks exactly one thing a check looks at; its entry in `FAULTS` (one `Fault` each)
says what, which blocks catch it and by how much: the magnitudes are chosen clearly beyond
the tolerance of the matching check, never at its edge.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from bench.clock import parse_iso
from bench.smart_charging import InstalledProfile, ProfileStore16, ProfileStore201


@dataclass(frozen=True)
class Fault:
    """One injectable fault: its name (as in configs and `bench faults`), what the charger does
    wrong, the scenarios made to catch it ("block/scenario" files, or whole block folders), and the
    numbers it misbehaves by (read by the charger, the checks' tests and the docs alike)."""

    name: str
    description: str
    blocks: tuple[str, ...]
    magnitude: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "magnitude", MappingProxyType(dict(self.magnitude)))

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
# Firmware, diagnostics and display messages.
FIRMWARE_STATUS_SKIPPED = "firmware_status_skipped"
DIAGNOSTICS_NOT_UPLOADED = "diagnostics_not_uploaded"
DISPLAY_MESSAGE_NOT_STORED = "display_message_not_stored"
# Transactions, metering, offline behaviour and EV faults.
ENERGY_REGISTER_RESET = "energy_register_reset"
CLOCK_ALIGNED_OFF_BOUNDARY = "clock_aligned_off_boundary"
QUEUED_MESSAGES_DROPPED = "queued_messages_dropped"
EV_FAULT_IGNORED = "ev_fault_ignored"
# Provisioning and status mistakes (every OCPP version).
HEARTBEAT_INTERVAL_IGNORED = "heartbeat_interval_ignored"
PENDING_BOOT_IGNORED = "pending_boot_ignored"
RESET_KEEPS_TRANSACTION = "reset_keeps_transaction"
STATUS_SUSPENDED_NOT_SENT = "status_suspended_not_sent"
# Authorization and reservation mistakes (every OCPP version).
BLOCKED_TAG_ACCEPTED = "blocked_tag_accepted"
LOCAL_LIST_IGNORED = "local_list_ignored"
RESERVATION_IGNORED = "reservation_ignored"
# Remote control and availability mistakes (every OCPP version).
AVAILABILITY_NOT_SCHEDULED = "availability_not_scheduled"
TRIGGER_MESSAGE_IGNORED = "trigger_message_ignored"
UNLOCK_IGNORES_TRANSACTION = "unlock_ignores_transaction"
REMOTE_START_WHEN_UNAVAILABLE = "remote_start_when_unavailable"
# What a charger must keep, or drop, across events (sessions, reboots, suspensions, phases).
TX_PROFILE_OUTLIVES_TRANSACTION = "tx_profile_outlives_transaction"
PROFILES_LOST_ON_REBOOT = "profiles_lost_on_reboot"
TX_DEFAULT_FIRST_TRANSACTION_ONLY = "tx_default_first_transaction_only"
STATUS_STUCK_SUSPENDED_EV = "status_stuck_suspended_ev"
RELATIVE_FROM_PLUG_IN = "relative_from_plug_in"
LIMITS_PHASE_AVERAGE = "limits_phase_average"
# Signed meter values (Eichrecht, OCMF): what the charger's signing meter gets wrong.
OCMF_BAD_SIGNATURE = "ocmf_bad_signature"
OCMF_PAGINATION_GAP = "ocmf_pagination_gap"
OCMF_SERIAL_CHANGES = "ocmf_serial_changes"
OCMF_ENERGY_TAMPERED = "ocmf_energy_tampered"
OCMF_UNSIGNED_END = "ocmf_unsigned_end"
# The energy register (legal metrology).
METER_CREEP = "meter_creep"
# Long runs.
LEAKS_MEMORY = "leaks_memory"
FOREIGN_ACTION = "foreign_action"

# The one table: every fault with what it breaks, the functional blocks (scenario folders, or
# single "block/scenario" files) whose scenarios must catch it (the fault matrix, `bench faults
# --matrix`, runs these for it), and the numbers the simulated charger misbehaves by.
FAULT_TABLE: tuple[Fault, ...] = (
    Fault(IGNORES_PROFILE,
          "accepts SetChargingProfile but keeps offering its rated current on the PWM",
          ("smart_charging/txprofile_step_down",)),
    Fault(SLOW_REACTION,
          "applies limit changes only after reaction_time_s x 6 + 10 s",
          ("smart_charging/txprofile_step_down",),
          {"factor": 6.0, "extra_s": 10.0}),
    Fault(METER_GAIN_ERROR,
          "energy register and power count +4 % (MID class A allows 2 %)",
          ("metering/meter_values_accuracy",),
          {"gain": 1.04}),
    Fault(WRONG_CURRENT_REPORT,
          "Current.Import in MeterValues reported 25 % high (energy correct)",
          ("metering/meter_values_accuracy",),
          {"gain": 1.25}),
    Fault(PWM_OFFSET,
          "PWM duty 4 percentage points above the Annex A duty for its limit",
          ("smart_charging/txprofile_step_down",),
          {"points": 4.0}),
    Fault(ACCEPTS_INVALID_PROFILE,
          "answers Accepted to a SetChargingProfile it must reject "
          "(e.g. TxProfile without transaction)",
          ("smart_charging/txprofile_without_transaction",)),
    Fault(STACK_LEVEL_INVERTED,
          "the lowest stackLevel wins instead of the highest",
          ("smart_charging/stacking",),
          {"flip": 100}),
    Fault(IGNORES_VALIDITY,
          "ignores validFrom/validTo: a profile applies before it is valid and after it expired",
          ("smart_charging/validity_window",)),
    Fault(W_AS_A,
          "takes a limit in W as if it were in A (8280 W -> 8280 A, i.e. its rated current)",
          ("smart_charging/watt_profile_one_phase", "smart_charging/charge_point_max_caps_txprofile")),
    Fault(PHASES_IGNORED,
          "ignores numberPhases (always 3): a 1-phase W limit gives a third of the current",
          ("smart_charging/watt_profile_one_phase",)),
    Fault(RECURRENCE_FROM_MIDNIGHT,
          "restarts a Recurring profile at midnight UTC instead of at startSchedule's time of day",
          ("smart_charging/daily_recurring",)),
    Fault(COMPOSITE_REPORT_WRONG,
          "GetCompositeSchedule reports the limit at the request time for the whole window "
          "(drops every later period, like libocpp #609)",
          ("smart_charging/composite_schedule_report",)),
    Fault(ACCEPTS_INVALID_SERVER_CERTIFICATE,
          "does not verify the CSMS certificate "
          "(unknown CA, expired, wrong host all pass)",
          ("security/invalid_server_certificate",)),
    Fault(ACCEPTS_OLD_TLS,
          "connects with TLS 1.0/1.1 when the CSMS offers nothing newer",
          ("security/tls_version_too_low",)),
    Fault(ACCEPTS_SECURITY_DOWNGRADE,
          "accepts a lower security profile (1.6 SecurityProfile key, 2.x SetNetworkProfile)",
          ("security/no_security_downgrade",)),
    Fault(FIRMWARE_STATUS_SKIPPED,
          "reports Downloading, Downloaded, Installing, Installed for an UpdateFirmware without "
          "downloading the file (also when the download would fail)",
          ("firmware/firmware_update_installed", "firmware/firmware_download_failed")),
    Fault(DIAGNOSTICS_NOT_UPLOADED,
          "reports Uploading, Uploaded for GetDiagnostics/GetLog without uploading any file",
          ("firmware/diagnostics_upload", "firmware/diagnostics_upload_failed")),
    Fault(DISPLAY_MESSAGE_NOT_STORED,
          "answers SetDisplayMessage Accepted but does not keep the message "
          "(GetDisplayMessages does not return it)",
          ("display_messages/set_and_get_display_messages",)),
    Fault(ENERGY_REGISTER_RESET,
          "the energy register resets to 0 Wh 4 s into every transaction",
          ("metering",),
          {"after_s": 4.0}),
    Fault(CLOCK_ALIGNED_OFF_BOUNDARY,
          "clock-aligned meter values are taken half an interval after the aligned boundary",
          ("metering/clock_aligned_meter_values", "metering/sampled_meter_values"),
          {"interval_fraction": 0.5}),
    Fault(QUEUED_MESSAGES_DROPPED,
          "drops the transaction messages it queued while offline when it reconnects",
          ("offline",)),
    Fault(EV_FAULT_IGNORED,
          "keeps the contactor closed (and the PWM on) when the CP line shows state E or F",
          ("ev_faults",)),
    Fault(HEARTBEAT_INTERVAL_IGNORED,
          "sends a Heartbeat every 5 s whatever interval the CSMS or the configuration sets",
          ("provisioning/heartbeat_interval",),
          {"interval_s": 5.0}),
    Fault(PENDING_BOOT_IGNORED,
          "takes a Pending BootNotification answer for Accepted: starts normal operation, never "
          "boots again",
          ("provisioning/boot_pending",)),
    Fault(RESET_KEEPS_TRANSACTION,
          "a hard (2.x Immediate) reset reboots without stopping the running transaction",
          ("provisioning/reset_hard_with_transaction",)),
    Fault(STATUS_SUSPENDED_NOT_SENT,
          "never reports SuspendedEV/SuspendedEVSE (1.6 status, 2.x chargingState): "
          "says Charging instead",
          ("status/session_statuses",)),
    Fault(BLOCKED_TAG_ACCEPTED,
          "takes a Blocked or Expired answer to Authorize as Accepted (and starts charging)",
          ("authorization/rejected_tags",)),
    Fault(LOCAL_LIST_IGNORED,
          "answers SendLocalList Accepted and reports its version, but never authorizes from the list",
          ("authorization/local_list_offline",)),
    Fault(RESERVATION_IGNORED,
          "answers ReserveNow Accepted but keeps no reservation (never Reserved, any tag may charge)",
          ("reservation/reserve_and_use", "reservation/reservation_other_tag")),
    Fault(AVAILABILITY_NOT_SCHEDULED,
          "ChangeAvailability Inoperative during a transaction: answers Accepted instead of "
          "Scheduled and goes Unavailable at once, ending the transaction",
          ("remote_control/availability_scheduled",
                                 "remote_control/availability_charger_scheduled")),
    Fault(TRIGGER_MESSAGE_IGNORED,
          "answers TriggerMessage Accepted but never sends the requested message",
          ("remote_control/trigger_message_v16", "remote_control/trigger_message_v201")),
    Fault(UNLOCK_IGNORES_TRANSACTION,
          "UnlockConnector during a transaction: 1.6 answers Unlocked but does not end the "
          "transaction; 2.x answers Unlocked instead of OngoingAuthorizedTransaction",
          ("remote_control/unlock_connector", "remote_control/unlock_during_transaction")),
    Fault(REMOTE_START_WHEN_UNAVAILABLE,
          "answers RemoteStartTransaction (2.x RequestStartTransaction) Accepted on an "
          "Inoperative connector instead of Rejected",
          ("remote_control/remote_start_rejected", "remote_control/availability_charger",
                                    "remote_control/availability_connector")),
    Fault(TX_PROFILE_OUTLIVES_TRANSACTION,
          "keeps a TxProfile when its transaction ends and applies it to the next "
          "transaction on that connector",
          ("smart_charging/txprofile_ends_with_transaction",)),
    Fault(PROFILES_LOST_ON_REBOOT,
          "forgets every charging profile when it reboots (Reset)",
          ("smart_charging/profiles_survive_reset",)),
    Fault(TX_DEFAULT_FIRST_TRANSACTION_ONLY,
          "applies a TxDefaultProfile to the first transaction only: drops it when "
          "that transaction ends",
          ("smart_charging/txdefault_every_transaction",)),
    Fault(STATUS_STUCK_SUSPENDED_EV,
          "once the EV has suspended in a transaction, reports SuspendedEV (1.6 status, 2.x "
          "chargingState) for the rest of it, also while current flows again",
          ("status/charging_while_current_flows",)),
    Fault(RELATIVE_FROM_PLUG_IN,
          "times a Relative profile from when the EV was plugged in, not from the transaction "
          "start (2.x: the moment the EVSE is ready to deliver energy)",
          ("smart_charging/relative_from_transaction_start",)),
    Fault(LIMITS_PHASE_AVERAGE,
          "regulates the mean of its phase currents to the limit (raises the PWM offer while a "
          "phase draws less), so another phase exceeds the per-phase limit",
          ("smart_charging/unbalanced_ev_limited_per_phase",)),
    Fault(METER_CREEP,
          "the energy register creeps 30 Wh/h while no current flows (MID: no energy registered at no load)",
          ("metering/no_load_creep",),
          {"wh_per_h": 30.0}),
    Fault(LEAKS_MEMORY,
          "keeps 64 KiB for every message it sends and never frees it (a soak's memory_flat catches "
          "it; only long scenarios do, so the matrix leaves it to its own test)",
          ("metering/soak_8h",),
          {"kib_per_message": 64.0}),
    Fault(OCMF_BAD_SIGNATURE,
          "signs its OCMF records with a signature of another payload (the signature does not verify)",
          ("eichrecht",)),
    Fault(OCMF_PAGINATION_GAP,
          "skips one pagination number (PG) after the begin record of every transaction",
          ("eichrecht",)),
    Fault(OCMF_SERIAL_CHANGES,
          "names another meter serial (MS) in every record after the begin record",
          ("eichrecht",)),
    Fault(OCMF_ENERGY_TAMPERED,
          "signs a register that counts 5 % more than the energy delivered (validly signed)",
          ("eichrecht",),
          {"gain": 1.05}),
    Fault(OCMF_UNSIGNED_END,
          "sends the transaction's end reading unsigned (no signed Transaction.End value)",
          ("eichrecht",)),
    Fault(FOREIGN_ACTION,
          "after every StatusNotification also sends a CALL of an action its OCPP version does not "
          "have (1.6: TransactionEvent, 2.x: StartTransaction), as a charger mixing versions does",
          ("remote_control/remote_start_stop",)),
)
FAULTS: Mapping[str, Fault] = MappingProxyType({fault.name: fault for fault in FAULT_TABLE})


def magnitude(name: str, key: str) -> float:
    """One number a fault misbehaves by (e.g. magnitude(PWM_OFFSET, "points") == 4.0)."""
    return FAULTS[name].magnitude[key]


def unknown_faults(names: Iterable[str]) -> list[str]:
    """Names that are not known faults, in the order given (empty = all valid)."""
    return [name for name in names if name not in FAULTS]


def effective_reaction_time_s(reaction_time_s: float, faults: Iterable[str]) -> float:
    """Delay from a limit change to the PWM change, with `slow_reaction` applied."""
    if SLOW_REACTION in set(faults):
        return reaction_time_s * magnitude(SLOW_REACTION, "factor") + magnitude(SLOW_REACTION, "extra_s")
    return reaction_time_s


def offered_duty_pct(annex_a_duty_pct: float, faults: Iterable[str]) -> float:
    """Duty the charger puts on the CP line, with `pwm_offset` applied (never above 100 %)."""
    if PWM_OFFSET in set(faults) and annex_a_duty_pct < 100.0:
        return min(100.0, round(annex_a_duty_pct + magnitude(PWM_OFFSET, "points"), 1))
    return annex_a_duty_pct


def energy_gain(faults: Iterable[str]) -> float:
    """How much more the charger's meter counts than flows, with `meter_gain_error` applied."""
    return magnitude(METER_GAIN_ERROR, "gain") if METER_GAIN_ERROR in set(faults) else 1.0


def creep_wh_per_h(faults: Iterable[str]) -> float:
    """How fast the charger's register advances with no current, with `meter_creep` applied."""
    return magnitude(METER_CREEP, "wh_per_h") if METER_CREEP in set(faults) else 0.0


def current_report_gain(faults: Iterable[str]) -> float:
    """How much higher the reported currents are, with `wrong_current_report` applied."""
    return magnitude(WRONG_CURRENT_REPORT, "gain") if WRONG_CURRENT_REPORT in set(faults) else 1.0


def heartbeat_interval_s(interval_s: float, faults: Iterable[str]) -> float:
    """The heartbeat interval the charger keeps, with `heartbeat_interval_ignored` applied."""
    if HEARTBEAT_INTERVAL_IGNORED in set(faults):
        return magnitude(HEARTBEAT_INTERVAL_IGNORED, "interval_s")
    return interval_s


def reported_status(status: str, faults: Iterable[str]) -> str:
    """The status (1.6) or chargingState (2.x) the charger reports, with `status_suspended_not_sent`."""
    if STATUS_SUSPENDED_NOT_SENT in set(faults) and status in ("SuspendedEV", "SuspendedEVSE"):
        return "Charging"
    return status


def end_transaction_profiles(store: ProfileStore16 | ProfileStore201, connector_id: int, faults: Iterable[str]) -> None:
    """The transaction on `connector_id` ended: the store drops its TxProfiles (1.6 3.13.1, 2.0.1 K02.FR.05),
    as a charger with `faults` does it."""
    wrong = set(faults)
    if TX_PROFILE_OUTLIVES_TRANSACTION not in wrong:
        store.end_transaction(connector_id)
    if TX_DEFAULT_FIRST_TRANSACTION_ONLY in wrong:
        store.clear(purpose="TxDefaultProfile")


def after_reboot(store: ProfileStore16 | ProfileStore201, faults: Iterable[str]) -> None:
    """A reboot: the profiles persist (1.6 errata 3.37), except with `profiles_lost_on_reboot`."""
    if PROFILES_LOST_ON_REBOOT in set(faults):
        store.profiles = []


def status_while_transaction(status: str, suspended_before: bool, faults: Iterable[str]) -> str:
    """The status (1.6) or chargingState (2.x) reported during a transaction in which the EV has
    (`suspended_before`) or has not yet suspended, with `status_stuck_suspended_ev` applied."""
    if STATUS_STUCK_SUSPENDED_EV in set(faults) and suspended_before and status == "Charging":
        return "SuspendedEV"
    return status


def relative_start(transaction_start: datetime | None, plugged_in: datetime | None,
                   faults: Iterable[str]) -> datetime | None:
    """The instant a Relative schedule counts from: the transaction start, or with
    `relative_from_plug_in` the moment the EV was plugged in."""
    if RELATIVE_FROM_PLUG_IN in set(faults) and transaction_start is not None and plugged_in is not None:
        return plugged_in
    return transaction_start


def offered_current_a(limit_a: float, phase_currents_a: Sequence[float], faults: Iterable[str]) -> float:
    """The current the charger offers on the PWM for `limit_a` per phase. With `limits_phase_average`
    it regulates the mean of the measured phase currents to the limit: it offers what the phase
    that follows the offer may draw so that the phases together reach 3 x limit."""
    if LIMITS_PHASE_AVERAGE not in set(faults) or limit_a < 6.0 or sum(phase_currents_a) < 1.0:
        return limit_a
    others = sum(phase_currents_a) - max(phase_currents_a)
    return max(limit_a, len(phase_currents_a) * limit_a - others)


def authorization_as_read(status: str, faults: Iterable[str]) -> str:
    """The CSMS's answer to Authorize as a charger with `faults` takes it."""
    if BLOCKED_TAG_ACCEPTED in set(faults) and status in ("Blocked", "Expired"):
        return "Accepted"
    return status


def misread_profiles(profiles: Sequence[InstalledProfile], faults: Iterable[str]) -> Sequence[InstalledProfile]:
    """The installed profiles as a charger with `faults` understands them (the store itself stays right)."""
    wrong = set(faults) & {STACK_LEVEL_INVERTED, IGNORES_VALIDITY, W_AS_A, PHASES_IGNORED, RECURRENCE_FROM_MIDNIGHT,
                           TX_PROFILE_OUTLIVES_TRANSACTION}
    if not wrong:
        return profiles
    out = []
    for installed in profiles:
        p = copy.deepcopy(installed.profile)
        # 1.6: one schedule object; 2.x: a list whose first entry is the one executed
        schedule = p["chargingSchedule"][0] if isinstance(p["chargingSchedule"], list) else p["chargingSchedule"]
        if STACK_LEVEL_INVERTED in wrong:
            p["stackLevel"] = max(0, int(magnitude(STACK_LEVEL_INVERTED, "flip")) - p["stackLevel"])
        if IGNORES_VALIDITY in wrong:
            p.pop("validFrom", None)
            p.pop("validTo", None)
        if W_AS_A in wrong and schedule.get("chargingRateUnit") == "W":
            schedule["chargingRateUnit"] = "A"
        if PHASES_IGNORED in wrong:
            for period in schedule.get("chargingSchedulePeriod", []):
                period.pop("numberPhases", None)
        if TX_PROFILE_OUTLIVES_TRANSACTION in wrong and p["chargingProfilePurpose"] == "TxProfile":
            p.pop("transactionId", None)  # bound to no transaction: applies to whichever runs
            installed = InstalledProfile(installed.connector_id, installed.profile, None)
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
