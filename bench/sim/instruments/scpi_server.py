"""A small SCPI device model and an asyncio server that speaks it over raw TCP.

What a simulated SCPI instrument gets from here:
- headers in SCPI notation, upper case = short form: `MEASure:CURRent?` accepts
  `MEAS:CURR?`, `measure:current?`, `:Meas:Curr?`; `[LOAD:]MODE` has an optional node;
- several commands on one line separated by `;`, with the SCPI path rule: a
  command without a leading `:` is resolved relative to the previous command's
  path (`CP:STATE?;DUTY?` means `CP:DUTY?`), falling back to the root as lenient
  instruments do; replies to several queries on one line are joined by `;`;
- the IEEE 488.2 common commands `*IDN?`, `*RST`, `*CLS`, `*ESR?`, `*OPC?`;
- an error queue (`-113,"Undefined header"`, `-222,"Data out of range"`, ...)
  mirrored in the standard event status register (command error bit 5, execution
  error bit 4, device error bit 3, query error bit 2); `SYSTem:ERRor?` reads the
  queue only where the model supports it (`SUPPORTS_SYST_ERR`);
- a model may require that a reply is read before the next command
  (`QUERY_INTERRUPT`, the Chroma rule, IEEE 488.2 "Query INTERRUPTED"). Over TCP
  the server cannot see when the client reads, so it mimics the rule where it is
  observable: if the next command line has already arrived when a reply is due,
  the client sent it without reading the reply first; the reply is dropped and
  -410 is queued. A client that queries, reads, then sends never triggers it;
- a stall (`device.stall(seconds)`, see `stall.py`): the instrument reads nothing
  for that long, then works through everything it was sent meanwhile as one input
  (so the rule above applies to it) and the late replies go out in order.

Simulators never read the time themselves (the Plant's clock is the only clock).
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bench.sim.instruments.stall import LinkStall

log = logging.getLogger(__name__)

# ---- SCPI error codes used by the simulators ------------------------------------
NO_ERROR = (0, "No error")
SYNTAX_ERROR = (-102, "Syntax error")
DATA_TYPE_ERROR = (-104, "Data type error")
PARAMETER_NOT_ALLOWED = (-108, "Parameter not allowed")
MISSING_PARAMETER = (-109, "Missing parameter")
UNDEFINED_HEADER = (-113, "Undefined header")
EXECUTION_ERROR = (-200, "Execution error")
SETTINGS_CONFLICT = (-221, "Settings conflict")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER_VALUE = (-224, "Illegal parameter value")
DEVICE_ERROR = (-300, "Device-specific error")
QUEUE_OVERFLOW = (-350, "Queue overflow")
QUERY_INTERRUPTED = (-410, "Query INTERRUPTED")

ERROR_QUEUE_SIZE = 10
ESR_OPC, ESR_QUERY, ESR_DEVICE, ESR_EXECUTION, ESR_COMMAND = 1, 4, 8, 16, 32


class ScpiError(Exception):
    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(f"{error[0]},{error[1]}{'; ' + detail if detail else ''}")
        self.code, self.message = error
        self.detail = detail


def esr_bit(code: int) -> int:
    if -199 <= code <= -100:
        return ESR_COMMAND
    if -299 <= code <= -200:
        return ESR_EXECUTION
    if -399 <= code <= -300:
        return ESR_DEVICE
    if -499 <= code <= -400:
        return ESR_QUERY
    return 0


# ---- header patterns -----------------------------------------------------------------
@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool
    numbered: bool = False  # `ITEM#`: a numeric suffix (`ITEM12`), 1 when left out

    def match(self, word: str) -> int | None:
        """The numeric suffix (1 when absent) if `word` is this node, else None."""
        if not self.numbered:
            return 1 if word in (self.short, self.long) else None
        m = re.fullmatch(r"([A-Z]+)(\d*)", word)
        if not m or m[1] not in (self.short, self.long):
            return None
        return int(m[2]) if m[2] else 1


def _parse_pattern(pattern: str) -> tuple[tuple[_Node, ...], bool]:
    """`[LOAD:]CURRent?` -> nodes and the query flag; `ITEM#` takes a numeric suffix."""
    query = pattern.endswith("?")
    body = pattern.rstrip("?")
    nodes = []
    for m in re.finditer(r"\[:?([A-Za-z*]+#?):?\]|([A-Za-z*]+#?)", body):
        word = m.group(1) or m.group(2)
        numbered = word.endswith("#")
        word = word.rstrip("#")
        short = "".join(c for c in word if c.isupper() or c == "*") or word.upper()
        nodes.append(_Node(short=short, long=word.upper(), optional=m.group(1) is not None, numbered=numbered))
    return tuple(nodes), query


def _match(nodes: tuple[_Node, ...], words: list[str]) -> list[int] | None:
    """The numeric suffixes of the numbered nodes if the words match the nodes, else None."""
    if not nodes:
        return [] if not words else None
    head, rest = nodes[0], nodes[1:]
    if words and (suffix := head.match(words[0])) is not None:
        tail = _match(rest, words[1:])
        if tail is not None:
            return ([suffix] if head.numbered else []) + tail
    return _match(rest, words) if head.optional else None


Handler = Callable[..., "str | None"]


@dataclass(frozen=True)
class Command:
    """A header pattern and its handler. The handler gets the parameters; a pattern with
    numbered nodes (`ITEM#`) also gets their suffixes: `handler(args, suffixes)`."""

    pattern: str
    handler: Handler

    def __post_init__(self) -> None:
        nodes, query = _parse_pattern(self.pattern)
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_query", query)
        object.__setattr__(self, "_numbered", any(n.numbered for n in nodes))

    def matches(self, words: list[str], query: bool) -> bool:
        own_query = self._query  # type: ignore[attr-defined]  # set in __post_init__
        return query == own_query and _match(self._nodes, words) is not None  # type: ignore[attr-defined]  # ditto

    def call(self, words: list[str], args: list[str]) -> str | None:
        if self._numbered:  # type: ignore[attr-defined]  # set in __post_init__
            return self.handler(args, _match(self._nodes, words))  # type: ignore[attr-defined]  # set in __post_init__
        return self.handler(args)


# ---- parameter helpers for handlers ----------------------------------------------------
def one_arg(args: list[str]) -> str:
    if not args or not args[0]:
        raise ScpiError(MISSING_PARAMETER)
    if len(args) > 1:
        raise ScpiError(PARAMETER_NOT_ALLOWED)
    return args[0].strip()


def number_arg(args: list[str], lo: float, hi: float) -> float:
    text = one_arg(args)
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(DATA_TYPE_ERROR, text) from None
    if not lo <= value <= hi:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} outside {lo:g}..{hi:g}")
    return value


def choice_arg(args: list[str], choices: tuple[str, ...]) -> str:
    text = one_arg(args).upper()
    if text not in choices:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)
    return text


def bool_arg(args: list[str]) -> bool:
    text = one_arg(args).upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, text)


def no_args(args: list[str]) -> None:
    if args:
        raise ScpiError(PARAMETER_NOT_ALLOWED)


# ---- the device model ----------------------------------------------------------------
class ScpiDevice:
    """Base of a simulated SCPI instrument: subclasses list their commands."""

    SUPPORTS_SYST_ERR = True
    QUERY_INTERRUPT = False

    def __init__(self) -> None:
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self.link_stall = LinkStall()
        common = [
            Command("*IDN?", lambda a: self.idn()),
            Command("*RST", self._rst),
            Command("*CLS", self._cls),
            Command("*ESR?", self._esr),
            Command("*OPC?", lambda a: "1"),
        ]
        if self.SUPPORTS_SYST_ERR:
            common.append(Command("SYSTem:ERRor[:NEXT]?", self._syst_err))
        self._commands = common + self.commands()
        self._found: dict[tuple[tuple[str, ...], bool], Command | None] = {}  # the command table is fixed

    # subclasses -------------------------------------------------------------------------
    def commands(self) -> list[Command]:
        return []

    def idn(self) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        """*RST: the model's default state."""

    def before_command(self) -> None:
        """Hook run before every command (e.g. protection checks on the live Plant)."""

    def stall(self, seconds: float) -> None:
        """Stop answering for `seconds` (busy), then answer what was sent meanwhile, late."""
        self.link_stall.start(seconds)

    # error queue ---------------------------------------------------------------------
    def push_error(self, error: tuple[int, str], detail: str = "") -> None:
        code, message = error
        if detail:
            message = f"{message}; {detail}"
        self.esr |= esr_bit(code)
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = QUEUE_OVERFLOW
        else:
            self.errors.append((code, message))

    def pop_error(self) -> tuple[int, str]:
        return self.errors.popleft() if self.errors else NO_ERROR

    # execution -----------------------------------------------------------------------
    def execute_line(self, line: str) -> list[str]:
        """Run one received line; return the replies of its queries."""
        replies: list[str] = []
        path: list[str] = []
        for unit in (u.strip() for u in line.split(";")):
            if not unit:
                continue
            try:
                self.before_command()
                reply, path = self._execute_unit(unit, path)
            except ScpiError as err:
                self.push_error((err.code, err.message), err.detail)
                break  # SCPI: the rest of the line is not executed after an error
            except Exception as exc:  # a simulator defect: a device error, not a dropped link
                log.exception("simulated instrument failed on %r", unit)
                self.push_error(DEVICE_ERROR, f"{type(exc).__name__}: {exc}")
                break
            if reply is not None:
                replies.append(reply)
        return replies

    def _execute_unit(self, unit: str, path: list[str]) -> tuple[str | None, list[str]]:
        header, _, rest = unit.partition(" ")
        header = header.strip().upper()
        args = [a.strip() for a in rest.split(",")] if rest.strip() else []
        query = header.endswith("?")
        header = header.rstrip("?")
        if not header or not re.fullmatch(r":?\*?[A-Z][A-Z0-9]*(:[A-Z][A-Z0-9]*)*", header):
            raise ScpiError(SYNTAX_ERROR, unit)
        if header.startswith("*"):
            return self._dispatch([header], query, args, unit), path
        absolute = header.startswith(":")
        words = header.lstrip(":").split(":")
        candidates = [words] if absolute or not path else [path + words, words]
        for cand in candidates:
            command = self._find(cand, query)
            if command is not None:
                return command.call(cand, args), cand[:-1]
        raise ScpiError(UNDEFINED_HEADER, unit)

    def _dispatch(self, words: list[str], query: bool, args: list[str], unit: str) -> str | None:
        command = self._find(words, query)
        if command is None:
            raise ScpiError(UNDEFINED_HEADER, unit)
        return command.call(words, args)

    def _find(self, words: list[str], query: bool) -> Command | None:
        key = (tuple(words), query)
        if key not in self._found:
            self._found[key] = next((c for c in self._commands if c.matches(words, query)), None)
        return self._found[key]

    # common commands ----------------------------------------------------------------
    def _rst(self, args: list[str]) -> None:
        no_args(args)
        self.reset()

    def _cls(self, args: list[str]) -> None:
        no_args(args)
        self.errors.clear()
        self.esr = 0

    def _esr(self, args: list[str]) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _syst_err(self, args: list[str]) -> str:
        code, message = self.pop_error()
        return f'{code},"{message}"'


# ---- the TCP servers --------------------------------------------------------------------
class DeviceTcpServer:
    """What every simulator server shares: serves one `ScpiDevice` at host:port (0 binds an
    ephemeral port; read it from `.port` after start()) and tracks each connection's writer
    and task so close() leaves nothing running. Subclasses speak the wire protocol in
    `_converse`."""

    def __init__(self, device: ScpiDevice, host: str = "127.0.0.1", port: int = 0) -> None:
        self.device = device
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs each connection in its own task
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class ScpiServer(DeviceTcpServer):
    """Serves one `ScpiDevice` on a TCP port (newline-terminated, like a LAN instrument's
    raw socket port). Port 0 binds an ephemeral port; read it from `.port` after start()."""

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while data := await reader.read(4096):
            if self.device.link_stall.active:  # busy: the input waits, then is read as one
                await self.device.link_stall.passed()
                data += await _received_meanwhile(reader)
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            out = self._handle_lines([ln.decode("ascii", "replace").strip() for ln in lines], buffer)
            if out:
                writer.write(out)
                await writer.drain()

    def _handle_lines(self, lines: list[str], partial: bytes) -> bytes:
        out = b""
        lines = [ln for ln in lines if ln]
        for i, line in enumerate(lines):
            replies = self.device.execute_line(line)
            if not replies:
                continue
            next_command_waiting = i < len(lines) - 1 or bool(partial.strip())
            if self.device.QUERY_INTERRUPT and next_command_waiting:
                self.device.push_error(QUERY_INTERRUPTED, "reply not read before the next command")
                continue
            out += (";".join(replies) + "\n").encode("ascii")
        return out


async def _received_meanwhile(reader: asyncio.StreamReader) -> bytes:
    """What is already buffered in `reader`, without waiting for more: `read()` returns at once
    when its buffer holds data, and a zero timeout cancels it only if it had to wait."""
    try:
        async with asyncio.timeout(0):
            return await reader.read(1 << 16)
    except TimeoutError:
        return b""
