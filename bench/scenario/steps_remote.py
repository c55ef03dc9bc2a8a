"""Remote control and availability steps (OCPP 1.6 core/remote trigger, 2.0.1/2.1 blocks F and G).

Each command step judges the DUT's answer and, where a compliant charger must do something after
it, that too: a TriggerMessage that was Accepted is followed by the requested message, an unlock
during a 1.6 transaction ends the transaction first, a Scheduled Inoperative change leaves the
running transaction alone. Answers differ between versions for the same situation (an unlock
during a transaction: 1.6 Unlocked, 2.x OngoingAuthorizedTransaction), so `expect` takes one
answer, a list of acceptable answers, or a mapping OCPP version -> answer(s); 2.1 falls back to
the 2.0.1 entry.

Words are the Dut's: a "connector" is the 1.6 connector or the 2.x EVSE; connector 0 is the
whole charger (1.6 connectorId 0; 2.x no evse).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from bench.csms.dut import DutError, InvalidRequest
from bench.csms.events import DutEvent, EventKind
from bench.scenario.steps import StepContext, StepDef, StepFailed, _Args, expect_answer, wrong_transaction_id

log = logging.getLogger(__name__)

Version = Literal["1.6", "2.0.1", "2.1"]
Answers = str | list[str]
Expect = str | list[str] | dict[Version, Answers]

# Every message a TriggerMessage may ask for (1.6 MessageTrigger, 2.0.1 MessageTriggerEnumType).
TriggerName = Literal[
    "BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues",
    "StatusNotification", "LogStatusNotification", "SignChargingStationCertificate", "SignV2GCertificate",
    "SignCombinedCertificate", "PublishFirmwareStatusNotification", "TransactionEvent",
]
CONNECTOR_STATUS_SOURCES = (None, "StatusNotification")  # 2.x status events also carry chargingState


def _is_trigger_sample(event: DutEvent) -> bool:
    return any(s.context == "Trigger" for s in event.data.get("samples") or [])


# The message a compliant charger sends after an Accepted TriggerMessage: (event kind, predicate).
# None: the bench's CSMS has no handler for it, so only the answer is judged.
TRIGGERED: dict[str, tuple[EventKind, Callable[[DutEvent], bool] | None] | None] = {
    "BootNotification": (EventKind.BOOT, None),
    "Heartbeat": (EventKind.HEARTBEAT, None),
    "StatusNotification": (EventKind.STATUS, lambda e: e.data.get("source") in CONNECTOR_STATUS_SOURCES),
    "MeterValues": (EventKind.METER_VALUES, _is_trigger_sample),  # readingContext Trigger, not a periodic sample
    "DiagnosticsStatusNotification": (EventKind.DIAGNOSTICS_STATUS, None),
    "LogStatusNotification": (EventKind.LOG_STATUS, None),
    "FirmwareStatusNotification": (EventKind.FIRMWARE_STATUS, None),
    "TransactionEvent": (EventKind.TRANSACTION_UPDATED, lambda e: e.data.get("trigger_reason") == "Trigger"),
    "SignChargingStationCertificate": None,
    "SignV2GCertificate": None,
    "SignCombinedCertificate": None,
    "PublishFirmwareStatusNotification": None,
}
TRIGGER_AS_2X = {"DiagnosticsStatusNotification": "LogStatusNotification"}  # what a 2.x charger sends instead


def wanted(ctx: StepContext, expect: Expect) -> tuple[str, ...]:
    """The answers a compliant charger may give, for the DUT's OCPP version."""
    if isinstance(expect, dict):
        version = ctx.ocpp_version
        key = version if version in expect else "2.0.1" if version == "2.1" and "2.0.1" in expect else None
        if key is None:
            raise RuntimeError(f"the scenario gives no expected answer for OCPP {version} ({sorted(expect)})")
        expect = expect[key]
    return (expect,) if isinstance(expect, str) else tuple(expect)


def check_answer(what: str, got: str, allowed: tuple[str, ...]) -> None:
    expect_answer(what, got, allowed)


def _on(connector: int | None) -> Callable[[DutEvent], bool]:
    """Events of `connector` (any if None; an event without a connector matches every one)."""
    return lambda e: connector is None or e.connector_id in (None, connector)


async def _next(ctx: StepContext, kind: str, predicate: Callable[[DutEvent], bool] | None, timeout_s: float,
                since: int) -> DutEvent | None:
    try:
        return await ctx.dut.wait_for(kind, predicate, timeout_s=timeout_s, since_index=since)
    except DutError:
        return None


def _where(connector: int | None) -> str:
    return "the charger" if connector == 0 else f"connector {connector}" if connector is not None else "any connector"


# ---- arguments ---------------------------------------------------------------------------------------

class RemoteStartRequestArgs(_Args):
    """RemoteStartTransaction (2.x RequestStartTransaction) judged by its answer only, so the EV may
    plug in afterwards (remote first). `connector: null` sends no connectorId/evseId (the charger
    picks one or rejects); 0 is not a valid connector for it (1.6 6.33: connectorId > 0).
    With `starts_within_s`, an Accepted start must also start a transaction within that time."""

    id_tag: str = "TAG-ACCEPTED"
    connector: int | None = Field(1, ge=0)
    expect: Expect = "Accepted"
    starts_within_s: float | None = Field(None, gt=0)


class RemoteStopUnknownArgs(_Args):
    expect: Expect = "Rejected"


class UnlockArgs(_Args):
    """UnlockConnector. With a transaction running on the connector, the answer decides what must
    become of it within `within_s`: Unlocked -- it ends first (1.6 5.18; `stop_reason`, e.g.
    UnlockCommand, may be required); any other answer (2.x OngoingAuthorizedTransaction,
    F05.FR.02) -- it keeps running."""

    connector: int = Field(1, ge=0)
    expect: Expect = "Unlocked"
    stop_reason: Expect | None = None  # a version missing from a mapping: any reason
    within_s: float = Field(5.0, gt=0)


class TriggerArgs(_Args):
    """TriggerMessage; if Accepted (and the bench's CSMS knows the message), the message must follow
    within `within_s`. `connector` 0 or null asks for the whole charger."""

    message: TriggerName
    connector: int | None = Field(None, ge=0)
    expect: Expect = "Accepted"
    within_s: float = Field(5.0, gt=0)


class ChangeAvailabilityArgs(_Args):
    connector: int = Field(0, ge=0)
    kind: Literal["Operative", "Inoperative"]
    expect: Expect = "Accepted"


class ExpectAvailabilityArgs(_Args):
    """The connector status the charger reports (StatusNotification) is `status` now or becomes it
    within `within_s`. On 2.x connector 0 means every EVSE (there is no station status)."""

    connector: int = Field(1, ge=0)
    status: str
    within_s: float = Field(5.0, gt=0)


class ExpectTransactionArgs(_Args):
    """For `for_s`: `running` -- the transaction on the connector keeps running and neither the
    connector nor the charger (1.6 connector 0) reports Unavailable; `none` -- no transaction starts
    on the connector."""

    connector: int = Field(1, ge=1)
    state: Literal["running", "none"]
    for_s: float = Field(gt=0)


# ---- implementations ------------------------------------------------------------------------------

async def remote_start_request(ctx: StepContext, args: RemoteStartRequestArgs) -> None:
    since = ctx.dut.mark()
    name = "RemoteStartTransaction" if ctx.ocpp_version == "1.6" else "RequestStartTransaction"
    try:
        status = await ctx.dut.remote_start(args.connector, args.id_tag)  # None: omitted
    except InvalidRequest:
        if args.connector != 0:
            raise
        # 2.1's schema has evseId >= 1: connector 0 cannot even be asked for, so nothing to judge.
        ctx.notes.append(f"{name} for connector 0 not sent: OCPP {ctx.ocpp_version}'s schema forbids it")
        log.info("%s", ctx.notes[-1])
        return
    check_answer(f"{name} on {_where(args.connector)}", status, wanted(ctx, args.expect))
    if status == "Accepted" and args.starts_within_s is not None:
        if await _next(ctx, EventKind.TRANSACTION_STARTED, _on(args.connector or None), args.starts_within_s,
                       since) is None:
            raise StepFailed(f"{name} was Accepted but no transaction started within {args.starts_within_s:g} s")


def _unknown_transaction_id(ctx: StepContext) -> int | str:
    if ctx.ocpp_version != "1.6":
        return "bench-unknown-transaction"
    issued = [t for t in ctx.dut.transactions if isinstance(t, int)]
    return wrong_transaction_id(max(issued) if issued else None)


async def remote_stop_unknown(ctx: StepContext, args: RemoteStopUnknownArgs) -> None:
    """RemoteStopTransaction of a transaction id that is not running (TC_F_09, 1.6 5.12)."""
    tx_id = _unknown_transaction_id(ctx)
    status = await ctx.dut.remote_stop(tx_id)
    check_answer(f"RemoteStopTransaction of unknown transactionId {tx_id!r}", status, wanted(ctx, args.expect))


async def unlock_connector(ctx: StepContext, args: UnlockArgs) -> None:
    tx = ctx.dut.active_transaction(args.connector) if args.connector else None
    since = ctx.dut.mark()
    status = await ctx.dut.unlock_connector(args.connector)
    check_answer(f"UnlockConnector {_where(args.connector)}", status, wanted(ctx, args.expect))
    if tx is None:
        return
    stopped = await _next(ctx, EventKind.TRANSACTION_STOPPED,
                          lambda e: e.data.get("transaction_id") == tx.transaction_id, args.within_s, since)
    if status == "Unlocked":
        if stopped is None:
            raise StepFailed(f"UnlockConnector answered Unlocked during transaction {tx.transaction_id!r}: the "
                             f"charger must end the transaction first, but it still ran {args.within_s:g} s later")
        reasons = _optional(ctx, args.stop_reason)
        if reasons and stopped.data.get("reason") not in reasons:
            raise StepFailed(f"the transaction ended by UnlockConnector has reason {stopped.data.get('reason')}, "
                             f"a compliant charger gives {' or '.join(reasons)}")
    elif stopped is not None:
        raise StepFailed(f"UnlockConnector answered {status} but transaction {tx.transaction_id!r} ended "
                         f"(reason {stopped.data.get('reason')})")


def _optional(ctx: StepContext, expect: Expect | None) -> tuple[str, ...]:
    """`wanted`, but a version the mapping leaves out (or no value) asks for nothing."""
    if expect is None or (isinstance(expect, dict) and ctx.ocpp_version not in expect
                          and not (ctx.ocpp_version == "2.1" and "2.0.1" in expect)):
        return ()
    return wanted(ctx, expect)


async def trigger_message(ctx: StepContext, args: TriggerArgs) -> None:
    since = ctx.dut.mark()
    status = await ctx.dut.trigger_message(args.message, args.connector)
    check_answer(f"TriggerMessage {args.message} for {_where(args.connector)}", status, wanted(ctx, args.expect))
    follow = TRIGGERED[args.message]
    if status != "Accepted" or follow is None:
        return
    kind, predicate = follow
    if ctx.ocpp_version != "1.6" and args.message in TRIGGER_AS_2X:
        kind, predicate = TRIGGERED[TRIGGER_AS_2X[args.message]]  # type: ignore[misc]  # not None for these
    on_connector = _on(args.connector or None)
    event = await _next(ctx, kind, lambda e: on_connector(e) and (predicate is None or predicate(e)),
                        args.within_s, since)
    if event is None:
        raise StepFailed(f"TriggerMessage {args.message} was Accepted but no {kind.value} message "
                         f"{'for ' + _where(args.connector) + ' ' if args.connector else ''}came within "
                         f"{args.within_s:g} s")


async def change_availability(ctx: StepContext, args: ChangeAvailabilityArgs) -> None:
    status = await ctx.dut.change_availability(args.connector, args.kind)
    check_answer(f"ChangeAvailability {args.kind} on {_where(args.connector)}", status, wanted(ctx, args.expect))


def _reported_status(ctx: StepContext, connector: int) -> str | None:
    """The last connector status the charger reported in a StatusNotification."""
    for event in reversed(ctx.dut.events):
        if (event.kind == EventKind.STATUS and event.connector_id == connector
                and event.data.get("source") in CONNECTOR_STATUS_SOURCES):
            return event.data.get("status")
    return None


async def expect_availability(ctx: StepContext, args: ExpectAvailabilityArgs) -> None:
    connectors = ([args.connector] if args.connector or ctx.ocpp_version == "1.6"
                  else list(range(1, ctx.position.dut.connectors + 1)))
    deadline = ctx.now() + args.within_s
    while True:
        got = {c: _reported_status(ctx, c) for c in connectors}
        if all(status == args.status for status in got.values()):
            return
        remaining = deadline - ctx.now()
        since = ctx.dut.mark()
        if remaining <= 0 or await _next(ctx, EventKind.STATUS, None, remaining, since) is None:
            wrong = ", ".join(f"connector {c}: {got[c] or 'none reported'}" for c in connectors
                              if got[c] != args.status)
            raise StepFailed(f"expected StatusNotification {args.status} on {_where(args.connector)} within "
                             f"{args.within_s:g} s; last reported {wrong}")


async def expect_transaction(ctx: StepContext, args: ExpectTransactionArgs) -> None:
    since = ctx.dut.mark()
    tx = ctx.dut.active_transaction(args.connector)
    if args.state == "running" and tx is None:
        raise StepFailed(f"no transaction runs on connector {args.connector}")
    if args.state == "none" and tx is not None:
        raise StepFailed(f"transaction {tx.transaction_id!r} runs on connector {args.connector}; none should")
    await ctx.clock.sleep(args.for_s)
    later = ctx.dut.events[since:]
    if args.state == "none":
        started = [e for e in later if e.kind == EventKind.TRANSACTION_STARTED and e.connector_id == args.connector]
        if started:
            raise StepFailed(f"a transaction started on connector {args.connector} within {args.for_s:g} s; "
                             "a compliant charger starts none")
        return
    assert tx is not None
    for event in later:
        if event.kind == EventKind.TRANSACTION_STOPPED and event.data.get("transaction_id") == tx.transaction_id:
            raise StepFailed(f"transaction {tx.transaction_id!r} ended (reason {event.data.get('reason')}) "
                             f"within {args.for_s:g} s; it must keep running")
        if (event.kind == EventKind.STATUS and event.connector_id in (args.connector, 0)
                and event.data.get("status") == "Unavailable"):
            raise StepFailed(f"{_where(event.connector_id)} reported Unavailable while transaction "
                             f"{tx.transaction_id!r} was running")


STEPS: dict[str, StepDef] = {
    "remote_start_request": StepDef(RemoteStartRequestArgs, remote_start_request),
    "remote_stop_unknown": StepDef(RemoteStopUnknownArgs, remote_stop_unknown),
    "unlock_connector": StepDef(UnlockArgs, unlock_connector),
    "trigger_message": StepDef(TriggerArgs, trigger_message),
    "change_availability": StepDef(ChangeAvailabilityArgs, change_availability),
    "expect_availability": StepDef(ExpectAvailabilityArgs, expect_availability),
    "expect_transaction_state": StepDef(ExpectTransactionArgs, expect_transaction),
}
