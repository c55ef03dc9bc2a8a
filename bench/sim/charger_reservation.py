"""Reservations in the simulated charger (1.6 ReserveNow/CancelReservation, 2.0.1 H01-H04),
shared by both versions (`ReservationMixin`, mixed into `SimulatedCharger`; the 2.x message
forms and ReservationStatusUpdate in `ReservationMixin2x`).

A reserved connector reports Reserved while it is idle, takes a session only for the reserving
idTag (RFID or remote start), and its transaction carries the reservationId (1.6
StartTransaction, 2.x TransactionEvent Started), which ends the reservation. At expiryDate it is
free again (2.x: ReservationStatusUpdate Expired). Connector 0 (1.6) is not reservable
(ReserveConnectorZeroSupported false); a 2.x ReserveNow without evseId takes the first free EVSE.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.clock import parse_iso
from bench.sim import faults as F
from instruments.iec61851 import CpState


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

    def expire(self, now: datetime) -> list[Reservation]:
        gone = [r for r in self._by_connector.values() if r.expiry <= now]
        for r in gone:
            del self._by_connector[r.connector_id]
        return gone


class ReservationMixin:
    """Expects the charger's `_connectors`, `_faults`, `_cp_state`, `clock`."""

    _connectors: dict
    _faults: frozenset[str]
    clock: Any

    def _init_reservations(self) -> None:
        self._reservations = Reservations(ignore=F.RESERVATION_IGNORED in self._faults)

    def _reserved(self, connector_id: int) -> bool:
        return self._reservations.on(connector_id) is not None

    def _reservation_blocks(self, conn: Any, tag: str) -> bool:
        return self._reservations.blocks(conn.connector_id, tag)

    def _reservation_for(self, conn: Any, tag: str | None) -> int | None:
        """The reservationId a transaction of `tag` starting on `conn` uses up."""
        return self._reservations.take(conn.connector_id, tag) if tag else None

    def _tick_reservations(self) -> None:
        for r in self._reservations.expire(self.clock.utcnow()):
            self._reservation_ended(r, "Expired")

    def _reservation_ended(self, reservation: Reservation, why: str) -> None:
        """1.6 only reports the connector status (the control loop does)."""

    def _reserve_status(self, conn: Any, reservation_id: int) -> str:
        """ReserveNow on this connector: Accepted, Occupied, Faulted or Unavailable."""
        cp = self._cp_state(conn)  # type: ignore[attr-defined]  # a SimulatedCharger mixin
        if cp in (CpState.E, CpState.F):
            return "Faulted"
        if not conn.operative:
            return "Unavailable"
        current = self._reservations.on(conn.connector_id)
        if (conn.transaction or conn.starting or conn.authorized_tag or cp.is_connected
                or (current is not None and current.reservation_id != reservation_id)):
            return "Occupied"
        return "Accepted"

    def _reserve(self, conn: Any, reservation_id: int, tag: str, expiry: str, parent: str | None) -> str:
        status = self._reserve_status(conn, reservation_id)
        if status == "Accepted":
            self._reservations.add(Reservation(reservation_id, conn.connector_id, tag, parse_iso(expiry), parent))
        return status

    # ---- CSMS -> charger (1.6) -----------------------------------------------------------------
    def on_reserve_now(self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int,
                       parent_id_tag: str | None = None, **_: Any) -> str:
        conn = self._connectors.get(connector_id)
        if conn is None:  # connector 0 included: ReserveConnectorZeroSupported is false
            return "Rejected"
        return self._reserve(conn, reservation_id, id_tag, expiry_date, parent_id_tag)

    def on_cancel_reservation(self, reservation_id: int, **_: Any) -> str:
        return "Accepted" if self._reservations.cancel(reservation_id) else "Rejected"


class ReservationMixin2x(ReservationMixin):
    RESULT: Any
    CALL: Any

    def _reservation_ended(self, reservation: Reservation, why: str) -> None:
        self._post(self.CALL.ReservationStatusUpdate(  # type: ignore[attr-defined]  # a SimulatedCharger mixin
            reservation_id=reservation.reservation_id, reservation_update_status=why))

    def on_reserve_now_2x(self, uid: str, p: dict) -> Any:
        evse_id = p.get("evseId")
        if evse_id is not None:
            conn = self._connectors.get(evse_id)
            if conn is None:
                return self.RESULT.ReserveNow(status="Rejected", status_info={"reasonCode": "UnknownEvse"})
        else:  # not EVSE specific: the first EVSE that can take it
            free = [c for c in self._connectors.values() if self._reserve_status(c, p["id"]) == "Accepted"]
            if not free:
                return self.RESULT.ReserveNow(status="Occupied")
            conn = free[0]
        group = (p.get("groupIdToken") or {}).get("idToken")
        status = self._reserve(conn, p["id"], p["idToken"]["idToken"], p["expiryDateTime"], group)
        return self.RESULT.ReserveNow(status=status)

    def on_cancel_reservation_2x(self, uid: str, p: dict) -> Any:
        return self.RESULT.CancelReservation(status=self.on_cancel_reservation(p["reservationId"]))
