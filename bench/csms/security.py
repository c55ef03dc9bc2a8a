"""OCPP security profiles on the CSMS side (the same for 1.6, 2.0.1 and 2.1).

0: ws, no credentials. 1: ws + HTTP Basic auth. 2: TLS (server certificate) + Basic
auth. 3: TLS with client certificates (the certificate's CN is the charge point id).

Refused and recorded (`Refusal`, a log line, a finding on the Dut when the charge
point id is known): a wrong or missing password, an unknown charge point id, a client
certificate from another CA or for another charger, TLS below 1.2 and anything that is
not TLS on a TLS port. The TLS handshake runs in `TlsFirstConnection` before
websockets sees the connection, so a failed handshake is known (who, why) instead of
vanishing inside asyncio.

A scenario can make the CSMS present a certificate a correct charger refuses
(`tls_probe`): one from an unknown CA, an expired one, one for another host, or a TLS
version below 1.2.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, cast

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers

from bench.csms.handshake import WatchedConnection

LOG = logging.getLogger("bench.csms")

TLS_HANDSHAKE_TIMEOUT_S = 10.0
PROBES = ("unknown_ca", "expired", "wrong_host", "tls_1_1")  # what a correct charger must refuse
REALM = "OCPP"


@dataclass(frozen=True)
class CsmsSecurity:
    """What the CSMS enforces. Certificates: see bench/certs.py."""

    profile: int = 0
    passwords: dict[str, str] = field(default_factory=dict)  # charge point id -> Basic auth password (1, 2)
    server_cert: Path | None = None  # profiles 2, 3
    server_key: Path | None = None
    client_ca: Path | None = None  # profile 3: the CA the chargers' certificates must come from
    probe_certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)  # probe -> (cert, key)

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 3:
            raise ValueError(f"security profile must be 0..3, not {self.profile}")
        if self.profile >= 2 and (self.server_cert is None or self.server_key is None):
            raise ValueError(f"security profile {self.profile} needs a server certificate and key")
        if self.profile == 3 and self.client_ca is None:
            raise ValueError("security profile 3 needs the CA of the charger certificates")

    @property
    def tls(self) -> bool:
        return self.profile >= 2

    @property
    def basic_auth(self) -> bool:
        return self.profile in (1, 2)


@dataclass(frozen=True)
class Refusal:
    """A connection the CSMS refused, or one whose TLS handshake failed."""

    t_mono_s: float
    utc: str
    remote: str
    cp_id: str | None  # None: refused before the charge point id was known (TLS)
    stage: str  # "tls" or "http"
    reason: str
    probe: str | None = None  # the TLS probe the CSMS presented (security.PROBES), if any


def server_context(cert: Path, key: Path, *, client_ca: Path | None = None, below_1_2: bool = False) -> ssl.SSLContext:
    """The CSMS's TLS context: TLS 1.2 or newer (`below_1_2`: the TLS 1.0/1.1 probe only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if below_1_2:
        with warnings.catch_warnings():  # old TLS on purpose: a correct charger must refuse it
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx


def tls_failure(exc: BaseException) -> str:
    """Why a TLS handshake failed, in words for the log and the record."""
    if isinstance(exc, ssl.SSLCertVerificationError):  # we verify only client certificates (profile 3)
        return f"client certificate refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or str(exc)).upper()
        known = {
            "UNSUPPORTED_PROTOCOL": "TLS version below 1.2",
            "WRONG_VERSION_NUMBER": "TLS version not accepted (or not TLS)",
            "HTTP_REQUEST": "plain HTTP/ws on the TLS port",
            "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate",
            "CERTIFICATE_VERIFY_FAILED": "client certificate not from the bench's CA",
            "TLSV1_ALERT_UNKNOWN_CA": "the charger does not trust the CSMS certificate (unknown CA)",
            "SSLV3_ALERT_BAD_CERTIFICATE": "the charger refused the CSMS certificate",
            "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the charger refused the CSMS certificate (expired)",
            "TLSV1_ALERT_PROTOCOL_VERSION": "the charger refused the TLS version",
            "NO_PROTOCOLS_AVAILABLE": "no TLS version in common",
            "TLSV1_ALERT_INTERNAL_ERROR": "the charger aborted the handshake",
        }
        return f"{known.get(reason, reason.lower().replace('_', ' '))} ({exc.reason})"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "TLS handshake timed out"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "the peer ended the TLS handshake (it did not accept what the CSMS presented)"
    return f"TLS handshake failed: {type(exc).__name__}: {exc}"


def basic_auth_refusal(headers: Headers, cp_id: str, passwords: tuple[str, ...]) -> str | None:
    """Why this request's HTTP Basic auth is refused (None: accepted). The user name must
    be the charge point id of the URL (A00.FR.203), the password one of `passwords`."""
    value = headers.get("Authorization")
    if value is None:
        return "no Authorization header (Basic auth required)"
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        return f"Authorization scheme {scheme!r} is not Basic"
    try:
        user, colon, given = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "Authorization header is not valid Base64 of user:password"
    if not colon:
        return "Authorization header has no password"
    if user != cp_id:
        return f"Basic auth user {user!r} is not the charge point id {cp_id!r}"
    if not passwords:
        return f"no password configured for {cp_id}"
    if given not in passwords:
        return "wrong password"
    return None


def certificate_refusal(peer_cert: dict | None, cp_id: str) -> str | None:
    """Profile 3: the client certificate's commonName must be the charge point id."""
    if not peer_cert:
        return "no client certificate"
    names = [value for rdn in peer_cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    if cp_id not in names:
        return f"client certificate is for {', '.join(names) or 'nobody'}, not {cp_id}"
    return None


class _Buffer(asyncio.Protocol):
    """Holds what arrives between the end of the TLS handshake and websockets taking over."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.data.append(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None


class TlsGate:
    """The CSMS's TLS: the context in use (normal, or a probe), the handshakes under way,
    and what to do with a failure."""

    def __init__(self, security: CsmsSecurity, on_refusal: Callable[..., None]) -> None:
        self.security = security
        self._on_refusal = on_refusal
        self._normal = (server_context(
                            security.server_cert, security.server_key,  # type: ignore[arg-type]  # TLS: both set
                            client_ca=security.client_ca if security.profile == 3 else None)
                        if security.tls else None)
        self.context = self._normal
        self.probe: str | None = None
        self.handshakes: set[asyncio.Task] = set()

    def connection_factory(self) -> Callable[..., ServerConnection]:
        def create(*args: Any, **kwargs: Any) -> ServerConnection:
            return TlsFirstConnection(self, *args, **kwargs)
        return create

    @contextlib.contextmanager
    def probing(self, probe: str) -> Iterator[None]:
        """Present `probe` (PROBES) to every new connection until the block ends."""
        if self._normal is None:
            raise RuntimeError("a TLS probe needs security profile 2 or 3")
        if probe == "tls_1_1":
            ctx = server_context(
                self.security.server_cert, self.security.server_key,  # type: ignore[arg-type]  # TLS: both set
                client_ca=self.security.client_ca if self.security.profile == 3 else None,
                below_1_2=True)
        elif probe in self.security.probe_certs:
            cert, key = self.security.probe_certs[probe]
            ctx = server_context(cert, key, client_ca=self.security.client_ca if self.security.profile == 3 else None)
        else:
            raise ValueError(f"unknown TLS probe {probe!r}; known: {', '.join(PROBES)}")
        self.context, self.probe = ctx, probe
        try:
            yield
        finally:
            self.context, self.probe = self._normal, None

    def refused(self, remote: str, reason: str, probe: str | None) -> None:
        self._on_refusal(remote, None, "tls", reason, probe)

    def refused_request(self, remote: str, cp_id: str | None, stage: str, reason: str) -> None:
        """An HTTP request refused inside TLS before the CSMS's checks (bench/csms/handshake.py)."""
        self._on_refusal(remote, cp_id, stage, reason, self.probe)

    async def close(self) -> None:
        for task in list(self.handshakes):
            task.cancel()
        await asyncio.gather(*self.handshakes, return_exceptions=True)


class TlsFirstConnection(WatchedConnection):
    """websockets' server connection, with the TLS handshake done first by us (see the module notes)."""

    plain = False

    def __init__(self, gate: TlsGate, *args: Any, **kwargs: Any) -> None:
        super().__init__(gate.refused_request, *args, **kwargs)
        self.gate = gate
        self.peer_certificate: dict | None = None
        self.tls_version: str | None = None
        self.tls_probe: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a TCP server's transport: a full asyncio.Transport (abort, start_tls)
        task = asyncio.ensure_future(self._handshake(cast(asyncio.Transport, transport)))
        self.gate.handshakes.add(task)
        task.add_done_callback(self.gate.handshakes.discard)

    async def _handshake(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        remote = f"{peer[0]}:{peer[1]}" if peer else "?"
        buffer = _Buffer()
        self.tls_probe = self.gate.probe
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, buffer, self.gate.context,  # type: ignore[arg-type]  # set: TlsGate means TLS
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
        except asyncio.CancelledError:
            transport.abort()
            raise
        except (OSError, TimeoutError, asyncio.TimeoutError, ConnectionError) as exc:
            transport.abort()
            self.gate.refused(remote, tls_failure(exc), self.tls_probe)
            return
        if tls is None:  # closed during the handshake
            return
        ssl_object = tls.get_extra_info("ssl_object")
        self.peer_certificate = tls.get_extra_info("peercert")
        self.tls_version = ssl_object.version() if ssl_object is not None else None
        tls.set_protocol(self)
        super().connection_made(tls)
        for data in buffer.data:
            self.data_received(data)
        if buffer.eof:
            self.eof_received()
