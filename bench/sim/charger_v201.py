"""The simulated charger as an OCPP 2.0.1 (`SimulatedCharger201`) or 2.1
(`SimulatedCharger21`) charging station.

It is the 1.6 `SimulatedCharger` (plant, IEC 61851 state machine, limits,
PWM, meter, outbox, reconnects, faults) with the OCPP side of 2.x:
- a device model (`device_model.py`) that GetVariables/SetVariables/
  GetBaseReport read and write, and that the station reads its settings from;
- transactions as TransactionEvent Started/Updated/Ended with a seqNo per
  transaction, started and ended by TxCtrlr.TxStartPoint/TxStopPoint (events
  EVConnected, Authorized, PowerPathClosed, EnergyTransfer: a transaction
  starts when one of the start points becomes true and ends when one of the
  stop points stops being true). The defaults (PowerPathClosed;
  EVConnected,Authorized) start and end a transaction where a 1.6 charger
  sends StartTransaction/StopTransaction, so one scenario means the same on
  every version;
- the connector status (Available, Occupied, ...) in StatusNotification and
  NotifyEvent, the charging state (Charging, SuspendedEVSE, ...) in
  TransactionEvent;
- display messages, GetChargingProfiles, SetNetworkProfile.
Every fault of `faults.py` works here too: the physics, meter and profile
faults live in the shared code, `accepts_invalid_profile` and the security
faults in the handlers below.
"""
from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from ocpp import v21, v201
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc, parse_iso
from bench.sim import charger_firmware as FW
from bench.sim import charger_remote as remote
from bench.sim import faults as F
from bench.sim.charger import (
    RESPONSE_TIMEOUT_S,
    ChargerSimConfig,
    SimulatedCharger,
    _Connector,
    _log_failure,
    _num,
    _Transaction,
)
from bench.sim.charger_auth import LocalAuthMixin2x, auth_variables
from bench.sim.charger_features import FeatureGate
from bench.sim.charger_meter import meter_value
from bench.sim.charger_reservation import ReservationMixin2x
from bench.sim.charger_security import valid_password
from bench.sim.device_model import (
    REPORT_BASES,
    SUPPORTED_MESSAGE_FORMATS,
    SUPPORTED_PRIORITIES,
    DeviceModel,
    default_variables,
)
from bench.sim.plant import Plant
from bench.smart_charging import ActiveTransaction, ProfileStore201, composite_schedule
from instruments.iec61851 import MIN_AC_CURRENT_A, CpState

log = logging.getLogger(__name__)

# CSMS request -> handler of SimulatedCharger201 (each takes the call's unique id and its payload
# as on the wire, and may queue a follow-up that runs once the answer is sent).
ROUTES: dict[str, str] = {
    "RequestStartTransaction": "on_request_start",
    "RequestStopTransaction": "on_request_stop",
    "SetChargingProfile": "on_set_charging_profile",
    "ClearChargingProfile": "on_clear_charging_profile",
    "GetChargingProfiles": "on_get_charging_profiles",
    "GetCompositeSchedule": "on_get_composite_schedule",
    "GetVariables": "on_get_variables",
    "SetVariables": "on_set_variables",
    "GetBaseReport": "on_get_base_report",
    "TriggerMessage": "on_trigger_message",
    "Reset": "on_reset",
    "UnlockConnector": "on_unlock_connector",
    "ChangeAvailability": "on_change_availability",
    "SetDisplayMessage": "on_set_display_message",
    "GetDisplayMessages": "on_get_display_messages",
    "ClearDisplayMessage": "on_clear_display_message",
    "SetNetworkProfile": "on_set_network_profile",
    "ClearCache": "on_clear_cache_2x",
    "SendLocalList": "on_send_local_list_2x",
    "GetLocalListVersion": "on_get_local_list_version_2x",
    "ReserveNow": "on_reserve_now_2x",
    "CancelReservation": "on_cancel_reservation_2x",
    "DataTransfer": "on_data_transfer",
    "UpdateFirmware": "on_update_firmware",
    "GetLog": "on_get_log",
}

# The 1.6 settings the shared code reads -> device-model variables.
SETTINGS: dict[str, tuple[str, str]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
}

# Why a transaction ended -> the triggerReason of its Ended event.
STOP_TRIGGERS = {"Remote": "RemoteStop", "Local": "StopAuthorized", "EVDisconnected": "EVCommunicationLost",
                 "DeAuthorized": "Deauthorized", "ImmediateReset": "ResetCommand", "Reboot": "ResetCommand",
                 "StoppedByEV": "ChargingStateChanged", "Other": "AbnormalCondition"}
# 1.6 stop reasons the shared code uses -> 2.x ReasonEnumType
REASONS_16 = {"HardReset": "ImmediateReset", "SoftReset": "Reboot", "UnlockCommand": "Other"}
LOCAL_TOKEN_TYPE = "ISO14443"  # an RFID card at the charger
METER_TRIGGERS = {"Sample.Periodic": "MeterValuePeriodic", "Sample.Clock": "MeterValueClock", "Trigger": "Trigger"}


def v2x_meter_value(value_16: dict) -> dict:
    """A MeterValue built for 1.6 (values as strings, `unit`, `format`) -> MeterValueType of 2.x."""
    sampled = []
    for sv in value_16["sampledValue"]:
        out = {"value": float(sv["value"]), "unitOfMeasure": {"unit": sv["unit"]}}
        for key in ("context", "measurand", "phase", "location"):
            if key in sv:
                out[key] = sv[key]
        sampled.append(out)
    return {"timestamp": value_16["timestamp"], "sampledValue": sampled}


@dataclass
class _TxFlow:
    """What a connector's 2.x transaction flow remembers between ticks."""

    seq_no: int = 0
    remote_start_id: int | None = None
    token_type: str = LOCAL_TOKEN_TYPE
    auth_trigger: str = "Authorized"  # or RemoteStart: how the current authorization came
    stop_reason: str | None = None  # set when authorization is withdrawn (Remote, Local, ...)
    conditions: dict[str, bool] = field(default_factory=dict)  # start/stop point conditions at the last tick
    charging_state: str | None = None
    energy_seen: bool = False


class _V2xRoutes:
    """Routes CSMS calls to the charger (see ROUTES); answers NotImplemented/NotSupported for
    actions without a route (the library does not for 2.1)."""

    sim: SimulatedCharger201

    def __init__(self, sim: SimulatedCharger201, cp_id: str, ws: ClientConnection) -> None:
        super().__init__(  # type: ignore[call-arg]  # from ocpp ChargePoint
            cp_id, ws, response_timeout=RESPONSE_TIMEOUT_S)
        self.sim = sim
        self.raw: dict = {}

    async def _handle_call(self, msg: Any) -> Any:
        if msg.action not in self.route_map:  # type: ignore[attr-defined]  # from ocpp ChargePoint
            if msg.action in self.sim.ACTIONS:
                error: Exception = OcppNotImplemented(details={"cause": f"{msg.action} is not simulated"})
            else:
                error = NotSupportedError(
                    details={"cause": f"{msg.action} is not an OCPP {self.sim.OCPP_VERSION} action"})
            await self._send(  # type: ignore[attr-defined]  # from ocpp ChargePoint
                msg.create_call_error(error).to_json())
            return None
        self.raw = copy.deepcopy(msg.payload)
        return await super()._handle_call(msg)  # type: ignore[misc]  # from ocpp ChargePoint


# The library finds handlers by function name (ocpp.routing.routables): name them before decorating.
def _route(action: str, handler: str) -> Callable:
    def route(self: _V2xRoutes, call_unique_id: str, **_: Any) -> Any:
        return getattr(self.sim, handler)(call_unique_id, self.raw)
    route.__name__ = route.__qualname__ = f"route_{handler}"
    return on(action)(route)


def _follow_up(action: str, handler: str) -> Callable:
    def follow_up(self: _V2xRoutes, call_unique_id: str, **_: Any) -> None:
        self.sim.run_follow_up(call_unique_id)
    follow_up.__name__ = follow_up.__qualname__ = f"after_{handler}"
    return after(action)(follow_up)


for _action, _handler in ROUTES.items():
    setattr(_V2xRoutes, f"route_{_handler}", _route(_action, _handler))
    setattr(_V2xRoutes, f"after_{_handler}", _follow_up(_action, _handler))


class _Link201(FeatureGate, _V2xRoutes, v201.ChargePoint):
    pass


class _Link21(FeatureGate, _V2xRoutes, v21.ChargePoint):
    pass


class SimulatedCharger201(LocalAuthMixin2x, ReservationMixin2x, SimulatedCharger):
    OCPP_VERSION = "2.0.1"
    SUBPROTOCOL = Subprotocol("ocpp2.0.1")
    ACTIONS = frozenset(a.value for a in Action201)
    CALL: Any = v201.call
    RESULT: Any = v201.call_result
    LINK: type = _Link201
    INVALID_CSMS_CERTIFICATE = "InvalidCsmsCertificate"

    def __init__(self, clock: Clock, plant: Plant, config: ChargerSimConfig) -> None:
        super().__init__(clock, plant, config)
        self.model = DeviceModel(self.features.device_model_2x(default_variables(
            charge_point_id=config.charge_point_id, vendor=config.vendor, model=config.model,
            evses=config.connectors, phases=plant.settings.phases, rated_current_a=config.rated_current_a,
            voltage_v=plant.settings.nominal_voltage_v, sample_interval_s=config.meter_sample_interval_s,
            sampled_data=",".join(self._csl_16("MeterValuesSampledData")),
            security_profile=config.security.profile, password_check=valid_password) + auth_variables()))
        if self._password:
            self.model.put("SecurityCtrlr", "BasicAuthPassword", self._password)
        self._flows = {i: _TxFlow() for i in self._connectors}
        self._displays: dict[int, dict] = {}
        self._network_profiles: dict[int, dict] = {}
        self._boot_reason = "PowerUp"
        self._reset_when_idle = False
        self._event_ids = itertools.count(1)  # NotifyEvent eventId
        self._firmware_task: asyncio.Task | None = None  # the UpdateFirmware in progress

    def _csl_16(self, key: str) -> list[str]:
        return SimulatedCharger._csl(self, key)

    # ---- settings from the device model ---------------------------------------------------
    def _int_key(self, key: str) -> float:
        return self.model.number(*SETTINGS[key])

    def _csl(self, key: str) -> list[str]:
        return self.model.members(*SETTINGS[key])

    def _set_heartbeat(self, seconds: float) -> None:
        self._heartbeat_s = float(seconds)
        self.model.put("OCPPCommCtrlr", "HeartbeatInterval", _num(seconds))
        self._heartbeat_changed.set()

    # ---- OCPP plumbing -----------------------------------------------------------------------
    def _make_link(self, ws: ClientConnection) -> Any:
        return self.LINK(self, self.config.charge_point_id, ws)

    def _boot_payload(self) -> Any:
        c = self.config
        return self.CALL.BootNotification(
            charging_station={"model": c.model, "vendorName": c.vendor, "serialNumber": c.serial,
                              "firmwareVersion": c.firmware},
            reason=self._boot_reason)

    def _after_boot(self) -> None:
        self._boot_reason = "Unknown"  # a reconnect without a reboot; a reset sets RemoteReset

    async def _triggered_boot(self) -> None:
        self._boot_reason = "Triggered"
        await super()._triggered_boot()

    def _heartbeat_payload(self) -> Any:
        return self.CALL.Heartbeat()

    def _security_event_payload(self, kind: str, info: str) -> Any:
        return self.CALL.SecurityEventNotification(type=kind, timestamp=iso_utc(self.clock.utcnow()),
                                                   tech_info=info[:255])

    def _token(self, tag: str, token_type: str = LOCAL_TOKEN_TYPE) -> dict:
        return {"idToken": tag, "type": token_type}

    # ---- RFID ----------------------------------------------------------------------------------
    async def present_id_tag(self, tag: str) -> str:
        for conn in self._connectors.values():
            if conn.transaction and conn.transaction.id_tag == tag:
                self._deauthorize(conn, "Local")
                return "Accepted"
        conn = next((c for c in self._connectors.values() if self._can_authorize(c)), None)
        status = await self._authorization_status(tag)  # the CSMS online; the local list or cache offline
        if (status == "Accepted" and conn is not None and self._can_authorize(conn)
                and not self._reservation_blocks(conn, tag)):
            flow = self._flows[conn.connector_id]
            flow.auth_trigger, flow.token_type, flow.remote_start_id = "Authorized", LOCAL_TOKEN_TYPE, None
            self._grant(conn, tag, None)
        return status

    def _can_authorize(self, conn: _Connector) -> bool:
        """Free for a new authorization: no driver yet (a transaction may run without one when
        TxStartPoint has EVConnected)."""
        return (conn.operative and conn.authorized_tag is None
                and self._cp_state(conn) not in (CpState.E, CpState.F))

    def _grant(self, conn: _Connector, tag: str, profile: dict | None) -> None:
        self._authorize(conn, tag, profile)
        tx = conn.transaction
        if tx is not None and not tx.id_tag:  # a transaction without a driver gets one
            tx.id_tag = tag
            self._post_event(conn, "Updated", self._flows[conn.connector_id].auth_trigger, id_token=True)

    def _deauthorize(self, conn: _Connector, reason: str) -> None:
        """Authorization withdrawn (remote stop, local stop, invalid id): the transaction ends now
        if a stop point needs the authorization, else energy stops and it ends at unplug."""
        flow = self._flows[conn.connector_id]
        flow.stop_reason = reason
        conn.authorized_tag = conn.pending_profile = None
        stop_points = set(self.model.members("TxCtrlr", "TxStopPoint"))
        if conn.transaction and stop_points & {"Authorized", "PowerPathClosed"}:
            future = self._begin_stop(conn, reason)
            if future is not None:
                future.add_done_callback(_log_failure)
        elif conn.transaction:  # the new charging state goes with the event that caused it
            flow.charging_state = self._charging_state(conn, self._cp_state(conn))
            self._post_event(conn, "Updated", STOP_TRIGGERS.get(reason, "Deauthorized"))
        self._limits_dirty = True

    # ---- transactions: TxStartPoint / TxStopPoint ------------------------------------------------
    def _power_path_closed(self, conn: _Connector, cp: CpState) -> bool:
        return conn.authorized_tag is not None and cp.is_connected and conn.operative

    def _conditions(self, conn: _Connector, cp: CpState) -> dict[str, bool]:
        connected, authorized = cp.is_connected, conn.authorized_tag is not None
        return {"EVConnected": connected, "Authorized": authorized,
                "PowerPathClosed": connected and authorized and conn.operative,
                "EnergyTransfer": self.plant.contactor_closed and cp.is_charging and conn.connector_id == 1}

    def _session_transitions(self, conn: _Connector, cp: CpState, now: float) -> None:
        flow = self._flows[conn.connector_id]
        was, now_cond = flow.conditions, self._conditions(conn, cp)
        flow.conditions = now_cond
        if conn.transaction is not None:
            flow.energy_seen |= now_cond["EnergyTransfer"]
            self._check_stop_points(conn, flow, now_cond)
        elif conn.operative and cp not in (CpState.E, CpState.F):
            rose = [p for p in self.model.members("TxCtrlr", "TxStartPoint") if now_cond.get(p) and not was.get(p)]
            if rose:
                self._begin_transaction(conn, self._start_trigger(flow, was, now_cond))
        if (conn.transaction is None and conn.authorized_tag and cp is CpState.A
                and now - conn.authorized_mono > self._int_key("ConnectionTimeOut")):
            conn.authorized_tag = conn.pending_profile = None  # EVConnectionTimeOut: the driver never plugged in
        if cp is CpState.A:
            conn.finishing = False

    def _start_trigger(self, flow: _TxFlow, was: dict[str, bool], now: dict[str, bool]) -> str:
        if now["Authorized"] and not was.get("Authorized"):
            return flow.auth_trigger  # the driver's (or the CSMS's) action came last
        if now["EVConnected"] and not was.get("EVConnected"):
            return "CablePluggedIn"
        return "ChargingStateChanged"

    def _check_stop_points(self, conn: _Connector, flow: _TxFlow, cond: dict[str, bool]) -> None:
        broken = [p for p in self.model.members("TxCtrlr", "TxStopPoint")
                  if not cond.get(p, True) and (p != "EnergyTransfer" or flow.energy_seen)]
        if not cond["EVConnected"] and self.model.flag("TxCtrlr", "StopTxOnEVSideDisconnect"):
            broken.append("EVConnected")
        if not broken:
            return
        if not cond["EVConnected"]:
            reason = "EVDisconnected"
        elif broken == ["EnergyTransfer"]:
            reason = "StoppedByEV"
        else:
            reason = flow.stop_reason or "DeAuthorized"
        future = self._begin_stop(conn, reason)
        if future is not None:
            future.add_done_callback(_log_failure)

    def _begin_transaction(self, conn: _Connector, trigger: str) -> None:
        now = self.clock.utcnow()
        reading = self._read(conn)
        flow = self._flows[conn.connector_id]
        begin = meter_value(reading, timestamp=now, context="Transaction.Begin",
                            measurands=self._csl("StopTxnSampledData"),
                            resolution_wh=self.config.meter_resolution_wh)
        tx_id = str(uuid.uuid4())
        conn.transaction = _Transaction(
            transaction_id=tx_id, id_tag=conn.authorized_tag or "",
            meter_start_wh=int(round(reading.energy_wh)), started_utc=now,
            last_sample_mono=self.clock.monotonic(), begin_value=begin)
        conn.finishing = False
        flow.seq_no, flow.energy_seen, flow.stop_reason = 0, False, None
        flow.charging_state = self._charging_state(conn, self._cp_state(conn))
        profile, conn.pending_profile = conn.pending_profile, None
        if profile is not None:
            store = self._store
            assert isinstance(store, ProfileStore201)  # make_store() of a 2.x version
            ok, why = store.install(conn.connector_id, profile, active_transaction_id=tx_id,
                                    source="RequestStartTransaction")
            if not ok:
                log.warning("%s: RequestStartTransaction profile not installed: %s", self.config.charge_point_id, why)
        self._limits_dirty = True
        started = meter_value(reading, timestamp=now, context="Transaction.Begin",
                              measurands=self.model.members("SampledDataCtrlr", "TxStartedMeasurands"),
                              resolution_wh=self.config.meter_resolution_wh)
        future = self._post_event(conn, "Started", trigger, id_token=bool(conn.authorized_tag),
                                  meter=[v2x_meter_value(started)] if started["sampledValue"] else None)
        future.add_done_callback(lambda f: self._check_authorization(conn, tx_id, f))

    def _check_authorization(self, conn: _Connector, tx_id: str, answer: Any) -> None:
        """TransactionEventResponse.idTokenInfo not Accepted: stop (TxCtrlr.StopTxOnInvalidId)."""
        if answer.cancelled() or answer.exception() is not None or answer.result() is None:
            return
        info = answer.result().id_token_info
        tx = conn.transaction
        if (info and info.get("status") != "Accepted" and tx is not None and tx.transaction_id == tx_id
                and self.model.flag("TxCtrlr", "StopTxOnInvalidId")):
            self._deauthorize(conn, "DeAuthorized")

    def _begin_stop(self, conn: _Connector, reason: str) -> Any:
        tx = conn.transaction
        if tx is None:
            return None
        reason = REASONS_16.get(reason, reason)
        flow = self._flows[conn.connector_id]
        conn.authorized_tag = conn.pending_profile = None
        cp = self._cp_state(conn)
        self._drive_outputs(conn, cp)  # power path open before the final reading
        now = self.clock.utcnow()
        end = meter_value(self._read(conn), timestamp=now, context="Transaction.End",
                          measurands=self._csl("StopTxnSampledData"), resolution_wh=self.config.meter_resolution_wh)
        meter = [v2x_meter_value(tx.begin_value), v2x_meter_value(end)] if end["sampledValue"] else None
        flow.charging_state = self._charging_state(conn, cp)
        future = self._post_event(conn, "Ended", STOP_TRIGGERS.get(reason, "AbnormalCondition"), meter=meter,
                                  stopped_reason=reason, id_token=reason == "Local")
        conn.transaction = None
        conn.finishing = cp.is_connected
        F.end_transaction_profiles(self._store, conn.connector_id, self._faults)
        if conn.scheduled_operative is not None:
            conn.operative, conn.scheduled_operative = conn.scheduled_operative, None
        self._limits_dirty = True
        if self._reset_when_idle and not any(c.transaction for c in self._connectors.values()):
            self._reset_when_idle = False  # Reset OnIdle: now idle, reboot once the Ended event is through
            self._spawn(self._reset_now("ImmediateReset", [future], boot_reason="ScheduledReset"))
        return future

    def _post_event(self, conn: _Connector, event_type: str, trigger: str, *, id_token: bool = False,
                    meter: list[dict] | None = None, stopped_reason: str | None = None) -> Any:
        """Queue a TransactionEvent of the connector's transaction (durable: kept over a lost
        connection, sent with offline=true when it happened offline)."""
        tx = conn.transaction
        assert tx is not None
        flow = self._flows[conn.connector_id]
        info: dict[str, Any] = {"transactionId": tx.transaction_id}
        if flow.charging_state:
            info["chargingState"] = flow.charging_state
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        if flow.remote_start_id is not None and (event_type == "Started" or trigger == "RemoteStart"):
            info["remoteStartId"] = flow.remote_start_id  # lets the CSMS match its RequestStartTransaction
        extra: dict[str, Any] = {}
        if not self._online.is_set():
            extra["offline"] = True
        if id_token and tx.id_tag:
            extra["id_token"] = self._token(tx.id_tag, flow.token_type)
        if meter:
            extra["meter_value"] = meter
        if event_type == "Started" and (reservation_id := self._reservation_for(conn, tx.id_tag)) is not None:
            extra["reservation_id"] = reservation_id
        payload = self.CALL.TransactionEvent(
            event_type=event_type, timestamp=iso_utc(self.clock.utcnow()), trigger_reason=trigger,
            seq_no=flow.seq_no, transaction_info=info, evse={"id": conn.connector_id, "connectorId": 1}, **extra)
        flow.seq_no += 1
        return self._enqueue(payload, durable=True)

    def _charging_state(self, conn: _Connector, cp: CpState) -> str:
        if not cp.is_connected:
            return "Idle"
        if conn.authorized_tag is None or not conn.operative:
            return "EVConnected"
        if conn.applied_limit_a < MIN_AC_CURRENT_A:
            return F.reported_status("SuspendedEVSE", self._faults)
        tx = conn.transaction
        if not cp.is_charging and tx is not None:
            conn.suspended_in = tx.transaction_id
        suspended_before = tx is not None and conn.suspended_in == tx.transaction_id
        if cp.is_charging:
            return F.status_while_transaction("Charging", suspended_before, self._faults)
        return F.reported_status("SuspendedEV", self._faults)

    # ---- status ----------------------------------------------------------------------------------
    def _report_status(self, conn: _Connector, cp: CpState) -> None:
        if cp in (CpState.E, CpState.F):
            status = "Faulted"
        elif not conn.operative and conn.transaction is None:
            status = "Unavailable"
        else:
            status = ("Occupied" if cp.is_connected or conn.transaction
                      else "Reserved" if self._reserved(conn.connector_id) else "Available")
        if (status, "") != conn.last_status and self._online.is_set():
            conn.last_status = (status, "")
            now = iso_utc(self.clock.utcnow())
            self._post(self.CALL.StatusNotification(timestamp=now, connector_status=status,
                                                    evse_id=conn.connector_id, connector_id=1))
            self._post(self.CALL.NotifyEvent(generated_at=now, seq_no=0, event_data=[{
                "eventId": self._next_event_id(), "timestamp": now, "trigger": "Delta", "actualValue": status,
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": conn.connector_id, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"}}]))
        if conn.transaction is not None:
            flow = self._flows[conn.connector_id]
            state = self._charging_state(conn, cp)
            if state != flow.charging_state:
                flow.charging_state = state
                self._post_event(conn, "Updated", "ChargingStateChanged")

    def _next_event_id(self) -> int:
        return next(self._event_ids)

    # ---- meter values -------------------------------------------------------------------------------
    def _send_meter_values(self, conn: _Connector, context: str, measurands: list[str]) -> None:
        if not measurands:
            return
        value = v2x_meter_value(meter_value(
            self._read(conn), timestamp=self.clock.utcnow(), context=context, measurands=measurands,
            resolution_wh=self.config.meter_resolution_wh, offered_a=conn.applied_limit_a if conn.transaction else 0.0))
        if conn.transaction is not None and context != "Trigger":
            self._post_event(conn, "Updated", METER_TRIGGERS[context], meter=[value])
        else:
            self._post(self.CALL.MeterValues(evse_id=conn.connector_id, meter_value=[value]))

    # ---- CSMS -> station handlers (see ROUTES) ------------------------------------------------------
    def _evse(self, evse_id: int | None) -> _Connector | None:
        return self._connectors.get(evse_id) if evse_id is not None else None

    def on_request_start(self, uid: str, p: dict) -> Any:
        token, profile = p["idToken"], p.get("chargingProfile")
        if "evseId" in p:
            conn = self._evse(p["evseId"])
        else:
            conn = next((c for c in self._connectors.values() if self._can_authorize(c)), None)
        if (conn is None or not self._online.is_set()  # not while Pending (B02)
                or not (self._can_authorize(conn) or remote.accepts_start_when_inoperative(self, conn))
                or self._reservation_blocks(conn, token["idToken"])
                or (profile and profile.get("chargingProfilePurpose") != "TxProfile")):
            return self.RESULT.RequestStartTransaction(status="Rejected")

        def authorize() -> None:
            if self._can_authorize(conn):
                flow = self._flows[conn.connector_id]
                flow.auth_trigger, flow.token_type = "RemoteStart", token["type"]
                flow.remote_start_id = p["remoteStartId"]
                self._grant(conn, token["idToken"], profile)
        self._defer(uid, authorize)
        running = conn.transaction.transaction_id if conn.transaction else None
        return self.RESULT.RequestStartTransaction(status="Accepted", transaction_id=running)

    def on_request_stop(self, uid: str, p: dict) -> Any:
        conn = next((c for c in self._connectors.values()
                     if c.transaction and c.transaction.transaction_id == p["transactionId"]), None)
        if conn is None:
            return self.RESULT.RequestStopTransaction(status="Rejected")
        self._defer(uid, lambda: self._deauthorize(conn, "Remote"))
        return self.RESULT.RequestStopTransaction(status="Accepted")

    def on_set_charging_profile(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        evse_id, profile = p["evseId"], p["chargingProfile"]
        if evse_id != 0 and evse_id not in self._connectors:
            return self.RESULT.SetChargingProfile(status="Rejected",
                                                  status_info={"reasonCode": "UnknownEvse"})
        conn = self._connectors.get(evse_id)
        tx_id = conn.transaction.transaction_id if conn and conn.transaction else None
        accepted, why = self._store.install(evse_id, profile, active_transaction_id=tx_id)
        self._limits_dirty = True
        if not accepted:
            log.info("%s: SetChargingProfile rejected: %s", self.config.charge_point_id, why)
            if F.ACCEPTS_INVALID_PROFILE in self._faults:  # says yes, installs nothing
                return self.RESULT.SetChargingProfile(status="Accepted")
            return self.RESULT.SetChargingProfile(status="Rejected", status_info={
                "reasonCode": "InvalidProfile", "additionalInfo": why[:512]})
        self._count_profiles()
        return self.RESULT.SetChargingProfile(status="Accepted")

    def _count_profiles(self) -> None:
        self.model.put("SmartChargingCtrlr", "Entries", str(len(self._store.profiles)), instance="ChargingProfiles")

    def on_clear_charging_profile(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        criteria = p.get("chargingProfileCriteria") or {}
        cleared = self._store.clear(profile_id=p.get("chargingProfileId"), connector_id=criteria.get("evseId"),
                                    purpose=criteria.get("chargingProfilePurpose"),
                                    stack_level=criteria.get("stackLevel"))
        self._limits_dirty = True
        self._count_profiles()
        return self.RESULT.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    def on_get_charging_profiles(self, uid: str, p: dict) -> Any:
        criterion, evse_id = p["chargingProfile"], p.get("evseId")
        sources = criterion.get("chargingLimitSource")
        chosen = [i for i in self._store.profiles
                  if (evse_id is None or i.connector_id == evse_id)
                  and criterion.get("chargingProfilePurpose") in (None, i.profile["chargingProfilePurpose"])
                  and criterion.get("stackLevel") in (None, i.profile["stackLevel"])
                  and (not criterion.get("chargingProfileId") or i.profile["id"] in criterion["chargingProfileId"])
                  and (not sources or "CSO" in sources)]
        if not chosen:
            return self.RESULT.GetChargingProfiles(status="NoProfiles")
        by_evse: dict[int, list[dict]] = {}
        for installed in chosen:
            by_evse.setdefault(installed.connector_id, []).append(copy.deepcopy(installed.profile))

        def report() -> None:
            evses = sorted(by_evse)
            for n, evse in enumerate(evses):
                self._post(self.CALL.ReportChargingProfiles(
                    request_id=p["requestId"], charging_limit_source="CSO", evse_id=evse,
                    charging_profile=by_evse[evse], tbc=n < len(evses) - 1))
        self._defer(uid, report)
        return self.RESULT.GetChargingProfiles(status="Accepted")

    def on_get_composite_schedule(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        evse_id, duration, unit = p["evseId"], p["duration"], p.get("chargingRateUnit")
        if evse_id != 0 and evse_id not in self._connectors:
            return self.RESULT.GetCompositeSchedule(status="Rejected")
        start = self.clock.utcnow()
        running = {c.connector_id: ActiveTransaction(c.transaction.started_utc, c.transaction.transaction_id)
                   for c in self._connectors.values() if c.transaction}
        schedule = composite_schedule(
            F.misread_profiles(self._store.profiles, self._faults), evse_id, start, duration,
            default_limit_a=self.config.rated_current_a, voltage_v=self.plant.settings.nominal_voltage_v,
            phases=self.plant.settings.phases, transactions=running, connectors=self.config.connectors,
            unit=unit or "A", ocpp_version=self.OCPP_VERSION)
        return self.RESULT.GetCompositeSchedule(
            status="Accepted", schedule=F.misreport_composite(schedule.to_ocpp_composite(evse_id), self._faults))

    def on_get_variables(self, uid: str, p: dict) -> Any:
        return self.RESULT.GetVariables(get_variable_result=[self.model.get_variable(d) for d in p["getVariableData"]])

    def on_set_variables(self, uid: str, p: dict) -> Any:
        results = []
        for data in p["setVariableData"]:
            result, changed = self.model.set_variable(data)
            results.append(result)
            if changed is not None:
                self._variable_changed(uid, changed.component, changed.name, changed.value)
        return self.RESULT.SetVariables(set_variable_result=results)

    def _variable_changed(self, uid: str, component: str, name: str, value: str) -> None:
        if (component, name) == ("OCPPCommCtrlr", "HeartbeatInterval"):
            self._set_heartbeat(float(value))
        elif (component, name) == ("AlignedDataCtrlr", "Interval"):
            self._next_aligned_utc = None
        elif (component, name) == ("SecurityCtrlr", "BasicAuthPassword"):
            self._password = value
            if self.config.security.profile in (1, 2):  # reconnect with the new password (A01.FR.11)
                self._defer(uid, self._reconnect)

    def on_get_base_report(self, uid: str, p: dict) -> Any:
        if p["reportBase"] not in REPORT_BASES:
            return self.RESULT.GetBaseReport(status="NotSupported")
        items = self.model.report(p["reportBase"])
        if not items:
            return self.RESULT.GetBaseReport(status="EmptyResultSet")
        size = int(self.model.value("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]

        def report() -> None:
            for n, chunk in enumerate(chunks):
                self._post(self.CALL.NotifyReport(request_id=p["requestId"], generated_at=iso_utc(self.clock.utcnow()),
                                                  seq_no=n, report_data=chunk, tbc=n < len(chunks) - 1))
        self._defer(uid, report)
        return self.RESULT.GetBaseReport(status="Accepted")

    def on_trigger_message(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        name, evse = p["requestedMessage"], (p.get("evse") or {}).get("id")
        if evse is not None and evse not in self._connectors:
            return self.RESULT.TriggerMessage(status="Rejected")
        targets = [self._connectors[evse]] if evse else list(self._connectors.values())
        if name == "BootNotification":
            if self._online.is_set():  # F06.FR.17: its last BootNotification was Accepted
                return self.RESULT.TriggerMessage(status="Rejected")
            self._defer(uid, self._triggered_boot)
        elif name == "Heartbeat":
            self._defer(uid, lambda: self._post(self._heartbeat_payload()))
        elif name == "StatusNotification":
            def statuses() -> None:
                for conn in targets:
                    conn.last_status = None  # the next tick sends the current one
            self._defer(uid, statuses)
        elif name == "MeterValues":
            def meter_values() -> None:
                for c in targets:
                    self._send_meter_values(c, "Trigger", self._csl("MeterValuesAlignedData"))
            self._defer(uid, meter_values)
        elif name == "TransactionEvent":
            running = [c for c in targets if c.transaction]
            if not running:
                return self.RESULT.TriggerMessage(status="Rejected")
            def updated() -> None:
                for c in running:
                    self._post_event(c, "Updated", "Trigger", meter=[v2x_meter_value(meter_value(
                        self._read(c), timestamp=self.clock.utcnow(), context="Trigger", measurands=self._csl(
                            "MeterValuesSampledData"), resolution_wh=self.config.meter_resolution_wh))])
            self._defer(uid, updated)
        elif name == "LogStatusNotification":
            self._defer(uid, lambda: self._post(self.CALL.LogStatusNotification(status="Idle")))
        elif name == "FirmwareStatusNotification":
            self._defer(uid, lambda: self._post(self.CALL.FirmwareStatusNotification(status="Idle")))
        else:
            return self.RESULT.TriggerMessage(status="NotImplemented")
        remote.ignore_trigger(self, uid)
        return self.RESULT.TriggerMessage(status="Accepted")

    def on_reset(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        if p.get("evseId") is not None:
            return self.RESULT.Reset(status="Rejected")  # resetting one EVSE is not simulated
        busy = any(c.transaction for c in self._connectors.values())
        if p["type"] == "OnIdle" and busy:
            self._reset_when_idle = True
            return self.RESULT.Reset(status="Scheduled")
        if p["type"] == "Immediate" and busy and F.RESET_KEEPS_TRANSACTION in self._faults:
            self._defer(uid, self._reboot)  # reboots with the transaction still open, never ends it
        else:
            self._defer(uid, lambda: self._reset_now("ImmediateReset"))
        return self.RESULT.Reset(status="Accepted")

    async def _reset_now(self, reason: str, pending: list | None = None, boot_reason: str = "RemoteReset") -> None:
        futures = (pending or []) + [self._begin_stop(c, reason) for c in self._connectors.values() if c.transaction]
        await asyncio.gather(*[f for f in futures if f is not None], return_exceptions=True)
        for conn in self._connectors.values():
            conn.authorized_tag = conn.pending_profile = None
            conn.finishing = False
        self._boot_reason = boot_reason
        await self._reboot()

    def on_unlock_connector(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        conn = self._evse(p["evseId"])
        if conn is None or p["connectorId"] != 1:
            return self.RESULT.UnlockConnector(status="UnknownConnector")
        if conn.transaction and conn.authorized_tag and remote.unlock_respects_transaction(self):
            return self.RESULT.UnlockConnector(status="OngoingAuthorizedTransaction")  # F05.FR.02
        return self.RESULT.UnlockConnector(status="Unlocked")

    def on_change_availability(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        evse = (p.get("evse") or {}).get("id")
        if evse is not None and evse not in self._connectors:
            return self.RESULT.ChangeAvailability(status="Rejected")
        operative = p["operationalStatus"] == "Operative"
        targets = [self._connectors[evse]] if evse else list(self._connectors.values())
        busy = remote.busy_for_availability(self, [c for c in targets if c.transaction])

        def apply() -> None:
            remote.end_transactions_now(self, targets, operative)
            for conn in targets:
                if conn in busy and not operative:
                    conn.scheduled_operative = False
                else:
                    conn.operative, conn.scheduled_operative = operative, None
            if evse is None:
                self._cp_operative = operative
        self._defer(uid, apply)
        return self.RESULT.ChangeAvailability(status="Scheduled" if busy and not operative else "Accepted")

    def on_set_display_message(self, uid: str, p: dict) -> Any:
        message = p["message"]
        if message["message"]["format"] not in SUPPORTED_MESSAGE_FORMATS.split(","):
            return self.RESULT.SetDisplayMessage(status="NotSupportedMessageFormat")
        if message["priority"] not in SUPPORTED_PRIORITIES.split(","):
            return self.RESULT.SetDisplayMessage(status="NotSupportedPriority")
        running = {c.transaction.transaction_id for c in self._connectors.values() if c.transaction}
        if "transactionId" in message and message["transactionId"] not in running:
            return self.RESULT.SetDisplayMessage(status="UnknownTransaction")
        limit = int(self.model.find("DisplayMessageCtrlr", "DisplayMessages").max_limit)
        if message["id"] not in self._displays and len(self._displays) >= limit:
            return self.RESULT.SetDisplayMessage(status="Rejected")
        if F.DISPLAY_MESSAGE_NOT_STORED not in self._faults:  # the fault says yes and forgets it
            self._displays[message["id"]] = copy.deepcopy(message)
        self.model.put("DisplayMessageCtrlr", "DisplayMessages", str(len(self._displays)))
        return self.RESULT.SetDisplayMessage(status="Accepted")

    def on_get_display_messages(self, uid: str, p: dict) -> Any:
        chosen = [m for i, m in sorted(self._displays.items())
                  if (not p.get("id") or i in p["id"]) and p.get("priority") in (None, m["priority"])
                  and p.get("state") in (None, m.get("state"))]
        if not chosen:
            return self.RESULT.GetDisplayMessages(status="Unknown")
        self._defer(uid, lambda: self._post(self.CALL.NotifyDisplayMessages(
            request_id=p["requestId"], message_info=copy.deepcopy(chosen), tbc=False)))
        return self.RESULT.GetDisplayMessages(status="Accepted")

    def on_clear_display_message(self, uid: str, p: dict) -> Any:
        found = self._displays.pop(p["id"], None) is not None
        self.model.put("DisplayMessageCtrlr", "DisplayMessages", str(len(self._displays)))
        return self.RESULT.ClearDisplayMessage(status="Accepted" if found else "Unknown")

    # ---- firmware and logs (the flows are in charger_firmware.py) ---------------------------
    def on_update_firmware(self, uid: str, p: dict) -> Any:  # type: ignore[override]  # 2.x: see _route
        firmware = p["firmware"]
        request = FW.FirmwareRequest(firmware["location"], parse_iso(firmware["retrieveDateTime"]), p.get("retries", 0),
                                     p.get("retryInterval", FW.DEFAULT_RETRY_INTERVAL_S), request_id=p["requestId"])
        previous = self._firmware_task
        ongoing = previous is not None and not previous.done()

        async def run() -> None:
            if previous is not None and ongoing:  # L01.FR.24: the new update replaces the one in progress
                previous.cancel()
                await asyncio.gather(previous, return_exceptions=True)
            self._firmware_task = asyncio.current_task()
            await FW.update_firmware(self, request, self._faults, reboot_status="InstallRebooting",
                                     scheduled_status="DownloadScheduled")
        self._defer(uid, run)
        return self.RESULT.UpdateFirmware(status="AcceptedCanceled" if ongoing else "Accepted")

    def on_get_log(self, uid: str, p: dict) -> Any:
        name = FW.diagnostics_file_name(self.config.charge_point_id, self.clock)
        request = FW.LogRequest(p["log"]["remoteLocation"], name, p.get("retries", 0),
                                p.get("retryInterval", FW.DEFAULT_RETRY_INTERVAL_S), request_id=p["requestId"])
        self._defer(uid, lambda: FW.upload_log(self, request, self._faults, "UploadFailure"))
        return self.RESULT.GetLog(status="Accepted", filename=name)

    async def report_firmware_status(self, status: str, request_id: int | None) -> None:
        await self._report_transfer(self.CALL.FirmwareStatusNotification(status=status, request_id=request_id))

    async def report_log_status(self, status: str, request_id: int | None) -> None:
        await self._report_transfer(self.CALL.LogStatusNotification(status=status, request_id=request_id))

    async def reboot_for_firmware(self, version: str) -> None:
        self._boot_reason = "FirmwareUpdate"
        await super().reboot_for_firmware(version)

    async def firmware_booted(self) -> None:
        await self._report_transfer(self._security_event_payload("FirmwareUpdated", self.config.firmware))

    def on_set_network_profile(self, uid: str, p: dict) -> Any:
        """Stored for the slot; a lower security profile than the one in use is refused (B09.FR.04,
        unless `accepts_security_downgrade`). Switching to another profile is not simulated."""
        current = int(self.model.value("SecurityCtrlr", "SecurityProfile"))
        wanted = p["connectionData"]["securityProfile"]
        if wanted < current and F.ACCEPTS_SECURITY_DOWNGRADE not in self._faults:
            return self.RESULT.SetNetworkProfile(status="Rejected")
        self._network_profiles[p["configurationSlot"]] = copy.deepcopy(p["connectionData"])
        return self.RESULT.SetNetworkProfile(status="Accepted")

    def on_data_transfer(self, uid: str, p: dict) -> Any:
        return self.RESULT.DataTransfer(status="UnknownVendorId")


class SimulatedCharger21(SimulatedCharger201):
    """A 2.1 charging station without the optional 2.1 features (the profile store refuses
    their charging profiles, their messages are answered NotImplemented)."""

    OCPP_VERSION = "2.1"
    SUBPROTOCOL = Subprotocol("ocpp2.1")
    ACTIONS = frozenset(a.value for a in Action21)
    CALL = v21.call
    RESULT = v21.call_result
    LINK = _Link21


CHARGERS: dict[str, type[SimulatedCharger]] = {
    "1.6": SimulatedCharger,
    "2.0.1": SimulatedCharger201,
    "2.1": SimulatedCharger21,
}


def make_charger(clock: Clock, plant: Plant, config: ChargerSimConfig) -> SimulatedCharger:
    """The simulated charger of `config.ocpp_version`."""
    try:
        cls = CHARGERS[config.ocpp_version]
    except KeyError:
        raise ValueError(f"simulated charger: OCPP version {config.ocpp_version!r} not supported "
                         f"(known: {', '.join(CHARGERS)})") from None
    return cls(clock, plant, config)
