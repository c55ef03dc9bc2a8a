"""The CSMS stub: one websocket server for every position of the bench.

Chargers connect to ws://host:port/<chargePointId>; the subprotocol picks the
OCPP version and with it the adapter (`ADAPTERS`): ocpp1.6, ocpp2.0.1 and
ocpp2.1 on the same port. When the lab config names a charger's version
(`CsmsSettings.cp_versions`), only that one is accepted from it, whatever else
it offers. Unknown ids and chargers that offer no subprotocol we accept are
refused in the opening handshake, with a log line that says why (the most
common bring-up mistake on a real bench).

Security profiles 1..3 (`CsmsSettings.security`, see security.py): Basic auth,
TLS, client certificates. Every refusal is kept in `refusals` (and in the
connections log file, when given), next to every accepted connection.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import http
import itertools
import json
import logging
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from bench.clock import Clock, iso_utc
from bench.csms import v16, v21, v201
from bench.csms.dut import DEFAULT_TIMEOUT_S, Dut
from bench.csms.events import EventKind, FindingKind
from bench.csms.handshake import WatchedConnection
from bench.csms.message_log import CSMS_TO_DUT, DUT_TO_CSMS, MessageLog
from bench.csms.security import (
    REALM,
    CsmsSecurity,
    Refusal,
    TlsGate,
    basic_auth_refusal,
    certificate_refusal,
)

LOG = logging.getLogger("bench.csms")

# OCPP version -> (websocket subprotocol, adapter class), in order of preference.
ADAPTERS: dict[str, tuple[str, type]] = {
    v16.OCPP_VERSION: (v16.SUBPROTOCOL, v16.V16Session),
    v201.OCPP_VERSION: (v201.SUBPROTOCOL, v201.V201Session),
    v21.OCPP_VERSION: (v21.SUBPROTOCOL, v21.V21Session),
}

AUTHORIZATION_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")


# A CSMS serving many chargers allocates a few objects per frame: with Python's default gen-0
# threshold (700) the collector ran several times a second over every young frame, and its older
# generations paused the loop for 0.1-0.5 s (p99 answer latency 148 ms at 1,000 chargers against
# 26 ms with these thresholds; CPU alike). Cycles are still collected, just in larger batches.
SERVING_GC_THRESHOLDS = (50_000, 50, 100)


def tune_for_serving() -> None:
    """A long-running CSMS process serving many chargers (`bench csms`); process-wide:
    - the collector's thresholds above;
    - schema validation (still on) in the loop's thread: the library's default hands every
      validation to an executor thread, and under the GIL the hop costs more than the validation
      (1,000 chargers over 600 s: CPU 0.89x the bare stub instead of about 1.26x, p99 5.9 ms).
      Not for `bench run`: there the virtual lab's charger and instruments share the loop with
      the CSMS, and one charger's frames cost nothing to hand over."""
    gc.set_threshold(*SERVING_GC_THRESHOLDS)
    ocpp.messages.ASYNC_VALIDATION = False

@dataclass
class CsmsSettings:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = any free port (see CsmsServer.port)
    accepted_ids: list[str] = field(default_factory=list)
    heartbeat_interval_s: int = 60
    id_tags: dict[str, str] = field(default_factory=dict)  # idTag -> status; unknown -> "Invalid"
    supported_versions: tuple[str, ...] = tuple(ADAPTERS)  # in order of preference
    cp_versions: dict[str, str] = field(default_factory=dict)  # charge point id -> the only version accepted
    data_transfer_vendors: tuple[str, ...] = ()  # vendorIds answered "Accepted"; others "UnknownVendorId"
    response_timeout_s: float = DEFAULT_TIMEOUT_S  # default for Dut commands
    security: CsmsSecurity = field(default_factory=CsmsSecurity)  # profile 0: plain ws, no credentials
    path_prefix: str = ""  # chargers connect to <url><path_prefix>/<id>, nothing else

    def __post_init__(self) -> None:
        for version in self.supported_versions:
            if version not in ADAPTERS:
                raise ValueError(
                    f"csms: OCPP version {version!r} is not implemented (have: {', '.join(ADAPTERS)})"
                )
        for cp_id, version in self.cp_versions.items():
            if version not in self.supported_versions:
                raise ValueError(f"csms: {cp_id}: OCPP version {version!r} is not one of "
                                 f"{', '.join(self.supported_versions)}")
        for tag, status in self.id_tags.items():
            if status not in AUTHORIZATION_STATUSES:
                raise ValueError(f"csms.id_tags.{tag}: {status!r} is not one of {', '.join(AUTHORIZATION_STATUSES)}")

    def id_tag_status(self, id_tag: str) -> str:
        return self.id_tags.get(id_tag, "Invalid")

    def data_transfer_status(self, vendor_id: str) -> str:
        return "Accepted" if vendor_id in self.data_transfer_vendors else "UnknownVendorId"

    @property
    def subprotocols(self) -> list[str]:
        return [ADAPTERS[v][0] for v in self.supported_versions]

    def subprotocols_for(self, cp_id: str) -> list[str]:
        """What we accept from this charger, in order of preference."""
        if cp_id in self.cp_versions:
            return [ADAPTERS[self.cp_versions[cp_id]][0]]
        return self.subprotocols

    @staticmethod
    def version_of(subprotocol: str) -> str:
        return next(v for v, (sub, _) in ADAPTERS.items() if sub == subprotocol)


class LoggedConnection:
    """The websocket as the ocpp library sees it: every frame goes through the
    message log exactly as it was on the wire."""

    def __init__(self, websocket: ServerConnection, cp_id: str, log: MessageLog, dut: Dut) -> None:
        self._ws = websocket
        self._cp_id = cp_id
        self._log = log
        self._dut = dut

    async def recv(self) -> str:
        message = await self._ws.recv()
        if isinstance(message, bytes):
            self._dut.add_finding(None, FindingKind.BINARY_FRAME, "OCPP-J frames must be text frames")
            message = message.decode("utf-8", errors="replace")
        self._log.record(self._cp_id, DUT_TO_CSMS, message)
        return message

    async def send(self, message: str) -> None:
        # Logged before sending: a fast answer must not appear before its call.
        self._log.record(self._cp_id, CSMS_TO_DUT, message)
        await self._ws.send(message)


ID_SHOWN = 48  # characters of a charge point id that go into logs and refusals


def cp_id_from_path(path: str, prefix: str = "") -> str:
    """The charge point id of a handshake's URL path, which must be exactly `<prefix>/<id>` (the
    query is ignored): one path segment, percent-decoded once (OCPP-J 1.6 section 3.1.1, 2.0.1
    part 4 section 3.1: the identity is appended to the CSMS URL). "" for any other path:
    `/x/y/ID`, `/ID/`, `/../ID`, an empty or dot segment, an id that decodes to a '/'."""
    raw = urlsplit(path).path
    if not raw.startswith(prefix + "/"):
        return ""
    segment = raw[len(prefix) + 1:]
    cp_id = unquote(segment)
    if not segment or "/" in segment or "/" in cp_id or cp_id in (".", ".."):
        return ""
    return cp_id


def shown(cp_id: str) -> str:
    """An id as logs show it: whole up to ID_SHOWN characters, else cut and its length said."""
    return cp_id if len(cp_id) <= ID_SHOWN else f"{cp_id[:ID_SHOWN]}...({len(cp_id)} characters)"


def offered_subprotocols(headers: Headers) -> list[str]:
    return [p.strip() for value in headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",") if p.strip()]


class CsmsServer:
    def __init__(self, clock: Clock, settings: CsmsSettings, log: MessageLog,
                 connections_path: Path | None = None) -> None:
        """`connections_path`: a JSON-lines file of every connection accepted or refused."""
        self._clock = clock
        self.settings = settings
        self.log = log
        self._duts: dict[str, Dut] = {}
        self._connections: dict[str, ServerConnection] = {}
        self._closing: set[ServerConnection] = set()  # connections the bench is closing on purpose
        self._ending = False  # the run is over: the bench stops its own simulated chargers (ending())
        self._server: Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._transaction_ids = itertools.count(1)  # unique over all chargers and reconnects
        self.refusals: list[Refusal] = []
        self._offline_until: dict[str, float] = {}  # cp id -> monotonic time until which it is refused
        # cp id -> the Basic auth passwords accepted now (two while a new one is on its way, A01)
        self._passwords: dict[str, tuple[str, ...]] = {k: (v,) for k, v in settings.security.passwords.items()}
        self._gate = TlsGate(settings.security, self._refused) if settings.security.tls else None
        self._connections_file: IO[str] | None = None
        if connections_path is not None:
            connections_path.parent.mkdir(parents=True, exist_ok=True)
            self._connections_file = connections_path.open("a", encoding="utf-8")

    # ----------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._server is not None:
            return
        # TLS: we run the handshake ourselves (security.TlsFirstConnection); either way a request
        # refused before our checks is logged (handshake.WatchedConnection)
        extra: dict[str, Any] = {"create_connection": self._gate.connection_factory() if self._gate is not None
                                 else functools.partial(WatchedConnection, self._refused)}
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            subprotocols=[Subprotocol(s) for s in self.settings.subprotocols],
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
            **extra,
        )
        LOG.info("CSMS listening on %s (OCPP %s, security profile %d)", self.url,
                 ", ".join(self.settings.supported_versions), self.settings.security.profile)

    def ending(self) -> None:
        """The run is over and the bench is about to stop its simulated chargers: their closing
        connections are the bench's doing, not a DUT dropping one (no finding, no warning)."""
        self._ending = True

    async def stop(self) -> None:
        """Close every connection, wait for their handlers, stop listening."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()
        if self._gate is not None:
            await self._gate.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connections_file is not None:
            self._connections_file.close()
            self._connections_file = None
        self.log.flush()  # every frame is on disk once the server is down

    async def __aenter__(self) -> CsmsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("CSMS server is not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        scheme = "wss" if self.settings.security.tls else "ws"
        return f"{scheme}://{self.settings.host}:{self.port}{self.settings.path_prefix}"

    @property
    def security_profile(self) -> int:
        return self.settings.security.profile

    # ------------------------------------------------- security controls
    @contextlib.contextmanager
    def tls_probe(self, probe: str) -> Iterator[None]:
        """Present a certificate (or TLS version) a correct charger refuses to every new
        connection, until the block ends (security.PROBES)."""
        if self._gate is None:
            raise RuntimeError("TLS probes need security profile 2 or 3")
        with self._gate.probing(probe):
            yield

    def set_password(self, cp_id: str, *passwords: str) -> None:
        """From now on `cp_id` must use one of these Basic auth passwords: the new one once it
        accepted it (A01.FR.03); both, old and new, while the change is on its way (a charger
        may reconnect with the new one before its answer reached us)."""
        self._passwords[cp_id] = tuple(passwords)

    def passwords(self, cp_id: str) -> tuple[str, ...]:
        return self._passwords.get(cp_id, ())

    async def drop(self, cp_id: str, reason: str = "bench closes the connection") -> None:
        """Close the charger's connection from our side (it is expected to reconnect)."""
        connection = self._connections.get(cp_id)
        if connection is not None:
            self._closing.add(connection)
            await connection.close(code=1012, reason=reason)  # 1012: service restart

    async def take_offline(self, cp_id: str, seconds: float, reason: str = "bench takes the charger offline") -> None:
        """Close the charger's connection and refuse its reconnects for `seconds` (an outage of
        the CSMS or the network, as the charger sees it); `back_online` ends it early."""
        self._offline_until[cp_id] = self._clock.monotonic() + seconds
        await self.drop(cp_id, reason)

    def back_online(self, cp_id: str) -> None:
        """Accept the charger's connections again (its next attempt gets through)."""
        self._offline_until.pop(cp_id, None)

    def is_offline(self, cp_id: str) -> bool:
        until = self._offline_until.get(cp_id)
        return until is not None and self._clock.monotonic() < until

    def dut(self, charge_point_id: str) -> Dut:
        """The handle on one charger; it exists before the charger connects."""
        if charge_point_id not in self.settings.accepted_ids:
            raise ValueError(
                f"charge point id {charge_point_id!r} is not in csms accepted_ids "
                f"({', '.join(self.settings.accepted_ids)})"
            )
        if charge_point_id not in self._duts:
            dut = Dut(charge_point_id, self._clock, self.settings.response_timeout_s)
            dut.server = self
            self._duts[charge_point_id] = dut
        return self._duts[charge_point_id]

    # ------------------------------------------------------------- records
    def _record_connection(self, event: str, **data: Any) -> None:
        if self._connections_file is not None:
            line = {"t_mono_s": self._clock.monotonic(), "utc": iso_utc(self._clock.utcnow()), "event": event,
                    "security_profile": self.settings.security.profile, **data}
            self._connections_file.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._connections_file.flush()

    def _refused(self, remote: str, cp_id: str | None, stage: str, reason: str, probe: str | None = None,
                 expected: bool = False) -> None:
        """Record a refused connection; `expected` ones (the bench's own offline window) are logged
        at INFO: they are the scenario working, not news for the console (the run's log has them)."""
        refusal = Refusal(self._clock.monotonic(), iso_utc(self._clock.utcnow()), remote, cp_id, stage, reason, probe)
        self.refusals.append(refusal)
        LOG.log(logging.INFO if expected else logging.WARNING, "CSMS refused %s%s (%s): %s",
                f"{cp_id!r} from " if cp_id else "", remote, stage, reason)
        self._record_connection("refused", **{k: v for k, v in asdict(refusal).items() if k not in ("t_mono_s", "utc")})

    # ----------------------------------------------------------- handshake
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        prefix = self.settings.path_prefix
        cp_id = cp_id_from_path(request.path, prefix)
        remote = _peer(connection)
        if not cp_id:
            expected = f"{prefix}/<charge point id>"
            LOG.warning("CSMS refused %s: URL path %r is not %s", remote, shown(request.path), expected)
            self._refused(remote, "", "http", f"URL path {shown(request.path)!r} is not {expected}")
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"The URL path must be {expected}\n")
        if cp_id not in self.settings.accepted_ids:
            LOG.warning(
                "CSMS refused %s: unknown charge point id %r (accepted ids: %s)",
                remote, shown(cp_id), ", ".join(self.settings.accepted_ids) or "none",
            )
            self._refused(remote, shown(cp_id), "http", "unknown charge point id")
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"Unknown charge point id {shown(cp_id)!r}\n")
        if self.is_offline(cp_id):  # an outage the bench simulates (take_offline)
            self._refused(remote, cp_id, "http", "offline window: the bench refuses this charger for now",
                          expected=True)
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "CSMS unavailable (offline window)\n")
        offered = offered_subprotocols(request.headers)
        accepted = self.settings.subprotocols_for(cp_id)
        if not set(offered) & set(accepted):
            expected = (f"lab config expects {accepted[0]} from {cp_id}" if cp_id in self.settings.cp_versions
                        else f"this CSMS speaks {', '.join(accepted)}")
            detail = f"offered subprotocols {offered or 'none'}, {expected}"
            LOG.warning("CSMS refused %r from %s: %s", cp_id, remote, detail)
            self.dut(cp_id).add_finding(None, FindingKind.HANDSHAKE_REFUSED, detail)
            self._record_connection("refused", remote=remote, cp_id=cp_id, stage="http", reason=detail)
            return connection.respond(http.HTTPStatus.BAD_REQUEST, f"No supported OCPP subprotocol: {detail}\n")
        return self._check_credentials(connection, request, cp_id, remote)

    def _check_credentials(self, connection: ServerConnection, request: Request, cp_id: str,
                           remote: str) -> Response | None:
        """Profiles 1, 2: Basic auth with this charger's password; 3: its own client certificate."""
        security = self.settings.security
        if security.basic_auth:
            why = basic_auth_refusal(request.headers, cp_id, self._passwords.get(cp_id, ()))
            status = http.HTTPStatus.UNAUTHORIZED
        elif security.profile == 3:
            why = certificate_refusal(getattr(connection, "peer_certificate", None), cp_id)
            status = http.HTTPStatus.FORBIDDEN
        else:
            return None
        if why is None:
            return None
        self.dut(cp_id).add_finding(None, FindingKind.AUTH_REFUSED, why)
        self._refused(remote, cp_id, "http", why)
        response = connection.respond(status, f"Refused: {why}\n")
        if status == http.HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
        return response

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        """The first subprotocol we accept from this charger that it offered (None: refused
        already by _process_request, which runs first)."""
        cp_id = cp_id_from_path(connection.request.path, self.settings.path_prefix) if connection.request else ""
        return next((sub for sub in self.settings.subprotocols_for(cp_id) if sub in offered), None)

    # ---------------------------------------------------------- connection
    async def _handle(self, websocket: ServerConnection) -> None:
        assert websocket.request is not None and websocket.subprotocol is not None
        cp_id = cp_id_from_path(websocket.request.path, self.settings.path_prefix)
        version = self.settings.version_of(websocket.subprotocol)
        dut = self.dut(cp_id)
        session = ADAPTERS[version][1](
            cp_id,
            LoggedConnection(websocket, cp_id, self.log, dut),
            dut,
            self._clock,
            self.settings,
            lambda: next(self._transaction_ids),
        )
        previous = self._connections.get(cp_id)
        self._connections[cp_id] = websocket
        if previous is not None:
            # A charger that reconnects before its old socket died: the new one wins.
            LOG.info("%s reconnected; closing its previous connection", cp_id)
            self._spawn(self._close_replaced(dut, previous))
        security = {"security_profile": self.settings.security.profile,
                    "tls_version": getattr(websocket, "tls_version", None)}
        dut.attach(session, subprotocol=websocket.subprotocol, remote=_peer(websocket), **security)
        self._record_connection("accepted", remote=_peer(websocket), cp_id=cp_id, ocpp_version=version,
                                tls_version=security["tls_version"])
        LOG.info("%s connected from %s (OCPP %s, security profile %d)", cp_id, _peer(websocket), version,
                 self.settings.security.profile)
        try:
            await session.start()
        except ConnectionClosed:
            pass
        except Exception:
            LOG.exception("%s: connection handler failed", cp_id)
        finally:
            current = self._connections.get(cp_id) is websocket
            if current:
                del self._connections[cp_id]
            by_bench = websocket in self._closing
            self._closing.discard(websocket)
            if current and not by_bench and self._server is not None and not self._ending:
                self._dropped(dut, websocket)
            dut.detach(session, code=websocket.close_code, reason=websocket.close_reason, by_bench=by_bench)
            LOG.info("%s disconnected (code %s)", cp_id, websocket.close_code)

    def _dropped(self, dut: Dut, websocket: ServerConnection) -> None:
        """The DUT's connection ended without the bench closing it: the DUT closed it, stopped
        answering pings, or the link broke. OCPP-J 1.6 section 3 and 2.0.1 part 4 section 3.1: the
        charger keeps the connection open. A finding; steps that make the DUT reconnect (a reset,
        a new password, ...) excuse it (bench/scenario/runner.py)."""
        protocol = websocket.protocol
        how = ("the DUT closed it" if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent is not False
               else "closed after the DUT stopped answering (keepalive)" if protocol.close_sent is not None
               else "the link broke (no closing handshake)")
        open_tx = ", ".join(str(tx.transaction_id) for tx in dut.transactions.values()
                            if tx.t_start_mono_s is not None and tx.t_stop_mono_s is None)
        reason = f", {websocket.close_reason!r}" if websocket.close_reason else ""
        detail = (f"connection dropped, {how} (code {websocket.close_code}{reason})"
                  + (f" during transaction {open_tx}" if open_tx else ""))
        dut.add_finding(None, FindingKind.CONNECTION_DROPPED, detail)
        LOG.warning("%s: %s", dut.cp_id, detail)

    async def _close_replaced(self, dut: Dut, previous: ServerConnection) -> None:
        """Close a replaced connection. If its peer answers the close, it was alive: another client
        had the DUT's id at the same time (a rebooted DUT's old socket is dead and cannot answer)."""
        self._closing.add(previous)
        await previous.close(reason="replaced by a new connection")
        protocol = previous.protocol
        # a rival answered the close we sent; a DUT that closed its old connection itself sent
        # the first close (close_rcvd_then_sent), and a dead socket answers nothing
        if protocol.close_rcvd is not None and protocol.close_rcvd_then_sent is False:
            LOG.warning("%s: the replaced connection from %s was alive: two clients had this id", dut.cp_id,
                        _peer(previous))
            dut.emit(EventKind.RIVAL_CONNECTION, remote=_peer(previous))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
