"""Steps of the transactions and metering, offline and EV-fault blocks.

Every step means the same on OCPP 1.6, 2.0.1 and 2.1: meter settings are named by
their 1.6 configuration keys (the 2.x adapter maps them to SampledDataCtrlr /
AlignedDataCtrlr variables), meter values are read from the transaction they
belong to (1.6 MeterValues with its transactionId, 2.x TransactionEvent
Updated), a status is the 1.6 StatusNotification or the 2.x connector status /
chargingState. Protocol checks raise `StepFailed`; the physical judgements
(energy, current) are checks in `bench/checks/metering.py`.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from bench.csms.dut import DutError
from bench.csms.events import DutEvent, EventKind, MeterSample, Transaction
from bench.scenario.steps import (NoArgs, StepContext, StepDef, StepFailed, _Args, _reconnected, _server,
                                  _wait_event)
from instruments.iec61851 import CpState

ENERGY = "Energy.Active.Import.Register"
SAMPLED_CONTEXTS = ("Sample.Periodic", "Sample.Clock")  # not the Begin value a stop repeats
OFFLINE_UNTIL = "offline_until"  # block_state: when the last offline window ends (run clock)
NO_ERROR = "NoError"  # 1.6 ChargePointErrorCode of a healthy connector


# ---- arguments ---------------------------------------------------------------------------

class SetMeteringArgs(_Args):
    """Meter settings by their 1.6 keys (2.x: TxUpdatedInterval/Measurands, AlignedDataCtrlr)."""

    sample_interval_s: int | None = Field(None, ge=0)
    measurands: str | None = None
    aligned_interval_s: int | None = Field(None, ge=0)
    aligned_measurands: str | None = None


class SampledValuesArgs(_Args):
    interval_s: float = Field(gt=0)
    measurands: list[str] = Field(default_factory=lambda: [ENERGY])
    tolerance_s: float = Field(1.0, ge=0)
    min_samples: int = Field(3, ge=2)
    connector: int = Field(1, ge=1)


class AlignedValuesArgs(_Args):
    interval_s: float = Field(gt=0)
    measurands: list[str] = Field(default_factory=lambda: [ENERGY])
    tolerance_s: float = Field(0.5, ge=0)  # from the aligned boundary
    min_samples: int = Field(2, ge=1)
    connector: int = Field(1, ge=1)


class StopReasonArgs(_Args):
    reason: str  # 1.6 Reason / 2.x ReasonEnumType: the same words (EVDisconnected, Remote, Local, ...)
    timeout_s: float = Field(10.0, gt=0)


class OfflineArgs(_Args):
    seconds: float = Field(gt=0, le=120)  # the CSMS refuses the charger this long
    disconnect_timeout_s: float = Field(5.0, gt=0)


class ReplayArgs(_Args):
    """After an offline window: the charger reconnects and sends what it queued, in order."""

    interval_s: float | None = Field(None, gt=0)  # sample interval (default: the position's)
    tolerance_s: float = Field(1.0, ge=0)
    # how long after the offline window the DUT may take to be back (default: dut.reconnect_time_s)
    reconnect_timeout_s: float | None = Field(None, gt=0)
    stopped_offline: bool = False  # the transaction ended while offline: wait for its stop
    timeout_s: float = Field(10.0, gt=0)  # for the replayed messages after the reconnect
    connector: int = Field(1, ge=1)


class EvFaultArgs(_Args):
    kind: Literal["SHORT", "DIODE"]  # CP shorted to PE, the EV's diode missing
    seconds: float = Field(4.0, gt=0, le=60)  # how long the fault lasts
    faulted_within_s: float = Field(3.0, gt=0)
    connector: int = Field(1, ge=1)


class FaultedArgs(_Args):
    within_s: float = Field(5.0, gt=0)
    connector: int = Field(1, ge=1)


# ---- helpers -----------------------------------------------------------------------------

def _latest_transaction(ctx: StepContext, connector: int) -> Transaction:
    mine = [t for t in ctx.dut.transactions.values() if t.connector_id == connector]
    if not mine:
        raise StepFailed(f"no transaction on connector {connector}")
    return max(mine, key=lambda t: t.t_start_mono_s)


def _by_timestamp(samples: Iterable[MeterSample], context: str) -> dict[datetime, list[MeterSample]]:
    """Sampled values of one context grouped by their MeterValue timestamp, oldest first."""
    groups: dict[datetime, list[MeterSample]] = {}
    for s in samples:
        if s.context == context and s.timestamp is not None:
            groups.setdefault(s.timestamp, []).append(s)
    return dict(sorted(groups.items()))


def _missing_measurands(groups: dict[datetime, list[MeterSample]], wanted: list[str]) -> list[str]:
    out = []
    for ts, values in groups.items():
        have = {v.measurand for v in values}
        lost = [m for m in wanted if m not in have]
        if lost:
            out.append(f"{ts:%H:%M:%S}: {', '.join(lost)}")
    return out


def _spacing_errors(times: list[datetime], interval_s: float, tolerance_s: float) -> list[str]:
    out = []
    for a, b in zip(times, times[1:]):
        gap = (b - a).total_seconds()
        if abs(gap - interval_s) > tolerance_s:
            out.append(f"{gap:.1f} s after {a:%H:%M:%S}")
    return out


def _boundary_offset_s(ts: datetime, interval_s: float) -> float:
    """Distance of `ts` from the nearest boundary of `interval_s` aligned to midnight UTC."""
    midnight = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = math.fmod((ts - midnight).total_seconds(), interval_s)
    return min(offset, interval_s - offset)


def _status_events(ctx: StepContext, connector: int, since: int) -> list[DutEvent]:
    return [e for e in ctx.dut.events[since:] if e.kind == EventKind.STATUS and e.connector_id == connector]


def _describe(events: list[DutEvent]) -> str:
    return ", ".join(f"{e.data.get('status')}/{e.data.get('error_code') or '-'}" for e in events[-6:]) or "none"


# ---- metering ----------------------------------------------------------------------------

async def set_metering(ctx: StepContext, args: SetMeteringArgs) -> None:
    settings = {"MeterValueSampleInterval": args.sample_interval_s, "MeterValuesSampledData": args.measurands,
                "ClockAlignedDataInterval": args.aligned_interval_s, "MeterValuesAlignedData": args.aligned_measurands}
    for key, value in settings.items():
        if value is None:
            continue
        status = await ctx.dut.change_configuration(key, str(value))
        if status != "Accepted":
            raise StepFailed(f"setting {key}={value}: the DUT answered {status}, a compliant charger accepts it")


async def restore_metering(ctx: StepContext, args: NoArgs) -> None:
    """The session's meter settings again (sample interval of the position, no clock-aligned data)."""
    await set_metering(ctx, SetMeteringArgs(sample_interval_s=int(ctx.position.dut.meter_sample_interval_s),
                                            measurands=ctx.capabilities.sampled_data(), aligned_interval_s=0))


async def expect_sampled_meter_values(ctx: StepContext, args: SampledValuesArgs) -> None:
    """The periodic samples of the connector's latest transaction: every `interval_s` (within the
    tolerance) and each with the configured measurands (TC_010 / TC_E_..., J02)."""
    tx = _latest_transaction(ctx, args.connector)
    groups = _by_timestamp(tx.samples, "Sample.Periodic")
    if len(groups) < args.min_samples:
        raise StepFailed(f"transaction {tx.transaction_id}: {len(groups)} periodic MeterValues, expected at least "
                         f"{args.min_samples} at {args.interval_s:g} s")
    bad = _spacing_errors(list(groups), args.interval_s, args.tolerance_s)
    if bad:
        raise StepFailed(f"periodic MeterValues not every {args.interval_s:g} +- {args.tolerance_s:g} s: "
                         f"{'; '.join(bad[:4])}")
    lost = _missing_measurands(groups, args.measurands)
    if lost:
        raise StepFailed(f"periodic MeterValues without configured measurands: {'; '.join(lost[:4])}")


async def expect_clock_aligned_meter_values(ctx: StepContext, args: AlignedValuesArgs) -> None:
    """Clock-aligned samples (context Sample.Clock) of the connector's latest transaction fall on
    the boundaries of the aligned interval (from midnight UTC), one per boundary, with the
    configured measurands."""
    tx = _latest_transaction(ctx, args.connector)
    groups = _by_timestamp(tx.samples, "Sample.Clock")
    if len(groups) < args.min_samples:
        raise StepFailed(f"transaction {tx.transaction_id}: {len(groups)} clock-aligned MeterValues, expected at "
                         f"least {args.min_samples} at {args.interval_s:g} s")
    off = [(ts, _boundary_offset_s(ts, args.interval_s)) for ts in groups]
    worst = max(off, key=lambda x: x[1])
    if worst[1] > args.tolerance_s:
        raise StepFailed(f"clock-aligned MeterValues off the {args.interval_s:g} s boundary by {worst[1]:.2f} s "
                         f"(at {worst[0]:%H:%M:%S.%f}; allowed {args.tolerance_s:g} s)")
    bad = _spacing_errors(list(groups), args.interval_s, args.tolerance_s)
    if bad:
        raise StepFailed(f"clock-aligned MeterValues not one per {args.interval_s:g} s boundary: {'; '.join(bad[:4])}")
    lost = _missing_measurands(groups, args.measurands)
    if lost:
        raise StepFailed(f"clock-aligned MeterValues without configured measurands: {'; '.join(lost[:4])}")


async def expect_stop_reason(ctx: StepContext, args: StopReasonArgs) -> None:
    event = await _wait_event(ctx, "transaction_stopped", args.timeout_s)
    reason = event.data.get("reason") or "Local"  # 1.6: an absent reason means Local
    ctx.mirror().end_transaction(ctx.timeline.connector_id)
    ctx.timeline.note_profiles(ctx.now())
    if reason != args.reason:
        raise StepFailed(f"transaction {event.data.get('transaction_id')} stopped with reason {reason}, "
                         f"a compliant charger gives {args.reason}")


# ---- offline -------------------------------------------------------------------------------

async def offline_window(ctx: StepContext, args: OfflineArgs) -> None:
    """The CSMS closes the charger's connection and refuses it for `seconds`; the next steps run
    while it is offline (the step returns once the connection is gone)."""
    mark = ctx.dut.mark()
    ctx.block_state[OFFLINE_UNTIL] = ctx.now() + args.seconds
    await _server(ctx).take_offline(ctx.dut.cp_id, args.seconds, "offline window")
    try:
        await ctx.dut.wait_for("disconnected", timeout_s=args.disconnect_timeout_s, since_index=mark)
    except DutError:
        raise RuntimeError(f"the bench could not close the charger's connection within "
                           f"{args.disconnect_timeout_s:g} s") from None
    ctx.event_cursor = max(ctx.event_cursor, mark)


async def _reconnection(ctx: StepContext, since: int, timeout_s: float | None) -> None:
    """Wait until the DUT is connected again (steps._reconnected), at most `timeout_s` after the
    offline window ended."""
    allowed = timeout_s if timeout_s is not None else ctx.position.dut.reconnect_time_s
    window_end = ctx.block_state.get(OFFLINE_UNTIL, ctx.now())
    if not await _reconnected(ctx, since, max(0.0, window_end + allowed - ctx.now())):
        raise StepFailed(f"the DUT did not reconnect within {allowed:g} s after the offline window ended "
                         "(dut.reconnect_time_s: its reconnect back-off)")


def _offline_span(ctx: StepContext, since: int) -> tuple[DutEvent, DutEvent]:
    """The last disconnection and the connection that ended it."""
    events = ctx.dut.events
    for i in range(len(events) - 1, since - 1, -1):
        if events[i].kind == EventKind.CONNECTED:
            gone = [e for e in events[since:i] if e.kind == EventKind.DISCONNECTED]
            if gone:
                return gone[-1], events[i]
    raise RuntimeError("no disconnection followed by a reconnection (run offline_window first)")


async def expect_replayed_transaction(ctx: StepContext, args: ReplayArgs) -> None:
    """The charger reconnects and delivers the transaction messages it queued offline: all of them
    (periodic samples cover the offline window at the sample interval; 2.x: seqNo without a gap,
    offline=true on what happened offline), in the order they happened, and the stop if the
    transaction ended offline (1.6 StopTransaction, 2.x TransactionEvent Ended)."""
    tx = _latest_transaction(ctx, args.connector)
    since = ctx.event_cursor
    await _reconnection(ctx, since, args.reconnect_timeout_s)
    if args.stopped_offline:
        try:
            await ctx.dut.wait_for("transaction_stopped", lambda e: e.data.get("transaction_id") == tx.transaction_id,
                                   timeout_s=args.timeout_s, since_index=since)
        except DutError:
            raise StepFailed(f"transaction {tx.transaction_id} ended while offline, but its stop did not arrive "
                             f"within {args.timeout_s:g} s of the reconnect") from None
        ctx.mirror().end_transaction(ctx.timeline.connector_id)
        ctx.timeline.note_profiles(ctx.now())
    else:  # the queue is sent right after the boot; give it the time of a few messages
        await ctx.clock.sleep(min(args.timeout_s, 3.0))
    gone, back = _offline_span(ctx, since)
    interval = args.interval_s or float(ctx.position.dut.meter_sample_interval_s)
    _judge_replay(ctx, tx, gone, back, interval, args.tolerance_s)
    ctx.event_cursor = len(ctx.dut.events)


def _judge_replay(ctx: StepContext, tx: Transaction, gone: DutEvent, back: DutEvent, interval_s: float,
                  tolerance_s: float) -> None:
    # 1) order: what arrived after the reconnect, in the order it happened
    received = sorted({(s.t_mono_s, s.timestamp) for s in tx.samples if s.timestamp is not None
                       and s.context in SAMPLED_CONTEXTS and s.t_mono_s >= back.t_mono_s})
    stamps = [ts for _, ts in received]
    for a, b in zip(stamps, stamps[1:]):
        if b < a:
            raise StepFailed(f"queued messages replayed out of order: {b:%H:%M:%S} sent after {a:%H:%M:%S}")
    # 2) nothing missing: periodic samples every interval over the whole transaction, offline window included
    groups = _by_timestamp(tx.samples, "Sample.Periodic")
    times = list(groups)
    end = min(back.utc, tx.stop_timestamp) if tx.stop_timestamp else back.utc  # it may have stopped offline
    offline = [t for t in times if gone.utc <= t <= end]
    expected_offline = int((end - gone.utc).total_seconds() // interval_s) - 1  # one boundary of slack
    if len(offline) < max(1, expected_offline):
        raise StepFailed(f"{len(offline)} periodic MeterValues for the {(end - gone.utc).total_seconds():.0f} s the "
                         f"transaction ran offline, expected about {expected_offline + 1} (one per {interval_s:g} s)")
    gaps = [(a, (b - a).total_seconds()) for a, b in zip(times, times[1:])
            if (b - a).total_seconds() > interval_s + tolerance_s]
    if gaps:
        a, gap = gaps[0]
        raise StepFailed(f"periodic MeterValues missing: a {gap:.1f} s gap after {a:%H:%M:%S} "
                         f"(interval {interval_s:g} s)")
    # 3) 2.x: every TransactionEvent of the transaction, seqNo continuous, offline ones flagged
    updates = [e for e in ctx.dut.events if e.kind == EventKind.TRANSACTION_UPDATED
               and e.data.get("transaction_id") == tx.transaction_id]
    if not updates:
        return  # 1.6
    seq = [e.data["seq_no"] for e in updates]
    want = list(range(seq[0], seq[0] + len(seq)))
    if seq != want:
        missing = sorted(set(range(min(seq), max(seq) + 1)) - set(seq))
        raise StepFailed(f"TransactionEvent seqNo of {tx.transaction_id}: got {_runs(seq)}"
                         + (f", missing {_runs(missing)}" if missing else ", out of order"))
    unflagged = [e for e in updates if e.t_mono_s >= back.t_mono_s and e.data.get("timestamp") is not None
                 and gone.utc + timedelta(seconds=0.5) < e.data["timestamp"] < back.utc - timedelta(seconds=1)
                 and not e.data.get("offline")]
    if unflagged:
        e = unflagged[0]
        raise StepFailed(f"TransactionEvent seqNo {e.data['seq_no']} happened offline ({e.data['timestamp']:%H:%M:%S}) "
                         "but is not flagged offline=true")


def _runs(numbers: list[int]) -> str:
    """[0, 1, 2, 5, 6] -> '0-2, 5-6' (short messages for long sequences)."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][1] + 1 == n:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# ---- EV faults -----------------------------------------------------------------------------

async def ev_fault(ctx: StepContext, args: EvFaultArgs) -> None:
    """A control pilot fault on the EV side for `seconds`, the EV unaware (it keeps drawing until it
    sees no PWM): the line shows state E. The connector must report Faulted (1.6 StatusNotification
    Faulted with an error code other than NoError; 2.x connectorStatus Faulted) within
    `faulted_within_s`. The fault is cleared when the step ends, whatever happened."""
    ev = ctx.need_ev()
    since, t0 = ctx.dut.mark(), ctx.now()
    await ev.inject_error(args.kind)
    ctx.timeline.note_ev_state(ctx.now(), CpState.E)
    problem = None
    try:
        try:
            event = await ctx.dut.wait_for("status", lambda e: e.connector_id == args.connector
                                           and e.data.get("status") == "Faulted", timeout_s=args.faulted_within_s,
                                           since_index=since)
            if ctx.ocpp_version == "1.6" and event.data.get("error_code") in (None, NO_ERROR):
                problem = "StatusNotification Faulted with errorCode NoError: a fault needs its error code"
        except DutError:
            problem = (f"expected status Faulted on connector {args.connector} within {args.faulted_within_s:g} s "
                       f"of the CP fault ({args.kind}); got {_describe(_status_events(ctx, args.connector, since))}")
        await ctx.clock.sleep(max(0.0, args.seconds - (ctx.now() - t0)))
    finally:
        await ev.inject_error("NONE")
        ctx.timeline.note_ev_state(ctx.now(), ev.state)
    ctx.event_cursor = max(ctx.event_cursor, since)
    if problem:
        raise StepFailed(problem)


async def expect_fault_cleared(ctx: StepContext, args: FaultedArgs) -> None:
    """After the fault is gone the connector leaves Faulted (1.6: with errorCode NoError)."""
    since = ctx.event_cursor

    def recovered(e: DutEvent) -> bool:
        return (e.connector_id == args.connector and e.data.get("status") != "Faulted"
                and e.data.get("source") != "chargingState" and e.data.get("error_code") in (None, NO_ERROR))
    try:
        event = await ctx.dut.wait_for("status", recovered, timeout_s=args.within_s, since_index=since)
    except DutError:
        raise StepFailed(f"connector {args.connector} still not recovered {args.within_s:g} s after the fault "
                         f"cleared; statuses: {_describe(_status_events(ctx, args.connector, since))}") from None
    ctx.event_cursor = max(ctx.event_cursor, ctx.dut.events.index(event) + 1)


STEPS: dict[str, StepDef] = {
    "set_metering": StepDef(SetMeteringArgs, set_metering),
    "restore_metering": StepDef(NoArgs, restore_metering),
    "expect_sampled_meter_values": StepDef(SampledValuesArgs, expect_sampled_meter_values),
    "expect_clock_aligned_meter_values": StepDef(AlignedValuesArgs, expect_clock_aligned_meter_values),
    "expect_stop_reason": StepDef(StopReasonArgs, expect_stop_reason),
    "offline_window": StepDef(OfflineArgs, offline_window),
    "expect_replayed_transaction": StepDef(ReplayArgs, expect_replayed_transaction),
    "ev_fault": StepDef(EvFaultArgs, ev_fault),
    "expect_fault_cleared": StepDef(FaultedArgs, expect_fault_cleared),
}
