"""One position for one pytest test: library steps, checks on demand, the role interfaces.

A test is recorded like a scenario (bench/scenario/runner.py ScenarioRun): its steps with
their times, the checks it asked for, then at its end the step expectations and the DUT's
protocol conformance, all in the run's record.json next to the scenarios of a `bench run`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from bench.record import CheckRecord, ScenarioRecord, Verdict
from bench.scenario.model import Scenario, parse_check, parse_step
from bench.scenario.runner import PositionRuntime, ScenarioRun, Skip, interruption, reset_position, why_skipped

log = logging.getLogger(__name__)


class BenchError(Exception):
    """The bench, an instrument, the config or the test's own code failed, not the charger:
    reported by pytest as an error (ERROR in the record), never as a failure."""


class CheckFailed(AssertionError):
    """The charger did not do what is required: the test fails with the check's message."""

    def __init__(self, message: str, record: CheckRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


class Position:
    """The `position` fixture: one position of the running bench, for one test.

    `await position.step(name, **args)` runs any library step (validated as in a scenario file);
    `await position.check(name, since=None, **params)` judges what was recorded since the test
    started (or since `position.mark()`) and returns the check's record; `dut`, `meter`, `ev`,
    `loads` are the role interfaces; `capabilities` what the DUT declared and reported."""

    def __init__(self, rt: PositionRuntime, rec: ScenarioRecord, where: str,
                 keep: Callable[[ScenarioRecord], None]) -> None:
        self.runtime, self.record, self.where = rt, rec, where
        self._run = ScenarioRun(rt, rec)
        self._keep = keep  # puts the finished test's record into the run's record.json

    # ---- role interfaces -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.runtime.config.name

    @property
    def dut(self):
        """The charger under test (bench.csms.Dut): its events, transactions, and OCPP commands."""
        return self.runtime.dut

    @property
    def meter(self):
        """The reference power meter (instruments.roles.PowerMeter), or None."""
        return self.runtime.sampler.instruments.meter

    @property
    def ev(self):
        """The EV emulator (instruments.roles.EvEmulator), or None. Change the EV through steps
        (plug_in, ev_state, set_ev): they feed the expected-behaviour timeline the checks use."""
        return self.runtime.sampler.instruments.ev

    @property
    def loads(self) -> list:
        """The AC loads (instruments.roles.AcLoad), L1 first."""
        return list(self.runtime.sampler.instruments.loads)

    @property
    def capabilities(self):
        """What the DUT supports (bench.capabilities.Capabilities), declared and discovered."""
        return self.runtime.capabilities

    @property
    def ocpp_version(self) -> str:
        return self._run.version

    def mark(self) -> float:
        """Now on the bench's clock: `check(..., since=position.mark())` judges from here on."""
        return self.runtime.clock.monotonic()

    # ---- steps and checks ------------------------------------------------------------
    async def step(self, name: str, **args: Any):
        """Run one library step. The DUT answering not as required fails the test; a step the
        DUT or the bench does not support skips it; a bench error is a pytest error."""
        __tracebackhide__ = True
        try:
            spec = parse_step(name, args, self.where)
        except Exception as exc:
            raise BenchError(str(exc)) from None
        probe = Scenario(name, self.where, "", (), (), (spec,), (), needs=tuple(_needs(name)))
        if (skip := why_skipped(self.runtime, probe)) is not None:
            self._run.skipped = self._run.skipped or skip
            pytest.skip(f"{name}: {skip.reason}")
        outcome = await self._run.step(spec.name, spec.args, total=len(self.record.steps) + 1)
        if outcome.failure:
            raise CheckFailed(outcome.failure)
        if outcome.skip:
            pytest.skip(outcome.skip.reason)
        return self.record.steps[-1]

    async def hold(self, seconds: float):
        """Shorthand for the `hold` step: wait on the bench's clock, recorded."""
        return await self.step("hold", seconds=seconds)

    async def check(self, name: str, *, since: float | None = None, **params: Any) -> CheckRecord:
        """Judge `name` (bench/checks/, declared like steps) over what was recorded from `since` (default: the
        test's start) to now. Returns its record (verdict, measurements); a FAIL fails the test with
        the check's message, an ERROR is a pytest error, a SKIPPED check skips the test."""
        __tracebackhide__ = True
        try:
            spec = parse_check(name, params, self.where)
        except Exception as exc:
            raise BenchError(str(exc)) from None
        t0 = self.record.t_start_mono_s if since is None else since
        t1 = await self._run.covered()
        result = self._run.check(spec, t0, t1, overlapping=True)
        self.record.checks.append(result)
        if result.verdict is Verdict.FAIL:
            raise CheckFailed(f"{name}: {result.message}", result)
        if result.verdict is Verdict.ERROR:
            raise BenchError(f"{name}: {result.message}")
        if result.verdict is Verdict.SKIPPED:
            self._run.skipped = self._run.skipped or Skip("not_applicable", f"{name}: {result.message}")
            pytest.skip(f"{name}: {result.message}")
        return result

    # ---- the test's life ----------------------------------------------------------------
    def begin(self) -> None:
        self._run.begin(None)

    async def run_test(self, test: Coroutine[Any, Any, Any]) -> None:
        """The test's coroutine, recorded; then its steps and the DUT's protocol judged (a FAIL
        there fails the test too)."""
        __tracebackhide__ = True
        run, rec = self._run, self.record
        interrupted = False
        try:
            await test
        except CheckFailed:
            raise
        except (AssertionError, pytest.fail.Exception) as exc:
            rec.checks.append(CheckRecord("test_assertions", Verdict.FAIL, message=_first_line(exc)))
            raise
        except pytest.skip.Exception as exc:
            run.skipped = run.skipped or Skip("not_applicable", _first_line(exc))
            raise
        except asyncio.CancelledError as exc:
            interrupted = True
            rec.error = interruption(exc)
            raise
        except BenchError as exc:  # said in one line (bad input, an unreachable instrument)
            rec.error = str(exc)
            log.error("%s: %s", rec.name, exc)
            raise
        except Exception as exc:
            run.fail(exc)
            raise
        finally:
            await run.end(interrupted)
            run.judge()
            self._done()
        if rec.verdict is Verdict.FAIL:  # the test did not look, the bench did: steps, protocol
            raise CheckFailed("; ".join(c.message for c in rec.checks if c.verdict is Verdict.FAIL) or "FAIL")
        if rec.verdict is Verdict.ERROR:
            raise BenchError(rec.error or "; ".join(c.message for c in rec.checks if c.verdict is Verdict.ERROR))


    def _done(self) -> None:
        self._keep(self.record)


async def start_test(pos: Position, versions: tuple[str, ...] | None) -> None:
    """Before the test: the `ocpp` marker honoured (SKIPPED, not applicable), then the position
    reset to a known state as before every scenario of a `bench run`."""
    version = pos.ocpp_version
    if versions and version not in versions:
        skip = Skip("not_applicable", f"not defined for OCPP {version} (only {', '.join(versions)})")
        rec = pos.record
        rec.t_start_mono_s = rec.t_end_mono_s = pos.mark()
        rec.skipped, rec.skip_kind, rec.verdict = skip.reason, skip.kind, Verdict.SKIPPED
        pos._done()
        pytest.skip(skip.reason)
    try:
        await reset_position(pos.runtime)
    except Exception as exc:
        pos.record.error = f"could not reset the position: {type(exc).__name__}: {exc}"
        pos.record.verdict = Verdict.ERROR
        pos._done()
        raise BenchError(pos.record.error) from None
    pos.begin()


def _needs(step: str) -> frozenset[str]:
    from bench.scenario.library import STEP_NEEDS

    return STEP_NEEDS.get(step, frozenset())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
