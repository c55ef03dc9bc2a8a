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
