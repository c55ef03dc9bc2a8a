"""Display message steps (OCPP 2.0.1 / 2.1 functional block O; 1.6 has none).

The bench remembers, per scenario, the messages it set and cleared; GetDisplayMessages
is then judged against that record: every message the DUT accepted and the bench did
not clear must come back in NotifyDisplayMessages with the content, format, priority
(and state, language, transaction) it was set with; a cleared one must not.
Messages the bench did not touch in this scenario (left by an earlier one) are ignored.

- `set_display_message` (O01, O02, O06): SetDisplayMessage; `format: unsupported` picks a
  format the DUT does not list in DisplayMessageCtrlr.SupportedFormats and expects
  NotSupportedMessageFormat; `transaction: unknown` expects UnknownTransaction.
- `get_display_messages` (O03, O04): by ids, priority, state or all.
- `clear_display_message` (O05): Accepted for a message it holds, Unknown otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from bench.clock import iso_utc
from bench.scenario.steps import StepContext, StepDef, StepFailed, _Args, _expect, wrong_transaction_id

FORMATS = ("ASCII", "UTF8", "HTML", "URI")
SetStatus = Literal["Accepted", "NotSupportedMessageFormat", "NotSupportedPriority", "NotSupportedState",
                    "UnknownTransaction", "Rejected"]


class SetDisplayMessageArgs(_Args):
    id: int = Field(ge=0)
    content: str = "evbench: charging message"
    format: Literal["ASCII", "UTF8", "HTML", "URI", "unsupported"] = "UTF8"
    priority: Literal["AlwaysFront", "InFront", "NormalCycle"] = "NormalCycle"
    language: str | None = None
    state: Literal["Charging", "Faulted", "Idle"] | None = None
    transaction: Literal["none", "active", "unknown"] = "none"
    start_offset_s: float | None = None  # startDateTime = now + this
    end_offset_s: float | None = None  # endDateTime = now + this
    expect: SetStatus | None = None  # default: Accepted, or what `format: unsupported` / `transaction: unknown` ask


class GetDisplayMessagesArgs(_Args):
    """Without `ids`, `priority`, `state`: all messages. `expect`: the status (default Accepted when
    a message the bench set matches the filter, else not judged); `expect_ids` (default: the
    matching messages the bench set and did not clear) must come back with their content."""

    ids: list[int] | None = None
    priority: Literal["AlwaysFront", "InFront", "NormalCycle"] | None = None
    state: Literal["Charging", "Faulted", "Idle"] | None = None
    expect: Literal["Accepted", "Unknown"] | None = None
    expect_ids: list[int] | None = None


class ClearDisplayMessageArgs(_Args):
    id: int = Field(ge=0)
    expect: Literal["Accepted", "Unknown"] | None = None  # default: Accepted if the bench set it (and did not clear it)


@dataclass
class DisplayRecord:
    """What the bench set and cleared in this scenario."""

    held: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> MessageInfo the DUT accepted
    cleared: set[int] = field(default_factory=set)


def record_of(ctx: StepContext) -> DisplayRecord:
    # One StepContext per scenario run: the record lives (and dies) with it.
    return ctx.state("display_messages", DisplayRecord)


def _need_v2x(ctx: StepContext) -> None:
    if ctx.ocpp_version == "1.6":
        raise RuntimeError("display messages exist only in OCPP 2.0.1 and 2.1 (set ocpp_versions in the scenario)")


async def _unsupported_format(ctx: StepContext) -> str | None:
    result = (await ctx.dut.get_variables([("DisplayMessageCtrlr", "SupportedFormats")]))[0]
    supported = {f.strip() for f in str(result.get("attributeValue", "")).split(",") if f.strip()}
    return next((f for f in ("HTML", "URI", "ASCII", "UTF8") if f not in supported), None)


async def set_display_message(ctx: StepContext, args: SetDisplayMessageArgs) -> None:
    _need_v2x(ctx)
    expect = args.expect or ("NotSupportedMessageFormat" if args.format == "unsupported"
                             else "UnknownTransaction" if args.transaction == "unknown" else "Accepted")
    fmt: str | None = args.format
    if fmt == "unsupported":
        fmt = await _unsupported_format(ctx)
        if fmt is None:
            ctx.notes.append("set_display_message: the DUT supports every message format; nothing to reject")
            return
    content: dict[str, Any] = {"format": fmt, "content": args.content}
    if args.language:
        content["language"] = args.language
    message: dict[str, Any] = {"id": args.id, "priority": args.priority, "message": content}
    if args.state:
        message["state"] = args.state
    now = ctx.clock.utcnow()
    if args.start_offset_s is not None:
        message["startDateTime"] = iso_utc(now + timedelta(seconds=args.start_offset_s))
    if args.end_offset_s is not None:
        message["endDateTime"] = iso_utc(now + timedelta(seconds=args.end_offset_s))
    if args.transaction != "none":
        tx = ctx.dut.active_transaction(1)
        if args.transaction == "active" and tx is None:
            raise StepFailed("set_display_message: no active transaction on EVSE 1 to attach the message to")
        message["transactionId"] = str(tx.transaction_id if args.transaction == "active" and tx
                                       else wrong_transaction_id(str(tx.transaction_id) if tx else ""))
    status = await ctx.dut.set_display_message(message)
    _expect(f"SetDisplayMessage id {args.id} ({args.priority}, {fmt})", status, expect)
    if status == "Accepted":
        record = record_of(ctx)
        record.held[args.id] = message
        record.cleared.discard(args.id)


def _matches(message: dict[str, Any], args: GetDisplayMessagesArgs) -> bool:
    return ((not args.ids or message["id"] in args.ids) and args.priority in (None, message["priority"])
            and args.state in (None, message.get("state")))


def _differences(sent: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Fields of the message the bench set that the DUT reports otherwise."""
    out = []
    for key in ("priority", "state", "transactionId"):
        if key in sent and got.get(key) != sent[key]:
            out.append(f"{key} {got.get(key)!r} (set {sent[key]!r})")
    for key in ("format", "content", "language"):
        if key in sent["message"] and (got.get("message") or {}).get(key) != sent["message"][key]:
            out.append(f"message.{key} {(got.get('message') or {}).get(key)!r} (set {sent['message'][key]!r})")
    return out


async def get_display_messages(ctx: StepContext, args: GetDisplayMessagesArgs) -> None:
    _need_v2x(ctx)
    record = record_of(ctx)
    wanted = (list(args.expect_ids) if args.expect_ids is not None
              else sorted(i for i, m in record.held.items() if _matches(m, args)))
    expect = args.expect or ("Accepted" if wanted else None)
    status, messages = await ctx.dut.get_display_messages(args.ids, args.priority, args.state)
    what = "GetDisplayMessages" + "".join(f" {k}={v}" for k, v in (("ids", args.ids), ("priority", args.priority),
                                                                    ("state", args.state)) if v)
    if expect is not None and status != expect:
        detail = f" (the bench set and did not clear {wanted})" if wanted and status == "Unknown" else ""
        raise StepFailed(f"{what}: DUT answered {status}, a compliant charger answers {expect}{detail}")
    by_id: dict[Any, Any] = {m.get("id"): m for m in messages}
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise StepFailed(f"{what}: message(s) {missing} accepted by the DUT are not in its NotifyDisplayMessages "
                         f"(it reported ids {sorted(by_id)})")
    cleared = sorted(set(by_id) & record.cleared)
    if cleared:
        raise StepFailed(f"{what}: the DUT still reports message(s) {cleared} after ClearDisplayMessage Accepted")
    outside = sorted(i for i, m in by_id.items() if not _matches(m, args))
    if outside:
        raise StepFailed(f"{what}: the DUT reported message(s) {outside} that do not match the request")
    for i in wanted:
        if i in record.held and (wrong := _differences(record.held[i], by_id[i])):
            raise StepFailed(f"{what}: message {i} reported with {', '.join(wrong)}")


async def clear_display_message(ctx: StepContext, args: ClearDisplayMessageArgs) -> None:
    _need_v2x(ctx)
    record = record_of(ctx)
    expect = args.expect or ("Accepted" if args.id in record.held else "Unknown")
    status = await ctx.dut.clear_display_message(args.id)
    _expect(f"ClearDisplayMessage id {args.id}", status, expect)
    if status == "Accepted":
        record.held.pop(args.id, None)
        record.cleared.add(args.id)


STEPS: dict[str, StepDef] = {
    "set_display_message": StepDef(SetDisplayMessageArgs, set_display_message),
    "get_display_messages": StepDef(GetDisplayMessagesArgs, get_display_messages),
    "clear_display_message": StepDef(ClearDisplayMessageArgs, clear_display_message),
}
