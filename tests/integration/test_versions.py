"""Every smart-charging and metering fault FAILs exactly the checks that target it on OCPP 2.0.1
and 2.1 too, not just the scenario: read from the fault matrix's runs (conftest's `matrices`;
the whole library on the correct charger and every fault on every version are judged in
test_fault_matrix.py). Also the message-log schema validator the matrix test uses.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocpp.messages import Call, CallResult, validate_payload

from bench.sim import faults as F

from .conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]  # the matrix runs in the fixture

FAULT_VERSIONS = ("2.0.1", "2.1")  # 1.6: test_virtual_lab_runs.py and test_smart_charging_suite.py

# fault -> checks that must FAIL in the scenario its fault-table entry names first; the other
# checks may PASS or FAIL
MUST_FAIL: dict[str, list[str]] = {
    F.IGNORES_PROFILE: ["current_follows_limit", "pwm_matches_limit"],
    F.SLOW_REACTION: ["current_follows_limit", "pwm_matches_limit"],
    F.PWM_OFFSET: ["pwm_matches_limit"],
    F.METER_GAIN_ERROR: ["meter_values_match_reference", "transaction_energy_matches_reference"],
    F.WRONG_CURRENT_REPORT: ["meter_values_match_reference"],
    F.ACCEPTS_INVALID_PROFILE: ["step_expectations"],
    F.STACK_LEVEL_INVERTED: ["current_follows_limit", "pwm_matches_limit"],
    F.IGNORES_VALIDITY: ["current_follows_limit", "pwm_matches_limit"],
    F.W_AS_A: ["current_follows_limit", "pwm_matches_limit"],
    F.PHASES_IGNORED: ["current_follows_limit", "pwm_matches_limit"],
    F.RECURRENCE_FROM_MIDNIGHT: ["current_follows_limit", "pwm_matches_limit"],
    F.COMPOSITE_REPORT_WRONG: ["composite_schedule_matches"],
}
# fault -> (scenario file under scenarios/, checks that must FAIL)
FAULT_SCENARIOS: dict[str, tuple[str, list[str]]] = {
    fault: (f"{F.FAULTS[fault].blocks[0]}.yaml", checks) for fault, checks in MUST_FAIL.items()}


def test_the_faults_named_here_exist():
    assert set(FAULT_SCENARIOS) <= set(F.FAULTS)
    assert all((ROOT / "scenarios" / s).is_file() for s, _ in FAULT_SCENARIOS.values())


@pytest.mark.parametrize("version", FAULT_VERSIONS)
@pytest.mark.parametrize("fault", sorted(FAULT_SCENARIOS))
def test_each_fault_fails_its_scenario_on_every_version(matrices, fault, version):
    record = matrices[version].fault_record(fault)
    assert record["fault"] == fault and record["ocpp_version"] == version
    scenario_file, must_fail = FAULT_SCENARIOS[fault]
    scenario = matrices[version].scenario(Path(scenario_file).stem, fault)
    assert scenario["verdict"] == "FAIL", (scenario["error"], [(c["name"], c["verdict"]) for c in scenario["checks"]])
    for name in must_fail:
        check = next(c for c in scenario["checks"] if c["name"] == name)
        assert check["verdict"] == "FAIL", (name, check["message"])
        assert any(m["verdict"] == "FAIL" for m in check["measurements"])


async def validate_message_log(run_dir: Path, version: str, counted: dict[str, int]) -> None:
    """Every CALL and CALLRESULT of the run's ocpp.jsonl, both directions, against the `ocpp`
    package's JSON schemas of `version`; counts them per action into `counted`."""
    for line in (run_dir / "ocpp.jsonl").read_text().splitlines():
        entry = json.loads(line)
        frame = entry["frame"]
        assert frame is not None, entry  # every frame was a JSON array
        if frame[0] == 2:
            message = Call(frame[1], frame[2], frame[3])
        elif frame[0] == 3:
            assert entry.get("action"), entry  # every answer matched a call
            message = CallResult(frame[1], frame[2], entry["action"])
        else:
            pytest.fail(f"{version}: unexpected frame {frame}")
        await validate_payload(message, version)
        counted[message.action] = counted.get(message.action, 0) + 1


