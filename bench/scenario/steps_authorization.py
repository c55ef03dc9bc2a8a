"""Steps of the AUTHORIZATION block: local authorization list, authorization cache, offline
periods, and the expectations authorization scenarios judge (a transaction started or not, the
connector status). They run unchanged on 1.6 and 2.x: the `Dut` speaks the charger's version,
and statuses are named in 1.6 words (on 2.x Preparing, Charging, SuspendedEV(SE) and Finishing
are the connector status Occupied).
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from bench.csms.dut import DutError
from bench.csms.events import DutEvent, EventKind
from bench.scenario.steps import StepContext, StepDef, StepFailed, _Args, _expect, _server

ConnectorStatus = Literal["Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
                          "Reserved", "Unavailable", "Faulted", "Occupied"]
OCCUPIED_16 = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
DISCONNECT_SETTLE_S = 0.5  # after the CSMS closed the connection, for the charger to notice it is offline


class SendLocalListArgs(_Args):
    version: int = Field(ge=0)
    update_type: Literal["Full", "Differential"] = "Full"
    entries: dict[str, str | None] = {}  # idTag -> status (None: remove, Differential only)
    expect: Literal["Accepted", "Failed", "VersionMismatch"] = "Accepted"


class GetLocalListVersionArgs(_Args):
    expect: int


class ClearCacheArgs(_Args):
    expect: Literal["Accepted", "Rejected"] = "Accepted"


class CsmsOfflineArgs(_Args):
    """Until `csms_online`, at most `max_seconds` (so a scenario that stops half way cannot
    leave the charger offline for the next one)."""

    max_seconds: float = Field(30.0, gt=0, le=120)
    disconnect_timeout_s: float = Field(10.0, gt=0)


class CsmsOnlineArgs(_Args):
    timeout_s: float = Field(30.0, gt=0)


class RequestRemoteStartArgs(_Args):
    """RemoteStartTransaction (2.x RequestStartTransaction) without waiting for the transaction
    (e.g. before the cable is plugged in)."""

    id_tag: str = "TAG-ACCEPTED"
    connector: int = Field(1, ge=1)
    expect: Literal["Accepted", "Rejected"] | None = "Accepted"  # None: either (judge what follows)


class ExpectTransactionArgs(_Args):
    id_tag: str | None = None
    connector: int = Field(1, ge=1)
    reservation: Literal["last", "none"] | None = None  # the last reservation_id sent by reserve_now, or none
    timeout_s: float = Field(15.0, gt=0)


class ExpectNoTransactionArgs(_Args):
    seconds: float = Field(4.0, gt=0, le=60)


class ExpectConnectorStatusArgs(_Args):
    status: ConnectorStatus
    connector: int = Field(1, ge=1)
    timeout_s: float = Field(10.0, gt=0)


# ---- helpers shared with steps_reservation ---------------------------------------------------

def reservations_sent(ctx: StepContext) -> list[int]:
    """The reservationIds this scenario sent (kept on the context: one list per scenario run)."""
    return vars(ctx).setdefault("reservations_sent", [])


def status_name(ctx: StepContext, status: str) -> str:
    """A status in 1.6 words as the DUT's version names it."""
    if ctx.ocpp_version != "1.6" and status in OCCUPIED_16:
        return "Occupied"
    return status


def _connector_status_event(ctx: StepContext, event: DutEvent, connector: int) -> bool:
    # 2.x reports the charging state as status events too; the connector status is StatusNotification's
    return (event.kind == EventKind.STATUS and event.connector_id == connector
            and event.data.get("source") != "chargingState")


def current_status(ctx: StepContext, connector: int) -> tuple[str | None, int]:
    """The last connector status the DUT reported, and the index after it."""
    for i in range(len(ctx.dut.events) - 1, -1, -1):
        event = ctx.dut.events[i]
        if _connector_status_event(ctx, event, connector):
            return event.data.get("status"), i + 1
    return None, 0


# ---- implementations --------------------------------------------------------------------------

async def send_local_list(ctx: StepContext, args: SendLocalListArgs) -> None:
    entries = list(args.entries.items())
    status = await ctx.dut.send_local_list(args.version, args.update_type, entries)
    _expect(f"SendLocalList {args.update_type} version {args.version} ({len(entries)} entries)", status, args.expect)


async def get_local_list_version(ctx: StepContext, args: GetLocalListVersionArgs) -> None:
    version = await ctx.dut.get_local_list_version()
    _expect("GetLocalListVersion", str(version), str(args.expect))


async def clear_cache(ctx: StepContext, args: ClearCacheArgs) -> None:
    _expect("ClearCache", await ctx.dut.clear_cache(), args.expect)


async def csms_offline(ctx: StepContext, args: CsmsOfflineArgs) -> None:
    if not ctx.dut.connected:
        raise StepFailed("the DUT is not connected: it cannot be taken offline")
    mark = ctx.dut.mark()
    await _server(ctx).take_offline(ctx.dut.cp_id, args.max_seconds)
    try:
        await ctx.dut.wait_for("disconnected", timeout_s=args.disconnect_timeout_s, since_index=mark)
    except DutError:
        raise RuntimeError(f"the CSMS closed the connection but it was still up after "
                           f"{args.disconnect_timeout_s:g} s") from None
    await ctx.clock.sleep(DISCONNECT_SETTLE_S)


async def csms_online(ctx: StepContext, args: CsmsOnlineArgs) -> None:
    mark = ctx.dut.mark()
    _server(ctx).back_online(ctx.dut.cp_id)
    try:
        # connected, not booted: a charger that did not reboot need not send BootNotification again
        await ctx.dut.wait_for("connected", timeout_s=args.timeout_s, since_index=mark)
    except DutError:
        raise StepFailed(f"the DUT did not reconnect within {args.timeout_s:g} s once the CSMS "
                         "was reachable again") from None


async def request_remote_start(ctx: StepContext, args: RequestRemoteStartArgs) -> None:
    status = await ctx.dut.remote_start(args.connector, args.id_tag)
    if args.expect is not None:
        _expect(f"RemoteStartTransaction {args.id_tag} on connector {args.connector}", status, args.expect)


async def expect_transaction(ctx: StepContext, args: ExpectTransactionArgs) -> None:
    try:
        event = await ctx.dut.wait_for("transaction_started", lambda e: e.connector_id == args.connector,
                                       timeout_s=args.timeout_s, since_index=ctx.event_cursor)
    except DutError:
        raise StepFailed(f"a compliant charger starts a transaction on connector {args.connector}"
                         f"{f' for {args.id_tag}' if args.id_tag else ''}: none within {args.timeout_s:g} s") from None
    ctx.event_cursor = max(ctx.event_cursor, ctx.dut.events.index(event) + 1)
    tx = event.data["transaction"]
    if args.id_tag is not None and tx.id_tag != args.id_tag:
        raise StepFailed(f"transaction {tx.transaction_id} started for idTag {tx.id_tag!r}, expected {args.id_tag!r}")
    if args.reservation == "none" and tx.reservation_id is not None:
        raise StepFailed(f"transaction {tx.transaction_id} names reservationId {tx.reservation_id}, "
                         "but no reservation applies")
    if args.reservation == "last":
        sent = reservations_sent(ctx)
        if not sent:
            raise RuntimeError("expect_transaction reservation: last, but no reserve_now step sent one")
        if tx.reservation_id != sent[-1]:
            raise StepFailed(f"transaction {tx.transaction_id} must name reservationId {sent[-1]} (the reservation "
                             f"it uses); it names {tx.reservation_id}")


async def expect_no_transaction(ctx: StepContext, args: ExpectNoTransactionArgs) -> None:
    since = ctx.event_cursor
    await ctx.clock.sleep(args.seconds)
    started = [e.data["transaction"] for e in ctx.dut.events[since:] if e.kind == EventKind.TRANSACTION_STARTED]
    if started:
        tx = started[0]
        raise StepFailed(f"no transaction may start, but transaction {tx.transaction_id} started on connector "
                         f"{tx.connector_id} for idTag {tx.id_tag!r}")


async def expect_connector_status(ctx: StepContext, args: ExpectConnectorStatusArgs) -> None:
    want = status_name(ctx, args.status)
    seen: list[str] = []
    deadline = ctx.now() + args.timeout_s
    status, index = current_status(ctx, args.connector)
    while status != want:
        if status is not None and (not seen or seen[-1] != status):
            seen.append(status)
        remaining = deadline - ctx.now()
        if remaining <= 0:
            raise StepFailed(f"expected connector {args.connector} status {want} within {args.timeout_s:g} s; "
                             f"got {', '.join(seen) or 'no status'}")
        try:
            event = await ctx.dut.wait_for("status", lambda e: _connector_status_event(ctx, e, args.connector),
                                           timeout_s=remaining, since_index=index)
        except DutError:
            continue
        status, index = event.data.get("status"), ctx.dut.events.index(event) + 1


STEPS: dict[str, StepDef] = {
    "send_local_list": StepDef(SendLocalListArgs, send_local_list),
    "get_local_list_version": StepDef(GetLocalListVersionArgs, get_local_list_version),
    "clear_cache": StepDef(ClearCacheArgs, clear_cache),
    "csms_offline": StepDef(CsmsOfflineArgs, csms_offline),
    "csms_online": StepDef(CsmsOnlineArgs, csms_online),
    "request_remote_start": StepDef(RequestRemoteStartArgs, request_remote_start),
    "expect_transaction": StepDef(ExpectTransactionArgs, expect_transaction),
    "expect_no_transaction": StepDef(ExpectNoTransactionArgs, expect_no_transaction),
    "expect_connector_status": StepDef(ExpectConnectorStatusArgs, expect_connector_status),
}

__all__ = ["STEPS", "current_status", "reservations_sent", "status_name"]
