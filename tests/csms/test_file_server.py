"""The bench's HTTP file server over real sockets on a free port, driven by the simulated
charger's HTTP client (and by raw requests where a charger may differ: POST multipart,
no Content-Length)."""
from __future__ import annotations

import asyncio

import pytest

from bench.clock import RealClock
from bench.csms.file_server import FileServer, split_upload
from bench.sim.charger_firmware import TransferError, download, http_request, upload

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def files():
    async with FileServer(RealClock()) as server:
        yield server


async def _raw(server: FileServer, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_get_serves_the_file_and_logs_the_request(files):
    url = files.serve("/fw/image.bin", b"x" * 100_000)
    assert await download(RealClock(), url) == b"x" * 100_000
    [request] = files.requests
    assert (request.method, request.path, request.status) == ("GET", "/fw/image.bin", 200)


async def test_unknown_and_failing_paths(files):
    clock = RealClock()
    assert (await http_request(clock, "GET", files.url("/nothing")))[0] == 404
    url = files.fail("/fw/broken.bin", 404)
    with pytest.raises(TransferError, match="404"):
        await download(clock, url)
    assert [r.status for r in files.requests] == [404, 404]


async def test_put_upload_is_stored_under_an_accepting_directory(files):
    base = files.accept_uploads("/upload")
    await upload(RealClock(), base + "/diag.log", b"log line\n")
    [stored] = files.uploads
    assert (stored.path, stored.file_name, stored.data) == ("/upload/diag.log", "diag.log", b"log line\n")
    assert files.requests_for("/upload", "PUT")[0].body_bytes == 9


async def test_refused_upload_is_answered_and_not_stored(files):
    base = files.accept_uploads("/upload", status=500)
    with pytest.raises(TransferError, match="500"):
        await upload(RealClock(), base + "/diag.log", b"data")
    assert files.uploads == [] and files.requests[0].status == 500
    # outside every upload directory: 404
    assert (await http_request(RealClock(), "PUT", files.url("/elsewhere/x"), b"data"))[0] == 404


async def test_post_multipart_keeps_the_file_part(files):
    files.accept_uploads("/upload")
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cp.tar.gz\"\r\n"
            b"Content-Type: application/gzip\r\n\r\nBINARYDATA\r\n--XyZ--\r\n")
    head = (f"POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    answer = await _raw(files, head + body)
    assert answer.startswith(b"HTTP/1.1 201")
    [stored] = files.uploads
    assert (stored.file_name, stored.data) == ("cp.tar.gz", b"BINARYDATA")


async def test_upload_without_length_is_refused(files):
    files.accept_uploads("/upload")
    answer = await _raw(files, b"PUT /upload/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 411") and files.uploads == []


async def test_unreachable_server_is_a_transfer_error():
    server = FileServer(RealClock())
    await server.start()
    url = server.url("/fw.bin")
    await server.stop()
    with pytest.raises(TransferError):
        await download(RealClock(), url)


def test_split_upload_raw_and_multipart():
    assert split_upload(b"abc", "application/octet-stream") == (None, b"abc")
    body = b"--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nonly\r\n--b--\r\n"
    assert split_upload(body, "multipart/form-data; boundary=b") == (None, b"only")
