"""The running bench of a pytest session: the same bring-up as `bench run` (BenchSession), on
its own loop thread (loop.py), one run folder and record.json for every test of the session."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import LabConfig
from bench.record import RunRecord, ScenarioRecord
from bench.scenario.runner import PositionRuntime
from bench.session import BenchSession
from bench.testing.loop import BenchLoop
from bench.testing.position import BenchError

log = logging.getLogger(__name__)
SUITE = "pytest"


@dataclass(frozen=True)
class BenchOptions:
    """What the command line asked for (--lab-config, --ocpp, --bench-fault, --bench-out,
    --bench-speed)."""

    config_path: Path
    ocpp: str | None = None
    fault: str | None = None
    out_dir: Path = Path("results")
    speed: str | None = None  # --bench-speed: "max" or a number, as `bench run --speed`


def validated_config(opts: BenchOptions) -> LabConfig:
    """The config as `bench run` checks it, before any socket or instrument (ConfigError)."""
    from bench.cli import check_fault, with_ocpp_version, with_speed
    from bench.clock import parse_speed
    from bench.config import load_config, preflight
    from bench.yaml_input import ConfigError

    config = with_ocpp_version(load_config(opts.config_path), opts.ocpp)
    if opts.speed is not None:
        try:
            speed = parse_speed(opts.speed)
        except ValueError as exc:
            raise ConfigError(f"--bench-speed: {exc}") from None
        config = with_speed(config, speed)
    check_fault(opts.fault, config, "--bench-fault")
    preflight(config, opts.config_path)
    return config


class RunningBench:
    """The `bench` fixture: the bench up for the whole session (its positions connected, booted
    and discovered). Tests and scenario items run on `loop`; everything lands in `record`."""

    def __init__(self, opts: BenchOptions, config: LabConfig) -> None:
        from bench.clock import clock_for
        from bench.session import RunOptions, make_run_dir

        self.options = opts
        self.clock = clock_for(config.virtual_lab.speed)
        self.run_dir = make_run_dir(opts.out_dir, SUITE, self.clock)
        run_opts = RunOptions(opts.config_path, [], SUITE, opts.out_dir, opts.fault, on_progress=log.info)
        self.session = BenchSession(config, run_opts, self.clock, self.run_dir)
        self.loop = BenchLoop(self.clock.new_loop())
        self._stopped = False

    def start(self) -> None:
        try:
            self.loop.run(self.session.__aenter__())
        except Exception as exc:  # torn down already; the record says why
            self.loop.close()
            self._stopped = True
            raise BenchError(f"the bench did not come up: {self.record.error or exc} "
                             f"(run folder {self.run_dir})") from None

    def stop(self, interrupted: bool = False) -> None:
        """Safe state and the record written: loads off, EV unplugged, traces flushed."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if interrupted:
                stop: BaseException = asyncio.CancelledError("interrupted by SIGINT (Ctrl-C)")
                self.loop.run(self.session.__aexit__(asyncio.CancelledError, stop, None))
            else:
                self.record.complete = not self.record.error
                self.loop.run(self.session.__aexit__(None, None, None))
        finally:
            self.loop.close()

    @property
    def record(self) -> RunRecord:
        return self.session.record

    @property
    def config(self) -> LabConfig:
        return self.session.config

    @property
    def ocpp_version(self) -> str:
        return self.config.positions[0].dut.ocpp_version

    def runtime(self, name: str | None = None) -> PositionRuntime:
        """The position called `name` (default: the first one)."""
        runtimes = self.session.runtimes
        if name is None:
            return runtimes[0]
        for rt in runtimes:
            if rt.config.name == name:
                return rt
        raise BenchError(f"no position {name!r} in {self.options.config_path} "
                         f"(positions: {', '.join(rt.config.name for rt in runtimes)})")

    def keep(self, rec: ScenarioRecord) -> None:
        """A finished test in the record, written at once (a run stopped later keeps it)."""
        self.record.scenarios.append(rec)
        self.record.write(self.run_dir)

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)
