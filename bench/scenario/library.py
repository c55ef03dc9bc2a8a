"""The whole step library: the core steps (`steps.py`) and every block's own module.

Each module `bench/scenario/steps_<block>.py` exports `STEPS: dict[str, StepDef]`; they are
found here, so the library grows without any file knowing each step. Everything that runs or
validates scenarios takes `STEPS` / `STEP_ARGS` from this module (steps.py holds the core only,
so a block module can import its helpers without an import cycle).
"""
from __future__ import annotations

import importlib
import pkgutil

import bench.scenario as package
from bench.scenario import steps as core
from bench.scenario.steps import StepDef


def _collect() -> dict[str, StepDef]:
    found = dict(core.STEPS)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("steps_"):
            module = importlib.import_module(f"bench.scenario.{info.name}")
            clash = set(module.STEPS) & set(found)
            if clash:
                raise RuntimeError(f"{info.name}: step names already defined: {sorted(clash)}")
            found.update(module.STEPS)
    return found


STEPS: dict[str, StepDef] = _collect()
STEP_ARGS = {name: d.args for name, d in STEPS.items()}

# What a step needs of the DUT (an optional feature, bench/capabilities.py) or of the bench (an
# EV emulator, a tag presenter). A scenario needs what its steps need plus its own `needs:`; one
# whose needs are not met is SKIPPED before its first step (bench/scenario/runner.py).
STEP_NEEDS: dict[str, frozenset[str]] = {
    "plug_in": frozenset({"ev_emulator"}), "unplug": frozenset({"ev_emulator"}),
    "ev_state": frozenset({"ev_emulator"}), "set_ev": frozenset({"ev_emulator"}),
    "ev_fault": frozenset({"ev_emulator"}),
    "swipe": frozenset({"tag_presenter"}), "authorize": frozenset({"tag_presenter"}),
    "set_profile": frozenset({"SmartCharging"}), "clear_profile": frozenset({"SmartCharging"}),
    "get_composite_schedule": frozenset({"SmartCharging"}),
    "send_local_list": frozenset({"LocalAuthList"}), "get_local_list_version": frozenset({"LocalAuthList"}),
    "clear_cache": frozenset({"AuthCache"}),
    "reserve_now": frozenset({"Reservation"}), "cancel_reservation": frozenset({"Reservation"}),
    "expect_reservation_update": frozenset({"Reservation"}),
    "trigger_message": frozenset({"RemoteTrigger"}),
    "update_firmware": frozenset({"FirmwareManagement"}), "get_diagnostics": frozenset({"FirmwareManagement"}),
    "set_display_message": frozenset({"DisplayMessages"}), "get_display_messages": frozenset({"DisplayMessages"}),
    "clear_display_message": frozenset({"DisplayMessages"}),
}
unknown_steps = set(STEP_NEEDS) - set(STEPS)
if unknown_steps:
    raise RuntimeError(f"STEP_NEEDS names steps that do not exist: {sorted(unknown_steps)}")
