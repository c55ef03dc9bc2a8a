"""The simulated charger's station: everything it does whatever OCPP version it speaks.

The station drives the virtual lab's plant: it runs the IEC 61851-1 state machine on
`Plant.cp_state()`, closes the contactor, offers the composite charging limit on the PWM
after its reaction time and counts energy on its own meter. It keeps the connectors and
their sessions, the outbox, the connection to the CSMS (reconnects, reboots, heartbeats),
the local authorization list/cache and the reservations, and applies the faults of
`faults.py` and the realism of `realism.py`. What goes on the wire, and how a session
starts and ends in a version's terms, is its OCPP adapter's (`charger_ocpp16.py`,
`charger_ocpp2x.py`); the adapter reads and changes the station only through the public
methods below.

Concurrency model (why it looks the way it does):
- The `ocpp` library handles incoming CALLs inside its receive loop, so a
  handler must never await an outgoing CALL (the reply would never be read).
  Handlers only decide and answer; what must happen after the answer is sent
  (start, stop, reset, triggered messages) is deferred (`defer`) and run from the
  adapter's `@after` hooks as a tracked task, so the CSMS always sees the answer
  before the follow-up.
- Every outgoing CALL goes through one outbox in order. Transaction messages are
  durable: kept over a lost connection and sent after the next boot. Status and
  heartbeat are dropped while offline (the boot re-sends the statuses).
- A control loop runs the CP state machine, limit, PWM, contactor, status and meter
  sampling. It ticks every CONTROL_TICK_S while anything is going on (an OCPP message,
  a CP or load change, a task of its own finishing: `wake`) and for ACTIVE_WINDOW_S
  after; when idle it sleeps until its next deadline (a limit due on the PWM, a
  schedule breakpoint, a meter sample, a timeout), IDLE_TICK_S at most, so a
  24-hour scenario costs 86,400 ticks rather than 1.7 million, with no event seen
  later than before. All time comes from the Clock.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc, sleep_or_until
from instruments.iec61851 import MIN_AC_CURRENT_A, CpState, current_to_duty_pct
from bench.sim import faults as F
from bench.sim.charger_auth import LocalAuth
from bench.sim.charger_features import ChargerFeatures
from bench.sim.charger_meter import ChargerMeter, ChargerMeterReading
from bench.sim.charger_reservation import Reservations
from bench.sim.charger_security import ChargerSecurity
from bench.sim.charger_transactions import SessionFaults
from bench.sim.plant import Plant
from bench.sim.realism import Realism, fine_utcnow
from bench.smart_charging import ActiveTransaction, CompositeSchedule, composite_schedule, limit_until, make_store

log = logging.getLogger(__name__)

CONTROL_TICK_S = 0.05          # C -> B must open the contactor within 100 ms
ACTIVE_WINDOW_S = 1.0          # after any activity, tick at CONTROL_TICK_S this long (chains of follow-ups)
IDLE_TICK_S = 1.0              # idle: the longest sleep between two ticks, deadlines or not
LIMIT_EVAL_S = 0.2             # the latest a scheduled change is seen: the next breakpoint, or a tick after
LIMIT_HORIZON_S = 3600.0       # evaluate the profiles at least this often, changes or not
RESPONSE_TIMEOUT_S = 30        # ocpp library: wait for a .conf (library I/O timeout)
TRANSACTION_MESSAGE_ATTEMPTS = 3
DEFAULT_HEARTBEAT_S = 60
RETRY_AFTER_PENDING_S = 10     # BootNotification Pending/Rejected with interval 0


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
    boot_on_reconnect: bool = False  # True: a BootNotification on every connection, as some chargers do
    ocpp_version: str = "1.6"     # "1.6", "2.0.1" or "2.1": picks the OCPP adapter (charger.make_charger)
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


# ---- connector and transaction state ---------------------------------------------------

@dataclass
class Transaction:
    transaction_id: int | str  # 1.6 int, 2.x string
    id_tag: str
    meter_start_wh: int
    started_utc: datetime
    last_sample_mono: float
    begin_value: dict          # the Transaction.Begin MeterValue (1.6 form)


@dataclass
class Connector:
    connector_id: int
    operative: bool = True
    scheduled_operative: bool | None = None  # ChangeAvailability Scheduled: applied at tx end
    authorized_tag: str | None = None
    authorized_mono: float = 0.0
    pending_profile: dict | None = None      # TxProfile from a remote start
    transaction: Transaction | None = None
    starting: bool = False
    finishing: bool = False
    last_status: tuple[str, str] | None = None
    target_limit_a: float = 0.0
    applied_limit_a: float = 0.0
    pending_limits: deque = field(default_factory=deque)   # (due monotonic, limit A)
    plugged_in_utc: datetime | None = None   # when the EV was last plugged in (CP left state A)
    suspended_in: Any = None                 # the transaction in which the EV last suspended (SuspendedEV)

    def end_session(self) -> None:
        """The driver's authorization (and the profile that came with it) is gone."""
        self.authorized_tag = self.pending_profile = None


@dataclass
class _Outgoing:
    payload: Any
    durable: bool
    future: asyncio.Future
    attempts: int = 0


class _ConnectionLost(Exception):
    pass


FollowUp = Callable[[], Coroutine[Any, Any, None] | None]


class OcppAdapter(Protocol):
    """What the station needs from the OCPP side of one version: the messages it sends, the
    settings it reads, and how a session starts, ends and is reported in that version."""

    version: str
    subprotocol: Subprotocol
    invalid_csms_certificate: str  # the security event of a refused CSMS certificate

    def link(self, ws: ClientConnection) -> Any: ...            # an ocpp ChargePoint routed to the adapter
    def boot_payload(self) -> Any: ...
    def booted(self) -> None: ...                                # the CSMS accepted the BootNotification
    def heartbeat_payload(self) -> Any: ...
    def security_event_payload(self, kind: str, info: str) -> Any: ...
    def setting_number(self, key: str) -> float: ...             # by 1.6 configuration key name
    def setting_members(self, key: str) -> list[str]: ...
    def heartbeat_set(self, seconds: float) -> None: ...         # the interval is now this: store it
    def auth_flag(self, key: str) -> bool: ...
    async def ask_csms(self, tag: str) -> str | None: ...        # Authorize: the status, None if offline
    async def present_id_tag(self, tag: str) -> str: ...
    def session_transitions(self, conn: Connector, cp: CpState, now: float) -> None: ...
    def power_path_closed(self, conn: Connector, cp: CpState) -> bool: ...
    def report_status(self, conn: Connector, cp: CpState) -> None: ...
    def end_transaction(self, conn: Connector, reason: str) -> asyncio.Future | None: ...
    def send_meter_values(self, conn: Connector, context: str, measurands: list[str]) -> None: ...
    def reservation_ended(self, reservation_id: int, why: str) -> None: ...


class Station:
    """The version-neutral charger; `adapter(station)` makes the OCPP side it speaks."""

    def __init__(self, clock: Clock, plant: Plant, config: ChargerSimConfig,
                 adapter: Callable[[Station], OcppAdapter]) -> None:
        self._realism = config.realism
        # OCPP timestamps come from the charger's own clock (whole seconds with realism)
        self.clock = config.realism.charger_clock(clock) if config.realism else clock
        self.plant = plant
        self.config = config
        self.faults = config.faults
        self._reaction_s = F.effective_reaction_time_s(config.reaction_time_s, config.faults)
        self._meter = ChargerMeter(
            plant,
            initial_register_wh=config.meter_initial_wh,
            energy_gain=F.energy_gain(config.faults),
            current_report_gain=F.current_report_gain(config.faults),
            noise=config.realism.charger_noise if config.realism else None,
            creep_wh_per_h=F.creep_wh_per_h(config.faults),
        )
        self.features = ChargerFeatures.of(config.features)
        self._session_faults = SessionFaults(config.faults, self._meter)
        self.store = make_store(config.ocpp_version, **({} if config.ocpp_version == "1.6" else dict(
            evses=config.connectors, supply_phases=plant.settings.phases)))
        self._security = config.security.with_faults(config.faults)
        self.password = config.security.password
        self._security_events_pending: set[str] = set()  # one event per kind and outage
        self.connectors = {i: Connector(i) for i in range(1, config.connectors + 1)}
        self.local_auth = LocalAuth(ignore_list=F.LOCAL_LIST_IGNORED in config.faults)
        self.reservations = Reservations(ignore=F.RESERVATION_IGNORED in config.faults)
        self.station_operative = True
        self.scheduled_station_operative: bool | None = None  # ChangeAvailability of the whole station: Scheduled
        self._heartbeat_s = float(DEFAULT_HEARTBEAT_S)
        self._heartbeat_changed = asyncio.Event()  # a new interval restarts the heartbeat timer
        self._follow_ups: dict[str, FollowUp] = {}
        self._tasks: set[asyncio.Task] = set()
        self._main_tasks: list[asyncio.Task] = []
        self._outbox: asyncio.Queue[_Outgoing] | None = None
        self._online = asyncio.Event()
        self._link: Any = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._reboot_requested = False
        self._needs_boot = True  # powered up: the first connection boots; a reboot boots again
        self._boot_delay_s = 0.0  # set when going down for a reboot: how long until it connects again
        self._limits_dirty = True
        self._next_limit_eval = 0.0
        self._limit_sessions: tuple = ()
        self._leaked: list[bytearray] = []  # the leaks_memory fault's
        self._next_aligned_utc: datetime | None = None
        self._wake = asyncio.Event()
        self._active_until = 0.0
        plant.listeners.append(self.wake)
        self.boot_count = 0
        self.adapter = adapter(self)
        self.unsupported_actions = self.features.unsupported_actions(config.ocpp_version)

    @property
    def ocpp_version(self) -> str:
        return self.config.ocpp_version

    # ---- public: the bench and the tests --------------------------------------------------
    async def start(self) -> None:
        """Start connecting (retrying until the CSMS is up), boot, and run. Returns at once."""
        if self._main_tasks:
            return
        self._outbox = asyncio.Queue()
        for conn in self.connectors.values():
            conn.target_limit_a = conn.applied_limit_a = self._limit_target(conn)[0]
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
        if self.wake in self.plant.listeners:
            self.plant.listeners.remove(self.wake)
        self.plant.set_contactor(False)
        self.plant.set_pwm(False, 100.0)

    async def wait_online(self) -> None:
        """Until the charger is connected and its BootNotification was accepted."""
        await self._online.wait()

    @property
    def online(self) -> bool:
        return self._online.is_set()

    def connector_status(self, connector_id: int = 1) -> str | None:
        last = self.connectors[connector_id].last_status
        return last[0] if last else None

    def transaction_id(self, connector_id: int = 1) -> int | str | None:
        tx = self.connectors[connector_id].transaction
        return tx.transaction_id if tx else None

    def applied_limit_a(self, connector_id: int = 1) -> float:
        return self.connectors[connector_id].applied_limit_a

    def limits_settled(self, connector_id: int = 1) -> bool:
        """No limit change waiting to be evaluated or to reach the PWM."""
        return not self.connectors[connector_id].pending_limits and not self._limits_dirty

    def meter_register_wh(self) -> float:
        return self._meter.register_wh()

    async def present_id_tag(self, tag: str) -> str:
        """An RFID swipe: stops the transaction it started, else authorizes (the CSMS online, the
        local list or cache offline) and a session starts as the version says. The status."""
        return await self.adapter.present_id_tag(tag)

    # ---- public: for the OCPP adapter and the feature modules ---------------------------------
    def connector(self, connector_id: int | None) -> Connector | None:
        return self.connectors.get(connector_id) if connector_id is not None else None

    def running(self) -> list[Connector]:
        """The connectors with a transaction."""
        return [c for c in self.connectors.values() if c.transaction]

    def with_transaction(self, transaction_id: Any) -> Connector | None:
        return next((c for c in self.connectors.values()
                     if c.transaction and c.transaction.transaction_id == transaction_id), None)

    def active_transactions(self) -> dict[int, ActiveTransaction]:
        return {c.connector_id: ActiveTransaction(c.transaction.started_utc, c.transaction.transaction_id)
                for c in self.connectors.values() if c.transaction}

    def composite_schedule(self, connector_id: int, start: datetime, duration_s: int,
                           unit: str | None) -> CompositeSchedule:
        """The limit over the next `duration_s` as the charger understands its profiles."""
        return composite_schedule(
            F.misread_profiles(self.store.profiles, self.faults), connector_id, start, duration_s,
            default_limit_a=self.config.rated_current_a, voltage_v=self.plant.settings.nominal_voltage_v,
            phases=self.plant.settings.phases, transactions=self.active_transactions(),
            connectors=self.config.connectors, unit=unit or "A", ocpp_version=self.ocpp_version)

    def cp_state(self, conn: Connector) -> CpState:
        return self.plant.cp_state() if conn.connector_id == 1 else CpState.A

    def read(self, conn: Connector) -> ChargerMeterReading:
        if conn.connector_id == 1:
            return self._meter.read()
        return ChargerMeterReading(0.0, 0.0, (0.0,) * self.plant.settings.phases,
                                   (0.0,) * self.plant.settings.phases)

    def limits_changed(self) -> None:
        """Profiles or sessions changed: evaluate the limit on the next tick."""
        self._limits_dirty = True
        self.wake()

    def wake(self) -> None:
        """Something happened: tick now, and at CONTROL_TICK_S for ACTIVE_WINDOW_S."""
        self._active_until = self.clock.monotonic() + ACTIVE_WINDOW_S
        self._wake.set()

    def clock_aligned_changed(self) -> None:
        """The clock-aligned interval changed: the next boundary is computed afresh."""
        self._next_aligned_utc = None

    def set_heartbeat(self, seconds: float) -> None:
        self._heartbeat_s = float(seconds)
        self.adapter.heartbeat_set(seconds)
        self._heartbeat_changed.set()

    def can_take_new_session(self, conn: Connector) -> bool:
        return (conn.operative and conn.transaction is None and not conn.starting
                and conn.authorized_tag is None and self.cp_state(conn) not in (CpState.E, CpState.F))

    def authorize(self, conn: Connector, tag: str, profile: dict | None = None) -> None:
        conn.authorized_tag = tag
        conn.authorized_mono = self.clock.monotonic()
        conn.pending_profile = profile
        self.wake()

    def connection_timed_out(self, conn: Connector, now: float) -> bool:
        """Authorized, never plugged in within ConnectionTimeOut: the authorization lapses."""
        return (conn.transaction is None and conn.authorized_tag is not None and self.cp_state(conn) is CpState.A
                and now - conn.authorized_mono > self.adapter.setting_number("ConnectionTimeOut"))

    def transaction_ended(self, conn: Connector) -> None:
        """The transaction on `conn` is over (its last message queued): its TxProfiles go (as the
        faults say) and a Scheduled availability change of the connector happens."""
        F.end_transaction_profiles(self.store, conn.connector_id, self.faults)
        if conn.scheduled_operative is not None:
            conn.operative, conn.scheduled_operative = conn.scheduled_operative, None
        self.limits_changed()

    def end_transaction(self, conn: Connector, reason: str) -> asyncio.Future | None:
        """End the session now (the adapter queues its last message); the future of its answer."""
        return self.adapter.end_transaction(conn, reason)

    def end_transaction_logged(self, conn: Connector, reason: str) -> None:
        future = self.end_transaction(conn, reason)
        if future is not None:
            future.add_done_callback(log_failure)

    async def stop_transaction(self, conn: Connector, reason: str) -> None:
        future = self.end_transaction(conn, reason)
        if future is not None:
            await future

    async def authorization_status(self, tag: str) -> str:
        """Is `tag` allowed to charge? The CSMS's word online, the list or the cache otherwise
        (charger_auth.py has the rules)."""
        flag = self.adapter.auth_flag
        local = self.local_auth.local_status(tag, use_list=flag("LocalAuthListEnabled"),
                                             use_cache=flag("AuthorizationCacheEnabled"))
        if self._online.is_set():
            if local == "Accepted" and flag("LocalPreAuthorize"):
                return "Accepted"
            status = await self.adapter.ask_csms(tag)
            if status is not None:
                if flag("AuthorizationCacheEnabled"):
                    self.local_auth.cache[tag] = status
                return F.authorization_as_read(status, self.faults)
        if local == "Accepted" and flag("LocalAuthorizeOffline"):
            return "Accepted"
        return "Invalid"

    def clear_sessions(self) -> None:
        """Before a reboot: nobody is authorized and nothing is finishing any more."""
        for conn in self.connectors.values():
            conn.end_session()
            conn.finishing = False

    def drive_outputs(self, conn: Connector, cp: CpState) -> None:
        """PWM and contactor of the physical connector (only connector 1 has physics)."""
        if conn.connector_id != 1 or self._session_faults.keeps_power(cp, self.plant.contactor_closed):
            return
        powered = self.adapter.power_path_closed(conn, cp)
        offer_a = conn.applied_limit_a
        if F.LIMITS_PHASE_AVERAGE in self.faults and self.plant.contactor_closed:
            phase_currents = [self.plant.current_a(i) for i in range(self.plant.settings.phases)]
            offer_a = min(self.config.rated_current_a, F.offered_current_a(offer_a, phase_currents, self.faults))
        duty = F.offered_duty_pct(current_to_duty_pct(offer_a), self.faults) if powered else 100.0
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

    # ---- outbox --------------------------------------------------------------------------
    def enqueue(self, payload: Any, *, durable: bool) -> asyncio.Future:
        """Queue a CALL in order with everything else; the future of its answer."""
        assert self._outbox is not None, "start() first"
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self.wake())  # the answer may move a session on
        self._outbox.put_nowait(_Outgoing(payload, durable, future))
        self.wake()
        return future

    async def call(self, payload: Any, *, durable: bool) -> Any:
        """Send in order with everything else; the answer, or None if dropped."""
        return await self.enqueue(payload, durable=durable)

    def post(self, payload: Any, *, durable: bool = False) -> None:
        """Fire and forget (errors are logged); a non-durable message is dropped while offline."""
        if not durable and not self._online.is_set():
            return
        if F.LEAKS_MEMORY in self.faults:
            self._leaked.append(bytearray(int(F.magnitude(F.LEAKS_MEMORY, "kib_per_message") * 1024)))
        self.enqueue(payload, durable=durable).add_done_callback(log_failure)
        if F.FOREIGN_ACTION in self.faults and type(payload).__name__ == "StatusNotification":
            self.spawn(self._send_foreign_action())

    async def _send_foreign_action(self) -> None:
        """The foreign_action fault: a CALL of another OCPP version's action, raw on the socket."""
        if self._ws is not None:
            action = "TransactionEvent" if self.ocpp_version == "1.6" else "StartTransaction"
            await self._ws.send(json.dumps([2, str(uuid.uuid4()), action, {}]))

    async def report_transfer(self, payload: Any) -> None:
        """In order, kept over a lost connection (a reboot), answered before the flow goes on."""
        try:
            await self.call(payload, durable=True)
        except (OCPPError, TimeoutError) as exc:
            log.warning("%s: %s not delivered: %r", self.config.charge_point_id, type(payload).__name__, exc)

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

    # ---- follow-ups after an answer ------------------------------------------------------------
    def defer(self, call_unique_id: str, action: FollowUp) -> None:
        """Run `action` once the answer to the CALL `call_unique_id` is on the wire."""
        self._follow_ups[call_unique_id] = action

    def drop_follow_up(self, call_unique_id: str) -> None:
        self._follow_ups.pop(call_unique_id, None)

    def run_follow_up(self, call_unique_id: str) -> None:
        action = self._follow_ups.pop(call_unique_id, None)
        if action is None:
            return
        result = action()
        if asyncio.iscoroutine(result):
            self.spawn(result)

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _main_task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: %s stopped", self.config.charge_point_id, task.get_name(), exc_info=task.exception())

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self.wake()
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task failed", self.config.charge_point_id, exc_info=task.exception())

    # ---- connection --------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        url = f"{self.config.csms_url.rstrip('/')}/{self.config.charge_point_id}"
        subprotocol = self.adapter.subprotocol
        backoff = self.config.reconnect_min_s
        while True:
            try:
                ws = await connect(self._security.url(url), subprotocols=[subprotocol], open_timeout=10,
                                   close_timeout=2, **self._security.connect_options(
                                       self.config.charge_point_id, self.password))
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self._note_connection_failure(exc)
                log.info("%s: CSMS not reachable (%s), retry in %.1f s", self.config.charge_point_id, exc, backoff)
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.config.reconnect_max_s)
                continue
            if ws.subprotocol != subprotocol:
                log.warning("%s: CSMS did not accept subprotocol %s", self.config.charge_point_id, subprotocol)
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
        self._link = link = self.adapter.link(ws)
        link.on_activity = self.wake  # every message from the CSMS
        self._reader = asyncio.create_task(link.start(), name=f"{self.config.charge_point_id}-reader")
        heartbeat: asyncio.Task | None = None
        try:
            # a reconnect without a reboot sends no BootNotification (OCPP-J 1.6 section 5.4, 2.0.1
            # part 4 section 5.3: only when something in it changed); some chargers boot anyway
            booting = self._needs_boot or self.config.boot_on_reconnect
            if booting:
                await self._boot(link)
                self.boot_count += 1
            self._needs_boot = False
            self._online.set()
            self.wake()
            self._security_events_pending.clear()
            for conn in self.connectors.values():
                conn.last_status = None     # the control loop re-sends every connector's status
            if booting:
                self.adapter.booted()
            self._session_faults.after_reconnect(self._outbox)
            heartbeat = asyncio.create_task(self._heartbeat_loop())
            await asyncio.wait({self._reader})
        except _ConnectionLost:
            pass
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:   # boot failed: reconnect
            log.warning("%s: boot failed: %r", self.config.charge_point_id, exc)
        finally:
            self._online.clear()
            self.wake()
            for t in (heartbeat, self._reader):
                if t is not None:
                    t.cancel()
                    await asyncio.gather(t, return_exceptions=True)
            await ws.close()
            self._link = self._reader = self._ws = None
            log.info("%s: connection closed", self.config.charge_point_id)

    async def _boot(self, link: Any) -> None:
        while True:
            res = await self._call_on_link(link, self.adapter.boot_payload())
            if res.interval > 0:
                self.set_heartbeat(res.interval)
            if res.status == "Accepted" or (res.status == "Pending" and F.PENDING_BOOT_IGNORED in self.faults):
                return
            await self.clock.sleep(res.interval or RETRY_AFTER_PENDING_S)

    async def triggered_boot(self) -> None:
        """A BootNotification the CSMS asked for (TriggerMessage)."""
        res = await self.call(self.adapter.boot_payload(), durable=False)
        if res is not None and res.interval > 0:
            self.set_heartbeat(res.interval)

    def _note_connection_failure(self, exc: BaseException) -> None:
        """A TLS handshake we refused is a security event, reported once connected again (A05/TC_A_05)."""
        if isinstance(exc, ssl.SSLCertVerificationError):
            kind, info = self.adapter.invalid_csms_certificate, exc.verify_message
        elif isinstance(exc, ssl.SSLError) and any(w in (exc.reason or "") for w in ("VERSION", "PROTOCOL")):
            kind, info = "InvalidTLSVersion", str(exc.reason)
        else:
            return
        if kind not in self._security_events_pending:
            self._security_events_pending.add(kind)
            self.enqueue(self.adapter.security_event_payload(kind, info), durable=True).add_done_callback(log_failure)

    async def reconnect(self) -> None:
        """Close the connection; the connection loop comes back at once (new credentials, reset)."""
        self._reboot_requested = True
        if self._ws is not None:
            await self._ws.close()

    async def reboot(self) -> None:
        """Go down and boot again after the features' reboot time (Reset, new firmware)."""
        self._boot_delay_s = self.features.reboot_s
        self._needs_boot = True
        F.after_reboot(self.store, self.faults)  # profiles persist over a reboot (1.6 errata 3.37)
        await self.reconnect()

    async def reboot_for_firmware(self, version: str) -> None:
        """The new firmware runs after a reboot: the next BootNotification names it."""
        self.config.firmware = version
        await self.reboot()

    def diagnostics_text(self) -> str:
        c = self.config
        lines = [f"charger {c.charge_point_id} vendor {c.vendor} model {c.model} firmware {c.firmware}",
                 f"OCPP {c.ocpp_version}, boots {self.boot_count}, at {iso_utc(self.clock.utcnow())}"]
        lines += [f"connector {i}: {conn.last_status[0] if conn.last_status else 'unknown'}"
                  for i, conn in self.connectors.items()]
        return "\n".join(lines) + "\n"

    async def _heartbeat_loop(self) -> None:
        """A Heartbeat every interval; a new interval (boot answer, configuration) starts a new timer."""
        while True:
            interval = F.heartbeat_interval_s(self._heartbeat_s, self.faults)
            self._heartbeat_changed.clear()
            elapsed = await sleep_or_until(self.clock, interval if interval > 0 else 1.0, self._heartbeat_changed)
            if elapsed and interval > 0:
                self.post(self.adapter.heartbeat_payload())

    async def _call_on_link(self, link: Any, payload: Any) -> Any:
        """One CALL, abandoned as soon as the connection under it is lost."""
        reader = self._reader
        assert reader is not None
        pending = asyncio.ensure_future(link.call(payload, suppress=False))
        done, _ = await asyncio.wait({pending, reader}, return_when=asyncio.FIRST_COMPLETED)
        if pending in done:
            return pending.result()
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        raise _ConnectionLost()

    # ---- control loop ------------------------------------------------------------------------
    async def _control_loop(self) -> None:
        while True:
            try:
                self._tick()
                delay = self._next_tick_in()
            except Exception:   # a bug in one tick must not silently kill the charger
                log.exception("%s: control tick failed", self.config.charge_point_id)
                delay = CONTROL_TICK_S
            if delay <= CONTROL_TICK_S:
                await self.clock.sleep(delay)
            else:
                await self._idle(delay)

    async def _idle(self, seconds: float) -> None:
        """Sleep `seconds`, or until `wake`."""
        self._wake.clear()
        await sleep_or_until(self.clock, seconds, self._wake)

    def _next_tick_in(self) -> float:
        """CONTROL_TICK_S while active; idle, the time to the next deadline (IDLE_TICK_S at most)."""
        now = self.clock.monotonic()
        if now < self._active_until:
            return CONTROL_TICK_S
        due = min([now + IDLE_TICK_S, self._next_limit_eval, *self._deadlines(now)])
        return min(IDLE_TICK_S, max(CONTROL_TICK_S, due - now))

    def _deadlines(self, now: float) -> list[float]:
        """When the tick next has something to do on its own: a limit reaching the PWM, a meter
        sample, a clock-aligned sample, a reservation expiring, an authorization lapsing."""
        out: list[float] = []
        utc = fine_utcnow(self.clock)

        def at_utc(when: datetime) -> float:
            return now + (when - utc).total_seconds()

        interval = self.adapter.setting_number("MeterValueSampleInterval")
        timeout = self.adapter.setting_number("ConnectionTimeOut")
        for conn in self.connectors.values():
            if conn.pending_limits:
                out.append(conn.pending_limits[0][0])
            tx = conn.transaction
            if tx is not None:
                if interval > 0:
                    out.append(tx.last_sample_mono + interval)
                out += [at_utc(tx.started_utc + timedelta(seconds=s)) for s in self._session_faults.deadlines_s()]
            elif conn.authorized_tag is not None:
                out.append(conn.authorized_mono + timeout + 1e-3)  # lapses once strictly past it
        if self._next_aligned_utc is not None:
            out.append(at_utc(self._next_aligned_utc))
        out += [at_utc(expiry) for expiry in self.reservations.expiries()]
        return out

    def _tick(self) -> None:
        now = self.clock.monotonic()
        # what a limit depends on besides the profiles and the time: the sessions (a Relative or
        # TxProfile counts from them)
        sessions = tuple((c.transaction.transaction_id if c.transaction else None,
                          c.transaction.started_utc if c.transaction else None, c.plugged_in_utc)
                         for c in self.connectors.values())
        evaluate = self._limits_dirty or now >= self._next_limit_eval or sessions != self._limit_sessions
        self._limit_sessions = sessions
        if evaluate:
            # until the profiles' next breakpoint (or a change to them) the limit stays as it is
            self._limits_dirty = False
            self._next_limit_eval = now + LIMIT_HORIZON_S
        for conn in self.connectors.values():
            cp = self.cp_state(conn)
            if cp is CpState.A:
                conn.plugged_in_utc = None
            elif conn.plugged_in_utc is None:
                conn.plugged_in_utc = fine_utcnow(self.clock)
            self.adapter.session_transitions(conn, cp, now)
            if evaluate:
                self._schedule_limit(conn, now)
            while conn.pending_limits and conn.pending_limits[0][0] <= now:
                conn.applied_limit_a = conn.pending_limits.popleft()[1]
            self.drive_outputs(conn, cp)
            self.adapter.report_status(conn, cp)
            tx = conn.transaction
            self._session_faults.tick(tx.transaction_id if tx else None, tx.started_utc if tx else None,
                                      self.clock.utcnow())
            self._sample_meter(conn, now)
        self._sample_clock_aligned()
        for r in self.reservations.expire(self.clock.utcnow()):
            self.adapter.reservation_ended(r.reservation_id, "Expired")

    def _limit_target(self, conn: Connector) -> tuple[float, float]:
        """The composite limit now (capped at the rating) and the seconds it holds at least."""
        rated = self.config.rated_current_a
        if F.IGNORES_PROFILE in self.faults:
            return rated, LIMIT_HORIZON_S
        tx = conn.transaction
        limit, holds_s = limit_until(
            F.misread_profiles(self.store.profiles, self.faults), conn.connector_id, fine_utcnow(self.clock),
            horizon_s=LIMIT_HORIZON_S, default_limit_a=rated, voltage_v=self.plant.settings.nominal_voltage_v,
            phases=self.plant.settings.phases,
            transaction_start=F.relative_start(tx.started_utc, conn.plugged_in_utc, self.faults) if tx else None,
            transaction_id=tx.transaction_id if tx else None, ocpp_version=self.ocpp_version,
        )
        return min(limit, rated), holds_s

    def _schedule_limit(self, conn: Connector, now: float) -> None:
        target, holds_s = self._limit_target(conn)
        self._next_limit_eval = min(self._next_limit_eval, now + holds_s)
        if target != conn.target_limit_a:
            conn.target_limit_a = target
            conn.pending_limits.append((self._due(conn, now), target))

    def _due(self, conn: Connector, now: float) -> float:
        """When a limit change seen now reaches the PWM: after the reaction time, drawn per
        change with realism (never beyond its max), and never before an earlier change."""
        if self._realism is None:
            return now + self._reaction_s
        # The allowed time runs from the change (profile accepted, schedule period begun), but the
        # charger sees a scheduled change up to one evaluation late and moves the PWM on its next
        # tick: keep that latency inside the drawn reaction, so the PWM never changes later than allowed.
        lo, hi = self._realism.settings.reaction_time_s
        reaction = min(self._realism.reaction_time_s(), max(lo, hi - LIMIT_EVAL_S - CONTROL_TICK_S))
        due = now + F.effective_reaction_time_s(reaction, self.faults)
        return max(due, conn.pending_limits[-1][0]) if conn.pending_limits else due

    # ---- metering ----------------------------------------------------------------------------
    def _sample_meter(self, conn: Connector, now: float) -> None:
        tx = conn.transaction
        interval = self.adapter.setting_number("MeterValueSampleInterval")
        if tx is None or interval <= 0 or now < tx.last_sample_mono + interval:
            return
        # Keep the cadence (no drift), but never send a burst after a stall.
        tx.last_sample_mono = max(tx.last_sample_mono + interval, now - interval / 2)
        self.adapter.send_meter_values(conn, "Sample.Periodic", self.adapter.setting_members("MeterValuesSampledData"))

    def _sample_clock_aligned(self) -> None:
        interval = self.adapter.setting_number("ClockAlignedDataInterval")
        if interval <= 0:
            return
        utc = self.clock.utcnow()
        if self._next_aligned_utc is None:
            self._next_aligned_utc = self._session_faults.aligned_boundary(_next_boundary(utc, interval), interval)
            return
        if utc < self._next_aligned_utc:
            return
        self._next_aligned_utc = self._session_faults.aligned_boundary(_next_boundary(utc, interval), interval)
        for conn in self.connectors.values():
            self.adapter.send_meter_values(conn, "Sample.Clock", self.adapter.setting_members("MeterValuesAlignedData"))


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


def log_failure(future: asyncio.Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("OCPP message failed: %s", future.exception())
