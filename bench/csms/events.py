"""What the CSMS stub learns about a charger, in version-neutral dataclasses.

The OCPP version adapters (`v16.py`, later 2.0.1/2.1) translate messages into
these; scenario steps and checks only ever see these. Times: `t_mono_s` is the
run's monotonic clock at receipt; charger-reported times are kept apart
(`timestamp`, `start_timestamp`) because a charger's clock may be wrong, and
that is something a check may want to judge.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    BOOT = "boot"
    HEARTBEAT = "heartbeat"
    STATUS = "status"  # data: status, error_code, info
    AUTHORIZE = "authorize"  # data: id_tag, status
    TRANSACTION_STARTED = "transaction_started"  # data: transaction (Transaction)
    TRANSACTION_STOPPED = "transaction_stopped"  # data: transaction_id, transaction (None if unknown), meter_stop_wh, reason, samples
    METER_VALUES = "meter_values"  # data: transaction_id, samples (list[MeterSample])
    DATA_TRANSFER = "data_transfer"  # data: vendor_id, message_id, data, status
    FIRMWARE_STATUS = "firmware_status"  # data: status
    DIAGNOSTICS_STATUS = "diagnostics_status"  # data: status


class FindingKind(StrEnum):
    """Why a finding was recorded. Schema violations of a DUT request carry the
    OCPP error code we answered with (e.g. "FormationViolation", "ProtocolError")."""

    INVALID_RESPONSE = "InvalidResponse"  # the DUT's answer to our call failed its schema
    NOT_SUPPORTED = "NotSupported"  # the DUT sent an action its OCPP version does not have
    MALFORMED_FRAME = "MalformedFrame"  # not JSON or not an OCPP message array
    BINARY_FRAME = "BinaryFrame"  # OCPP-J requires text frames
    BAD_TIMESTAMP = "BadTimestamp"  # schema says date-time, but it did not parse
    BAD_METER_VALUE = "BadMeterValue"  # a Raw sampled value that is not a number
    UNKNOWN_TRANSACTION = "UnknownTransaction"  # Stop/MeterValues for a transactionId we never issued
    HANDSHAKE_REFUSED = "HandshakeRefused"  # known id, but no subprotocol we speak


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
    transaction_id: int | None = None


@dataclass
class Transaction:
    transaction_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: float
    t_start_mono_s: float
    start_timestamp: datetime | None  # the charger's
    id_tag_status: str = "Accepted"  # what we answered in StartTransaction
    meter_stop_wh: float | None = None  # None while running
    t_stop_mono_s: float | None = None
    stop_timestamp: datetime | None = None
    stop_reason: str | None = None  # 1.6: absent means "Local"
    samples: list[MeterSample] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.t_stop_mono_s is None

    @property
    def energy_wh(self) -> float | None:
        """Energy the charger billed: meterStop - meterStart (None while running)."""
        return None if self.meter_stop_wh is None else self.meter_stop_wh - self.meter_start_wh


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
