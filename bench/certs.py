"""Test certificates for OCPP security profiles 2 and 3 (the `cryptography` package).

In `cert_dir` (`bench certs`, or the first run that needs them):

    ca.pem, ca.key                    the bench's test CA: install ca.pem on the charger as the
                                      CSMS root certificate (2.x CSMSRootCertificate, 1.6
                                      CentralSystemRootCertificate)
    csms.pem, csms.key                the CSMS server certificate (SANs: `server_names`)
    chargers/<id>.pem, <id>.key       one client certificate per charger for profile 3
                                      (CN = charge point id, O = organization)
    probes/...                        certificates a correct party must refuse: a server
                                      certificate from an unknown CA, an expired one, one for
                                      another host name; a charger certificate from another CA

Existing files are kept (a real charger has the CA installed: a new CA would lock it
out); what is missing is made, and the server certificate is made again when it does
not name a requested host. Keys are EC P-256, certificates SHA-256. Validity comes from
the injected Clock. Test certificates only: never for a production CSMS.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.clock import Clock

ORGANIZATION = "evbench"
DEFAULT_SERVER_NAMES = ("127.0.0.1", "localhost")
WRONG_HOST = "not-the-csms.invalid"
CA_DAYS, LEAF_DAYS = 3650, 825
PROBES = ("unknown_ca", "expired", "wrong_host")  # server certificates a charger must refuse


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertPaths:
    folder: Path

    @property
    def ca(self) -> KeyPair:
        return KeyPair(self.folder / "ca.pem", self.folder / "ca.key")

    @property
    def server(self) -> KeyPair:
        return KeyPair(self.folder / "csms.pem", self.folder / "csms.key")

    def charger(self, charge_point_id: str) -> KeyPair:
        return KeyPair(self.folder / "chargers" / f"{charge_point_id}.pem",
                       self.folder / "chargers" / f"{charge_point_id}.key")

    @property
    def rogue_ca(self) -> KeyPair:
        return KeyPair(self.folder / "probes" / "rogue-ca.pem", self.folder / "probes" / "rogue-ca.key")

    def probe_server(self, kind: str) -> KeyPair:
        """A server certificate of `kind` (PROBES) that a correct charger refuses."""
        if kind not in PROBES:
            raise ValueError(f"unknown certificate probe {kind!r}; known: {', '.join(PROBES)}")
        name = kind.replace("_", "-")
        return KeyPair(self.folder / "probes" / f"{name}-server.pem", self.folder / "probes" / f"{name}-server.key")

    def rogue_charger(self, charge_point_id: str) -> KeyPair:
        """A client certificate for `charge_point_id` from another CA: the CSMS must refuse it."""
        return KeyPair(self.folder / "probes" / f"rogue-{charge_point_id}.pem",
                       self.folder / "probes" / f"rogue-{charge_point_id}.key")


def ensure_certs(folder: Path | str, charge_point_ids: Iterable[str], clock: Clock,
                 server_names: Iterable[str] = DEFAULT_SERVER_NAMES) -> CertPaths:
    """Make whatever is missing in `folder` (see the module notes); returns the paths."""
    paths = CertPaths(Path(folder))
    names = _unique([*DEFAULT_SERVER_NAMES, *server_names])
    now = clock.utcnow()
    ca_key, ca_cert = _load_or_make_ca(paths.ca, "evbench test CA", now)
    if not _names_ok(paths.server.cert, names):
        _leaf(paths.server, names[0], ca_key, ca_cert, now, server_names=names)
    for cp_id in charge_point_ids:
        if not paths.charger(cp_id).cert.exists():
            _leaf(paths.charger(cp_id), cp_id, ca_key, ca_cert, now, client=True)
    rogue_key, rogue_cert = _load_or_make_ca(paths.rogue_ca, "rogue CA (not the bench's)", now)
    probes: dict[str, dict[str, Any]] = {
        "unknown_ca": dict(issuer=(rogue_key, rogue_cert), names=names),
        "expired": dict(issuer=(ca_key, ca_cert), names=names, not_after=now - timedelta(days=1)),
        "wrong_host": dict(issuer=(ca_key, ca_cert), names=[WRONG_HOST]),
    }
    for kind, spec in probes.items():
        if not paths.probe_server(kind).cert.exists():
            key, cert = spec["issuer"]
            _leaf(paths.probe_server(kind), spec["names"][0], key, cert, now,
                  server_names=spec["names"], not_after=spec.get("not_after"))
    for cp_id in charge_point_ids:
        if not paths.rogue_charger(cp_id).cert.exists():
            _leaf(paths.rogue_charger(cp_id), cp_id, rogue_key, rogue_cert, now, client=True)
    return paths


def certificate_names(path: Path) -> list[str]:
    """DNS names and IP addresses in a certificate's subjectAltName."""
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]


def common_name(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


# ---- building blocks ----------------------------------------------------------------------

def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out and item not in ("0.0.0.0", "::"):
            out.append(item)
    return out


def _names_ok(cert_path: Path, names: list[str]) -> bool:
    return cert_path.exists() and set(names) <= set(certificate_names(cert_path))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _load_or_make_ca(pair: KeyPair, common: str, now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    if pair.cert.exists() and pair.key.exists():
        key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(pair.cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(pair, key, cert)
    return key, cert


def _leaf(pair: KeyPair, common: str, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: datetime,
          *, server_names: list[str] | None = None, client: bool = False, not_after: datetime | None = None) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = not_after or now + timedelta(days=LEAF_DAYS)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(min(now - timedelta(days=1), not_after - timedelta(days=30)))
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                                     else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False))
    if server_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                                        critical=False)
    _write(pair, key, builder.sign(ca_key, hashes.SHA256()))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write(pair: KeyPair, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    pair.cert.parent.mkdir(parents=True, exist_ok=True)
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(pair.key, 0o600)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
