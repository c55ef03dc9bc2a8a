"""A simulated Modbus meter behind a gateway: a pymodbus 3.11 server whose register
image is computed live from the Plant at every request, plus the word encoders the
meter simulators share.

Framing and unit id, as a real gateway and meter behave:
- Modbus TCP framing (`modbus+tcp://`): a request for another unit id gets exception
  0x0B (gateway target device failed to respond) from the gateway;
- RTU framing tunnelled through TCP (`modbus+rtu-over-tcp://`): the meter on the RS485
  line stays silent for another unit id, the client times out.
Each model's register rules live in its device context (`getValues` returns the
words or an exception code).
"""
from __future__ import annotations

import struct
from typing import Any

from pymodbus import ModbusDeviceIdentification
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer

FRAMINGS = {"tcp": FramerType.SOCKET, "rtu-over-tcp": FramerType.RTU, "rtu": FramerType.RTU}
MAX_REGISTERS = 125  # Modbus limit for one read
NAN_WORDS = [0x7FC0, 0x0000]


def float32_words(value: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def float64_words(value: float) -> list[int]:
    return list(struct.unpack(">HHHH", struct.pack(">d", value)))


def uint32_words(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def int32_words(value: int, word_order: str = "big") -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">i", value))
    return [hi, lo] if word_order == "big" else [lo, hi]


def int16_words(value: int) -> list[int]:
    return [struct.unpack(">H", struct.pack(">h", value))[0]]


class ModbusMeterServer:
    """One simulated meter (its device context) behind a Modbus TCP or RTU-over-TCP
    gateway on host:port. Port 0 binds an ephemeral port; read `.port` after start()."""

    def __init__(
        self,
        context: ModbusBaseDeviceContext,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        unit_id: int = 1,
        framing: str = "tcp",
        identity: ModbusDeviceIdentification | None = None,
        sim_name: str = "meter",
    ) -> None:
        if framing not in FRAMINGS:
            raise ValueError(f"{sim_name} simulator: framing must be one of {sorted(FRAMINGS)}, got {framing!r}")
        if not 1 <= unit_id <= 247:
            raise ValueError(f"{sim_name} simulator: unit id {unit_id} outside 1..247")
        self.context = context
        self.host = host
        self.unit_id = unit_id
        self.framing = "rtu-over-tcp" if framing == "rtu" else framing
        self.identity = identity
        self._requested_port = port
        self._server: ModbusTcpServer | None = None
        self._listener: Any = None  # the asyncio.Server pymodbus keeps as `transport` (typed BaseTransport)

    @property
    def port(self) -> int:
        return self._listener.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        scheme = "modbus+tcp" if self.framing == "tcp" else "modbus+rtu-over-tcp"
        return f"{scheme}://{self.host}:{self.port}?unit={self.unit_id}"

    async def start(self) -> None:
        self._server = ModbusTcpServer(
            ModbusServerContext(devices={self.unit_id: self.context}, single=False),
            framer=FRAMINGS[self.framing],
            identity=self.identity,
            address=(self.host, self._requested_port),
            ignore_missing_devices=self.framing != "tcp",
        )
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError as exc:  # pymodbus reports a failed bind this way
            self._server = None
            raise OSError(f"cannot listen on {self.host}:{self._requested_port} (address in use?): {exc}") from exc
        self._listener = self._server.transport  # the asyncio.Server

    async def close(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._listener is not None:
            await self._listener.wait_closed()
