"""The DUT's protocol findings during a scenario: FAIL in strict mode, reported in compatibility
mode, attributed to the scenario in which they happened."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.config import ConfigError, load_config
from bench.csms.events import Finding, FindingKind
from bench.record import Verdict
from bench.scenario.runner import protocol_conformance

from test_config import ROOT

FINDINGS = [Finding(5.0, "CP1", None, FindingKind.MALFORMED_FRAME, "not JSON: 'garbage'"),
            Finding(15.0, "CP1", "Teleport", FindingKind.UNKNOWN_ACTION, "'Teleport' is not an OCPP 1.6 action")]


def _pos(mode: str):
    return SimpleNamespace(dut=SimpleNamespace(findings=FINDINGS), verdict_mode=mode)


def test_strict_fails_on_the_findings_of_the_scenario_only():
    check = protocol_conformance(_pos("strict"), 10.0, 20.0)
    assert check.verdict is Verdict.FAIL and check.samples == 1
    assert "UnknownAction (Teleport)" in check.message and "garbage" not in check.message
    assert protocol_conformance(_pos("strict"), 20.0, 30.0).verdict is Verdict.PASS


def test_compatibility_reports_without_failing():
    check = protocol_conformance(_pos("compatibility"), 0.0, 20.0)
    assert check.verdict is Verdict.PASS
    (m,) = check.measurements
    assert m.value == 2 and "reported, not judged" in m.note and "MalformedFrame" in m.note


def test_the_mode_is_checked_in_the_config(tmp_path):
    text = (ROOT / "lab_config.yaml").read_text().replace("bench:\n", "bench:\n  verdict_mode: lenient\n", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="verdict_mode"):
        load_config(bad)
