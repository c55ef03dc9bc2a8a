"""Transaction, metering, offline and EV-fault misbehaviours of the simulated charger.

The compliant behaviour lives in the station (`station.py`: durable
transaction messages replayed in order after a reconnect, state E/F opening the
contactor, clock-aligned sampling); this module holds the faults of those
blocks (`faults.py`), so the main flow carries one call per hook:

- `energy_register_reset`: the meter's register jumps to 0 Wh a few seconds into
  each transaction;
- `clock_aligned_off_boundary`: aligned samples are taken half an interval late;
- `queued_messages_dropped`: on reconnect, everything queued offline is thrown away;
- `ev_fault_ignored`: state E/F leaves PWM and contactor as they were.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from bench.sim import faults as F
from bench.sim.charger_meter import ChargerMeter
from instruments.iec61851 import CpState

log = logging.getLogger(__name__)


class SessionFaults:
    def __init__(self, faults: frozenset[str], meter: ChargerMeter) -> None:
        self._faults = faults
        self._meter = meter
        self._reset_done: set[Any] = set()  # transaction ids whose register was already reset

    def tick(self, transaction_id: Any, started_utc: datetime | None, utcnow: datetime) -> None:
        """Called every control tick per connector with its running transaction (if any)."""
        if F.ENERGY_REGISTER_RESET not in self._faults or transaction_id is None or started_utc is None:
            return
        if transaction_id in self._reset_done:
            return
        if (utcnow - started_utc).total_seconds() >= F.magnitude(F.ENERGY_REGISTER_RESET, "after_s"):
            self._reset_done.add(transaction_id)
            self._meter.reset_register()

    def deadlines_s(self) -> list[float]:
        """Seconds into a transaction at which `tick` acts (so an idle charger wakes for them)."""
        return [F.magnitude(F.ENERGY_REGISTER_RESET, "after_s")] if F.ENERGY_REGISTER_RESET in self._faults else []

    def aligned_boundary(self, boundary: datetime, interval_s: float) -> datetime:
        """When the next clock-aligned sample is taken (the boundary itself when compliant)."""
        if F.CLOCK_ALIGNED_OFF_BOUNDARY in self._faults:
            late = F.magnitude(F.CLOCK_ALIGNED_OFF_BOUNDARY, "interval_fraction")
            return boundary + timedelta(seconds=interval_s * late)
        return boundary

    def after_reconnect(self, outbox: asyncio.Queue | None) -> None:
        """Accepted again by the CSMS, before the queue is sent: a compliant charger replays it."""
        if F.QUEUED_MESSAGES_DROPPED not in self._faults or outbox is None:
            return
        dropped = 0
        while not outbox.empty():
            item = outbox.get_nowait()
            if not item.future.done():
                item.future.set_result(None)
            dropped += 1
        if dropped:
            log.info("fault %s: dropped %d queued message(s)", F.QUEUED_MESSAGES_DROPPED, dropped)

    def keeps_power(self, cp: CpState, contactor_closed: bool) -> bool:
        """True: leave PWM and contactor as they are (the fault ignores state E/F)."""
        return F.EV_FAULT_IGNORED in self._faults and cp in (CpState.E, CpState.F) and contactor_closed
