"""One bench run from validated inputs to the record: the run flow of DESIGN.md.

CSMS up -> (virtual lab up) -> instruments opened and put in the safe state ->
sampler and EV model running -> DUT connected and booted -> scenarios ->
teardown on every path (loads off, EV unplugged, traces flushed, record
written atomically) -> reports.
"""
from __future__ import annotations

import asyncio
import inspect
import contextlib
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.acquisition import READ_TIMEOUT_S, WARPED_READ_TIMEOUT_S, PositionInstruments, Sampler
from bench.trace import Trace
from bench.clock import Clock, WarpClock, iso_utc
from bench.memory import MemoryProbe
from bench.config import LabConfig, PositionConfig, config_digest
from bench.csms import CsmsServer, CsmsSettings, MessageLog
from bench.csms.dut import DutError, DutNotConnected, DutTimeout
from bench.discovery import discover
from bench.ev_model import EvModel, EvSettings
from bench.record import RunRecord, ScenarioRecord, Verdict
from bench.scenario.model import Scenario
from bench.scenario.runner import PositionRuntime, interruption, reset_position, run_scenario, why_skipped
from bench.security import certificates, csms_security
from instruments.registry import create_instrument, open_and_identify
from instruments.roles import AcLoad, EvEmulator, Instrument, InstrumentError, PowerMeter, Ratings

log = logging.getLogger(__name__)
BOOT_AFTER_CONNECT_S = 10.0  # a charger boots right after connecting; past this it is taken as already running
# What the run tells a live view (bench/live.py), as on_event(kind, **data):
#   run_started(suite, run_dir, scenarios, positions)   position_ready(position, trace)
#   scenario_started(position, name, index, total)      scenario_finished(position, name, verdict, duration_s, message)
#   step_started / step_finished (from bench/scenario/runner.py)   run_finished(verdict, error)
EventSink = Callable[..., None]


def _no_event(kind: str, **data: Any) -> None:
    pass


@dataclass
class RunOptions:
    config_path: Path
    scenarios: list[Scenario]
    suite: str
    out_dir: Path
    fault: str | None = None
    dut_wait_s: float | None = None  # how long to wait for the DUT to connect (None: its reboot time)
    on_progress: Callable[[str], None] = lambda msg: None
    on_event: EventSink = _no_event  # structured progress for a live view; see the kinds above


@dataclass
class _Opened:
    """What teardown must undo, filled in as the run comes up."""

    instruments: list[Instrument] = field(default_factory=list)
    ev_models: list[EvModel] = field(default_factory=list)
    samplers: list[Sampler] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)


def suite_name(suite: str, fault: str | None) -> str:
    """A run with an injected fault says so in its name (and so in its folder and reports)."""
    return f"{suite}-fault-{fault}" if fault else suite


def tolerance_record(config: LabConfig, config_path: Path) -> dict[str, dict[str, object]]:
    """Every tolerance the checks apply, its value, where it was set and the rule behind it."""
    tol = config.tolerances
    return {name: {"value": getattr(tol, name),
                   "set_in": Path(config_path).name if name in tol.model_fields_set else "default",
                   "basis": field.description or ""}
            for name, field in type(tol).model_fields.items()}


def make_run_dir(out_dir: Path, suite: str, clock: Clock) -> Path:
    stamp = clock.utcnow().strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", suite).strip("-") or "suite"
    run_dir = Path(out_dir) / f"{stamp}-{safe}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = Path(out_dir) / f"{stamp}-{safe}-{n}"
    (run_dir / "traces").mkdir(parents=True)
    return run_dir


class BenchSession:
    """The bench up and down, the one bring-up `bench run` and the pytest plugin share:

        async with BenchSession(config, opts, clock, run_dir) as bench:
            ...  # bench.runtimes: one connected, booted, discovered position each

    Up: record started, CSMS listening, virtual lab (if configured), instruments opened and in
    the safe state, samplers and EV models running, every DUT connected and discovered. Down, on
    every exit path (an exception, Ctrl-C, a failed bring-up): EV unplugged, loads off, traces
    flushed, the lab and the CSMS stopped, the record finalized and written. An exception out of
    the body is recorded in `record.error` (ERROR) and not swallowed."""

    def __init__(self, config: LabConfig, opts: RunOptions, clock: Clock, run_dir: Path) -> None:
        self.config, self.opts, self.clock, self.run_dir = config, opts, clock, run_dir
        self.record = RunRecord(run_id=run_dir.name, suite=opts.suite, bench_name=config.bench.name,
                                utc_start=iso_utc(clock.utcnow()),
                                config_file=str(opts.config_path), config_digest=config_digest(opts.config_path),
                                ocpp_version=config.positions[0].dut.ocpp_version, fault=opts.fault,
                                virtual_lab=config.virtual_lab.enabled, t_start_mono_s=clock.monotonic())
        self.emit = _safe_sink(opts.on_event)
        self.runtimes: list[PositionRuntime] = []
        self.csms: CsmsServer | None = None
        self.lab: Any = None
        self._opened = _Opened()
        self._message_log: MessageLog | None = None

    async def __aenter__(self) -> BenchSession:
        try:
            await self._bring_up()
        except BaseException as exc:
            await self.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        record = self.record
        if isinstance(exc, asyncio.CancelledError):
            record.error = f"run {interruption(exc)}: the record holds what ran"
        elif isinstance(exc, ExpectedFailure | InstrumentError):  # the DUT never came, an instrument is
            log.error("%s", exc)                                  # unreachable: one clear line, no traceback
            record.error = str(exc)
        elif isinstance(exc, Exception):
            log.error("bench error", exc_info=exc)
            record.error = f"{type(exc).__name__}: {exc}"
        await self._tear_down()
        return False

    async def _bring_up(self) -> None:
        config, opts, clock, record, run_dir = self.config, self.opts, self.clock, self.record, self.run_dir
        record.speed = config.virtual_lab.speed
        if config.virtual_lab.enabled:
            knobs = config.virtual_lab.realism_on
            record.realism = "ideal" if knobs is None else knobs.model_dump(mode="json")
        record.clock = getattr(clock, "kind", "real")
        record.positions = {p.name: {"charge_point_id": p.dut.charge_point_id, "ocpp_version": p.dut.ocpp_version,
                                     "reaction_time_s": p.dut.reaction_time_s,
                                     "meter_accuracy_class": p.dut.meter_accuracy_class}
                            for p in config.positions}
        record.tolerances = tolerance_record(config, opts.config_path)
        record.write(run_dir)
        self.emit("run_started", suite=opts.suite, run_dir=run_dir, scenarios=list(opts.scenarios),
                  positions=[p.name for p in config.positions])
        self._message_log = MessageLog(run_dir / "ocpp.jsonl", clock)
        _warn_calibration(config, clock, opts)
        certs = certificates(config, clock)  # security profiles 2 and 3: made when missing
        self.csms = csms = CsmsServer(clock, csms_settings(config, certs), self._message_log,
                                      connections_path=run_dir / "connections.jsonl")
        await csms.start()
        record.security_profile = csms.security_profile
        for pos_info in record.positions.values():
            pos_info["security_profile"] = record.security_profile
        opts.on_progress(f"CSMS listening on {csms.url}")
        if config.virtual_lab.enabled:
            from bench.sim import virtual_lab  # the composition root: a real bench never loads the simulator

            self.lab = virtual_lab(clock, config, csms.url, fault=opts.fault, secure=True, certs=certs)
            self.config = config = await self.lab.start_instruments()
        for pos in config.positions:
            self.runtimes.append(await _bring_up(config, pos, clock, csms, run_dir, record, self._opened, self.lab))
        for pos in config.positions:
            self.emit("position_ready", position=pos.name, trace=run_dir / record.traces[pos.name])
        if self.lab is not None:
            await self.lab.start_chargers()
        for rt in self.runtimes:
            await _wait_for_dut(rt, opts, record, csms)

    async def _tear_down(self) -> None:
        record, clock, opened = self.record, self.clock, self._opened
        try:
            await _teardown(opened)
            if self.lab is not None:
                if self.csms is not None:
                    self.csms.ending()  # the simulated chargers' connections close now: no DUT finding
                await self.lab.stop()
            if self.csms is not None:
                await self.csms.stop()
        finally:
            if self._message_log is not None:
                self._message_log.close()
            record.t_end_mono_s, record.utc_end = clock.monotonic(), iso_utc(clock.utcnow())
            record.sampling = {pos: {"configured_hz": s.stats.configured_hz, "achieved_hz": s.stats.achieved_hz,
                                     "samples": s.stats.samples, "read_errors": s.stats.errors,
                                     "stalls": s.stats.stalls,
                                     "late_p50_ms": s.stats.late_p50_ms, "late_p99_ms": s.stats.late_p99_ms,
                                     "late_max_ms": s.stats.late_max_ms, "skipped_ticks": s.stats.skipped_ticks,
                                     "instruments": {name: asdict(i) for name, i in s.stats.instruments.items()}}
                               for pos, s in zip([p.name for p in self.config.positions], opened.samplers)}
            record.finalize_verdict()
            record.write(self.run_dir)
            self.emit("run_finished", verdict=record.verdict, error=record.error)


async def run_bench(config: LabConfig, opts: RunOptions, clock: Clock, run_dir: Path) -> RunRecord:
    session = BenchSession(config, opts, clock, run_dir)
    with contextlib.suppress(Exception):  # recorded by the session: record.error, verdict ERROR
        async with session as bench:
            record = bench.record
            results = await asyncio.gather(*(_run_position(rt, list(opts.scenarios), record, run_dir, opts,
                                                           bench.emit) for rt in bench.runtimes),
                                           return_exceptions=True)
            for res in results:
                if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                    record.error = record.error or f"{type(res).__name__}: {res}"
            record.complete = not record.error
    return session.record


def csms_settings(config: LabConfig, certs: Any) -> CsmsSettings:
    """The CSMS stub as the config describes it: ids, versions, security, path. `bench run` and
    `bench csms` alike (a stub on its own must not be laxer than the one a run uses)."""
    c = config.bench.csms
    return CsmsSettings(
        host=c.host, port=c.port, accepted_ids=[p.dut.charge_point_id for p in config.positions],
        cp_versions={p.dut.charge_point_id: p.dut.ocpp_version for p in config.positions},
        heartbeat_interval_s=c.heartbeat_interval_s, id_tags=dict(c.id_tags),
        security=csms_security(config, certs), path_prefix=c.path_prefix)


def _safe_sink(sink: EventSink) -> EventSink:
    """A broken progress display must never break a run."""
    def emit(kind: str, **data: Any) -> None:
        try:
            sink(kind, **data)
        except Exception:
            log.exception("progress event %s", kind)
    return emit


def _warn_calibration(config: LabConfig, clock: Clock, opts: RunOptions) -> None:
    today = clock.utcnow().date()
    for pos in config.positions:
        for name, spec in pos.instruments.items():
            if spec.calibration_due is not None and spec.calibration_due < today:
                opts.on_progress(f"WARNING: {pos.name}/{name} calibration was due {spec.calibration_due}: "
                                 "its readings are not traceable")


async def _bring_up(config: LabConfig, pos: PositionConfig, clock: Clock, csms: CsmsServer, run_dir: Path,
                    record: RunRecord, opened: _Opened, lab) -> PositionRuntime:
    ins = PositionInstruments()
    loads: list[tuple[int, AcLoad]] = []
    for name, spec in pos.instruments.items():
        r = spec.ratings
        inst = create_instrument(name, spec.driver, spec.address,
                                 Ratings(r.max_current_a, r.max_power_w, r.max_voltage_v),
                                 model=spec.model, **({"phase": spec.phase} if spec.phase else {}))
        opened.instruments.append(inst)
        identity = await open_and_identify(inst)  # refuses a model other than the configured one
        await inst.safe_state()
        record.instruments.append({"position": pos.name, "name": name, "driver": spec.driver, "role": spec.role,
                                   "address": spec.address, "identity": identity.__dict__,
                                   "ratings": r.model_dump(exclude_none=True),
                                   "calibration_due": (spec.calibration_due.isoformat()
                                                       if spec.calibration_due else None)})
        if isinstance(inst, PowerMeter):
            ins.meter = inst
        elif isinstance(inst, AcLoad):
            loads.append((spec.phase or 1, inst))
        elif isinstance(inst, EvEmulator):
            ins.ev = inst
    ins.loads = [load for _, load in sorted(loads, key=lambda x: x[0])]
    trace = Trace(run_dir / "traces" / f"{pos.name}.csv")
    opened.traces.append(trace)
    record.traces[pos.name] = f"traces/{pos.name}.csv"
    # Time-warped, a read's virtual time includes the CPU the whole lab waits for: a busy machine
    # must not pass for a stalled instrument (the simulators stall only when a test asks them to)
    read_timeout_s = WARPED_READ_TIMEOUT_S if isinstance(clock, WarpClock) else READ_TIMEOUT_S
    sampler = Sampler(clock, ins, trace, config.bench.sampling_rate_hz, read_timeout_s=read_timeout_s)
    opened.samplers.append(sampler)
    sampler.start()
    car_ev, car_loads = ins.ev, ins.loads
    if not pos.instruments:  # protocol-only: nothing measured; on the virtual lab, its own car plugs in
        record.positions[pos.name]["protocol_only"] = True
        if lab is not None:
            car_ev, car_loads = lab.protocol_only_car(pos.name, pos.ev.phases)
    ev = None
    if car_ev is not None:
        ev = EvModel(clock, car_ev, car_loads, EvSettings(pos.ev.max_current_a, pos.ev.phases, pos.ev.reaction_time_s))
        opened.ev_models.append(ev)
        ev.start()
    presenter = lab.tag_presenter(pos.name) if lab is not None else None
    # the simulated charger runs in this process: its package's allocations are the DUT's memory
    memory = MemoryProbe(Path(inspect.getfile(type(lab))).parent if lab is not None else None)
    return PositionRuntime(pos, config.tolerances, clock, csms.dut(pos.dut.charge_point_id), ev, trace, sampler,
                           presenter, memory=memory, verdict_mode=config.bench.verdict_mode)


class ExpectedFailure(Exception):
    """A failure the bench expects to meet (the DUT never connects, an instrument is unreachable):
    reported in one line, without a traceback; the record says what ran."""


async def _wait_for_dut(rt: PositionRuntime, opts: RunOptions, record: RunRecord, csms: CsmsServer) -> None:
    """The DUT connected and booted, then what it supports discovered and its metering set.

    A charger that is already running may only reconnect, without a new BootNotification: it is
    accepted. On 1.6 the bench asks it for one with TriggerMessage (section 5.17) to learn its
    identity; on 2.x a station already accepted rejects that (F06.FR.17), so the bench does not ask."""
    dut_cfg = rt.config.dut
    wait_s = opts.dut_wait_s if opts.dut_wait_s is not None else dut_cfg.reboot_time_s
    opts.on_progress(f"waiting up to {wait_s:g} s for {dut_cfg.charge_point_id} to connect to "
                     f"{csms.url}/{dut_cfg.charge_point_id}")
    try:
        await rt.dut.wait_connected(wait_s)
    except DutError:
        raise ExpectedFailure(
            f"{dut_cfg.charge_point_id} did not connect within {wait_s:g} s. It must connect to "
            f"{csms.url}/{dut_cfg.charge_point_id} with OCPP {dut_cfg.ocpp_version} "
            f"(ids this CSMS accepts: {', '.join(csms.settings.accepted_ids)}); "
            "wait longer with bench run --dut-wait SECONDS") from None
    try:
        await rt.dut.wait_for("boot", timeout_s=BOOT_AFTER_CONNECT_S, since_index=0)
    except DutError:
        await _ask_for_boot(rt)
    if rt.dut.identity is not None:
        record.dut = {"position": rt.config.name, "charge_point_id": dut_cfg.charge_point_id,
                      **{k: v for k, v in rt.dut.identity.__dict__.items() if v is not None}}
    version = rt.dut.ocpp_version or dut_cfg.ocpp_version
    rt.capabilities = await discover(rt.dut, dut_cfg, version)
    record.capabilities[rt.config.name] = rt.capabilities.as_record()
    for note in rt.capabilities.notes:
        opts.on_progress(f"[{rt.config.name}] {note}")
    # the same meaning on every OCPP version (1.6 configuration keys, 2.x SampledDataCtrlr variables)
    try:
        statuses = await rt.dut.configure_metering(dut_cfg.meter_sample_interval_s, rt.capabilities.sampled_data())
    except DutError as exc:
        log.warning("%s: metering not configured: %s", dut_cfg.charge_point_id, exc)
        statuses = {}
    for key, status in statuses.items():
        if status not in ("Accepted", "RebootRequired"):
            log.warning("%s: setting %s answered %s", dut_cfg.charge_point_id, key, status)


async def _ask_for_boot(rt: PositionRuntime) -> None:
    """Connected without a BootNotification: an already running charger. On 1.6 ask for one."""
    if (rt.dut.ocpp_version or rt.config.dut.ocpp_version) != "1.6":
        log.info("%s connected without a BootNotification: taken as already accepted", rt.dut.cp_id)
        return
    mark = rt.dut.mark()
    try:
        if await rt.dut.trigger_message("BootNotification") == "Accepted":
            await rt.dut.wait_for("boot", timeout_s=rt.dut.default_timeout_s, since_index=mark)
    except DutError as exc:
        log.info("%s connected without a BootNotification and sent none when asked (%s): taken as "
                 "already accepted", rt.dut.cp_id, exc)


async def _run_position(rt: PositionRuntime, scenarios: list[Scenario], record: RunRecord, run_dir: Path,
                        opts: RunOptions, emit: EventSink = _no_event) -> None:
    lost: str | None = None  # why the DUT is gone (it did not come back within its reboot time)
    for index, scenario in enumerate(scenarios, 1):
        opts.on_progress(f"[{rt.config.name}] {scenario.name}")
        emit("scenario_started", position=rt.config.name, name=scenario.name, index=index, total=len(scenarios))
        applies = why_skipped(rt, scenario) is None  # a scenario skipped up front changes nothing to undo
        if rt.dut.connected:
            lost = None
        try:
            if applies and lost is not None:
                raise DutNotConnected(lost)  # no new wait for each scenario: one reboot time was given
            if applies:
                await reset_position(rt)
        except Exception as exc:
            if isinstance(exc, DutNotConnected | DutTimeout) and not rt.dut.connected:
                lost = lost or f"the DUT is not connected (waited {rt.capabilities.reboot_time_s:g} s, " \
                               f"dut.reboot_time_s): {exc}"
            _not_run(rt, scenario, record, run_dir, emit, f"could not reset the position: {lost or exc}")
            continue
        in_progress: list[ScenarioRecord] = []
        try:
            rec = await run_scenario(rt, scenario, opts.on_progress, on_event=emit, started=in_progress.append)
        except asyncio.CancelledError:
            record.scenarios += in_progress  # judged ERROR with the reason; its trace is on disk
            record.write(run_dir)
            raise
        record.capabilities[rt.config.name] = rt.capabilities.as_record()  # what scenarios found out
        record.scenarios.append(rec)
        record.write(run_dir)  # partial runs keep every finished scenario
        opts.on_progress(f"[{rt.config.name}] {scenario.name}: {rec.verdict.value}")
        emit("scenario_finished", position=rt.config.name, name=scenario.name, verdict=rec.verdict,
             duration_s=max(rec.t_end_mono_s - rec.t_start_mono_s, 0.0),
             message=rec.error or next((c.message for c in rec.checks
                                        if c.verdict in (Verdict.FAIL, Verdict.ERROR)), ""))
        if applies and rt.health() is None:  # an instrument lost: straight to the safe state below
            try:
                await reset_position(rt)
            except Exception as exc:  # the next scenario's reset tries again, and says so if it fails
                log.warning("[%s] reset after %s: %s", rt.config.name, scenario.name, exc)
                if not rt.dut.connected:
                    lost = f"the DUT did not reconnect within {rt.capabilities.reboot_time_s:g} s " \
                           f"(dut.reboot_time_s) after {scenario.name}"
        if (why := rt.health()) is not None:
            raise RuntimeError(f"position {rt.config.name}: {why}")


def _not_run(rt: PositionRuntime, scenario: Scenario, record: RunRecord, run_dir: Path, emit: EventSink,
             why: str) -> None:
    rec = ScenarioRecord(scenario.name, scenario.file, rt.config.name, scenario.description,
                         verdict=Verdict.ERROR, error=why, block=scenario.block, ocpp_ids=list(scenario.ocpp_ids))
    record.scenarios.append(rec)
    record.write(run_dir)
    emit("scenario_finished", position=rt.config.name, name=scenario.name, verdict=rec.verdict,
         duration_s=0.0, message=rec.error)


async def _teardown(opened: _Opened) -> None:
    """Safe state on every exit path: EV unplugged, loads off, then one last sample that
    shows the safe state in the trace, then close and flush."""
    for ev in opened.ev_models:
        with contextlib.suppress(Exception):
            await ev.stop()
    for sampler in opened.samplers:
        with contextlib.suppress(Exception):
            await sampler.stop()
    for inst in opened.instruments:
        try:
            await asyncio.wait_for(inst.safe_state(), 5.0)
        except Exception as exc:
            log.error("SAFE STATE NOT CONFIRMED for %s: %s", inst.name, exc)
    for sampler in opened.samplers:
        try:
            await asyncio.wait_for(sampler.record_final_sample(), 5.0)
        except Exception as exc:
            log.warning("final sample after safe state failed: %s", exc)
    for inst in opened.instruments:
        with contextlib.suppress(Exception):
            await inst.close()
    for trace in opened.traces:
        trace.close()
