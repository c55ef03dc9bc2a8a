"""Security profiles 1, 2 and 3 on every OCPP version, with `bench run` against the virtual
lab over real TLS/WebSocket handshakes on 127.0.0.1.

The security scenarios (scenarios/security) PASS with the correct charger on each profile
and version, with every probe that applies judged; each security fault of the simulated
charger FAILs the scenario that targets it on each version. The record names the security
profile; connections.jsonl holds every connection the CSMS accepted or refused, with why.
(The CSMS's own refusals, wrong password, unknown id, foreign client certificate, TLS below
1.2, are shown handshake by handshake in tests/csms/test_security.py.)
"""
from __future__ import annotations

import json
import time

import pytest
import yaml

from bench.sim import faults as F

from .conftest import ROOT, BenchRun, Runs, free_port_config
from .test_versions import validate_message_log

pytestmark = pytest.mark.integration

VERSIONS = ("1.6", "2.0.1", "2.1")
PROFILES = (1, 2, 3)
PASSWORD = "evbench-test-password-0001"
SECURITY = ROOT / "scenarios" / "security"
# fault (its blocks: "security") -> (scenario, the probe that must fail)
PROBES = {
    F.ACCEPTS_INVALID_SERVER_CERTIFICATE: ("invalid_server_certificate", "server_certificate_expired_as_required"),
    F.ACCEPTS_OLD_TLS: ("tls_version_too_low", "tls_version_below_1_2_as_required"),
    F.ACCEPTS_SECURITY_DOWNGRADE: ("no_security_downgrade", "security_profile_downgrade_as_required"),
}
# probes that apply (are judged) per profile: TLS probes need 2 or 3, passwords 1 or 2, a downgrade >= 1
APPLIES = {
    "invalid_server_certificate": {2, 3},
    "tls_version_too_low": {2, 3},
    "basic_auth_password": {1, 2},
    "no_security_downgrade": {1, 2, 3},
}


def secure_config(base, profile: int):
    path = free_port_config(base)
    data = yaml.safe_load(path.read_text())
    data["bench"]["csms"]["security"] = {"profile": profile, "cert_dir": str(base / "certs"),
                                         **({"password": PASSWORD} if profile in (1, 2) else {})}
    out = base / f"lab_config_p{profile}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


@pytest.fixture(scope="session")
def security_runs(tmp_path_factory) -> dict[str, BenchRun]:
    base = tmp_path_factory.mktemp("security_runs")
    configs = {p: secure_config(base, p) for p in PROFILES}
    # The first run makes the certificates: the others must not race it for the same folder.
    from bench.certs import ensure_certs
    from bench.clock import RealClock

    ensure_certs(base / "certs", ["EVB-SIM-001"], RealClock())
    runs = {p: Runs(base, configs[p]) for p in PROFILES}
    try:
        for version in VERSIONS:
            for profile in PROFILES:
                extra = [ROOT / "scenarios" / "remote_control" / "remote_start_stop.yaml"] if profile == 3 else []  # charging over mutual TLS
                runs[profile].start(f"p{profile}-{version}", ([SECURITY, *extra], version, None))
            for fault, (scenario, _) in PROBES.items():
                runs[2].start(f"{fault}-{version}", ([SECURITY / f"{scenario}.yaml"], version, fault))
        deadline = time.monotonic() + 600
        out: dict[str, BenchRun] = {}
        for r in runs.values():
            out.update(r.results(deadline_s=max(60.0, deadline - time.monotonic())))
        return out
    finally:
        for r in runs.values():
            r.kill()


def _check(scenario: dict) -> dict:
    return next(c for c in scenario["checks"] if c["name"] == "security_probes_pass")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("profile", PROFILES)
def test_security_scenarios_pass_on_every_profile_and_version(security_runs, profile, version):
    run = security_runs[f"p{profile}-{version}"]
    assert run.returncode == 0, run.stdout
    record = run.record
    assert record["security_profile"] == profile and record["positions"]["pos1"]["security_profile"] == profile
    assert record["ocpp_version"] == version
    by_name = {s["name"]: s for s in record["scenarios"]}
    assert set(APPLIES) <= set(by_name)
    for name, profiles in APPLIES.items():
        check = _check(by_name[name])
        if profile in profiles:
            assert check["verdict"] == "PASS", (name, check["message"], check["params"])
            assert check["measurements"] and all(m["value"] == 1.0 for m in check["measurements"])
        else:
            assert check["verdict"] == "SKIPPED" and f"profile {profile}" in check["message"]
    if profile == 3:
        assert by_name["remote_start_stop"]["verdict"] == "PASS"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_connections_log_records_accepted_and_refused_handshakes(security_runs, version):
    run = security_runs[f"p2-{version}"]
    lines = [json.loads(x) for x in (run.run_dir / "connections.jsonl").read_text().splitlines()]
    accepted = [x for x in lines if x["event"] == "accepted"]
    refused = [x for x in lines if x["event"] == "refused"]
    assert accepted and all(x["ocpp_version"] == version and x["tls_version"] in ("TLSv1.2", "TLSv1.3")
                            for x in accepted)
    assert {x["probe"] for x in refused} >= {"unknown_ca", "expired", "wrong_host", "tls_1_1"}
    assert all(x["stage"] == "tls" and x["security_profile"] == 2 for x in refused)
    assert any("TLS version below 1.2" in x["reason"] for x in refused)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("fault", sorted(PROBES))
def test_each_security_fault_fails_its_scenario_on_every_version(security_runs, fault, version):
    run = security_runs[f"{fault}-{version}"]
    assert run.returncode == 1, run.stdout
    (scenario,) = run.record["scenarios"]
    check = _check(scenario)
    assert scenario["verdict"] == "FAIL" and check["verdict"] == "FAIL", check["params"]
    failed = {m["name"] for m in check["measurements"] if m["verdict"] == "FAIL"}
    assert PROBES[fault][1] in failed


@pytest.mark.parametrize("version", VERSIONS)
async def test_the_security_message_logs_validate_against_the_schemas(security_runs, version):
    counted: dict[str, int] = {}
    for profile in PROFILES:
        await validate_message_log(security_runs[f"p{profile}-{version}"].run_dir, version, counted)
    assert "SecurityEventNotification" in counted  # reported after each refused certificate
    assert ("ChangeConfiguration" if version == "1.6" else "SetNetworkProfile") in counted
