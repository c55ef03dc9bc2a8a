"""The step library: what a scenario can do to the DUT and the EV.

Each step has a pydantic argument model (validated when the suite is loaded)
and an async implementation taking the `StepContext`. A step raises
`StepFailed` when the DUT misbehaves (a FAIL of the charger) and lets any
other exception through (an ERROR of the bench).

Steps say what they mean and run unchanged on OCPP 1.6, 2.0.1 and 2.1: the
`Dut` speaks the charger's version, a profile written in the 1.6 form (or the
2.x form) is sent in the form of the DUT's version (`Dut.wire_profile`), the
mirror of the DUT's profiles follows that version's rules, and a transaction
id is whatever the version uses (1.6 int, 2.x string).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Awaitable, Callable, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.capabilities import Capabilities
from bench.clock import Clock, iso_utc
from bench.config import PositionConfig, TolerancesConfig
from bench.csms import Dut
from bench.csms.dut import DutError, DutProtocolError
from bench.csms.events import EventKind
from bench.ev_model import EvModel
from bench.memory import MemoryProbe
from instruments.iec61851 import CpState
from bench.csms.profiles import profile_id, purpose_for
from bench.checks.timeline import CompositeReport, SecurityProbe, Timeline
from bench.smart_charging import ActiveTransaction, composite_schedule

TagPresenter = Callable[[str], Awaitable[None]]


class StepFailed(Exception):
    """The DUT did not do what a compliant charger must: a FAIL, not an ERROR."""


class NotSupportedByDut(Exception):
    """The DUT answered that it lacks an optional feature or setting (CALLERROR NotImplemented /
    NotSupported, a NotSupported status, an unknown optional key): the scenario is SKIPPED as
    NOT SUPPORTED. For a required one a step raises StepFailed naming the requirement instead."""


class NotApplicable(Exception):
    """The scenario cannot run on this position (e.g. it needs an EV emulator the bench does
    not have): the scenario is SKIPPED with this reason, neither passed nor failed."""


@dataclass
class StepContext:
    clock: Clock
    position: PositionConfig
    tolerances: TolerancesConfig
    dut: Dut
    ev: EvModel | None
    timeline: Timeline
    tag_presenter: TagPresenter | None = None
    event_cursor: int = 0
    notes: list[str] = field(default_factory=list)
    profiles_sent: list[dict[str, Any]] = field(default_factory=list)
    # what a block's steps remember within one scenario (e.g. the display messages set), by block
    block_state: dict[str, Any] = field(default_factory=dict)
    # what the DUT supports (declared in lab_config.yaml and discovered when it booted)
    capabilities: Capabilities = field(default_factory=Capabilities)
    memory: MemoryProbe | None = None  # marks the process's memory (memory_mark step)
    _profile_ids: Any = field(default_factory=lambda: itertools.count(100))

    def now(self) -> float:
        return self.clock.monotonic()

    def state(self, key: str, factory: Callable[[], Any]) -> Any:
        """What a block's steps keep for the rest of this scenario, made on first use."""
        if key not in self.block_state:
            self.block_state[key] = factory()
        return self.block_state[key]

    def need_ev(self) -> EvModel:
        if self.ev is None:
            raise NotApplicable(f"needs an EV emulator: position {self.position.name!r} has none configured")
        return self.ev

    @property
    def ocpp_version(self) -> str:
        """The version the DUT speaks (the configured one before it first connected)."""
        return self.dut.ocpp_version or self.position.dut.ocpp_version

    def mirror(self):
        """The mirror of the DUT's charging profiles, with the rules of the DUT's version."""
        dut = self.position.dut
        self.timeline.use_version(self.ocpp_version, evses=dut.connectors, supply_phases=dut.phases)
        return self.timeline.store


# The station-wide maximum has a 1.6 and a 2.x name; either means the same on every version.
Purpose = Literal["ChargePointMaxProfile", "ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile"]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(_Args):
    pass


class EvStateArgs(_Args):
    state: Literal["A", "B", "C", "D", "E"]


class SwipeArgs(_Args):
    id_tag: str = "TAG-ACCEPTED"


class RemoteStartArgs(_Args):
    id_tag: str = "TAG-ACCEPTED"
    connector: int = Field(1, ge=1)
    profile: dict[str, Any] | None = None  # a TxProfile sent with the request (wire camelCase)
    expect: Literal["Accepted", "Rejected"] = "Accepted"
    timeout_s: float = Field(30.0, gt=0)


class RemoteStopArgs(_Args):
    connector: int = Field(1, ge=1)
    expect: Literal["Accepted", "Rejected"] = "Accepted"
    timeout_s: float = Field(30.0, gt=0)


class SetProfileArgs(_Args):
    """Either a complete `profile` (wire format, 1.6 or 2.x form: it is sent in the DUT's) or the
    shorthand fields to build one.

    Times relative to the moment the step runs (seconds, may be negative): `start_offset_s`
    sets chargingSchedule.startSchedule (Absolute/Recurring; default: now), `valid_from_offset_s`
    and `valid_to_offset_s` set validFrom/validTo. They apply to a full `profile` too, so a
    scenario never carries a hard-coded date. `transaction` picks the transactionId a shorthand
    TxProfile carries: the active one, a wrong one (active + 1000) or none."""

    connector: int = Field(1, ge=0)
    profile: dict[str, Any] | None = None
    purpose: Purpose = "TxProfile"
    stack_level: int = Field(0, ge=0)
    profile_id: int | None = None
    kind: Literal["Absolute", "Relative", "Recurring"] = "Absolute"
    recurrency: Literal["Daily", "Weekly"] | None = None  # with kind: Recurring
    unit: Literal["A", "W"] = "A"
    limit: float | None = Field(None, ge=0)
    periods: list[tuple[int, float]] | None = None  # [[startPeriod_s, limit], ...]
    number_phases: int | None = Field(None, ge=1, le=3)
    duration_s: int | None = Field(None, ge=0)
    start_offset_s: float | None = None
    # startSchedule at this UTC time of day, the latest one not after now (e.g. "22:00:00" for a
    # Recurring Daily profile that spans midnight)
    start_time_of_day: time | None = None
    valid_from_offset_s: float | None = None
    valid_to_offset_s: float | None = None
    transaction: Literal["active", "wrong", "none"] = "active"
    expect: Literal["Accepted", "Rejected"] | None = None  # default: what a compliant charger answers

    @model_validator(mode="after")
    def _one_source(self) -> "SetProfileArgs":
        given = [self.profile is not None, self.limit is not None, self.periods is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of profile, limit, periods")
        if self.profile is None and (self.kind == "Recurring") != (self.recurrency is not None):
            raise ValueError("recurrency (Daily or Weekly) goes with kind: Recurring, and only with it")
        if self.start_offset_s is not None and self.start_time_of_day is not None:
            raise ValueError("give start_offset_s or start_time_of_day, not both")
        return self


class ClearProfileArgs(_Args):
    profile_id: int | None = None
    connector: int | None = None
    purpose: Purpose | None = None
    stack_level: int | None = None
    expect: Literal["Accepted", "Unknown"] | None = None


class WaitForArgs(_Args):
    event: Literal["transaction_started", "transaction_stopped", "status", "meter_values", "boot", "authorize"]
    status: str | None = None  # for event: status
    timeout_s: float = Field(30.0, gt=0)


class HoldArgs(_Args):
    seconds: float = Field(gt=0)


class SetEvArgs(_Args):
    max_current_a: float | None = Field(None, gt=0, le=80)
    reaction_time_s: float | None = Field(None, ge=0, le=10)
    ev_phases: int | None = Field(None, ge=1, le=3)  # phases the EV draws on, until it is unplugged
    # an unbalanced EV: L2 and L3 draw at most this, L1 all it is offered, until it is unplugged
    other_phases_max_a: float | None = Field(None, gt=0, le=80)


class GetCompositeScheduleArgs(_Args):
    """GetCompositeSchedule; the answer is kept for the `composite_schedule_matches` check,
    next to the bench's own composite computed from the profiles a compliant charger holds."""

    connector: int = Field(1, ge=0)
    duration_s: int = Field(60, ge=0)
    unit: Literal["A", "W"] | None = None
    expect: Literal["Accepted", "Rejected"] = "Accepted"


class ConfigureArgs(_Args):
    key: str
    value: str
    expect: Literal["Accepted", "Rejected", "RebootRequired", "NotSupported"] = "Accepted"


class ServerCertificateProbeArgs(_Args):
    """The CSMS presents a certificate the DUT must refuse, for `seconds` (security profiles 2, 3)."""

    certificate: Literal["unknown_ca", "expired", "wrong_host"]
    seconds: float = Field(8.0, gt=0, le=120)
    reconnect_timeout_s: float = Field(60.0, gt=0)


class TlsVersionProbeArgs(_Args):
    """The CSMS offers only TLS 1.0/1.1 for `seconds`: the DUT must not connect (profiles 2, 3)."""

    seconds: float = Field(8.0, gt=0, le=120)
    reconnect_timeout_s: float = Field(60.0, gt=0)


class PasswordArgs(_Args):
    """A new HTTP Basic auth password (A01); `restore` sets the configured one again."""

    password: str | None = None
    restore: bool = False
    reconnect_timeout_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _one(self) -> "PasswordArgs":
        if (self.password is None) == (not self.restore):
            raise ValueError("give either password or restore: true")
        return self


# ---- implementations ---------------------------------------------------------

async def _set_ev_state(ctx: StepContext, state: CpState) -> None:
    await ctx.need_ev().set_state(state)
    ctx.timeline.note_ev_state(ctx.now(), state)
    if CpState(state) is CpState.A and ctx.timeline.ev_phases:  # the EV model is back to its configured phases
        ctx.timeline.note_ev_phases(ctx.now(), ctx.position.ev.phases)


async def plug_in(ctx: StepContext, args: NoArgs) -> None:
    await _set_ev_state(ctx, CpState.B)


async def unplug(ctx: StepContext, args: NoArgs) -> None:
    await _set_ev_state(ctx, CpState.A)


async def ev_state(ctx: StepContext, args: EvStateArgs) -> None:
    await _set_ev_state(ctx, CpState(args.state))


async def swipe(ctx: StepContext, args: SwipeArgs) -> None:
    if ctx.tag_presenter is None:
        raise RuntimeError("no RFID tag presenter on this position (the virtual lab has one; a real bench needs one)")
    await ctx.tag_presenter(args.id_tag)


async def _wait_event(ctx: StepContext, kind: str, timeout_s: float, predicate=None):
    try:
        event = await ctx.dut.wait_for(kind, predicate, timeout_s=timeout_s, since_index=ctx.event_cursor)
    except DutError as exc:
        raise StepFailed(f"DUT: no {kind} within {timeout_s:g} s ({exc})") from None
    ctx.event_cursor = max(ctx.event_cursor, ctx.dut.events.index(event) + 1)
    return event


# Answers by which a charger says it lacks what was asked (1.6 SendLocalList / UnlockConnector
# NotSupported, TriggerMessage NotImplemented; 2.x the same words): NOT SUPPORTED, not a FAIL.
LACKS_ANSWERS = frozenset({"NotSupported", "NotImplemented", "UnlockCommandNotSupported"})


def expect_answer(what: str, got: str, allowed: tuple[str, ...]) -> None:
    """`got` must be one of `allowed`; an answer saying the DUT lacks the function makes the
    scenario NOT SUPPORTED (when the scenario did not ask for exactly that answer)."""
    if got in allowed:
        return
    if got in LACKS_ANSWERS:
        raise NotSupportedByDut(f"{what}: the DUT answered {got}")
    raise StepFailed(f"{what}: DUT answered {got}, a compliant charger answers {' or '.join(allowed)}")


def _expect(what: str, got: str, want: str) -> None:
    expect_answer(what, got, (want,))


async def remote_start(ctx: StepContext, args: RemoteStartArgs) -> None:
    profile = ctx.dut.wire_profile(args.profile) if args.profile is not None else None
    status = await ctx.dut.remote_start(args.connector, args.id_tag, profile)
    _expect("RemoteStartTransaction", status, args.expect)
    if args.expect != "Accepted":
        return
    event = await _wait_event(ctx, "transaction_started", args.timeout_s,
                              lambda e: e.connector_id in (None, args.connector))
    if profile is not None:
        started = event.data.get("transaction")  # the event carries the Transaction
        tx_id = started.transaction_id if started is not None else event.data.get("transaction_id")
        mirror = ctx.mirror()
        source = {} if ctx.ocpp_version == "1.6" else {"source": "RequestStartTransaction"}
        accepted, reason = mirror.install(args.connector, profile, active_transaction_id=tx_id, **source)
        if not accepted:
            raise StepFailed(f"the TxProfile sent with RemoteStartTransaction must be rejected ({reason}) "
                             "but the DUT started the transaction")
        ctx.timeline.note_profiles(event.t_mono_s)
        ctx.profiles_sent.append({"t_mono_s": event.t_mono_s, "connector": args.connector, "profile": profile})


async def remote_stop(ctx: StepContext, args: RemoteStopArgs) -> None:
    tx = ctx.dut.active_transaction(args.connector)
    if tx is None:
        raise StepFailed(f"no active transaction on connector {args.connector} to stop")
    status = await ctx.dut.remote_stop(tx.transaction_id)
    _expect("RemoteStopTransaction", status, args.expect)
    if args.expect == "Accepted":
        await _wait_event(ctx, "transaction_stopped", args.timeout_s)
        ctx.mirror().end_transaction(args.connector)
        ctx.timeline.note_profiles(ctx.now())


def _in(ctx: StepContext, offset_s: float) -> str:
    return iso_utc(ctx.clock.utcnow() + timedelta(seconds=offset_s))


def _latest_time_of_day(now: datetime, at: time) -> str:
    start = datetime.combine(now.date(), at.replace(tzinfo=None), tzinfo=timezone.utc)
    return iso_utc(start if start <= now else start - timedelta(days=1))


def _with_offsets(ctx: StepContext, args: SetProfileArgs, profile: dict[str, Any]) -> dict[str, Any]:
    start: str | None = None
    if args.start_offset_s is not None:
        start = _in(ctx, args.start_offset_s)
    elif args.start_time_of_day is not None:
        start = _latest_time_of_day(ctx.clock.utcnow(), args.start_time_of_day)
    if start is not None:
        schedule = profile["chargingSchedule"]  # 1.6: one object; 2.x: a list of them
        profile["chargingSchedule"] = ([{**one, "startSchedule": start} for one in schedule]
                                       if isinstance(schedule, list) else {**schedule, "startSchedule": start})
    if args.valid_from_offset_s is not None:
        profile["validFrom"] = _in(ctx, args.valid_from_offset_s)
    if args.valid_to_offset_s is not None:
        profile["validTo"] = _in(ctx, args.valid_to_offset_s)
    return profile


def build_profile(ctx: StepContext, args: SetProfileArgs) -> dict[str, Any]:
    if args.profile is not None:
        return _with_offsets(ctx, args, dict(args.profile))
    # _one_source: without periods (or a profile) the limit is given
    periods = args.periods if args.periods is not None else [(0, cast(float, args.limit))]
    schedule: dict[str, Any] = {
        "chargingRateUnit": args.unit,
        "chargingSchedulePeriod": [
            {"startPeriod": int(s), "limit": round(float(lim), 1),
             **({"numberPhases": args.number_phases} if args.number_phases else {})}
            for s, lim in periods],
    }
    if args.duration_s is not None:
        schedule["duration"] = args.duration_s
    if args.kind in ("Absolute", "Recurring"):
        schedule["startSchedule"] = iso_utc(ctx.clock.utcnow())
    profile: dict[str, Any] = {
        "chargingProfileId": args.profile_id if args.profile_id is not None else _new_profile_id(ctx, args),
        "stackLevel": args.stack_level,
        "chargingProfilePurpose": args.purpose,
        "chargingProfileKind": args.kind,
        "chargingSchedule": schedule,
    }
    if args.recurrency is not None:
        profile["recurrencyKind"] = args.recurrency
    if args.purpose == "TxProfile" and args.transaction != "none":
        tx = ctx.dut.active_transaction(args.connector)
        if tx is not None:
            wrong = args.transaction == "wrong"
            profile["transactionId"] = wrong_transaction_id(tx.transaction_id) if wrong else tx.transaction_id
        elif args.transaction == "wrong":
            profile["transactionId"] = wrong_transaction_id(None if ctx.ocpp_version == "1.6" else "")
    return _with_offsets(ctx, args, profile)


def _new_profile_id(ctx: StepContext, args: SetProfileArgs) -> int:
    """A shorthand profile replaces the one of the same purpose and stack level on its connector:
    1.6 replaces by those, 2.x only by id (it refuses a second profile on that stack level), so
    on 2.x the new profile takes the id of the one it replaces."""
    if ctx.ocpp_version != "1.6":
        purpose = purpose_for(args.purpose, ctx.ocpp_version)
        for installed in ctx.mirror().profiles:
            p = installed.profile
            if (installed.connector_id == args.connector and p["chargingProfilePurpose"] == purpose
                    and p["stackLevel"] == args.stack_level):
                return profile_id(p)
    return next(ctx._profile_ids)


def wrong_transaction_id(tx_id: int | str | None) -> int | str:
    """A transaction id that is not `tx_id`, of the same kind (1.6 int, 2.x string of <= 36 characters)."""
    if tx_id is None:
        return 999_999
    if isinstance(tx_id, int):
        return tx_id + 1000
    return "bench-wrong-transaction" if tx_id != "bench-wrong-transaction" else "bench-wrong-transaction-2"


async def set_profile(ctx: StepContext, args: SetProfileArgs) -> None:
    profile = ctx.dut.wire_profile(build_profile(ctx, args))
    tx = ctx.dut.active_transaction(args.connector) if args.connector else None
    mirror = ctx.mirror()
    if tx is None:
        mirror.end_transaction(args.connector)
    accepted, reason = mirror.install(args.connector, profile, active_transaction_id=tx.transaction_id if tx else None)
    want = args.expect or ("Accepted" if accepted else "Rejected")
    status = await ctx.dut.set_charging_profile(args.connector, profile)
    t = ctx.now()
    ctx.profiles_sent.append({"t_mono_s": t, "connector": args.connector, "profile": profile, "status": status})
    if accepted and status != "Accepted":
        mirror.clear(profile_id=profile_id(profile))  # keep the mirror equal to the DUT
    ctx.timeline.note_profiles(t)
    why = f" ({reason})" if not accepted else ""
    _expect(f"SetChargingProfile id {profile_id(profile)}{why}", status, want)


async def clear_profile(ctx: StepContext, args: ClearProfileArgs) -> None:
    cleared = ctx.mirror().clear(profile_id=args.profile_id, connector_id=args.connector,
                                 purpose=purpose_for(args.purpose, ctx.ocpp_version), stack_level=args.stack_level)
    status = await ctx.dut.clear_charging_profile(id=args.profile_id, connector_id=args.connector,
                                                  purpose=args.purpose, stack_level=args.stack_level)
    ctx.timeline.note_profiles(ctx.now())
    _expect("ClearChargingProfile", status, args.expect or ("Accepted" if cleared else "Unknown"))


async def wait_for(ctx: StepContext, args: WaitForArgs) -> None:
    predicate = None
    if args.status is not None:
        predicate = lambda e: e.data.get("status") == args.status  # noqa: E731
    await _wait_event(ctx, args.event, args.timeout_s, predicate)
    if args.event == "transaction_stopped":
        ctx.mirror().end_transaction(ctx.timeline.connector_id)
        ctx.timeline.note_profiles(ctx.now())


async def hold(ctx: StepContext, args: HoldArgs) -> None:
    await ctx.clock.sleep(args.seconds)


async def set_ev(ctx: StepContext, args: SetEvArgs) -> None:
    ctx.need_ev().set_behaviour(max_current_a=args.max_current_a, reaction_time_s=args.reaction_time_s,
                                other_phases_max_a=args.other_phases_max_a)
    if args.max_current_a is not None:
        ctx.timeline.note_ev_max(ctx.now(), args.max_current_a)
    if args.ev_phases is not None:
        await ctx.need_ev().set_phases(args.ev_phases)
        ctx.timeline.note_ev_phases(ctx.now(), args.ev_phases)
    if args.other_phases_max_a is not None:
        # the EV draws all it is offered on L1 only: what it delivers is judged there (the limit on
        # every phase still is); unplugging returns the timeline to the configured phases
        ctx.timeline.note_ev_phases(ctx.now(), 1)


def expected_composite(ctx: StepContext, connector_id: int, duration_s: int, unit: str, at) -> dict[str, Any]:
    """The ChargingSchedule a compliant charger reports at `at` (UTC), from the profiles it holds."""
    dut = ctx.position.dut
    running = {}
    for c in range(1, dut.connectors + 1):
        tx = ctx.dut.active_transaction(c)
        if tx is not None and tx.start_timestamp is not None:
            running[c] = ActiveTransaction(tx.start_timestamp, tx.transaction_id)
    return composite_schedule(
        ctx.mirror().profiles, connector_id, at, duration_s, default_limit_a=dut.rated_current_a,
        voltage_v=dut.nominal_voltage_v, phases=dut.phases, transactions=running, connectors=dut.connectors,
        unit=unit, ocpp_version=ctx.ocpp_version).to_ocpp()


async def get_composite_schedule(ctx: StepContext, args: GetCompositeScheduleArgs) -> None:
    t, requested = ctx.now(), ctx.clock.utcnow()
    unit = args.unit or "A"
    expected = expected_composite(ctx, args.connector, args.duration_s, unit, requested)
    report = CompositeReport(t, args.connector, args.duration_s, unit, requested, expected, None)
    try:
        answer = await ctx.dut.get_composite_schedule(args.connector, args.duration_s, args.unit)
    except DutProtocolError as exc:  # an answer that breaks the schema is the charger's fault
        report.error = str(exc)
        ctx.timeline.note_composite(report)
        return
    _expect(f"GetCompositeSchedule connector {args.connector}", str(answer.get("status")), args.expect)
    if args.expect == "Accepted":
        report.answer = answer
        ctx.timeline.note_composite(report)


async def configure(ctx: StepContext, args: ConfigureArgs) -> None:
    status = await ctx.dut.change_configuration(args.key, args.value)
    _expect(f"ChangeConfiguration {args.key}={args.value}", status, args.expect)


# ---- security (every OCPP version; judged by the security_probes_pass check) ----------
# The steps record what the DUT did as SecurityProbes; a probe that needs a higher security
# profile than the bench runs is recorded as not applicable (the check then says SKIPPED).
PASSWORD = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$")  # 2.0.1 passwordString, 1.6 AuthorizationKey length
SECURITY_EVENTS_INVALID_CERTIFICATE = ("InvalidCsmsCertificate", "InvalidCentralSystemCertificate")  # 2.x, 1.6


def _probe(ctx: StepContext, name: str, required: str, passed: bool | None, detail: str,
           applicable: bool = True) -> None:
    ctx.timeline.note_security(SecurityProbe(name, ctx.now(), required, applicable, passed, detail))


def _server(ctx: StepContext):
    if ctx.dut.server is None:
        raise RuntimeError("the DUT handle has no CSMS server (security steps need the bench's CSMS)")
    return ctx.dut.server


async def _reconnected(ctx: StepContext, since_index: int, timeout_s: float) -> bool:
    """Connected again: a reconnect need not bring a BootNotification (OCPP-J 1.6 section 5.4,
    2.0.1 part 4 section 5.3: only when something in it changed)."""
    try:
        await ctx.dut.wait_for(EventKind.CONNECTED, timeout_s=timeout_s, since_index=since_index)
        return True
    except DutError:
        return False


async def _tls_probe(ctx: StepContext, probe: str, name: str, required: str, seconds: float,
                     reconnect_timeout_s: float) -> bool | None:
    """Serve `probe` for `seconds` after closing the DUT's connection; True = the DUT refused it."""
    server = _server(ctx)
    if server.security_profile < 2:
        _probe(ctx, name, required, None, f"the bench runs security profile {server.security_profile}; "
               "this probe needs TLS (profile 2 or 3)", applicable=False)
        return None
    first_refusal, mark = len(server.refusals), ctx.dut.mark()
    with server.tls_probe(probe):
        await server.drop(ctx.dut.cp_id, "security probe: the CSMS presents another certificate")
        await ctx.clock.sleep(seconds)
        accepted = [e for e in ctx.dut.events[mark:] if e.kind == "connected"]
    attempts = [r for r in server.refusals[first_refusal:] if r.stage == "tls"]
    if accepted:
        passed, detail = False, f"the DUT connected while the CSMS presented {probe.replace('_', ' ')}"
    elif attempts:
        passed, detail = True, f"{len(attempts)} connection attempt(s) refused by the DUT: {attempts[-1].reason}"
    else:
        passed, detail = None, f"the DUT did not try to connect within {seconds:g} s (lengthen `seconds`)"
    _probe(ctx, name, required, passed, detail)
    if not accepted and not await _reconnected(ctx, ctx.dut.mark(), reconnect_timeout_s):
        raise StepFailed(f"the DUT did not reconnect within {reconnect_timeout_s:g} s once the CSMS presented "
                         "its valid certificate again")
    return passed


async def probe_server_certificate(ctx: StepContext, args: ServerCertificateProbeArgs) -> None:
    """TC_A_05: an unknown CA, an expired certificate, one for another host name."""
    name, since = f"server_certificate_{args.certificate}", ctx.dut.mark()
    refused = await _tls_probe(ctx, args.certificate, name, "terminate the connection: the CSMS certificate is "
                               f"invalid ({args.certificate.replace('_', ' ')})",
                               args.seconds, args.reconnect_timeout_s)
    if refused:  # and report it once connected again (TC_A_05 step 14)
        required = ("send SecurityEventNotification InvalidCsmsCertificate (1.6: InvalidCentralSystemCertificate) "
                    "once connected")
        try:
            event = await ctx.dut.wait_for("security_event", lambda e: e.data.get("type") in
                                           SECURITY_EVENTS_INVALID_CERTIFICATE, timeout_s=10, since_index=since)
            _probe(ctx, f"{name}_reported", required, True, f"reported: {event.data['type']}")
        except DutError:
            _probe(ctx, f"{name}_reported", required, False, "no such security event within 10 s")


async def probe_tls_version(ctx: StepContext, args: TlsVersionProbeArgs) -> None:
    """TC_A_06: a CSMS that offers TLS 1.0/1.1 only."""
    await _tls_probe(ctx, "tls_1_1", "tls_version_below_1_2", "terminate the connection: TLS below 1.2",
                     args.seconds, args.reconnect_timeout_s)


async def try_security_downgrade(ctx: StepContext, args: NoArgs) -> None:
    """TC_A_22 / B09.FR.04 (1.6 security whitepaper A05): a lower security profile must be refused."""
    server = _server(ctx)
    required = "reject a lower security profile (2.x SetNetworkProfile, 1.6 SecurityProfile key)"
    if server.security_profile == 0:
        _probe(ctx, "security_profile_downgrade", required, None, "the bench runs security profile 0: "
               "there is no lower one", applicable=False)
        return
    lower = server.security_profile - 1
    status = await ctx.dut.set_security_profile(lower, server.url)
    _probe(ctx, "security_profile_downgrade", required, status == "Rejected",
           f"asked for profile {lower} while on {server.security_profile}: the DUT answered {status}")


async def set_basic_auth_password(ctx: StepContext, args: PasswordArgs) -> None:
    """A01 (TC_A_09, TC_A_10): the DUT accepts a valid new password and rejects an invalid one; on
    profiles 1 and 2 it reconnects with the new one (the CSMS no longer accepts the old, A01.FR.03)."""
    server = _server(ctx)
    cp_id = ctx.dut.cp_id
    if not server.settings.security.basic_auth:
        _probe(ctx, "basic_auth_password", "accept a new Basic auth password", None,
               f"the bench runs security profile {server.security_profile}; passwords are used on profiles 1 and 2",
               applicable=False)
        return
    password = server.settings.security.passwords.get(cp_id) if args.restore else args.password
    if password is None:
        raise RuntimeError("restore: no configured password for this charger (bench.csms.security.password)")
    valid = bool(PASSWORD.fullmatch(password))
    mark, before = ctx.dut.mark(), server.passwords(cp_id)
    server.set_password(cp_id, *before, password)  # both while the change is on its way
    try:
        status = await ctx.dut.set_basic_auth_password(password)
    finally:
        server.set_password(cp_id, *before)
    accepted = status in ("Accepted", "RebootRequired")
    name = "basic_auth_password_" + ("restored" if args.restore else "valid" if valid else "invalid")
    _probe(ctx, name, f"{'accept' if valid else 'reject'} a password of {len(password)} characters "
           "(16..40 letters, digits, *-_=:+|@.)", accepted == valid, f"the DUT answered {status}")
    if not accepted:
        return
    server.set_password(cp_id, password)  # the old one no longer (A01.FR.03)
    reconnected = await _reconnected(ctx, mark, args.reconnect_timeout_s / 2)
    if not reconnected:  # it may use the new password only on its next connection
        await server.drop(cp_id, "new Basic auth password")
        reconnected = await _reconnected(ctx, mark, args.reconnect_timeout_s / 2)
    _probe(ctx, f"{name}_used", "connect with the new password", reconnected,
           "reconnected with it" if reconnected else f"no connection with it within {args.reconnect_timeout_s:g} s")
    if not reconnected:  # let the run go on with the password the DUT still uses
        server.set_password(cp_id, *before)


@dataclass(frozen=True)
class StepDef:
    args: type[_Args]
    run: Callable[[StepContext, Any], Awaitable[None]]
    # the step may make a compliant DUT close its connection and reconnect (a reset, a new
    # password, a configuration that needs a reboot): from it on, a dropped connection is expected
    reconnects: bool = False


# The core steps; with every block's own steps_<block>.py they make the library (library.py).
STEPS: dict[str, StepDef] = {
    "plug_in": StepDef(NoArgs, plug_in),
    "unplug": StepDef(NoArgs, unplug),
    "ev_state": StepDef(EvStateArgs, ev_state),
    "swipe": StepDef(SwipeArgs, swipe),
    "authorize": StepDef(SwipeArgs, swipe),
    "remote_start": StepDef(RemoteStartArgs, remote_start),
    "remote_stop": StepDef(RemoteStopArgs, remote_stop),
    "set_profile": StepDef(SetProfileArgs, set_profile),
    "clear_profile": StepDef(ClearProfileArgs, clear_profile),
    "wait_for": StepDef(WaitForArgs, wait_for),
    "hold": StepDef(HoldArgs, hold),
    "set_ev": StepDef(SetEvArgs, set_ev),
    "configure": StepDef(ConfigureArgs, configure, reconnects=True),
    "get_composite_schedule": StepDef(GetCompositeScheduleArgs, get_composite_schedule),
    "probe_server_certificate": StepDef(ServerCertificateProbeArgs, probe_server_certificate, reconnects=True),
    "probe_tls_version": StepDef(TlsVersionProbeArgs, probe_tls_version, reconnects=True),
    "try_security_downgrade": StepDef(NoArgs, try_security_downgrade, reconnects=True),
    "set_basic_auth_password": StepDef(PasswordArgs, set_basic_auth_password, reconnects=True),
}

