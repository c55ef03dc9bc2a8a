"""OCPP 2.0.1 adapter (and, through `V2xSession`, most of 2.1's).

The `ocpp` library's 2.0.1 ChargePoint plus: handlers that answer like a
permissive CSMS and feed the version-neutral `Dut`, and the `Dut`'s commands
in 2.0.1 words. What changes from 1.6, in the Dut's terms:
- a transaction is a TransactionEvent sequence (Started, Updated..., Ended)
  with a string transactionId the charger chose; meterStart/meterStop are the
  Energy.Active.Import.Register values in the Started and Ended events; the
  seqNo of each transaction must count up by one (a finding if not);
- the connector of the Dut is the EVSE; `chargingState` changes (Charging,
  SuspendedEV, SuspendedEVSE, ...) are status events like 1.6 statuses, next
  to the connector status of StatusNotification (Available, Occupied, ...);
- 1.6 configuration keys are translated to device-model variables
  (`CONFIG_KEYS`); "Component.Variable" addresses any other variable;
- requests answered by later messages (GetBaseReport -> NotifyReport,
  GetChargingProfiles -> ReportChargingProfiles, GetDisplayMessages ->
  NotifyDisplayMessages) wait for the whole report (until tbc is false).
"""
from __future__ import annotations

import itertools
import logging
from datetime import datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from bench.clock import iso_utc
from bench.csms.adapter import DEFAULT_CONTEXT, DEFAULT_MEASURAND, AdapterBase, convert_unit, default_unit
from bench.csms.dut import REPORT_TIMEOUT_S, DutError, DutTimeout, ReportNotSent
from bench.csms.events import DutIdentity, EventKind, FileTransferAnswer, FindingKind, MeterSample, Transaction
from bench.csms.profiles import purpose_for, to_version
from bench.csms.signed import signed_values_2x

LOG = logging.getLogger("bench.csms")

OCPP_VERSION = "2.0.1"
SUBPROTOCOL = "ocpp2.0.1"
REMOTE_ID_TOKEN_TYPE = "Central"  # an idToken the CSMS hands out (RequestStartTransaction)
LOCAL_LIST_TOKEN_TYPE = "ISO14443"  # the RFID cards of the local list and of reservations

# 1.6 configuration key -> (component, variable[, instance]) of the 2.x device model.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands"),
    "StopTxnAlignedData": ("AlignedDataCtrlr", "TxEndedMeasurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
    "StopTransactionOnEVSideDisconnect": ("TxCtrlr", "StopTxOnEVSideDisconnect"),
    "AuthorizeRemoteTxRequests": ("AuthCtrlr", "AuthorizeRemoteStart"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
    "AuthorizationKey": ("SecurityCtrlr", "BasicAuthPassword"),
    "SecurityProfile": ("SecurityCtrlr", "SecurityProfile"),
    "ChargeProfileMaxStackLevel": ("SmartChargingCtrlr", "ProfileStackLevel"),
    "ChargingScheduleMaxPeriods": ("SmartChargingCtrlr", "PeriodsPerSchedule"),
    "ChargingScheduleAllowedChargingRateUnit": ("SmartChargingCtrlr", "RateUnit"),
    "MaxChargingProfilesInstalled": ("SmartChargingCtrlr", "Entries", "ChargingProfiles"),
}
# SetVariables attributeStatus -> the ChangeConfiguration status a 1.6 scenario expects.
SET_STATUS_AS_16 = {"Accepted": "Accepted", "RebootRequired": "RebootRequired", "Rejected": "Rejected",
                    "UnknownComponent": "NotSupported", "UnknownVariable": "NotSupported",
                    "NotSupportedAttributeType": "NotSupported"}
RESET_KINDS = {"Hard": "Immediate", "Soft": "OnIdle"}  # 1.6 Reset type -> 2.x
TRIGGER_NAMES = {"DiagnosticsStatusNotification": "LogStatusNotification"}  # 1.6 -> 2.x
STOPPED_REASON_DEFAULT = "Local"  # TransactionType.stoppedReason: absent means Local


def variable_ref(key: str) -> tuple[str, ...]:
    """A 1.6 key, or "Component.Variable" -> (component, variable[, instance])."""
    if key in CONFIG_KEYS:
        return CONFIG_KEYS[key]
    component, dot, variable = key.partition(".")
    if not dot or not component or not variable:
        raise DutError(f"{key!r} is neither a known 1.6 configuration key nor 'Component.Variable'")
    return component, variable


def _address(ref: tuple[str, ...]) -> dict[str, Any]:
    variable = {"name": ref[1], **({"instance": ref[2]} if len(ref) > 2 else {})}
    return {"component": {"name": ref[0]}, "variable": variable}


class V2xSession(AdapterBase):
    """Handlers and commands shared by 2.0.1 and 2.1 (see the module notes).
    Subclasses set CALL and RESULT to the version's `ocpp` call/call_result modules."""

    CALL: Any = call
    RESULT: Any = call_result
    NETWORK_OCPP_VERSION = "OCPP20"  # SetNetworkProfile connectionData.ocppVersion

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_ids = itertools.count(1)
        self._remote_start_ids = itertools.count(1)

    # ------------------------------------------------ incoming: helpers
    def _samples(self, action: str, meter_values: list[dict] | None, evse_id: int | None,
                 transaction_id: str | None) -> list[MeterSample]:
        """MeterValueType list (wire camelCase) -> samples."""
        received = self._clock.monotonic()
        samples = []
        for meter_value in meter_values or []:
            timestamp = self._parse_time(action, meter_value.get("timestamp"))
            for sampled in meter_value.get("sampledValue", []):
                measurand = sampled.get("measurand", DEFAULT_MEASURAND)
                uom = sampled.get("unitOfMeasure") or {}
                try:
                    raw_value = float(sampled["value"]) * 10 ** int(uom.get("multiplier", 0))
                except (KeyError, TypeError, ValueError):
                    self._dut.add_finding(action, FindingKind.BAD_METER_VALUE, f"{measurand}: {sampled.get('value')!r}")
                    continue
                value, unit = convert_unit(raw_value, uom.get("unit") or default_unit(measurand))
                samples.append(MeterSample(
                    t_mono_s=received, timestamp=timestamp, value=value, unit=unit, measurand=measurand,
                    phase=sampled.get("phase"), context=sampled.get("context", DEFAULT_CONTEXT),
                    location=sampled.get("location"), connector_id=evse_id, transaction_id=transaction_id,
                ))
        return samples

    @staticmethod
    def _register_wh(samples: list[MeterSample], context: str) -> float | None:
        """The energy register in `samples`, preferring the given context (e.g. Transaction.Begin)."""
        energy = [s for s in samples if s.measurand == DEFAULT_MEASURAND and s.phase is None]
        preferred = [s for s in energy if s.context == context]
        chosen = preferred or energy
        return chosen[-1].value if chosen else None

    def _id_token_info(self, id_token: dict | None) -> dict | None:
        if not id_token:
            return None
        return {"status": self._settings.id_tag_status(id_token.get("idToken", ""))}

    # ------------------------------------------------ incoming: handlers
    @on(Action.boot_notification)
    def on_boot_notification(self, charging_station: dict, reason: str, **_: Any):
        station = self.raw.get("chargingStation", {})
        modem = station.get("modem") or {}
        status, interval = self._dut.boot_answer(self._settings.heartbeat_interval_s)
        self._pending_boot = (DutIdentity(
            vendor=station.get("vendorName", ""), model=station.get("model", ""),
            serial=station.get("serialNumber"), firmware=station.get("firmwareVersion"),
            iccid=modem.get("iccid"), imsi=modem.get("imsi"),
        ), dict(status=status, interval=interval, reason=reason))
        return self.RESULT.BootNotification(current_time=iso_utc(self._clock.utcnow()), interval=interval,
                                            status=status)

    @after(Action.boot_notification)
    def after_boot_notification(self, **_: Any):
        self._boot_answered()

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any):
        self._dut.emit(EventKind.HEARTBEAT)
        return self.RESULT.Heartbeat(current_time=iso_utc(self._clock.utcnow()))

    @on(Action.status_notification)
    def on_status_notification(self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any):
        self._dut.record_status(evse_id, connector_status, source="StatusNotification", connector=connector_id,
                                timestamp=self._parse_time("StatusNotification", timestamp))
        return self.RESULT.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict, **_: Any):
        token = self.raw["idToken"]
        status = self._settings.id_tag_status(token["idToken"])
        self._dut.emit(EventKind.AUTHORIZE, id_tag=token["idToken"], token_type=token.get("type"), status=status)
        return self.RESULT.Authorize(id_token_info={"status": status})

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                             transaction_info: dict, **_: Any):
        action = "TransactionEvent"
        info = self.raw["transactionInfo"]
        tx_id = info["transactionId"]
        evse = self.raw.get("evse") or {}
        token = self.raw.get("idToken")
        known = self._dut.transactions.get(tx_id)
        evse_id = evse.get("id") or (known.connector_id if known else None)
        samples = self._samples(action, self.raw.get("meterValue"), evse_id, tx_id)
        if event_type == "Started" or known is None:
            if event_type != "Started":
                self._dut.add_finding(action, FindingKind.TRANSACTION_FLOW,
                                      f"{event_type} for transactionId {tx_id!r} that never started")
            known = self._start(tx_id, evse_id, token, info, timestamp, samples, seq_no)
        else:
            if self._resent(known, seq_no):
                return self._transaction_event_answer(token)
            self._check_seq_no(known, seq_no, event_type)
            if known.t_stop_mono_s is not None:
                self._dut.add_finding(action, FindingKind.TRANSACTION_FLOW,
                                      f"{event_type} for transactionId {tx_id!r} after it ended")
        known.signed_values += signed_values_2x(self.raw.get("meterValue"), self._clock.monotonic(),
                                                f"{action} {event_type}", self._parse_time)
        if token and not known.id_tag:
            known.id_tag = token.get("idToken", "")
            known.id_tag_status = self._settings.id_tag_status(known.id_tag)
        if event_type != "Started" and samples and event_type != "Ended":
            self._dut.record_meter_values(known.connector_id, tx_id, samples)
        self._dut.emit(EventKind.TRANSACTION_UPDATED, known.connector_id, transaction_id=tx_id, event_type=event_type,
                       trigger_reason=trigger_reason, seq_no=seq_no, charging_state=info.get("chargingState"),
                       id_tag=known.id_tag, offline=bool(self.raw.get("offline", False)),
                       timestamp=self._parse_time(action, timestamp))
        self._note_charging_state(known, info.get("chargingState"))
        if event_type == "Ended":
            self._dut.record_transaction_stopped(
                tx_id, meter_stop_wh=self._register_wh(samples, "Transaction.End"),
                stop_timestamp=self._parse_time(action, timestamp),
                reason=info.get("stoppedReason", STOPPED_REASON_DEFAULT), samples=samples)
        known.last_event = self.raw
        return self._transaction_event_answer(token)

    def _transaction_event_answer(self, token: dict | None) -> Any:
        token_info = self._id_token_info(token)
        return self.RESULT.TransactionEvent(id_token_info=token_info) if token_info else self.RESULT.TransactionEvent()

    def _resent(self, transaction: Transaction, seq_no: int) -> bool:
        """The last event again (sent again when its answer was lost): answered, not counted twice."""
        last = transaction.last_event
        if last is None or seq_no != transaction.last_seq_no:
            return False
        if last != self.raw:
            self._dut.add_finding("TransactionEvent", FindingKind.SEQ_NO,
                                  f"seqNo {seq_no} of transactionId {transaction.transaction_id!r} used for two "
                                  "different events")
        return True

    def _start(self, tx_id: str, evse_id: int | None, token: dict | None, info: dict, timestamp: str,
               samples: list[MeterSample], seq_no: int) -> Transaction:
        id_tag = (token or {}).get("idToken", "")
        transaction = Transaction(
            transaction_id=tx_id, connector_id=evse_id or 0, id_tag=id_tag,
            meter_start_wh=self._register_wh(samples, "Transaction.Begin"),
            t_start_mono_s=self._clock.monotonic(),
            start_timestamp=self._parse_time("TransactionEvent", timestamp),
            id_tag_status=self._settings.id_tag_status(id_tag) if id_tag else "Accepted",
            samples=list(samples), remote_start_id=info.get("remoteStartId"), last_seq_no=seq_no,
            reservation_id=self.raw.get("reservationId"),
        )
        self._dut.meter_samples.extend(samples)
        self._dut.record_transaction_started(transaction)
        return transaction

    def _check_seq_no(self, transaction: Transaction, seq_no: int, event_type: str) -> None:
        last = transaction.last_seq_no
        if last is not None and seq_no != last + 1:
            self._dut.add_finding("TransactionEvent", FindingKind.SEQ_NO,
                                  f"{event_type} of transactionId {transaction.transaction_id!r}: "
                                  f"seqNo {seq_no} after {last}")
        transaction.last_seq_no = seq_no

    def _note_charging_state(self, transaction: Transaction, state: str | None) -> None:
        if state is None or transaction.charging_state == state:
            return
        transaction.charging_state = state
        self._dut.record_status(transaction.connector_id, state, source="chargingState",
                                transaction_id=transaction.transaction_id)

    @on(Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list, **_: Any):
        samples = self._samples("MeterValues", self.raw.get("meterValue"), evse_id, None)
        self._dut.record_meter_values(evse_id, None, samples)
        return self.RESULT.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, request_id: int, generated_at: str, seq_no: int, **_: Any):
        self._dut.emit(EventKind.NOTIFY_REPORT, request_id=request_id, seq_no=seq_no,
                       tbc=bool(self.raw.get("tbc", False)), report_data=self.raw.get("reportData", []))
        return self.RESULT.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, generated_at: str, seq_no: int, event_data: list, **_: Any):
        self._dut.emit(EventKind.NOTIFY_EVENT, seq_no=seq_no, tbc=bool(self.raw.get("tbc", False)),
                       event_data=self.raw.get("eventData", []))
        return self.RESULT.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type: str, timestamp: str, **kw: Any):
        self._dut.emit(EventKind.SECURITY_EVENT, type=type, timestamp=self._parse_time("SecurityEventNotification",
                                                                                        timestamp),
                       tech_info=kw.get("tech_info"))
        return self.RESULT.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **kw: Any):
        self._dut.emit(EventKind.FIRMWARE_STATUS, status=status, request_id=kw.get("request_id"))
        return self.RESULT.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **kw: Any):
        self._dut.emit(EventKind.LOG_STATUS, status=status, request_id=kw.get("request_id"))
        return self.RESULT.LogStatusNotification()

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, request_id: int, charging_limit_source: str, evse_id: int, **_: Any):
        self._dut.emit(EventKind.REPORT_CHARGING_PROFILES, evse_id, request_id=request_id, evse_id=evse_id,
                       source=charging_limit_source, profiles=self.raw.get("chargingProfile", []),
                       tbc=bool(self.raw.get("tbc", False)))
        return self.RESULT.ReportChargingProfiles()

    @on(Action.notify_display_messages)
    def on_notify_display_messages(self, request_id: int, **_: Any):
        self._dut.emit(EventKind.NOTIFY_DISPLAY_MESSAGES, request_id=request_id,
                       messages=self.raw.get("messageInfo", []), tbc=bool(self.raw.get("tbc", False)))
        return self.RESULT.NotifyDisplayMessages()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **kw: Any):
        status = self._settings.data_transfer_status(vendor_id)
        self._dut.emit(EventKind.DATA_TRANSFER, vendor_id=vendor_id, message_id=kw.get("message_id"),
                       data=self.raw.get("data"), status=status)
        return self.RESULT.DataTransfer(status=status)

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str, **_: Any):
        self._dut.emit(EventKind.RESERVATION_STATUS, reservation_id=reservation_id, status=reservation_update_status)
        return self.RESULT.ReservationStatusUpdate()

    # ------------------------------------------------ outgoing: the Dut's commands
    async def remote_start(self, connector_id: int | None, id_tag: str, charging_profile: dict | None) -> str:
        profile = to_version(charging_profile, self.OCPP_VERSION) if charging_profile else None
        return await self._status_of(self.CALL.RequestStartTransaction(
            id_token={"idToken": id_tag, "type": REMOTE_ID_TOKEN_TYPE}, remote_start_id=next(self._remote_start_ids),
            evse_id=connector_id, charging_profile=profile))

    async def remote_stop(self, transaction_id: int | str) -> str:
        return await self._status_of(self.CALL.RequestStopTransaction(transaction_id=str(transaction_id)))

    async def set_charging_profile(self, connector_id: int, profile: dict) -> str:
        return await self._status_of(self.CALL.SetChargingProfile(
            evse_id=connector_id, charging_profile=to_version(profile, self.OCPP_VERSION)))

    async def clear_charging_profile(self, id: int | None, connector_id: int | None, purpose: str | None,
                                     stack_level: int | None) -> str:
        criteria = {k: v for k, v in (("evseId", connector_id),
                                      ("chargingProfilePurpose", purpose_for(purpose, self.OCPP_VERSION)),
                                      ("stackLevel", stack_level)) if v is not None}
        return await self._status_of(self.CALL.ClearChargingProfile(
            charging_profile_id=id, charging_profile_criteria=criteria or None))

    async def get_composite_schedule(self, connector_id: int, duration_s: int, unit: str | None) -> dict:
        return await self._request(self.CALL.GetCompositeSchedule(
            duration=duration_s, evse_id=connector_id, charging_rate_unit=unit))

    async def get_variables(self, refs: list[tuple[str, ...]]) -> list[dict]:
        answer = await self._request(self.CALL.GetVariables(get_variable_data=[_address(r) for r in refs]))
        return answer["getVariableResult"]

    async def set_variables(self, values: list[tuple[tuple[str, ...], str]]) -> list[dict]:
        answer = await self._request(self.CALL.SetVariables(
            set_variable_data=[{**_address(ref), "attributeValue": value} for ref, value in values]))
        return answer["setVariableResult"]

    async def get_configuration(self, keys: list[str] | None) -> dict:
        """GetVariables of the 1.6 keys (all translatable ones if None), answered in the 1.6
        shape: {"configurationKey": [{key, value, readonly}], "unknownKey": [...]}."""
        names = keys or list(CONFIG_KEYS)
        unknown = [k for k in names if k not in CONFIG_KEYS and "." not in k]
        asked = [k for k in names if k not in unknown]
        known = []
        if asked:
            for key, result in zip(asked, await self.get_variables([variable_ref(k) for k in asked])):
                if result["attributeStatus"] == "Accepted":
                    known.append({"key": key, "value": result.get("attributeValue", ""), "readonly": False})
                else:
                    unknown.append(key)
        return {"configurationKey": known, "unknownKey": unknown}

    async def change_configuration(self, key: str, value: str) -> str:
        try:
            ref = variable_ref(key)
        except DutError:
            return "NotSupported"
        result = (await self.set_variables([(ref, value)]))[0]
        return SET_STATUS_AS_16.get(result["attributeStatus"], result["attributeStatus"])

    async def configure_metering(self, sample_interval_s: int, measurands: str) -> dict[str, str]:
        """Sampled meter values during a transaction every `sample_interval_s`, and the energy
        register in the Started and Ended events (meterStart/meterStop of 1.6)."""
        values: list[tuple[tuple[str, ...], str]] = [
            (("SampledDataCtrlr", "TxUpdatedInterval"), str(sample_interval_s)),
            (("SampledDataCtrlr", "TxUpdatedMeasurands"), measurands),
            (("SampledDataCtrlr", "TxStartedMeasurands"), DEFAULT_MEASURAND),
            (("SampledDataCtrlr", "TxEndedMeasurands"), DEFAULT_MEASURAND)]
        results = await self.set_variables(values)
        return {f"{r['component']['name']}.{r['variable']['name']}": r["attributeStatus"] for r in results}

    async def trigger_message(self, message: str, connector_id: int | None) -> str:
        name = TRIGGER_NAMES.get(message, message)
        evse = None
        if connector_id:
            evse = {"id": connector_id, **({"connectorId": 1} if name == "StatusNotification" else {})}
        return await self._status_of(self.CALL.TriggerMessage(requested_message=name, evse=evse))

    async def reset(self, kind: str) -> str:
        return await self._status_of(self.CALL.Reset(type=RESET_KINDS.get(kind, kind)))

    async def unlock_connector(self, connector_id: int) -> str:
        return await self._status_of(self.CALL.UnlockConnector(evse_id=connector_id, connector_id=1))

    async def change_availability(self, connector_id: int, kind: str) -> str:
        evse = {"id": connector_id} if connector_id else None
        return await self._status_of(self.CALL.ChangeAvailability(operational_status=kind, evse=evse))

    async def set_basic_auth_password(self, password: str) -> str:
        result = (await self.set_variables([(("SecurityCtrlr", "BasicAuthPassword"), password)]))[0]
        return result["attributeStatus"]

    async def set_security_profile(self, profile: int, csms_url: str, slot: int = 1) -> str:
        """SetNetworkProfile for `slot` with `profile` (a lower one than in use must be Rejected)."""
        data = {"ocppVersion": self.NETWORK_OCPP_VERSION, "ocppTransport": "JSON", "ocppCsmsUrl": csms_url,
                "messageTimeout": 30, "securityProfile": profile, "ocppInterface": "Wired0"}
        return await self._status_of(self.CALL.SetNetworkProfile(configuration_slot=slot, connection_data=data))

    async def _report(self, kind: str, request: Any, request_id: int) -> tuple[str, list]:
        """Send `request`; if Accepted, collect the data of every `kind` event with its requestId
        up to the one with tbc false."""
        mark = self._dut.mark()
        status = await self._status_of(request)
        parts: list = []
        if status != "Accepted":
            return status, parts
        index = mark
        deadline = self._clock.monotonic() + REPORT_TIMEOUT_S  # the whole sequence
        while True:
            try:
                event = await self._dut.wait_for(kind, lambda e: e.data.get("request_id") == request_id,
                                                 timeout_s=max(0.0, deadline - self._clock.monotonic()),
                                                 since_index=index)
            except DutTimeout:
                sent = f"sent {len(parts)}, the last with tbc true," if parts else "sent none"
                raise ReportNotSent(
                    f"{self.id} answered {type(request).__name__} (requestId {request_id}) Accepted but {sent} "
                    f"of its {EventKind(kind).value} messages within {REPORT_TIMEOUT_S:g} s") from None
            parts.append(event.data)
            index = self._dut.events.index(event) + 1
            if not event.data.get("tbc"):
                return status, parts

    async def get_base_report(self, report_base: str) -> tuple[str, list[dict]]:
        request_id = next(self._request_ids)
        status, parts = await self._report(EventKind.NOTIFY_REPORT, self.CALL.GetBaseReport(
            request_id=request_id, report_base=report_base), request_id)
        return status, [item for part in parts for item in part.get("report_data") or []]

    async def get_charging_profiles(self, evse_id: int | None, purpose: str | None, stack_level: int | None,
                                    profile_ids: list[int] | None) -> tuple[str, list[tuple[int, dict]]]:
        request_id = next(self._request_ids)
        criterion = {k: v for k, v in (("chargingProfilePurpose", purpose_for(purpose, self.OCPP_VERSION)),
                                       ("stackLevel", stack_level), ("chargingProfileId", profile_ids))
                     if v is not None}
        status, parts = await self._report(EventKind.REPORT_CHARGING_PROFILES, self.CALL.GetChargingProfiles(
            request_id=request_id, evse_id=evse_id, charging_profile=criterion), request_id)
        return status, [(part["evse_id"], profile) for part in parts for profile in part["profiles"]]

    async def set_display_message(self, message: dict) -> str:
        return await self._status_of(self.CALL.SetDisplayMessage(message=message))

    async def get_display_messages(self, ids: list[int] | None, priority: str | None,
                                   state: str | None) -> tuple[str, list[dict]]:
        request_id = next(self._request_ids)
        status, parts = await self._report(EventKind.NOTIFY_DISPLAY_MESSAGES, self.CALL.GetDisplayMessages(
            request_id=request_id, id=ids, priority=priority, state=state), request_id)
        return status, [m for part in parts for m in part.get("messages") or []]

    async def clear_display_message(self, message_id: int) -> str:
        return await self._status_of(self.CALL.ClearDisplayMessage(id=message_id))

    async def update_firmware(self, location: str, retrieve_at: datetime | None, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer:
        request_id = next(self._request_ids)
        firmware = {"location": location, "retrieveDateTime": iso_utc(retrieve_at or self._clock.utcnow())}
        answer = await self._request(self.CALL.UpdateFirmware(
            request_id=request_id, firmware=firmware, retries=retries, retry_interval=retry_interval_s))
        return FileTransferAnswer(answer["status"], request_id)

    async def get_diagnostics(self, location: str, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer:
        request_id = next(self._request_ids)
        answer = await self._request(self.CALL.GetLog(
            log={"remoteLocation": location}, log_type="DiagnosticsLog", request_id=request_id, retries=retries,
            retry_interval=retry_interval_s))
        return FileTransferAnswer(answer["status"], request_id, answer.get("filename"))
    # ---- local authorization list, cache, reservations
    async def send_local_list(self, version: int, update_type: str, entries: list[tuple[str, str | None]]) -> str:
        items = [{"idToken": {"idToken": tag, "type": LOCAL_LIST_TOKEN_TYPE},
                  **({"idTokenInfo": {"status": status}} if status else {})} for tag, status in entries]
        return await self._status_of(self.CALL.SendLocalList(version_number=version, update_type=update_type,
                                                             local_authorization_list=items or None))

    async def get_local_list_version(self) -> int:
        return (await self._request(self.CALL.GetLocalListVersion()))["versionNumber"]

    async def clear_cache(self) -> str:
        return await self._status_of(self.CALL.ClearCache())

    async def reserve_now(self, connector_id: int | None, id_tag: str, expiry: str, reservation_id: int) -> str:
        """`connector_id` is the evseId (None: any EVSE)."""
        return await self._status_of(self.CALL.ReserveNow(
            id=reservation_id, expiry_date_time=expiry, id_token={"idToken": id_tag, "type": LOCAL_LIST_TOKEN_TYPE},
            evse_id=connector_id))

    async def cancel_reservation(self, reservation_id: int) -> str:
        return await self._status_of(self.CALL.CancelReservation(reservation_id=reservation_id))


class V201Session(V2xSession, ChargePoint):
    OCPP_VERSION = OCPP_VERSION
    SUBPROTOCOL = SUBPROTOCOL
    ACTIONS = frozenset(a.value for a in Action)
    CALL = call
    RESULT = call_result
