"""OCPP 1.6J adapter: one `V16Session` per live connection of a 1.6 charger.

It is the `ocpp` library's 1.6 ChargePoint (framing, routing, schema
validation) plus: handlers that answer like a permissive backend and feed the
version-neutral `Dut`; schema violations by the charger recorded as findings
(the connection stays up); commands that return the charger's answer as it
was on the wire (camelCase), so nothing is lost in snake_case round trips.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ocpp.exceptions import FormationViolationError, FormatViolationError, OCPPError
from ocpp.messages import Call
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action

from bench.clock import iso_utc
from bench.csms.adapter import (  # noqa: F401  (re-exported: the 1.6 names of the shared helpers)
    DEFAULT_CONTEXT,
    DEFAULT_MEASURAND,
    DEFAULT_UNITS,
    UNIT_CONVERSIONS,
    AdapterBase,
    cause,
    convert_unit,
    default_unit,
)
from bench.csms.events import DutIdentity, EventKind, FileTransferAnswer, FindingKind, MeterSample, Transaction
from bench.csms.signed import signed_values_16

LOG = logging.getLogger("bench.csms")

OCPP_VERSION = "1.6"
# the lowest connectorId OCPP 1.6 section 6 allows in what a charger sends (6.31, 6.45, 6.47)
CONNECTOR_ID_MIN = {"MeterValues": 0, "StatusNotification": 0, "StartTransaction": 1}
SUBPROTOCOL = "ocpp1.6"


class V16Session(AdapterBase, ChargePoint):
    OCPP_VERSION = OCPP_VERSION
    SUBPROTOCOL = SUBPROTOCOL
    ACTIONS = frozenset(a.value for a in Action)
    _started_not_told: Transaction | None = None  # StartTransaction answered, .conf not yet sent

    def error_for(self, exc: OCPPError) -> OCPPError:
        """The library answers schema errors with 2.0.1's "FormatViolation"; the 1.6
        enum spells it "FormationViolation"."""
        cls = FormationViolationError if isinstance(exc, FormatViolationError) else type(exc)
        return cls(description=exc.description, details={"cause": cause(exc)})

    def constraint_problem(self, msg: Call) -> str | None:
        """The 1.6 schemas type connectorId as a bare integer; section 6 bounds it per message."""
        lowest = CONNECTOR_ID_MIN.get(msg.action)
        connector = msg.payload.get("connectorId") if isinstance(msg.payload, dict) else None
        if lowest is None or not isinstance(connector, int) or connector >= lowest:
            return None
        return (f"connectorId {connector}: OCPP 1.6 section 6 requires connectorId "
                f"{'>= 0' if lowest == 0 else '> 0'} in {msg.action}.req")

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
            self._dut.add_finding(action, FindingKind.UNKNOWN_TRANSACTION,
                                  f"transactionId {transaction_id} was never issued")

    # ------------------------------------------------ incoming: handlers
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kw: Any):
        status, interval = self._dut.boot_answer(self._settings.heartbeat_interval_s)
        self._pending_boot = (
            DutIdentity(
                vendor=charge_point_vendor,
                model=charge_point_model,
                serial=kw.get("charge_point_serial_number") or kw.get("charge_box_serial_number"),
                firmware=kw.get("firmware_version"),
                iccid=kw.get("iccid"),
                imsi=kw.get("imsi"),
                meter_type=kw.get("meter_type"),
                meter_serial=kw.get("meter_serial_number"),
            ),
            dict(status=status, interval=interval),
        )
        return call_result.BootNotification(current_time=iso_utc(self._clock.utcnow()), interval=interval,
                                            status=status)

    @after(Action.boot_notification)
    def after_boot_notification(self, **_: Any):
        self._boot_answered()

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
            reservation_id=kw.get("reservation_id"),
        )
        self._started_not_told = transaction
        return call_result.StartTransaction(
            transaction_id=transaction.transaction_id, id_tag_info=IdTagInfo(status=status)
        )

    @after(Action.start_transaction)
    def after_start_transaction(self, **_: Any):
        # Tell the scenario only once the charger has been sent its transactionId: a step that
        # reacts (e.g. a TxProfile for that transaction) must not overtake the .conf.
        transaction, self._started_not_told = self._started_not_told, None
        if transaction is not None:
            self._dut.record_transaction_started(transaction)

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any):
        action = "StopTransaction"
        self._check_transaction_known(action, transaction_id)
        known = self._dut.transactions.get(transaction_id)
        samples = self._samples(
            action, kw.get("transaction_data", []), known.connector_id if known else None, transaction_id
        )
        if known is not None:
            known.signed_values += signed_values_16(kw.get("transaction_data", []), self._clock.monotonic(), action,
                                                    self._parse_time)
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
        known = self._dut.transactions.get(transaction_id) if transaction_id is not None else None
        if known is not None:
            known.signed_values += signed_values_16(meter_value, self._clock.monotonic(), "MeterValues",
                                                    self._parse_time)
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

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, **kw: Any):
        # 1.6 security whitepaper extension
        self._dut.emit(EventKind.SECURITY_EVENT, type=type,
                       timestamp=self._parse_time("SecurityEventNotification", timestamp),
                       tech_info=kw.get("tech_info"))
        return call_result.SecurityEventNotification()

    # ------------------------------------------------ outgoing
    async def remote_start(self, connector_id: int | None, id_tag: str, charging_profile: dict | None) -> str:
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
        return await self._request(
            call.GetCompositeSchedule(connector_id=connector_id, duration=duration_s, charging_rate_unit=unit)
        )

    async def get_configuration(self, keys: list[str] | None) -> dict:
        return await self._request(call.GetConfiguration(key=keys))

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

    async def configure_metering(self, sample_interval_s: int, measurands: str) -> dict[str, str]:
        """MeterValues every `sample_interval_s` during transactions (meterStart/meterStop are always sent)."""
        return {key: await self.change_configuration(key, value)
                for key, value in (("MeterValueSampleInterval", str(sample_interval_s)),
                                   ("MeterValuesSampledData", measurands))}

    async def set_basic_auth_password(self, password: str) -> str:
        # security whitepaper A01: the password is the AuthorizationKey configuration key
        return await self.change_configuration("AuthorizationKey", password)

    async def set_security_profile(self, profile: int, csms_url: str, slot: int = 1) -> str:
        # security whitepaper A05: only ever raised; the URL stays (1.6 has no network profiles)
        return await self.change_configuration("SecurityProfile", str(profile))

    async def update_firmware(self, location: str, retrieve_at: datetime | None, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer:
        await self._request(call.UpdateFirmware(
            location=location, retrieve_date=iso_utc(retrieve_at or self._clock.utcnow()), retries=retries,
            retry_interval=retry_interval_s))
        return FileTransferAnswer("Accepted")

    async def get_diagnostics(self, location: str, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer:
        answer = await self._request(call.GetDiagnostics(location=location, retries=retries,
                                                         retry_interval=retry_interval_s))
        return FileTransferAnswer("Accepted", file_name=answer.get("fileName"))
    # ---- local authorization list, cache, reservations
    async def send_local_list(self, version: int, update_type: str, entries: list[tuple[str, str | None]]) -> str:
        items = [{"idTag": tag, **({"idTagInfo": {"status": status}} if status else {})} for tag, status in entries]
        return await self._status_of(call.SendLocalList(list_version=version, update_type=update_type,
                                                        local_authorization_list=items))

    async def get_local_list_version(self) -> int:
        return (await self._request(call.GetLocalListVersion()))["listVersion"]

    async def clear_cache(self) -> str:
        return await self._status_of(call.ClearCache())

    async def reserve_now(self, connector_id: int | None, id_tag: str, expiry: str, reservation_id: int) -> str:
        return await self._status_of(call.ReserveNow(connector_id=connector_id or 0, expiry_date=expiry,
                                                     id_tag=id_tag, reservation_id=reservation_id))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status_of(call.CancelReservation(reservation_id=reservation_id))

