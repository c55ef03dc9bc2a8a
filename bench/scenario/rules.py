"""The requirement each step enforces, so that every FAIL names the rule a vendor can look up.

1.6: the section of "OCPP 1.6 edition 2" describing the operation; 2.0.1 / 2.1: the use case of
part 2 whose functional requirements (<id>.FR.nn) the step checks. A step's own message may be
more precise (a single FR id); the runner appends this only when the message cites no rule.
"""
from __future__ import annotations

import re

# step -> (OCPP 1.6 section, OCPP 2.x use case)
STEP_RULES: dict[str, tuple[str, str]] = {
    "remote_start": ("5.11 Remote Start Transaction", "F01 RequestStartTransaction"),
    "request_remote_start": ("5.11 Remote Start Transaction", "F01/F02 RequestStartTransaction"),
    "remote_start_request": ("5.11 Remote Start Transaction", "F01/F02 RequestStartTransaction"),
    "remote_stop": ("5.12 Remote Stop Transaction", "F03 RequestStopTransaction"),
    "remote_stop_unknown": ("5.12 Remote Stop Transaction", "F03.FR.08 RequestStopTransaction"),
    "set_profile": ("5.16 Set Charging Profile and 3.13 Smart Charging", "K01 SetChargingProfile"),
    "clear_profile": ("5.5 Clear Charging Profile", "K10 ClearChargingProfile"),
    "get_composite_schedule": ("5.7 Get Composite Schedule", "K08 GetCompositeSchedule"),
    "configure": ("5.3 Change Configuration and 9 Standard Configuration Key Names", "B05 SetVariables"),
    "set_configuration": ("5.3 Change Configuration and 9 Standard Configuration Key Names", "B05 SetVariables"),
    "get_configuration": ("5.8 Get Configuration", "B06 GetVariables"),
    "send_local_list": ("5.15 Send Local List", "D01 SendLocalList"),
    "get_local_list_version": ("5.10 Get Local List Version", "D02 GetLocalListVersion"),
    "clear_cache": ("5.4 Clear Cache", "C11 ClearCache"),
    "reserve_now": ("5.13 Reserve Now and 3.11 Reservations", "H01 ReserveNow"),
    "cancel_reservation": ("5.1 Cancel Reservation", "H02 CancelReservation"),
    "expect_reservation_update": ("3.11 Reservations", "H01.FR.17 ReservationStatusUpdate"),
    "trigger_message": ("5.17 Trigger Message", "F06 TriggerMessage"),
    "unlock_connector": ("5.18 Unlock Connector", "F05 UnlockConnector"),
    "change_availability": ("5.2 Change Availability", "G03/G04 ChangeAvailability"),
    "expect_availability": ("5.2 Change Availability", "G03/G04 ChangeAvailability"),
    "reset": ("5.14 Reset", "B11/B12 Reset"),
    "expect_boot_sequence": ("4.2 Boot Notification", "B01-B03 BootNotification"),
    "expect_heartbeat_interval": ("4.6 Heartbeat", "B01.FR.04 / G02 Heartbeat"),
    "update_firmware": ("5.19 Update Firmware and 4.5 Firmware Status Notification", "L01 UpdateFirmware"),
    "expect_firmware_statuses": ("4.5 Firmware Status Notification", "L01 FirmwareStatusNotification"),
    "get_diagnostics": ("5.9 Get Diagnostics and 4.4 Diagnostics Status Notification", "N01 GetLog"),
    "set_display_message": ("(none: 2.x only)", "O01 SetDisplayMessage"),
    "get_display_messages": ("(none: 2.x only)", "O02 GetDisplayMessages"),
    "clear_display_message": ("(none: 2.x only)", "O05 ClearDisplayMessage"),
    "expect_transaction": ("4.8 Start Transaction and 3.6 Transaction in relation to Energy Transfer Period",
                           "E01-E03 TransactionEvent Started"),
    "expect_transaction_state": ("4.8 Start Transaction", "E01-E03 TransactionEvent"),
    "expect_no_transaction": ("4.8 Start Transaction and 3.5 Local Authorization", "C01 / E05 authorization"),
    "expect_connector_status": ("4.9 Status Notification", "G01 StatusNotification"),
    "expect_status": ("4.9 Status Notification", "G01 StatusNotification"),
    "expect_stop_reason": ("4.10 Stop Transaction", "E06 TransactionEvent Ended"),
    "expect_sampled_meter_values": ("4.7 Meter Values and 3.16 Metering Data", "J02 transaction-related meter values"),
    "expect_clock_aligned_meter_values": ("4.7 Meter Values and 3.16 Metering Data", "J01 clock-aligned meter values"),
    "expect_replayed_transaction": ("3.7 Transaction-related messages", "E04 offline transactions / E12 queued"),
    "offline_window": ("3.7 Transaction-related messages", "E04 / E12 offline behaviour"),
    "csms_offline": ("3.5 Local Authorization & Offline Behavior", "C13-C15 offline authorization"),
    "csms_online": ("3.5 Local Authorization & Offline Behavior", "C13-C15 offline authorization"),
    "ev_fault": ("4.9 Status Notification (Faulted)", "G01/G05 Faulted"),
    "expect_fault_cleared": ("4.9 Status Notification", "G01 StatusNotification"),
    "wait_for": ("4 Operations initiated by Charge Point", "the use case of the awaited message"),
    "swipe": ("4.1 Authorize and 3.5 Local Authorization", "C01 authorization"),
    "authorize": ("4.1 Authorize and 3.5 Local Authorization", "C01 authorization"),
}
_CITES = re.compile(r"\b(section \d|[A-Z]\d\d\.FR\.\d+|[A-Z]\d\d\b|IEC 61851|OCPP)")


def cite(step: str, message: str, ocpp_version: str) -> str:
    """`message` with the rule of `step` appended, unless it already names one."""
    rule = STEP_RULES.get(step)
    if rule is None or _CITES.search(message):
        return message
    where = f"OCPP 1.6 section {rule[0]}" if ocpp_version == "1.6" else f"OCPP {ocpp_version} {rule[1]}"
    return f"{message} [{where}]"
