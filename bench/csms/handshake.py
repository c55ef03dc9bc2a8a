"""Opening handshakes that never reach the CSMS's own checks, logged with their reason.

websockets answers some requests before `process_request` runs, and says nothing about
them above debug level: a request line over its limit (414), header fields too large
(431), bytes that are no HTTP request at all. A charger misconfigured for `wss://` on a
plain `ws://` port is the common case of the last: its TLS ClientHello is refused here
at once (it can never become a WebSocket), instead of waiting out the open timeout.
`WatchedConnection` is websockets' server connection with that reporting added, through
the `create_connection` factory websockets offers for it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidMessage
from websockets.http11 import MAX_LINE_LENGTH

# a TLS record carrying a handshake message (RFC 8446 section 5.1: type 22, legacy version 3.x)
TLS_HANDSHAKE_RECORD = b"\x16\x03"
SHOWN_BYTES = 48  # of a request that is refused before its path is parsed

# (remote, charge point id or None, stage, reason)
OnRefusal = Callable[[str, str | None, str, str], None]


class WatchedConnection(ServerConnection):
    """A server connection that reports an opening handshake refused before `process_request`."""

    plain = True  # TLS on this port is refused as a misconfigured client (see TlsFirstConnection)

    def __init__(self, on_refusal: OnRefusal, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_refusal = on_refusal
        self._head = b""  # the first bytes received: what the request looked like
        self._reported = False

    def data_received(self, data: bytes) -> None:
        if not self._head:
            self._head = data[:512]
            if self.plain and data.startswith(TLS_HANDSHAKE_RECORD):
                self._report("TLS handshake on a plain ws:// port: the charger uses wss:// where the bench "
                             "serves ws:// (check the security profile and the CSMS URL)")
                self.transport.abort()
                return
        super().data_received(data)

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        await super().handshake(*args, **kwargs)
        failure = self.protocol.handshake_exc
        if self.request is None and failure is not None:
            self._report(_why(failure, self._head))

    def _report(self, reason: str) -> None:
        if not self._reported:
            self._reported = True
            address = self.transport.get_extra_info("peername")
            self.on_refusal(f"{address[0]}:{address[1]}" if address else "?", None, "http", reason)


def _why(failure: BaseException, head: bytes) -> str:
    """One line on a request websockets refused while reading it."""
    line = head.split(b"\r\n", 1)[0]
    shown = repr(line[:SHOWN_BYTES].decode("ascii", "backslashreplace")) + ("..." if len(line) > SHOWN_BYTES else "")
    name = type(failure).__name__
    if name == "RequestLineTooLong":
        return f"request line over {MAX_LINE_LENGTH} bytes, answered 414 URI Too Long: {shown}"
    if name in ("HeaderLineTooLong", "TooManyHeaders"):
        return f"header fields too large, answered 431: {failure}"
    if isinstance(failure, InvalidMessage):
        cause = failure.__cause__
        return f"not an HTTP request ({cause or failure}), connection closed: {shown}"
    return f"opening handshake failed ({name}: {failure}): {shown}"
