"""What every OCPP version adapter shares: `AdapterBase`, mixed in before the
`ocpp` library's ChargePoint of that version.

The library does the framing, routing and schema validation; on top of it:
- a frame that is not OCPP, or a request that violates the version's schema,
  is a finding on the `Dut` (the connection stays up) and gets a CALLERROR;
- an action with no handler is answered NotSupported (an action of the version we
  have no use for: "recognized but not supported") or NotImplemented (not an action of
  this version: "not known by receiver", also a finding), as OCPP-J 1.6 section 4.2.3
  and 2.0.1 part 4 section 4.3 define the two codes;
- handlers can read the request as it was on the wire (`self.raw`, camelCase),
  because the library hands them snake_case keywords;
- our requests return the charger's answer as it was on the wire (camelCase),
  and a CALLERROR or a schema-breaking answer becomes the matching DutError.
"""
from __future__ import annotations

import copy
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from ocpp.exceptions import (
    NotImplementedError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
    UnknownCallErrorCodeError,
)
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload
from websockets.exceptions import ConnectionClosed

from bench.clock import Clock, parse_iso
from bench.csms.dut import Dut, DutCallError, DutNotConnected, DutProtocolError, InvalidRequest
from bench.csms.events import DutIdentity, FindingKind
from bench.csms.message_log import parse_frame

if TYPE_CHECKING:
    from bench.csms.server import CsmsSettings

LOG = logging.getLogger("bench.csms")

# Our own timeouts run on the bench Clock (see Dut); the library's loop-time
# timeout must never fire first.
LIBRARY_RESPONSE_TIMEOUT_S = 24 * 3600

MESSAGE_ID_MAX = 36  # OCPP-J 1.6 section 4.1.3, 2.0.1 part 4 section 4.1.4: string, at most 36 characters
UNREADABLE_ID = "-1"  # 2.0.1 part 4 section 4.2.3: the CALLERROR's id when the message id cannot be read


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict_frame(raw: str) -> tuple[list | None, str]:
    """The frame as an OCPP-J message array, or None and why not. Stricter than the library:
    NaN/Infinity are not JSON, and a frame nested too deep for the parser is refused, not a crash."""
    try:
        frame = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        return None, "nested too deep to parse"
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(frame, list) or not frame or type(frame[0]) is not int:
        return None, "not an OCPP-J message array [<MessageTypeId>, <MessageId>, ...]"
    return frame, ""


def call_shape_problem(frame: list) -> str:
    """Why a frame of a known type is not that type's array (OCPP-J: CALL [2, id, action, {payload}],
    CALLRESULT [3, id, {payload}], CALLERROR [4, id, code, description, {details}]); empty when it is."""
    kind, n = frame[0], len(frame)
    if kind == MessageType.Call and not (n == 4 and isinstance(frame[2], str) and isinstance(frame[3], dict)):
        return "a CALL is [2, <MessageId>, <Action string>, {<Payload>}]"
    if kind == MessageType.CallResult and not (n == 3 and isinstance(frame[2], dict)):
        return "a CALLRESULT is [3, <MessageId>, {<Payload>}]"
    if kind == MessageType.CallError and not (n == 5 and isinstance(frame[2], str) and isinstance(frame[3], str)
                                              and isinstance(frame[4], dict)):
        return "a CALLERROR is [4, <MessageId>, <errorCode>, <errorDescription>, {<errorDetails>}]"
    return ""


def message_id_problem(frame: list) -> str:
    """Why the frame's message id is not one (empty when it is)."""
    if len(frame) < 2 or not isinstance(frame[1], str):
        return "the message id is not a string"
    if not 0 < len(frame[1]) <= MESSAGE_ID_MAX:
        return f"the message id is {len(frame[1])} characters long (1..{MESSAGE_ID_MAX})"
    return ""


# Multiplied units -> base units (value x factor).
UNIT_CONVERSIONS: dict[str, tuple[str, float]] = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
}

# Only energy has a default unit (Wh) in the specifications. For other
# measurands a missing unit is read as the measurand's natural unit (first
# matching prefix).
DEFAULT_UNITS: tuple[tuple[str, str], ...] = (
    ("Energy.Active", "Wh"),
    ("Energy.Reactive", "varh"),
    ("Power.Active", "W"),
    ("Power.Offered", "W"),
    ("Power.Reactive", "var"),
    ("Current", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
    ("Temperature", "Celsius"),
)

DEFAULT_MEASURAND = "Energy.Active.Import.Register"
DEFAULT_CONTEXT = "Sample.Periodic"


def convert_unit(value: float, unit: str | None) -> tuple[float, str | None]:
    """kWh -> Wh, kW -> W, ...; other units unchanged."""
    if unit in UNIT_CONVERSIONS:
        base, factor = UNIT_CONVERSIONS[unit]
        return value * factor, base
    return value, unit


def default_unit(measurand: str) -> str | None:
    for prefix, unit in DEFAULT_UNITS:
        if measurand.startswith(prefix):
            return unit
    return None


def cause(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("cause"):
        text = str(details["cause"])
    else:
        text = getattr(exc, "description", None) or str(exc)
    return text.split("\n\n", 1)[0]  # jsonschema appends the whole schema after a blank line


class AdapterBase:
    """Mixin for one live connection of one OCPP version (see the module notes).

    Subclasses set OCPP_VERSION, SUBPROTOCOL and ACTIONS (every action name of
    the version) and mix in the library's ChargePoint after this class."""

    OCPP_VERSION: str = ""
    SUBPROTOCOL: str = ""
    ACTIONS: frozenset[str] = frozenset()

    id: str
    route_map: dict
    _unique_id_generator: Callable[[], Any]

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        dut: Dut,
        clock: Clock,
        settings: CsmsSettings,
        next_transaction_id: Callable[[], int],
    ) -> None:
        super().__init__(  # type: ignore[call-arg]  # from ocpp ChargePoint
            cp_id, connection, response_timeout=LIBRARY_RESPONSE_TIMEOUT_S, logger=LOG)
        self._dut = dut
        self._clock = clock
        self._settings = settings
        self._next_transaction_id = next_transaction_id
        # unique id -> (the library's response message, its payload as received)
        self._responses: dict[str, tuple[Any, Any]] = {}
        self.raw: dict = {}  # the request being handled, as on the wire
        self._routed: list | None = None  # the frame being routed, as parsed by strict_frame
        self._pending_boot: tuple[DutIdentity, dict[str, Any]] | None = None  # answered, not yet sent
        self._awaiting: set[str] = set()  # message ids of the CALLs the bench waits on

    def _boot_answered(self) -> None:
        """The BootNotification answer is on the wire: only now may the bench send CALLs. A charger
        drops a CALL that overtakes its BootNotification answer (1.6 section 4.2, 2.0.1 B01.FR.01:
        it sends and expects nothing before it is accepted), so the boot event waits for this."""
        if self._pending_boot is not None:
            identity, data = self._pending_boot
            self._pending_boot = None
            self._dut.record_boot(identity, **data)

    @property
    def ocpp_version(self) -> str:
        return self.OCPP_VERSION

    # ------------------------------------------------ incoming: findings
    async def route_message(self, raw_msg: str) -> None:
        """The envelope is checked here, by OCPP-J, before the library sees the frame."""
        frame, why = strict_frame(raw_msg)
        self._routed = frame
        if frame is None:  # JSON to a lenient parser only (NaN): the payload is syntactically wrong
            await self._reject_envelope(raw_msg, FindingKind.MALFORMED_FRAME, why,
                                        ("FormationViolation", "FormatViolation"))
            return
        if await self.route_other_type(frame):
            return
        if frame[0] not in (MessageType.Call, MessageType.CallResult, MessageType.CallError):
            await self._reject_envelope(raw_msg, FindingKind.UNKNOWN_MESSAGE_TYPE,
                                        f"message type {frame[0]} is not one of OCPP {self.OCPP_VERSION}'s",
                                        (None, "MessageTypeNotSupported"), frame)
            return
        if why := message_id_problem(frame):
            await self._reject_envelope(raw_msg, FindingKind.BAD_MESSAGE_ID, why, (None, "RpcFrameworkError"), frame)
            return
        if why := call_shape_problem(frame):
            await self._reject_envelope(raw_msg, FindingKind.MALFORMED_FRAME, why,
                                        ("FormationViolation", "RpcFrameworkError"), frame)
            return
        if frame[0] != MessageType.Call and frame[1] not in self._awaiting:
            # an answer to nothing we asked (late, duplicated or made up): dropped before the
            # library's response queue, where it could only be taken for another answer
            self._dut.add_finding(None, FindingKind.STRAY_RESPONSE, f"{raw_msg[:500]!r}")
            LOG.warning("%s: answer to no open CALL of ours, dropped: %.200r", self.id, raw_msg)
            return
        try:
            unpack(raw_msg)
        except OCPPError as exc:
            await self._reject_malformed(raw_msg, exc)
            return
        await super().route_message(raw_msg)  # type: ignore[misc]  # from ocpp ChargePoint

    async def _reject_envelope(self, raw_msg: str, kind: FindingKind, why: str,
                               codes: tuple[str | None, str], frame: list | None = None) -> None:
        """A frame the RPC framework cannot take: a finding, and the CALLERROR OCPP-J asks for,
        `codes` = (1.6 code, 2.x code). 2.x (part 4 sections 4.2.3, 4.4) always answers, with "-1"
        when the message id cannot be read; 1.6 has no such rule: only a CALL whose id can be read
        is answered, if 1.6 has a code for the problem at all (the finding says the rest). `frame`:
        the frame as parsed, if it parsed strictly; else it is parsed leniently for its id."""
        self._dut.add_finding(None, kind, f"{why}: {raw_msg[:500]!r}")
        LOG.warning("%s: %s (%s): %.200r", self.id, kind.value, why, raw_msg)
        if frame is None:
            frame = parse_frame(raw_msg)
        readable = (frame[1] if frame and len(frame) > 1 and isinstance(frame[1], str)
                    and 0 < len(frame[1]) <= MESSAGE_ID_MAX else None)
        readable_call = readable is not None and frame is not None and frame[0] == MessageType.Call
        if self.OCPP_VERSION == "1.6":
            if not readable_call or codes[0] is None:
                return
            code = codes[0]
        else:
            code = codes[1] if readable_call or codes[1] != "FormatViolation" else "RpcFrameworkError"
        await self._send(json.dumps([MessageType.CallError, readable or UNREADABLE_ID, code, why[:255],
                                     {"cause": why}]))

    async def route_other_type(self, frame: list) -> bool:
        """A frame type the library does not know (2.1 SEND, CALLRESULTERROR): True if handled."""
        return False

    def error_for(self, exc: OCPPError) -> OCPPError:
        """The CALLERROR we answer a broken request with (details cut to the cause:
        the library would put the whole message object there)."""
        return type(exc)(description=exc.description, details={"cause": cause(exc)})

    async def _reject_malformed(self, raw_msg: str, exc: OCPPError) -> None:
        why = cause(exc)
        self._dut.add_finding(None, FindingKind.MALFORMED_FRAME, f"{why}: {raw_msg[:500]!r}")
        LOG.warning("%s: malformed frame (%s): %.200r", self.id, why, raw_msg)
        frame = parse_frame(raw_msg)
        # A CALL whose unique id we can read still deserves a CALLERROR.
        if frame and len(frame) > 1 and frame[0] == MessageType.Call and isinstance(frame[1], str):
            error = self.error_for(exc)
            await self._send(CallError(frame[1], error.code, error.description, error.details).to_json())

    async def _handle_call(self, msg: Call) -> Any:
        if msg.action not in self.route_map:
            await self._reject_unhandled(msg)
            return None
        self.raw = self._wire_payload(msg)
        try:
            # Validate the request here (the library validates again) so that a
            # failure is known to be the charger's, not our answer's.
            await validate_payload(msg, self.OCPP_VERSION)
        except OCPPError as exc:
            error = self.error_for(exc)
            self._dut.add_finding(msg.action, error.code, cause(exc))
            LOG.warning("%s: %s violates the %s schema (%s): %s", self.id, msg.action, self.OCPP_VERSION,
                        error.code, cause(exc))
            await self._send(msg.create_call_error(error).to_json())
            return None
        if why := self.constraint_problem(msg):  # valid by the schema, not by the specification
            self._dut.add_finding(msg.action, "PropertyConstraintViolation", why)
            LOG.warning("%s: %s: %s", self.id, msg.action, why)
            violation = PropertyConstraintViolationError(description=why[:255], details={"cause": why})
            await self._send(msg.create_call_error(violation).to_json())
            return None
        return await super()._handle_call(msg)  # type: ignore[misc]  # from ocpp ChargePoint

    def _wire_payload(self, msg: Call) -> dict:
        """The request's payload as on the wire: strict_frame's parse of it, which nothing else
        holds (the library's copy may be changed by validation), so no copy per message."""
        frame = self._routed
        if frame is not None and len(frame) == 4 and frame[1] == msg.unique_id and isinstance(frame[3], dict):
            return frame[3]
        return copy.deepcopy(msg.payload) if isinstance(msg.payload, dict) else {}

    def constraint_problem(self, msg: Call) -> str | None:
        """A field value the version's specification forbids where its JSON schema does not."""
        return None

    async def _reject_unhandled(self, msg: Call) -> None:
        if msg.action in self.ACTIONS:
            # A valid message we have no use for: recognized, not supported; not the charger's fault.
            LOG.warning("%s: no handler for %s; answering NotSupported", self.id, msg.action)
            error: OCPPError = NotSupportedError(details={"cause": f"No handler for {msg.action} in the bench CSMS"})
        else:
            self._dut.add_finding(msg.action, FindingKind.UNKNOWN_ACTION,
                                  f"{msg.action!r} is not an OCPP {self.OCPP_VERSION} action")
            LOG.warning("%s: %r is not an OCPP %s action; answering NotImplemented", self.id, msg.action,
                        self.OCPP_VERSION)
            error = NotImplementedError(details={"cause": f"{msg.action} is not an OCPP {self.OCPP_VERSION} action"})
        await self._send(msg.create_call_error(error).to_json())

    def _parse_time(self, action: str, text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_iso(text)
        except ValueError:
            self._dut.add_finding(action, FindingKind.BAD_TIMESTAMP, f"timestamp {text!r} is not ISO 8601")
            return None

    async def _send(self, message: str) -> None:
        """An answer that cannot go out any more (the charger closed the connection) must not
        stop the reader: frames the charger sent before closing, e.g. the answer to our last
        call, are still to be read."""
        try:
            await super()._send(message)  # type: ignore[misc]  # from ocpp ChargePoint
        except ConnectionClosed:
            frame = parse_frame(message)
            if not frame or frame[0] == MessageType.Call:
                raise
            LOG.info("%s: connection closed before our answer %s went out", self.id, frame[1])

    # ------------------------------------------------ outgoing
    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        response = await super()._get_specific_response(  # type: ignore[misc]  # from ocpp ChargePoint
            unique_id, timeout)
        # Keep the payload as received: validation may turn floats into Decimals in place.
        self._responses[unique_id] = (response, copy.deepcopy(getattr(response, "payload", None)))
        return response

    async def _request(self, payload: Any) -> dict:
        """Send a CALL; return the charger's CALLRESULT payload as on the wire."""
        action = type(payload).__name__
        unique_id = str(self._unique_id_generator())
        self._awaiting.add(unique_id)
        try:
            await self.call(  # type: ignore[attr-defined]  # from ocpp ChargePoint
                payload, suppress=False, unique_id=unique_id)
            return self._responses[unique_id][1]
        except ConnectionClosed:
            raise DutNotConnected(f"{self.id}: connection closed while sending {action}") from None
        except (OCPPError, UnknownCallErrorCodeError) as exc:
            answered = self._responses.get(unique_id)
            if answered is None:
                raise InvalidRequest(
                    f"{action} fails the OCPP {self.OCPP_VERSION} schema, not sent: {cause(exc)}") from exc
            response = answered[0]
            if isinstance(response, CallError):
                raise DutCallError(action, response.error_code, response.error_description,
                                   response.error_details) from None
            self._dut.add_finding(action, FindingKind.INVALID_RESPONSE, cause(exc))
            raise DutProtocolError(
                f"{self.id}: the answer to {action} violates the OCPP {self.OCPP_VERSION} schema: {cause(exc)}"
            ) from exc
        finally:
            self._awaiting.discard(unique_id)
            self._responses.pop(unique_id, None)

    async def _status_of(self, payload: Any) -> str:
        return (await self._request(payload))["status"]
