"""Fixtures shared by the project's own tests."""
from __future__ import annotations

import pytest

from bench.testing.clock import ManualClock


@pytest.fixture
def manual_clock() -> ManualClock:
    """A clock the test moves by hand (`t`, `advance`, `sleep` without waiting), starting at 0 s
    and 2031-01-01 UTC. A test needing another start, anchor or a time quantum builds its own
    `ManualClock(...)`."""
    return ManualClock()
