"""The FTP side of the bench's file server (`bench.csms.file_server.FileServer`).

Many OCPP 1.6 chargers fetch firmware and upload diagnostics only over FTP (1.6 sections 4.4
and 6.51: "location ... URI"; security whitepaper `SupportedFileTransferProtocols`, 2.x
`OCPPCommCtrlr.FileTransferProtocols`). This side is pyftpdlib's server in one thread of its
own, rooted in a temporary directory: served files are written there, uploads land there.
Every RETR/STOR is answered from the same tables the HTTP side uses (served files, failing
paths, upload directories and whether they accept), and is recorded in the file server's
request log with its FTP reply code, before the reply goes out, so a step can prove the
transfer happened before the charger said so.

Reply codes (RFC 959 section 4.2): 226 transfer complete, 426 transfer aborted, 550 file
unavailable (missing, failing, or an upload refused).
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.servers import FTPServer

if TYPE_CHECKING:
    from bench.csms.file_server import FileServer

FTP_USER = "evbench"
FTP_PASSWORD = "evbench"
TRANSFER_COMPLETE = 226
TRANSFER_ABORTED = 426
FILE_UNAVAILABLE = 550
POLL_S = 0.05  # how often the server thread looks at its stop flag


class _Data(DTPHandler):
    """Records the end of a transfer before the 226/426 reply is sent (pyftpdlib replies in
    close(), then calls on_file_sent/on_file_received)."""

    def close(self) -> None:
        if not self._closed and self.file_obj is not None:
            if self.receive and not self.file_obj.closed:
                self.file_obj.flush()
            self.cmd_channel.transfer_ended(self.file_obj.name, self.receive, self.transfer_finished)
        super().close()


class _Control(FTPHandler):
    """The command channel: RETR and STOR checked against the file server's tables."""

    files: FileServer  # set per server (pyftpdlib configures handlers through class attributes)

    def ftp_RETR(self, file: str):
        path = self.fs.fs2ftp(file)
        status = self.files.ftp_download_status(path)
        if status != TRANSFER_COMPLETE:
            self.files.record_ftp("RETR", path, status)
            self.respond(f"{status} File unavailable.")
            return None
        return super().ftp_RETR(file)

    def ftp_STOR(self, file: str, mode: str = "w"):
        path = self.fs.fs2ftp(file)
        if not self.files.ftp_upload_allowed(path):
            self.files.record_ftp("STOR", path, FILE_UNAVAILABLE)
            self.respond(f"{FILE_UNAVAILABLE} Permission denied.")
            return None
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        return super().ftp_STOR(file, mode)

    def transfer_ended(self, real_path: str, received: bool, complete: bool) -> None:
        path = self.fs.fs2ftp(real_path)
        status = TRANSFER_COMPLETE if complete else TRANSFER_ABORTED
        if received:
            data = Path(real_path).read_bytes()
            self.files.record_ftp("STOR", path, status, data=data if complete else None)
        else:
            self.files.record_ftp("RETR", path, status)


class FtpSide:
    """pyftpdlib in a thread, rooted in a temporary directory (removed by stop())."""

    def __init__(self, files: FileServer, host: str, port: int) -> None:
        self._files = files
        self._host, self._port = host, port
        self._root: tempfile.TemporaryDirectory | None = None
        self._server: FTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FTP side is not started")
        return self._server.socket.getsockname()[1]

    def start(self) -> None:
        self._root = tempfile.TemporaryDirectory(prefix="evbench-ftp-")
        authorizer = DummyAuthorizer()
        # e l r w: cd, list, retrieve, store; m: make a directory (clients MKD the upload path if CWD fails)
        authorizer.add_user(FTP_USER, FTP_PASSWORD, self._root.name, perm="elrwm")
        handler = type("BenchFtpHandler", (_Control,), {
            "files": self._files, "authorizer": authorizer, "dtp_handler": _Data,
            "banner": "evbench file server ready.", "permit_foreign_addresses": False})
        # An IOLoop of its own: pyftpdlib's default is one per process, which a second file server
        # (and its close_all) would share.
        self._server = FTPServer((self._host, self._port), handler, ioloop=IOLoop())
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="bench-ftp-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        try:
            while not self._stop.is_set():
                server.serve_forever(timeout=POLL_S, blocking=False, handle_exit=False)
        finally:
            server.close_all()

    def stop(self) -> None:
        """Blocking: closes every connection and joins the thread (call it off the event loop)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._server = None
        if self._root is not None:
            self._root.cleanup()
            self._root = None

    def write(self, path: str, content: bytes) -> None:
        """Put a served file where RETR finds it."""
        if self._root is None:
            return
        target = self._real(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(content)
        os.replace(tmp, target)

    def make_dir(self, path: str) -> None:
        """An upload directory exists, as on a real server: clients CWD into it before STOR."""
        if self._root is not None:
            self._real(path).mkdir(parents=True, exist_ok=True)

    def remove(self, path: str) -> None:
        if self._root is not None:
            self._real(path).unlink(missing_ok=True)

    def _real(self, path: str) -> Path:
        assert self._root is not None
        root = Path(self._root.name).resolve()
        target = (root / path.lstrip("/")).resolve()
        if root not in target.parents:
            raise ValueError(f"{path!r} is outside the file server's root")
        return target
