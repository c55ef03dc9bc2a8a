"""SCPI over TCP through pyvisa with the pure-Python backend (pyvisa-py).

Addresses (board number optional: `TCPIP0::...`):
- `TCPIP::host::port::SOCKET`: a raw socket (Chroma 2101, ITECH 30000, many 5025);
- `TCPIP::host[::inst0]::INSTR`: VXI-11 (the port comes from the portmapper on port
  111); `TCPIP::host,port::INSTR` skips the portmapper and names the core port;
- `TCPIP::host::hislip0[,port]::INSTR`: HiSLIP (default port 4880).
Drivers of raw-socket-only instruments refuse INSTR (`allow_instr=False`).
Both terminations are "\\n": without a read termination pyvisa-py waits for the
whole timeout before returning.

Concurrency: pyvisa calls block, so every exchange runs in a worker thread
(the loop's default executor) under one `asyncio.Lock` per instrument. `exchange()` runs a
whole sequence (e.g. a set command and the error query after it) in one go, so no
other coroutine's query can slip in between and take its answer.

A cancelled exchange (the sampler stopping, a step cancelled) cannot stop its worker
thread: the thread is kept (`_worker`) and the next exchange, or close(), waits for it
before touching the session, so two threads never talk over one link.

Link loss: a peer that closed the socket, a reset or a broken pipe counts as a
dropped link. The transport reconnects at once, then after `backoff_s`, then after
2 x `backoff_s` (defaults: within 0.6 s of the loss) and repeats the exchange (the
bench's SCPI sequences are idempotent: setpoints and queries). A link that does not
come back within that window raises `LinkLost`; from then on each exchange tries one
immediate reconnect only, so the teardown that follows (loads off, EV unplugged) is
not held up by a new series of retries on every command. The window is a bound:
a lost instrument must stop the scenario with the loads off within 1 s (one sampling
period to notice, 0.6 s of retries, the rest for the teardown), and an instrument or
gateway that drops and re-accepts its connection comes back well inside it.

Timeouts: a timeout on a live link is not retried: it raises `InstrumentError` at
once, naming the instrument, the command and what came back. The reply may still
come (a stalled instrument answers late), and read as the answer to the next query
it would put the stream out of step for good. So the next exchange first brings the
link back in step: device clear on INSTR (VXI-11/HiSLIP) sessions; on a raw socket,
which has no device clear, whatever arrives is read and discarded until the line is
quiet; then `*CLS` (the late reply may have queued an error that is no command's of
ours, e.g. -410 Query INTERRUPTED) and `*OPC?`, whose `1` must be the last thing
that arrives. Until that succeeds the link stays out of step and every exchange
tries again (and fails with an error naming the command that timed out).
"""
from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import time
from collections.abc import Callable
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
_ADDRESS_RE = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)
_INSTR_RE = re.compile(r"^TCPIP\d*::(?P<host>[^:,]+)(,(?P<port>\d+))?(::(?P<device>[^:]+))?::INSTR$", re.IGNORECASE)

_resource_manager: pyvisa.ResourceManager | None = None


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


class ScpiIO:
    """Blocking write/query on an open resource; used inside the worker thread only."""

    def __init__(self, name: str, resource) -> None:
        self.name = name
        self._resource = resource
        self.last_command = ""

    def write(self, command: str) -> None:
        self.last_command = command
        self._resource.write(command)

    def query(self, command: str) -> str:
        self.last_command = command
        self._resource.write(command)
        return self._resource.read().strip()

    def query_float(self, command: str) -> float:
        return parse_float(self.name, command, self.query(command))

    def query_on_off(self, command: str) -> bool:
        return parse_on_off(self.name, command, self.query(command))

    def query_units(self, commands: list[str]) -> list[str]:
        """Several queries in one program message (IEEE 488.2 7.4: units joined by ';', each
        header from the root), one response message back with the replies joined by ';': one
        round trip instead of len(commands)."""
        message = ";".join(c if c.startswith((":", "*")) else f":{c}" for c in commands)
        replies = [r.strip() for r in self.query(message).split(";")]
        if len(replies) != len(commands):
            raise InstrumentError(f"{self.name}: {len(replies)} replies to the {len(commands)} queries of "
                                  f"{message!r}: {';'.join(replies)!r}")
        return replies

    def check_error_queue(self, query: str, after: str) -> None:
        """Read one `code,"message"` entry of the error queue; a non-zero code means the
        command(s) described by `after` were refused."""
        reply = self.query(query)
        code_text, _, message = reply.partition(",")
        try:
            code = int(code_text.strip())
        except ValueError:
            raise InstrumentError(f"{self.name}: malformed reply to {query!r} after {after}: {reply!r}") from None
        if code != 0:
            raise InstrumentError(f"{self.name}: {after} refused: {query} = {code},{message.strip()}")


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
        self._resource: Any = None  # a pyvisa resource; open_resource() is typed as the bare Resource
        self._lock = asyncio.Lock()
        self._opened = False
        self._connections = 0
        self._worker: asyncio.Future | None = None  # the last worker thread's exchange, maybe still running
        self._given_up = False  # LinkLost was raised: one immediate reconnect per exchange until it is back
        # the command whose reply timed out: the link must be brought back in step before it is used
        # (written and read in worker threads only, one at a time)
        self._out_of_step: str | None = None
        # Run (in the worker thread) after a reconnect, before the repeated exchange: a driver
        # restores the settings an instrument that restarted has lost (e.g. numeric items).
        self.on_reconnect: Callable[[ScpiIO], None] | None = None

    # ---- lifecycle -----------------------------------------------------------
    async def open(self) -> None:
        self._opened = True
        self._connections = 0  # the first connection of this open() is not a reconnect
        await self.exchange(lambda io: None, what="connect")

    async def close(self) -> None:
        self._opened = False
        async with self._lock:
            await self._in_worker(self._disconnect)

    @property
    def out_of_step(self) -> bool:
        """A reply timed out and the link has not been brought back in step yet."""
        return self._out_of_step is not None

    # ---- exchanges -----------------------------------------------------------
    async def write(self, command: str) -> None:
        await self.exchange(lambda io: io.write(command), what=command)

    async def query(self, command: str) -> str:
        return await self.exchange(lambda io: io.query(command), what=command)

    async def exchange(self, steps: Callable[[ScpiIO], T], *, what: str = "") -> T:
        """Run `steps(io)` (blocking writes/queries) in the worker thread, atomically."""
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
                    if self._resource is None:
                        await self._in_worker(self._connect)
                        self._connections += 1
                        self._given_up = False
                        if self._connections > 1 and self.on_reconnect is not None:
                            await self._in_worker(self._run, self.on_reconnect)
                    return await self._in_worker(self._run, steps)
                except _LinkLost as exc:
                    last_error = exc
                    await self._in_worker(self._disconnect)
            self._given_up = True
            tried = (f"{self.reconnect_attempts} reconnect attempts failed" if retrying
                     else "still gone, one reconnect attempt failed")
            raise LinkLost(f"{self.name}: link to {self.address} lost during {what!r}; {tried} (last: {last_error})")

    async def _in_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread, after the previous one ended. Cancelling the caller
        leaves the thread running (it cannot be stopped): it stays `_worker`, which the next
        call waits for, so a session is never used by two threads at once."""
        if self._worker is not None and not self._worker.done():
            await asyncio.wait({self._worker})
        worker = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        worker.add_done_callback(_retrieve)
        self._worker = worker
        return await asyncio.shield(worker)

    # ---- worker-thread side -------------------------------------------------------
    def _connect(self) -> None:
        self._out_of_step = None  # a new connection carries no late reply of the old one
        try:
            self._resource = _rm().open_resource(
                self.visa.resource,
                read_termination=TERMINATION,
                write_termination=TERMINATION,
                timeout=int(self.timeout_s * 1000),
                open_timeout=int(self.timeout_s * 1000),
            )
            sock = self._socket()
            if sock is not None:
                # send each message at once (NI-VISA's default, VI_ATTR_TCPIP_NODELAY): with Nagle's
                # algorithm a short query can wait for the peer's delayed ACK (up to 40 ms on Linux)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except Exception as exc:  # pyvisa-py raises OSError or a bare Exception on connect errors
            self._resource = None
            raise _LinkLost(str(exc)) from exc

    def _disconnect(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            try:
                resource.close()
            except Exception:  # closing a dead session must never mask the real error
                pass

    def _run(self, steps: Callable[[ScpiIO], T]) -> T:
        problem = self._link_problem()
        if problem:
            raise _LinkLost(problem)
        io = ScpiIO(self.name, self._resource)
        try:
            if self._out_of_step is not None:
                self._resync(io)
            return steps(io)
        except VisaIOError as exc:
            if exc.error_code != visa_constants.StatusCode.error_timeout:
                raise _LinkLost(str(exc)) from exc
            problem = self._link_problem()
            if problem:
                raise _LinkLost(f"{problem} while waiting for the reply to {io.last_command!r}") from exc
            self._discard_input()
            if self._out_of_step is not None:  # the resync itself got no answer
                raise InstrumentError(
                    f"{self.name}: still not answering ({io.last_command!r} got no reply within "
                    f"{self.timeout_s:g} s) since {self._out_of_step!r} timed out at {self.address}"
                ) from exc
            self._out_of_step = io.last_command
            raise InstrumentError(
                f"{self.name}: no reply to {io.last_command!r} within {self.timeout_s:g} s "
                f"(nothing came back from {self.address})"
            ) from exc
        except (OSError, EOFError, _RpcError) as exc:  # broken pipe, reset, VXI-11 link gone
            raise _LinkLost(str(exc)) from exc

    # ---- resynchronisation after a timeout (worker thread) ---------------------------------
    def _resync(self, io: ScpiIO) -> None:
        """Clear the device (INSTR) or drain the socket, then `*CLS` and `*OPC?` answered `1` with
        nothing after it: every late reply is gone and the next query gets its own answer. A
        VisaIOError (no answer) propagates: the link stays out of step."""
        if self.visa.kind != "socket":
            self._device_clear()
        deadline = time.monotonic() + self.timeout_s  # worker-thread time, as pyvisa's own timeouts
        self._drain(deadline)
        io.write(RESYNC_CLEAR)
        io.write(RESYNC_CONFIRM)
        confirmed = False
        while True:
            try:
                line = self._read_line(QUIET_S if confirmed else deadline - time.monotonic())
            except VisaIOError as exc:
                if confirmed and exc.error_code == visa_constants.StatusCode.error_timeout:
                    break  # `1`, then quiet: in step
                raise
            confirmed = line == "1"  # a stale `1` is followed by ours: read on until the line is quiet
        self._out_of_step = None

    def _device_clear(self) -> None:
        """VXI-11/HiSLIP device clear: the instrument empties its input and output queues."""
        try:
            self._resource.clear()
        except VisaIOError as exc:
            if exc.error_code == visa_constants.StatusCode.error_timeout:
                raise
            # no device clear on this session: draining has to do

    def _drain(self, deadline: float) -> None:
        """Read and discard until nothing arrives for QUIET_S (or the deadline passes)."""
        self._discard_input()
        while time.monotonic() < deadline:
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

    def _socket(self) -> socket.socket | None:
        # pyvisa-py keeps the raw socket on its session object; other backends may not.
        # INSTR sessions frame their own records: never peek into those.
        if self.visa.kind != "socket":
            return None
        try:
            sock = self._resource.visalib.sessions[self._resource.session].interface
        except Exception:
            return None
        return sock if isinstance(sock, socket.socket) else None

    def _link_problem(self) -> str | None:
        """Why the link is unusable (refused, reset, closed by the peer), or None if it is fine.
        Stray bytes (a late reply to a timed-out query) are discarded on the way, so they
        are never taken for the next answer."""
        sock = self._socket()
        if sock is None:
            return None
        try:
            pending = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if pending:  # pyvisa-py reports a refused connect as opened; the error waits here
                return os.strerror(pending)
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return None
            data = sock.recv(4096, socket.MSG_PEEK)
            if not data:
                return "peer closed the connection"
            sock.recv(len(data))
            return None
        except OSError as exc:
            return str(exc)

    def _discard_input(self) -> None:
        try:
            self._resource.flush(visa_constants.BufferOperation.discard_read_buffer_no_io)
        except Exception:
            pass


def _retrieve(future: asyncio.Future) -> None:
    """A worker nobody awaits any more (its caller was cancelled): its error is not news."""
    if not future.cancelled():
        future.exception()


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
