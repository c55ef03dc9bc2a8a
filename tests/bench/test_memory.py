"""memory_flat: the soak's memory marks, fitted; and the probe that takes them."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bench.config import load_config
from bench.memory import MemoryMark, MemoryProbe
from bench.record import Verdict
from bench.checks.timeline import Expected
from bench.checks.base import CheckInputs
from bench.checks.memory import memory_flat

ROOT = Path(__file__).resolve().parents[2]
HOUR = 3600.0


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _check(cfg, marks, **params):
    t = np.array([0.0, 8 * HOUR])
    inp = CheckInputs(cfg.positions[0], cfg.tolerances, 0.0, 8 * HOUR, {"t_mono_s": t},
                      Expected([], [], [], []), [], lambda dt: 0.0, params, memory_marks=marks)
    return memory_flat(inp)


def _marks(bench_kib_per_h=0.0, dut_kib_per_h: float | None = 0.0, n=17):
    # the first mark starts tracing: whatever it says is warm-up
    return [MemoryMark(i * 0.5 * HOUR, int((5000 + bench_kib_per_h * i * 0.5 + (i % 2) * 30) * 1024),
                       int(i * 400 * 1024),
                       None if dut_kib_per_h is None else int((900 + dut_kib_per_h * i * 0.5) * 1024))
            for i in range(n)]


def test_flat_memory_passes_and_says_what_it_compared(cfg):
    rec = _check(cfg, _marks())
    assert rec.verdict == Verdict.PASS
    by_name = {m.name: m for m in rec.measurements}
    assert by_name["bench_growth_kib_per_h"].samples == 16
    assert abs(by_name["bench_growth_kib_per_h"].value) < 100
    assert by_name["evidence_log_growth_kib_per_h"].verdict == Verdict.SKIPPED  # reported, not judged
    assert by_name["evidence_log_growth_kib_per_h"].value == pytest.approx(800, rel=0.01)


def test_a_leaking_charger_or_bench_fails(cfg):
    assert _check(cfg, _marks(dut_kib_per_h=4096)).verdict == Verdict.FAIL
    assert _check(cfg, _marks(bench_kib_per_h=4096)).verdict == Verdict.FAIL
    assert _check(cfg, _marks(bench_kib_per_h=600), growth_kib_per_h=512).verdict == Verdict.FAIL


def test_a_real_charger_is_not_measured_and_says_so(cfg):
    rec = _check(cfg, _marks(dut_kib_per_h=None))
    charger = next(m for m in rec.measurements if m.name == "charger_growth_kib_per_h")
    assert charger.verdict == Verdict.SKIPPED and "not visible over OCPP" in charger.note


def test_too_few_marks_is_an_error_not_a_pass(cfg):
    assert _check(cfg, _marks(n=2)).verdict == Verdict.ERROR


def test_the_probe_attributes_memory_to_the_file_that_holds_it(tmp_path):
    dut_dir = tmp_path / "charger"
    dut_dir.mkdir()
    (dut_dir / "leaky.py").write_text("KEPT = []\n\ndef leak(n):\n    KEPT.append(bytearray(n))\n")
    spec = importlib.util.spec_from_file_location("leaky", dut_dir / "leaky.py")
    leaky = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(leaky)
    probe = MemoryProbe(dut_dir)
    try:
        first = probe.mark(0.0)
        leaky.leak(2_000_000)
        second = probe.mark(1.0)
    finally:
        probe.stop()
    assert second.dut_bytes - first.dut_bytes >= 2_000_000
    assert abs(second.bench_bytes - first.bench_bytes) < 1_000_000
    real_dut = MemoryProbe(None)
    try:
        assert real_dut.mark(0.0).dut_bytes is None
    finally:
        real_dut.stop()
