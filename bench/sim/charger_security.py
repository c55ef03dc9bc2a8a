"""How the simulated charger connects at OCPP security profiles 0..3.

0: ws, no credentials. 1: ws + HTTP Basic auth (user = charge point id).
2: wss (the CSMS certificate checked against the bench's test CA) + Basic auth.
3: wss with the charger's client certificate, no password.
TLS 1.2 is the lowest version a correct charger accepts (A00.FR.314/416);
the `accepts_old_tls` and `accepts_invalid_server_certificate` faults break
exactly that, so the bench's security scenarios are shown able to FAIL.
"""
from __future__ import annotations

import base64
import re
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from bench.sim.faults import ACCEPTS_INVALID_SERVER_CERTIFICATE, ACCEPTS_OLD_TLS

# OCPP 2.0.1 passwordString (1.6 AuthorizationKey: 16..20 bytes, up to 40 hex digits): 16..40 characters.
_PASSWORD = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$")


def valid_password(password: str) -> bool:
    return bool(_PASSWORD.fullmatch(password))


def basic_auth_header(charge_point_id: str, password: str) -> str:
    token = base64.b64encode(f"{charge_point_id}:{password}".encode()).decode()
    return f"Basic {token}"


@dataclass(frozen=True)
class ChargerSecurity:
    profile: int = 0
    password: str | None = None  # profiles 1 and 2
    ca_cert: Path | None = None  # trust anchor for the CSMS certificate (profiles 2 and 3)
    client_cert: Path | None = None  # profile 3: the charger's certificate (CN = charge point id) ...
    client_key: Path | None = None  # ... and its key
    faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 3:
            raise ValueError(f"security profile must be 0..3, not {self.profile}")
        if self.profile in (1, 2) and not self.password:
            raise ValueError(f"security profile {self.profile} needs a Basic auth password")
        if self.profile >= 2 and self.ca_cert is None:
            raise ValueError(f"security profile {self.profile} needs the CA certificate of the CSMS")
        if self.profile == 3 and (self.client_cert is None or self.client_key is None):
            raise ValueError("security profile 3 needs a client certificate and key")

    def with_faults(self, faults: Iterable[str]) -> ChargerSecurity:
        return ChargerSecurity(self.profile, self.password, self.ca_cert, self.client_cert, self.client_key,
                               frozenset(faults) & {ACCEPTS_INVALID_SERVER_CERTIFICATE, ACCEPTS_OLD_TLS})

    def url(self, url: str) -> str:
        """wss:// for the TLS profiles."""
        if self.profile >= 2 and url.startswith("ws://"):
            return "wss://" + url[len("ws://"):]
        return url

    def connect_options(self, charge_point_id: str, password: str | None) -> dict[str, Any]:
        """Keyword arguments for websockets' connect(): credentials and TLS."""
        options: dict[str, Any] = {}
        if self.profile in (1, 2):
            options["additional_headers"] = {"Authorization": basic_auth_header(charge_point_id, password or "")}
        if self.profile >= 2:
            options["ssl"] = self.ssl_context()
        return options

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if ACCEPTS_OLD_TLS in self.faults:
            with warnings.catch_warnings():  # the fault is the point: old TLS on purpose
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if ACCEPTS_INVALID_SERVER_CERTIFICATE in self.faults:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx.load_verify_locations(cafile=str(self.ca_cert))
        if self.profile == 3:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx
