"""Sub-commands of `bench` that live in their own modules.

Each module listed in `COMMAND_MODULES` exposes `register(subparsers, virtual_lab)`, which
adds its sub-parser(s) and sets `func` to a function taking the parsed arguments and
returning the exit code (0 pass, 1 fail, 2 error or bad input).

`virtual_lab` loads the virtual lab's seam (bench/sim/__init__.py) on first use: bench/cli.py
passes it in, so no command module imports the simulator, and a command that does not need
the virtual lab never loads it. `VirtualLabSeam` is what the commands use of it.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from bench.clock import Clock
from bench.config import LabConfig


class RunningLab(Protocol):
    async def start_instruments(self) -> LabConfig: ...
    async def stop(self) -> None: ...


class FaultMatrix(Protocol):
    faults: dict[str, list[str]]  # fault -> the scenarios that FAIL with it
    clean: dict[str, str]  # scenario -> verdict on the correct charger

    def to_json(self) -> dict: ...
    @property
    def gaps(self) -> list[str]: ...


class FaultEntry(Protocol):
    """One row of the simulated charger's fault table (bench/sim/faults.py)."""

    @property
    def blocks(self) -> tuple[str, ...]: ...
    @property
    def description(self) -> str: ...


class VirtualLabSeam(Protocol):
    """The part of bench/sim/__init__.py the command modules use (the module itself is one)."""

    @property
    def FAULTS(self) -> Mapping[str, FaultEntry]: ...
    def unknown_faults(self, names: Iterable[str]) -> list[str]: ...
    def simulated_drivers(self) -> frozenset[str]: ...
    def virtual_lab(self, clock: Clock, config: LabConfig, csms_url: str) -> RunningLab: ...
    async def run_matrix(self, config_path: Path, scenarios_root: Path, version: str, out: Path,
                         faults: list[str] | None = None, jobs_at_once: int = 6, timeout_s: float = 900,
                         on_result: Callable[[Any], None] = ..., speed: str | None = None) -> FaultMatrix: ...


LoadVirtualLab = Callable[[], VirtualLabSeam]

COMMAND_MODULES = (
    "bench.commands.schedule",
    "bench.commands.instruments",
    "bench.commands.trend",
    "bench.commands.certs",
    "bench.commands.faults",
    "bench.commands.config",
)


def register_all(subparsers, virtual_lab: LoadVirtualLab) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(subparsers, virtual_lab)
