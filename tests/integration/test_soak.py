"""The soak's memory check, proven both ways on a shortened soak: flat on the correct charger,
FAIL on one that leaks (`leaks_memory`, which only a long scenario can catch, so the fault
matrix leaves it to this test)."""
from __future__ import annotations

import yaml

from bench.sim import faults as F

from .conftest import SCENARIOS, free_port_config, plugin_cmd, run_in_parallel

SOAK = SCENARIOS / "metering" / "soak_8h.yaml"
SESSIONS = 4
SHORTER = 10  # every hold a tenth as long: 4 sessions of 3 min


def _short_soak(folder):
    data = yaml.safe_load(SOAK.read_text())
    data["name"] = "soak_short"
    for step in data["steps"]:
        if isinstance(step, dict) and "repeat" in step:
            step["repeat"]["times"] = SESSIONS
            for inner in step["repeat"]["steps"]:
                if isinstance(inner, dict) and "hold" in inner:
                    inner["hold"]["seconds"] = inner["hold"]["seconds"] / SHORTER
    path = folder / "soak_short.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _memory(run) -> dict:
    (scenario,) = run.record["scenarios"]
    (check,) = [c for c in scenario["checks"] if c["name"] == "memory_flat"]
    return {"verdict": check["verdict"], **{m["name"]: m for m in check["measurements"]}}


def test_memory_flat_passes_the_correct_charger_and_fails_a_leaking_one(tmp_path):
    config = free_port_config(tmp_path)
    soak = _short_soak(tmp_path)
    # the scenario file as a pytest item of the evbench plugin, from a folder outside the repository
    runs = run_in_parallel({
        name: ([str(soak), "--lab-config", str(config), "--bench-out", str(tmp_path / name),
                *(["--bench-fault", F.LEAKS_MEMORY] if name == "leak" else [])], tmp_path / name)
        for name in ("clean", "leak")}, timeout_s=600, command=plugin_cmd, cwd=tmp_path)
    clean, leak = _memory(runs["clean"]), _memory(runs["leak"])
    assert clean["charger_growth_kib_per_h"]["verdict"] == "PASS", clean
    assert clean["charger_growth_kib_per_h"]["samples"] == SESSIONS  # every mark after the first compared
    assert leak["verdict"] == "FAIL"
    assert leak["charger_growth_kib_per_h"]["verdict"] == "FAIL", leak
    assert leak["charger_growth_kib_per_h"]["value"] > 4 * leak["charger_growth_kib_per_h"]["high"]
