"""The expected behaviour the verdicts are built on: limit, EV current and PWM duty over time."""
from datetime import datetime, timezone

import numpy as np

from bench.checks.timeline import Timeline, TxSpan, utc_mapper, value_at
from instruments.iec61851 import CpState

T0 = 1000.0
UTC0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


def _tx_profile(pid: int, limit: float, tx_id: int = 7) -> dict:
    return {"chargingProfileId": pid, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": tx_id,
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}}


def _timeline() -> Timeline:
    tl = Timeline(1, 32.0, 230.0, 3, utc_mapper(T0, UTC0))
    tl.note_profiles(T0)
    tl.note_ev_state(T0, CpState.A)
    tl.note_ev_max(T0, 32.0)
    return tl


def test_step_down_limit_current_and_duty():
    tl = _timeline()
    tx = TxSpan(7, 1, T0 + 2, T0 + 60, UTC0)
    tl.note_ev_state(T0 + 1, CpState.B)
    tl.note_ev_state(T0 + 3, CpState.C)
    for t, pid, limit in ((T0 + 5, 1, 16), (T0 + 15, 2, 10), (T0 + 25, 3, 0)):
        assert tl.store.install(1, _tx_profile(pid, limit), active_transaction_id=7)[0]
        tl.note_profiles(t)
    exp = tl.expected(T0, T0 + 70, [tx])
    t = np.array([T0 + 0.5, T0 + 4, T0 + 10, T0 + 20, T0 + 30, T0 + 65])
    assert value_at(exp.limit_a, t).tolist() == [32, 32, 16, 10, 0, 32]
    # no transaction before T0+2, EV not in C before T0+3, 0 A limit stops the flow, tx ended at T0+60
    assert value_at(exp.current_a, t).tolist() == [0, 32, 16, 10, 0, 0]
    duty = value_at(exp.duty_pct, t)
    assert np.isnan(duty[0]) and np.isnan(duty[-1])  # PWM not judged without a transaction
    assert duty[1:5].tolist() == [53.3, 26.7, 16.7, 100.0]
    assert {T0 + 3, T0 + 5, T0 + 15, T0 + 25, T0 + 60} <= set(exp.changes)


def test_tx_profile_of_another_transaction_does_not_apply():
    tl = _timeline()
    tl.store.install(1, _tx_profile(1, 10, tx_id=7), active_transaction_id=7)
    tl.note_profiles(T0 + 1)
    tl.note_ev_state(T0, CpState.C)
    exp = tl.expected(T0, T0 + 20, [TxSpan(8, 1, T0, None, UTC0)])
    assert value_at(exp.limit_a, [T0 + 5]).tolist() == [32]


def test_ev_maximum_caps_the_expected_current_not_the_limit():
    tl = _timeline()
    tl.note_ev_state(T0, CpState.C)
    tl.note_ev_max(T0 + 10, 10.0)
    exp = tl.expected(T0, T0 + 20, [TxSpan(1, 1, T0, None, UTC0)])
    assert value_at(exp.limit_a, [T0 + 15]).tolist() == [32]
    assert value_at(exp.current_a, [T0 + 5, T0 + 15]).tolist() == [32, 10]
