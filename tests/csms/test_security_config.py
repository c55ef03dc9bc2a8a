"""The lab config's security section and OCPP versions -> what the CSMS enforces and how the
simulated chargers connect (bench/security.py, bench/sim/lab.py); bad values stop at load time."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.cli import with_ocpp_version
from bench.config import ConfigError, load_config
from bench.security import certificates, csms_security
from bench.sim.lab import charger_security

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "evbench-test-password-0001"


def config_with(tmp_path, security: dict | None = None, version: str | None = None) -> Path:
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    if security is not None:
        data["bench"]["csms"]["security"] = security
    if version is not None:
        data["positions"][0]["dut"]["ocpp_version"] = version
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_every_version_is_a_valid_dut_version_and_run_can_override_it(tmp_path, version):
    config = load_config(config_with(tmp_path, version=version))
    assert config.positions[0].dut.ocpp_version == version
    assert with_ocpp_version(config, "2.1").positions[0].dut.ocpp_version == "2.1"
    assert with_ocpp_version(config, None) is config


@pytest.mark.parametrize("security, message", [
    ({"profile": 1}, "needs a password"),
    ({"profile": 2, "password": "short"}, "16..40 characters"),
    ({"profile": 4}, "profile"),
    ({"profile": 0, "colour": "red"}, "unknown key"),
])
def test_bad_security_settings_stop_at_load(tmp_path, security, message):
    with pytest.raises(ConfigError, match=message):
        load_config(config_with(tmp_path, security))
    with pytest.raises(ConfigError, match="ocpp_version"):
        load_config(config_with(tmp_path, version="2.0"))


def test_profile_0_needs_no_certificates(tmp_path, manual_clock):
    config = load_config(config_with(tmp_path))
    assert certificates(config, manual_clock) is None
    assert csms_security(config, None).profile == 0
    assert charger_security(config, None)["EVB-SIM-001"].profile == 0


@pytest.mark.parametrize("profile", [1, 2, 3])
def test_each_profile_maps_to_the_csms_and_the_simulated_charger(tmp_path, profile, manual_clock):
    security = {"profile": profile, "cert_dir": str(tmp_path / "certs"), "server_names": ["bench.lab"]}
    if profile in (1, 2):
        security["password"] = PASSWORD
    config = load_config(config_with(tmp_path, security))
    certs = certificates(config, manual_clock)
    assert (certs is None) == (profile < 2)
    csms = csms_security(config, certs)
    charger = charger_security(config, certs)["EVB-SIM-001"]
    assert csms.profile == charger.profile == profile
    assert csms.passwords == ({"EVB-SIM-001": PASSWORD} if profile in (1, 2) else {})
    assert (charger.client_cert is not None) == (profile == 3)
    if certs is not None:
        assert set(csms.probe_certs) == {"unknown_ca", "expired", "wrong_host"}
        assert charger.ca_cert == certs.ca.cert == csms.client_ca
        assert charger.url("ws://127.0.0.1:1") == "wss://127.0.0.1:1"
