"""Runs scenarios on one position: steps, then checks over what was recorded.

The position is put back into a known state before and after each scenario
(transaction stopped, EV unplugged, loads off, profiles cleared), whatever
happened in between.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from bench.acquisition import Sampler, Trace
from bench.clock import Clock, iso_utc
from bench.config import PositionConfig, TolerancesConfig
from bench.csms import Dut
from bench.ev_model import EvModel
from bench.iec61851 import CpState
from bench.record import CheckRecord, ScenarioRecord, StepRecord, Verdict, combine, judge
from bench.scenario.model import Scenario
from bench.scenario.library import STEPS
from bench.scenario.steps import NotApplicable, StepContext, StepFailed, TagPresenter
from bench.scenario.timeline import Timeline, TxSpan, mono_mapper, utc_mapper
from bench.verify import CHECKS, CheckInputs, run_check
from instruments.roles import InstrumentError

log = logging.getLogger(__name__)
UNPLUGGED_DWELL_S = 1.0
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


async def reset_position(pos: PositionRuntime, timeout_s: float = 20.0) -> None:
    """Known state between scenarios: no transaction, EV unplugged, loads off, no profiles,
    every connector operative."""
    tx = pos.dut.active_transaction(1)
    if tx is not None and pos.dut.connected:
        mark = pos.dut.mark()
        await pos.dut.remote_stop(tx.transaction_id)
        await pos.dut.wait_for("transaction_stopped", timeout_s=timeout_s, since_index=mark)
    if pos.ev is not None:
        await pos.ev.set_state(CpState.A)
        # a cable stays out for a moment, as by hand: a DUT samples the CP line periodically and
        # must see state A, or it takes the next plug-in for the same session
        await pos.clock.sleep(UNPLUGGED_DWELL_S)
    if pos.dut.connected:
        await pos.dut.clear_charging_profile()
        if any(pos.dut.status(c) == "Unavailable" for c in range(0, pos.config.dut.connectors + 1)):
            await pos.dut.change_availability(0, "Operative")  # a scenario that stopped half-way


def not_applicable(pos: PositionRuntime, scenario: Scenario) -> str | None:
    """Why the scenario does not apply to this position's DUT (its OCPP version), if it does not."""
    version = pos.dut.ocpp_version or pos.config.dut.ocpp_version
    if version not in scenario.ocpp_versions:
        return f"not defined for OCPP {version} (only {', '.join(scenario.ocpp_versions)})"
    return None


async def run_scenario(pos: PositionRuntime, scenario: Scenario, on_step: Callable[[str], None] | None = None,
                       on_event: Callable[..., None] | None = None) -> ScenarioRecord:
    clock = pos.clock
    rec = ScenarioRecord(scenario.name, scenario.file, pos.config.name, scenario.description,
                         charge_point_id=pos.config.dut.charge_point_id, block=scenario.block,
                         ocpp_ids=list(scenario.ocpp_ids))
    if (why := not_applicable(pos, scenario)) is not None:
        return _skip(pos, rec, why)
    anchor_mono, anchor_utc = clock.monotonic(), clock.utcnow()
    rec.t_start_mono_s, rec.utc_start = anchor_mono, iso_utc(anchor_utc)
    dut_cfg = pos.config.dut
    timeline = Timeline(1, dut_cfg.rated_current_a, dut_cfg.nominal_voltage_v, dut_cfg.phases,
                        utc_mapper(anchor_mono, anchor_utc))
    ctx = StepContext(clock, pos.config, pos.tolerances, pos.dut, pos.ev, timeline, pos.tag_presenter,
                      event_cursor=pos.dut.mark())
    timeline.note_profiles(anchor_mono)
    timeline.note_ev_state(anchor_mono, pos.ev.state if pos.ev else CpState.A)
    timeline.note_ev_max(anchor_mono, pos.config.ev.max_current_a)
    step_failure: str | None = None
    skipped: str | None = None
    try:
        for i, step in enumerate(scenario.steps):
            srec = StepRecord(i, step.name, step.args.model_dump(exclude_defaults=True), clock.monotonic(),
                              utc_start=iso_utc(clock.utcnow()))
            rec.steps.append(srec)
            if on_step:
                on_step(f"{scenario.name}: step {i + 1}/{len(scenario.steps)} {step.name}")
            if on_event:
                on_event("step_started", position=pos.config.name, scenario=scenario.name, index=i + 1,
                         total=len(scenario.steps), name=step.name, args=srec.args, t_mono_s=srec.t_start_mono_s,
                         timeline=timeline, dut=pos.dut)
            try:
                await STEPS[step.name].run(ctx, step.args)
            except StepFailed as exc:
                srec.ok, srec.message = False, str(exc)
                step_failure = f"step {i + 1} {step.name}: {exc}"
                break
            except NotApplicable as exc:
                srec.ok, srec.message = False, f"not applicable: {exc}"
                skipped = f"step {i + 1} {step.name} {exc}"
                break
            finally:
                srec.t_end_mono_s = clock.monotonic()
                if on_event:
                    on_event("step_finished", position=pos.config.name, scenario=scenario.name, index=i + 1,
                             total=len(scenario.steps), name=step.name, ok=srec.ok, message=srec.message,
                             t_mono_s=srec.t_end_mono_s, timeline=timeline, dut=pos.dut)
            if (why := pos.health()) is not None:
                raise InstrumentError(why)
    except asyncio.CancelledError:
        rec.error = "run interrupted"
        raise
    except Exception as exc:
        rec.error = f"{type(exc).__name__}: {exc}"
        if rec.steps:
            rec.steps[-1].ok, rec.steps[-1].message = False, rec.error
        log.exception("scenario %s: bench error", scenario.name)
    finally:
        rec.t_end_mono_s, rec.utc_end = clock.monotonic(), iso_utc(clock.utcnow())
        rec.profiles_sent = ctx.profiles_sent
        if skipped and not rec.error:
            rec.skipped, rec.verdict = skipped, Verdict.SKIPPED
        else:
            _judge(pos, scenario, rec, timeline, step_failure, anchor_mono, anchor_utc)
    return rec


def _skip(pos: PositionRuntime, rec: ScenarioRecord, why: str) -> ScenarioRecord:
    now = pos.clock.monotonic()
    rec.t_start_mono_s = rec.t_end_mono_s = now
    rec.utc_start = rec.utc_end = iso_utc(pos.clock.utcnow())
    rec.skipped, rec.verdict = why, Verdict.SKIPPED
    return rec


def _judge(pos: PositionRuntime, scenario: Scenario, rec: ScenarioRecord, timeline: Timeline,
           step_failure: str | None, anchor_mono: float, anchor_utc) -> None:
    t0, t1 = rec.t_start_mono_s, rec.t_end_mono_s
    txs = [tx for tx in pos.dut.transactions.values()
           if tx.t_start_mono_s is not None and t0 <= tx.t_start_mono_s <= t1]
    spans = [TxSpan(tx.transaction_id, tx.connector_id, tx.t_start_mono_s,
                    tx.t_stop_mono_s if tx.t_stop_mono_s is not None and tx.t_stop_mono_s <= t1 else None,
                    tx.start_timestamp) for tx in txs]
    try:
        expected = timeline.expected(t0, t1, spans)
        # A command may change the DUT's behaviour as soon as it is sent, before the DUT's own
        # message (e.g. StopTransaction) tells the bench: settle from the command too.
        expected.changes = sorted(set(expected.changes) | {
            st.t_start_mono_s for st in rec.steps if st.name not in PASSIVE_STEPS})
        rec.expected_limit = [[t, v] for t, v in expected.limit_a]
    except Exception as exc:
        rec.error = rec.error or f"expected limit: {type(exc).__name__}: {exc}"
        expected = None
    if step_failure or not rec.error:
        answers = judge("dut_answers_not_as_required", 1 if step_failure else 0, "count", None, 0,
                        note=step_failure or f"{len(rec.steps)} steps done as a compliant charger requires")
        rec.checks.append(CheckRecord("step_expectations", answers.verdict, [answers], step_failure or ""))
    if expected is not None and not rec.error:
        inputs = CheckInputs(pos.config, pos.tolerances, t0, t1, pos.trace.columns(t0, t1), expected, txs,
                             mono_mapper(anchor_mono, anchor_utc))
        for check in scenario.checks:
            if pos.protocol_only and CHECKS[check.name].physical:
                rec.checks.append(CheckRecord(check.name, Verdict.SKIPPED, message=(
                    "not measured: protocol-only position (no instruments configured)")))
                rec.not_measured.append(check.name)
                continue
            inputs.params = check.args
            rec.checks.append(run_check(check.name, inputs))
    verdicts = [c.verdict for c in rec.checks]
    if rec.error:
        verdicts.append(Verdict.ERROR)
    rec.verdict = combine(verdicts)
    declared = rec.checks[-len(scenario.checks):] if scenario.checks and not rec.error else []
    if (rec.verdict is Verdict.PASS and declared and not rec.not_measured
            and all(c.verdict is Verdict.SKIPPED for c in declared)):
        # nothing the scenario is about applied here (e.g. TLS probes on a plain ws connection):
        # passing its steps alone is not a PASS of what it tests
        rec.verdict, rec.skipped = Verdict.SKIPPED, "; ".join(c.message for c in declared if c.message)
