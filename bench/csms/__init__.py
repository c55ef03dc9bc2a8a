"""OCPP backend stub (CSMS) that the charger under test connects to.

`CsmsServer` serves every position on one port; `server.dut(cp_id)` is the
version-neutral handle scenario steps use; `MessageLog` writes `ocpp.jsonl`.
"""
from bench.csms.dut import (
    Dut,
    DutCallError,
    DutError,
    DutNotConnected,
    DutNotSupported,
    DutProtocolError,
    DutTimeout,
    InvalidRequest,
)
from bench.csms.events import (
    DutEvent,
    DutIdentity,
    EventKind,
    Finding,
    FindingKind,
    MeterSample,
    Transaction,
)
from bench.csms.message_log import LogEntry, MessageLog, read_message_log
from bench.csms.server import CsmsServer, CsmsSettings

__all__ = [
    "CsmsServer",
    "CsmsSettings",
    "Dut",
    "DutCallError",
    "DutError",
    "DutEvent",
    "DutIdentity",
    "DutNotConnected",
    "DutNotSupported",
    "DutProtocolError",
    "DutTimeout",
    "EventKind",
    "Finding",
    "FindingKind",
    "InvalidRequest",
    "LogEntry",
    "MessageLog",
    "MeterSample",
    "Transaction",
    "read_message_log",
]
