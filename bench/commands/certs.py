"""`bench certs`: the test certificates for OCPP security profiles 2 and 3.

    bench certs [--config FILE] [--dir DIR] [--name HOST ...]

Makes what is missing in DIR (default: `bench.csms.security.cert_dir` of the config): the
bench's test CA, the CSMS server certificate (for 127.0.0.1, localhost, the CSMS host, the
config's `server_names` and every --name), one client certificate per configured charger,
and the probe certificates the security scenarios present. Existing files are kept; prints
what to install on a real charger. Exit codes: 0 done, 2 bad input.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.certs import PROBES, certificate_names, ensure_certs
from bench.clock import RealClock
from bench.commands import LoadVirtualLab
from bench.config import load_config

DEFAULT_CONFIG = Path("lab_config.yaml")
console = Console(highlight=False)


def register(subparsers, virtual_lab: LoadVirtualLab) -> None:
    p = subparsers.add_parser(
        "certs", help="make the test CA and certificates for security profiles 2 and 3",
        description="Make the bench's test CA, the CSMS server certificate and one client certificate per "
                    "charger (kept if they exist), for OCPP security profiles 2 and 3.")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    p.add_argument("--dir", type=Path, help="where (default: bench.csms.security.cert_dir of the config)")
    p.add_argument("--name", action="append", default=[], metavar="HOST",
                   help="another host name or IP the chargers use to reach the CSMS (repeatable)")
    p.set_defaults(func=cmd_certs)


def cmd_certs(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    security = config.bench.csms.security
    folder = args.dir or security.cert_dir
    ids = [p.dut.charge_point_id for p in config.positions]
    paths = ensure_certs(folder, ids, RealClock(),
                         server_names=[config.bench.csms.host, *security.server_names, *args.name])
    table = Table(title=f"certificates in {folder}")
    for col in ("file", "what"):
        table.add_column(col, overflow="fold")
    table.add_row(str(paths.ca.cert), "test CA: install on each charger as the CSMS root certificate "
                  "(2.x CSMSRootCertificate, 1.6 CentralSystemRootCertificate)")
    table.add_row(str(paths.server.cert),
                  "CSMS server certificate for " + ", ".join(certificate_names(paths.server.cert)))
    for cp_id in ids:
        table.add_row(f"{paths.charger(cp_id).cert} (+ .key)", f"client certificate of {cp_id} (profile 3)")
    table.add_row(str(paths.folder / "probes"), f"certificates a charger must refuse ({', '.join(PROBES)})")
    console.print(table)
    console.print(f"security profile in the config: {security.profile}")
    return 0
