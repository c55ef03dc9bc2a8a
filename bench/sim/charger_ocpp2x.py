"""The simulated charger's OCPP 2.0.1 / 2.1 adapter (one class, parameterised by version: the
simulated 2.1 station is a 2.0.1 one without the optional 2.1 features, whose charging profiles
the profile store refuses and whose messages are answered NotImplemented).

Handlers are the `ocpp` library's `@on` routes with snake_case keyword arguments (nested
objects come snake_case too; `wire()` turns what is stored or echoed back to the wire form);
what must happen after the answer is on the wire is deferred on the station and run by the
`@after` hook of the same action. The 2.x side of the station:
- a device model (`device_model.py`) that GetVariables/SetVariables/GetBaseReport read and
  write, and that the station reads its settings from;
- transactions as TransactionEvent Started/Updated/Ended, started and ended by
  TxCtrlr.TxStartPoint/TxStopPoint (`charger_tx2x.py`);
- the connector status (Available, Occupied, ...) in StatusNotification and NotifyEvent, the
  charging state (Charging, SuspendedEVSE, ...) in TransactionEvent;
- display messages, GetChargingProfiles, SetNetworkProfile.
"""
from __future__ import annotations

import asyncio
import copy
import itertools
import logging
from typing import Any

from ocpp import v21, v201
from ocpp.routing import after, on
from ocpp.v21.enums import Action as Action21
from ocpp.v201.enums import Action
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc, parse_iso
from instruments.iec61851 import CpState
from bench.sim import charger_firmware as FW
from bench.sim import charger_remote as remote
from bench.sim import faults as F
from bench.sim.charger_auth import AUTH_SETTINGS_2X, auth_variables
from bench.sim.charger_features import ChargerFeatures
from bench.sim.charger_link import LINKS
from bench.sim.charger_meter import meter_value
from bench.sim.charger_ocpp16 import DEFAULT_SAMPLED_DATA, num, wire_profile
from bench.sim.charger_reservation import reserve, reserve_status
from bench.sim.charger_security import valid_password
from bench.sim.charger_signing import signing_variables
from bench.sim.device_model import (
    REPORT_BASES,
    SUPPORTED_MESSAGE_FORMATS,
    SUPPORTED_PRIORITIES,
    DeviceModel,
    default_variables,
)
from bench.sim.charger_tx2x import LOCAL_TOKEN_TYPE, SETTINGS, Transactions2x, v2x_meter_value
from bench.sim.station import Connector, Station
from bench.smart_charging import ProfileStore201

log = logging.getLogger(__name__)

VERSIONS: dict[str, tuple[Any, frozenset[str]]] = {  # version -> (its messages, its actions)
    "2.0.1": (v201, frozenset(a.value for a in Action)),
    "2.1": (v21, frozenset(a.value for a in Action21)),
}

METER_TRIGGERS = {"Sample.Periodic": "MeterValuePeriodic", "Sample.Clock": "MeterValueClock", "Trigger": "Trigger"}

wire = wire_profile  # a snake_case payload part (as handlers get it) -> its camelCase wire form


class Ocpp2xAdapter:
    """OCPP 2.0.1 or 2.1 on a `Station`."""

    invalid_csms_certificate = "InvalidCsmsCertificate"

    def __init__(self, station: Station) -> None:
        self.station = station
        config, plant = station.config, station.plant
        self.version = config.ocpp_version
        self.subprotocol = Subprotocol(f"ocpp{self.version}")
        messages, self.actions = VERSIONS[self.version]
        self.CALL: Any = messages.call
        self.RESULT: Any = messages.call_result
        self.model = DeviceModel(station.features.device_model_2x(default_variables(
            charge_point_id=config.charge_point_id, vendor=config.vendor, model=config.model,
            evses=config.connectors, phases=plant.settings.phases, rated_current_a=config.rated_current_a,
            voltage_v=plant.settings.nominal_voltage_v, sample_interval_s=config.meter_sample_interval_s,
            sampled_data=DEFAULT_SAMPLED_DATA, security_profile=config.security.profile,
            password_check=valid_password) + auth_variables()
            + (signing_variables() if "SignedMeterValues" not in station.features.missing else [])))
        if station.password:
            self.model.put("SecurityCtrlr", "BasicAuthPassword", station.password)
        self.tx = Transactions2x(station, self.model, self.CALL)
        self.displays: dict[int, dict] = {}
        self.network_profiles: dict[int, dict] = {}
        self.boot_reason = "PowerUp"
        self.reset_when_idle = False
        self.event_ids = itertools.count(1)  # NotifyEvent eventId
        self.firmware_task: asyncio.Task | None = None  # the UpdateFirmware in progress

    @property
    def store(self) -> ProfileStore201:
        store = self.station.store
        assert isinstance(store, ProfileStore201)  # make_store() of a 2.x version
        return store

    # ---- what the station asks of its adapter -------------------------------------------------
    def link(self, ws: ClientConnection) -> Any:
        st = self.station
        return LINKS[self.version](st.config.charge_point_id, ws, self, st.unsupported_actions, self.actions)

    def boot_payload(self) -> Any:
        c = self.station.config
        return self.CALL.BootNotification(
            charging_station={"model": c.model, "vendorName": c.vendor, "serialNumber": c.serial,
                              "firmwareVersion": c.firmware},
            reason=self.boot_reason)

    def booted(self) -> None:
        self.boot_reason = "Unknown"  # a reconnect without a reboot; a reset sets RemoteReset

    def heartbeat_payload(self) -> Any:
        return self.CALL.Heartbeat()

    def security_event_payload(self, kind: str, info: str) -> Any:
        return self.CALL.SecurityEventNotification(type=kind, timestamp=iso_utc(self.station.clock.utcnow()),
                                                   tech_info=info[:255])

    def setting_number(self, key: str) -> float:
        return self.model.number(*SETTINGS[key])

    def setting_members(self, key: str) -> list[str]:
        return self.model.members(*SETTINGS[key])

    def heartbeat_set(self, seconds: float) -> None:
        self.model.put("OCPPCommCtrlr", "HeartbeatInterval", num(seconds))

    def auth_flag(self, key: str) -> bool:
        return self.model.flag(*AUTH_SETTINGS_2X[key])

    async def ask_csms(self, tag: str) -> str | None:
        response = await self.station.call(self.CALL.Authorize(id_token=self.token(tag)), durable=False)
        return response.id_token_info["status"] if response else None

    def reservation_ended(self, reservation_id: int, why: str) -> None:
        self.station.post(self.CALL.ReservationStatusUpdate(reservation_id=reservation_id,
                                                            reservation_update_status=why))

    def token(self, tag: str, token_type: str = LOCAL_TOKEN_TYPE) -> dict:
        return self.tx.token(tag, token_type)

    def session_transitions(self, conn: Connector, cp: CpState, now: float) -> None:
        self.tx.session_transitions(conn, cp, now)

    def power_path_closed(self, conn: Connector, cp: CpState) -> bool:
        return self.tx.power_path_closed(conn, cp)

    def end_transaction(self, conn: Connector, reason: str) -> asyncio.Future | None:
        future = self.tx.end_transaction(conn, reason)
        if future is not None and self.reset_when_idle and not self.station.running():
            self.reset_when_idle = False  # Reset OnIdle: now idle, reboot once the Ended event is through
            self.station.spawn(self._reset_now("ImmediateReset", [future], boot_reason="ScheduledReset"))
        return future

    # ---- RFID ----------------------------------------------------------------------------------
    async def present_id_tag(self, tag: str) -> str:
        st = self.station
        for running in st.running():
            if running.transaction and running.transaction.id_tag == tag:
                self.tx.deauthorize(running, "Local")
                return "Accepted"
        conn = next((c for c in st.connectors.values() if self.tx.can_authorize(c)), None)
        status = await st.authorization_status(tag)  # the CSMS online; the local list or cache offline
        if (status == "Accepted" and conn is not None and self.tx.can_authorize(conn)
                and not st.reservations.blocks(conn.connector_id, tag)):
            flow = self.tx.flows[conn.connector_id]
            flow.auth_trigger, flow.token_type, flow.remote_start_id = "Authorized", LOCAL_TOKEN_TYPE, None
            self.tx.grant(conn, tag, None)
        return status

    # ---- status ----------------------------------------------------------------------------------
    def report_status(self, conn: Connector, cp: CpState) -> None:
        st = self.station
        if cp in (CpState.E, CpState.F):
            status = "Faulted"
        elif not conn.operative and conn.transaction is None:
            status = "Unavailable"
        else:
            status = ("Occupied" if cp.is_connected or conn.transaction
                      else "Reserved" if st.reservations.on(conn.connector_id) is not None else "Available")
        if (status, "") != conn.last_status and st.online:
            conn.last_status = (status, "")
            now = iso_utc(st.clock.utcnow())
            st.post(self.CALL.StatusNotification(timestamp=now, connector_status=status,
                                                 evse_id=conn.connector_id, connector_id=1))
            st.post(self.CALL.NotifyEvent(generated_at=now, seq_no=0, event_data=[{
                "eventId": next(self.event_ids), "timestamp": now, "trigger": "Delta", "actualValue": status,
                "eventNotificationType": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": conn.connector_id, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"}}]))
        self.tx.update_charging_state(conn, cp)

    # ---- meter values -------------------------------------------------------------------------------
    def send_meter_values(self, conn: Connector, context: str, measurands: list[str]) -> None:
        if not measurands:
            return
        st = self.station
        reading, now = st.read(conn), st.clock.utcnow()
        value = v2x_meter_value(meter_value(
            reading, timestamp=now, context=context, measurands=measurands,
            resolution_wh=st.config.meter_resolution_wh, offered_a=conn.applied_limit_a if conn.transaction else 0.0))
        if conn.transaction is not None and context != "Trigger":
            value = self.tx.signed(conn, conn.transaction, value, reading.energy_wh, now, context)
            self.tx.post_event(conn, "Updated", METER_TRIGGERS[context], meter=[value])
        else:
            st.post(self.CALL.MeterValues(evse_id=conn.connector_id, meter_value=[value]))

    # ---- firmware and logs (the flows are in charger_firmware.py) ---------------------------
    @property
    def clock(self) -> Clock:
        return self.station.clock

    @property
    def features(self) -> ChargerFeatures:
        return self.station.features

    @property
    def boot_count(self) -> int:
        return self.station.boot_count

    async def report_firmware_status(self, status: str, request_id: int | None) -> None:
        await self.station.report_transfer(self.CALL.FirmwareStatusNotification(status=status, request_id=request_id))

    async def report_log_status(self, status: str, request_id: int | None) -> None:
        await self.station.report_transfer(self.CALL.LogStatusNotification(status=status, request_id=request_id))

    async def reboot_for_firmware(self, version: str) -> None:
        self.boot_reason = "FirmwareUpdate"
        await self.station.reboot_for_firmware(version)

    async def firmware_booted(self) -> None:
        await self.station.report_transfer(self.security_event_payload("FirmwareUpdated",
                                                                       self.station.config.firmware))

    def diagnostics_text(self) -> str:
        return self.station.diagnostics_text()

    # ---- CSMS -> station: the routes ----------------------------------------------------------------
    @on(Action.request_start_transaction)
    def on_request_start_transaction(self, call_unique_id: str, id_token: dict, remote_start_id: int,
                                     evse_id: int | None = None, charging_profile: dict | None = None,
                                     **_: Any) -> Any:
        st = self.station
        profile = wire(charging_profile) if charging_profile else None
        conn: Connector | None
        if evse_id is not None:
            conn = st.connector(evse_id)
        else:
            conn = next((c for c in st.connectors.values() if self.tx.can_authorize(c)), None)
        if (conn is None or not st.online  # not while Pending (B02)
                or not (self.tx.can_authorize(conn) or remote.accepts_start_when_inoperative(st, conn))
                or st.reservations.blocks(conn.connector_id, id_token["id_token"])
                or (profile and profile.get("chargingProfilePurpose") != "TxProfile")):
            return self.RESULT.RequestStartTransaction(status="Rejected")
        chosen = conn

        def authorize() -> None:
            if self.tx.can_authorize(chosen):
                flow = self.tx.flows[chosen.connector_id]
                flow.auth_trigger, flow.token_type = "RemoteStart", id_token["type"]
                flow.remote_start_id = remote_start_id
                self.tx.grant(chosen, id_token["id_token"], profile)
        st.defer(call_unique_id, authorize)
        running = conn.transaction.transaction_id if conn.transaction else None
        return self.RESULT.RequestStartTransaction(status="Accepted", transaction_id=running)

    @on(Action.request_stop_transaction)
    def on_request_stop_transaction(self, call_unique_id: str, transaction_id: str, **_: Any) -> Any:
        st = self.station
        conn = st.with_transaction(transaction_id)
        if conn is None:
            return self.RESULT.RequestStopTransaction(status="Rejected")
        st.defer(call_unique_id, lambda: self.tx.deauthorize(conn, "Remote"))
        return self.RESULT.RequestStopTransaction(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict, **_: Any) -> Any:
        st = self.station
        if evse_id != 0 and evse_id not in st.connectors:
            return self.RESULT.SetChargingProfile(status="Rejected", status_info={"reasonCode": "UnknownEvse"})
        conn = st.connectors.get(evse_id)
        tx_id = conn.transaction.transaction_id if conn and conn.transaction else None
        accepted, why = self.store.install(evse_id, wire(charging_profile),
                                           active_transaction_id=str(tx_id) if tx_id is not None else None)
        st.limits_changed()
        if not accepted:
            log.info("%s: SetChargingProfile rejected: %s", st.config.charge_point_id, why)
            if F.ACCEPTS_INVALID_PROFILE in st.faults:  # says yes, installs nothing
                return self.RESULT.SetChargingProfile(status="Accepted")
            return self.RESULT.SetChargingProfile(status="Rejected", status_info={
                "reasonCode": "InvalidProfile", "additionalInfo": why[:512]})
        self._count_profiles()
        return self.RESULT.SetChargingProfile(status="Accepted")

    def _count_profiles(self) -> None:
        self.model.put("SmartChargingCtrlr", "Entries", str(len(self.station.store.profiles)),
                       instance="ChargingProfiles")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict | None = None, **_: Any) -> Any:
        criteria = charging_profile_criteria or {}
        cleared = self.station.store.clear(profile_id=charging_profile_id, connector_id=criteria.get("evse_id"),
                                           purpose=criteria.get("charging_profile_purpose"),
                                           stack_level=criteria.get("stack_level"))
        self.station.limits_changed()
        self._count_profiles()
        return self.RESULT.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, call_unique_id: str, request_id: int, charging_profile: dict,
                                 evse_id: int | None = None, **_: Any) -> Any:
        st = self.station
        criterion = charging_profile
        sources = criterion.get("charging_limit_source")
        chosen = [i for i in st.store.profiles
                  if (evse_id is None or i.connector_id == evse_id)
                  and criterion.get("charging_profile_purpose") in (None, i.profile["chargingProfilePurpose"])
                  and criterion.get("stack_level") in (None, i.profile["stackLevel"])
                  and (not criterion.get("charging_profile_id") or i.profile["id"] in criterion["charging_profile_id"])
                  and (not sources or "CSO" in sources)]
        if not chosen:
            return self.RESULT.GetChargingProfiles(status="NoProfiles")
        by_evse: dict[int, list[dict]] = {}
        for installed in chosen:
            by_evse.setdefault(installed.connector_id, []).append(copy.deepcopy(installed.profile))

        def report() -> None:
            evses = sorted(by_evse)
            for n, evse in enumerate(evses):
                st.post(self.CALL.ReportChargingProfiles(
                    request_id=request_id, charging_limit_source="CSO", evse_id=evse,
                    charging_profile=by_evse[evse], tbc=n < len(evses) - 1))
        st.defer(call_unique_id, report)
        return self.RESULT.GetChargingProfiles(status="Accepted")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> Any:
        st = self.station
        if evse_id != 0 and evse_id not in st.connectors:
            return self.RESULT.GetCompositeSchedule(status="Rejected")
        schedule = st.composite_schedule(evse_id, st.clock.utcnow(), duration, charging_rate_unit)
        return self.RESULT.GetCompositeSchedule(
            status="Accepted", schedule=F.misreport_composite(schedule.to_ocpp_composite(evse_id), st.faults))

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict], **_: Any) -> Any:
        return self.RESULT.GetVariables(get_variable_result=[self.model.get_variable(d)
                                                             for d in wire(get_variable_data)])

    @on(Action.set_variables)
    def on_set_variables(self, call_unique_id: str, set_variable_data: list[dict], **_: Any) -> Any:
        results = []
        for data in wire(set_variable_data):
            result, changed = self.model.set_variable(data)
            results.append(result)
            if changed is not None:
                self._variable_changed(call_unique_id, changed.component, changed.name, changed.value)
        return self.RESULT.SetVariables(set_variable_result=results)

    def _variable_changed(self, uid: str, component: str, name: str, value: str) -> None:
        st = self.station
        if (component, name) == ("OCPPCommCtrlr", "HeartbeatInterval"):
            st.set_heartbeat(float(value))
        elif (component, name) == ("AlignedDataCtrlr", "Interval"):
            st.clock_aligned_changed()
        elif (component, name) == ("SecurityCtrlr", "BasicAuthPassword"):
            st.password = value
            if st.config.security.profile in (1, 2):  # reconnect with the new password (A01.FR.11)
                st.defer(uid, st.reconnect)

    @on(Action.get_base_report)
    def on_get_base_report(self, call_unique_id: str, request_id: int, report_base: str, **_: Any) -> Any:
        st = self.station
        if report_base not in REPORT_BASES:
            return self.RESULT.GetBaseReport(status="NotSupported")
        items = self.model.report(report_base)
        if not items:
            return self.RESULT.GetBaseReport(status="EmptyResultSet")
        size = int(self.model.value("DeviceDataCtrlr", "ItemsPerMessage", "GetReport"))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]

        def report() -> None:
            for n, chunk in enumerate(chunks):
                st.post(self.CALL.NotifyReport(request_id=request_id, generated_at=iso_utc(st.clock.utcnow()),
                                               seq_no=n, report_data=chunk, tbc=n < len(chunks) - 1))
        st.defer(call_unique_id, report)
        return self.RESULT.GetBaseReport(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, call_unique_id: str, requested_message: str, evse: dict | None = None,
                           **_: Any) -> Any:
        st = self.station
        uid, name, evse_id = call_unique_id, requested_message, (evse or {}).get("id")
        if evse_id is not None and evse_id not in st.connectors:
            return self.RESULT.TriggerMessage(status="Rejected")
        targets = [st.connectors[evse_id]] if evse_id else list(st.connectors.values())
        if name == "BootNotification":
            if st.online:  # F06.FR.17: its last BootNotification was Accepted
                return self.RESULT.TriggerMessage(status="Rejected")

            async def boot() -> None:
                self.boot_reason = "Triggered"
                await st.triggered_boot()
            st.defer(uid, boot)
        elif name == "Heartbeat":
            st.defer(uid, lambda: st.post(self.heartbeat_payload()))
        elif name == "StatusNotification":
            def statuses() -> None:
                for conn in targets:
                    conn.last_status = None  # the next tick sends the current one
            st.defer(uid, statuses)
        elif name == "MeterValues":
            def meter_values() -> None:
                for c in targets:
                    self.send_meter_values(c, "Trigger", self.setting_members("MeterValuesAlignedData"))
            st.defer(uid, meter_values)
        elif name == "TransactionEvent":
            running = [c for c in targets if c.transaction]
            if not running:
                return self.RESULT.TriggerMessage(status="Rejected")

            def updated() -> None:
                for c in running:
                    self.tx.post_event(c, "Updated", "Trigger", meter=[v2x_meter_value(meter_value(
                        st.read(c), timestamp=st.clock.utcnow(), context="Trigger",
                        measurands=self.setting_members("MeterValuesSampledData"),
                        resolution_wh=st.config.meter_resolution_wh))])
            st.defer(uid, updated)
        elif name == "LogStatusNotification":
            st.defer(uid, lambda: st.post(self.CALL.LogStatusNotification(status="Idle")))
        elif name == "FirmwareStatusNotification":
            st.defer(uid, lambda: st.post(self.CALL.FirmwareStatusNotification(status="Idle")))
        else:
            return self.RESULT.TriggerMessage(status="NotImplemented")
        remote.ignore_trigger(st, uid)
        return self.RESULT.TriggerMessage(status="Accepted")

    @on(Action.reset)
    def on_reset(self, call_unique_id: str, type: str, evse_id: int | None = None, **_: Any) -> Any:
        st = self.station
        if evse_id is not None:
            return self.RESULT.Reset(status="Rejected")  # resetting one EVSE is not simulated
        busy = bool(st.running())
        if type == "OnIdle" and busy:
            self.reset_when_idle = True
            return self.RESULT.Reset(status="Scheduled")
        if type == "Immediate" and busy and F.RESET_KEEPS_TRANSACTION in st.faults:
            st.defer(call_unique_id, st.reboot)  # reboots with the transaction still open, never ends it
        else:
            st.defer(call_unique_id, lambda: self._reset_now("ImmediateReset"))
        return self.RESULT.Reset(status="Accepted")

    async def _reset_now(self, reason: str, pending: list | None = None, boot_reason: str = "RemoteReset") -> None:
        st = self.station
        futures = (pending or []) + [st.end_transaction(c, reason) for c in st.running()]
        await asyncio.gather(*[f for f in futures if f is not None], return_exceptions=True)
        st.clear_sessions()
        self.boot_reason = boot_reason
        await st.reboot()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        st = self.station
        conn = st.connector(evse_id)
        if conn is None or connector_id != 1:
            return self.RESULT.UnlockConnector(status="UnknownConnector")
        if conn.transaction and conn.authorized_tag and remote.unlock_respects_transaction(st):
            return self.RESULT.UnlockConnector(status="OngoingAuthorizedTransaction")  # F05.FR.02
        return self.RESULT.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, call_unique_id: str, operational_status: str, evse: dict | None = None,
                               **_: Any) -> Any:
        st = self.station
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in st.connectors:
            return self.RESULT.ChangeAvailability(status="Rejected")
        operative = operational_status == "Operative"
        targets = [st.connectors[evse_id]] if evse_id else list(st.connectors.values())
        busy = remote.busy_for_availability(st, [c for c in targets if c.transaction])

        def apply() -> None:
            remote.apply_availability(st, targets, busy, operative)
            if evse_id is None:
                st.station_operative = operative
        st.defer(call_unique_id, apply)
        return self.RESULT.ChangeAvailability(status="Scheduled" if busy and not operative else "Accepted")

    @on(Action.set_display_message)
    def on_set_display_message(self, message: dict, **_: Any) -> Any:
        st = self.station
        message = wire(message)
        if message["message"]["format"] not in SUPPORTED_MESSAGE_FORMATS.split(","):
            return self.RESULT.SetDisplayMessage(status="NotSupportedMessageFormat")
        if message["priority"] not in SUPPORTED_PRIORITIES.split(","):
            return self.RESULT.SetDisplayMessage(status="NotSupportedPriority")
        running = {c.transaction.transaction_id for c in st.running() if c.transaction}
        if "transactionId" in message and message["transactionId"] not in running:
            return self.RESULT.SetDisplayMessage(status="UnknownTransaction")
        variable = self.model.find("DisplayMessageCtrlr", "DisplayMessages")
        assert variable is not None
        limit = int(variable.max_limit or 0)
        if message["id"] not in self.displays and len(self.displays) >= limit:
            return self.RESULT.SetDisplayMessage(status="Rejected")
        if F.DISPLAY_MESSAGE_NOT_STORED not in st.faults:  # the fault says yes and forgets it
            self.displays[message["id"]] = copy.deepcopy(message)
        self.model.put("DisplayMessageCtrlr", "DisplayMessages", str(len(self.displays)))
        return self.RESULT.SetDisplayMessage(status="Accepted")

    @on(Action.get_display_messages)
    def on_get_display_messages(self, call_unique_id: str, request_id: int, id: list[int] | None = None,
                                priority: str | None = None, state: str | None = None, **_: Any) -> Any:
        st = self.station
        chosen = [m for i, m in sorted(self.displays.items())
                  if (not id or i in id) and priority in (None, m["priority"]) and state in (None, m.get("state"))]
        if not chosen:
            return self.RESULT.GetDisplayMessages(status="Unknown")
        st.defer(call_unique_id, lambda: st.post(self.CALL.NotifyDisplayMessages(
            request_id=request_id, message_info=copy.deepcopy(chosen), tbc=False)))
        return self.RESULT.GetDisplayMessages(status="Accepted")

    @on(Action.clear_display_message)
    def on_clear_display_message(self, id: int, **_: Any) -> Any:
        found = self.displays.pop(id, None) is not None
        self.model.put("DisplayMessageCtrlr", "DisplayMessages", str(len(self.displays)))
        return self.RESULT.ClearDisplayMessage(status="Accepted" if found else "Unknown")

    @on(Action.update_firmware)
    def on_update_firmware(self, call_unique_id: str, request_id: int, firmware: dict, retries: int = 0,
                           retry_interval: float = FW.DEFAULT_RETRY_INTERVAL_S, **_: Any) -> Any:
        st = self.station
        request = FW.FirmwareRequest(firmware["location"], parse_iso(firmware["retrieve_date_time"]), retries,
                                     retry_interval, request_id=request_id)
        previous = self.firmware_task
        ongoing = previous is not None and not previous.done()

        async def run() -> None:
            if previous is not None and ongoing:  # L01.FR.24: the new update replaces the one in progress
                previous.cancel()
                await asyncio.gather(previous, return_exceptions=True)
            self.firmware_task = asyncio.current_task()
            await FW.update_firmware(self, request, st.faults, reboot_status="InstallRebooting",
                                     scheduled_status="DownloadScheduled")
        st.defer(call_unique_id, run)
        return self.RESULT.UpdateFirmware(status="AcceptedCanceled" if ongoing else "Accepted")

    @on(Action.get_log)
    def on_get_log(self, call_unique_id: str, request_id: int, log: dict, retries: int = 0,
                   retry_interval: float = FW.DEFAULT_RETRY_INTERVAL_S, **_: Any) -> Any:
        st = self.station
        name = FW.diagnostics_file_name(st.config.charge_point_id, st.clock)
        request = FW.LogRequest(log["remote_location"], name, retries, retry_interval, request_id=request_id)
        st.defer(call_unique_id, lambda: FW.upload_log(self, request, st.faults, "UploadFailure"))
        return self.RESULT.GetLog(status="Accepted", filename=name)

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict, **_: Any) -> Any:
        """Stored for the slot; a lower security profile than the one in use is refused (B09.FR.04,
        unless `accepts_security_downgrade`). Switching to another profile is not simulated."""
        current = int(self.model.value("SecurityCtrlr", "SecurityProfile"))
        if connection_data["security_profile"] < current and F.ACCEPTS_SECURITY_DOWNGRADE not in self.station.faults:
            return self.RESULT.SetNetworkProfile(status="Rejected")
        self.network_profiles[configuration_slot] = wire(connection_data)
        return self.RESULT.SetNetworkProfile(status="Accepted")

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        if not self.auth_flag("AuthorizationCacheEnabled"):
            return self.RESULT.ClearCache(status="Rejected")
        self.station.local_auth.cache.clear()
        return self.RESULT.ClearCache(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict] | None = None, **_: Any) -> Any:
        local_auth = self.station.local_auth
        entries = [(e["id_token"]["id_token"], (e.get("id_token_info") or {}).get("status"))
                   for e in local_authorization_list or []]
        status = local_auth.update_list(version_number, update_type, entries)
        self.model.put("LocalAuthListCtrlr", "Entries", str(len(local_auth.entries)))
        return self.RESULT.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return self.RESULT.GetLocalListVersion(version_number=self.station.local_auth.list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, id: int, expiry_date_time: str, id_token: dict, evse_id: int | None = None,
                       group_id_token: dict | None = None, **_: Any) -> Any:
        st = self.station
        if evse_id is not None:
            conn = st.connector(evse_id)
            if conn is None:
                return self.RESULT.ReserveNow(status="Rejected", status_info={"reasonCode": "UnknownEvse"})
        else:  # not EVSE specific: the first EVSE that can take it
            free = [c for c in st.connectors.values() if reserve_status(st, c, id) == "Accepted"]
            if not free:
                return self.RESULT.ReserveNow(status="Occupied")
            conn = free[0]
        group = (group_id_token or {}).get("id_token")
        return self.RESULT.ReserveNow(
            status=reserve(st, conn, id, id_token["id_token"], parse_iso(expiry_date_time), group))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        found = self.station.reservations.cancel(reservation_id)
        return self.RESULT.CancelReservation(status="Accepted" if found else "Rejected")

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return self.RESULT.DataTransfer(status="UnknownVendorId")

    # After the answer is on the wire: run what the handler decided.
    @after(Action.request_start_transaction)
    def after_request_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.request_stop_transaction)
    def after_request_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.get_charging_profiles)
    def after_get_charging_profiles(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.set_variables)
    def after_set_variables(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.get_base_report)
    def after_get_base_report(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.get_display_messages)
    def after_get_display_messages(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.get_log)
    def after_get_log(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)
