"""Checks on synthetic traces: each can PASS, FAIL, and says ERROR/SKIPPED when it cannot judge."""
from types import SimpleNamespace

import numpy as np
import pytest

from bench.trace import NUMERIC_COLUMNS
from bench.config import load_config
from bench.record import Verdict
from bench.checks.timeline import Expected
from bench.checks.base import CheckInputs
from bench.checks.current import current_follows_limit, pwm_matches_limit
from bench.checks.metering import transaction_energy_matches_reference

from test_config import ROOT


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _trace(t, **cols):
    out = {c: np.full(len(t), np.nan) for c in NUMERIC_COLUMNS}
    out["t_mono_s"] = np.asarray(t, dtype=float)
    out["ev_cp_state"] = np.array(["C"] * len(t), dtype=object)
    for k, v in cols.items():
        out[k] = np.asarray(v, dtype=float)
    return out


def _inputs(cfg, trace, expected, transactions=()):
    pos = cfg.positions[0]
    return CheckInputs(pos, cfg.tolerances, 0.0, float(trace["t_mono_s"][-1]), trace, expected,
                       list(transactions), lambda dt: 0.0)


# limit 16 A from t=0, 10 A from t=20; EV draws what it is offered
EXPECTED = Expected(limit_a=[(0.0, 16.0), (20.0, 10.0)], current_a=[(0.0, 16.0), (20.0, 10.0)],
                    duty_pct=[(0.0, 26.7), (20.0, 16.7)], changes=[20.0])
T = np.arange(0, 40, 0.1)


def _phase_currents(values):
    return {f"meter_current_l{p}_a": values for p in (1, 2, 3)}


def test_current_that_follows_the_limit_passes(cfg):
    cur = np.where(T < 22, 16.0, 10.0)  # settles 2 s after the change, inside the settle window
    rec = current_follows_limit(_inputs(cfg, _trace(T, **_phase_currents(cur)), EXPECTED))
    assert rec.verdict == Verdict.PASS, rec.message
    assert {m.name for m in rec.measurements} >= {"excess_over_limit_l1_a", "shortfall_below_expected_l3_a"}


def test_current_that_ignores_the_step_down_fails(cfg):
    rec = current_follows_limit(_inputs(cfg, _trace(T, **_phase_currents(np.full(T.size, 16.0))), EXPECTED))
    assert rec.verdict == Verdict.FAIL
    worst = rec.measurements[0]
    assert worst.value == pytest.approx(6.0) and worst.high == pytest.approx(0.7)


def test_current_that_never_comes_back_up_fails(cfg):
    cur = np.where(T < 10, 16.0, 6.0)
    rec = current_follows_limit(_inputs(cfg, _trace(T, **_phase_currents(cur)), EXPECTED))
    assert rec.verdict == Verdict.FAIL
    assert any(m.name.startswith("shortfall") and m.verdict == Verdict.FAIL for m in rec.measurements)


def test_current_check_is_skipped_without_a_meter(cfg):
    assert current_follows_limit(_inputs(cfg, _trace(T), EXPECTED)).verdict == Verdict.SKIPPED


def test_pwm_offset_fails_and_exact_duty_passes(cfg):
    good = np.where(T < 21, 26.7, 16.7)
    assert pwm_matches_limit(_inputs(cfg, _trace(T, ev_pwm_duty_pct=good), EXPECTED)).verdict == Verdict.PASS
    bad = pwm_matches_limit(_inputs(cfg, _trace(T, ev_pwm_duty_pct=good + 4.0), EXPECTED))
    assert bad.verdict == Verdict.FAIL and bad.measurements[0].value == pytest.approx(4.0)


def test_pwm_without_any_judged_sample_is_an_error(cfg):
    none = Expected([(0.0, 16.0)], [(0.0, 0.0)], [(0.0, None)], [])
    rec = pwm_matches_limit(_inputs(cfg, _trace(T, ev_pwm_duty_pct=np.full(T.size, 26.7)), none))
    assert rec.verdict == Verdict.ERROR


def _tx(start, stop, meter_start, meter_stop):
    return SimpleNamespace(transaction_id=1, t_start_mono_s=start, t_stop_mono_s=stop,
                           meter_start_wh=meter_start, meter_stop_wh=meter_stop, samples=[])


def test_transaction_energy_uses_the_delta_not_meter_stop(cfg):
    energy = T * 10.0  # 10 Wh per second: 300 Wh over the transaction on the reference meter
    trace = _trace(T, meter_energy_import_wh=energy)
    ok = transaction_energy_matches_reference(_inputs(cfg, trace, EXPECTED, [_tx(5.0, 35.0, 50_000, 50_300)]))
    assert ok.verdict == Verdict.PASS, ok.message
    high = transaction_energy_matches_reference(_inputs(cfg, trace, EXPECTED, [_tx(5.0, 35.0, 50_000, 50_315)]))
    assert high.verdict == Verdict.FAIL and high.measurements[0].value == pytest.approx(5.0)
    none = transaction_energy_matches_reference(_inputs(cfg, trace, EXPECTED, []))
    assert none.verdict == Verdict.ERROR


def test_transaction_energy_too_small_to_resolve_is_an_error_not_a_verdict(cfg):
    trace = _trace(T, meter_energy_import_wh=T * 2.0)  # 60 Wh: fewer than 100 whole-Wh steps
    rec = transaction_energy_matches_reference(_inputs(cfg, trace, EXPECTED, [_tx(5.0, 35.0, 1000, 1060)]))
    assert rec.verdict == Verdict.ERROR
    assert "below 100 Wh" in rec.measurements[0].note


def test_a_coarse_reference_register_is_an_error_not_a_charger_fail(cfg):
    coarse = np.floor(T * 10.0 / 100.0) * 100.0  # an EM24-like register: 100 Wh steps
    trace = _trace(T, meter_energy_import_wh=coarse)
    rec = transaction_energy_matches_reference(_inputs(cfg, trace, EXPECTED, [_tx(5.0, 35.0, 50_000, 50_300)]))
    assert rec.verdict == Verdict.ERROR
    assert "below 10000 Wh" in rec.measurements[0].note


def test_a_failure_message_never_prints_minus_zero():
    """A limit of -0.0 (e.g. a negated zero allowance) and a value rounding to -0 print as 0."""
    from bench.checks.base import _first_failure_message
    from bench.record import Measurement, Verdict

    m = Measurement("drift_wh", -0.0001, "Wh", -0.0, 0.0, Verdict.FAIL, note="", rule="")
    message = _first_failure_message([m])
    assert message == "drift_wh = 0.0 Wh outside [0, 0]" and "-0" not in message


def test_a_missing_offer_reading_is_said_so_not_printed_as_nan():
    from bench.checks.current import _amps_or_unmeasured

    offered = np.array([16.04, np.nan])
    assert [_amps_or_unmeasured(offered, 0), _amps_or_unmeasured(offered, 1)] == ["16.0 A", "not measured"]
    assert _amps_or_unmeasured(None, 0) == "not measured"
