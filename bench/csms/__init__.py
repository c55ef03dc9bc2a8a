"""OCPP backend stub (CSMS) that the charger under test connects to.

`CsmsServer` serves every position on one port, OCPP 1.6, 2.0.1 and 2.1 (one
adapter per version: v16.py, v201.py, v21.py) at security profile 0..3
(security.py); `server.dut(cp_id)` is the version-neutral handle scenario
steps use; `MessageLog` writes `ocpp.jsonl`.
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
