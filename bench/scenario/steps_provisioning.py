"""Steps of the provisioning block: boot answers, reset, heartbeat, configuration.

Each step judges the DUT by the rules of the OCPP version it speaks:
- boot (1.6 4.2 / 2.0.1 B01-B03): while its boot is Pending or Rejected the charger re-sends
  BootNotification after the interval the CSMS gave and sends no other request (requested
  reports excepted); once Accepted it reports its connectors' status;
- reset (1.6 5.14: Soft, Hard; 2.0.1 B11/B12: OnIdle, Immediate): a running transaction is
  stopped with reason SoftReset/HardReset (2.x ImmediateReset) before the reboot, except 2.x
  OnIdle, which answers Scheduled and reboots once the transaction has ended;
- configuration (1.6 GetConfiguration/ChangeConfiguration; 2.x GetVariables/SetVariables of
  the variable a 1.6 key maps to, `bench.csms.v201.CONFIG_KEYS`, or "Component.Variable").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from bench.capabilities import V2X_CONTROLLERS, required_key_rule
from bench.csms.dut import DutError
from bench.csms.events import DutEvent, EventKind
from bench.csms.v201 import CONFIG_KEYS, variable_ref
from bench.scenario.steps import NotSupportedByDut, StepContext, StepDef, StepFailed, _Args

# What a charger may send while its boot is Pending/Rejected: the boot itself and the reports
# the CSMS asked for. Every other request is a violation (1.6 4.2, 2.0.1 B02.FR.02, B03.FR.03).
REQUESTED_OR_LINK = frozenset({EventKind.CONNECTED, EventKind.DISCONNECTED, EventKind.BOOT,
                               EventKind.NOTIFY_REPORT, EventKind.REPORT_CHARGING_PROFILES,
                               EventKind.NOTIFY_DISPLAY_MESSAGES})
# What the charger sends for each kind of event, to name it in a failure.
MESSAGE_NAMES = {EventKind.HEARTBEAT: "Heartbeat", EventKind.STATUS: "StatusNotification",
                 EventKind.AUTHORIZE: "Authorize", EventKind.TRANSACTION_STARTED: "StartTransaction/TransactionEvent",
                 EventKind.TRANSACTION_UPDATED: "TransactionEvent", EventKind.TRANSACTION_STOPPED:
                 "StopTransaction/TransactionEvent", EventKind.METER_VALUES: "MeterValues",
                 EventKind.SECURITY_EVENT: "SecurityEventNotification", EventKind.NOTIFY_EVENT: "NotifyEvent",
                 EventKind.DATA_TRANSFER: "DataTransfer"}
EARLY_TOLERANCE_S = 0.5  # a retry may reach us this much before the interval (our clock vs. its)
V16_RESET_REASONS = {"Soft": "SoftReset", "Hard": "HardReset"}
V2X_RESET_TYPES = {"Soft": "OnIdle", "Hard": "Immediate"}
V2X_RESET_REASON = "ImmediateReset"  # stoppedReason of a transaction ended by a reset (2.x) ...
V2X_RESET_TRIGGER = "ResetCommand"  # ... and the triggerReason of its Ended event (TC_B_22)
# 2.x BootNotification reason after a reset: Immediate -> RemoteReset; OnIdle that waited for a
# transaction -> ScheduledReset (TC_B_21, TC_B_22); OnIdle when idle: either.
# 1.6 ChangeConfiguration status -> the SetVariables attributeStatus a 2.x charger answers.
V2X_SET_STATUS = {"Accepted": ("Accepted",), "Rejected": ("Rejected",), "RebootRequired": ("RebootRequired",),
                  "NotSupported": ("UnknownComponent", "UnknownVariable")}
KNOWN_COMPONENTS = frozenset(ref[0] for ref in CONFIG_KEYS.values())  # standardized components every 2.x charger has


@dataclass
class _State:
    boot_from: int | None = None  # event index where the last reset began (expect_boot_sequence looks from there)
    notes: list[str] = field(default_factory=list)


def _state(ctx: StepContext) -> _State:
    return ctx.state("provisioning", _State)


def _name(event: DutEvent) -> str:
    return MESSAGE_NAMES.get(EventKind(event.kind), event.kind)


def _v16(ctx: StepContext) -> bool:
    return ctx.ocpp_version == "1.6"


# ---- boot ------------------------------------------------------------------------------------

class BootAnswerArgs(_Args):
    """The CSMS answers the next `times` BootNotifications with `status` and `interval_s`
    (default: the lab's heartbeat interval); the boots after them are Accepted as usual."""

    status: Literal["Accepted", "Pending", "Rejected"]
    interval_s: int | None = Field(None, ge=1, le=600)
    times: int = Field(1, ge=1, le=20)


async def set_boot_answer(ctx: StepContext, args: BootAnswerArgs) -> None:
    ctx.dut.set_boot_answer(args.status, args.interval_s, args.times)


class BootSequenceArgs(_Args):
    # from the reset until the first boot (default: the DUT's reboot time, dut.reboot_time_s); each
    # Pending/Rejected answer then gives the DUT its interval plus this long again to retry
    timeout_s: float | None = Field(None, gt=0)
    status_timeout_s: float = Field(10.0, gt=0)  # accepted -> the connector status


async def expect_boot_sequence(ctx: StepContext, args: BootSequenceArgs) -> None:
    """From the last `reset` on: each boot answered Pending/Rejected is followed, after its
    interval, by a new BootNotification and nothing else the CSMS did not ask for; the boot
    answered Accepted is followed by the status of connector 1."""
    dut = ctx.dut
    index = _state(ctx).boot_from if _state(ctx).boot_from is not None else ctx.event_cursor
    wait_s = args.timeout_s or ctx.capabilities.reboot_time_s
    try:
        boot = await dut.wait_for("boot", timeout_s=wait_s, since_index=index)
    except DutError:
        raise StepFailed(f"no BootNotification within {wait_s:g} s of the reset") from None
    while boot.data.get("status", "Accepted") != "Accepted":
        status, interval = boot.data["status"], float(boot.data["interval"])
        after = dut.events.index(boot) + 1
        # the interval is the least the DUT waits before it retries (1.6 section 4.2, 2.0.1 B02.FR.01 /
        # B03.FR.01): a later retry is compliant, so it is awaited for as long as a reboot may take
        latest = boot.t_mono_s + interval + wait_s
        try:
            retry = await dut.wait_for("boot", timeout_s=max(latest - ctx.now(), 0.1), since_index=after)
        except DutError:
            retry = None
        end = dut.events.index(retry) if retry is not None else len(dut.events)
        sent = [e for e in dut.events[after:end] if EventKind(e.kind) not in REQUESTED_OR_LINK]
        if sent:
            names = ", ".join(dict.fromkeys(_name(e) for e in sent))
            raise StepFailed(f"the DUT sent {names} {sent[0].t_mono_s - boot.t_mono_s:.1f} s after the CSMS answered "
                             f"its BootNotification {status}: nothing but BootNotification is allowed until Accepted")
        if retry is None:
            raise StepFailed(f"no BootNotification again within {interval + wait_s:g} s after the CSMS "
                             f"answered {status} with interval {interval:g} s")
        gap = retry.t_mono_s - boot.t_mono_s
        if status == "Rejected" and gap < interval - EARLY_TOLERANCE_S:
            raise StepFailed(f"BootNotification again {gap:.1f} s after Rejected: the charger must wait the "
                             f"interval ({interval:g} s) before it sends anything")
        ctx.notes.append(f"boot {status}: retried after {gap:.1f} s (interval {interval:g} s)")
        boot = retry
    try:
        await dut.wait_for("status", lambda e: e.connector_id == 1 and e.data.get("source", "StatusNotification")
                           == "StatusNotification", timeout_s=args.status_timeout_s,
                           since_index=dut.events.index(boot) + 1)  # 2.x: not a chargingState
    except DutError:
        raise StepFailed(f"no StatusNotification of connector 1 within {args.status_timeout_s:g} s after the "
                         "BootNotification was Accepted") from None
    ctx.event_cursor = max(ctx.event_cursor, dut.events.index(boot) + 1)


# ---- reset -------------------------------------------------------------------------------------

class ResetArgs(_Args):
    """Soft / Hard (2.x: OnIdle / Immediate). With a transaction on connector 1 it must be
    stopped for the reset; 2.x OnIdle instead answers Scheduled, keeps it for `idle_wait_s`,
    then (the bench stops it with RequestStopTransaction) reboots once idle."""

    kind: Literal["Soft", "Hard"] = "Hard"
    connector: int = Field(1, ge=1)
    boot_timeout_s: float | None = Field(None, gt=0)  # default: the DUT's reboot time (dut.reboot_time_s)
    stop_timeout_s: float = Field(10.0, gt=0)
    idle_wait_s: float = Field(3.0, ge=0, le=60)


async def _wait(ctx: StepContext, kind: str, what: str, timeout_s: float, since: int, predicate=None) -> DutEvent:
    try:
        return await ctx.dut.wait_for(kind, predicate, timeout_s=timeout_s, since_index=since)
    except DutError:
        raise StepFailed(f"{what} within {timeout_s:g} s") from None


def _end_transaction(ctx: StepContext, connector: int) -> None:
    ctx.mirror().end_transaction(connector)
    ctx.timeline.note_profiles(ctx.now())


async def reset(ctx: StepContext, args: ResetArgs) -> None:
    dut, v16 = ctx.dut, _v16(ctx)
    tx = dut.active_transaction(args.connector)
    mark = dut.mark()
    _state(ctx).boot_from = mark
    on_idle = not v16 and args.kind == "Soft"
    word = args.kind if v16 else V2X_RESET_TYPES[args.kind]
    # OCPP sets no time for a reboot: the vendor's figure (dut.reboot_time_s) unless the scenario says
    boot_s = args.boot_timeout_s or ctx.capabilities.reboot_time_s
    status = await dut.reset(args.kind)
    want = "Scheduled" if on_idle and tx is not None else "Accepted"
    if status != want:
        raise StepFailed(f"Reset {word}: DUT answered {status}, a compliant charger answers {want}")
    stopped = lambda e: tx is not None and e.data.get("transaction_id") == tx.transaction_id  # noqa: E731
    if tx is not None and on_idle:  # OnIdle: the transaction goes on, no reboot until it ends
        scheduled = ctx.now()
        await ctx.clock.sleep(args.idle_wait_s)
        early = [e for e in dut.events[mark:] if e.kind in (EventKind.BOOT, EventKind.DISCONNECTED)
                 or (e.kind == EventKind.TRANSACTION_STOPPED and stopped(e))]
        if early:
            raise StepFailed(f"Reset OnIdle with a transaction running: the DUT {_what_happened(early[0])} "
                             f"{early[0].t_mono_s - scheduled:.1f} s after answering Scheduled; "
                             "it must wait until the transaction has ended")
        stop_mark = dut.mark()
        answer = await dut.remote_stop(tx.transaction_id)
        if answer != "Accepted":
            raise StepFailed(f"RequestStopTransaction after Reset OnIdle: DUT answered {answer}")
        await _wait(ctx, "transaction_stopped", "the transaction did not end after RequestStopTransaction",
                    args.stop_timeout_s, stop_mark, stopped)
        _end_transaction(ctx, args.connector)
    elif tx is not None:
        reason = V16_RESET_REASONS[args.kind] if v16 else V2X_RESET_REASON
        # 1.6 Hard reset: the StopTransaction may follow the reboot (1.6 5.14); all others come first.
        after_boot_ok = v16 and args.kind == "Hard"
        if after_boot_ok:  # then it may take until stop_timeout_s after the boot
            await _wait(ctx, "boot", f"Reset {word}: no BootNotification (reboot)", boot_s, mark)
        end = await _wait(ctx, "transaction_stopped", f"Reset {word}: the running transaction {tx.transaction_id} "
                          f"was not stopped (reason {reason} expected)", args.stop_timeout_s, mark, stopped)
        _end_transaction(ctx, args.connector)
        if end.data.get("reason") != reason:
            raise StepFailed(f"Reset {word}: the transaction was stopped with reason {end.data.get('reason')}, "
                             f"a compliant charger gives {reason}")
        if not v16:
            ended = [e for e in dut.events[mark:] if e.kind == EventKind.TRANSACTION_UPDATED
                     and e.data.get("event_type") == "Ended" and stopped(e)]
            trigger = ended[-1].data.get("trigger_reason") if ended else None
            if trigger != V2X_RESET_TRIGGER:
                raise StepFailed(f"Reset {word}: TransactionEvent Ended with triggerReason {trigger}, "
                                 f"a compliant charger gives {V2X_RESET_TRIGGER}")
        boots = [e for e in dut.events[mark:dut.events.index(end)] if e.kind == EventKind.BOOT]
        if boots and not after_boot_ok:
            raise StepFailed(f"Reset {word}: the DUT rebooted before it stopped the transaction "
                             f"(the stop must come first)")
    boot = await _wait(ctx, "boot", f"Reset {word}: no BootNotification (reboot)", boot_s, mark)
    if not v16:
        want_reasons = (("ScheduledReset",) if on_idle and tx is not None else
                        ("RemoteReset", "ScheduledReset") if on_idle else ("RemoteReset",))
        if boot.data.get("reason") not in want_reasons:
            raise StepFailed(f"Reset {word}: BootNotification reason {boot.data.get('reason')}, a compliant "
                             f"charger gives {' or '.join(want_reasons)}")


def _what_happened(event: DutEvent) -> str:
    return {EventKind.BOOT: "rebooted", EventKind.DISCONNECTED: "disconnected"}.get(
        EventKind(event.kind), "ended the transaction")


# ---- heartbeat -------------------------------------------------------------------------------------

class HeartbeatIntervalArgs(_Args):
    seconds: float = Field(gt=0, le=300)  # the interval the CSMS set (boot answer or configuration)
    observe_s: float = Field(8.0, gt=0, le=600)
    tolerance_s: float | None = Field(None, gt=0)  # default: 20 % of the interval, at least 0.5 s
    first_within_s: float | None = Field(None, gt=0)  # default: one interval + tolerance


async def expect_heartbeat_interval(ctx: StepContext, args: HeartbeatIntervalArgs) -> None:
    """Heartbeats arrive every `seconds` (± tolerance) over `observe_s` (1.6 4.6, 2.0.1 G02)."""
    dut = ctx.dut
    tol = args.tolerance_s or max(0.5, 0.2 * args.seconds)
    first_within = args.first_within_s or args.seconds + tol
    want = f"a Heartbeat every {args.seconds:g} s (± {tol:g} s)"
    start, mark = ctx.now(), dut.mark()
    try:
        first = await dut.wait_for("heartbeat", timeout_s=first_within, since_index=mark)
    except DutError:
        try:  # say when it did come, if it did
            late = await dut.wait_for("heartbeat", timeout_s=args.observe_s, since_index=mark)
            came = f"the first came {late.t_mono_s - start:.1f} s after the step began"
        except DutError:
            came = f"none within {first_within + args.observe_s:g} s"
        raise StepFailed(f"expected {want}: {came}") from None
    await ctx.clock.sleep(max(first.t_mono_s + args.observe_s + tol - ctx.now(), 0))
    beats = [e for e in dut.events[dut.events.index(first):] if e.kind == EventKind.HEARTBEAT]
    gaps = [b.t_mono_s - a.t_mono_s for a, b in zip(beats, beats[1:])]
    shown = ", ".join(f"{g:.1f}" for g in gaps) or "none"
    needed = int(args.observe_s // args.seconds)
    if len(gaps) < needed:
        raise StepFailed(f"expected {want}: {len(beats)} Heartbeat(s) in {args.observe_s:g} s (gaps: {shown} s)")
    wrong = [g for g in gaps if abs(g - args.seconds) > tol]
    if wrong:
        raise StepFailed(f"expected {want}: gaps {shown} s")
    ctx.notes.append(f"heartbeat gaps {shown} s (interval {args.seconds:g} s)")


# ---- configuration -------------------------------------------------------------------------------

class GetConfigurationArgs(_Args):
    """Keys are 1.6 configuration keys or (2.x) "Component.Variable"; on 2.x each is read with
    GetVariables of the variable it maps to (`bench.csms.v201.CONFIG_KEYS`)."""

    known: list[str] = []  # must be reported, with a value
    values: dict[str, str] = {}  # must be reported with exactly this value
    unknown: list[str] = []  # must be reported unknown (2.x: UnknownComponent / UnknownVariable)
    readonly: list[str] = []  # 1.6: must be reported readonly (2.x: not visible in GetVariables)


def _unknown_status(ref: tuple[str, ...], known_components: set[str]) -> str:
    """What a 2.x charger answers for a variable it does not have (B06.FR.*)."""
    return "UnknownVariable" if ref[0] in known_components else "UnknownComponent"


async def get_configuration(ctx: StepContext, args: GetConfigurationArgs) -> None:
    keys = list(dict.fromkeys([*args.known, *args.values, *args.unknown, *args.readonly]))
    problems: list[str] = []
    missing_optional: list[str] = []  # optional keys the DUT does not have: nothing to judge about them
    if _v16(ctx):
        answer = await ctx.dut.get_configuration(keys)
        reported = {k["key"]: k for k in answer.get("configurationKey") or []}
        unknown = set(answer.get("unknownKey") or [])
        for key in keys:
            if key in args.unknown:
                if key not in unknown:
                    problems.append(f"{key} must be in unknownKey" + (" (it was reported as known)"
                                                                      if key in reported else ""))
            elif key not in reported:
                rule = required_key_rule(key, ctx.capabilities)
                if rule is None:
                    missing_optional.append(key)
                    continue
                problems.append(f"{key} not reported" + (" (it was in unknownKey)" if key in unknown else "")
                                + f": {rule}")
            elif key in args.values and reported[key].get("value") != args.values[key]:
                problems.append(f"{key}={reported[key].get('value')!r}, expected {args.values[key]!r}")
            elif key in args.readonly and not reported[key].get("readonly"):
                problems.append(f"{key} must be reported readonly")
        what = "GetConfiguration"
    else:
        refs = [_ref(key) for key in keys]
        results = await ctx.dut.get_variables(refs)
        known_components = set(KNOWN_COMPONENTS) | {r[0] for r, res in zip(refs, results)
                                                    if res.get("attributeStatus") == "Accepted"}
        for key, ref, result in zip(keys, refs, results):
            status = result.get("attributeStatus")
            if key in args.unknown:
                want = _unknown_status(ref, known_components)
                if status != want:
                    problems.append(f"{'.'.join(ref)}: attributeStatus {status}, expected {want}")
            elif status != "Accepted":
                if _optional_component(ctx, ref):
                    missing_optional.append(".".join(ref))
                    continue
                problems.append(f"{'.'.join(ref)}: attributeStatus {status}, expected Accepted")
            elif key in args.values and result.get("attributeValue") != args.values[key]:
                problems.append(f"{'.'.join(ref)}={result.get('attributeValue')!r}, expected {args.values[key]!r}")
        what = "GetVariables"
    if problems:
        raise StepFailed(f"{what}: " + "; ".join(problems))
    if missing_optional:
        raise NotSupportedByDut(f"optional configuration {', '.join(missing_optional)} not reported")


def _optional_component(ctx: StepContext, ref: tuple[str, ...]) -> bool:
    """A 2.x variable of the controller of an optional block the DUT does not support."""
    return any(ctrlr == ref[0] and not ctx.capabilities.supports(feature)
               for feature, ctrlr in V2X_CONTROLLERS.items())


def _ref(key: str) -> tuple[str, ...]:
    try:
        return variable_ref(key)
    except DutError as exc:  # a scenario that names a 1.6 key with no 2.x variable: a bench error
        raise ValueError(f"{exc}: add it to bench.csms.v201.CONFIG_KEYS or write Component.Variable") from None


class SetConfigurationArgs(_Args):
    """ChangeConfiguration (1.6) / SetVariables (2.x). `expect` in 1.6 words; on 2.x NotSupported
    means UnknownComponent or UnknownVariable (whichever applies) unless `expect_v2x` says."""

    key: str
    value: str
    expect: Literal["Accepted", "Rejected", "RebootRequired", "NotSupported"] = "Accepted"
    expect_v2x: Literal["Accepted", "Rejected", "RebootRequired", "UnknownComponent", "UnknownVariable",
                        "NotSupportedAttributeType"] | None = None
    read_back: bool = True  # once Accepted, the new value must be reported


async def set_configuration(ctx: StepContext, args: SetConfigurationArgs) -> None:
    if _v16(ctx):
        status: str | None = await ctx.dut.change_configuration(args.key, args.value)
        want: tuple[str, ...] = (args.expect,)
        what = f"ChangeConfiguration {args.key}={args.value}"
    else:
        ref = _ref(args.key)
        status = (await ctx.dut.set_variables([(ref, args.value)]))[0].get("attributeStatus")
        if args.expect_v2x is not None:
            want = (args.expect_v2x,)
        elif args.expect == "NotSupported":
            want = (_unknown_status(ref, set(KNOWN_COMPONENTS)),)
        else:
            want = V2X_SET_STATUS[args.expect]
        what = f"SetVariables {'.'.join(ref)}={args.value}"
    if status not in want:
        lacks = status in ("NotSupported", "UnknownComponent", "UnknownVariable")
        if lacks and (required_key_rule(args.key, ctx.capabilities) is None if _v16(ctx)
                      else _optional_component(ctx, _ref(args.key))):
            raise NotSupportedByDut(f"{what}: the DUT answered {status} for an optional setting")
        raise StepFailed(f"{what}: DUT answered {status}, a compliant charger answers {' or '.join(want)}")
    if status == "Accepted" and args.read_back:
        await get_configuration(ctx, GetConfigurationArgs(values={args.key: args.value}))


STEPS: dict[str, StepDef] = {
    "set_boot_answer": StepDef(BootAnswerArgs, set_boot_answer, reconnects=True),
    "expect_boot_sequence": StepDef(BootSequenceArgs, expect_boot_sequence, reconnects=True),
    "reset": StepDef(ResetArgs, reset, reconnects=True),
    "expect_heartbeat_interval": StepDef(HeartbeatIntervalArgs, expect_heartbeat_interval),
    "get_configuration": StepDef(GetConfigurationArgs, get_configuration),
    "set_configuration": StepDef(SetConfigurationArgs, set_configuration, reconnects=True),
}
