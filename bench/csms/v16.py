"""OCPP 1.6J adapter: one `V16Session` per live connection of a 1.6 charger.

It is the `ocpp` library's 1.6 ChargePoint (framing, routing, schema
validation) plus: handlers that answer like a permissive backend and feed the
version-neutral `Dut`; schema violations by the charger recorded as findings
(the connection stays up); commands that return the charger's answer as it
was on the wire (camelCase), so nothing is lost in snake_case round trips.
"""
from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from ocpp.exceptions import (
    FormationViolationError,
    FormatViolationError,
    NotImplementedError,
    NotSupportedError,
    OCPPError,
    UnknownCallErrorCodeError,
)
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed

from bench.clock import Clock, iso_utc, parse_iso
from bench.csms.dut import Dut, DutCallError, DutNotConnected, DutProtocolError, InvalidRequest
from bench.csms.events import DutIdentity, EventKind, FindingKind, MeterSample, Transaction
from bench.csms.message_log import parse_frame

if TYPE_CHECKING:
    from bench.csms.server import CsmsSettings

LOG = logging.getLogger("bench.csms")

OCPP_VERSION = "1.6"
SUBPROTOCOL = "ocpp1.6"

# Our own timeouts run on the bench Clock (see Dut); the library's loop-time
# timeout must never fire first.
_LIBRARY_RESPONSE_TIMEOUT_S = 24 * 3600

# Multiplied units -> base units (value x factor).
UNIT_CONVERSIONS: dict[str, tuple[str, float]] = {
    "kWh": ("Wh", 1000.0),
    "kW": ("W", 1000.0),
    "kvarh": ("varh", 1000.0),
    "kvar": ("var", 1000.0),
    "kVA": ("VA", 1000.0),
}

# 1.6 only defines the default unit for energy (Wh). For other measurands a
# missing unit is read as the measurand's natural unit (first matching prefix).
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


class V16Session(ChargePoint):
    ocpp_version = OCPP_VERSION

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        dut: Dut,
        clock: Clock,
        settings: CsmsSettings,
        next_transaction_id: Callable[[], int],
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=_LIBRARY_RESPONSE_TIMEOUT_S, logger=LOG)
        self._dut = dut
        self._clock = clock
        self._settings = settings
        self._next_transaction_id = next_transaction_id
        # unique id -> (the library's response message, its payload as received)
        self._responses: dict[str, tuple[Any, Any]] = {}

    # ------------------------------------------------ incoming: findings
    async def route_message(self, raw_msg: str) -> None:
        try:
            unpack(raw_msg)
        except OCPPError as exc:
            await self._reject_malformed(raw_msg, exc)
            return
        await super().route_message(raw_msg)

    async def _reject_malformed(self, raw_msg: str, exc: OCPPError) -> None:
        cause = _cause(exc)
        self._dut.add_finding(None, FindingKind.MALFORMED_FRAME, f"{cause}: {raw_msg[:500]!r}")
        LOG.warning("%s: malformed frame (%s): %.200r", self.id, cause, raw_msg)
        frame = parse_frame(raw_msg)
        # A CALL whose unique id we can read still deserves a CALLERROR.
        if frame and len(frame) > 1 and frame[0] == MessageType.Call and isinstance(frame[1], str):
            error = _to_v16_error(exc)
            await self._send(CallError(frame[1], error.code, error.description, error.details).to_json())

    async def _handle_call(self, msg: Call) -> Any:
        if msg.action not in self.route_map:
            await self._reject_unhandled(msg)
            return None
        try:
            # Validate the request here (the library validates again) so that a
            # failure is known to be the charger's, not our answer's.
            await validate_payload(msg, OCPP_VERSION)
        except OCPPError as exc:
            error = _to_v16_error(exc)
            self._dut.add_finding(msg.action, error.code, _cause(exc))
            LOG.warning("%s: %s violates the 1.6 schema (%s): %s", self.id, msg.action, error.code, _cause(exc))
            await self._send(msg.create_call_error(error).to_json())
            return None
        return await super()._handle_call(msg)

    async def _reject_unhandled(self, msg: Call) -> None:
        if msg.action in Action.__members__.values():
            # A valid 1.6 message we have no use for yet: not the charger's fault.
            LOG.warning("%s: no handler for %s; answering NotImplemented", self.id, msg.action)
            error: OCPPError = NotImplementedError(details={"cause": f"No handler for {msg.action} in the bench CSMS"})
        else:
            self._dut.add_finding(msg.action, FindingKind.NOT_SUPPORTED, f"{msg.action!r} is not an OCPP 1.6 action")
            LOG.warning("%s: %r is not an OCPP 1.6 action; answering NotSupported", self.id, msg.action)
            error = NotSupportedError(details={"cause": f"{msg.action} is not an OCPP 1.6 action"})
        await self._send(msg.create_call_error(error).to_json())

    def _parse_time(self, action: str, text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_iso(text)
        except ValueError:
            self._dut.add_finding(action, FindingKind.BAD_TIMESTAMP, f"timestamp {text!r} is not ISO 8601")
            return None

    def _samples(
        self, action: str, meter_values: list[dict], connector_id: int | None, transaction_id: int | None
    ) -> list[MeterSample]:
        """MeterValue list (snake_case keys, as the library hands them over) -> samples."""
        received = self._clock.monotonic()
        samples = []
        for meter_value in meter_values or []:
            timestamp = self._parse_time(action, meter_value.get("timestamp"))
            for sampled in meter_value.get("sampled_value", []):
                if sampled.get("format") == "SignedData":
                    continue  # a signed blob, not a number
                measurand = sampled.get("measurand", DEFAULT_MEASURAND)
                try:
                    raw_value = float(sampled["value"])
                except (KeyError, TypeError, ValueError):
                    self._dut.add_finding(action, FindingKind.BAD_METER_VALUE, f"{measurand}: {sampled.get('value')!r}")
                    continue
                value, unit = convert_unit(raw_value, sampled.get("unit") or default_unit(measurand))
                samples.append(
                    MeterSample(
                        t_mono_s=received,
                        timestamp=timestamp,
                        value=value,
                        unit=unit,
                        measurand=measurand,
                        phase=sampled.get("phase"),
                        context=sampled.get("context", DEFAULT_CONTEXT),
                        location=sampled.get("location"),
                        connector_id=connector_id,
                        transaction_id=transaction_id,
                    )
                )
        return samples

    def _check_transaction_known(self, action: str, transaction_id: int | None) -> None:
        if transaction_id is not None and transaction_id not in self._dut.transactions:
            self._dut.add_finding(action, FindingKind.UNKNOWN_TRANSACTION, f"transactionId {transaction_id} was never issued")

    # ------------------------------------------------ incoming: handlers
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kw: Any):
        self._dut.record_boot(
            DutIdentity(
                vendor=charge_point_vendor,
                model=charge_point_model,
                serial=kw.get("charge_point_serial_number") or kw.get("charge_box_serial_number"),
                firmware=kw.get("firmware_version"),
                iccid=kw.get("iccid"),
                imsi=kw.get("imsi"),
                meter_type=kw.get("meter_type"),
                meter_serial=kw.get("meter_serial_number"),
            )
        )
        return call_result.BootNotification(
            current_time=iso_utc(self._clock.utcnow()),
            interval=self._settings.heartbeat_interval_s,
            status="Accepted",
        )

    @on(Action.heartbeat)
    def on_heartbeat(self):
        self._dut.emit(EventKind.HEARTBEAT)
        return call_result.Heartbeat(current_time=iso_utc(self._clock.utcnow()))

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, error_code: str, status: str, **kw: Any):
        self._dut.record_status(
            connector_id,
            status,
            error_code=error_code,
            info=kw.get("info"),
            timestamp=self._parse_time("StatusNotification", kw.get("timestamp")),
            vendor_id=kw.get("vendor_id"),
            vendor_error_code=kw.get("vendor_error_code"),
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str):
        status = self._settings.id_tag_status(id_tag)
        self._dut.emit(EventKind.AUTHORIZE, id_tag=id_tag, status=status)
        return call_result.Authorize(id_tag_info=IdTagInfo(status=status))

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kw: Any):
        status = self._settings.id_tag_status(id_tag)
        transaction = Transaction(
            transaction_id=self._next_transaction_id(),
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=float(meter_start),
            t_start_mono_s=self._clock.monotonic(),
            start_timestamp=self._parse_time("StartTransaction", timestamp),
            id_tag_status=status,
        )
        self._dut.record_transaction_started(transaction)
        return call_result.StartTransaction(
            transaction_id=transaction.transaction_id, id_tag_info=IdTagInfo(status=status)
        )

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any):
        action = "StopTransaction"
        self._check_transaction_known(action, transaction_id)
        known = self._dut.transactions.get(transaction_id)
        samples = self._samples(
            action, kw.get("transaction_data", []), known.connector_id if known else None, transaction_id
        )
        self._dut.record_transaction_stopped(
            transaction_id,
            meter_stop_wh=float(meter_stop),
            stop_timestamp=self._parse_time(action, timestamp),
            reason=kw.get("reason"),
            samples=samples,
        )
        id_tag = kw.get("id_tag")
        info = IdTagInfo(status=self._settings.id_tag_status(id_tag)) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[dict], **kw: Any):
        transaction_id = kw.get("transaction_id")
        self._check_transaction_known("MeterValues", transaction_id)
        samples = self._samples("MeterValues", meter_value, connector_id, transaction_id)
        self._dut.record_meter_values(connector_id, transaction_id, samples)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kw: Any):
        status = self._settings.data_transfer_status(vendor_id)
        self._dut.emit(
            EventKind.DATA_TRANSFER, vendor_id=vendor_id, message_id=kw.get("message_id"), data=kw.get("data"),
            status=status,
        )
        return call_result.DataTransfer(status=status)

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str):
        self._dut.emit(EventKind.FIRMWARE_STATUS, status=status)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status: str):
        self._dut.emit(EventKind.DIAGNOSTICS_STATUS, status=status)
        return call_result.DiagnosticsStatusNotification()

    # ------------------------------------------------ outgoing
    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:
        response = await super()._get_specific_response(unique_id, timeout)
        # Keep the payload as received: validation may turn floats into Decimals in place.
        self._responses[unique_id] = (response, copy.deepcopy(getattr(response, "payload", None)))
        return response

    async def _call(self, payload: Any) -> dict:
        """Send a CALL; return the charger's CALLRESULT payload as on the wire."""
        action = type(payload).__name__
        unique_id = str(self._unique_id_generator())
        try:
            await self.call(payload, suppress=False, unique_id=unique_id)
            return self._responses[unique_id][1]
        except ConnectionClosed:
            raise DutNotConnected(f"{self.id}: connection closed while sending {action}") from None
        except (OCPPError, UnknownCallErrorCodeError) as exc:
            answered = self._responses.get(unique_id)
            if answered is None:
                raise InvalidRequest(f"{action} fails the OCPP 1.6 schema, not sent: {_cause(exc)}") from exc
            response = answered[0]
            if isinstance(response, CallError):
                raise DutCallError(action, response.error_code, response.error_description, response.error_details) from None
            self._dut.add_finding(action, FindingKind.INVALID_RESPONSE, _cause(exc))
            raise DutProtocolError(f"{self.id}: the answer to {action} violates the OCPP 1.6 schema: {_cause(exc)}") from exc
        finally:
            self._responses.pop(unique_id, None)

    async def _status_of(self, payload: Any) -> str:
        return (await self._call(payload))["status"]

    async def remote_start(self, connector_id: int, id_tag: str, charging_profile: dict | None) -> str:
        return await self._status_of(
            call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile)
        )

    async def remote_stop(self, transaction_id: int) -> str:
        return await self._status_of(call.RemoteStopTransaction(transaction_id=transaction_id))

    async def set_charging_profile(self, connector_id: int, profile: dict) -> str:
        # The library camelCases every key of the payload; keys that are already
        # camelCase pass unchanged, so the profile goes out as given.
        return await self._status_of(call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile))

    async def clear_charging_profile(
        self, id: int | None, connector_id: int | None, purpose: str | None, stack_level: int | None
    ) -> str:
        return await self._status_of(
            call.ClearChargingProfile(
                id=id, connector_id=connector_id, charging_profile_purpose=purpose, stack_level=stack_level
            )
        )

    async def get_composite_schedule(self, connector_id: int, duration_s: int, unit: str | None) -> dict:
        return await self._call(
            call.GetCompositeSchedule(connector_id=connector_id, duration=duration_s, charging_rate_unit=unit)
        )

    async def get_configuration(self, keys: list[str] | None) -> dict:
        return await self._call(call.GetConfiguration(key=keys))

    async def change_configuration(self, key: str, value: str) -> str:
        return await self._status_of(call.ChangeConfiguration(key=key, value=value))

    async def trigger_message(self, message: str, connector_id: int | None) -> str:
        return await self._status_of(call.TriggerMessage(requested_message=message, connector_id=connector_id))

    async def reset(self, kind: str) -> str:
        return await self._status_of(call.Reset(type=kind))

    async def unlock_connector(self, connector_id: int) -> str:
        return await self._status_of(call.UnlockConnector(connector_id=connector_id))

    async def change_availability(self, connector_id: int, kind: str) -> str:
        return await self._status_of(call.ChangeAvailability(connector_id=connector_id, type=kind))


def _cause(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("cause"):
        text = str(details["cause"])
    else:
        text = getattr(exc, "description", None) or str(exc)
    return text.split("\n\n", 1)[0]  # jsonschema appends the whole schema after a blank line


def _to_v16_error(exc: OCPPError) -> OCPPError:
    """The library answers schema errors with 2.0.1's "FormatViolation"; the 1.6
    enum spells it "FormationViolation". Details are cut to the cause (the
    library would put the whole message object there)."""
    cls = FormationViolationError if isinstance(exc, FormatViolationError) else type(exc)
    return cls(description=exc.description, details={"cause": _cause(exc)})
