"""The simulated charger's OCPP 1.6J adapter: the CSMS's calls in, the station's messages out.

Handlers are the `ocpp` library's `@on` routes with snake_case keyword arguments; what must
happen after the answer is on the wire is deferred on the station and run by the `@after`
hook of the same action. A 1.6 session starts with StartTransaction once an authorized EV is
plugged in and ends with StopTransaction; the connector reports ChargePointStatus.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc, parse_iso
from instruments.iec61851 import MIN_AC_CURRENT_A, CpState
from bench.sim import charger_firmware as FW
from bench.sim import charger_remote as remote
from bench.sim import faults as F
from bench.sim.charger_auth import AUTH_KEYS_16
from bench.sim.charger_features import ChargerFeatures
from bench.sim.charger_link import Link16
from bench.sim.charger_meter import SUPPORTED_MEASURANDS, meter_value
from bench.sim.charger_reservation import reserve
from bench.sim.charger_security import valid_password
from bench.sim.charger_signing import CONTEXTS_16, Signing
from bench.sim.station import DEFAULT_HEARTBEAT_S, ChargerSimConfig, Connector, Station, Transaction
from bench.smart_charging import ProfileStore16

log = logging.getLogger(__name__)
V16_ACTIONS = frozenset(a.value for a in Action)  # what a 1.6 charger recognizes (OCPP-J 4.2.3)

OCPP16 = Subprotocol("ocpp1.6")
DEFAULT_SAMPLED_DATA = "Energy.Active.Import.Register,Current.Import,Power.Active.Import,Voltage"


# ---- configuration keys (GetConfiguration / ChangeConfiguration) -----------------------

@dataclass
class ConfigKey:
    value: str
    readonly: bool = False
    kind: str = "str"   # int | bool | measurands | security_profile | str


def configuration_keys(cfg: ChargerSimConfig) -> dict[str, ConfigKey]:
    return {
        "HeartbeatInterval": ConfigKey(str(DEFAULT_HEARTBEAT_S), kind="int"),
        "MeterValueSampleInterval": ConfigKey(num(cfg.meter_sample_interval_s), kind="int"),
        "MeterValuesSampledData": ConfigKey(DEFAULT_SAMPLED_DATA, kind="measurands"),
        "ClockAlignedDataInterval": ConfigKey("0", kind="int"),
        "MeterValuesAlignedData": ConfigKey("Energy.Active.Import.Register", kind="measurands"),
        "StopTxnSampledData": ConfigKey("Energy.Active.Import.Register", kind="measurands"),
        "ConnectionTimeOut": ConfigKey("60", kind="int"),
        "AuthorizeRemoteTxRequests": ConfigKey("false", readonly=True, kind="bool"),
        "StopTransactionOnEVSideDisconnect": ConfigKey("true", readonly=True, kind="bool"),
        "NumberOfConnectors": ConfigKey(str(cfg.connectors), readonly=True, kind="int"),
        "SupportedFeatureProfiles": ConfigKey("Core,FirmwareManagement,SmartCharging,RemoteTrigger,"
                                              "LocalAuthListManagement,Reservation", readonly=True),
        "MeterValuesSampledDataMaxLength": ConfigKey(str(len(SUPPORTED_MEASURANDS)), readonly=True, kind="int"),
        "ChargeProfileMaxStackLevel": ConfigKey("10", readonly=True, kind="int"),
        "ChargingScheduleAllowedChargingRateUnit": ConfigKey("Current,Power", readonly=True),
        "ChargingScheduleMaxPeriods": ConfigKey("24", readonly=True, kind="int"),
        "MaxChargingProfilesInstalled": ConfigKey("10", readonly=True, kind="int"),
        "SecurityProfile": ConfigKey(str(cfg.security.profile), kind="security_profile"),
        **{key: ConfigKey(value, readonly, kind) for key, (value, readonly, kind) in AUTH_KEYS_16.items()},
    }


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _valid_value(kind: str, value: str) -> bool:
    if kind == "int":
        try:
            return float(value) >= 0 and float(value).is_integer()
        except ValueError:
            return False
    if kind == "bool":
        return value.lower() in ("true", "false")
    if kind == "measurands":
        items = [m.strip() for m in value.split(",") if m.strip()]
        return all(m in SUPPORTED_MEASURANDS for m in items)
    if kind == "security_profile":
        return value in ("0", "1", "2", "3")
    return True


# ---- pure helpers ----------------------------------------------------------------------

def derive_status(
    *,
    cp: CpState,
    operative: bool,
    has_transaction: bool,
    starting: bool,
    authorized: bool,
    finishing: bool,
    offered_a: float,
    reserved: bool = False,
) -> str:
    """OCPP 1.6 ChargePointStatus of a connector from its physical and session state."""
    if cp in (CpState.E, CpState.F):
        return "Faulted"
    if not operative and not has_transaction:
        return "Unavailable"
    if has_transaction:
        if cp is CpState.A:
            return "Finishing"      # unplugged; the stop is on its way
        if offered_a < MIN_AC_CURRENT_A:
            return "SuspendedEVSE"
        return "Charging" if cp.is_charging else "SuspendedEV"
    if cp is CpState.A:
        return "Preparing" if authorized or starting else "Reserved" if reserved else "Available"
    if finishing:
        return "Finishing"
    return "Preparing"


def wire_profile(snake_case_value: Any) -> Any:
    """A payload part as the ocpp library hands it to a handler -> its wire form (camelCase keys).

    The library turns keys to snake_case and, for 1.6 SetChargingProfile and
    RemoteStartTransaction, parses numbers as Decimal (for its multipleOf check)."""
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(snake_to_camel_case(snake_case_value))


# ---- the adapter -----------------------------------------------------------------------

class Ocpp16Adapter:
    """OCPP 1.6J on a `Station`."""

    version = "1.6"
    subprotocol = OCPP16
    invalid_csms_certificate = "InvalidCentralSystemCertificate"  # security whitepaper event

    def __init__(self, station: Station) -> None:
        self.station = station
        self.keys = station.features.configuration_keys_16(configuration_keys(station.config))
        cfg = station.config
        self.signing = Signing(cfg.serial, cfg.connectors, cfg.faults)
        if "SignedMeterValues" not in station.features.missing:  # a signing meter
            self.keys.update({key: ConfigKey("") for key in CONTEXTS_16})  # empty: unsigned (OCMF best practice)
            self.keys.update({key: ConfigKey(value, readonly=True)
                              for key, value in self.signing.public_keys_16().items()})

    @property
    def store(self) -> ProfileStore16:
        store = self.station.store
        assert isinstance(store, ProfileStore16)  # make_store("1.6")
        return store

    # ---- what the station asks of its adapter -------------------------------------------------
    def link(self, ws: ClientConnection) -> Any:
        st = self.station
        return Link16(st.config.charge_point_id, ws, self, st.unsupported_actions, V16_ACTIONS)

    def boot_payload(self) -> Any:
        c = self.station.config
        return call.BootNotification(
            charge_point_model=c.model, charge_point_vendor=c.vendor, charge_point_serial_number=c.serial,
            firmware_version=c.firmware, meter_type="virtual", meter_serial_number=f"{c.serial}-M",
        )

    def booted(self) -> None:
        """Accepted by the CSMS: 1.6 reports connector 0 (the others follow from the control loop)."""
        self.station.post(self.status_payload(0, "Available" if self.station.station_operative else "Unavailable"))

    def heartbeat_payload(self) -> Any:
        return call.Heartbeat()

    def security_event_payload(self, kind: str, info: str) -> Any:
        return call.SecurityEventNotification(type=kind, timestamp=iso_utc(self.station.clock.utcnow()),
                                              tech_info=info[:255])

    def setting_number(self, key: str) -> float:
        return float(self.keys[key].value)

    def setting_members(self, key: str) -> list[str]:
        return [m.strip() for m in self.keys[key].value.split(",") if m.strip()]

    def heartbeat_set(self, seconds: float) -> None:
        self.keys["HeartbeatInterval"].value = num(seconds)

    def auth_flag(self, key: str) -> bool:
        entry = self.keys.get(key)  # absent on a charger without the feature (charger_features.py)
        return entry is not None and str(entry.value).lower() == "true"

    async def ask_csms(self, tag: str) -> str | None:
        response = await self.station.call(call.Authorize(id_tag=tag), durable=False)
        return response.id_tag_info["status"] if response else None

    def reservation_ended(self, reservation_id: int, why: str) -> None:
        """1.6 only reports the connector status (the control loop does)."""

    async def present_id_tag(self, tag: str) -> str:
        st = self.station
        for running in st.running():
            if running.transaction and running.transaction.id_tag == tag:
                await st.stop_transaction(running, "Local")
                return "Accepted"
        conn = next((c for c in st.connectors.values() if st.can_take_new_session(c)), None)
        status = await st.authorization_status(tag)
        if (status == "Accepted" and conn is not None and st.can_take_new_session(conn)
                and not st.reservations.blocks(conn.connector_id, tag)):
            st.authorize(conn, tag)
        return status

    def session_transitions(self, conn: Connector, cp: CpState, now: float) -> None:
        st = self.station
        if conn.transaction and cp is CpState.A:   # StopTransactionOnEVSideDisconnect
            st.end_transaction_logged(conn, "EVDisconnected")
        elif conn.transaction is None and not conn.starting and conn.authorized_tag:
            if cp.is_connected and conn.operative:
                st.spawn(self._start_transaction(conn))
                conn.starting = True    # set now: the task runs after this tick
            elif st.connection_timed_out(conn, now):
                conn.end_session()
        if cp is CpState.A:
            conn.finishing = False

    def power_path_closed(self, conn: Connector, cp: CpState) -> bool:
        """PWM on (and the contactor free to close): 1.6 offers current during a transaction."""
        return conn.transaction is not None and cp.is_connected

    def report_status(self, conn: Connector, cp: CpState) -> None:
        st = self.station
        status = derive_status(
            cp=cp, operative=conn.operative, has_transaction=conn.transaction is not None,
            starting=conn.starting, authorized=conn.authorized_tag is not None, finishing=conn.finishing,
            offered_a=conn.applied_limit_a, reserved=st.reservations.on(conn.connector_id) is not None,
        )
        tx = conn.transaction
        if tx is not None and status == "SuspendedEV":
            conn.suspended_in = tx.transaction_id
        if tx is not None:
            status = F.status_while_transaction(status, conn.suspended_in == tx.transaction_id, st.faults)
        status = F.reported_status(status, st.faults)
        error = "OtherError" if status == "Faulted" else "NoError"
        if (status, error) != conn.last_status and st.online:
            conn.last_status = (status, error)
            info = f"control pilot state {cp.value}" if status == "Faulted" else None
            st.post(self.status_payload(conn.connector_id, status, error, info))

    def status_payload(self, connector_id: int, status: str, error: str = "NoError",
                       info: str | None = None) -> call.StatusNotification:
        return call.StatusNotification(connector_id=connector_id, error_code=error, status=status,
                                       timestamp=iso_utc(self.station.clock.utcnow()), info=info)

    def station_status(self, operative: bool) -> None:
        """The charger as a whole (connector 0) is now (in)operative."""
        self.station.post(self.status_payload(0, "Available" if operative else "Unavailable"))

    def send_meter_values(self, conn: Connector, context: str, measurands: list[str]) -> None:
        if not measurands:
            return
        st = self.station
        tx = conn.transaction
        reading, now = st.read(conn), st.clock.utcnow()
        value = meter_value(reading, timestamp=now, context=context, measurands=measurands,
                            resolution_wh=st.config.meter_resolution_wh,
                            offered_a=conn.applied_limit_a if tx else 0.0)
        if tx is not None:
            value = self._signed(value, conn, reading.energy_wh, now, context, tx.id_tag)
        # Transaction data is replayed after a lost connection; the rest is not.
        st.post(call.MeterValues(connector_id=conn.connector_id, meter_value=[value],
                                 transaction_id=tx.transaction_id if tx else None), durable=tx is not None)

    def _signed(self, value: dict, conn: Connector, energy_wh: float, now: datetime, context: str,
                id_tag: str) -> dict:
        """The MeterValue with its signed record when the signature contexts (OCMF best practice
        keys) name `context`."""
        key = CONTEXTS_16[1] if context in ("Transaction.Begin", "Transaction.End") else CONTEXTS_16[0]
        if key not in self.keys:  # no signing meter
            return value
        contexts = {c.strip() for c in self.keys[key].value.split(",")}
        if context not in contexts or not value["sampledValue"]:
            return value
        record = self.signing.record(conn.connector_id, energy_wh=energy_wh, time=now, context=context,
                                     resolution_wh=self.station.config.meter_resolution_wh, id_tag=id_tag)
        return self.signing.add_16(value, record, context)

    # ---- sessions ------------------------------------------------------------------------------
    async def _start_transaction(self, conn: Connector) -> None:
        st = self.station
        tag = conn.authorized_tag
        assert tag is not None
        conn.starting = True
        now = st.clock.utcnow()
        reading = st.read(conn)
        meter_start = int(round(reading.energy_wh))
        begin = self._signed(meter_value(reading, timestamp=now, context="Transaction.Begin",
                                         measurands=self.setting_members("StopTxnSampledData"),
                                         resolution_wh=st.config.meter_resolution_wh),
                             conn, reading.energy_wh, now, "Transaction.Begin", tag)
        try:
            res = await st.call(call.StartTransaction(
                connector_id=conn.connector_id, id_tag=tag, meter_start=meter_start, timestamp=iso_utc(now),
                reservation_id=st.reservations.take(conn.connector_id, tag),
            ), durable=True)
        except Exception:
            conn.starting = False
            conn.end_session()
            raise
        conn.transaction = Transaction(
            transaction_id=res.transaction_id, id_tag=tag, meter_start_wh=meter_start, started_utc=now,
            last_sample_mono=st.clock.monotonic(), begin_value=begin,
        )
        conn.starting, conn.finishing = False, False
        profile, conn.pending_profile = conn.pending_profile, None
        if res.id_tag_info.get("status") != "Accepted":
            await st.stop_transaction(conn, "DeAuthorized")
            return
        if profile is not None:
            ok, reason = self.store.install(conn.connector_id, profile, active_transaction_id=res.transaction_id)
            if not ok:
                log.warning("%s: RemoteStart profile not installed: %s", st.config.charge_point_id, reason)
        st.limits_changed()

    def end_transaction(self, conn: Connector, reason: str) -> asyncio.Future | None:
        """End the session now and queue its StopTransaction (the future of its .conf).

        Synchronous on purpose: no tick sees a half-stopped session, and the
        StopTransaction is queued before any status change it causes."""
        st = self.station
        tx = conn.transaction
        if tx is None:
            return None
        conn.transaction = None
        st.drive_outputs(conn, st.cp_state(conn))     # power path open before the final reading
        now = st.clock.utcnow()
        reading = st.read(conn)
        end = self._signed(meter_value(reading, timestamp=now, context="Transaction.End",
                                       measurands=self.setting_members("StopTxnSampledData"),
                                       resolution_wh=st.config.meter_resolution_wh),
                           conn, reading.energy_wh, now, "Transaction.End", tx.id_tag)
        conn.end_session()
        conn.finishing = st.cp_state(conn).is_connected
        st.transaction_ended(conn)
        data = [tx.begin_value, end] if self.setting_members("StopTxnSampledData") else None
        future = st.enqueue(call.StopTransaction(
            meter_stop=int(round(reading.energy_wh)), timestamp=iso_utc(now),
            transaction_id=tx.transaction_id, reason=reason, id_tag=tx.id_tag, transaction_data=data,
        ), durable=True)
        remote.station_after_transaction(st, self.station_status)
        return future

    # ---- firmware and diagnostics (the flows are in charger_firmware.py) -----------------------
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
        await self.station.report_transfer(call.FirmwareStatusNotification(status=status))

    async def report_log_status(self, status: str, request_id: int | None) -> None:
        await self.station.report_transfer(call.DiagnosticsStatusNotification(status=status))

    async def reboot_for_firmware(self, version: str) -> None:
        await self.station.reboot_for_firmware(version)

    async def firmware_booted(self) -> None:
        """Back with the new firmware (1.6 reports nothing more)."""

    def diagnostics_text(self) -> str:
        return self.station.diagnostics_text()

    # ---- CSMS -> charger: the routes ------------------------------------------------------------
    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(self, call_unique_id: str, id_tag: str, connector_id: int | None = None,
                                    charging_profile: dict | None = None, **_: Any) -> Any:
        st = self.station
        conn: Connector | None
        if connector_id is None:
            conn = next((c for c in st.connectors.values() if st.can_take_new_session(c)), None)
        else:
            conn = st.connectors.get(connector_id)
        profile = wire_profile(charging_profile) if charging_profile else None
        if (conn is None or not st.online
                or not (st.can_take_new_session(conn) or remote.accepts_start_when_inoperative(st, conn))
                or st.reservations.blocks(conn.connector_id, id_tag)
                or (profile and profile.get("chargingProfilePurpose") != "TxProfile")):
            return call_result.RemoteStartTransaction(status="Rejected")
        chosen = conn

        def authorize() -> None:
            if st.can_take_new_session(chosen):
                st.authorize(chosen, id_tag, profile)
        st.defer(call_unique_id, authorize)
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(self, call_unique_id: str, transaction_id: int, **_: Any) -> Any:
        st = self.station
        conn = st.with_transaction(transaction_id)
        if conn is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        st.defer(call_unique_id, lambda: st.stop_transaction(conn, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_: Any) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.SetChargingProfile(status="Rejected")
        conn = st.connectors.get(connector_id)
        tx_id = conn.transaction.transaction_id if conn and conn.transaction else None
        accepted, reason = self.store.install(connector_id, wire_profile(cs_charging_profiles),
                                              active_transaction_id=int(tx_id) if tx_id is not None else None)
        if not accepted:
            log.info("%s: SetChargingProfile rejected: %s", st.config.charge_point_id, reason)
            if F.ACCEPTS_INVALID_PROFILE in st.faults:  # says yes, installs nothing
                return call_result.SetChargingProfile(status="Accepted")
        st.limits_changed()
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None, **_: Any) -> Any:
        cleared = self.station.store.clear(profile_id=id, connector_id=connector_id,
                                           purpose=charging_profile_purpose, stack_level=stack_level)
        self.station.limits_changed()
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None, **_: Any) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        start = st.clock.utcnow()
        schedule = st.composite_schedule(connector_id, start, duration, charging_rate_unit)
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=iso_utc(start),
            charging_schedule=F.misreport_composite(schedule.to_ocpp(), st.faults),
        )

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        names = key or list(self.keys)
        known = [{"key": k, "readonly": self.keys[k].readonly, "value": self.keys[k].value}
                 for k in names if k in self.keys]
        unknown = [k for k in names if k not in self.keys]
        return call_result.GetConfiguration(configuration_key=known or None, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, call_unique_id: str, key: str, value: str, **_: Any) -> Any:
        st = self.station
        if key == "AuthorizationKey":   # write-only, never reported (security whitepaper A01)
            return call_result.ChangeConfiguration(status=self._change_password(call_unique_id, value))
        entry = self.keys.get(key)
        if entry is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        if entry.readonly or not _valid_value(entry.kind, value):
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "SecurityProfile":
            return call_result.ChangeConfiguration(status=self._raise_security_profile(int(value)))
        entry.value = value
        if key == "HeartbeatInterval":
            st.set_heartbeat(float(value))
        if key == "ClockAlignedDataInterval":
            st.clock_aligned_changed()
        return call_result.ChangeConfiguration(status="Accepted")

    def _change_password(self, call_unique_id: str, password: str) -> str:
        """A new Basic auth password: stored, then the charger reconnects with it (A01)."""
        st = self.station
        if not valid_password(password):
            return "Rejected"
        st.password = password
        if st.config.security.profile in (1, 2):
            st.defer(call_unique_id, st.reconnect)
        return "Accepted"

    def _raise_security_profile(self, profile: int) -> str:
        """Never to a lower profile (security whitepaper A05; `accepts_security_downgrade` breaks
        this). A higher one is refused too: switching the live connection is not simulated."""
        current = int(self.keys["SecurityProfile"].value)
        if profile == current or (profile < current and F.ACCEPTS_SECURITY_DOWNGRADE in self.station.faults):
            self.keys["SecurityProfile"].value = str(profile)
            return "Accepted"
        return "Rejected"   # lower: never; higher: switching the live connection is not simulated

    @on(Action.trigger_message)
    def on_trigger_message(self, call_unique_id: str, requested_message: str,
                           connector_id: int | None = None, **_: Any) -> Any:
        st = self.station
        if connector_id is not None and connector_id != 0 and connector_id not in st.connectors:
            return call_result.TriggerMessage(status="Rejected")
        targets = [st.connectors[connector_id]] if connector_id else list(st.connectors.values())
        if requested_message == "BootNotification":
            st.defer(call_unique_id, st.triggered_boot)
        elif requested_message == "Heartbeat":
            st.defer(call_unique_id, lambda: st.post(call.Heartbeat()))
        elif requested_message == "StatusNotification":
            def statuses() -> None:
                if connector_id is None or connector_id == 0:
                    self.station_status(st.station_operative)
                if connector_id != 0:
                    for conn in targets:
                        conn.last_status = None   # the next tick sends the current one
            st.defer(call_unique_id, statuses)
        elif requested_message == "MeterValues":
            def meter_values() -> None:
                for conn in targets:
                    self.send_meter_values(conn, "Trigger", self.setting_members("MeterValuesSampledData"))
            st.defer(call_unique_id, meter_values)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        remote.ignore_trigger(st, call_unique_id)
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.reset)
    def on_reset(self, call_unique_id: str, type: str, **_: Any) -> Any:
        self.station.defer(call_unique_id, lambda: self._reset(type))
        return call_result.Reset(status="Accepted")

    async def _reset(self, kind: str) -> None:
        st = self.station
        reason = "HardReset" if kind == "Hard" else "SoftReset"
        if kind == "Hard" and F.RESET_KEEPS_TRANSACTION in st.faults:
            await st.reboot()   # reboots with the transaction still open, never stops it
            return
        await asyncio.gather(*(st.stop_transaction(c, reason) for c in st.running()))
        st.clear_sessions()
        await st.reboot()   # the connection loop reconnects and boots again

    @on(Action.unlock_connector)
    def on_unlock_connector(self, call_unique_id: str, connector_id: int, **_: Any) -> Any:
        st = self.station
        conn = st.connectors.get(connector_id)
        if conn is None:
            return call_result.UnlockConnector(status="NotSupported")
        if conn.transaction and remote.unlock_respects_transaction(st):  # 5.18: end the transaction first
            st.defer(call_unique_id, lambda: st.stop_transaction(conn, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.change_availability)
    def on_change_availability(self, call_unique_id: str, connector_id: int, type: str, **_: Any) -> Any:
        st = self.station
        if connector_id != 0 and connector_id not in st.connectors:
            return call_result.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        targets = list(st.connectors.values()) if connector_id == 0 else [st.connectors[connector_id]]
        busy = remote.busy_for_availability(st, [c for c in targets if c.transaction or c.starting])
        scheduled = bool(busy) and not operative

        def apply() -> None:
            remote.apply_availability(st, targets, busy, operative)
            if connector_id == 0:
                remote.change_station(st, operative, scheduled, self.station_status)
        st.defer(call_unique_id, apply)
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(self, call_unique_id: str, location: str, retrieve_date: str,
                           retries: int | None = None, retry_interval: int | None = None, **_: Any) -> Any:
        request = FW.FirmwareRequest(location, parse_iso(retrieve_date), retries or 0,
                                     FW.DEFAULT_RETRY_INTERVAL_S if retry_interval is None else retry_interval)
        self.station.defer(call_unique_id, lambda: FW.update_firmware(self, request, self.station.faults))
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, call_unique_id: str, location: str, retries: int | None = None,
                           retry_interval: int | None = None, **_: Any) -> Any:
        st = self.station
        name = FW.diagnostics_file_name(st.config.charge_point_id, st.clock)
        request = FW.LogRequest(location, name, retries or 0,
                                FW.DEFAULT_RETRY_INTERVAL_S if retry_interval is None else retry_interval)
        st.defer(call_unique_id, lambda: FW.upload_log(self, request, st.faults, "UploadFailed"))
        return call_result.GetDiagnostics(file_name=name)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> Any:
        if not self.auth_flag("AuthorizationCacheEnabled"):
            return call_result.ClearCache(status="Rejected")
        self.station.local_auth.cache.clear()
        return call_result.ClearCache(status="Accepted")

    @on(Action.send_local_list)
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict] | None = None, **_: Any) -> Any:
        entries = [(e["id_tag"], (e.get("id_tag_info") or {}).get("status"))
                   for e in local_authorization_list or []]
        return call_result.SendLocalList(
            status=self.station.local_auth.update_list(list_version, update_type, entries))

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(list_version=self.station.local_auth.list_version)

    @on(Action.reserve_now)
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None, **_: Any) -> Any:
        conn = self.station.connectors.get(connector_id)
        if conn is None:  # connector 0 included: ReserveConnectorZeroSupported is false
            return call_result.ReserveNow(status="Rejected")
        return call_result.ReserveNow(
            status=reserve(self.station, conn, reservation_id, id_tag, parse_iso(expiry_date), parent_id_tag))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        found = self.station.reservations.cancel(reservation_id)
        return call_result.CancelReservation(status="Accepted" if found else "Rejected")

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    # After the answer is on the wire: run what the handler decided.
    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.change_configuration)
    def after_change_configuration(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        self.station.run_follow_up(call_unique_id)
