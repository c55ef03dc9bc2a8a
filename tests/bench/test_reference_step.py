"""The reference meter's energy resolution as the trace shows it: a register that held still while
energy flowed is coarse (its step is the smallest increase); one that advanced at every sample is
finer than one sample's energy, and that energy is no resolution (it depends on power and rate)."""
from __future__ import annotations

import numpy as np

from bench.checks.reference import reference_energy_step_wh


def _trace(energy_wh: np.ndarray, power_w: float) -> dict[str, np.ndarray]:
    n = len(energy_wh)
    return {"t_mono_s": np.arange(n) * 0.1, "meter_energy_import_wh": energy_wh,
            "meter_power_total_w": np.full(n, power_w)}


def test_a_fine_register_at_high_power_is_not_taken_for_a_coarse_one():
    rng = np.random.default_rng(1)
    dt = 0.1 + rng.uniform(-0.01, 0.01, 200)  # sampling jitter: the per-sample energy varies
    energy = 1000 + np.round(np.cumsum(8000 * dt / 3600), 3)  # 8 kW, a 1 mWh register: 0.2 Wh per sample
    assert reference_energy_step_wh(_trace(energy, 8000.0)) <= 0.001 + 1e-9


def test_a_coarse_register_shows_its_step():
    energy = 1000 + np.floor(np.cumsum(np.full(400, 8000 * 0.1 / 3600)) / 10) * 10  # 10 Wh register
    assert reference_energy_step_wh(_trace(energy, 8000.0)) == 10.0


def test_no_energy_flow_tells_nothing():
    assert reference_energy_step_wh(_trace(np.full(50, 1000.0), 0.0)) == 0.0
