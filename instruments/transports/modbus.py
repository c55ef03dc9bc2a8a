"""Modbus register reads over TCP with pymodbus 3.11 (async client).

Addresses:
- `modbus+tcp://host:port?unit=N`          Modbus TCP (MBAP header, `FramerType.SOCKET`)
- `modbus+rtu-over-tcp://host:port?unit=N` RTU frames with CRC tunnelled through a
  transparent TCP gateway (`FramerType.RTU`)
Port defaults to 502, unit to 1 (valid 1..247).

Errors become `InstrumentError` naming the instrument, the register and what came
back: an exception response (`ModbusExceptionError`, with its code), no reply (a
timeout: on RTU a wrong unit id or bad CRC gets no answer at all), or a reply of
the wrong length. pymodbus's own retries and automatic reconnection are switched off
so these rules hold in one place.

Link loss: a dropped TCP link is reopened at once, then after `backoff_s`, then after
2 x `backoff_s` (defaults: within 0.6 s), and the read is repeated (reads are
idempotent); then `LinkLost`, after which each request tries one immediate reconnect
only (the same bound and reasons as the SCPI transport, see scpi.py).

Late replies (a stalled meter or gateway answering after the timeout): after a
timeout the connection is closed and the next request opens a new one, so a late
reply arrives on a closed socket and can never be read as a later request's answer.
Modbus TCP would also tell them apart by the MBAP transaction id (pymodbus 3.11 skips
a frame with another id, and drops a reply when no request is pending), but when a
late frame and the awaited one arrive in one TCP segment it loses the awaited one
too (`FramerBase.handleFrame` does not advance past a skipped frame); and RTU frames
carry no transaction id at all. (A gateway that forwards a late RS485 reply into the
new connection could still pass it off as the next answer: RTU cannot tell; keep the
timeout above the meter's worst reply time.)

`decode()` turns registers into values (float32/float64/int16/int32/uint..., either
word order: the EM24 sends its INT32 low word first); `read_device_identification()`
is function code 43/14 (vendor, product code, revision, product name).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from instruments.roles import InstrumentError, LinkLost

DEFAULT_PORT = 502
DEFAULT_TIMEOUT_S = 2.0
DEFAULT_RECONNECT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.2

Framing = Literal["tcp", "rtu-over-tcp"]
SCHEMES: dict[str, Framing] = {"modbus+tcp": "tcp", "modbus+rtu-over-tcp": "rtu-over-tcp"}
FRAMERS: dict[Framing, FramerType] = {"tcp": FramerType.SOCKET, "rtu-over-tcp": FramerType.RTU}

EXCEPTION_NAMES = {
    0x01: "ILLEGAL FUNCTION",
    0x02: "ILLEGAL DATA ADDRESS",
    0x03: "ILLEGAL DATA VALUE",
    0x04: "SERVER DEVICE FAILURE",
    0x05: "ACKNOWLEDGE",
    0x06: "SERVER DEVICE BUSY",
    0x0A: "GATEWAY PATH UNAVAILABLE",
    0x0B: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}
FUNCTION_NAMES = {3: "read holding registers", 4: "read input registers"}

DataType = Literal["float32", "float64", "int16", "uint16", "int32", "uint32"]
WordOrder = Literal["big", "little"]
_DATATYPES = {
    "float32": AsyncModbusTcpClient.DATATYPE.FLOAT32,
    "float64": AsyncModbusTcpClient.DATATYPE.FLOAT64,
    "int16": AsyncModbusTcpClient.DATATYPE.INT16,
    "uint16": AsyncModbusTcpClient.DATATYPE.UINT16,
    "int32": AsyncModbusTcpClient.DATATYPE.INT32,
    "uint32": AsyncModbusTcpClient.DATATYPE.UINT32,
}
REGISTERS_PER_VALUE: dict[str, int] = {"float32": 2, "float64": 4, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2}
DEVICE_ID_OBJECTS = {0x00: "vendor", 0x01: "product_code", 0x02: "revision", 0x03: "vendor_url",
                     0x04: "product_name", 0x05: "model_name"}


def decode(registers: list[int], datatype: DataType, word_order: WordOrder = "big") -> list[float | int]:
    """Registers -> values of one type. `word_order="little"` is low word first (e.g. the
    EM24's INT32); bytes within a register are always big-endian (Modbus)."""
    values = AsyncModbusTcpClient.convert_from_registers(list(registers), _DATATYPES[datatype], word_order=word_order)
    assert not isinstance(values, str)  # only the STRING datatype decodes to str
    return list(values) if isinstance(values, list) else [values]


class ModbusExceptionError(InstrumentError):
    """The device answered with a Modbus exception response."""

    def __init__(self, message: str, exception_code: int) -> None:
        super().__init__(message)
        self.exception_code = exception_code


@dataclass(frozen=True)
class ModbusAddress:
    host: str
    port: int
    unit: int
    framing: Framing

    @classmethod
    def parse(cls, address: str) -> ModbusAddress:
        parts = urlsplit(address.strip())
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(
                f"not a Modbus address: {address!r} "
                "(expected modbus+tcp://host:port?unit=N or modbus+rtu-over-tcp://host:port?unit=N)"
            )
        query = parse_qs(parts.query)
        try:
            unit = int(query.get("unit", ["1"])[0])
            port = parts.port if parts.port is not None else DEFAULT_PORT
        except ValueError as exc:
            raise ValueError(f"bad Modbus address {address!r}: {exc}") from None
        if not 1 <= unit <= 247:
            raise ValueError(f"bad Modbus address {address!r}: unit id {unit} is outside 1..247")
        return cls(host=parts.hostname, port=port, unit=unit, framing=SCHEMES[parts.scheme])

    def __str__(self) -> str:
        scheme = next(s for s, f in SCHEMES.items() if f == self.framing)
        return f"{scheme}://{self.host}:{self.port}?unit={self.unit}"


class _LinkLost(Exception):
    pass


class ModbusTransport:
    """Register reads for one Modbus device. `timeout_s`, `reconnect_attempts` and
    `backoff_s` may be adjusted before `open()`."""

    def __init__(
        self,
        name: str,
        address: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        reconnect_attempts: int = DEFAULT_RECONNECT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        self.target = ModbusAddress.parse(address)
        self.name = name
        self.address = address
        self.timeout_s = timeout_s
        self.reconnect_attempts = reconnect_attempts
        self.backoff_s = backoff_s
        self._client: AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._in_flight = False
        self._given_up = False  # LinkLost was raised: one immediate reconnect per request until it is back

    async def open(self) -> None:
        async with self._lock:
            self._client = AsyncModbusTcpClient(
                self.target.host,
                port=self.target.port,
                framer=FRAMERS[self.target.framing],
                timeout=self.timeout_s,
                retries=0,
                reconnect_delay=0,  # no background reconnect: _with_link() owns that
                name=self.name,
                trace_connect=self._on_connection_change,
            )
            await self._with_link(self._ensure_connected, what="connect")

    async def close(self) -> None:
        async with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        return await self._read(4, address, count)

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        return await self._read(3, address, count)

    async def read_registers(self, function_code: int, address: int, count: int) -> list[int]:
        """FC03 (holding) or FC04 (input), for meters whose map says which one."""
        if function_code not in FUNCTION_NAMES:
            raise ValueError(f"{self.name}: function code {function_code} is not a register read")
        return await self._read(function_code, address, count)

    async def read_device_identification(self, read_code: int = 2) -> dict[str, str]:
        """Read Device Identification (FC43/14): read code 1 = basic objects (vendor, product
        code, revision), 2 = regular (adds vendor URL, product name, model name)."""
        what = f"read device identification (FC43/14 code {read_code}, unit {self.target.unit})"
        if self._client is None:
            raise InstrumentError(f"{self.name}: not open (at {self.address}), cannot {what}")
        async with self._lock:
            return await self._with_link(lambda: self._read_identification_once(read_code, what), what=what)

    # ---- internals ------------------------------------------------------------
    @property
    def _open_client(self) -> AsyncModbusTcpClient:
        """The client, for the internals: they run under the lock, after a check that it is open."""
        assert self._client is not None
        return self._client

    async def _read_identification_once(self, read_code: int, what: str) -> dict[str, str]:
        self._in_flight = True
        try:
            response = await self._open_client.read_device_information(read_code=read_code, object_id=0,
                                                                        device_id=self.target.unit)
        except ModbusException as exc:
            if not self._open_client.connected:
                raise _LinkLost(str(exc)) from exc
            self._open_client.close()  # a late reply must not reach a later request
            raise InstrumentError(f"{self.name}: {what}: no valid reply from {self.address}: {exc}") from exc
        finally:
            self._in_flight = False
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise ModbusExceptionError(
                f"{self.name}: {what}: Modbus exception {code:02d} ({EXCEPTION_NAMES.get(code, 'unknown')})", code)
        info = getattr(response, "information", {}) or {}
        return {DEVICE_ID_OBJECTS.get(k, f"object_{k:02X}"): (v.decode("ascii", "replace") if isinstance(v, bytes)
                                                               else str(v)) for k, v in info.items()}

    def _describe(self, function_code: int, address: int, count: int) -> str:
        return (
            f"{FUNCTION_NAMES[function_code]} 0x{address:04X} count {count} "
            f"(FC{function_code:02d}, unit {self.target.unit})"
        )

    async def _read(self, function_code: int, address: int, count: int) -> list[int]:
        what = self._describe(function_code, address, count)
        if self._client is None:
            raise InstrumentError(f"{self.name}: not open (at {self.address}), cannot {what}")
        async with self._lock:
            return await self._with_link(lambda: self._read_once(function_code, address, count, what), what=what)

    async def _with_link(self, operation, *, what: str):
        last_error: Exception | None = None
        retrying = not self._given_up
        attempts = self.reconnect_attempts if retrying else 0
        for attempt in range(attempts + 1):
            if attempt > 1:  # the first reconnect at once: a dropped connection is often back already
                await asyncio.sleep(self.backoff_s * (attempt - 1))
            try:
                await self._ensure_connected()
                return await operation()
            except _LinkLost as exc:
                last_error = exc
                self._open_client.close()
        self._given_up = True
        tried = (f"{self.reconnect_attempts} reconnect attempts failed" if retrying
                 else "still gone, one reconnect attempt failed")
        raise LinkLost(f"{self.name}: link to {self.address} lost during {what}; {tried} (last: {last_error})")

    async def _ensure_connected(self) -> None:
        client = self._open_client
        if client.connected:
            return
        # the protocol's own connect: the client's connect() adds a fixed 0.1 s sleep to every
        # attempt, which a reconnect series within its time bound cannot afford
        if not await client.ctx.connect():
            raise _LinkLost(f"cannot connect to {self.target.host}:{self.target.port}")
        self._given_up = False

    def _on_connection_change(self, connected: bool) -> None:
        # pymodbus would wait out the full timeout for a reply on a link that is already
        # gone; fail the pending request at once so the reconnect starts without delay.
        if connected or not self._in_flight or self._client is None:
            return
        future = getattr(self._client.ctx, "response_future", None)
        if future is not None and not future.done():
            future.set_exception(ConnectionException("connection lost while waiting for the reply"))

    async def _read_once(self, function_code: int, address: int, count: int, what: str) -> list[int]:
        client = self._open_client
        reader = client.read_input_registers if function_code == 4 else client.read_holding_registers
        self._in_flight = True
        try:
            response = await reader(address, count=count, device_id=self.target.unit)
        except ModbusException as exc:
            if not self._open_client.connected:
                raise _LinkLost(str(exc)) from exc
            client.close()  # its late reply must not reach a later request (see the module docstring)
            if "No response" not in str(exc):  # e.g. a reply for another unit or transaction
                raise InstrumentError(f"{self.name}: {what}: bad reply from {self.address}: {exc}") from exc
            raise InstrumentError(
                f"{self.name}: {what}: no reply within {self.timeout_s:g} s from {self.address} "
                "(nothing came back; on RTU a wrong unit id or a bad CRC is not answered)"
            ) from exc
        finally:
            self._in_flight = False
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise ModbusExceptionError(
                f"{self.name}: {what}: Modbus exception {code:02d} ({EXCEPTION_NAMES.get(code, 'unknown')})",
                code,
            )
        registers = list(getattr(response, "registers", []) or [])
        if len(registers) != count:
            raise InstrumentError(
                f"{self.name}: {what}: malformed reply with {len(registers)} registers {registers!r}"
            )
        return registers
