"""The lab config's security section -> what the CSMS enforces (the same for every OCPP version).
How the simulated chargers connect with it is the virtual lab's business (bench/sim/lab.py).

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
