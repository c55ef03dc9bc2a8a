"""Firmware update and diagnostics upload of the simulated charger (1.6 and 2.x alike).

A compliant charger really moves the file: it downloads the firmware over HTTP or FTP (by the
URL's scheme, among the ones its features speak) from the location the CSMS named (retrying
`retries` times, `retry_interval` apart), reports each stage in FirmwareStatusNotification,
installs it and reboots with the new firmware version (read from the file), and reports
Installed once it is back. For diagnostics (1.6 GetDiagnostics, 2.x GetLog) it uploads a log
file (HTTP PUT, FTP STOR) to the location and reports Uploading, then Uploaded or the failure.
A URL whose scheme the charger does not speak fails the transfer like an unreachable server
(DownloadFailed, UploadFailed).

The charger supplies the version-specific parts through `TransferHost` (the payloads and the
reboot); this module holds the flow, a minimal HTTP/1.1 client on the charger's clock, and an
FTP client (ftplib in a worker thread, bounded by the charger's clock).
The faults `firmware_status_skipped` and `diagnostics_not_uploaded` live here.
"""
from __future__ import annotations

import asyncio
import ftplib
import io
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from bench.clock import Clock, iso_utc
from bench.firmware_image import FIRMWARE_MAGIC  # the bench defines the image it serves
from bench.sim import faults as F
from bench.sim.charger_features import ChargerFeatures

log = logging.getLogger(__name__)

T = TypeVar("T")

HTTP_TIMEOUT_S = 10.0
INSTALL_S = 0.3  # how long the simulated installation takes
REBOOT_WAIT_S = 30.0  # give up waiting for the boot this long after the firmware reboot has taken its time
DEFAULT_RETRY_INTERVAL_S = 5.0


class TransferError(Exception):
    """The file could not be moved (connection failed, timeout, HTTP status not 2xx)."""


class TransferHost(Protocol):
    """What the charger offers the flows below."""

    @property
    def clock(self) -> Clock: ...
    @property
    def boot_count(self) -> int: ...
    @property
    def features(self) -> ChargerFeatures: ...

    async def report_firmware_status(self, status: str, request_id: int | None) -> None: ...
    async def report_log_status(self, status: str, request_id: int | None) -> None: ...
    async def reboot_for_firmware(self, version: str) -> None: ...
    async def firmware_booted(self) -> None: ...
    def diagnostics_text(self) -> str: ...


@dataclass(frozen=True)
class FirmwareRequest:
    location: str
    retrieve_at: datetime | None
    retries: int
    retry_interval_s: float
    request_id: int | None = None  # 2.x


@dataclass(frozen=True)
class LogRequest:
    location: str  # a directory URL: the file goes to <location>/<file_name>
    file_name: str
    retries: int
    retry_interval_s: float
    request_id: int | None = None  # 2.x


# ---- a minimal HTTP client ------------------------------------------------------------------

async def _within(clock: Clock, work: Awaitable[T], timeout_s: float) -> T:
    task, timer = asyncio.ensure_future(work), asyncio.ensure_future(clock.sleep(timeout_s))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, timer):
            t.cancel()
        await asyncio.gather(task, timer, return_exceptions=True)
    if task.done() and not task.cancelled():
        return task.result()
    raise TransferError(f"no answer within {timeout_s:g} s")


async def http_request(clock: Clock, method: str, url: str, body: bytes = b"",
                       timeout_s: float = HTTP_TIMEOUT_S) -> tuple[int, bytes]:
    """One HTTP/1.1 request: (status, body). Raises TransferError if the server is unreachable."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise TransferError(f"unsupported location {url!r} (the simulated charger speaks plain http)")

    async def exchange() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            head = (f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n"
                    f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n")
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            answer = await reader.read()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
        head_bytes, _, content = answer.partition(b"\r\n\r\n")
        try:
            status = int(head_bytes.split(b"\r\n", 1)[0].split(b" ")[1])
        except (IndexError, ValueError):
            raise TransferError(f"{method} {url}: not an HTTP answer") from None
        return status, content

    try:
        return await _within(clock, exchange(), timeout_s)
    except OSError as exc:
        raise TransferError(f"{method} {url}: {exc}") from None


async def _with_retries(clock: Clock, what: str, attempts: int, interval_s: float, work) -> Any:
    """`work()` up to `attempts` times, `interval_s` apart; the last TransferError propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except TransferError as exc:
            log.info("%s: attempt %d/%d failed: %s", what, attempt, attempts, exc)
            if attempt == attempts:
                raise
            await clock.sleep(interval_s)
    raise AssertionError("unreachable")


async def ftp_transfer(clock: Clock, url: str, data: bytes | None = None, timeout_s: float = HTTP_TIMEOUT_S) -> bytes:
    """RETR (data None: the file's bytes) or STOR `data` at an ftp:// URL, binary, passive mode.
    The URL's path is relative to the login directory (RFC 1738 section 3.2.2); user and
    password come from the URL, else anonymous. Raises TransferError on any FTP or socket error."""
    parts = urlsplit(url)
    if parts.scheme != "ftp" or not parts.hostname:
        raise TransferError(f"unsupported location {url!r} (not an ftp:// URL)")
    host = parts.hostname
    path = unquote(parts.path).lstrip("/")
    command = "RETR" if data is None else "STOR"

    def exchange() -> bytes:
        # The socket timeout (real seconds) ends the worker thread even after the clock gave up.
        with ftplib.FTP(timeout=timeout_s) as ftp:
            ftp.connect(host, parts.port or 21)
            ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
            if data is None:
                chunks: list[bytes] = []
                ftp.retrbinary(f"RETR {path}", chunks.append)
                return b"".join(chunks)
            ftp.storbinary(f"STOR {path}", io.BytesIO(data))
            return b""

    try:
        return await _within(clock, asyncio.to_thread(exchange), timeout_s)
    except ftplib.all_errors as exc:
        raise TransferError(f"FTP {command} {url}: {exc}".strip()) from None


def _check_scheme(url: str, schemes: tuple[str, ...]) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in schemes:
        raise TransferError(f"{url!r}: this charger transfers files over {', '.join(schemes)} only")
    return scheme


async def download(clock: Clock, url: str, schemes: tuple[str, ...] = ("http", "ftp")) -> bytes:
    """The file at `url` (http:// or ftp://, if in `schemes`)."""
    if _check_scheme(url, schemes) == "ftp":
        return await ftp_transfer(clock, url)
    status, content = await http_request(clock, "GET", url)
    if status != 200:
        raise TransferError(f"GET {url}: HTTP {status}")
    return content


async def upload(clock: Clock, url: str, data: bytes, schemes: tuple[str, ...] = ("http", "ftp")) -> None:
    """`data` to `url` (HTTP PUT or FTP STOR, if in `schemes`)."""
    if _check_scheme(url, schemes) == "ftp":
        await ftp_transfer(clock, url, data)
        return
    status, _ = await http_request(clock, "PUT", url, data)
    if not 200 <= status < 300:
        raise TransferError(f"PUT {url}: HTTP {status}")


def firmware_version(image: bytes) -> str | None:
    """The version a bench firmware image names on its first line (None if it names none)."""
    first = image.split(b"\n", 1)[0].strip()
    if not first.startswith(FIRMWARE_MAGIC):
        return None
    return first[len(FIRMWARE_MAGIC):].decode("utf-8", "replace").strip() or None


# ---- the flows ------------------------------------------------------------------------------

async def update_firmware(host: TransferHost, request: FirmwareRequest, faults: frozenset[str],
                          reboot_status: str | None = None, scheduled_status: str | None = None) -> None:
    """Download (not before retrieve_at), install, reboot, report. `scheduled_status` is reported
    when the download waits for retrieve_at, `reboot_status` just before the reboot (2.x
    DownloadScheduled and InstallRebooting; 1.6 has neither)."""
    clock = host.clock
    report = host.report_firmware_status
    wait_s = (request.retrieve_at - clock.utcnow()).total_seconds() if request.retrieve_at else 0.0
    if wait_s > 0:
        if scheduled_status is not None:
            await report(scheduled_status, request.request_id)
        await clock.sleep(wait_s)
    await report("Downloading", request.request_id)
    if F.FIRMWARE_STATUS_SKIPPED in faults:  # says it did it all, fetches nothing
        image = None
    else:
        try:
            image = await _with_retries(clock, f"firmware download {request.location}", request.retries + 1,
                                        request.retry_interval_s,
                                        lambda: download(clock, request.location, host.features.file_transfer))
        except TransferError:
            await report("DownloadFailed", request.request_id)
            return
    await report("Downloaded", request.request_id)
    await report("Installing", request.request_id)
    await clock.sleep(INSTALL_S)
    version = firmware_version(image) if image else None
    if version is not None:
        if reboot_status is not None:
            await report(reboot_status, request.request_id)
        boots = host.boot_count
        await host.reboot_for_firmware(version)
        deadline = clock.monotonic() + host.features.reboot_s + REBOOT_WAIT_S
        while host.boot_count == boots and clock.monotonic() < deadline:
            await clock.sleep(0.1)
        await host.firmware_booted()
    await report("Installed", request.request_id)


async def upload_log(host: TransferHost, request: LogRequest, faults: frozenset[str], failed_status: str) -> None:
    """Upload the diagnostics file; `failed_status` is the version's word (UploadFailed, UploadFailure)."""
    clock = host.clock
    report = host.report_log_status
    await report("Uploading", request.request_id)
    if F.DIAGNOSTICS_NOT_UPLOADED not in faults:  # the fault says Uploaded, sends nothing
        url = request.location.rstrip("/") + "/" + request.file_name
        data = host.diagnostics_text().encode("utf-8")
        try:
            await _with_retries(clock, f"diagnostics upload {url}", request.retries + 1, request.retry_interval_s,
                                lambda: upload(clock, url, data, host.features.file_transfer))
        except TransferError:
            await report(failed_status, request.request_id)
            return
    await report("Uploaded", request.request_id)


def diagnostics_file_name(cp_id: str, clock: Clock) -> str:
    stamp = iso_utc(clock.utcnow()).replace(":", "").replace("-", "").replace(".", "")
    return f"diagnostics-{cp_id}-{stamp}.log"
