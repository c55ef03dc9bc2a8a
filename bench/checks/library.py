"""Every check of the bench, found in the family modules of this package.

Each module `bench/checks/<family>.py` that declares checks exports `CHECKS: dict[str, CheckDef]`
(bench/checks/declare.py); they are collected here, so the library grows without any file
knowing each check, as the step library does (bench/scenario/library.py). Everything that
validates or runs checks takes `CHECKS` and `run_check` from this module.
"""
from __future__ import annotations

import importlib
import pkgutil

import bench.checks as package
from bench.checks.base import CheckInputs, errored
from bench.checks.declare import CheckDef
from bench.record import CheckRecord

_NOT_FAMILIES = {"library", "plan"}  # modules that read the library rather than add to it


def _collect() -> dict[str, CheckDef]:
    found: dict[str, CheckDef] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in _NOT_FAMILIES:
            continue
        module = importlib.import_module(f"bench.checks.{info.name}")
        checks = getattr(module, "CHECKS", None)
        if checks is None:
            continue
        clash = set(checks) & set(found)
        if clash:
            raise RuntimeError(f"{info.name}: check names already defined: {sorted(clash)}")
        found.update(checks)
    return found


CHECKS: dict[str, CheckDef] = _collect()


def run_check(name: str, inp: CheckInputs) -> CheckRecord:
    try:
        return CHECKS[name].run(inp)
    except Exception as exc:  # a bug or bad data in the bench is an ERROR, never a PASS
        return errored(name, f"check crashed: {type(exc).__name__}: {exc}")
