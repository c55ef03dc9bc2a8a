"""Requests websockets refuses before the CSMS's own checks run are logged with their reason
(bench/csms/handshake.py): an over-long request line (414), bytes that are no HTTP request,
and a TLS ClientHello on a plain ws:// port (a charger configured for wss://)."""
from __future__ import annotations

import asyncio
import ssl

import pytest

from bench.csms import CsmsServer

pytestmark = pytest.mark.timeout(30)


async def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server answers before it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def _refusal(server: CsmsServer, n: int):
    for _ in range(200):
        if len(server.refusals) >= n:
            return server.refusals[n - 1]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(server.refusals)} refusals, expected {n}")


async def test_an_over_long_id_gets_414_and_is_logged_truncated(csms: CsmsServer, caplog):
    long_id = "X" * 100_000
    answer = await _exchange(csms.port, f"GET /{long_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 414")
    refusal = await _refusal(csms, 1)
    assert refusal.stage == "http" and "414" in refusal.reason
    assert "GET /XXX" in refusal.reason and len(refusal.reason) < 300  # the id is cut, not logged whole
    assert any("414" in r.getMessage() for r in caplog.records)


async def test_bytes_that_are_no_http_request_are_logged(csms: CsmsServer):
    assert await _exchange(csms.port, b"HELLO THERE\r\n\r\n") == b""
    refusal = await _refusal(csms, 1)
    assert "not an HTTP request" in refusal.reason and "HELLO THERE" in refusal.reason


async def test_tls_on_a_plain_port_is_refused_at_once_and_logged(csms: CsmsServer, clock):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    t0 = clock.monotonic()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await asyncio.wait_for(asyncio.open_connection("127.0.0.1", csms.port, ssl=context), 5)
    assert clock.monotonic() - t0 < 2  # closed at the ClientHello, not after the open timeout
    refusal = await _refusal(csms, 1)
    assert "TLS handshake on a plain ws:// port" in refusal.reason


async def test_a_websocket_client_still_connects(csms: CsmsServer, clients):
    await clients.charger("CP1")
    await csms.dut("CP1").wait_connected(timeout_s=5)
    assert csms.refusals == []
