"""The bench's test certificates (bench/certs.py) and `bench certs`."""
from __future__ import annotations

import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from bench.certs import PROBES, WRONG_HOST, certificate_names, common_name, ensure_certs
from bench.cli import main
from bench.testing.clock import ManualClock

NOW = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


@pytest.fixture
def cert_clock() -> ManualClock:
    return ManualClock(utc=NOW)  # the certificates are dated from the injected clock, not from today


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_server_and_charger_certificates(tmp_path, cert_clock):
    paths = ensure_certs(tmp_path, ["CP1", "CP2"], cert_clock, server_names=["bench.lab", "10.0.3.1"])
    assert set(certificate_names(paths.server.cert)) == {"127.0.0.1", "localhost", "bench.lab", "10.0.3.1"}
    assert common_name(paths.charger("CP2").cert) == "CP2"
    server, ca = _cert(paths.server.cert), _cert(paths.ca.cert)
    assert server.issuer == ca.subject
    assert server.not_valid_before_utc < NOW < server.not_valid_after_utc  # the injected clock, not today
    assert _cert(paths.probe_server("expired").cert).not_valid_after_utc < NOW
    assert certificate_names(paths.probe_server("wrong_host").cert) == [WRONG_HOST]
    assert _cert(paths.probe_server("unknown_ca").cert).issuer != ca.subject
    assert _cert(paths.rogue_charger("CP1").cert).issuer != ca.subject
    assert stat.S_IMODE(paths.server.key.stat().st_mode) == 0o600
    assert set(PROBES) == {"unknown_ca", "expired", "wrong_host"}


def test_existing_files_are_kept_and_the_server_certificate_follows_the_names(tmp_path, cert_clock):
    first = ensure_certs(tmp_path, ["CP1"], cert_clock)
    ca, charger = first.ca.cert.read_bytes(), first.charger("CP1").cert.read_bytes()
    server = first.server.cert.read_bytes()
    again = ensure_certs(tmp_path, ["CP1", "CP3"], cert_clock)
    assert again.ca.cert.read_bytes() == ca and again.charger("CP1").cert.read_bytes() == charger
    assert again.server.cert.read_bytes() == server and again.charger("CP3").cert.exists()
    ensure_certs(tmp_path, ["CP1"], cert_clock, server_names=["new.host"])
    assert "new.host" in certificate_names(first.server.cert) and first.ca.cert.read_bytes() == ca


def test_bench_certs_command(tmp_path, capsys):
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "lab_config.yaml").read_text())
    config["bench"]["csms"]["security"] = {"profile": 3, "cert_dir": str(tmp_path / "c")}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["certs", "--config", str(path), "--name", "bench-pc.lab"]) == 0
    out = capsys.readouterr().out
    assert "ca.pem" in out and "EVB-SIM-001" in out
    assert "bench-pc.lab" in certificate_names(tmp_path / "c" / "csms.pem")
    assert (tmp_path / "c" / "chargers" / "EVB-SIM-001.key").exists()
