"""The lab config's security section -> what the CSMS enforces and how the simulated
chargers connect (the same for every OCPP version).

Profiles 2 and 3 need certificates: they are made in `bench.csms.security.cert_dir`
when missing (bench/certs.py; `bench certs` makes them ahead of a real charger's
installation). The server certificate names 127.0.0.1, localhost, the CSMS host and
`server_names`.
"""
from __future__ import annotations

from bench.certs import PROBES, CertPaths, ensure_certs
from bench.clock import Clock
from bench.config import LabConfig
from bench.csms.security import CsmsSecurity
from bench.sim.charger_security import ChargerSecurity


def certificates(config: LabConfig, clock: Clock) -> CertPaths | None:
    """The certificates the configured profile needs (made if missing); None below profile 2."""
    security = config.bench.csms.security
    if security.profile < 2:
        return None
    return ensure_certs(security.cert_dir, [p.dut.charge_point_id for p in config.positions], clock,
                        server_names=[config.bench.csms.host, *security.server_names])


def csms_security(config: LabConfig, certs: CertPaths | None) -> CsmsSecurity:
    security = config.bench.csms.security
    passwords = ({p.dut.charge_point_id: security.password for p in config.positions}
                 if security.password is not None else {})
    if certs is None:
        return CsmsSecurity(profile=security.profile, passwords=passwords)
    return CsmsSecurity(
        profile=security.profile, passwords=passwords, server_cert=certs.server.cert, server_key=certs.server.key,
        client_ca=certs.ca.cert,
        probe_certs={kind: (certs.probe_server(kind).cert, certs.probe_server(kind).key) for kind in PROBES})


def charger_security(config: LabConfig, certs: CertPaths | None) -> dict[str, ChargerSecurity]:
    """How each simulated charger (by charge point id) connects: the bench's own profile."""
    security = config.bench.csms.security
    out = {}
    for position in config.positions:
        cp_id = position.dut.charge_point_id
        client = certs.charger(cp_id) if certs is not None and security.profile == 3 else None
        out[cp_id] = ChargerSecurity(
            profile=security.profile, password=security.password,
            ca_cert=certs.ca.cert if certs is not None else None,
            client_cert=client.cert if client else None, client_key=client.key if client else None)
    return out
