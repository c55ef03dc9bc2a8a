"""The bench's file server over real sockets on free ports, driven by the simulated charger's
HTTP and FTP clients (and by raw HTTP requests where a charger may differ: POST multipart,
no Content-Length)."""
from __future__ import annotations

import asyncio
import threading

import pytest

from bench.clock import RealClock
from bench.csms.file_server import UPLOADS, FileServer, split_upload
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


# ---- FTP (pyftpdlib on its own thread), driven by the simulated charger's ftplib client ----------

FTP_THREAD = "bench-ftp-server"


@pytest.fixture
async def ftp_files():
    async with FileServer(RealClock(), schemes=("ftp", "http")) as server:
        yield server
    assert not [t for t in threading.enumerate() if t.name == FTP_THREAD]  # stop() joined it


async def test_ftp_retr_serves_the_file_and_logs_it_before_the_reply(ftp_files):
    url = ftp_files.serve("/firmware/image.bin", b"\x00\xff" * 50_000)
    assert url.startswith(f"ftp://evbench:evbench@127.0.0.1:{ftp_files.ftp_port}/firmware/")
    assert ftp_files.url("/x", "http") == f"http://127.0.0.1:{ftp_files.port}/x"
    assert await download(RealClock(), url) == b"\x00\xff" * 50_000
    [request] = ftp_files.requests  # recorded before the 226 went out: there when the client returns
    assert (request.method, request.path, request.status, request.scheme, request.ok) == \
        ("RETR", "/firmware/image.bin", 226, "ftp", True)


async def test_ftp_missing_and_failing_files_are_550(ftp_files):
    clock = RealClock()
    with pytest.raises(TransferError, match="550"):
        await download(clock, ftp_files.url("/nothing.bin"))
    url = ftp_files.fail("/fw/broken.bin")
    with pytest.raises(TransferError, match="550"):
        await download(clock, url)
    assert [(r.method, r.status, r.ok) for r in ftp_files.requests] == [("RETR", 550, False)] * 2


async def test_ftp_stor_is_stored_under_an_accepting_directory(ftp_files):
    base = ftp_files.accept_uploads("/upload")
    await upload(RealClock(), base + "/diag.log", b"log line\n" * 1000)
    [stored] = ftp_files.uploads_under("/upload")
    assert (stored.path, stored.file_name, stored.data) == ("/upload/diag.log", "diag.log", b"log line\n" * 1000)
    [request] = ftp_files.requests_for("/upload", UPLOADS)
    assert (request.method, request.status, request.body_bytes) == ("STOR", 226, 9000)


def _cwd_then_store(port: int, directory: str, name: str, data: bytes) -> None:
    """What many charger FTP clients do: log in, CWD into the upload directory, STOR a bare name."""
    import ftplib
    import io

    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=5)
        ftp.login("evbench", "evbench")
        ftp.cwd(directory)
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))


async def test_ftp_upload_directory_exists_for_clients_that_cwd_into_it(ftp_files):
    ftp_files.accept_uploads("/upload")
    await asyncio.to_thread(_cwd_then_store, ftp_files.ftp_port, "upload", "diag.log", b"x" * 100)
    [stored] = ftp_files.uploads_under("/upload")
    assert (stored.path, stored.data) == ("/upload/diag.log", b"x" * 100)


async def test_ftp_refused_upload_is_550_and_not_stored(ftp_files):
    base = ftp_files.accept_uploads("/upload", status=500)
    with pytest.raises(TransferError, match="550"):
        await upload(RealClock(), base + "/diag.log", b"data")
    with pytest.raises(TransferError, match="550"):  # outside every upload directory
        await upload(RealClock(), ftp_files.url("/elsewhere/x.log"), b"data")
    assert ftp_files.uploads == []
    assert [(r.method, r.path, r.status) for r in ftp_files.requests] == \
        [("STOR", "/upload/diag.log", 550), ("STOR", "/elsewhere/x.log", 550)]


async def test_ftp_closed_port_is_a_transfer_error():
    server = FileServer(RealClock(), schemes=("ftp",))
    await server.start()
    url = server.serve("/fw.bin", b"x")
    await server.stop()
    assert not [t for t in threading.enumerate() if t.name == FTP_THREAD]
    with pytest.raises(TransferError, match="FTP RETR"):
        await download(RealClock(), url)


async def test_an_ftp_only_server_has_no_http_side_and_unknown_schemes_are_refused():
    async with FileServer(RealClock(), schemes=("ftp",)) as server:
        with pytest.raises(RuntimeError, match="not serving HTTP"):
            server.url("/a", "http")
    with pytest.raises(ValueError, match="serves http, ftp"):
        FileServer(RealClock(), schemes=("https",))


async def test_the_client_refuses_schemes_it_does_not_speak(ftp_files):
    url = ftp_files.serve("/fw.bin", b"x")
    with pytest.raises(TransferError, match="over http only"):
        await download(RealClock(), url, schemes=("http",))
    assert ftp_files.requests == []


async def test_two_ftp_servers_at_once_do_not_share_a_loop():
    async with FileServer(RealClock(), schemes=("ftp",)) as one, FileServer(RealClock(), schemes=("ftp",)) as two:
        urls = [one.serve("/a.bin", b"one"), two.serve("/a.bin", b"two")]
        assert [await download(RealClock(), u) for u in urls] == [b"one", b"two"]
        await two.stop()
        assert await download(RealClock(), urls[0]) == b"one"  # stopping one leaves the other serving
