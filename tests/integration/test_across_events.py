"""What a charger must keep, or drop, across events, on the virtual lab with its realism on:
each scenario PASSes on the correct charger on OCPP 1.6 and 2.0.1 and FAILs with the fault
written for it (the fault matrix runs them too; this proves them on their own, quickly).

- a TxProfile ends with its transaction (tx_profile_outlives_transaction);
- profiles survive a reset (profiles_lost_on_reboot);
- a TxDefaultProfile applies to every transaction (tx_default_first_transaction_only);
- Charging whenever current flows (status_stuck_suspended_ev);
- a Relative profile counts from the transaction start (relative_from_plug_in);
- the limit holds per phase with an unbalanced EV (limits_phase_average).
"""
from __future__ import annotations

import json

import pytest

from bench.sim import faults as F
from bench.sim.matrix import free_port_config

from .conftest import ROOT, SCENARIOS, plugin_cmd, run_in_parallel

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

# fault -> the checks that must FAIL with it (none: a step fails the scenario); the scenario is
# the one its entry in the fault table names
MUST_FAIL = {
    F.TX_PROFILE_OUTLIVES_TRANSACTION: ["pwm_matches_limit"],
    F.PROFILES_LOST_ON_REBOOT: ["current_follows_limit", "pwm_matches_limit"],
    F.TX_DEFAULT_FIRST_TRANSACTION_ONLY: ["current_follows_limit", "pwm_matches_limit"],
    F.STATUS_STUCK_SUSPENDED_EV: [],
    F.RELATIVE_FROM_PLUG_IN: ["current_follows_limit", "pwm_matches_limit"],
    F.LIMITS_PHASE_AVERAGE: ["current_follows_limit", "pwm_matches_limit"],
}
# fault -> (scenario, the checks that must FAIL with it)
CAUGHT_BY = {fault: (F.FAULTS[fault].blocks[0], checks) for fault, checks in MUST_FAIL.items()}
VERSIONS = ("1.6", "2.0.1")


def _path(target: str):
    return SCENARIOS / f"{target}.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("across_events")
    config = free_port_config(ROOT / "lab_config.yaml", base, speed="max")  # the default realism: real signals
    scenarios = [str(_path(target)) for target, _ in CAUGHT_BY.values()]
    jobs = {f"clean-{v}": (["--ocpp", v, *scenarios], base / f"clean-{v}") for v in VERSIONS}
    jobs.update({f"fault-{f}": (["--ocpp", "1.6", "--bench-fault", f, str(_path(target))], base / f"fault-{f}")
                 for f, (target, _) in CAUGHT_BY.items()})
    # the scenario files as pytest items of the evbench plugin, one bench per job
    return run_in_parallel({name: (["--lab-config", str(config), "--bench-out", str(out), *args], out)
                            for name, (args, out) in jobs.items()}, timeout_s=800, command=plugin_cmd, cwd=base)


def _scenarios(run) -> dict[str, dict]:
    records = [json.loads(p.read_text()) for p in run.out_dir.glob("*/record.json")]
    assert records, f"{run.name}: no record\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    return {s["name"]: s for r in records for s in r["scenarios"]}


def test_every_new_fault_has_its_scenario():
    assert set(MUST_FAIL) <= set(F.FAULTS)
    for fault in MUST_FAIL:
        (target,) = F.FAULTS[fault].blocks
        assert _path(target).is_file(), (fault, target)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_correct_charger_passes_with_real_signals(runs, version):
    got = _scenarios(runs[f"clean-{version}"])
    for target, _ in CAUGHT_BY.values():
        s = got[target.split("/")[1]]
        assert s["verdict"] == "PASS", (target, s["error"], [(c["name"], c["verdict"], c["message"])
                                                             for c in s["checks"]])
        physical = [c for c in s["checks"] if c["name"] in ("current_follows_limit", "pwm_matches_limit")]
        assert physical and all(c["measurements"] for c in physical), target


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_each_fault_fails_its_scenario(runs, fault):
    target, must_fail = CAUGHT_BY[fault]
    s = _scenarios(runs[f"fault-{fault}"])[target.split("/")[1]]
    assert s["verdict"] == "FAIL", (fault, s["error"], [(c["name"], c["verdict"]) for c in s["checks"]])
    for check in s["checks"]:
        if check["name"] in must_fail:
            assert check["verdict"] == "FAIL", (fault, check["name"], check["message"])
