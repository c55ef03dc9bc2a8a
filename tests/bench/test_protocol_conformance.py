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
    text = (ROOT / "lab_config.yaml").read_text().replace("verdict_mode: strict", "verdict_mode: lenient")
    assert "lenient" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="verdict_mode"):
        load_config(bad)


def test_a_rival_connection_makes_the_scenario_error_and_connection_events_are_recorded():
    from datetime import datetime, timezone

    from bench.csms.dut import REPLACED
    from bench.csms.events import DutEvent, EventKind
    from bench.record import ScenarioRecord
    from bench.scenario.runner import _connection_events

    utc = datetime(2031, 1, 1, tzinfo=timezone.utc)
    events = [DutEvent(EventKind.DISCONNECTED, 12.0, utc, data={"reason": "closed by the charger"}),
              DutEvent(EventKind.CONNECTED, 13.0, utc, data={"ocpp_version": "1.6"})]
    pos = SimpleNamespace(dut=SimpleNamespace(events=events))
    rec = ScenarioRecord("s", "s.yaml", "pos1")
    _connection_events(pos, rec, 10.0, 20.0)
    assert [e["event"] for e in rec.connection_events] == ["disconnected", "connected"]
    assert rec.error == ""  # a charger that reconnects is judged by the scenario's own checks

    events.append(DutEvent(EventKind.DISCONNECTED, 15.0, utc, data={"reason": REPLACED}))
    _connection_events(pos, rec, 10.0, 20.0)
    assert rec.error == ""  # replaced over a dead socket: the DUT rebooted
    events.append(DutEvent(EventKind.RIVAL_CONNECTION, 15.1, utc, data={"remote": "127.0.0.1:5"}))
    _connection_events(pos, rec, 10.0, 20.0)
    assert "another client connected with the DUT's id" in rec.error


def test_a_dropped_connection_fails_unless_a_step_made_the_dut_reconnect():
    dropped = [Finding(12.0, "CP1", None, FindingKind.CONNECTION_DROPPED,
                       "connection dropped, the DUT closed it (code 1000) during transaction 7")]
    pos = SimpleNamespace(dut=SimpleNamespace(findings=dropped), verdict_mode="strict")
    check = protocol_conformance(pos, 10.0, 20.0)
    assert check.verdict is Verdict.FAIL and "during transaction 7" in check.message
    assert protocol_conformance(pos, 10.0, 20.0, reconnect_from=11.0).verdict is Verdict.PASS  # e.g. after a reset
    assert protocol_conformance(pos, 10.0, 20.0, reconnect_from=13.0).verdict is Verdict.FAIL  # dropped before it


def test_the_steps_that_make_a_dut_reconnect_are_declared():
    from bench.scenario.library import STEPS

    assert {name for name, step in STEPS.items() if step.reconnects} >= {
        "reset", "update_firmware", "set_basic_auth_password", "configure"}
    assert not STEPS["hold"].reconnects and not STEPS["remote_start"].reconnects
