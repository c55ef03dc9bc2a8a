"""Serves a `ScpiDevice` over VXI-11 (ONC RPC over TCP), the protocol behind LAN
instruments' `TCPIP::host::INSTR` addresses, so drivers are tested on the INSTR path too.

What is implemented (VXI-11 core channel, program 0x0607AF version 1): create_link,
device_write (a message is executed when its END flag arrives), device_read,
device_readstb, device_clear, device_remote, device_local, destroy_link; anything
else answers "operation not supported". There is no portmapper (it would need port
111): clients name the core port in the address, `TCPIP::127.0.0.1,<port>::INSTR`
(pyvisa-py then skips the portmapper). No abort channel (abort port 0).

Differences from an instrument, on purpose: device_read with nothing to read answers
io_timeout at once instead of after the client's io_timeout (the outcome, a timeout,
is the same; the simulator never waits on a clock). A message written while a reply
is still unread discards that reply; a model with `QUERY_INTERRUPT` also queues -410.
A stalled device (`device.stall(seconds)`) accepts messages but executes them only when
the stall ends, in order; until then a read finds no reply (io_timeout) and device_clear
drops what waits.
"""
from __future__ import annotations

import asyncio
import struct

from bench.sim.instruments.scpi_server import QUERY_INTERRUPTED, DeviceTcpServer, ScpiDevice

DEVICE_CORE_PROG = 0x0607AF
DEVICE_CORE_VERS = 1
CREATE_LINK, DEVICE_WRITE, DEVICE_READ, DEVICE_READSTB = 10, 11, 12, 13
DEVICE_CLEAR, DEVICE_REMOTE, DEVICE_LOCAL, DESTROY_LINK = 15, 17, 18, 23
ERR_NONE, ERR_NOT_SUPPORTED, ERR_INVALID_LINK, ERR_IO_TIMEOUT = 0, 8, 4, 15
OP_FLAG_END = 8
OP_FLAG_TERMCHAR_SET = 128
RX_REQCNT, RX_CHR, RX_END = 1, 2, 4
MAX_RECV_SIZE = 1024 * 1024
RPC_CALL, RPC_REPLY, MSG_ACCEPTED, SUCCESS, PROG_UNAVAIL, PROC_UNAVAIL = 0, 1, 0, 0, 1, 3


class _Xdr:
    """Just enough XDR to read VXI-11 call arguments."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def uint(self) -> int:
        (value,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return value

    def int(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return value

    def opaque(self) -> bytes:
        n = self.uint()
        value = self.data[self.pos:self.pos + n]
        self.pos += (n + 3) // 4 * 4
        return value


def _opaque(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data + b"\0" * ((4 - len(data) % 4) % 4)


class _Link:
    def __init__(self) -> None:
        self.pending = b""  # message being written (until END)
        self.output = b""  # reply not yet read
        self.waiting: list[bytes] = []  # messages a stalled device has not executed yet


class Vxi11Server(DeviceTcpServer):
    """Serves one `ScpiDevice` on the VXI-11 core channel at host:port (0 = ephemeral)."""

    def __init__(self, device: ScpiDevice, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(device, host, port)
        self._links: dict[int, _Link] = {}
        self._next_link = 1

    # ---- RPC framing -----------------------------------------------------------------
    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        links: set[int] = set()
        try:
            while True:
                record = await self._read_record(reader)
                reply = self._handle_call(record, links)
                if reply is not None:
                    writer.write(struct.pack(">I", 0x80000000 | len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, struct.error):
            pass
        finally:
            for link in links:  # a client that vanished leaves no links behind
                self._links.pop(link, None)

    @staticmethod
    async def _read_record(reader: asyncio.StreamReader) -> bytes:
        record = b""
        while True:
            (header,) = struct.unpack(">I", await reader.readexactly(4))
            record += await reader.readexactly(header & 0x7FFFFFFF)
            if header & 0x80000000:
                return record

    def _handle_call(self, record: bytes, links: set[int]) -> bytes | None:
        x = _Xdr(record)
        xid, msg_type, _rpcvers, prog, vers, proc = (x.uint() for _ in range(6))
        x.uint(), x.opaque()  # credentials
        x.uint(), x.opaque()  # verifier
        if msg_type != RPC_CALL:
            return None
        head = struct.pack(">IIIII", xid, RPC_REPLY, MSG_ACCEPTED, 0, 0)  # AUTH_NULL verifier
        if (prog, vers) != (DEVICE_CORE_PROG, DEVICE_CORE_VERS):
            return head + struct.pack(">I", PROG_UNAVAIL)
        handler = {CREATE_LINK: self._create_link, DEVICE_WRITE: self._write, DEVICE_READ: self._read,
                   DEVICE_READSTB: self._readstb, DEVICE_CLEAR: self._clear, DEVICE_REMOTE: self._no_op,
                   DEVICE_LOCAL: self._no_op, DESTROY_LINK: self._destroy_link}.get(proc)
        if handler is None:
            return head + struct.pack(">Ii", SUCCESS, ERR_NOT_SUPPORTED)
        return head + struct.pack(">I", SUCCESS) + handler(x, links)

    # ---- VXI-11 procedures ------------------------------------------------------------
    def _create_link(self, x: _Xdr, links: set[int]) -> bytes:
        x.int(), x.uint(), x.uint(), x.opaque()  # client id, lock device, lock timeout, device name
        link = self._next_link
        self._next_link += 1
        self._links[link] = _Link()
        links.add(link)
        return struct.pack(">iiII", ERR_NONE, link, 0, MAX_RECV_SIZE)

    def _write(self, x: _Xdr, links: set[int]) -> bytes:
        link_id, _io_timeout, _lock_timeout, flags = x.int(), x.uint(), x.uint(), x.int()
        data = x.opaque()
        link = self._links.get(link_id)
        if link is None:
            return struct.pack(">iI", ERR_INVALID_LINK, 0)
        link.pending += data
        if flags & OP_FLAG_END:
            message, link.pending = link.pending, b""
            link.waiting.append(message)
            self.device.link_stall.hold(lambda: self._execute_waiting(link))
        return struct.pack(">iI", ERR_NONE, len(data))

    def _execute_waiting(self, link: _Link) -> None:
        while link.waiting:
            self._execute(link, link.waiting.pop(0))

    def _execute(self, link: _Link, message: bytes) -> None:
        if link.output and self.device.QUERY_INTERRUPT:
            self.device.push_error(QUERY_INTERRUPTED, "reply not read before the next command")
        link.output = b""
        replies: list[str] = []
        for line in message.decode("ascii", "replace").splitlines():
            if line.strip():
                replies += self.device.execute_line(line.strip())
        if replies:
            link.output = (";".join(replies) + "\n").encode("ascii")

    def _read(self, x: _Xdr, links: set[int]) -> bytes:
        link_id, request_size = x.int(), x.uint()
        x.uint(), x.uint()  # io timeout, lock timeout
        flags, term_char = x.int(), x.int()
        link = self._links.get(link_id)
        if link is None:
            return struct.pack(">ii", ERR_INVALID_LINK, 0) + _opaque(b"")
        if not link.output:
            return struct.pack(">ii", ERR_IO_TIMEOUT, 0) + _opaque(b"")
        chunk = link.output[:max(1, request_size)]
        if flags & OP_FLAG_TERMCHAR_SET and (cut := chunk.find(bytes([term_char & 0xFF]))) >= 0:
            chunk = chunk[:cut + 1]
        link.output = link.output[len(chunk):]
        reason = RX_END if not link.output else RX_REQCNT
        if flags & OP_FLAG_TERMCHAR_SET and chunk.endswith(bytes([term_char & 0xFF])):
            reason |= RX_CHR
        return struct.pack(">ii", ERR_NONE, reason) + _opaque(chunk)

    def _readstb(self, x: _Xdr, links: set[int]) -> bytes:
        link = self._links.get(x.int())
        mav = 0x10 if link is not None and link.output else 0  # message available
        return struct.pack(">iI", ERR_NONE if link else ERR_INVALID_LINK, mav)

    def _clear(self, x: _Xdr, links: set[int]) -> bytes:
        link = self._links.get(x.int())
        if link is None:
            return struct.pack(">i", ERR_INVALID_LINK)
        link.pending = link.output = b""
        link.waiting.clear()
        return struct.pack(">i", ERR_NONE)

    def _no_op(self, x: _Xdr, links: set[int]) -> bytes:
        return struct.pack(">i", ERR_NONE if x.int() in self._links else ERR_INVALID_LINK)

    def _destroy_link(self, x: _Xdr, links: set[int]) -> bytes:
        link = x.int()
        found = self._links.pop(link, None) is not None
        links.discard(link)
        return struct.pack(">i", ERR_NONE if found else ERR_INVALID_LINK)
