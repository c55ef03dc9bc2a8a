"""The bench's file server: what a charger downloads firmware from and uploads diagnostics
(logs) to, over HTTP/1.1 and FTP.

OCPP leaves file transfer to the charger (FTP, FTPS, HTTP, HTTPS: 1.6 security whitepaper
`SupportedFileTransferProtocols`, 2.x `OCPPCommCtrlr.FileTransferProtocols`); the bench offers
plain HTTP and FTP, chosen per server (`schemes`, the first is the one `url()` names). HTTP is
built on `asyncio.start_server` and understands just what a charger does: GET a file, PUT or
POST a file (raw body, or one part of multipart/form-data), one request per connection
(`Connection: close`). FTP is pyftpdlib in a thread (`file_server_ftp.py`): RETR a file, STOR
a file. Both answer from the same tables (served files, failing paths, upload directories),
and every request is logged (`requests`, with the HTTP status or FTP reply code) so a step can
prove the charger really fetched or sent the file instead of only saying so.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bench.clock import Clock
from bench.csms.file_server_ftp import FILE_UNAVAILABLE, FTP_PASSWORD, FTP_USER, TRANSFER_COMPLETE, FtpSide

LOG = logging.getLogger("bench.csms.files")

MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           500: "Internal Server Error"}
UPLOAD_METHODS = ("PUT", "POST")
DOWNLOADS = ("GET", "RETR")  # a charger fetching a file, HTTP or FTP
UPLOADS = ("PUT", "POST", "STOR")  # a charger sending a file, HTTP or FTP
SCHEMES = ("http", "ftp")  # what the bench serves


@dataclass(frozen=True)
class FileRequest:
    """One request the server answered (HTTP, or an FTP RETR/STOR)."""

    t_mono_s: float
    method: str  # GET, HEAD, PUT, POST; RETR, STOR
    path: str  # percent-decoded, without the query
    status: int  # what the server answered: HTTP status, or FTP reply code (226 done, 550 refused)
    body_bytes: int = 0  # size of the uploaded file (0 for GET)
    file_name: str | None = None  # the last path segment, or the multipart filename
    scheme: str = "http"

    @property
    def ok(self) -> bool:
        """The file was moved (HTTP 2xx, FTP 226 Transfer complete)."""
        return self.status == TRANSFER_COMPLETE if self.scheme == "ftp" else 200 <= self.status < 300


@dataclass(frozen=True)
class Upload:
    t_mono_s: float
    path: str
    file_name: str | None
    data: bytes


class FileServer:
    """Serves `files` (GET, RETR) and takes uploads under `upload_dirs` (PUT/POST, STOR); any
    path may be made to fail (`fail`: that HTTP status, FTP 550). `schemes`: the protocols
    served, the first is the one `url()` names. Start with `async with` or start()/stop()."""

    def __init__(self, clock: Clock, host: str = "127.0.0.1", port: int = 0, *,
                 schemes: tuple[str, ...] = ("http",), ftp_port: int = 0) -> None:
        unknown = [s for s in schemes if s not in SCHEMES]
        if not schemes or unknown:
            raise ValueError(f"file server: schemes {list(schemes)}; the bench serves {', '.join(SCHEMES)}")
        self._clock = clock
        self.host = host
        self._port = port
        self.schemes = tuple(schemes)
        self._ftp_port = ftp_port
        self._ftp: FtpSide | None = None
        self._lock = threading.Lock()  # the FTP thread records too
        self._files: dict[str, bytes] = {}
        self._upload_dirs: dict[str, int] = {}  # path prefix -> status answered to an upload
        self._failures: dict[str, int] = {}  # exact path -> status answered to anything
        self.requests: list[FileRequest] = []
        self.uploads: list[Upload] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ content
    def serve(self, path: str, content: bytes) -> str:
        """GET/RETR `path` returns `content`; returns the URL."""
        self._files[path] = content
        if self._ftp is not None:
            self._ftp.write(path, content)
        return self.url(path)

    def accept_uploads(self, directory: str, status: int = 201) -> str:
        """PUT/POST/STOR of any file under `directory` is stored and answered `status` (FTP:
        226); a 4xx/5xx status refuses it (FTP: 550), nothing is stored. Returns the directory URL."""
        self._upload_dirs[directory.rstrip("/") + "/"] = status
        if self._ftp is not None:
            self._ftp.make_dir(directory)
        return self.url(directory)

    def fail(self, path: str, status: int = 404) -> str:
        """Every request for `path` is answered `status` (FTP: 550); returns the URL."""
        self._files.pop(path, None)
        self._failures[path] = status
        if self._ftp is not None:
            self._ftp.remove(path)
        return self.url(path)

    def requests_for(self, path_prefix: str, method: str | tuple[str, ...] | None = None) -> list[FileRequest]:
        methods = (method,) if isinstance(method, str) else method
        return [r for r in self.requests if r.path.startswith(path_prefix) and (methods is None or r.method in methods)]

    def uploads_under(self, directory: str) -> list[Upload]:
        prefix = directory.rstrip("/") + "/"
        return [u for u in self.uploads if u.path.startswith(prefix)]

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if "http" in self.schemes and self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self._port)
            LOG.info("file server listening on %s", self.url("/", "http"))
        if "ftp" in self.schemes and self._ftp is None:
            ftp = FtpSide(self, self.host, self._ftp_port)
            await asyncio.to_thread(ftp.start)
            self._ftp = ftp
            for path, content in self._files.items():
                ftp.write(path, content)
            LOG.info("file server listening on %s", self.url("/", "ftp"))

    async def stop(self) -> None:
        if self._ftp is not None:
            ftp, self._ftp = self._ftp, None
            await asyncio.to_thread(ftp.stop)
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> FileServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The HTTP port."""
        if self._server is None:
            raise RuntimeError("file server is not serving HTTP (not started, or not in its schemes)")
        return self._server.sockets[0].getsockname()[1]

    @property
    def ftp_port(self) -> int:
        if self._ftp is None:
            raise RuntimeError("file server is not serving FTP (not started, or not in its schemes)")
        return self._ftp.port

    def url(self, path: str, scheme: str | None = None) -> str:
        """`path` on this server, by `scheme` (default: the first of `schemes`). FTP URLs carry
        the bench's user and password (RFC 1738 section 3.1), as chargers expect."""
        scheme = scheme or self.schemes[0]
        if scheme == "ftp":
            return f"ftp://{FTP_USER}:{FTP_PASSWORD}@{self.host}:{self.ftp_port}/{path.lstrip('/')}"
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    # ---------------------------------------------------------------- FTP side (its own thread)
    def ftp_download_status(self, path: str) -> int:
        """226 if RETR `path` may go ahead, else 550 (missing or failing)."""
        return TRANSFER_COMPLETE if path in self._files and path not in self._failures else FILE_UNAVAILABLE

    def ftp_upload_allowed(self, path: str) -> bool:
        if path in self._failures:
            return False
        status = next((s for d, s in self._upload_dirs.items() if path.startswith(d)), None)
        return status is not None and status < 300

    def record_ftp(self, command: str, path: str, status: int, data: bytes | None = None) -> None:
        """Called from the FTP thread, before the reply goes out."""
        now = self._clock.monotonic()
        name = path.rsplit("/", 1)[-1] or None
        with self._lock:
            self.requests.append(FileRequest(now, command, path, status, len(data or b""), name, "ftp"))
            if data is not None and command == "STOR" and status == TRANSFER_COMPLETE:
                self.uploads.append(Upload(now, path, name, data))
        LOG.info("file server: FTP %s %s -> %d", command, path, status)

    # ----------------------------------------------------------------- protocol
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            LOG.info("file server: client went away: %r", exc)
        except asyncio.CancelledError:  # the server stops with a client still connected: not an error
            LOG.info("file server: stopped with a client connected")
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, asyncio.CancelledError):
                pass

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEADER_BYTES:
            return await self._answer(writer, "?", "?", 400)
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            return await self._answer(writer, "?", "?", 400)
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        path = unquote(urlsplit(target).path) or "/"
        body = b""
        if method in UPLOAD_METHODS:
            if "chunked" in headers.get("transfer-encoding", "").lower() or "content-length" not in headers:
                return await self._answer(writer, method, path, 411)
            length = int(headers["content-length"])
            if length > MAX_BODY_BYTES:
                return await self._answer(writer, method, path, 413)
            body = await reader.readexactly(length)
        if path in self._failures:
            return await self._answer(writer, method, path, self._failures[path], body_bytes=len(body))
        if method in ("GET", "HEAD"):
            content = self._files.get(path)
            if content is None:
                return await self._answer(writer, method, path, 404)
            return await self._answer(writer, method, path, 200, content=b"" if method == "HEAD" else content,
                                      length=len(content))
        if method in UPLOAD_METHODS:
            status = next((s for d, s in self._upload_dirs.items() if path.startswith(d)), 404)
            file_name, data = split_upload(body, headers.get("content-type", ""))
            file_name = file_name or path.rsplit("/", 1)[-1] or None
            if status < 300:
                with self._lock:
                    self.uploads.append(Upload(self._clock.monotonic(), path, file_name, data))
            return await self._answer(writer, method, path, status, body_bytes=len(data), file_name=file_name)
        return await self._answer(writer, method, path, 405)

    async def _answer(self, writer: asyncio.StreamWriter, method: str, path: str, status: int, *,
                      content: bytes = b"", length: int | None = None, body_bytes: int = 0,
                      file_name: str | None = None) -> None:
        with self._lock:
            self.requests.append(FileRequest(self._clock.monotonic(), method, path, status, body_bytes, file_name))
        LOG.info("file server: %s %s -> %d", method, path, status)
        size = len(content) if length is None else length
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Length: {size}\r\n"
                "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
        writer.write(head.encode("latin-1") + content)
        await writer.drain()


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_FILENAME = re.compile(rb'filename="([^"]*)"', re.IGNORECASE)


def split_upload(body: bytes, content_type: str) -> tuple[str | None, bytes]:
    """The file in an upload body: (multipart filename, its bytes) for multipart/form-data
    (the first part with a filename, else the first part), else (None, the body)."""
    match = _BOUNDARY.search(content_type) if content_type.lower().startswith("multipart/") else None
    if match is None:
        return None, body
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = []
    for raw in body.split(delimiter)[1:]:
        if raw.startswith(b"--"):
            break
        head, _, data = raw.partition(b"\r\n\r\n")
        name = _FILENAME.search(head)
        parts.append((name.group(1).decode("utf-8", "replace") if name else None, data.removesuffix(b"\r\n")))
    chosen = next((p for p in parts if p[0] is not None), parts[0] if parts else (None, b""))
    return chosen
