"""SCPI over TCP: raw sockets natively on the event loop, VXI-11/HiSLIP through pyvisa-py.

Addresses (board number optional: `TCPIP0::...`):
- `TCPIP::host::port::SOCKET`: a raw socket (Chroma 2101, ITECH 30000, many 5025);
- `TCPIP::host[::inst0]::INSTR`: VXI-11 (the port comes from the portmapper on port
  111); `TCPIP::host,port::INSTR` skips the portmapper and names the core port;
- `TCPIP::host::hislip0[,port]::INSTR`: HiSLIP (default port 4880).
Drivers of raw-socket-only instruments refuse INSTR (`allow_instr=False`).
Both terminations are "\\n" (on INSTR sessions too: without a read termination pyvisa-py
waits for the whole timeout before returning).

Steps: a driver talks to its instrument through `exchange(steps)`, `steps` being an
`async def steps(io: ScpiIO)` that awaits `io.write()`, `io.query()` and the helpers built
on them (`query_float`, `query_on_off`, `query_units`, `check_error_queue`).

Concurrency: one `asyncio.Lock` per instrument. `exchange()` runs a whole sequence (e.g. a
set command and the error query after it) under it, so no other coroutine's query can slip
in between and take its answer. Behind the one `ScpiIO` interface:
- a raw socket is an asyncio stream on the event loop (TCP_NODELAY: a short query never
  waits for the peer's delayed ACK): no thread, no pyvisa. Its timeouts are the loop's
  time, which on the virtual lab's warp loop is virtual time, as for the Modbus transport
  (the simulators answer on the same loop);
- an INSTR session is pyvisa-py's, whose calls block: it lives in one long-lived worker
  thread of its own (a single-thread executor the transport owns, shut down by close()),
  and each io call hops there through the loop (`run_in_executor`, so the warp loop knows
  a thread is running and does not jump virtual time meanwhile).
A cancelled exchange (the sampler stopping, a step cancelled) may leave a reply in flight:
the link is then out of step (see Timeouts) and the next exchange resynchronises it first.
On the INSTR path the worker cannot be stopped either: the next call queues behind it in
the same worker, so two calls never talk over one session.

Link loss: a peer that closed the socket, a reset, a broken pipe or a refused connection
counts as a dropped link. The transport reconnects at once, then after `backoff_s`, then
after 2 x `backoff_s` (defaults: within 0.6 s of the loss) and repeats the exchange (the
bench's SCPI sequences are idempotent: setpoints and queries); `on_reconnect` (a driver's
async callable: restore what an instrument that restarted has lost, e.g. numeric items)
runs after a reconnect, before the repeated exchange. A link that does not come back
within that window raises `LinkLost`; from then on each exchange tries one immediate
reconnect only, so the teardown that follows (loads off, EV unplugged) is not held up by
a new series of retries on every command. The window is a bound: a lost instrument must
stop the scenario with the loads off within 1 s (one sampling period to notice, 0.6 s of
retries, the rest for the teardown), and an instrument or gateway that drops and
re-accepts its connection comes back well inside it.

Timeouts: a timeout on a live link is not retried: it raises `InstrumentError` at
once, naming the instrument, the command and what came back. The reply may still
come (a stalled instrument answers late), and read as the answer to the next query
it would put the stream out of step for good. So the next exchange first brings the
link back in step: device clear on INSTR (VXI-11/HiSLIP) sessions; on a raw socket,
which has no device clear, whatever arrives is read and discarded until the line is
quiet; then `*CLS` (the late reply may have queued an error that is no command's of
ours, e.g. -410 Query INTERRUPTED) and `*OPC?`, whose `1` must be the last thing
that arrives. Until that succeeds the link stays out of step and every exchange
tries again (and fails with an error naming the command that timed out). Stray bytes
found on a raw socket before an exchange are discarded, so they are never taken for
the next answer.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pyvisa
from pyvisa import constants as visa_constants
from pyvisa.errors import VisaIOError

from instruments.roles import Identity, InstrumentError, LinkLost

try:  # VXI-11 link failures surface as pyvisa-py RPC errors
    from pyvisa_py.protocols.rpc import RPCError as _RpcError
except ImportError:  # pragma: no cover - another backend
    _RpcError = OSError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_RECONNECT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.2
TERMINATION = "\n"
QUIET_S = 0.05  # a resynchronising link is in step once nothing more arrived for this long
RESYNC_CLEAR = "*CLS"
RESYNC_CONFIRM = "*OPC?"  # IEEE 488.2 mandatory; answers 1 once everything before it is done
READ_LIMIT = 1 << 20  # longest reply line on a raw socket (a long numeric list is a few kB)
_ADDRESS_RE = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)
_INSTR_RE = re.compile(r"^TCPIP\d*::(?P<host>[^:,]+)(,(?P<port>\d+))?(::(?P<device>[^:]+))?::INSTR$", re.IGNORECASE)

_resource_manager: pyvisa.ResourceManager | None = None

Steps = Callable[["ScpiIO"], Awaitable[T]]


def parse_scpi_address(address: str) -> tuple[str, int]:
    """`TCPIP::host::port::SOCKET` -> (host, port); ValueError for anything else."""
    m = _ADDRESS_RE.match(address.strip())
    if not m:
        raise ValueError(f"not a SCPI socket address: {address!r} (expected TCPIP::host::port::SOCKET)")
    return m["host"], int(m["port"])


@dataclass(frozen=True)
class VisaAddress:
    kind: Literal["socket", "vxi11", "hislip"]
    host: str
    port: int | None  # None: VXI-11 through the portmapper
    resource: str  # what pyvisa opens


def parse_visa_address(address: str) -> VisaAddress:
    """A SOCKET or INSTR address; ValueError for anything else."""
    text = address.strip()
    if m := _ADDRESS_RE.match(text):
        return VisaAddress("socket", m["host"], int(m["port"]), f"TCPIP::{m['host']}::{m['port']}::SOCKET")
    if m := _INSTR_RE.match(text):
        device = m["device"] or "inst0"
        if device.lower().startswith("hislip"):
            name, _, port = device.partition(",")
            if m["port"] or (port and not port.isdigit()):
                raise ValueError(f"bad HiSLIP address {address!r} (expected TCPIP::host::hislip0[,port]::INSTR)")
            return VisaAddress("hislip", m["host"], int(port) if port else 4880, text)
        return VisaAddress("vxi11", m["host"], int(m["port"]) if m["port"] else None, text)
    raise ValueError(
        f"not a VISA TCPIP address: {address!r} "
        "(expected TCPIP::host::port::SOCKET, TCPIP::host[,port]::INSTR or TCPIP::host::hislip0::INSTR)"
    )


def with_port(address: str, port: int) -> str:
    """The same SOCKET, VXI-11 (`host,port`) or HiSLIP address on another TCP port."""
    visa = parse_visa_address(address)
    if visa.kind == "socket":
        return f"TCPIP::{visa.host}::{port}::SOCKET"
    if visa.kind == "hislip":
        return f"TCPIP::{visa.host}::hislip0,{port}::INSTR"
    return f"TCPIP::{visa.host},{port}::INSTR"


def _rm() -> pyvisa.ResourceManager:
    # One pyvisa-py library instance per process; sessions are independent.
    global _resource_manager
    if _resource_manager is None:
        _resource_manager = pyvisa.ResourceManager("@py")
    return _resource_manager


class _LinkLost(Exception):
    """The TCP link is gone: reconnect and repeat."""


class _NoReply(Exception):
    """No complete reply within the timeout (the link may still be up)."""

    def __init__(self, command: str, came_back: str = "") -> None:
        super().__init__(command)
        self.command = command
        self.came_back = came_back  # what arrived without its termination, if anything


class ScpiIO:
    """What a driver's steps talk through: awaited writes and queries on one open link.
    `last_command` is the last command sent; `awaiting_reply` is set from a query's write
    until its reply is read (a cancelled exchange then leaves the link out of step)."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.last_command = ""
        self.awaiting_reply = False

    async def write(self, command: str) -> None:
        raise NotImplementedError

    async def read(self) -> str:
        """One response message (after a command that asked for one), stripped."""
        raise NotImplementedError

    async def query(self, command: str) -> str:
        self.awaiting_reply = True
        await self.write(command)
        return await self.read()

    async def query_float(self, command: str) -> float:
        return parse_float(self.name, command, await self.query(command))

    async def query_on_off(self, command: str) -> bool:
        return parse_on_off(self.name, command, await self.query(command))

    async def query_units(self, commands: list[str]) -> list[str]:
        """Several queries in one program message (IEEE 488.2 7.4: units joined by ';', each
        header from the root), one response message back with the replies joined by ';': one
        round trip instead of len(commands)."""
        message = ";".join(c if c.startswith((":", "*")) else f":{c}" for c in commands)
        replies = [r.strip() for r in (await self.query(message)).split(";")]
        if len(replies) != len(commands):
            raise InstrumentError(f"{self.name}: {len(replies)} replies to the {len(commands)} queries of "
                                  f"{message!r}: {';'.join(replies)!r}")
        return replies

    async def check_error_queue(self, query: str, after: str) -> None:
        """Read one `code,"message"` entry of the error queue; a non-zero code means the
        command(s) described by `after` were refused."""
        reply = await self.query(query)
        code_text, _, message = reply.partition(",")
        try:
            code = int(code_text.strip())
        except ValueError:
            raise InstrumentError(f"{self.name}: malformed reply to {query!r} after {after}: {reply!r}") from None
        if code != 0:
            raise InstrumentError(f"{self.name}: {after} refused: {query} = {code},{message.strip()}")

    # ---- the link, for the transport ---------------------------------------------------
    async def check(self) -> None:
        """Before an exchange: _LinkLost if the link is unusable; stray input discarded."""

    def problem(self) -> str | None:
        """Why the link is unusable (reset, closed by the peer), or None."""
        return None

    async def resync(self) -> None:
        """Bring the link back in step (see the module docstring); _NoReply if it does not answer."""
        raise NotImplementedError

    async def close(self, *, lost: bool) -> None:
        raise NotImplementedError


# ---- raw socket: asyncio streams on the loop ----------------------------------------------------
def _buffered(reader: asyncio.StreamReader) -> bytearray:
    # what arrived and was not read yet: StreamReader has no public way to look at it
    return getattr(reader, "_buffer", bytearray())


def _os_error_text(exc: OSError) -> str:
    # asyncio words a refused connect as "Connect call failed (...)": name the errno too
    reason = os.strerror(exc.errno) if exc.errno else ""
    text = str(exc)
    return f"{reason} ({text})" if reason and reason not in text else (text or type(exc).__name__)


class SocketIO(ScpiIO):
    """A raw SCPI socket as an asyncio stream: no thread, timeouts on the loop's time."""

    def __init__(self, name: str, timeout_s: float, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(name, timeout_s)
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, name: str, host: str, port: int, timeout_s: float) -> SocketIO:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
        except TimeoutError as exc:
            raise _LinkLost(f"no connection within {timeout_s:g} s") from exc
        except OSError as exc:  # refused, unreachable, unknown host
            raise _LinkLost(_os_error_text(exc)) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # send each message at once (NI-VISA's default, VI_ATTR_TCPIP_NODELAY): with Nagle's
            # algorithm a short query can wait for the peer's delayed ACK (up to 40 ms on Linux)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(name, timeout_s, reader, writer)

    async def write(self, command: str) -> None:
        self.last_command = command
        self._writer.write(command.encode("ascii") + b"\n")
        try:
            await self._writer.drain()  # returns at once unless the peer stopped reading
        except OSError as exc:
            raise _LinkLost(_os_error_text(exc)) from exc

    async def read(self) -> str:
        self.awaiting_reply = True
        line = await self._read_line(asyncio.get_running_loop().time() + self.timeout_s)
        self.awaiting_reply = False
        return line

    async def _read_line(self, deadline: float) -> str:
        try:
            async with asyncio.timeout_at(deadline):
                data = await self._reader.readline()
        except TimeoutError:
            raise _NoReply(self.last_command, bytes(_buffered(self._reader)[:200]).decode("latin-1")) from None
        except ValueError:  # a line longer than READ_LIMIT: what follows is out of step
            raise _NoReply(self.last_command, f"more than {READ_LIMIT} bytes without a line end") from None
        except OSError as exc:  # reset
            raise _LinkLost(_os_error_text(exc)) from exc
        if not data.endswith(b"\n"):
            after = f" after {data[:200]!r}" if data else ""
            raise _LinkLost(f"peer closed the connection{after} while waiting for the reply to {self.last_command!r}")
        return data.decode("latin-1").strip()

    async def check(self) -> None:
        await self._discard_stray()
        if problem := self.problem():
            raise _LinkLost(problem)

    def problem(self) -> str | None:
        exc = self._reader.exception()
        if exc is not None:
            return _os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        if self._reader.at_eof() or self._writer.is_closing():
            return "peer closed the connection"
        return None

    async def _discard_stray(self) -> None:
        """Bytes nobody asked for (a late reply) are never taken for the next answer."""
        while stray := len(_buffered(self._reader)):
            await self._reader.read(stray)  # returns at once: the bytes are there

    async def resync(self) -> None:
        """Read and discard until quiet, then `*CLS`, `*OPC?` answered `1` with nothing after it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        await self._drain(deadline)
        await self.write(RESYNC_CLEAR)
        await self.write(RESYNC_CONFIRM)
        self.awaiting_reply = True
        confirmed = False
        while True:
            try:
                line = await self._read_line(loop.time() + QUIET_S if confirmed else deadline)
            except _NoReply:
                if confirmed:
                    break  # `1`, then quiet: in step
                raise
            confirmed = line == "1"  # a stale `1` is followed by ours: read on until the line is quiet
        self.awaiting_reply = False

    async def _drain(self, deadline: float) -> None:
        """Read and discard until nothing arrives for QUIET_S (or the deadline passes)."""
        loop = asyncio.get_running_loop()
        await self._discard_stray()
        while loop.time() < deadline:
            try:
                await self._read_line(min(deadline, loop.time() + QUIET_S))
            except _NoReply:
                break
        await self._discard_stray()  # a line cut short: its start is not the answer to *OPC?

    async def close(self, *, lost: bool) -> None:
        if lost:
            self._writer.transport.abort()
        else:
            self._writer.close()
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._writer.wait_closed()
        except Exception:  # closing a dead link must never mask the real error
            self._writer.transport.abort()


# ---- INSTR: pyvisa-py in the instrument's own worker thread ---------------------------------------
class InstrIO(ScpiIO):
    """A pyvisa-py INSTR session (VXI-11, HiSLIP); every call runs in the instrument's one worker."""

    def __init__(self, name: str, timeout_s: float, resource: Any, executor: ThreadPoolExecutor) -> None:
        super().__init__(name, timeout_s)
        self._resource = resource  # a pyvisa resource; open_resource() is typed as the bare Resource
        self._executor = executor

    @classmethod
    async def connect(cls, name: str, resource_name: str, timeout_s: float, executor: ThreadPoolExecutor) -> InstrIO:
        opening = asyncio.get_running_loop().run_in_executor(executor, _open_resource, resource_name, timeout_s)
        try:
            resource = await asyncio.shield(opening)
        except asyncio.CancelledError:  # the session still opens: close it in the worker once it has
            opening.add_done_callback(lambda done: _close_opened(done, executor))
            raise
        return cls(name, timeout_s, resource, executor)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await _in_worker(self._executor, self._guarded, fn, *args)

    def _guarded(self, fn: Callable[..., T], *args: Any) -> T:
        """In the worker: pyvisa's errors as a timeout (_NoReply) or a lost link."""
        try:
            return fn(*args)
        except VisaIOError as exc:
            if exc.error_code != visa_constants.StatusCode.error_timeout:
                raise _LinkLost(str(exc)) from exc
            self._discard_input()
            raise _NoReply(self.last_command) from exc
        except (OSError, EOFError, _RpcError) as exc:  # broken pipe, reset, VXI-11 link gone
            raise _LinkLost(str(exc)) from exc

    async def write(self, command: str) -> None:
        self.last_command = command
        await self._call(self._resource.write, command)

    async def read(self) -> str:
        self.awaiting_reply = True
        reply = await self._call(self._read_blocking)
        self.awaiting_reply = False
        return reply

    async def query(self, command: str) -> str:  # one hop for the write and the read
        self.last_command = command
        self.awaiting_reply = True
        reply = await self._call(self._query_blocking, command)
        self.awaiting_reply = False
        return reply

    async def resync(self) -> None:
        self.awaiting_reply = True
        await self._call(self._resync_blocking)
        self.awaiting_reply = False

    async def close(self, *, lost: bool) -> None:
        await _in_worker(self._executor, self._close_blocking)

    # ---- worker-thread side -------------------------------------------------------------
    def _read_blocking(self) -> str:
        return str(self._resource.read()).strip()

    def _query_blocking(self, command: str) -> str:
        self._resource.write(command)
        return str(self._resource.read()).strip()

    def _resync_blocking(self) -> None:
        """Device clear, drain, then `*CLS` and `*OPC?` answered `1` with nothing after it. A
        VisaIOError (no answer) propagates: the link stays out of step."""
        self._device_clear()
        self._drain()
        for command in (RESYNC_CLEAR, RESYNC_CONFIRM):
            self.last_command = command
            self._resource.write(command)
        confirmed = False
        while True:
            try:
                line = self._read_line(QUIET_S if confirmed else self.timeout_s)
            except VisaIOError as exc:
                if confirmed and exc.error_code == visa_constants.StatusCode.error_timeout:
                    return  # `1`, then quiet: in step
                raise
            confirmed = line == "1"  # a stale `1` is followed by ours: read on until the line is quiet

    def _device_clear(self) -> None:
        """VXI-11/HiSLIP device clear: the instrument empties its input and output queues."""
        try:
            self._resource.clear()
        except VisaIOError as exc:
            if exc.error_code == visa_constants.StatusCode.error_timeout:
                raise
            # no device clear on this session: draining has to do

    def _drain(self) -> None:
        """Read and discard until nothing arrives for QUIET_S."""
        self._discard_input()
        for _ in range(max(1, int(self.timeout_s / QUIET_S))):  # bounded, like the timeout
            try:
                self._read_line(QUIET_S)
            except VisaIOError as exc:
                if exc.error_code != visa_constants.StatusCode.error_timeout:
                    raise
                return

    def _read_line(self, timeout_s: float) -> str:
        resource = self._resource
        resource.timeout = max(1, int(timeout_s * 1000))
        try:
            return str(resource.read()).strip()
        finally:
            resource.timeout = int(self.timeout_s * 1000)

    def _discard_input(self) -> None:
        try:
            self._resource.flush(visa_constants.BufferOperation.discard_read_buffer_no_io)
        except Exception:
            pass

    def _close_blocking(self) -> None:
        try:
            self._resource.close()
        except Exception:  # closing a dead session must never mask the real error
            pass


def _open_resource(resource_name: str, timeout_s: float) -> Any:
    try:
        return _rm().open_resource(resource_name, read_termination=TERMINATION, write_termination=TERMINATION,
                                   timeout=int(timeout_s * 1000), open_timeout=int(timeout_s * 1000))
    except Exception as exc:  # pyvisa-py raises OSError or a bare Exception on connect errors
        raise _LinkLost(str(exc)) from exc


def _close_opened(opening: asyncio.Future, executor: ThreadPoolExecutor) -> None:
    if not opening.cancelled() and opening.exception() is None:
        try:
            executor.submit(opening.result().close)
        except RuntimeError:  # the executor was shut down meanwhile: close here
            opening.result().close()


async def _in_worker(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the instrument's worker. Cancelling the caller leaves the call running (a
    thread cannot be stopped); the next call queues behind it in the same worker."""
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    future.add_done_callback(_retrieve)
    return await asyncio.shield(future)


def _retrieve(future: asyncio.Future) -> None:
    """A worker call nobody awaits any more (its caller was cancelled): its error is not news."""
    if not future.cancelled():
        future.exception()


async def _nothing(io: ScpiIO) -> None:
    return None


# ---- the transport --------------------------------------------------------------------------------
class ScpiTransport:
    """One SCPI instrument over TCP. Create it in the driver's constructor (the address
    is validated there); `timeout_s`, `reconnect_attempts` and `backoff_s` may be
    adjusted before `open()`. `allow_instr` accepts VXI-11/HiSLIP INSTR addresses."""

    def __init__(
        self,
        name: str,
        address: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
        allow_instr: bool = False,
    ) -> None:
        if allow_instr:
            self.visa = parse_visa_address(address)
        else:
            host, port = parse_scpi_address(address)
            self.visa = VisaAddress("socket", host, port, f"TCPIP::{host}::{port}::SOCKET")
        self.host, self.port = self.visa.host, self.visa.port
        self.name = name
        self.address = address
        self.timeout_s = timeout_s
        self.reconnect_attempts = reconnect_attempts
        self.backoff_s = backoff_s
        self._io: ScpiIO | None = None  # the open link
        self._executor: ThreadPoolExecutor | None = None  # INSTR: the instrument's one worker thread
        self._lock = asyncio.Lock()
        self._opened = False
        self._connections = 0
        self._given_up = False  # LinkLost was raised: one immediate reconnect per exchange until it is back
        # why the link must be brought back in step before it is used (a reply timed out, or an
        # exchange was cancelled while one was in flight); None while it is in step
        self._out_of_step: str | None = None
        # Run after a reconnect, before the repeated exchange: a driver restores the settings
        # an instrument that restarted has lost (e.g. numeric items).
        self.on_reconnect: Steps[None] | None = None

    # ---- lifecycle -----------------------------------------------------------
    async def open(self) -> None:
        self._opened = True
        self._connections = 0  # the first connection of this open() is not a reconnect
        await self.exchange(_nothing, what="connect")

    async def close(self) -> None:
        self._opened = False
        async with self._lock:
            await self._disconnect(lost=False)
            if self._executor is not None:
                self._executor.shutdown(wait=False)  # its last call (the close) has ended
                self._executor = None

    @property
    def out_of_step(self) -> bool:
        """A reply timed out (or an exchange was cancelled before its reply) and the link has
        not been brought back in step yet."""
        return self._out_of_step is not None

    # ---- exchanges -----------------------------------------------------------
    async def write(self, command: str) -> None:
        async def steps(io: ScpiIO) -> None:
            await io.write(command)

        await self.exchange(steps, what=command)

    async def query(self, command: str) -> str:
        async def steps(io: ScpiIO) -> str:
            return await io.query(command)

        return await self.exchange(steps, what=command)

    async def exchange(self, steps: Steps[T], *, what: str = "") -> T:
        """Run `await steps(io)` atomically (under the instrument's lock)."""
        if not self._opened:
            raise InstrumentError(f"{self.name}: not open (at {self.address}), cannot send {what!r}")
        async with self._lock:
            last_error: Exception | None = None
            retrying = not self._given_up
            attempts = self.reconnect_attempts if retrying else 0
            for attempt in range(attempts + 1):
                if attempt > 1:  # the first reconnect at once: a dropped connection is often back already
                    await asyncio.sleep(self.backoff_s * (attempt - 1))
                try:
                    if self._io is None:
                        self._io = await self._connect()
                        self._out_of_step = None  # a new connection carries no late reply of the old one
                        self._connections += 1
                        self._given_up = False
                        if self._connections > 1 and self.on_reconnect is not None:
                            await self._run(self._io, self.on_reconnect)
                    return await self._run(self._io, steps)
                except _LinkLost as exc:
                    last_error = exc
                    await self._disconnect(lost=True)
            self._given_up = True
            tried = (f"{self.reconnect_attempts} reconnect attempts failed" if retrying
                     else "still gone, one reconnect attempt failed")
            raise LinkLost(f"{self.name}: link to {self.address} lost during {what!r}; {tried} (last: {last_error})")

    async def _connect(self) -> ScpiIO:
        if self.visa.kind == "socket":
            assert self.visa.port is not None
            return await SocketIO.connect(self.name, self.visa.host, self.visa.port, self.timeout_s)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"scpi-{self.name}")
        return await InstrIO.connect(self.name, self.visa.resource, self.timeout_s, self._executor)

    async def _disconnect(self, *, lost: bool) -> None:
        io, self._io = self._io, None
        if io is not None:
            await io.close(lost=lost)

    async def _run(self, io: ScpiIO, steps: Steps[T]) -> T:
        await io.check()
        try:
            if self._out_of_step is not None:
                await io.resync()
                self._out_of_step = None
            return await steps(io)
        except _NoReply as exc:
            if problem := io.problem():
                raise _LinkLost(f"{problem} while waiting for the reply to {exc.command!r}") from exc
            if self._out_of_step is not None:  # the resync itself got no answer
                raise InstrumentError(
                    f"{self.name}: still not answering ({exc.command!r} got no reply within "
                    f"{self.timeout_s:g} s) since {self._out_of_step} at {self.address}"
                ) from exc
            self._out_of_step = f"{exc.command!r} timed out"
            came = f"only {exc.came_back!r} came back" if exc.came_back else "nothing came back"
            raise InstrumentError(
                f"{self.name}: no reply to {exc.command!r} within {self.timeout_s:g} s ({came} from {self.address})"
            ) from exc
        except asyncio.CancelledError:
            if io.awaiting_reply and self._out_of_step is None:  # its reply may still come
                self._out_of_step = f"{io.last_command!r} was cancelled before its reply"
            raise


def parse_float(name: str, command: str, reply: str) -> float:
    """A numeric SCPI reply (NR1/NR2/NR3) as float, or InstrumentError naming what came back."""
    try:
        return float(reply.strip())
    except ValueError:
        raise InstrumentError(f"{name}: malformed reply to {command!r}: {reply!r} is not a number") from None


def parse_int(name: str, command: str, reply: str) -> int:
    try:
        return int(float(reply.strip()))
    except ValueError:
        raise InstrumentError(f"{name}: malformed reply to {command!r}: {reply!r} is not an integer") from None


def parse_on_off(name: str, command: str, reply: str) -> bool:
    """A state reply: 1/ON is True, 0/OFF is False."""
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise InstrumentError(f"{name}: malformed reply to {command!r}: {reply!r}")


def parse_identity(name: str, command: str, reply: str, *, accept: Callable[[list[str]], bool],
                   what: str) -> Identity:
    """An `*IDN?` reply (vendor,model[,serial[,firmware]]) whose fields `accept` approves,
    else InstrumentError saying it is not `what`."""
    fields = [f.strip() for f in reply.split(",")]
    if len(fields) < 2 or not accept(fields):
        raise InstrumentError(f"{name}: {command!r} answered {reply!r}: not {what}")
    return Identity(vendor=fields[0], model=fields[1], serial=fields[2] if len(fields) > 2 else None,
                    firmware=fields[3] if len(fields) > 3 else None)
