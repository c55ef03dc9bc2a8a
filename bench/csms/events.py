"""What the CSMS stub learns about a charger, in version-neutral dataclasses.

The OCPP version adapters (`v16.py`, `v201.py`, `v21.py`) translate messages
into these; scenario steps and checks only ever see these. Words: a
"connector" is the 1.6 connector or the 2.0.1/2.1 EVSE; a transaction id is
an int in 1.6 (issued by the CSMS) and a string in 2.x (issued by the charger). Times: `t_mono_s` is the
run's monotonic clock at receipt; charger-reported times are kept apart
(`timestamp`, `start_timestamp`) because a charger's clock may be wrong, and
that is something a check may want to judge.
"""
from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, overload

from bench.csms.signed import SignedValue


class EventKind(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    # the connection a new one replaced answered our close: two live clients had the DUT's id
    # (a DUT that rebooted leaves a dead socket, which does not answer). data: remote
    RIVAL_CONNECTION = "rival_connection"
    BOOT = "boot"  # data: identity (DutIdentity), status and interval we answered; 2.x: reason
    HEARTBEAT = "heartbeat"
    STATUS = "status"  # data: status, error_code, info (1.6); 2.x: connector_status or charging_state in `source`
    AUTHORIZE = "authorize"  # data: id_tag, status
    TRANSACTION_STARTED = "transaction_started"  # data: transaction (Transaction)
    # 2.x: data: transaction_id, trigger_reason, seq_no, charging_state, id_tag, offline, timestamp
    TRANSACTION_UPDATED = "transaction_updated"
    # data: transaction_id, transaction (None if unknown), meter_stop_wh, reason, samples
    TRANSACTION_STOPPED = "transaction_stopped"
    METER_VALUES = "meter_values"  # data: transaction_id, samples (list[MeterSample])
    DATA_TRANSFER = "data_transfer"  # data: vendor_id, message_id, data, status
    FIRMWARE_STATUS = "firmware_status"  # data: status
    DIAGNOSTICS_STATUS = "diagnostics_status"  # data: status
    LOG_STATUS = "log_status"  # 2.x: data: status, request_id
    SECURITY_EVENT = "security_event"  # data: type, timestamp, tech_info
    NOTIFY_EVENT = "notify_event"  # 2.x: data: seq_no, tbc, event_data (wire camelCase)
    NOTIFY_REPORT = "notify_report"  # 2.x: data: request_id, seq_no, tbc, report_data (wire camelCase)
    REPORT_CHARGING_PROFILES = "report_charging_profiles"  # 2.x: data: request_id, evse_id, source, profiles, tbc
    NOTIFY_DISPLAY_MESSAGES = "notify_display_messages"  # 2.x: data: request_id, messages, tbc
    RESERVATION_STATUS = "reservation_status"  # 2.x ReservationStatusUpdate: data: reservation_id, status


class FindingKind(StrEnum):
    """Why a finding was recorded. Schema violations of a DUT request carry the
    OCPP error code we answered with (e.g. "FormationViolation", "ProtocolError")."""

    INVALID_RESPONSE = "InvalidResponse"  # the DUT's answer to our call failed its schema
    UNKNOWN_ACTION = "UnknownAction"  # the DUT sent an action its OCPP version does not have
    MALFORMED_FRAME = "MalformedFrame"  # not JSON (RFC 8259: no NaN/Infinity) or not an OCPP message array
    BAD_MESSAGE_ID = "BadMessageId"  # a CALL's message id not a string of 1..36 characters (OCPP-J 4.1.4)
    UNKNOWN_MESSAGE_TYPE = "UnknownMessageType"  # a message type number the version does not define
    STRAY_RESPONSE = "StrayResponse"  # a CALLRESULT/CALLERROR for no CALL the bench has open
    BINARY_FRAME = "BinaryFrame"  # OCPP-J requires text frames
    BAD_TIMESTAMP = "BadTimestamp"  # schema says date-time, but it did not parse
    BAD_METER_VALUE = "BadMeterValue"  # a Raw sampled value that is not a number
    UNKNOWN_TRANSACTION = "UnknownTransaction"  # Stop/MeterValues for a transactionId we never issued
    HANDSHAKE_REFUSED = "HandshakeRefused"  # known id, but no subprotocol we speak
    AUTH_REFUSED = "AuthRefused"  # known id, wrong or missing Basic auth / client certificate (security profiles)
    SEQ_NO = "TransactionSeqNo"  # 2.x TransactionEvent seqNo not one more than the last of that transaction
    CONNECTION_DROPPED = "ConnectionDropped"  # the DUT's connection ended without the bench closing it
    TRANSACTION_FLOW = "TransactionFlow"  # 2.x: Updated/Ended before Started, or events after Ended


@dataclass(frozen=True)
class DutIdentity:
    vendor: str
    model: str
    serial: str | None = None  # chargePointSerialNumber (or the deprecated chargeBoxSerialNumber)
    firmware: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial: str | None = None


@dataclass(frozen=True)
class MeterSample:
    t_mono_s: float  # receipt on the bench clock
    timestamp: datetime | None  # the charger's time of the sample (None if unparseable)
    value: float  # converted: kWh -> Wh, kW -> W, kvar(h) -> var(h), kVA -> VA
    unit: str | None  # unit after conversion
    measurand: str = "Energy.Active.Import.Register"
    phase: str | None = None  # None, "L1", "L2", "L3", "L1-N", ...
    context: str = "Sample.Periodic"
    location: str | None = None
    connector_id: int | None = None
    transaction_id: int | str | None = None


@dataclass
class Transaction:
    transaction_id: int | str  # 1.6: int issued by the CSMS; 2.x: the charger's string
    connector_id: int  # 2.x: the EVSE id
    id_tag: str  # "" until the charger names one (2.x may start a transaction before authorization)
    meter_start_wh: float | None  # 1.6 meterStart; 2.x the register in the Started event (None if absent)
    t_start_mono_s: float
    start_timestamp: datetime | None  # the charger's
    id_tag_status: str = "Accepted"  # what we answered in StartTransaction
    meter_stop_wh: float | None = None  # None while running
    t_stop_mono_s: float | None = None
    stop_timestamp: datetime | None = None
    stop_reason: str | None = None  # 1.6: absent means "Local"; 2.x: stoppedReason
    samples: list[MeterSample] = field(default_factory=list)
    remote_start_id: int | None = None  # 2.x: the RequestStartTransaction that started it
    last_seq_no: int | None = None  # 2.x: seqNo of the last TransactionEvent ...
    last_event: dict | None = field(default=None, repr=False)  # ... and that event as on the wire
    charging_state: str | None = None  # 2.x: the last chargingState reported
    reservation_id: int | None = None  # the reservation it used (1.6 StartTransaction, 2.x Started event)
    signed_values: list[SignedValue] = field(default_factory=list)  # its signed meter values (bench/csms/signed.py)

    @property
    def running(self) -> bool:
        return self.t_stop_mono_s is None

    @property
    def energy_wh(self) -> float | None:
        """Energy the charger billed: meterStop - meterStart (None while running or unreported)."""
        if self.meter_stop_wh is None or self.meter_start_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh


@dataclass(frozen=True)
class FileTransferAnswer:
    """The charger's answer to UpdateFirmware or GetDiagnostics (2.x GetLog), in the same
    words on every version."""

    status: str  # 1.6 answers carry no status: "Accepted"
    request_id: int | None = None  # 2.x: the requestId its FirmwareStatus/LogStatus notifications carry
    file_name: str | None = None  # GetDiagnostics/GetLog: the name of the file it will upload (if it says)


@dataclass(frozen=True)
class DutEvent:
    kind: str  # an EventKind value
    t_mono_s: float
    utc: datetime  # bench clock at receipt
    connector_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """Something the DUT did wrong on the protocol level. Recorded, not raised:
    the connection stays up and the scenario's checks decide what it means."""

    t_mono_s: float
    cp_id: str
    action: str | None
    kind: str  # a FindingKind value or the OCPP error code we answered with
    detail: str


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _is_bare_heartbeat(event: DutEvent) -> bool:
    """A heartbeat that two numbers say in full (the utc of the bench clocks is timezone.utc)."""
    return (event.kind == EventKind.HEARTBEAT and event.connector_id is None and not event.data
            and event.utc.tzinfo is timezone.utc)


class EventLog(Sequence[DutEvent]):
    """A Dut's events in order of receipt, read like a list (indexes, slices, `index`).

    Heartbeats are most of what a connected charger sends (1,000 chargers at one a second:
    60,000 a minute), and an event object each grew the CSMS without bound; a heartbeat is kept
    as two numbers instead (receipt on the bench clock, UTC in microseconds) and made into a
    DutEvent again when read: equal to the one emitted, so `index` finds it. Every other event is
    kept as emitted. Receipt times never decrease (the Clock is monotonic): `index` bisects."""

    def __init__(self) -> None:
        self._t = array("d")  # receipt of every event
        self._utc_us = array("q")  # a heartbeat's utc in microseconds since the epoch (0 for others)
        self._kept: dict[int, DutEvent] = {}  # index -> every event that is not a bare heartbeat

    def append(self, event: DutEvent) -> None:
        if _is_bare_heartbeat(event):
            self._utc_us.append((event.utc - _EPOCH) // _MICROSECOND)
        else:
            self._kept[len(self._t)] = event
            self._utc_us.append(0)
        self._t.append(event.t_mono_s)

    def __len__(self) -> int:
        return len(self._t)

    def _at(self, i: int) -> DutEvent:
        kept = self._kept.get(i)
        if kept is not None:
            return kept
        return DutEvent(EventKind.HEARTBEAT.value, self._t[i], _EPOCH + self._utc_us[i] * _MICROSECOND)

    @overload
    def __getitem__(self, index: int) -> DutEvent: ...
    @overload
    def __getitem__(self, index: slice) -> list[DutEvent]: ...
    def __getitem__(self, index: int | slice) -> DutEvent | list[DutEvent]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self._t)))]
        if index < 0:
            index += len(self._t)
        if not 0 <= index < len(self._t):
            raise IndexError("event index out of range")
        return self._at(index)

    def __iter__(self) -> Iterator[DutEvent]:
        return (self._at(i) for i in range(len(self._t)))

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first index of an event equal to `value`; it looks where its receipt time is first."""
        end = len(self._t) if stop is None else min(stop, len(self._t))
        t = getattr(value, "t_mono_s", None)
        if isinstance(t, (int, float)):
            i = max(start, bisect.bisect_left(self._t, t, 0, end))
            while i < end and self._t[i] == t:
                if self._at(i) == value:
                    return i
                i += 1
        for i in range(start, end):  # a clock that went back (a test's), or not an event
            if self._at(i) == value:
                return i
        raise ValueError(f"{value!r} is not in the events")

    def last(self, kind: str) -> DutEvent | None:
        """The latest event of `kind` other than a heartbeat, without reading the heartbeats."""
        return next((e for e in reversed(self._kept.values()) if e.kind == kind), None)
