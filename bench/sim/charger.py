"""The simulated charger: a real OCPP 1.6J charge point driving the virtual lab's plant
(`SimulatedCharger`; the 2.0.1/2.1 charging station in `charger_v201.py` shares
its state machine, meter, limits and faults and overrides the OCPP side).

It connects to the CSMS over a WebSocket (`ocpp.v16.ChargePoint` for framing,
routing and schema validation), runs the IEC 61851-1 state machine on
`Plant.cp_state()`, closes the contactor, offers the composite charging limit
on the PWM after its reaction time, and reports its own meter in MeterValues.
Faults from `bench.sim.faults` make it misbehave in one precise way each.

Concurrency model (why it looks the way it does):
- The `ocpp` library handles incoming CALLs inside its receive loop, so a
  handler must never await an outgoing CALL (the reply would never be read).
  Handlers only decide and answer; what must happen after the answer is sent
  (start, stop, reset, triggered messages) runs from the `@after` hooks as a
  tracked task, so the CSMS always sees the .conf before the follow-up.
- Every outgoing CALL goes through one outbox in order. Transaction messages
  (Start/Stop/MeterValues) are durable: kept over a lost connection and sent
  after the next boot. Status and heartbeat are dropped while offline (the
  boot re-sends the statuses).
- A control loop ticks every CONTROL_TICK_S of the clock: CP state, limit,
  PWM, contactor, status and meter sampling. All time comes from the Clock.
"""
from __future__ import annotations

import asyncio
import logging
import math
import ssl
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc, parse_iso
from instruments.iec61851 import MIN_AC_CURRENT_A, CpState, current_to_duty_pct
from bench.sim import faults as F
from bench.sim import charger_firmware as FW
from bench.sim import charger_remote as remote
from bench.sim.charger_features import ChargerFeatures, FeatureGate
from bench.sim.charger_meter import SUPPORTED_MEASURANDS, ChargerMeter, ChargerMeterReading, meter_value
from bench.sim.plant import Plant
from bench.sim.realism import Realism, fine_utcnow
from bench.sim.charger_auth import AUTH_KEYS_16, LocalAuthMixin
from bench.sim.charger_reservation import ReservationMixin
from bench.sim.charger_security import ChargerSecurity, valid_password
from bench.sim.charger_transactions import SessionFaults
from bench.smart_charging import ActiveTransaction, composite_schedule, limit_at, make_store

log = logging.getLogger(__name__)

OCPP16 = Subprotocol("ocpp1.6")
CONTROL_TICK_S = 0.05          # C -> B must open the contactor within 100 ms
LIMIT_EVAL_S = 0.2             # re-evaluate the composite limit at least this often
RESPONSE_TIMEOUT_S = 30        # ocpp library: wait for a .conf (library I/O timeout)
TRANSACTION_MESSAGE_ATTEMPTS = 3
DEFAULT_HEARTBEAT_S = 60
RETRY_AFTER_PENDING_S = 10     # BootNotification Pending/Rejected with interval 0

DEFAULT_SAMPLED_DATA = "Energy.Active.Import.Register,Current.Import,Power.Active.Import,Voltage"


@dataclass
class ChargerSimConfig:
    charge_point_id: str
    csms_url: str                 # the charger connects to f"{csms_url}/{charge_point_id}"
    vendor: str = "evbench"
    model: str = "VirtualCharger-AC22"
    serial: str = "VC-0001"
    firmware: str = "1.0.0"
    connectors: int = 1           # physics is wired to connector 1 (one Plant per position)
    rated_current_a: float = 32.0
    reaction_time_s: float = 1.0  # from a limit change to the PWM change
    meter_sample_interval_s: float = 10.0
    meter_resolution_wh: float = 0.1
    faults: frozenset[str] = frozenset()
    meter_initial_wh: float = 1_000_000.0   # lifetime register at power-up (meterStart is not 0)
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    ocpp_version: str = "1.6"     # "2.0.1" and "2.1": use charger_v201.SimulatedCharger201 (see make_charger)
    security: ChargerSecurity = field(default_factory=ChargerSecurity)  # profile 0: plain ws
    features: str = "full"        # full | minimal: see charger_features.py
    # real signals (reaction drawn per change, PWM jitter, meter noise, coarse timestamps);
    # None: the ideal charger (fixed reaction_time_s, exact duty and meter, millisecond stamps)
    realism: Realism | None = None

    def __post_init__(self) -> None:
        self.faults = frozenset(self.faults)
        bad = F.unknown_faults(sorted(self.faults))
        if bad:
            raise ValueError(f"unknown charger fault(s) {bad}; known: {sorted(F.FAULTS)}")
        if self.connectors < 1:
            raise ValueError("connectors must be >= 1")


# ---- configuration keys (GetConfiguration / ChangeConfiguration) -----------------------

@dataclass
class _Key:
    value: str
    readonly: bool = False
    kind: str = "str"   # int | bool | measurands | str


def _configuration_keys(cfg: ChargerSimConfig) -> dict[str, _Key]:
    return {
        "HeartbeatInterval": _Key(str(DEFAULT_HEARTBEAT_S), kind="int"),
        "MeterValueSampleInterval": _Key(_num(cfg.meter_sample_interval_s), kind="int"),
        "MeterValuesSampledData": _Key(DEFAULT_SAMPLED_DATA, kind="measurands"),
        "ClockAlignedDataInterval": _Key("0", kind="int"),
        "MeterValuesAlignedData": _Key("Energy.Active.Import.Register", kind="measurands"),
        "StopTxnSampledData": _Key("Energy.Active.Import.Register", kind="measurands"),
        "ConnectionTimeOut": _Key("60", kind="int"),
        "AuthorizeRemoteTxRequests": _Key("false", readonly=True, kind="bool"),
        "StopTransactionOnEVSideDisconnect": _Key("true", readonly=True, kind="bool"),
        "NumberOfConnectors": _Key(str(cfg.connectors), readonly=True, kind="int"),
        "SupportedFeatureProfiles": _Key("Core,FirmwareManagement,SmartCharging,RemoteTrigger,LocalAuthListManagement,"
                                         "Reservation", readonly=True),
        "MeterValuesSampledDataMaxLength": _Key(str(len(SUPPORTED_MEASURANDS)), readonly=True, kind="int"),
        "ChargeProfileMaxStackLevel": _Key("10", readonly=True, kind="int"),
        "ChargingScheduleAllowedChargingRateUnit": _Key("Current,Power", readonly=True),
        "ChargingScheduleMaxPeriods": _Key("24", readonly=True, kind="int"),
        "MaxChargingProfilesInstalled": _Key("10", readonly=True, kind="int"),
        "SecurityProfile": _Key(str(cfg.security.profile), kind="security_profile"),
        **{key: _Key(value, readonly, kind) for key, (value, readonly, kind) in AUTH_KEYS_16.items()},
    }


def _num(x: float) -> str:
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


def wire_profile(snake_case_profile: dict) -> dict:
    """A profile as the ocpp library hands it to a handler -> the wire form the store takes.

    The library turns keys to snake_case and, for SetChargingProfile and
    RemoteStartTransaction, parses numbers as Decimal (for its multipleOf check)."""
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(snake_to_camel_case(snake_case_profile))


# ---- connector and transaction state ---------------------------------------------------

@dataclass
class _Transaction:
    transaction_id: int | str  # 1.6 int, 2.x string
    id_tag: str
    meter_start_wh: int
    started_utc: datetime
    last_sample_mono: float
    begin_value: dict


@dataclass
class _Connector:
    connector_id: int
    operative: bool = True
    scheduled_operative: bool | None = None  # ChangeAvailability Scheduled: applied at tx end
    authorized_tag: str | None = None
    authorized_mono: float = 0.0
    pending_profile: dict | None = None      # TxProfile from RemoteStartTransaction
    transaction: _Transaction | None = None
    starting: bool = False
    finishing: bool = False
    last_status: tuple[str, str] | None = None
    target_limit_a: float = 0.0
    applied_limit_a: float = 0.0
    pending_limits: deque = field(default_factory=deque)   # (due monotonic, limit A)
    plugged_in_utc: datetime | None = None   # when the EV was last plugged in (CP left state A)
    suspended_in: Any = None                 # the transaction in which the EV last suspended (SuspendedEV)


@dataclass
class _Outgoing:
    payload: Any
    durable: bool
    future: asyncio.Future
    attempts: int = 0


class _ConnectionLost(Exception):
    pass


# ---- the OCPP side: routes CSMS calls to the charger ------------------------------------

class _OcppLink(FeatureGate, ChargePoint):
    """Thin routing layer: every handler delegates to SimulatedCharger (keyword args snake_case)."""

    def __init__(self, sim: "SimulatedCharger", cp_id: str, ws: ClientConnection) -> None:
        super().__init__(cp_id, ws, response_timeout=RESPONSE_TIMEOUT_S)
        self.sim = sim

    @on(Action.remote_start_transaction)
    def sim_on_remote_start(self, call_unique_id: str, **kw):
        return self.sim.on_remote_start(call_unique_id, **kw)

    @on(Action.remote_stop_transaction)
    def sim_on_remote_stop(self, call_unique_id: str, **kw):
        return self.sim.on_remote_stop(call_unique_id, **kw)

    @on(Action.set_charging_profile)
    def sim_on_set_charging_profile(self, **kw):
        return self.sim.on_set_charging_profile(**kw)

    @on(Action.clear_charging_profile)
    def sim_on_clear_charging_profile(self, **kw):
        return self.sim.on_clear_charging_profile(**kw)

    @on(Action.get_composite_schedule)
    def sim_on_get_composite_schedule(self, **kw):
        return self.sim.on_get_composite_schedule(**kw)

    @on(Action.get_configuration)
    def sim_on_get_configuration(self, **kw):
        return self.sim.on_get_configuration(**kw)

    @on(Action.change_configuration)
    def sim_on_change_configuration(self, call_unique_id: str, **kw):
        return self.sim.on_change_configuration(call_unique_id=call_unique_id, **kw)

    @on(Action.trigger_message)
    def sim_on_trigger_message(self, call_unique_id: str, **kw):
        return self.sim.on_trigger_message(call_unique_id, **kw)

    @on(Action.reset)
    def sim_on_reset(self, call_unique_id: str, **kw):
        return self.sim.on_reset(call_unique_id, **kw)

    @on(Action.unlock_connector)
    def sim_on_unlock_connector(self, call_unique_id: str, **kw):
        return self.sim.on_unlock_connector(call_unique_id, **kw)

    @on(Action.change_availability)
    def sim_on_change_availability(self, call_unique_id: str, **kw):
        return self.sim.on_change_availability(call_unique_id, **kw)

    @on(Action.update_firmware)
    def sim_on_update_firmware(self, call_unique_id: str, **kw):
        return self.sim.on_update_firmware(call_unique_id, **kw)

    @on(Action.get_diagnostics)
    def sim_on_get_diagnostics(self, call_unique_id: str, **kw):
        return self.sim.on_get_diagnostics(call_unique_id, **kw)

    @after(Action.update_firmware)
    def sim_after_update_firmware(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.get_diagnostics)
    def sim_after_get_diagnostics(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @on(Action.clear_cache)
    def sim_on_clear_cache(self, **kw):
        return call_result.ClearCache(status=self.sim.on_clear_cache(**kw))

    @on(Action.send_local_list)
    def sim_on_send_local_list(self, **kw):
        return call_result.SendLocalList(status=self.sim.on_send_local_list(**kw))

    @on(Action.get_local_list_version)
    def sim_on_get_local_list_version(self, **kw):
        return call_result.GetLocalListVersion(list_version=self.sim.on_get_local_list_version(**kw))

    @on(Action.reserve_now)
    def sim_on_reserve_now(self, **kw):
        return call_result.ReserveNow(status=self.sim.on_reserve_now(**kw))

    @on(Action.cancel_reservation)
    def sim_on_cancel_reservation(self, **kw):
        return call_result.CancelReservation(status=self.sim.on_cancel_reservation(**kw))

    @on(Action.data_transfer)
    def sim_on_data_transfer(self, **kw):
        return call_result.DataTransfer(status="UnknownVendorId")

    # After the .conf is on the wire: run what the handler decided.
    @after(Action.remote_start_transaction)
    def sim_after_remote_start(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.remote_stop_transaction)
    def sim_after_remote_stop(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.trigger_message)
    def sim_after_trigger_message(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.reset)
    def sim_after_reset(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.unlock_connector)
    def sim_after_unlock_connector(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.change_availability)
    def sim_after_change_availability(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)

    @after(Action.change_configuration)
    def sim_after_change_configuration(self, call_unique_id: str, **kw):
        self.sim.run_follow_up(call_unique_id)


FollowUp = Callable[[], Coroutine[Any, Any, None] | None]


class SimulatedCharger(LocalAuthMixin, ReservationMixin):
    OCPP_VERSION = "1.6"
    SUBPROTOCOL = OCPP16
    # security whitepaper event (2.x: InvalidCsmsCertificate)
    INVALID_CSMS_CERTIFICATE = "InvalidCentralSystemCertificate"

    def __init__(self, clock: Clock, plant: Plant, config: ChargerSimConfig) -> None:
        self._realism = config.realism
        # OCPP timestamps come from the charger's own clock (whole seconds with realism)
        self.clock = config.realism.charger_clock(clock) if config.realism else clock
        self.plant = plant
        self.config = config
        self._faults = config.faults
        self._reaction_s = F.effective_reaction_time_s(config.reaction_time_s, config.faults)
        self._meter = ChargerMeter(
            plant,
            initial_register_wh=config.meter_initial_wh,
            energy_gain=F.METER_GAIN_ERROR_FACTOR if F.METER_GAIN_ERROR in config.faults else 1.0,
            current_report_gain=(F.WRONG_CURRENT_REPORT_FACTOR
                                 if F.WRONG_CURRENT_REPORT in config.faults else 1.0),
            noise=config.realism.charger_noise if config.realism else None,
        )
        self.features = ChargerFeatures.of(config.features)
        self.unsupported_actions = self.features.unsupported_actions(self.OCPP_VERSION)
        self._keys = self.features.configuration_keys_16(_configuration_keys(config))
        self._session_faults = SessionFaults(config.faults, self._meter)
        self._store = make_store(self.OCPP_VERSION, **({} if self.OCPP_VERSION == "1.6" else dict(
            evses=config.connectors, supply_phases=plant.settings.phases)))
        self._security = config.security.with_faults(config.faults)
        self._password = config.security.password
        self._security_events_pending: set[str] = set()  # one event per kind and outage
        self._connectors = {i: _Connector(i) for i in range(1, config.connectors + 1)}
        self._init_local_auth()
        self._init_reservations()
        self._cp_operative = True
        self._cp_scheduled_operative: bool | None = None  # ChangeAvailability of connector 0: Scheduled
        self._heartbeat_s = float(DEFAULT_HEARTBEAT_S)
        self._heartbeat_changed = asyncio.Event()  # a new interval restarts the heartbeat timer
        self._follow_ups: dict[str, FollowUp] = {}
        self._tasks: set[asyncio.Task] = set()
        self._main_tasks: list[asyncio.Task] = []
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._online = asyncio.Event()
        self._link: _OcppLink | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._reboot_requested = False
        self._boot_delay_s = 0.0  # set when going down for a reboot: how long until it connects again
        self._limits_dirty = True
        self._next_limit_eval = 0.0
        self._next_aligned_utc: datetime | None = None
        self.boot_count = 0

    # ---- public ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting (retrying until the CSMS is up), boot, and run. Returns at once."""
        if self._main_tasks:
            return
        self._outbox = asyncio.Queue()
        for conn in self._connectors.values():
            conn.target_limit_a = conn.applied_limit_a = self._limit_target(conn)
        cp_id = self.config.charge_point_id
        self._main_tasks = [
            asyncio.create_task(self._connection_loop(), name=f"{cp_id}-connection"),
            asyncio.create_task(self._sender_loop(), name=f"{cp_id}-sender"),
            asyncio.create_task(self._control_loop(), name=f"{cp_id}-control"),
        ]
        for task in self._main_tasks:
            task.add_done_callback(self._main_task_done)

    async def stop(self) -> None:
        """Cancel every task, close the WebSocket and leave the plant safe (PWM off, contactor open)."""
        tasks = [*self._main_tasks, *self._tasks]
        if self._reader:
            tasks.append(self._reader)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._main_tasks, self._tasks = [], set()
        if self._ws is not None:
            await self._ws.close()
        self._online.clear()
        self.plant.set_contactor(False)
        self.plant.set_pwm(False, 100.0)

    async def wait_online(self) -> None:
        """Until the charger is connected and its BootNotification was accepted."""
        await self._online.wait()

    @property
    def online(self) -> bool:
        return self._online.is_set()

    def connector_status(self, connector_id: int = 1) -> str | None:
        last = self._connectors[connector_id].last_status
        return last[0] if last else None

    def transaction_id(self, connector_id: int = 1) -> int | None:
        tx = self._connectors[connector_id].transaction
        return tx.transaction_id if tx else None

    def applied_limit_a(self, connector_id: int = 1) -> float:
        return self._connectors[connector_id].applied_limit_a

    def meter_register_wh(self) -> float:
        return self._meter.register_wh()

    async def present_id_tag(self, tag: str) -> str:
        """An RFID swipe: stops the transaction it started, else Authorize and (if Accepted)
        starts one as soon as an EV is plugged in. Returns the authorization status."""
        for conn in self._connectors.values():
            if conn.transaction and conn.transaction.id_tag == tag:
                await self._stop_transaction(conn, "Local")
                return "Accepted"
        conn = next((c for c in self._connectors.values() if self._can_take_new_session(c)), None)
        status = await self._authorization_status(tag)  # the CSMS online; the local list or cache offline
        if (status == "Accepted" and conn is not None and self._can_take_new_session(conn)
                and not self._reservation_blocks(conn, tag)):
            self._authorize(conn, tag)
        return status

    # ---- connection --------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        url = f"{self.config.csms_url.rstrip('/')}/{self.config.charge_point_id}"
        backoff = self.config.reconnect_min_s
        while True:
            try:
                ws = await connect(self._security.url(url), subprotocols=[self.SUBPROTOCOL], open_timeout=10,
                                   close_timeout=2, **self._security.connect_options(
                                       self.config.charge_point_id, self._password))
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self._note_connection_failure(exc)
                log.info("%s: CSMS not reachable (%s), retry in %.1f s", self.config.charge_point_id, exc, backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            if ws.subprotocol != self.SUBPROTOCOL:
                log.warning("%s: CSMS did not accept subprotocol %s", self.config.charge_point_id, self.SUBPROTOCOL)
                await ws.close()
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            backoff = self.config.reconnect_min_s
            await self._run_session(ws)
            if self._reboot_requested:
                self._reboot_requested = False
                delay, self._boot_delay_s = self._boot_delay_s, 0.0
                if delay > 0:
                    await self.clock.sleep(delay)  # rebooting: nothing on the wire until it is up
            else:
                await self.clock.sleep(backoff)

    async def _run_session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._link = link = self._make_link(ws)
        self._reader = asyncio.create_task(link.start(), name=f"{self.config.charge_point_id}-reader")
        heartbeat: asyncio.Task | None = None
        try:
            await self._boot(link)
            self._online.set()
            self._security_events_pending.clear()
            self.boot_count += 1
            for conn in self._connectors.values():
                conn.last_status = None     # the control loop re-sends every connector's status
            self._after_boot()
            self._session_faults.after_reconnect(self._outbox)
            heartbeat = asyncio.create_task(self._heartbeat_loop())
            await asyncio.wait({self._reader})
        except _ConnectionLost:
            pass
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:   # boot failed: reconnect
            log.warning("%s: boot failed: %r", self.config.charge_point_id, exc)
        finally:
            self._online.clear()
            for t in (heartbeat, self._reader):
                if t is not None:
                    t.cancel()
                    await asyncio.gather(t, return_exceptions=True)
            await ws.close()
            self._link = self._reader = self._ws = None
            log.info("%s: connection closed", self.config.charge_point_id)

    async def _boot(self, link: _OcppLink) -> None:
        while True:
            res = await self._call_on_link(link, self._boot_payload())
            if res.interval > 0:
                self._set_heartbeat(res.interval)
            if res.status == "Accepted" or (res.status == "Pending" and F.PENDING_BOOT_IGNORED in self._faults):
                return
            await self.clock.sleep(res.interval or RETRY_AFTER_PENDING_S)

    def _boot_payload(self) -> call.BootNotification:
        c = self.config
        return call.BootNotification(
            charge_point_model=c.model, charge_point_vendor=c.vendor, charge_point_serial_number=c.serial,
            firmware_version=c.firmware, meter_type="virtual", meter_serial_number=f"{c.serial}-M",
        )

    def _note_connection_failure(self, exc: BaseException) -> None:
        """A TLS handshake we refused is a security event, reported once connected again (A05/TC_A_05)."""
        if isinstance(exc, ssl.SSLCertVerificationError):
            kind, info = self.INVALID_CSMS_CERTIFICATE, exc.verify_message
        elif isinstance(exc, ssl.SSLError) and any(w in (exc.reason or "") for w in ("VERSION", "PROTOCOL")):
            kind, info = "InvalidTLSVersion", str(exc.reason)
        else:
            return
        if kind not in self._security_events_pending:
            self._security_events_pending.add(kind)
            self._enqueue(self._security_event_payload(kind, info), durable=True).add_done_callback(_log_failure)

    def _security_event_payload(self, kind: str, info: str) -> Any:
        return call.SecurityEventNotification(type=kind, timestamp=iso_utc(self.clock.utcnow()), tech_info=info[:255])

    def _make_link(self, ws: ClientConnection) -> ChargePoint:
        return _OcppLink(self, self.config.charge_point_id, ws)

    def _after_boot(self) -> None:
        """Accepted by the CSMS: 1.6 reports connector 0 (the others follow from the control loop)."""
        self._post(self._status_payload(0, "Available" if self._cp_operative else "Unavailable"))

    def _heartbeat_payload(self) -> Any:
        return call.Heartbeat()

    def _set_heartbeat(self, seconds: float) -> None:
        self._heartbeat_s = float(seconds)
        self._keys["HeartbeatInterval"].value = _num(seconds)
        self._heartbeat_changed.set()

    async def _reconnect(self) -> None:
        """Close the connection; the connection loop comes back at once (new credentials, reset)."""
        self._reboot_requested = True
        if self._ws is not None:
            await self._ws.close()

    async def _reboot(self) -> None:
        """Go down and boot again after the features' reboot time (Reset, new firmware)."""
        self._boot_delay_s = self.features.reboot_s
        F.after_reboot(self._store, self._faults)  # profiles persist over a reboot (1.6 errata 3.37)
        await self._reconnect()

    async def _heartbeat_loop(self) -> None:
        """A Heartbeat every interval; a new interval (boot answer, configuration) starts a new timer."""
        while True:
            interval = F.heartbeat_interval_s(self._heartbeat_s, self._faults)
            self._heartbeat_changed.clear()
            timer = asyncio.ensure_future(self.clock.sleep(interval if interval > 0 else 1.0))
            changed = asyncio.ensure_future(self._heartbeat_changed.wait())
            try:
                await asyncio.wait({timer, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (timer, changed):
                    task.cancel()
                await asyncio.gather(timer, changed, return_exceptions=True)
            if timer.done() and not timer.cancelled() and interval > 0:
                self._post(self._heartbeat_payload())

    async def _call_on_link(self, link: _OcppLink, payload: Any) -> Any:
        """One CALL, abandoned as soon as the connection under it is lost."""
        reader = self._reader
        pending = asyncio.ensure_future(link.call(payload, suppress=False))
        done, _ = await asyncio.wait({pending, reader}, return_when=asyncio.FIRST_COMPLETED)
        if pending in done:
            return pending.result()
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        raise _ConnectionLost()

    # ---- outbox --------------------------------------------------------------------------
    def _enqueue(self, payload: Any, *, durable: bool) -> asyncio.Future:
        assert self._outbox is not None, "start() first"
        future = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait(_Outgoing(payload, durable, future))
        return future

    async def _call(self, payload: Any, *, durable: bool) -> Any:
        """Send in order with everything else; the .conf, or None if dropped."""
        return await self._enqueue(payload, durable=durable)

    def _post(self, payload: Any, *, durable: bool = False) -> None:
        """Fire and forget (errors are logged)."""
        if not durable and not self._online.is_set():
            return
        future = self._enqueue(payload, durable=durable)
        future.add_done_callback(_log_failure)

    async def _sender_loop(self) -> None:
        assert self._outbox is not None
        while True:
            item = await self._outbox.get()
            while not item.future.done():
                if not item.durable and not self._online.is_set():
                    _settle(item.future, result=None)   # stale status/heartbeat: the boot re-sends
                    break
                await self._online.wait()
                link = self._link
                if link is None:
                    await self.clock.sleep(CONTROL_TICK_S)
                    continue
                try:
                    _settle(item.future, result=await self._call_on_link(link, item.payload))
                except (_ConnectionLost, ConnectionClosed):
                    if not item.durable:
                        _settle(item.future, result=None)
                    await self.clock.sleep(CONTROL_TICK_S)   # let the session notice it is gone
                except (OCPPError, TimeoutError) as exc:      # CallError or no .conf in time
                    item.attempts += 1
                    if not item.durable or item.attempts >= TRANSACTION_MESSAGE_ATTEMPTS:
                        _settle(item.future, exc=exc)

    # ---- follow-ups after a .conf ----------------------------------------------------------
    def _defer(self, call_unique_id: str, action: FollowUp) -> None:
        self._follow_ups[call_unique_id] = action

    def run_follow_up(self, call_unique_id: str) -> None:
        action = self._follow_ups.pop(call_unique_id, None)
        if action is None:
            return
        result = action()
        if asyncio.iscoroutine(result):
            self._spawn(result)

    def _spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _main_task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s stopped", self.config.charge_point_id, task.get_name(), exc_info=task.exception())

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.config.charge_point_id, exc_info=task.exception())

    # ---- CSMS -> charger handlers ------------------------------------------------------------
    def on_remote_start(self, call_unique_id: str, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict | None = None, **_: Any):
        if connector_id is None:
            conn = next((c for c in self._connectors.values() if self._can_take_new_session(c)), None)
        else:
            conn = self._connectors.get(connector_id)
        profile = wire_profile(charging_profile) if charging_profile else None
        if (conn is None or not self._online.is_set()
                or not (self._can_take_new_session(conn) or remote.accepts_start_when_inoperative(self, conn))
                or self._reservation_blocks(conn, id_tag)
                or (profile and profile.get("chargingProfilePurpose") != "TxProfile")):
            return call_result.RemoteStartTransaction(status="Rejected")

        def authorize() -> None:
            if self._can_take_new_session(conn):
                self._authorize(conn, id_tag, profile)
        self._defer(call_unique_id, authorize)
        return call_result.RemoteStartTransaction(status="Accepted")

    def on_remote_stop(self, call_unique_id: str, transaction_id: int, **_: Any):
        conn = next((c for c in self._connectors.values()
                     if c.transaction and c.transaction.transaction_id == transaction_id), None)
        if conn is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self._defer(call_unique_id, lambda: self._stop_transaction(conn, "Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict, **_: Any):
        if connector_id != 0 and connector_id not in self._connectors:
            return call_result.SetChargingProfile(status="Rejected")
        conn = self._connectors.get(connector_id)
        tx_id = conn.transaction.transaction_id if conn and conn.transaction else None
        accepted, reason = self._store.install(connector_id, wire_profile(cs_charging_profiles),
                                               active_transaction_id=tx_id)
        if not accepted:
            log.info("%s: SetChargingProfile rejected: %s", self.config.charge_point_id, reason)
            if F.ACCEPTS_INVALID_PROFILE in self._faults:  # says yes, installs nothing
                return call_result.SetChargingProfile(status="Accepted")
        self._limits_dirty = True
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None,
                                  stack_level: int | None = None, **_: Any):
        cleared = self._store.clear(profile_id=id, connector_id=connector_id,
                                    purpose=charging_profile_purpose, stack_level=stack_level)
        self._limits_dirty = True
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    def on_get_composite_schedule(self, connector_id: int, duration: int,
                                  charging_rate_unit: str | None = None, **_: Any):
        if connector_id != 0 and connector_id not in self._connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        start = self.clock.utcnow()
        running = {c.connector_id: ActiveTransaction(c.transaction.started_utc, c.transaction.transaction_id)
                   for c in self._connectors.values() if c.transaction}
        schedule = composite_schedule(
            F.misread_profiles(self._store.profiles, self._faults), connector_id, start, duration,
            default_limit_a=self.config.rated_current_a,
            voltage_v=self.plant.settings.nominal_voltage_v, phases=self.plant.settings.phases,
            transactions=running, connectors=self.config.connectors,
            unit=charging_rate_unit or "A", ocpp_version=self.OCPP_VERSION,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=iso_utc(start),
            charging_schedule=F.misreport_composite(schedule.to_ocpp(), self._faults),
        )

    def on_get_configuration(self, key: list[str] | None = None, **_: Any):
        names = key or list(self._keys)
        known = [{"key": k, "readonly": self._keys[k].readonly, "value": self._keys[k].value}
                 for k in names if k in self._keys]
        unknown = [k for k in names if k not in self._keys]
        return call_result.GetConfiguration(configuration_key=known or None, unknown_key=unknown or None)

    def on_change_configuration(self, key: str, value: str, call_unique_id: str | None = None, **_: Any):
        if key == "AuthorizationKey":   # write-only, never reported (security whitepaper A01)
            return call_result.ChangeConfiguration(status=self._change_password(call_unique_id, value))
        entry = self._keys.get(key)
        if entry is None:
            return call_result.ChangeConfiguration(status="NotSupported")
        if entry.readonly or not _valid_value(entry.kind, value):
            return call_result.ChangeConfiguration(status="Rejected")
        if key == "SecurityProfile":
            return call_result.ChangeConfiguration(status=self._raise_security_profile(int(value)))
        entry.value = value
        if key == "HeartbeatInterval":
            self._set_heartbeat(float(value))
        if key == "ClockAlignedDataInterval":
            self._next_aligned_utc = None
        return call_result.ChangeConfiguration(status="Accepted")

    def _change_password(self, call_unique_id: str | None, password: str) -> str:
        """A new Basic auth password: stored, then the charger reconnects with it (A01)."""
        if not valid_password(password):
            return "Rejected"
        self._password = password
        if call_unique_id is not None and self.config.security.profile in (1, 2):
            self._defer(call_unique_id, self._reconnect)
        return "Accepted"

    def _raise_security_profile(self, profile: int) -> str:
        """Never to a lower profile (security whitepaper A05; `accepts_security_downgrade` breaks
        this). A higher one is refused too: switching the live connection is not simulated."""
        current = int(self._keys["SecurityProfile"].value)
        if profile == current or (profile < current and F.ACCEPTS_SECURITY_DOWNGRADE in self._faults):
            self._keys["SecurityProfile"].value = str(profile)
            return "Accepted"
        return "Rejected"   # lower: never; higher: switching the live connection is not simulated

    def on_trigger_message(self, call_unique_id: str, requested_message: str,
                           connector_id: int | None = None, **_: Any):
        if connector_id is not None and connector_id != 0 and connector_id not in self._connectors:
            return call_result.TriggerMessage(status="Rejected")
        targets = ([self._connectors[connector_id]] if connector_id else list(self._connectors.values()))
        if requested_message == "BootNotification":
            self._defer(call_unique_id, self._triggered_boot)
        elif requested_message == "Heartbeat":
            self._defer(call_unique_id, lambda: self._post(call.Heartbeat()))
        elif requested_message == "StatusNotification":
            def statuses() -> None:
                if connector_id is None or connector_id == 0:
                    self._post(self._status_payload(0, "Available" if self._cp_operative else "Unavailable"))
                if connector_id != 0:
                    for conn in targets:
                        conn.last_status = None   # the next tick sends the current one
            self._defer(call_unique_id, statuses)
        elif requested_message == "MeterValues":
            def meter_values() -> None:
                for conn in targets:
                    self._send_meter_values(conn, "Trigger", self._csl("MeterValuesSampledData"))
            self._defer(call_unique_id, meter_values)
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        remote.ignore_trigger(self, call_unique_id)
        return call_result.TriggerMessage(status="Accepted")

    async def _triggered_boot(self) -> None:
        res = await self._call(self._boot_payload(), durable=False)
        if res is not None and res.interval > 0:
            self._set_heartbeat(res.interval)

    def on_reset(self, call_unique_id: str, type: str, **_: Any):
        self._defer(call_unique_id, lambda: self._reset(type))
        return call_result.Reset(status="Accepted")

    async def _reset(self, kind: str) -> None:
        reason = "HardReset" if kind == "Hard" else "SoftReset"
        if kind == "Hard" and F.RESET_KEEPS_TRANSACTION in self._faults:
            await self._reboot()   # reboots with the transaction still open, never stops it
            return
        await asyncio.gather(*(self._stop_transaction(c, reason)
                               for c in self._connectors.values() if c.transaction))
        for conn in self._connectors.values():
            conn.authorized_tag = conn.pending_profile = None
            conn.finishing = False
        await self._reboot()   # the connection loop reconnects and boots again

    def on_unlock_connector(self, call_unique_id: str, connector_id: int, **_: Any):
        conn = self._connectors.get(connector_id)
        if conn is None:
            return call_result.UnlockConnector(status="NotSupported")
        if conn.transaction and remote.unlock_respects_transaction(self):  # 5.18: end the transaction first
            self._defer(call_unique_id, lambda: self._stop_transaction(conn, "UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    # ---- firmware and diagnostics (the flows are in charger_firmware.py) -----------------------
    def on_update_firmware(self, call_unique_id: str, location: str, retrieve_date: str, retries: int | None = None,
                           retry_interval: int | None = None, **_: Any):
        request = FW.FirmwareRequest(location, parse_iso(retrieve_date), retries or 0,
                                     FW.DEFAULT_RETRY_INTERVAL_S if retry_interval is None else retry_interval)
        self._defer(call_unique_id, lambda: FW.update_firmware(self, request, self._faults))
        return call_result.UpdateFirmware()

    def on_get_diagnostics(self, call_unique_id: str, location: str, retries: int | None = None,
                           retry_interval: int | None = None, **_: Any):
        name = FW.diagnostics_file_name(self.config.charge_point_id, self.clock)
        request = FW.LogRequest(location, name, retries or 0,
                                FW.DEFAULT_RETRY_INTERVAL_S if retry_interval is None else retry_interval)
        self._defer(call_unique_id, lambda: FW.upload_log(self, request, self._faults, "UploadFailed"))
        return call_result.GetDiagnostics(file_name=name)

    async def report_firmware_status(self, status: str, request_id: int | None) -> None:
        await self._report_transfer(call.FirmwareStatusNotification(status=status))

    async def report_log_status(self, status: str, request_id: int | None) -> None:
        await self._report_transfer(call.DiagnosticsStatusNotification(status=status))

    async def _report_transfer(self, payload: Any) -> None:
        """In order, kept over a lost connection (a reboot), answered before the flow goes on."""
        try:
            await self._call(payload, durable=True)
        except (OCPPError, TimeoutError) as exc:
            log.warning("%s: %s not delivered: %r", self.config.charge_point_id, type(payload).__name__, exc)

    async def reboot_for_firmware(self, version: str) -> None:
        """The new firmware runs after a reboot: the next BootNotification names it."""
        self.config.firmware = version
        await self._reboot()

    async def firmware_booted(self) -> None:
        """Back with the new firmware (2.x reports a security event here)."""

    def diagnostics_text(self) -> str:
        c = self.config
        lines = [f"charger {c.charge_point_id} vendor {c.vendor} model {c.model} firmware {c.firmware}",
                 f"OCPP {self.OCPP_VERSION}, boots {self.boot_count}, at {iso_utc(self.clock.utcnow())}"]
        lines += [f"connector {i}: {conn.last_status[0] if conn.last_status else 'unknown'}"
                  for i, conn in self._connectors.items()]
        return "\n".join(lines) + "\n"

    def on_change_availability(self, call_unique_id: str, connector_id: int, type: str, **_: Any):
        if connector_id != 0 and connector_id not in self._connectors:
            return call_result.ChangeAvailability(status="Rejected")
        operative = type == "Operative"
        targets = list(self._connectors.values()) if connector_id == 0 else [self._connectors[connector_id]]
        busy = remote.busy_for_availability(self, [c for c in targets if c.transaction or c.starting])
        scheduled = bool(busy) and not operative

        def apply() -> None:
            remote.end_transactions_now(self, targets, operative)
            for conn in targets:
                if conn in busy and not operative:
                    conn.scheduled_operative = False
                else:
                    conn.operative, conn.scheduled_operative = operative, None
            if connector_id == 0:
                remote.change_station(self, operative, scheduled)
        self._defer(call_unique_id, apply)
        return call_result.ChangeAvailability(status="Scheduled" if scheduled else "Accepted")

    # ---- sessions ------------------------------------------------------------------------
    def _can_take_new_session(self, conn: _Connector) -> bool:
        return (conn.operative and conn.transaction is None and not conn.starting
                and conn.authorized_tag is None and self._cp_state(conn) not in (CpState.E, CpState.F))

    def _authorize(self, conn: _Connector, tag: str, profile: dict | None = None) -> None:
        conn.authorized_tag = tag
        conn.authorized_mono = self.clock.monotonic()
        conn.pending_profile = profile

    async def _start_transaction(self, conn: _Connector) -> None:
        tag = conn.authorized_tag
        assert tag is not None
        conn.starting = True
        now = self.clock.utcnow()
        reading = self._read(conn)
        meter_start = int(round(reading.energy_wh))
        begin = meter_value(reading, timestamp=now, context="Transaction.Begin",
                            measurands=self._csl("StopTxnSampledData"),
                            resolution_wh=self.config.meter_resolution_wh)
        try:
            res = await self._call(call.StartTransaction(
                connector_id=conn.connector_id, id_tag=tag, meter_start=meter_start, timestamp=iso_utc(now),
                reservation_id=self._reservation_for(conn, tag),
            ), durable=True)
        except Exception:
            conn.starting, conn.authorized_tag, conn.pending_profile = False, None, None
            raise
        conn.transaction = _Transaction(
            transaction_id=res.transaction_id, id_tag=tag, meter_start_wh=meter_start, started_utc=now,
            last_sample_mono=self.clock.monotonic(), begin_value=begin,
        )
        conn.starting, conn.finishing = False, False
        profile, conn.pending_profile = conn.pending_profile, None
        if res.id_tag_info.get("status") != "Accepted":
            await self._stop_transaction(conn, "DeAuthorized")
            return
        if profile is not None:
            ok, reason = self._store.install(conn.connector_id, profile, active_transaction_id=res.transaction_id)
            if not ok:
                log.warning("%s: RemoteStart profile not installed: %s", self.config.charge_point_id, reason)
        self._limits_dirty = True

    async def _stop_transaction(self, conn: _Connector, reason: str) -> None:
        future = self._begin_stop(conn, reason)
        if future is not None:
            await future

    def _begin_stop(self, conn: _Connector, reason: str) -> asyncio.Future | None:
        """End the session now and queue its StopTransaction (the future of its .conf).

        Synchronous on purpose: no tick sees a half-stopped session, and the
        StopTransaction is queued before any status change it causes."""
        tx = conn.transaction
        if tx is None:
            return None
        conn.transaction = None
        self._drive_outputs(conn, self._cp_state(conn))     # power path open before the final reading
        now = self.clock.utcnow()
        reading = self._read(conn)
        end = meter_value(reading, timestamp=now, context="Transaction.End",
                          measurands=self._csl("StopTxnSampledData"),
                          resolution_wh=self.config.meter_resolution_wh)
        conn.authorized_tag = conn.pending_profile = None
        conn.finishing = self._cp_state(conn).is_connected
        F.end_transaction_profiles(self._store, conn.connector_id, self._faults)
        if conn.scheduled_operative is not None:
            conn.operative, conn.scheduled_operative = conn.scheduled_operative, None
        self._limits_dirty = True
        data = [tx.begin_value, end] if self._csl("StopTxnSampledData") else None
        future = self._enqueue(call.StopTransaction(
            meter_stop=int(round(reading.energy_wh)), timestamp=iso_utc(now),
            transaction_id=tx.transaction_id, reason=reason, id_tag=tx.id_tag, transaction_data=data,
        ), durable=True)
        remote.station_after_transaction(self)
        return future

    # ---- control loop ------------------------------------------------------------------------
    async def _control_loop(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:   # a bug in one tick must not silently kill the charger
                log.exception("%s: control tick failed", self.config.charge_point_id)
            await self.clock.sleep(CONTROL_TICK_S)

    def _tick(self) -> None:
        now = self.clock.monotonic()
        evaluate = self._limits_dirty or now >= self._next_limit_eval
        if evaluate:
            self._limits_dirty = False
            self._next_limit_eval = now + LIMIT_EVAL_S
        for conn in self._connectors.values():
            cp = self._cp_state(conn)
            if cp is CpState.A:
                conn.plugged_in_utc = None
            elif conn.plugged_in_utc is None:
                conn.plugged_in_utc = fine_utcnow(self.clock)
            self._session_transitions(conn, cp, now)
            if evaluate:
                self._schedule_limit(conn, now)
            while conn.pending_limits and conn.pending_limits[0][0] <= now:
                conn.applied_limit_a = conn.pending_limits.popleft()[1]
            self._drive_outputs(conn, cp)
            self._report_status(conn, cp)
            tx = conn.transaction
            self._session_faults.tick(tx and tx.transaction_id, tx and tx.started_utc, self.clock.utcnow())
            self._sample_meter(conn, now)
        self._sample_clock_aligned()
        self._tick_reservations()

    def _session_transitions(self, conn: _Connector, cp: CpState, now: float) -> None:
        if conn.transaction and cp is CpState.A:   # StopTransactionOnEVSideDisconnect
            future = self._begin_stop(conn, "EVDisconnected")
            if future is not None:
                future.add_done_callback(_log_failure)
        elif conn.transaction is None and not conn.starting and conn.authorized_tag:
            if cp.is_connected and conn.operative:
                self._spawn(self._start_transaction(conn))
                conn.starting = True    # set now: the task runs after this tick
            elif cp is CpState.A and now - conn.authorized_mono > self._int_key("ConnectionTimeOut"):
                conn.authorized_tag = conn.pending_profile = None
        if cp is CpState.A:
            conn.finishing = False

    def _limit_target(self, conn: _Connector) -> float:
        rated = self.config.rated_current_a
        if F.IGNORES_PROFILE in self._faults:
            return rated
        tx = conn.transaction
        limit = limit_at(
            F.misread_profiles(self._store.profiles, self._faults), conn.connector_id, fine_utcnow(self.clock),
            default_limit_a=rated, voltage_v=self.plant.settings.nominal_voltage_v,
            phases=self.plant.settings.phases,
            transaction_start=F.relative_start(tx.started_utc, conn.plugged_in_utc, self._faults) if tx else None,
            transaction_id=tx.transaction_id if tx else None, ocpp_version=self.OCPP_VERSION,
        )
        return min(limit, rated)

    def _schedule_limit(self, conn: _Connector, now: float) -> None:
        target = self._limit_target(conn)
        if target != conn.target_limit_a:
            conn.target_limit_a = target
            conn.pending_limits.append((self._due(conn, now), target))

    def _due(self, conn: _Connector, now: float) -> float:
        """When a limit change seen now reaches the PWM: after the reaction time, drawn per
        change with realism (never beyond its max), and never before an earlier change."""
        if self._realism is None:
            return now + self._reaction_s
        # The allowed time runs from the change (profile accepted, schedule period begun), but the
        # charger sees a scheduled change up to one evaluation late and moves the PWM on its next
        # tick: keep that latency inside the drawn reaction, so the PWM never changes later than allowed.
        lo, hi = self._realism.settings.reaction_time_s
        reaction = min(self._realism.reaction_time_s(), max(lo, hi - LIMIT_EVAL_S - CONTROL_TICK_S))
        due = now + F.effective_reaction_time_s(reaction, self._faults)
        return max(due, conn.pending_limits[-1][0]) if conn.pending_limits else due

    def _drive_outputs(self, conn: _Connector, cp: CpState) -> None:
        """PWM and contactor of the physical connector (only connector 1 has physics)."""
        if conn.connector_id != 1 or self._session_faults.keeps_power(cp, self.plant.contactor_closed):
            return
        powered = self._power_path_closed(conn, cp)
        offer_a = conn.applied_limit_a
        if F.LIMITS_PHASE_AVERAGE in self._faults and self.plant.contactor_closed:
            phase_currents = [self.plant.current_a(i) for i in range(self.plant.settings.phases)]
            offer_a = min(self.config.rated_current_a, F.offered_current_a(offer_a, phase_currents, self._faults))
        duty = F.offered_duty_pct(current_to_duty_pct(offer_a), self._faults) if powered else 100.0
        if powered and self._realism is not None and duty < 100.0:
            # the PWM generator's duty jitters on every update (each control tick), inside
            # the IEC 61851-1 accuracy the EV must tolerate (config caps it at 0.5 %)
            duty = self._realism.jittered_duty_pct(duty)
        if (self.plant.pwm_on, self.plant.pwm_duty_pct) != (powered, duty):
            self.plant.set_pwm(powered, duty)
        # Close only when current is offered; once closed it may stay closed at 0 A (SuspendedEVSE).
        if powered and cp.is_charging:
            closed = self.plant.contactor_closed or conn.applied_limit_a >= MIN_AC_CURRENT_A
        else:
            closed = False
        if self.plant.contactor_closed != closed:
            self.plant.set_contactor(closed)

    def _power_path_closed(self, conn: _Connector, cp: CpState) -> bool:
        """PWM on (and the contactor free to close): 1.6 offers current during a transaction."""
        return conn.transaction is not None and cp.is_connected

    def _report_status(self, conn: _Connector, cp: CpState) -> None:
        status = derive_status(
            cp=cp, operative=conn.operative, has_transaction=conn.transaction is not None,
            starting=conn.starting, authorized=conn.authorized_tag is not None,
            finishing=conn.finishing, offered_a=conn.applied_limit_a, reserved=self._reserved(conn.connector_id),
        )
        tx = conn.transaction
        if tx is not None and status == "SuspendedEV":
            conn.suspended_in = tx.transaction_id
        if tx is not None:
            status = F.status_while_transaction(status, conn.suspended_in == tx.transaction_id, self._faults)
        status = F.reported_status(status, self._faults)
        error = "OtherError" if status == "Faulted" else "NoError"
        if (status, error) != conn.last_status and self._online.is_set():
            conn.last_status = (status, error)
            info = f"control pilot state {cp.value}" if status == "Faulted" else None
            self._post(self._status_payload(conn.connector_id, status, error, info))

    def _status_payload(self, connector_id: int, status: str, error: str = "NoError",
                        info: str | None = None) -> call.StatusNotification:
        return call.StatusNotification(connector_id=connector_id, error_code=error, status=status,
                                       timestamp=iso_utc(self.clock.utcnow()), info=info)

    # ---- metering ----------------------------------------------------------------------------
    def _cp_state(self, conn: _Connector) -> CpState:
        return self.plant.cp_state() if conn.connector_id == 1 else CpState.A

    def _read(self, conn: _Connector) -> ChargerMeterReading:
        if conn.connector_id == 1:
            return self._meter.read()
        return ChargerMeterReading(0.0, 0.0, (0.0,) * self.plant.settings.phases,
                                   (0.0,) * self.plant.settings.phases)

    def _int_key(self, key: str) -> float:
        return float(self._keys[key].value)

    def _csl(self, key: str) -> list[str]:
        return [m.strip() for m in self._keys[key].value.split(",") if m.strip()]

    def _sample_meter(self, conn: _Connector, now: float) -> None:
        tx = conn.transaction
        interval = self._int_key("MeterValueSampleInterval")
        if tx is None or interval <= 0 or now < tx.last_sample_mono + interval:
            return
        # Keep the cadence (no drift), but never send a burst after a stall.
        tx.last_sample_mono = max(tx.last_sample_mono + interval, now - interval / 2)
        self._send_meter_values(conn, "Sample.Periodic", self._csl("MeterValuesSampledData"))

    def _sample_clock_aligned(self) -> None:
        interval = self._int_key("ClockAlignedDataInterval")
        if interval <= 0:
            return
        utc = self.clock.utcnow()
        if self._next_aligned_utc is None:
            self._next_aligned_utc = self._session_faults.aligned_boundary(_next_boundary(utc, interval), interval)
            return
        if utc < self._next_aligned_utc:
            return
        self._next_aligned_utc = self._session_faults.aligned_boundary(_next_boundary(utc, interval), interval)
        for conn in self._connectors.values():
            self._send_meter_values(conn, "Sample.Clock", self._csl("MeterValuesAlignedData"))

    def _send_meter_values(self, conn: _Connector, context: str, measurands: list[str]) -> None:
        if not measurands:
            return
        tx = conn.transaction
        value = meter_value(self._read(conn), timestamp=self.clock.utcnow(), context=context,
                            measurands=measurands, resolution_wh=self.config.meter_resolution_wh,
                            offered_a=conn.applied_limit_a if tx else 0.0)
        # Transaction data is replayed after a lost connection; the rest is not.
        self._post(call.MeterValues(connector_id=conn.connector_id, meter_value=[value],
                                    transaction_id=tx.transaction_id if tx else None),
                   durable=tx is not None)


def _next_boundary(utc: datetime, interval_s: float) -> datetime:
    midnight = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = (utc - midnight).total_seconds()
    return midnight + timedelta(seconds=(math.floor(elapsed / interval_s) + 1) * interval_s)


def _settle(future: asyncio.Future, *, result: Any = None, exc: BaseException | None = None) -> None:
    """Resolve a future unless its caller already gave up on it (cancelled)."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("OCPP message failed: %s", future.exception())


__all__ = ["ChargerSimConfig", "SimulatedCharger", "derive_status", "wire_profile"]
