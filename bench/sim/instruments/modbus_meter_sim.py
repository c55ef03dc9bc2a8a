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

A stall (`stall(seconds)`, see `stall.py`): requests are answered as they arrive but
the replies are held back until the stall ends, then sent in order, each with the
transaction id of its own request (MBAP), as a congested gateway would.
"""
from __future__ import annotations

import struct
from typing import Any

from pymodbus import ModbusDeviceIdentification
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from bench.sim.instruments.stall import LinkStall

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


class _StallingHandler(ServerRequestHandler):
    """One client connection whose replies wait while the link is stalled."""

    def __init__(self, owner: _StallingTcpServer) -> None:
        super().__init__(owner, owner.trace_packet, owner.trace_pdu, owner.trace_connect)
        self._stall = owner.link_stall

    def send(self, data: bytes, addr: tuple | None = None) -> None:
        self._stall.hold(lambda: ServerRequestHandler.send(self, data, addr))


class _StallingTcpServer(ModbusTcpServer):
    def __init__(self, *args: Any, link_stall: LinkStall, **kwargs: Any) -> None:
        self.link_stall = link_stall
        super().__init__(*args, **kwargs)

    def callback_new_connection(self) -> _StallingHandler:
        return _StallingHandler(self)


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
        self.link_stall = LinkStall()
        self._server: ModbusTcpServer | None = None
        self._listener: Any = None  # the asyncio.Server pymodbus keeps as `transport` (typed BaseTransport)

    @property
    def port(self) -> int:
        return self._listener.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        scheme = "modbus+tcp" if self.framing == "tcp" else "modbus+rtu-over-tcp"
        return f"{scheme}://{self.host}:{self.port}?unit={self.unit_id}"

    def stall(self, seconds: float) -> None:
        """Hold every reply back for `seconds`, then send them in order (late)."""
        self.link_stall.start(seconds)

    async def start(self) -> None:
        self._server = _StallingTcpServer(
            ModbusServerContext(devices={self.unit_id: self.context}, single=False),
            link_stall=self.link_stall,
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
