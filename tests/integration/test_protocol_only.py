"""Protocol-only mode: no instruments, every protocol check runs, the physical ones are SKIPPED.

`bench run --protocol-only` (or a config whose positions have no instruments) runs the same
scenarios against the charger alone; on the virtual lab its own car plugs in. The record, the
console and the PDF must say what was not measured, a scenario defined for other OCPP versions
is SKIPPED with its reason, and a protocol fault still FAILs.
"""
from __future__ import annotations

import pytest

from .conftest import SCENARIOS, free_port_config, run_in_parallel
from .test_reports_e2e import pdf_text

pytestmark = pytest.mark.integration
REMOTE = SCENARIOS / "remote_control" / "remote_start_stop.yaml"
WITHOUT_TX = SCENARIOS / "smart_charging" / "txprofile_without_transaction.yaml"
TLS = SCENARIOS / "security" / "tls_version_too_low.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("protocol_only")
    config = free_port_config(base)
    only_16 = base / "extra" / "only_on_16.yaml"
    only_16.parent.mkdir()
    only_16.write_text("name: only_on_16\nocpp_versions: ['1.6']\nocpp_ids: [TC_000]\n"
                       "steps:\n  - hold: {seconds: 1}\n")
    common = ["run", "--protocol-only", "--config", str(config), "--ocpp", "2.0.1"]
    return run_in_parallel({
        "clean": ([*common, "--out", str(base / "clean"), str(REMOTE), str(WITHOUT_TX), str(only_16),
                   str(TLS)],
                  base / "clean"),
        "fault": ([*common, "--no-report", "--out", str(base / "fault"), "--fault", "accepts_invalid_profile",
                   str(WITHOUT_TX)], base / "fault"),
    }, timeout_s=300)


def test_protocol_checks_run_and_physical_ones_are_skipped(runs):
    run = runs["clean"]
    assert run.returncode == 0, run.stdout + run.stderr
    record = run.record
    assert record["positions"]["pos1"]["protocol_only"] is True
    assert record["instruments"] == []
    by_name = {s["name"]: s for s in record["scenarios"]}
    remote = by_name["remote_start_stop"]
    checks = {c["name"]: c["verdict"] for c in remote["checks"]}
    assert checks == {"step_expectations": "PASS", "protocol_conformance": "PASS", "current_follows_limit": "SKIPPED",
                      "pwm_matches_limit": "SKIPPED"}
    assert remote["not_measured"] == ["current_follows_limit", "pwm_matches_limit"]
    assert remote["verdict"] == "PASS"
    assert by_name["txprofile_without_transaction"]["verdict"] == "PASS"
    skipped = by_name["only_on_16"]
    assert skipped["verdict"] == "SKIPPED" and "not defined for OCPP 2.0.1" in skipped["skipped"]
    assert "protocol-only pos1" in " ".join(run.stdout.split())
    # nothing it tests applies on a plain ws connection: SKIPPED, not PASS
    tls = by_name["tls_version_too_low"]
    assert tls["verdict"] == "SKIPPED" and "security profile 0" in tls["skipped"]


def test_the_report_says_what_was_not_measured(runs):
    pdf = runs["clean"].run_dir / "report.pdf"
    words = " ".join(" ".join(pdf_text.pages_text(pdf)).split())
    assert "PROTOCOL-ONLY" in words and "NOT measured" in words
    # a PASS judged on the protocol alone is one summary row, naming what it did not measure
    assert "not measured: current_follows_limit, pwm_matches_limit" in words


def test_a_protocol_fault_still_fails(runs):
    run = runs["fault"]
    assert run.returncode == 1, run.stdout + run.stderr
    (scenario,) = run.record["scenarios"]
    assert scenario["verdict"] == "FAIL"
    assert {c["name"]: c["verdict"] for c in scenario["checks"]}["step_expectations"] == "FAIL"
