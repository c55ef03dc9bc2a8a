"""`Dut`: the version-neutral handle on one charger that scenario steps use.

A `Dut` exists before its charger connects (`CsmsServer.dut(cp_id)`); each
connection attaches a version adapter (a `DutSession`: `v16.V16Session`,
`v201.V201Session`, `v21.V21Session`) and a reconnect re-attaches. The
adapters feed what the charger says into the `record_*` methods below;
commands go out through the attached session, in the words of its version:
scenarios say what they mean (start a transaction on connector 1, clear the
profiles) and the same call works on 1.6, 2.0.1 and 2.1. A few commands exist
only in 2.x (device model, display messages, GetChargingProfiles); on a 1.6
charger they raise `DutNotSupported`.

Every wait is measured on the injected Clock (no loop-time timeouts), so a
faster-than-real clock speeds up waits and timeouts alike.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from bench.clock import Clock
from bench.csms.events import (
    DutEvent,
    DutIdentity,
    EventKind,
    EventLog,
    FileTransferAnswer,
    Finding,
    MeterSample,
    Transaction,
)
from bench.csms.profiles import to_version

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0
ABORT_GRACE_S = 0.5  # after a disconnect, how long an answer already received may take to come through


REPLACED = "replaced by a new connection"  # why a DISCONNECTED event happened: another client took the id

class DutError(Exception):
    """The charger did not do what a command or a wait expected."""


class DutNotConnected(DutError):
    """No connection to the charger (or it dropped while we waited for an answer)."""


class DutTimeout(DutError):
    """The charger did not answer, or the awaited event did not come, in time."""

    rule = "OCPP-J section 4.1.1: a CALL is answered by a CALLRESULT or CALLERROR"


class ReportNotSent(DutTimeout):
    """The charger answered a request Accepted whose data comes in later messages carrying its
    requestId (NotifyReport, ReportChargingProfiles, NotifyDisplayMessages) and did not send them."""

    rule = "an Accepted answer promises the messages of that requestId"


# How long the messages an Accepted report request promises may take, after its answer
REPORT_TIMEOUT_S = 30.0


class DutCallError(DutError):
    """The charger answered our call with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str, details: Any = None) -> None:
        super().__init__(f"{action}: the charger answered CALLERROR {code}: {description} {details or ''}".rstrip())
        self.action = action
        self.code = code
        self.description = description
        self.details = details


class DutProtocolError(DutError):
    """The charger's answer to our call violates the OCPP schema (also a Finding)."""


class DutNotSupported(DutError):
    """The command does not exist in the OCPP version the charger speaks (a bench or
    scenario choice, not the charger's fault)."""


class InvalidRequest(ValueError):
    """The bench tried to send a payload that fails the OCPP schema: a bench or
    scenario error, not the charger's fault; nothing was sent."""


class DutSession(Protocol):
    """What a version adapter offers for one live connection (2.x adds the
    methods listed in `V2X_ONLY`)."""

    ocpp_version: str

    async def remote_start(self, connector_id: int | None, id_tag: str, charging_profile: dict | None) -> str: ...
    async def remote_stop(self, transaction_id: int | str) -> str: ...
    async def set_charging_profile(self, connector_id: int, profile: dict) -> str: ...
    async def clear_charging_profile(
        self, id: int | None, connector_id: int | None, purpose: str | None, stack_level: int | None
    ) -> str: ...
    async def get_composite_schedule(self, connector_id: int, duration_s: int, unit: str | None) -> dict: ...
    async def get_configuration(self, keys: list[str] | None) -> dict: ...
    async def change_configuration(self, key: str, value: str) -> str: ...
    async def trigger_message(self, message: str, connector_id: int | None) -> str: ...
    async def reset(self, kind: str) -> str: ...
    async def unlock_connector(self, connector_id: int) -> str: ...
    async def change_availability(self, connector_id: int, kind: str) -> str: ...
    async def configure_metering(self, sample_interval_s: int, measurands: str) -> dict[str, str]: ...
    async def set_basic_auth_password(self, password: str) -> str: ...
    async def set_security_profile(self, profile: int, csms_url: str, slot: int = 1) -> str: ...
    async def update_firmware(self, location: str, retrieve_at: datetime | None, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer: ...
    async def get_diagnostics(self, location: str, retries: int | None,
                              retry_interval_s: int | None) -> FileTransferAnswer: ...
    async def send_local_list(self, version: int, update_type: str, entries: list[tuple[str, str | None]]) -> str: ...
    async def get_local_list_version(self) -> int: ...
    async def clear_cache(self) -> str: ...
    async def reserve_now(self, connector_id: int | None, id_tag: str, expiry: str, reservation_id: int) -> str: ...
    async def cancel_reservation(self, reservation_id: int) -> str: ...


# Commands only a 2.x adapter has (the Dut raises DutNotSupported on 1.6).
V2X_ONLY = frozenset({"get_variables", "set_variables", "get_base_report", "get_charging_profiles",
                      "set_display_message", "get_display_messages", "clear_display_message"})


class _Expired(Exception):
    pass


class _Aborted(Exception):
    pass


async def race(clock: Clock, awaitable: Awaitable[T], timeout_s: float, abort: asyncio.Future | None = None) -> T:
    """Await `awaitable` for at most `timeout_s` of clock time; raise _Expired on
    timeout and _Aborted if `abort` completes first. The loser is cancelled."""
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(timeout_s))
    waiting: set[asyncio.Future] = {work, timer}
    if abort is not None:
        waiting.add(abort)
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if abort is not None and abort.done() and not work.done():
            # An answer that arrived just before the connection closed (e.g. Reset) may still be
            # in the library's hands (schema validation runs in a thread): give it a moment.
            await asyncio.wait({work, asyncio.ensure_future(clock.sleep(ABORT_GRACE_S))},
                               return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, timer):
            if not task.done():
                task.cancel()
        # Let cancelled work unwind (e.g. release the library's call lock) before we go on.
        await asyncio.gather(work, timer, return_exceptions=True)
    if work.done() and not work.cancelled():
        return work.result()
    if abort is not None and abort.done():
        raise _Aborted()
    raise _Expired()


class Dut:
    def __init__(self, cp_id: str, clock: Clock, default_timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.cp_id = cp_id
        self.default_timeout_s = default_timeout_s
        self._clock = clock
        self.events = EventLog()  # read like a list; heartbeats kept compactly
        self.findings: list[Finding] = []
        self.transactions: dict[int | str, Transaction] = {}
        self.meter_samples: list[MeterSample] = []  # all of them, with or without a transaction
        self.identity: DutIdentity | None = None
        self._statuses: dict[int, str] = {}
        self._session: DutSession | None = None
        self._detached: asyncio.Future[None] | None = None
        self._last_version: str | None = None
        self._changed = asyncio.Event()
        self._boot_answers: list[tuple[str, int | None]] = []  # the next boots' answers (set_boot_answer)
        self.server: Any = None  # the CsmsServer it belongs to: security controls (TLS probes, passwords)
        # What the bench changed on the DUT since `journal_clear()`, so the position reset can undo
        # exactly that: 1.6 key / 2.x variable ref -> its value before (None: it could not be read),
        # and the reservations it made that may still hold the connector.
        self.changed_keys: dict[str, str | None] = {}
        self.changed_variables: dict[tuple[str, ...], str | None] = {}
        self.open_reservations: set[int] = set()

    # ----------------------------------------------------------------- state
    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def ocpp_version(self) -> str | None:
        """Version of the current (or last) connection; None before the first."""
        return self._last_version

    @property
    def security_profile(self) -> int | None:
        """OCPP security profile of the current (or last) connection; None before the first."""
        event = self.events.last(EventKind.CONNECTED)
        return None if event is None else event.data.get("security_profile")

    def wire_profile(self, profile: dict) -> dict:
        """`profile` (1.6 or 2.x form) in the form of the version the charger speaks."""
        if self._last_version is None:
            raise DutNotConnected(f"{self.cp_id} has not connected yet: its OCPP version is unknown")
        return to_version(profile, self._last_version)

    def status(self, connector_id: int) -> str | None:
        """Last status the charger reported for this connector (0 = the whole charger)."""
        return self._statuses.get(connector_id)

    def active_transaction(self, connector_id: int) -> Transaction | None:
        running = [t for t in self.transactions.values() if t.connector_id == connector_id and t.running]
        return max(running, key=lambda t: t.t_start_mono_s) if running else None

    def set_boot_answer(self, status: Literal["Accepted", "Pending", "Rejected"], interval_s: int | None = None,
                        times: int = 1) -> None:
        """Answer the next `times` BootNotifications with `status` and `interval_s` (None: the
        CSMS's heartbeat interval); later boots get the normal answer again (Accepted), so a
        scenario that stops half-way leaves no charger stuck in Pending."""
        self._boot_answers = [(status, interval_s)] * times

    def boot_answer(self, default_interval_s: int) -> tuple[str, int]:
        """(status, interval) for the BootNotification being answered now (the adapters ask)."""
        if self._boot_answers:
            status, interval = self._boot_answers.pop(0)
            return status, default_interval_s if interval is None else interval
        return "Accepted", default_interval_s

    def mark(self) -> int:
        """Index to pass as `since_index` to wait only for events after now."""
        return len(self.events)

    # ----------------------------------------------------------------- waits
    async def wait_connected(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        deadline = self._clock.monotonic() + timeout_s
        while not self.connected:
            await self._wait_change(deadline, f"{self.cp_id} did not connect within {timeout_s:g} s")

    async def wait_for(
        self,
        kind: str,
        predicate: Callable[[DutEvent], bool] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        since_index: int | None = None,
    ) -> DutEvent:
        """First event of `kind` matching `predicate`, looking at events from
        `since_index` on (default 0: the whole history, so an event that came
        before the call is found too; use `mark()` to exclude the past)."""
        kind = EventKind(kind)  # a typo fails now, not after the timeout
        index = since_index or 0
        deadline = self._clock.monotonic() + timeout_s
        while True:
            for event in self.events[index:]:
                if event.kind == kind and (predicate is None or predicate(event)):
                    return event
            index = len(self.events)
            await self._wait_change(deadline, f"{self.cp_id}: no {kind.value!r} event within {timeout_s:g} s")

    async def _wait_change(self, deadline: float, message: str) -> None:
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0:
            raise DutTimeout(message)
        changed = self._changed  # grabbed synchronously after the check: no lost wake-up
        try:
            await race(self._clock, changed.wait(), remaining)
        except _Expired:
            raise DutTimeout(message) from None

    # -------------------------------------------------------------- commands
    async def remote_start(
        self, connector_id: int | None, id_tag: str, charging_profile: dict | None = None, *,
        timeout_s: float | None = None,
    ) -> str:
        return await self._command(
            "RemoteStart", lambda s: s.remote_start(connector_id, id_tag, charging_profile), timeout_s
        )

    async def remote_stop(self, transaction_id: int | str, *, timeout_s: float | None = None) -> str:
        return await self._command("RemoteStop", lambda s: s.remote_stop(transaction_id), timeout_s)

    async def set_charging_profile(self, connector_id: int, profile: dict, *, timeout_s: float | None = None) -> str:
        """`profile` in wire camelCase, in the 1.6 or the 2.x form (the adapter translates,
        see `wire_profile`). `connector_id` is the 2.x evseId."""
        return await self._command(
            "SetChargingProfile", lambda s: s.set_charging_profile(connector_id, profile), timeout_s
        )

    async def clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
        *,
        timeout_s: float | None = None,
    ) -> str:
        return await self._command(
            "ClearChargingProfile",
            lambda s: s.clear_charging_profile(id, connector_id, purpose, stack_level),
            timeout_s,
        )

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None = None, *, timeout_s: float | None = None
    ) -> dict:
        """The charger's answer payload as on the wire (camelCase; 1.6: chargingSchedule and
        scheduleStart, 2.x: schedule)."""
        return await self._command(
            "GetCompositeSchedule", lambda s: s.get_composite_schedule(connector_id, duration_s, unit), timeout_s
        )

    async def get_configuration(self, keys: list[str] | None = None, *, timeout_s: float | None = None) -> dict:
        """The 1.6 keys' values as {"configurationKey": [...], "unknownKey": [...]} (2.x: read with
        GetVariables from the variables the keys map to, see v201.CONFIG_KEYS)."""
        return await self._command("GetConfiguration", lambda s: s.get_configuration(keys), timeout_s)

    async def change_configuration(self, key: str, value: str, *, timeout_s: float | None = None) -> str:
        """A 1.6 key (2.x: SetVariables of the variable it maps to, or "Component.Variable");
        the answer in 1.6 words: Accepted, Rejected, RebootRequired, NotSupported. The value
        before the first change is kept in `changed_keys` for the position reset."""
        first = key not in self.changed_keys
        if first:
            self.changed_keys[key] = await self._current_value(key)
        status = await self._command("ChangeConfiguration", lambda s: s.change_configuration(key, value), timeout_s)
        if first and status not in ("Accepted", "RebootRequired"):
            self.changed_keys.pop(key, None)  # nothing changed: nothing to restore
        return status

    async def _current_value(self, key: str) -> str | None:
        try:
            answer = await self.get_configuration([key])
        except DutError:
            return None
        return next((str(k.get("value")) for k in answer.get("configurationKey", [])
                     if k.get("key") == key and k.get("value") is not None), None)

    def journal_clear(self) -> None:
        """Forget what was changed (after the position reset undid it)."""
        self.changed_keys.clear()
        self.changed_variables.clear()
        self.open_reservations.clear()

    async def configure_metering(self, sample_interval_s: int, measurands: str, *,
                                 timeout_s: float | None = None) -> dict[str, str]:
        """Periodic meter values during transactions (and, 2.x, the energy register at start
        and end): {setting: status}."""
        return await self._command("ConfigureMetering",
                                   lambda s: s.configure_metering(sample_interval_s, measurands), timeout_s)

    async def set_basic_auth_password(self, password: str, *, timeout_s: float | None = None) -> str:
        """1.6: ChangeConfiguration AuthorizationKey; 2.x: SetVariables SecurityCtrlr.BasicAuthPassword."""
        return await self._command("SetBasicAuthPassword", lambda s: s.set_basic_auth_password(password), timeout_s)

    async def set_security_profile(self, profile: int, csms_url: str, *, timeout_s: float | None = None) -> str:
        """1.6: ChangeConfiguration SecurityProfile; 2.x: SetNetworkProfile with `csms_url`."""
        return await self._command("SetSecurityProfile", lambda s: s.set_security_profile(profile, csms_url),
                                   timeout_s)

    async def update_firmware(self, location: str, retrieve_at: datetime | None = None, *, retries: int | None = None,
                              retry_interval_s: int | None = None, timeout_s: float | None = None
                              ) -> FileTransferAnswer:
        """UpdateFirmware from `location` (retrieve now if `retrieve_at` is None); the charger then
        reports FIRMWARE_STATUS events (2.x with the answer's request_id)."""
        return await self._command("UpdateFirmware", lambda s: s.update_firmware(
            location, retrieve_at, retries, retry_interval_s), timeout_s)

    async def get_diagnostics(self, location: str, *, retries: int | None = None,
                              retry_interval_s: int | None = None, timeout_s: float | None = None
                              ) -> FileTransferAnswer:
        """1.6 GetDiagnostics (DIAGNOSTICS_STATUS events), 2.x GetLog of the DiagnosticsLog
        (LOG_STATUS events with the answer's request_id): upload a file to `location`."""
        return await self._command("GetDiagnostics", lambda s: s.get_diagnostics(
            location, retries, retry_interval_s), timeout_s)

    # 2.x only -----------------------------------------------------------------
    async def get_variables(self, refs: list[tuple[str, ...]], *, timeout_s: float | None = None) -> list[dict]:
        """GetVariables of (component, variable[, instance]) refs: getVariableResult as on the wire."""
        return await self._command_v2x("get_variables", timeout_s, refs)

    async def set_variables(self, values: list[tuple[tuple[str, ...], str]], *,
                            timeout_s: float | None = None) -> list[dict]:
        """SetVariables of ((component, variable[, instance]), value): setVariableResult as on the wire.
        The values before the first change are kept in `changed_variables` for the position reset."""
        new_refs = [tuple(ref) for ref, _ in values if tuple(ref) not in self.changed_variables]
        before: dict[tuple[str, ...], str | None] = {ref: None for ref in new_refs}
        if new_refs:
            try:
                for ref, result in zip(new_refs, await self._command_v2x("get_variables", timeout_s, new_refs)):
                    if result.get("attributeStatus") == "Accepted":
                        before[ref] = result.get("attributeValue")
            except DutError:
                pass
        results = await self._command_v2x("set_variables", timeout_s, values)
        for (ref, _), result in zip(values, results):
            if tuple(ref) in before and result.get("attributeStatus") in ("Accepted", "RebootRequired"):
                self.changed_variables[tuple(ref)] = before[tuple(ref)]
        return results

    async def get_base_report(self, report_base: str = "FullInventory", *,
                              timeout_s: float | None = None) -> tuple[str, list[dict]]:
        """GetBaseReport, then every NotifyReport of it: (status, reportData items)."""
        return await self._command_v2x("get_base_report", self._with_report(timeout_s), report_base)

    async def get_charging_profiles(self, evse_id: int | None = None, purpose: str | None = None,
                                    stack_level: int | None = None, profile_ids: list[int] | None = None, *,
                                    timeout_s: float | None = None) -> tuple[str, list[tuple[int, dict]]]:
        """GetChargingProfiles, then every ReportChargingProfiles of it: (status, [(evse id, profile)])."""
        return await self._command_v2x("get_charging_profiles", self._with_report(timeout_s), evse_id, purpose,
                                       stack_level, profile_ids)

    async def set_display_message(self, message: dict, *, timeout_s: float | None = None) -> str:
        """SetDisplayMessage of a MessageInfoType (wire camelCase)."""
        return await self._command_v2x("set_display_message", timeout_s, message)

    async def get_display_messages(self, ids: list[int] | None = None, priority: str | None = None,
                                   state: str | None = None, *, timeout_s: float | None = None
                                   ) -> tuple[str, list[dict]]:
        """GetDisplayMessages, then every NotifyDisplayMessages of it: (status, messageInfo items)."""
        return await self._command_v2x("get_display_messages", self._with_report(timeout_s), ids, priority, state)

    async def clear_display_message(self, message_id: int, *, timeout_s: float | None = None) -> str:
        return await self._command_v2x("clear_display_message", timeout_s, message_id)

    def _with_report(self, timeout_s: float | None) -> float:
        """The bound of a report request: its answer, then REPORT_TIMEOUT_S for the messages it
        promises (the session's own, narrower wait says which of the two did not come)."""
        return (self.default_timeout_s if timeout_s is None else timeout_s) + REPORT_TIMEOUT_S

    async def _command_v2x(self, method: str, timeout_s: float | None, *args: Any) -> Any:
        session = self._session
        if session is not None and not hasattr(session, method):
            raise DutNotSupported(f"{self.cp_id} speaks OCPP {session.ocpp_version}: {method} exists only in 2.x")
        return await self._command(method, lambda s: getattr(s, method)(*args), timeout_s)

    # Local authorization list, authorization cache, reservations (every version) ------------
    async def send_local_list(self, version: int, update_type: Literal["Full", "Differential"],
                              entries: list[tuple[str, str | None]], *, timeout_s: float | None = None) -> str:
        """SendLocalList of (idTag, status; None removes the tag in a Differential update):
        Accepted, Failed, VersionMismatch (1.6 also NotSupported)."""
        return await self._command("SendLocalList", lambda s: s.send_local_list(version, update_type, entries),
                                   timeout_s)

    async def get_local_list_version(self, *, timeout_s: float | None = None) -> int:
        return await self._command("GetLocalListVersion", lambda s: s.get_local_list_version(), timeout_s)

    async def clear_cache(self, *, timeout_s: float | None = None) -> str:
        return await self._command("ClearCache", lambda s: s.clear_cache(), timeout_s)

    async def reserve_now(self, connector_id: int | None, id_tag: str, expiry: str, reservation_id: int, *,
                          timeout_s: float | None = None) -> str:
        """ReserveNow until `expiry` (ISO UTC); `connector_id` is the 2.x evseId (None: any EVSE,
        1.6 connector 0): Accepted, Faulted, Occupied, Rejected, Unavailable."""
        status = await self._command("ReserveNow",
                                     lambda s: s.reserve_now(connector_id, id_tag, expiry, reservation_id), timeout_s)
        if status == "Accepted":
            self.open_reservations.add(reservation_id)
        return status

    async def cancel_reservation(self, reservation_id: int, *, timeout_s: float | None = None) -> str:
        status = await self._command("CancelReservation", lambda s: s.cancel_reservation(reservation_id), timeout_s)
        self.open_reservations.discard(reservation_id)
        return status

    async def trigger_message(
        self, message: str, connector_id: int | None = None, *, timeout_s: float | None = None
    ) -> str:
        return await self._command("TriggerMessage", lambda s: s.trigger_message(message, connector_id), timeout_s)

    async def reset(self, kind: Literal["Soft", "Hard", "Immediate", "OnIdle"], *,
                    timeout_s: float | None = None) -> str:
        """Soft/Hard (1.6 words) are OnIdle/Immediate in 2.x."""
        return await self._command("Reset", lambda s: s.reset(kind), timeout_s)

    async def unlock_connector(self, connector_id: int, *, timeout_s: float | None = None) -> str:
        return await self._command("UnlockConnector", lambda s: s.unlock_connector(connector_id), timeout_s)

    async def change_availability(
        self, connector_id: int, kind: Literal["Operative", "Inoperative"], *, timeout_s: float | None = None
    ) -> str:
        return await self._command(
            "ChangeAvailability", lambda s: s.change_availability(connector_id, kind), timeout_s
        )

    async def _command(self, name: str, send: Callable[[DutSession], Awaitable[T]], timeout_s: float | None) -> T:
        session, detached = self._session, self._detached
        if session is None or detached is None:
            raise DutNotConnected(f"{self.cp_id} is not connected: cannot send {name}")
        timeout = self.default_timeout_s if timeout_s is None else timeout_s
        try:
            return await race(self._clock, send(session), timeout, abort=detached)
        except _Expired:
            raise DutTimeout(f"{self.cp_id} did not answer {name} within {timeout:g} s") from None
        except _Aborted:
            raise DutNotConnected(f"{self.cp_id} disconnected while we waited for the answer to {name}") from None

    # ------------------------------------------- fed by the server / adapters
    def emit(self, kind: str, connector_id: int | None = None, **data: Any) -> DutEvent:
        event = DutEvent(
            kind=EventKind(kind).value,
            t_mono_s=self._clock.monotonic(),
            utc=self._clock.utcnow(),
            connector_id=connector_id,
            data=data,
        )
        self.events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()
        return event

    def add_finding(self, action: str | None, kind: str, detail: str) -> Finding:
        finding = Finding(self._clock.monotonic(), self.cp_id, action, str(kind), detail)
        self.findings.append(finding)
        return finding

    def attach(self, session: DutSession, **info: Any) -> None:
        """A connection is up; a previous one (if any) counts as disconnected."""
        if self._session is not None:
            self.detach(self._session, reason=REPLACED)
        self._session = session
        self._detached = asyncio.get_running_loop().create_future()
        self._last_version = session.ocpp_version
        self.emit(EventKind.CONNECTED, ocpp_version=session.ocpp_version, **info)

    def detach(self, session: DutSession, **info: Any) -> None:
        """The connection of `session` is gone (no-op if it was already replaced)."""
        if session is not self._session:
            return
        self._session = None
        if self._detached is not None and not self._detached.done():
            self._detached.set_result(None)
        self._detached = None
        self.emit(EventKind.DISCONNECTED, **info)

    def record_boot(self, identity: DutIdentity, **data: Any) -> None:
        """`data`: what the CSMS answered (status, interval) and, 2.x, the boot reason."""
        self.identity = identity
        self.emit(EventKind.BOOT, identity=identity, **data)

    def record_status(self, connector_id: int, status: str, **data: Any) -> None:
        self._statuses[connector_id] = status
        self.emit(EventKind.STATUS, connector_id, status=status, **data)

    def record_transaction_started(self, transaction: Transaction) -> None:
        self.transactions[transaction.transaction_id] = transaction
        self.emit(EventKind.TRANSACTION_STARTED, transaction.connector_id, transaction=transaction)

    def record_transaction_stopped(
        self,
        transaction_id: int | str,
        meter_stop_wh: float | None,
        stop_timestamp: datetime | None,
        reason: str | None,
        samples: list[MeterSample],
    ) -> Transaction | None:
        """Close the transaction; None if we never issued that id."""
        transaction = self.transactions.get(transaction_id)
        if transaction is not None:
            transaction.meter_stop_wh = meter_stop_wh
            transaction.t_stop_mono_s = self._clock.monotonic()
            transaction.stop_timestamp = stop_timestamp
            transaction.stop_reason = reason
            transaction.samples.extend(samples)
        self.meter_samples.extend(samples)
        self.emit(
            EventKind.TRANSACTION_STOPPED,
            transaction.connector_id if transaction else None,
            transaction_id=transaction_id,
            transaction=transaction,
            meter_stop_wh=meter_stop_wh,
            reason=reason,
            samples=samples,
        )
        return transaction

    def record_meter_values(self, connector_id: int, transaction_id: int | str | None,
                            samples: list[MeterSample]) -> None:
        transaction = self.transactions.get(transaction_id) if transaction_id is not None else None
        if transaction is not None:
            transaction.samples.extend(samples)
        self.meter_samples.extend(samples)
        self.emit(EventKind.METER_VALUES, connector_id, transaction_id=transaction_id, samples=samples)
