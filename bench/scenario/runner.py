"""Runs scenarios on one position: steps, then checks over what was recorded.

The position is put back into a known state before and after each scenario
(transaction stopped, EV unplugged, loads off, profiles cleared), whatever
happened in between.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, field
from collections.abc import Awaitable
from typing import Callable

from pydantic import BaseModel

from bench.acquisition import Sampler
from bench.trace import Trace
from bench.capabilities import FEATURES, NOT_SUPPORTED_CODES, Capabilities, feature_of_action
from bench.clock import Clock, iso_utc
from bench.config import PositionConfig, TolerancesConfig
from bench.csms import Dut
from bench.csms.dut import DutCallError, DutError, DutTimeout
from bench.csms.events import EventKind, FindingKind
from bench.ev_model import EvModel
from bench.memory import MemoryProbe
from instruments.iec61851 import CpState
from bench.record import CheckRecord, Measurement, ScenarioRecord, StepRecord, Verdict, combine, judge
from bench.scenario.model import CheckSpec, Scenario, above_rating
from bench.scenario.rules import cite
from bench.scenario.library import STEPS
from bench.scenario.steps import NotApplicable, NotSupportedByDut, StepContext, StepFailed, TagPresenter
from bench.scenario.steps_soak import marks_of
from bench.checks.timeline import Timeline, TxSpan, mono_mapper, utc_mapper
from bench.checks.base import RULE_OCPP_J, CheckInputs
from bench.checks.library import CHECKS, run_check
from bench.checks.plan import plan_on
from instruments.roles import InstrumentError

log = logging.getLogger(__name__)
UNPLUGGED_DWELL_S = 1.0
RECORD_MARGIN_S = 5.0  # trace kept around a scenario for timestamps of coarse resolution
PASSIVE_STEPS = frozenset({"hold", "wait_for"})  # steps that change nothing on the bench or the DUT


@dataclass
class PositionRuntime:
    """Everything one position needs during a run."""

    config: PositionConfig
    tolerances: TolerancesConfig
    clock: Clock
    dut: Dut
    ev: EvModel | None
    trace: Trace
    sampler: Sampler
    tag_presenter: TagPresenter | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    memory: MemoryProbe | None = None  # memory_mark steps (soaks)
    settled_boot_index: int = -1  # the last boot event the position reset has dealt with
    verdict_mode: str = "strict"  # bench.verdict_mode: what the DUT's protocol findings do to a verdict

    @property
    def protocol_only(self) -> bool:
        """No instruments on this position: protocol checks run, physical ones are SKIPPED."""
        return not self.config.instruments

    def health(self) -> str | None:
        """Why the position's instruments can no longer be trusted, if they cannot."""
        if self.sampler.lost:
            return self.sampler.lost
        if self.ev is not None and self.ev.failure:
            return f"EV model stopped: {self.ev.failure}"
        return None


FIRMWARE_FINAL = frozenset({"Installed", "DownloadFailed", "InstallationFailed", "InstallVerificationFailed",
                            "InvalidSignature", "SignatureError", "Idle"})


@dataclass(frozen=True)
class Skip:
    """Why a scenario does not run: `kind` is "not_applicable" (not defined for this OCPP version),
    "not_supported" (the DUT lacks an optional feature it needs) or "bench" (this bench lacks an
    instrument or a tag presenter it needs)."""

    kind: str
    reason: str


async def wait_for_dut(pos: PositionRuntime, timeout_s: float | None = None) -> None:
    """Wait until the DUT is connected again (after a reboot or an outage), for up to its declared
    reboot time: OCPP sets no limit, the vendor's figure does (dut.reboot_time_s)."""
    if pos.dut.connected:
        return
    limit = pos.capabilities.reboot_time_s if timeout_s is None else timeout_s
    log.info("%s: not connected; waiting up to %g s (dut.reboot_time_s)", pos.dut.cp_id, limit)
    await pos.dut.wait_connected(limit)


async def _settle_firmware(pos: PositionRuntime) -> None:
    """A firmware update still in progress finishes (or the DUT reboots) before the next scenario."""
    updates = [e for e in pos.dut.events if e.kind == "firmware_status"]
    if not updates or updates[-1].data.get("status") in FIRMWARE_FINAL:
        return
    mark = pos.dut.mark()
    try:
        await pos.dut.wait_for("firmware_status", lambda e: e.data.get("status") in FIRMWARE_FINAL,
                               timeout_s=pos.capabilities.reboot_time_s, since_index=mark)
    except DutError as exc:
        log.warning("%s: firmware update still in progress: %s", pos.dut.cp_id, exc)


async def _restore_settings(dut: Dut) -> None:
    """Put back every configuration key / variable the scenario changed (snapshot taken by the Dut
    before the first change); a value that could not be read before is left as it is, and said so."""
    for key, before in list(dut.changed_keys.items()):
        if before is None:
            log.warning("%s: %s was changed but its earlier value is unknown: left as it is", dut.cp_id, key)
            continue
        try:
            await dut.change_configuration(key, before)
        except DutError as exc:
            log.warning("%s: could not restore %s=%s: %s", dut.cp_id, key, before, exc)
    restore = [(ref, before) for ref, before in dut.changed_variables.items() if before is not None]
    if restore:
        try:
            await dut.set_variables(restore)
        except DutError as exc:
            log.warning("%s: could not restore variables: %s", dut.cp_id, exc)


async def _logged(pos: PositionRuntime, what: str, call) -> None:
    """A clean-up command the DUT may refuse: its refusal is logged, never fatal. A NotSupported
    answer also tells what the DUT lacks, so later scenarios needing it are skipped up front."""
    try:
        await call
    except DutCallError as exc:
        log.warning("position reset: %s: %s", what, exc)
        if exc.code in NOT_SUPPORTED_CODES:
            _unsupported_call(pos, exc)
    except DutError as exc:
        log.warning("position reset: %s: %s", what, exc)


async def _await_accepted(pos: PositionRuntime) -> None:
    """After a boot answered Rejected the DUT retries after the interval, and no CALL may go to it
    until then (1.6 section 4.2: a rejected Charge Point takes no requests; 2.0.1 B03.FR.04). While
    Pending the CSMS may send requests (1.6 section 4.2, B02), so nothing is awaited then. A DUT
    that never retries is awaited once (interval + its reboot time), then the run goes on."""
    boots = [i for i, e in enumerate(pos.dut.events) if e.kind == "boot"]
    if not boots or boots[-1] <= pos.settled_boot_index:
        return
    last = pos.dut.events[boots[-1]]
    pos.settled_boot_index = boots[-1]
    if last.data.get("status", "Accepted") != "Rejected":
        return
    wait_s = float(last.data.get("interval") or 0) + pos.capabilities.reboot_time_s
    try:
        await pos.dut.wait_for("boot", timeout_s=wait_s, since_index=boots[-1] + 1)
    except DutError as exc:
        log.warning("%s: rejected and no new BootNotification: %s", pos.dut.cp_id, exc)


async def reset_position(pos: PositionRuntime) -> None:
    """Known state between scenarios, undoing only what the DUT supports and the scenario changed:
    offline windows and queued boot answers ended, DUT connected again, transaction stopped, EV
    unplugged, loads off, reservations cancelled, firmware update settled, settings restored,
    profiles cleared (Smart Charging only), every connector operative."""
    server = pos.dut.server
    if server is not None:
        server.back_online(pos.dut.cp_id)
    pos.dut.set_boot_answer("Accepted", times=0)
    await wait_for_dut(pos)
    await _await_accepted(pos)
    tx = pos.dut.active_transaction(1)
    if tx is not None:
        mark = pos.dut.mark()
        try:
            status = await pos.dut.remote_stop(tx.transaction_id)
            if status == "Accepted":  # a Rejected stop ends nothing: unplugging below ends it
                await pos.dut.wait_for("transaction_stopped", timeout_s=pos.dut.default_timeout_s, since_index=mark)
        except DutError as exc:
            log.warning("position reset: RemoteStop %s: %s (unplugging ends it)", tx.transaction_id, exc)
    if pos.ev is not None:
        await pos.ev.set_state(CpState.A)
        # a cable stays out for a moment, as by hand: a DUT samples the CP line periodically and
        # must see state A, or it takes the next plug-in for the same session
        await pos.clock.sleep(UNPLUGGED_DWELL_S)
    await wait_for_dut(pos)
    for reservation_id in sorted(pos.dut.open_reservations):
        await _logged(pos, f"CancelReservation {reservation_id}", pos.dut.cancel_reservation(reservation_id))
    await _settle_firmware(pos)
    await wait_for_dut(pos)
    await _restore_settings(pos.dut)
    if pos.capabilities.supports("SmartCharging"):
        await _logged(pos, "ClearChargingProfile", pos.dut.clear_charging_profile())
    if any(pos.dut.status(c) == "Unavailable" for c in range(0, pos.config.dut.connectors + 1)):
        await _logged(pos, "ChangeAvailability Operative", pos.dut.change_availability(0, "Operative"))
    pos.dut.journal_clear()


def why_skipped(pos: PositionRuntime, scenario: Scenario) -> Skip | None:
    """Why the scenario cannot run on this position, decided before its first step."""
    version = pos.dut.ocpp_version or pos.config.dut.ocpp_version
    if version not in scenario.ocpp_versions:
        return Skip("not_applicable", f"not defined for OCPP {version} (only {', '.join(scenario.ocpp_versions)})")
    features = [n for n in scenario.needs if n in FEATURES]
    if pos.capabilities.unsupported(features):
        return Skip("not_supported", pos.capabilities.why_not(features))
    if "ev_emulator" in scenario.needs and pos.ev is None:
        return Skip("bench", "no EV emulator on this bench (position has no ev instrument)")
    if "tag_presenter" in scenario.needs and pos.tag_presenter is None:
        return Skip("bench", "no RFID tag presenter on this bench")
    if (why := above_rating(scenario, pos.config)) is not None:
        return Skip("bench", why)
    return None


async def _watched(pos: PositionRuntime, step: Awaitable[None]) -> None:
    """Run a step, stopped the moment the position loses an instrument (the sampler gave up on a
    link, or the EV model stopped): a hold must not go on with the loads on and nothing recorded.
    The scenario then ends in ERROR and the run's teardown switches the loads off."""
    task = asyncio.ensure_future(step)
    watched = [t for t in (pos.sampler.task, pos.ev.task if pos.ev else None) if t is not None and not t.done()]
    try:
        await asyncio.wait({task, *watched}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():  # an instrument is gone, or the run was interrupted
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        raise InstrumentError(pos.health() or "an instrument task of the position ended during the step")
    task.result()


def interruption(exc: asyncio.CancelledError) -> str:
    """Why a run was stopped: the cancel message (bench/cli.py gives SIGTERM's), else Ctrl-C."""
    return str(exc.args[0]) if exc.args and exc.args[0] else "interrupted by SIGINT (Ctrl-C)"


@dataclass
class StepOutcome:
    """How a step ended for its scenario: fine, the DUT did not do what is required (`failure`,
    a FAIL), or the scenario cannot go on here (`skip`, SKIPPED)."""

    failure: str | None = None
    skip: Skip | None = None


class ScenarioRun:
    """One scenario in progress on a position: its record, the expected-limit timeline and the
    step context. `run_scenario` drives it from a scenario file; the pytest plugin
    (bench/testing) one step and one check at a time, from a test."""

    def __init__(self, pos: PositionRuntime, rec: ScenarioRecord,
                 on_event: Callable[..., None] | None = None) -> None:
        self.pos, self.rec, self.on_event = pos, rec, on_event
        self.step_failure: str | None = None
        self.skipped: Skip | None = None
        clock = pos.clock
        self.anchor_mono, self.anchor_utc = clock.monotonic(), clock.utcnow()
        dut_cfg = pos.config.dut
        self.timeline = Timeline(1, dut_cfg.rated_current_a, dut_cfg.nominal_voltage_v, dut_cfg.phases,
                                 utc_mapper(self.anchor_mono, self.anchor_utc))
        self.ctx = StepContext(clock, pos.config, pos.tolerances, pos.dut, pos.ev, self.timeline, pos.tag_presenter,
                               event_cursor=pos.dut.mark(), capabilities=pos.capabilities, memory=pos.memory)

    @property
    def version(self) -> str:
        return self.pos.dut.ocpp_version or self.pos.config.dut.ocpp_version

    def begin(self, sampling_rate_hz: float | None) -> None:
        pos, rec = self.pos, self.rec
        pos.sampler.set_rate(sampling_rate_hz)
        pos.trace.forget_before(self.anchor_mono - RECORD_MARGIN_S)  # what earlier scenarios needed is on disk
        rec.t_start_mono_s, rec.utc_start = self.anchor_mono, iso_utc(self.anchor_utc)
        self.timeline.note_profiles(self.anchor_mono)
        self.timeline.note_ev_state(self.anchor_mono, pos.ev.state if pos.ev else CpState.A)
        self.timeline.note_ev_max(self.anchor_mono, pos.config.ev.max_current_a)

    async def step(self, name: str, args: BaseModel, total: int) -> StepOutcome:
        """Run one library step, recorded; the DUT's wrong answers and what it does not support come
        back as the outcome, a bench error (an instrument lost, an unexpected CALLERROR) is raised."""
        pos, clock, rec, on_event = self.pos, self.pos.clock, self.rec, self.on_event
        i = len(rec.steps)
        srec = StepRecord(i, name, args.model_dump(mode="json", exclude_defaults=True), clock.monotonic(),
                          utc_start=iso_utc(clock.utcnow()))
        rec.steps.append(srec)
        if on_event:
            on_event("step_started", position=pos.config.name, scenario=rec.name, index=i + 1, total=total,
                     name=name, args=srec.args, t_mono_s=srec.t_start_mono_s, timeline=self.timeline, dut=pos.dut)
        outcome = StepOutcome()
        try:
            await _watched(pos, STEPS[name].run(self.ctx, args))
        except StepFailed as exc:
            srec.ok, srec.message = False, cite(name, str(exc), self.version)
            outcome.failure = f"step {i + 1} {name}: {srec.message}"
        except NotApplicable as exc:
            srec.ok, srec.message = False, f"not applicable: {exc}"
            outcome.skip = Skip("bench", f"step {i + 1} {name} {exc}")
        except NotSupportedByDut as exc:
            srec.ok, srec.message = False, f"not supported by the DUT: {exc}"
            outcome.skip = Skip("not_supported", f"step {i + 1} {name}: not supported by the DUT: {exc}")
        except DutTimeout as exc:
            # a request the DUT never answered (or the messages its answer promised never came)
            # on the bench's own link: the charger's fault. OCPP-J 4.1.1 leaves the timeout to
            # the implementation; the bench's is DEFAULT_TIMEOUT_S unless the step says
            srec.ok, srec.message = False, cite(name, f"{exc} ({exc.rule})", self.version)
            outcome.failure = f"step {i + 1} {name}: {srec.message}"
        except DutCallError as exc:
            if exc.code not in NOT_SUPPORTED_CODES:
                raise
            unsupported = _unsupported_call(pos, exc)
            srec.ok, srec.message = False, unsupported.reason
            if unsupported.kind == "not_supported":
                outcome.skip = Skip("not_supported", f"step {i + 1} {name}: {unsupported.reason}")
            else:
                outcome.failure = f"step {i + 1} {name}: {unsupported.reason}"
        finally:
            srec.t_end_mono_s = clock.monotonic()
            if on_event:
                on_event("step_finished", position=pos.config.name, scenario=rec.name, index=i + 1, total=total,
                         name=name, ok=srec.ok, message=srec.message, t_mono_s=srec.t_end_mono_s,
                         timeline=self.timeline, dut=pos.dut)
        self.step_failure = self.step_failure or outcome.failure
        self.skipped = self.skipped or outcome.skip
        if not (outcome.failure or outcome.skip) and (why := pos.health()) is not None:
            raise InstrumentError(why)
        return outcome

    def fail(self, exc: BaseException) -> None:
        """A bench error in the middle of the scenario: it ends in ERROR (the last step with it)."""
        rec = self.rec
        rec.error = f"{type(exc).__name__}: {exc}"
        if rec.steps:
            rec.steps[-1].ok, rec.steps[-1].message = False, rec.error
        if isinstance(exc, DutError | InstrumentError):  # expected on a real bench: one line, no traceback
            log.error("scenario %s: %s", rec.name, rec.error)
        else:
            log.error("scenario %s: bench error", rec.name, exc_info=exc)

    async def covered(self) -> float:
        """Now, with the position's trace reaching it (one sampling period at most)."""
        now = self.pos.clock.monotonic()
        await self.pos.sampler.covered(now)
        return now

    def check(self, spec: CheckSpec, t0: float, t1: float, overlapping: bool = False) -> CheckRecord:
        """One check over [t0, t1] of what was recorded, against the expected-limit timeline.
        `overlapping`: the transactions running in the window count, not only those started in it
        (a window inside a test, e.g. after one more limit)."""
        inputs = self.check_inputs(t0, t1, overlapping)
        return self._one_check(spec, inputs)

    def check_inputs(self, t0: float, t1: float, overlapping: bool = False) -> CheckInputs:
        expected = self.expected(t0, t1, overlapping)
        txs = self.transactions(t0, t1, overlapping)
        trace = self.pos.trace
        # a MeterValue stamped to the second may point just outside the window: its reference comes
        # from the trace around it (RECORD_MARGIN_S), not a NaN
        return CheckInputs(self.pos.config, self.pos.tolerances, t0, t1, trace.columns(t0, t1), expected, txs,
                           mono_mapper(self.anchor_mono, self.anchor_utc),
                           record_trace=trace.columns(t0 - RECORD_MARGIN_S, t1 + RECORD_MARGIN_S),
                           memory_marks=marks_of(self.ctx))

    def transactions(self, t0: float, t1: float, overlapping: bool = False) -> list:
        """The DUT's transactions started in [t0, t1] (`overlapping`: also those running in it)."""
        def counts(tx) -> bool:
            if tx.t_start_mono_s is None or tx.t_start_mono_s > t1:
                return False
            if overlapping:
                return tx.t_start_mono_s >= self.anchor_mono and (tx.t_stop_mono_s is None or tx.t_stop_mono_s >= t0)
            return tx.t_start_mono_s >= t0
        return [tx for tx in self.pos.dut.transactions.values() if counts(tx)]

    def expected(self, t0: float, t1: float, overlapping: bool = False):
        spans = [TxSpan(tx.transaction_id, tx.connector_id, tx.t_start_mono_s,
                        tx.t_stop_mono_s if tx.t_stop_mono_s is not None and tx.t_stop_mono_s <= t1 else None,
                        tx.start_timestamp) for tx in self.transactions(t0, t1, overlapping)]
        expected = self.timeline.expected(t0, t1, spans)
        # A command may change the DUT's behaviour as soon as it is sent, before the DUT's own
        # message (e.g. StopTransaction) tells the bench: settle from the command too.
        expected.changes = sorted(set(expected.changes) | {
            st.t_start_mono_s for st in self.rec.steps if st.name not in PASSIVE_STEPS})
        return expected

    def _one_check(self, spec: CheckSpec, inputs: CheckInputs) -> CheckRecord:
        if self.pos.protocol_only and CHECKS[spec.name].physical:
            self.rec.not_measured.append(spec.name)
            return CheckRecord(spec.name, Verdict.SKIPPED, message=(
                "not measured: protocol-only position (no instruments configured)"))
        inputs.params = spec.args
        return run_check(spec.name, inputs)

    async def end(self, interrupted: bool) -> None:
        pos, rec = self.pos, self.rec
        pos.sampler.set_rate(None)
        if pos.memory is not None:
            pos.memory.stop()
        rec.t_end_mono_s, rec.utc_end = pos.clock.monotonic(), iso_utc(pos.clock.utcnow())
        rec.profiles_sent = self.ctx.profiles_sent
        if not interrupted:
            # judge with the trace reaching the scenario's end (one sampling period at most)
            await pos.sampler.covered(rec.t_end_mono_s)

    def judge(self, checks: tuple[CheckSpec, ...] = ()) -> None:
        """The scenario's verdict: SKIPPED with the reason, or its steps, protocol conformance and
        `checks` over the whole scenario, next to the checks already in the record."""
        rec = self.rec
        if self.skipped and not rec.error:
            rec.skipped, rec.skip_kind, rec.verdict = self.skipped.reason, self.skipped.kind, Verdict.SKIPPED
        else:
            _judge(self, checks)


async def run_scenario(pos: PositionRuntime, scenario: Scenario, on_step: Callable[[str], None] | None = None,
                       on_event: Callable[..., None] | None = None,
                       started: Callable[[ScenarioRecord], None] | None = None) -> ScenarioRecord:
    """One scenario on one position. `started` gets its record as soon as it exists, so a run
    stopped mid-scenario still records it (verdict ERROR, with the reason)."""
    rec = ScenarioRecord(scenario.name, scenario.file, pos.config.name, scenario.description,
                         charge_point_id=pos.config.dut.charge_point_id, block=scenario.block,
                         ocpp_ids=list(scenario.ocpp_ids),
                         plan=[asdict(row) for row in plan_on(scenario, pos.config, pos.tolerances)])
    if started:
        started(rec)
    if (skip := why_skipped(pos, scenario)) is not None:
        return _skip(pos, rec, skip)
    run = ScenarioRun(pos, rec, on_event)
    run.begin(scenario.sampling_rate_hz)
    interrupted = False
    try:
        for i, step in enumerate(scenario.steps):
            if on_step:
                on_step(f"{scenario.name}: step {i + 1}/{len(scenario.steps)} {step.name}")
            outcome = await run.step(step.name, step.args, len(scenario.steps))
            if outcome.failure or outcome.skip:
                break
    except asyncio.CancelledError as exc:
        interrupted = True
        rec.error = interruption(exc)
        raise
    except Exception as exc:
        run.fail(exc)
    finally:
        await run.end(interrupted)
        run.judge(scenario.checks)
    return rec


def protocol_conformance(pos: PositionRuntime, t0: float, t1: float,
                         reconnect_from: float | None = None) -> CheckRecord:
    """The DUT's protocol findings during the scenario (malformed frames, schema violations,
    unknown actions, stray answers, a dropped connection, ...; bench/csms), each with its frame in
    the record. Strict: any finding FAILs; compatibility: they are reported, the verdict stands on
    the other checks. A dropped connection is expected from `reconnect_from` on (a step that makes
    the DUT reconnect started then)."""
    found = [f for f in pos.dut.findings if t0 <= f.t_mono_s <= t1
             and not (f.kind == FindingKind.CONNECTION_DROPPED and reconnect_from is not None
                      and f.t_mono_s >= reconnect_from)]
    listed = "; ".join(f"{f.kind}{f' ({f.action})' if f.action else ''}: {f.detail[:200]}" for f in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    if pos.verdict_mode == "compatibility":
        m = Measurement("protocol_findings", float(len(found)), "count", None, None, Verdict.PASS, t1,
                        note=(f"reported, not judged (bench.verdict_mode: compatibility): {listed}{more}" if found
                              else "no protocol finding"), rule=RULE_OCPP_J)
    else:
        m = judge("protocol_findings", float(len(found)), "count", None, 0.0, t_mono_s=t1, rule=RULE_OCPP_J,
                  note=f"{listed}{more}" if found else "no protocol finding")
    message = f"{len(found)} protocol finding(s): {listed}{more}" if found and m.verdict is Verdict.FAIL else ""
    return CheckRecord("protocol_conformance", m.verdict, [m], message, params={"verdict_mode": pos.verdict_mode},
                       samples=len(found))


def _skip(pos: PositionRuntime, rec: ScenarioRecord, skip: Skip) -> ScenarioRecord:
    now = pos.clock.monotonic()
    rec.t_start_mono_s = rec.t_end_mono_s = now
    rec.utc_start = rec.utc_end = iso_utc(pos.clock.utcnow())
    rec.skipped, rec.skip_kind, rec.verdict = skip.reason, skip.kind, Verdict.SKIPPED
    return rec


def _unsupported_call(pos: PositionRuntime, exc: DutCallError) -> Skip:
    """A CALLERROR NotImplemented/NotSupported: "not supported" for an optional feature (and later
    scenarios needing it are skipped before their first step), a FAIL for a required message."""
    version = pos.dut.ocpp_version or pos.config.dut.ocpp_version
    feature = feature_of_action(exc.action, version)
    if feature is not None:
        pos.capabilities.mark_unsupported(feature, f"answered {exc.action} with CALLERROR {exc.code}")
        return Skip("not_supported", f"{feature} ({exc.action} answered CALLERROR {exc.code})")
    rule = ("OCPP 1.6 section 3: the Core profile is required of every Charge Point" if version == "1.6"
            else f"OCPP {version}: {exc.action} is part of the Core functionality every Charging Station implements")
    return Skip("fail", f"{exc.action} answered CALLERROR {exc.code}, but it is required ({rule})")


def _connection_events(pos: PositionRuntime, rec: ScenarioRecord, t0: float, t1: float) -> None:
    """The DUT's connects, disconnects and replaced connections during the scenario go into its
    record. Two live clients with the DUT's id (a replaced connection that was still alive) make
    the scenario ERROR: what came over the link may not be the DUT's, and the bench cannot vouch
    for that evidence. A DUT reconnecting over its own dead socket (after a reboot) is no error."""
    kinds = (EventKind.CONNECTED, EventKind.DISCONNECTED, EventKind.RIVAL_CONNECTION)
    events = [e for e in pos.dut.events if e.kind in kinds and t0 <= e.t_mono_s <= t1]
    rec.connection_events = [{"t_mono_s": e.t_mono_s, "event": e.kind,
                              **{k: str(v) for k, v in e.data.items()}} for e in events]
    if any(e.kind == EventKind.RIVAL_CONNECTION for e in events):
        rec.error = rec.error or ("another client connected with the DUT's id while the DUT's connection was "
                                  "alive: the bench cannot vouch for what came over the link")


def _judge(run: ScenarioRun, checks: tuple[CheckSpec, ...]) -> None:
    pos, rec = run.pos, run.rec
    t0, t1 = rec.t_start_mono_s, rec.t_end_mono_s
    step_failure = run.step_failure
    _connection_events(pos, rec, t0, t1)
    try:
        expected = run.expected(t0, t1)
        rec.expected_limit = [[t, v] for t, v in expected.limit_a]
    except Exception as exc:
        rec.error = rec.error or f"expected limit: {type(exc).__name__}: {exc}"
        expected = None
    if step_failure or not rec.error:
        answers = judge("dut_answers_not_as_required", 1 if step_failure else 0, "count", None, 0,
                        note=step_failure or f"{len(rec.steps)} steps done as a compliant charger requires")
        rec.checks.append(CheckRecord("step_expectations", answers.verdict, [answers], step_failure or ""))
        reconnecting = [st.t_start_mono_s for st in rec.steps if STEPS[st.name].reconnects]
        rec.checks.append(protocol_conformance(pos, t0, t1, min(reconnecting, default=None)))
    if expected is not None and not rec.error and checks:
        inputs = run.check_inputs(t0, t1)
        for check in checks:
            rec.checks.append(run._one_check(check, inputs))
    verdicts = [c.verdict for c in rec.checks]
    if rec.error:
        verdicts.append(Verdict.ERROR)
    rec.verdict = combine(verdicts)
    declared = rec.checks[-len(checks):] if checks and not rec.error else []
    if (rec.verdict is Verdict.PASS and declared and not rec.not_measured
            and all(c.verdict is Verdict.SKIPPED for c in declared)):
        # nothing the scenario is about applied here (e.g. TLS probes on a plain ws connection):
        # passing its steps alone is not a PASS of what it tests
        rec.verdict, rec.skip_kind = Verdict.SKIPPED, "not_applicable"
        rec.skipped = "; ".join(c.message for c in declared if c.message)
