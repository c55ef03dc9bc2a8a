"""Steps of the RESERVATION block: ReserveNow, CancelReservation and the 2.x
ReservationStatusUpdate. The expectations on connector status and transactions
(`expect_connector_status`, `expect_transaction` with `reservation: last`) are in
steps_authorization.
"""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Literal

from pydantic import Field

from bench.clock import iso_utc
from bench.csms.dut import DutError
from bench.scenario.steps import StepContext, StepDef, StepFailed, _Args, _expect
from bench.scenario.steps_authorization import reservations_sent

_reservation_ids = itertools.count(1001)  # unique over a run: a stale id never matches a new reservation


class ReserveNowArgs(_Args):
    id_tag: str = "TAG-ACCEPTED"
    connector: int | None = Field(1, ge=0)  # 2.x evseId; None: any EVSE (1.6: connector 0)
    expiry_s: float = Field(30.0, gt=0)  # expiryDate this far ahead of now
    reservation_id: int | None = Field(None, ge=0)  # default: a new one
    expect: Literal["Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"] = "Accepted"


class CancelReservationArgs(_Args):
    reservation_id: int | None = Field(None, ge=0)  # default: the last one reserve_now sent
    expect: Literal["Accepted", "Rejected"] = "Accepted"


class ExpectReservationUpdateArgs(_Args):
    status: Literal["Expired", "Removed"] = "Expired"
    timeout_s: float = Field(10.0, gt=0)


async def reserve_now(ctx: StepContext, args: ReserveNowArgs) -> None:
    reservation_id = args.reservation_id if args.reservation_id is not None else next(_reservation_ids)
    expiry = iso_utc(ctx.clock.utcnow() + timedelta(seconds=args.expiry_s))
    status = await ctx.dut.reserve_now(args.connector, args.id_tag, expiry, reservation_id)
    reservations_sent(ctx).append(reservation_id)
    _expect(f"ReserveNow id {reservation_id} for {args.id_tag} on connector {args.connector}", status, args.expect)


async def cancel_reservation(ctx: StepContext, args: CancelReservationArgs) -> None:
    reservation_id = args.reservation_id
    if reservation_id is None:
        sent = reservations_sent(ctx)
        if not sent:
            raise RuntimeError("cancel_reservation without reservation_id needs a reserve_now step before it")
        reservation_id = sent[-1]
    _expect(f"CancelReservation id {reservation_id}", await ctx.dut.cancel_reservation(reservation_id), args.expect)


async def expect_reservation_update(ctx: StepContext, args: ExpectReservationUpdateArgs) -> None:
    """2.x (H01): ReservationStatusUpdate for the last reservation (1.6 has no such message)."""
    if ctx.ocpp_version == "1.6":
        ctx.notes.append("expect_reservation_update: OCPP 1.6 has no ReservationStatusUpdate; nothing to check")
        return
    sent = reservations_sent(ctx)
    if not sent:
        raise RuntimeError("expect_reservation_update needs a reserve_now step before it")
    try:
        event = await ctx.dut.wait_for("reservation_status", lambda e: e.data.get("reservation_id") == sent[-1],
                                       timeout_s=args.timeout_s, since_index=ctx.event_cursor)
    except DutError:
        raise StepFailed(f"expected ReservationStatusUpdate {args.status} for reservation {sent[-1]} within "
                         f"{args.timeout_s:g} s; none came") from None
    _expect(f"ReservationStatusUpdate of reservation {sent[-1]}", str(event.data.get("status")), args.status)


STEPS: dict[str, StepDef] = {
    "reserve_now": StepDef(ReserveNowArgs, reserve_now),
    "cancel_reservation": StepDef(CancelReservationArgs, cancel_reservation),
    "expect_reservation_update": StepDef(ExpectReservationUpdateArgs, expect_reservation_update),
}
