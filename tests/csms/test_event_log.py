"""EventLog: a Dut's events read like a list, heartbeats kept as two numbers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.csms.events import DutEvent, EventKind, EventLog

T0 = datetime(2031, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def event(kind: EventKind, t: float, **data: object) -> DutEvent:
    return DutEvent(kind.value, t, T0 + timedelta(seconds=t), data=dict(data))


def test_reads_like_the_list_of_what_was_appended() -> None:
    emitted = [event(EventKind.CONNECTED, 0.0, security_profile=0), event(EventKind.BOOT, 0.5, status="Accepted")]
    emitted += [event(EventKind.HEARTBEAT, 1.0 + i) for i in range(5)]
    emitted += [event(EventKind.STATUS, 6.25, status="Available"), event(EventKind.HEARTBEAT, 7.000001)]
    log = EventLog()
    for e in emitted:
        log.append(e)
    assert len(log) == len(emitted)
    assert list(log) == emitted and log[:] == emitted and log[2:4] == emitted[2:4]
    assert log[-1] == emitted[-1] and log[3] == emitted[3] and log[0] is emitted[0]
    assert list(reversed(log)) == emitted[::-1]
    assert [log.index(e) for e in emitted] == list(range(len(emitted)))
    assert log.last(EventKind.CONNECTED) is emitted[0] and log.last(EventKind.DISCONNECTED) is None
    with pytest.raises(IndexError):
        log[len(emitted)]
    with pytest.raises(ValueError):
        log.index(event(EventKind.HEARTBEAT, 2.5))


def test_a_heartbeat_that_two_numbers_cannot_say_is_kept_whole() -> None:
    naive = DutEvent(EventKind.HEARTBEAT.value, 1.0, datetime(2031, 1, 1))  # a clock without a timezone
    log = EventLog()
    log.append(naive)
    assert log[0] is naive and log.index(naive) == 0


def test_index_finds_events_when_the_clock_went_back() -> None:
    log = EventLog()
    later, earlier = event(EventKind.HEARTBEAT, 5.0), event(EventKind.HEARTBEAT, 1.0)
    log.append(later)
    log.append(earlier)
    assert log.index(earlier) == 1 and log.index(later) == 0
