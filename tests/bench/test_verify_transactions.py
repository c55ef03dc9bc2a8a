"""The transactions block's physical checks on synthetic traces: energy_stops_within and
transaction_meter_values_match_reference each PASS, FAIL, and say ERROR/SKIPPED when they
cannot judge."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from bench.trace import NUMERIC_COLUMNS
from bench.config import load_config
from bench.csms.events import MeterSample, Transaction
from bench.record import Verdict
from bench.checks.timeline import Expected
from bench.checks.base import CheckInputs
from bench.checks.current import energy_stops_within
from bench.checks.library import CHECKS
from bench.checks.metering import transaction_meter_values_match_reference

from test_config import ROOT

T = np.round(np.arange(0, 20, 0.1), 3)
UTC0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
NOTHING = Expected([(0.0, 16.0)], [(0.0, 16.0)], [(0.0, None)], [])


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _trace(states, current, energy=None):
    out = {c: np.full(T.size, np.nan) for c in NUMERIC_COLUMNS}
    out["t_mono_s"] = T.astype(float)
    out["ev_cp_state"] = np.array(states, dtype=object)
    for p in (1, 2, 3):
        out[f"meter_current_l{p}_a"] = np.asarray(current, dtype=float)
    if energy is not None:
        out["meter_energy_import_wh"] = np.asarray(energy, dtype=float)
    return out


def _inputs(cfg, trace, transactions=(), **params):
    pos = cfg.positions[0]
    mono_of = lambda ts: (ts - UTC0).total_seconds()  # noqa: E731
    return CheckInputs(pos, cfg.tolerances, 0.0, float(T[-1]), trace, NOTHING, list(transactions), mono_of,
                       params=params)


def _fault_at_5s(stop_after_s):
    """C until 5 s, E from 5 s to 12 s, C again; current 16 A until 5 s + stop_after_s."""
    states = np.where((T >= 5.0) & (T < 12.0), "E", "C")
    current = np.where((T < 5.0 + stop_after_s) | (T >= 14.0), 16.0, 0.0)
    return _trace(states, current)


def test_energy_that_stops_at_once_passes(cfg):
    rec = energy_stops_within(_inputs(cfg, _fault_at_5s(0.05)))
    assert rec.verdict == Verdict.PASS, rec.message
    delay = rec.measurements[0]
    assert delay.name == "stop1_delay_s" and delay.value == pytest.approx(0.1)
    assert delay.high == pytest.approx(0.3)  # 100 ms + two sampling periods (trace and instrument skew)


def test_energy_that_keeps_flowing_after_the_fault_fails(cfg):
    rec = energy_stops_within(_inputs(cfg, _fault_at_5s(1.0)))
    assert rec.verdict == Verdict.FAIL
    assert rec.measurements[0].value == pytest.approx(1.0)
    never = energy_stops_within(_inputs(cfg, _fault_at_5s(30.0)))
    assert never.verdict == Verdict.FAIL and "kept flowing" in never.measurements[0].note


def test_energy_that_comes_back_during_the_fault_fails(cfg):
    trace = _fault_at_5s(0.05)
    again = (T >= 8.0) & (T < 9.0)
    for p in (1, 2, 3):
        trace[f"meter_current_l{p}_a"][again] = 10.0
    rec = energy_stops_within(_inputs(cfg, trace))
    assert rec.verdict == Verdict.FAIL
    assert rec.measurements[1].name == "stop1_current_after_a" and rec.measurements[1].value == 10.0


def test_energy_stops_judges_the_states_asked_for(cfg):
    states = np.where(T >= 5.0, "A", "C")
    trace = _trace(states, np.where(T < 5.0, 16.0, 0.0))
    assert energy_stops_within(_inputs(cfg, trace)).verdict == Verdict.ERROR  # no E/F in it
    assert energy_stops_within(_inputs(cfg, trace, states=["A"])).verdict == Verdict.PASS
    no_meter = _trace(states, np.full(T.size, np.nan))
    assert energy_stops_within(_inputs(cfg, no_meter, states=["A"])).verdict == Verdict.SKIPPED
    assert CHECKS["energy_stops_within"].physical


def test_a_stalled_cp_state_read_neither_hides_the_entry_nor_cuts_the_stretch(cfg):
    states = np.where(T >= 5.0, "A", "C").astype(object)
    states[(T >= 4.9) & (T < 5.3)] = ""  # the EV emulator's reads stalled around the unplug
    current = np.where(T < 5.35, 16.0, 0.0)
    rec = energy_stops_within(_inputs(cfg, _trace(states, current), states=["A"]))
    assert rec.verdict == Verdict.PASS, rec.message
    assert rec.measurements[0].value == pytest.approx(0.1)  # from the first row known in A (5.3 s) to 5.4 s


def test_a_state_left_before_the_stop_was_due_is_not_judged_not_failed(cfg):
    states = np.where(T >= 5.0, "A", "C").astype(object)
    states[T >= 5.1] = ""  # one row in A, then no more CP readings
    rec = energy_stops_within(_inputs(cfg, _trace(states, np.full(T.size, 16.0)), states=["A"]))
    assert rec.verdict == Verdict.ERROR and "not judged" in rec.measurements[0].note


def _transaction(register_at):
    """A transaction 2..18 s with an energy register sample every 2 s from register_at(t); its
    StopTransaction (the last value stamped 18 s, whole seconds) arrives at 19 s."""
    tx = Transaction(1, 1, "TAG", 1000.0, 2.0, UTC0 + timedelta(seconds=2), meter_stop_wh=1100.0, t_stop_mono_s=19.0)
    for t in range(2, 19, 2):
        context = {2: "Transaction.Begin", 18: "Transaction.End"}.get(t, "Sample.Periodic")
        tx.samples.append(MeterSample(t + 20.0, UTC0 + timedelta(seconds=t), register_at(t), "Wh", context=context))
    return tx


REF = 500.0 + 3.0 * T  # reference meter: 3 Wh/s


def test_register_values_that_agree_with_the_reference_pass(cfg):
    trace = _trace(["C"] * T.size, np.full(T.size, 16.0), REF)
    rec = transaction_meter_values_match_reference(_inputs(cfg, trace, [_transaction(lambda t: 1000.0 + 3.0 * t)]))
    assert rec.verdict == Verdict.PASS, rec.message
    error = next(m for m in rec.measurements if m.name == "tx1_energy_error_pct")
    assert error.value == pytest.approx(0.0, abs=1e-6) and "9 values" in error.note


def test_the_last_value_was_taken_before_the_stop_arrived(cfg):
    # stamped 18 s (whole seconds): taken in [18, 19) unless the StopTransaction arrived sooner;
    # the scenario ended 0.1 s after it did, and the trace with it
    ends = T <= 18.3
    trace = {c: v[ends] for c, v in _trace(["C"] * T.size, np.full(T.size, 16.0), REF).items()}
    early = _transaction(lambda t: 1000.0 + 3.0 * t)
    early.t_stop_mono_s = 18.2
    rec = transaction_meter_values_match_reference(_inputs(cfg, trace, [early]))
    assert rec.verdict == Verdict.PASS, rec.message
    narrow = next(m for m in rec.measurements if m.name == "tx1_energy_error_pct")
    full = next(m for m in transaction_meter_values_match_reference(_inputs(
        cfg, _trace(["C"] * T.size, np.full(T.size, 16.0), REF), [_transaction(lambda t: 1000.0 + 3.0 * t)])).measurements
        if m.name == "tx1_energy_error_pct")
    assert narrow.high < full.high  # less timing allowance: the interval ends at the arrival


def test_a_register_that_resets_or_counts_wrong_fails(cfg):
    trace = _trace(["C"] * T.size, np.full(T.size, 16.0), REF)
    reset = transaction_meter_values_match_reference(_inputs(cfg, trace, [_transaction(
        lambda t: 1000.0 + 3.0 * t if t < 8 else 3.0 * (t - 8))]))
    assert reset.verdict == Verdict.FAIL
    assert next(m for m in reset.measurements if m.name == "tx1_register_decrease_wh").verdict == Verdict.FAIL
    # whole-second stamps over 16 s let the reference delta move by +-6 %: +20 % is beyond that (it was
    # +6.7 % when a whole-second stamp was taken as the exact instant)
    high = transaction_meter_values_match_reference(_inputs(cfg, trace, [_transaction(lambda t: 1000.0 + 3.6 * t)]))
    assert high.verdict == Verdict.FAIL and "tx1_energy_error_pct" in high.message


def test_register_check_cannot_judge_without_data(cfg):
    trace = _trace(["C"] * T.size, np.full(T.size, 16.0), REF)
    assert transaction_meter_values_match_reference(_inputs(cfg, trace)).verdict == Verdict.ERROR
    little = _trace(["C"] * T.size, np.full(T.size, 16.0), 500.0 + 0.1 * T)  # 1.6 Wh: below 100 steps
    rec = transaction_meter_values_match_reference(_inputs(cfg, little, [_transaction(lambda t: 1000.0 + 0.1 * t)]))
    assert rec.verdict == Verdict.ERROR
    no_meter = _trace(["C"] * T.size, np.full(T.size, 16.0))
    assert transaction_meter_values_match_reference(_inputs(cfg, no_meter, [_transaction(lambda t: t)])).verdict \
        == Verdict.SKIPPED


def test_a_transaction_whose_stop_never_came_fails(cfg):
    trace = _trace(["C"] * T.size, np.full(T.size, 16.0), REF)
    running = _transaction(lambda t: 1000.0 + 3.0 * t)
    running.t_stop_mono_s = None
    rec = transaction_meter_values_match_reference(_inputs(cfg, trace, [running]))
    assert rec.verdict == Verdict.FAIL and "had not ended" in rec.measurements[0].note
