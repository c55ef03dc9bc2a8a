"""Remote control and availability faults of the simulated charger (1.6 and 2.x).

The compliant behaviour lives in the chargers' handlers (`on_change_availability`,
`on_trigger_message`, `on_unlock_connector`); these helpers are the one place where the
remote-control faults of `faults.py` bend it, so both versions misbehave the same way.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bench.sim import faults as F

if TYPE_CHECKING:
    from bench.sim.charger import SimulatedCharger, _Connector

AVAILABILITY_FAULT_STOP_REASON = "Other"  # 1.6 Reason and 2.x ReasonEnumType both have it


def busy_for_availability(sim: "SimulatedCharger", busy: list["_Connector"]) -> list["_Connector"]:
    """The connectors whose Inoperative change waits for the end of their transaction (Scheduled);
    `availability_not_scheduled` waits for none."""
    return [] if F.AVAILABILITY_NOT_SCHEDULED in sim._faults else busy


def end_transactions_now(sim: "SimulatedCharger", targets: Iterable["_Connector"], operative: bool) -> None:
    """`availability_not_scheduled`: going Inoperative ends the running transactions at once."""
    if operative or F.AVAILABILITY_NOT_SCHEDULED not in sim._faults:
        return
    from bench.sim.charger import _log_failure

    for conn in targets:
        if conn.transaction is not None:
            future = sim._begin_stop(conn, AVAILABILITY_FAULT_STOP_REASON)
            if future is not None:
                future.add_done_callback(_log_failure)


def change_station(sim: "SimulatedCharger", operative: bool, scheduled: bool) -> None:
    """1.6 ChangeAvailability of connector 0: the charger as a whole (status of connector 0) changes
    now, or, when Scheduled, once its last transaction has ended (5.2)."""
    sim._cp_scheduled_operative = operative if scheduled else None
    if not scheduled:
        _set_station(sim, operative)


def station_after_transaction(sim: "SimulatedCharger") -> None:
    """A transaction has ended (its StopTransaction is queued): a Scheduled change of the whole
    charger happens once none runs."""
    if sim._cp_scheduled_operative is None or any(c.transaction for c in sim._connectors.values()):
        return
    operative, sim._cp_scheduled_operative = sim._cp_scheduled_operative, None
    _set_station(sim, operative)


def _set_station(sim: "SimulatedCharger", operative: bool) -> None:
    sim._cp_operative = operative
    sim._post(sim._status_payload(0, "Available" if operative else "Unavailable"))


def accepts_start_when_inoperative(sim: "SimulatedCharger", conn: "_Connector") -> bool:
    """`remote_start_when_unavailable`: an idle Inoperative connector takes a remote start (Accepted;
    nothing starts, the connector stays Inoperative)."""
    return (F.REMOTE_START_WHEN_UNAVAILABLE in sim._faults and not conn.operative and conn.transaction is None
            and conn.authorized_tag is None)


def ignore_trigger(sim: "SimulatedCharger", call_unique_id: str) -> None:
    """`trigger_message_ignored`: the Accepted answer goes out, the message never follows."""
    if F.TRIGGER_MESSAGE_IGNORED in sim._faults:
        sim._follow_ups.pop(call_unique_id, None)


def unlock_respects_transaction(sim: "SimulatedCharger") -> bool:
    """False with `unlock_ignores_transaction`: a running transaction does not change the unlock."""
    return F.UNLOCK_IGNORES_TRANSACTION not in sim._faults
