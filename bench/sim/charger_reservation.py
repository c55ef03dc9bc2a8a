"""Reservations in the simulated charger (1.6 ReserveNow/CancelReservation, 2.0.1 H01-H04),
shared by both versions: the station keeps `Reservations`; the adapters answer ReserveNow with
`reserve` (2.x also sends ReservationStatusUpdate when one expires).

A reserved connector reports Reserved while it is idle, takes a session only for the reserving
idTag (RFID or remote start), and its transaction carries the reservationId (1.6
StartTransaction, 2.x TransactionEvent Started), which ends the reservation. At expiryDate it is
free again (2.x: ReservationStatusUpdate Expired). Connector 0 (1.6) is not reservable
(ReserveConnectorZeroSupported false); a 2.x ReserveNow without evseId takes the first free EVSE.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from instruments.iec61851 import CpState

if TYPE_CHECKING:
    from bench.sim.station import Connector, Station


@dataclass(frozen=True)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None


class Reservations:
    """Reservations by connector (at most one per connector)."""

    def __init__(self, ignore: bool = False) -> None:
        self._by_connector: dict[int, Reservation] = {}
        self.ignore = ignore  # fault reservation_ignored: every ReserveNow Accepted, none kept

    def on(self, connector_id: int) -> Reservation | None:
        return self._by_connector.get(connector_id)

    def add(self, reservation: Reservation) -> None:
        """Keep it (a reservation with the same id is replaced, also on another connector)."""
        if self.ignore:
            return
        self.cancel(reservation.reservation_id)
        self._by_connector[reservation.connector_id] = reservation

    def cancel(self, reservation_id: int) -> Reservation | None:
        for connector_id, r in list(self._by_connector.items()):
            if r.reservation_id == reservation_id:
                return self._by_connector.pop(connector_id)
        return None

    def blocks(self, connector_id: int, tag: str) -> bool:
        """Reserved for someone else."""
        r = self._by_connector.get(connector_id)
        return r is not None and tag not in (r.id_tag, r.parent_id_tag)

    def take(self, connector_id: int, tag: str) -> int | None:
        """The reservation `tag` uses on this connector (it ends): its id, else None."""
        r = self._by_connector.get(connector_id)
        if r is None or r.id_tag != tag and r.parent_id_tag != tag:
            return None
        del self._by_connector[connector_id]
        return r.reservation_id

    def expiries(self) -> list[datetime]:
        return [r.expiry for r in self._by_connector.values()]

    def expire(self, now: datetime) -> list[Reservation]:
        gone = [r for r in self._by_connector.values() if r.expiry <= now]
        for r in gone:
            del self._by_connector[r.connector_id]
        return gone


def reserve_status(station: Station, conn: Connector, reservation_id: int) -> str:
    """ReserveNow on this connector: Accepted, Occupied, Faulted or Unavailable."""
    cp = station.cp_state(conn)
    if cp in (CpState.E, CpState.F):
        return "Faulted"
    if not conn.operative:
        return "Unavailable"
    current = station.reservations.on(conn.connector_id)
    if (conn.transaction or conn.starting or conn.authorized_tag or cp.is_connected
            or (current is not None and current.reservation_id != reservation_id)):
        return "Occupied"
    return "Accepted"


def reserve(station: Station, conn: Connector, reservation_id: int, tag: str, expiry: datetime,
            parent: str | None) -> str:
    """ReserveNow: the status, and the reservation kept when Accepted."""
    status = reserve_status(station, conn, reservation_id)
    if status == "Accepted":
        station.reservations.add(Reservation(reservation_id, conn.connector_id, tag, expiry, parent))
    return status
