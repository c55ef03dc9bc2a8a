"""Remote control and availability of the simulated charger, and their faults (1.6 and 2.x).

The adapters' handlers (`ChangeAvailability`, `TriggerMessage`, `UnlockConnector`, remote
starts) decide with these helpers, the one place where the remote-control faults of
`faults.py` bend the compliant behaviour, so every version misbehaves the same way. They use
the station's public methods only.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bench.sim import faults as F

if TYPE_CHECKING:
    from bench.sim.station import Connector, Station

AVAILABILITY_FAULT_STOP_REASON = "Other"  # 1.6 Reason and 2.x ReasonEnumType both have it
StationReport = Callable[[bool], None]  # how the version reports the whole station (in)operative


def busy_for_availability(station: Station, busy: list[Connector]) -> list[Connector]:
    """The connectors whose Inoperative change waits for the end of their transaction (Scheduled);
    `availability_not_scheduled` waits for none."""
    return [] if F.AVAILABILITY_NOT_SCHEDULED in station.faults else busy


def end_transactions_now(station: Station, targets: Iterable[Connector], operative: bool) -> None:
    """`availability_not_scheduled`: going Inoperative ends the running transactions at once."""
    if operative or F.AVAILABILITY_NOT_SCHEDULED not in station.faults:
        return
    for conn in targets:
        if conn.transaction is not None:
            station.end_transaction_logged(conn, AVAILABILITY_FAULT_STOP_REASON)


def apply_availability(station: Station, targets: Iterable[Connector], busy: list[Connector],
                       operative: bool) -> None:
    """ChangeAvailability, once answered: the idle targets change now, the busy ones (Inoperative)
    when their transaction ends."""
    targets = list(targets)
    end_transactions_now(station, targets, operative)
    for conn in targets:
        if conn in busy and not operative:
            conn.scheduled_operative = False
        else:
            conn.operative, conn.scheduled_operative = operative, None


def change_station(station: Station, operative: bool, scheduled: bool, report: StationReport) -> None:
    """1.6 ChangeAvailability of connector 0: the charger as a whole (status of connector 0) changes
    now, or, when Scheduled, once its last transaction has ended (5.2)."""
    station.scheduled_station_operative = operative if scheduled else None
    if not scheduled:
        _set_station(station, operative, report)


def station_after_transaction(station: Station, report: StationReport) -> None:
    """A transaction has ended (its StopTransaction is queued): a Scheduled change of the whole
    charger happens once none runs."""
    if station.scheduled_station_operative is None or station.running():
        return
    operative, station.scheduled_station_operative = station.scheduled_station_operative, None
    _set_station(station, operative, report)


def _set_station(station: Station, operative: bool, report: StationReport) -> None:
    station.station_operative = operative
    report(operative)


def accepts_start_when_inoperative(station: Station, conn: Connector) -> bool:
    """`remote_start_when_unavailable`: an idle Inoperative connector takes a remote start (Accepted;
    nothing starts, the connector stays Inoperative)."""
    return (F.REMOTE_START_WHEN_UNAVAILABLE in station.faults and not conn.operative
            and conn.transaction is None and conn.authorized_tag is None)


def ignore_trigger(station: Station, call_unique_id: str) -> None:
    """`trigger_message_ignored`: the Accepted answer goes out, the message never follows."""
    if F.TRIGGER_MESSAGE_IGNORED in station.faults:
        station.drop_follow_up(call_unique_id)


def unlock_respects_transaction(station: Station) -> bool:
    """False with `unlock_ignores_transaction`: a running transaction does not change the unlock."""
    return F.UNLOCK_IGNORES_TRANSACTION not in station.faults
