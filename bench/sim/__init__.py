"""The virtual lab: the simulated charger, the plant, the instrument simulators speaking the real
wire protocols on 127.0.0.1 (bench/sim/instruments/) and the fault matrix run against them.

This module is the seam: the rest of the bench reaches the virtual lab only through the names
below, and only at the composition root (bench/cli.py, bench/session.py), which hands what the
command modules need to them. The simulator may import the core; the core never imports the
simulator (tests/bench/test_architecture.py keeps it so).
"""
from __future__ import annotations

from bench.certs import CertPaths
from bench.clock import Clock
from bench.config import LabConfig
from bench.sim import lab as _lab
from bench.sim.faults import FAULTS, unknown_faults
from bench.sim.instruments.registry import SIMULATORS
from bench.sim.matrix import run_matrix

__all__ = ["FAULTS", "run_matrix", "simulated_drivers", "unknown_faults", "virtual_lab"]


def virtual_lab(clock: Clock, config: LabConfig, csms_url: str, *, fault: str | None = None, secure: bool = False,
                certs: CertPaths | None = None) -> _lab.VirtualLab:
    """The virtual lab of `config`, not started: `start_instruments()` returns the config with the
    addresses the simulators bound, `start_chargers()` (once the CSMS listens at `csms_url`)
    connects the simulated chargers, `stop()` stops everything. `fault`: injected into every
    simulated charger. `secure`: the chargers connect at the configured security profile, with
    `certs` (the bench's certificates, profiles 2 and 3); otherwise over plain ws."""
    security = _lab.charger_security(config, certs) if secure else None
    # looked up when called, so a test can swap in its own VirtualLab (bench.sim.lab.VirtualLab)
    return _lab.VirtualLab(clock, config, csms_url, frozenset([fault] if fault else []), security=security)


def simulated_drivers() -> frozenset[str]:
    """The instrument drivers the virtual lab has a simulator for."""
    return frozenset(SIMULATORS)
