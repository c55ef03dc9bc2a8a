"""Sub-commands of `bench` that live in their own modules.

Each module listed in `COMMAND_MODULES` exposes `register(subparsers)`, which adds
its sub-parser(s) and sets `func` to a function taking the parsed arguments and
returning the exit code (0 pass, 1 fail, 2 error or bad input).
"""
from __future__ import annotations

import importlib

COMMAND_MODULES = (
    "bench.commands.schedule",
    "bench.commands.instruments",
    "bench.commands.trend",
    "bench.commands.certs",
    "bench.commands.faults",
)


def register_all(subparsers) -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not written yet
                continue
            raise
        module.register(subparsers)
