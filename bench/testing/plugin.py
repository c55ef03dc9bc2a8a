"""The evbench pytest plugin (registered through the `pytest11` entry point).

Options: --lab-config FILE, --ocpp VERSION, --bench-fault NAME (virtual lab), --bench-out DIR.
Fixtures: `bench` (session: the running bench), `position` (one position for one test).
Markers: `ocpp("1.6", ...)` (the test applies to these versions only, else SKIPPED),
`position("name")` (the position the `position` fixture gives).
Scenario files (`*.yaml` under a `scenarios` folder, or named on the command line) are
collected as items, their tags and block as markers.

Inert unless used: nothing is imported beyond pytest until a test asks for a fixture or a
scenario file is collected, and no bench starts for a session that uses neither.
Async tests that use the fixtures run on the bench's own loop (time-warped on the virtual
lab), whatever asyncio plugin is installed: no marker, no pytest-asyncio mode needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bench.scenario.model import Scenario
    from bench.testing.bench import RunningBench

BENCH_FIXTURES = frozenset({"bench", "position"})
MARKERS = (
    "ocpp(*versions): the test applies to these OCPP versions only (SKIPPED on a DUT speaking another)",
    "position(name): the bench position the `position` fixture gives (default: the first)",
    "long: a scenario file that runs for hours (run only when named, or with --bench-long)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evbench", "evbench: tests against a charger on the bench")
    group.addoption("--lab-config", metavar="FILE", default=None,
                    help="lab_config.yaml of the bench (default: ./lab_config.yaml)")
    group.addoption("--ocpp", metavar="VERSION", default=None, choices=("1.6", "2.0.1", "2.1"),
                    help="OCPP version of every DUT, overriding the config (1.6, 2.0.1, 2.1)")
    group.addoption("--bench-fault", metavar="NAME", default=None,
                    help="inject a fault into the simulated charger (virtual lab only)")
    group.addoption("--bench-out", metavar="DIR", default=None,
                    help="results go to DIR/<UTC time>-pytest/ (default: results)")
    group.addoption("--bench-speed", metavar="X", default=None,
                    help="virtual lab only: 'max' (time-warp as fast as the machine allows) or a factor "
                         "(default: virtual_lab.speed of the config, 1)")
    group.addoption("--bench-long", action="store_true", default=False,
                    help="also run the scenario files that run for hours (long: true), else run only when named")


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    # pyftpdlib (the virtual lab's file server) runs on asyncore/asynchat up to Python 3.11
    config.addinivalue_line("filterwarnings", "ignore:The asyn(core|chat) module is deprecated:DeprecationWarning")
    config.stash[_STATE] = _State(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.stop()
        _all_states.remove(state)


class _State:
    """The session's bench, started by the first test or scenario that needs it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.running: RunningBench | None = None
        self.failed: str | None = None  # why the bench did not come up (every later test errors with it)
        self.interrupted = False
        self.run_dir: Path | None = None  # the session's run folder, once a bench came up
        self.tag_markers: set[str] = set()  # scenario tags and blocks registered as markers
        _all_states.append(self)

    def bench(self) -> RunningBench:
        from bench.testing.bench import BenchOptions, RunningBench, validated_config
        from bench.testing.position import BenchError
        from bench.yaml_input import ConfigError

        if self.running is not None:
            return self.running
        if self.failed is not None:
            raise BenchError(self.failed)
        get = self.config.getoption
        opts = BenchOptions(Path(get("lab_config") or "lab_config.yaml"), get("ocpp"), get("bench_fault"),
                            Path(get("bench_out") or "results"), get("bench_speed"))
        try:
            running = RunningBench(opts, validated_config(opts))
            running.start()
        except ConfigError as exc:
            self.failed = f"bad input: {exc}"
            raise BenchError(self.failed) from None
        except BenchError as exc:
            self.failed = str(exc)
            raise
        self.running, self.run_dir = running, running.run_dir
        return running

    def stop(self) -> None:
        if self.running is not None:
            running, self.running = self.running, None
            running.stop(interrupted=self.interrupted)


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After every fixture's teardown (Ctrl-C included): the bench to the safe state, the record written."""
    _state(session.config).stop()


def pytest_keyboard_interrupt() -> None:
    for state in _all_states:
        state.interrupted = True


_all_states: list[_State] = []  # pytest_keyboard_interrupt gets no config


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    last = state.run_dir if state is not None else None
    if last is not None:
        terminalreporter.write_line(f"evbench run folder: {last} (bench report {last})")


# ---- fixtures -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> RunningBench:
    """The running bench: CSMS, instruments (or the virtual lab), samplers, every DUT connected.
    Brought down to the safe state at the end of the session, Ctrl-C and failures included."""
    state = _state(request.config)
    return state.bench()


@pytest.fixture
def position(request: pytest.FixtureRequest, bench: RunningBench):
    """One position for this test, reset to a known state (transaction stopped, EV unplugged,
    loads off, profiles cleared). See bench.testing.position.Position."""
    from bench.testing.position import BenchError, Position, start_test

    if not isinstance(request.node, BenchTest):  # its steps would be coroutines nobody awaits
        raise BenchError(f"{request.node.nodeid}: a test using `position` must be an `async def` function")
    marker = request.node.get_closest_marker("position")
    rt = bench.runtime(marker.args[0] if marker and marker.args else None)
    versions = request.node.get_closest_marker("ocpp")
    pos = Position(rt, _test_record(request.node, rt), request.node.nodeid, keep=bench.keep)
    bench.run(start_test(pos, tuple(versions.args) if versions else None))
    return pos


def _test_record(item: pytest.Item, rt: Any):
    from bench.record import ScenarioRecord

    doc = (getattr(getattr(item, "function", None), "__doc__", None) or "").strip()
    return ScenarioRecord(item.name, str(item.path), rt.config.name, doc.split("\n\n")[0],
                          charge_point_id=rt.config.dut.charge_point_id, block="pytest",
                          ocpp_ids=[])


# ---- async tests on the bench's loop --------------------------------------------------------

class BenchTest(pytest.Function):
    """An `async def` test using the bench fixtures: run on the bench's loop, so the fixtures'
    objects (the DUT, the instruments) and asyncio's own waits share the bench's clock."""

    def runtest(self) -> None:
        __tracebackhide__ = True
        running: RunningBench = self._request.getfixturevalue("bench")
        coroutine_function = self.obj
        position: Any = self.funcargs.get("position")

        def on_bench_loop(**kwargs: Any) -> None:
            __tracebackhide__ = True
            coro = coroutine_function(**kwargs)
            running.run(position.run_test(coro) if position is not None else coro)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(self, "obj", on_bench_loop)
            super().runtest()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Async tests using `bench` or `position` become BenchTest items (taken from any asyncio
    plugin that would run them on a loop of its own)."""
    import inspect

    for i, item in enumerate(items):
        if (isinstance(item, pytest.Function) and not isinstance(item, BenchTest)
                and inspect.iscoroutinefunction(item.obj) and _uses_bench_fixtures(item)):
            items[i] = _as_bench_test(item)


def _uses_bench_fixtures(item: pytest.Function) -> bool:
    """The test asks for this plugin's `bench` or `position` (not a fixture of its own by that name)."""
    for name in BENCH_FIXTURES & set(item.fixturenames):
        defs = item._fixtureinfo.name2fixturedefs.get(name)
        if defs and getattr(defs[-1].func, "__module__", None) == __name__:
            return True
    return False


def _as_bench_test(item: pytest.Function) -> BenchTest:
    new = BenchTest.from_parent(item.parent, name=item.name, callspec=getattr(item, "callspec", None),
                                callobj=item.obj, fixtureinfo=item._fixtureinfo, keywords=item.keywords,
                                originalname=item.originalname)
    new.own_markers = [m for m in item.own_markers if m.name != "asyncio"]
    return new


# ---- verdicts: a bench error is a pytest error -------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if (call.when == "call" and report.failed and call.excinfo is not None and _is_bench_item(item)
            and _bench_error(call.excinfo)):
        # pytest reports an exception in the call phase as a failure; an ERROR is the bench's (or
        # the test code's) fault, not the charger's, and must not count as one (DESIGN: Verdicts).
        # Reported as pytest reports errors: outside the call (terminal "E", JUnit <error>).
        report.when = "setup"
    return report


def _is_bench_item(item: pytest.Item) -> bool:
    return isinstance(item, BenchTest | ScenarioItem)


def _bench_error(excinfo: pytest.ExceptionInfo) -> bool:
    from bench.testing.position import BenchError

    if excinfo.errisinstance(BenchError):
        return True
    return not excinfo.errisinstance((AssertionError, pytest.fail.Exception, pytest.skip.Exception,
                                      pytest.xfail.Exception, KeyboardInterrupt))


# ---- scenario files as items ---------------------------------------------------------------

def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    root = parent.config.rootpath
    where = file_path.relative_to(root) if file_path.is_relative_to(root) else file_path
    if "scenarios" not in where.parent.parts and not parent.session.isinitpath(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    def collect(self):
        from bench.scenario.model import load_scenario

        scenario = load_scenario(self.path)  # bad input: a collection error naming file, key, reason
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    """One scenario file, run as `bench run` runs it, into the session's run folder."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        registered = _state(self.config).tag_markers
        for tag in dict.fromkeys((scenario.block, *scenario.tags)):
            if tag.isidentifier():
                if tag not in registered:  # registered before use: no unknown-marker warning
                    self.config.addinivalue_line("markers", f"{tag}: scenarios tagged {tag} (or in block {tag})")
                    registered.add(tag)
                self.add_marker(tag)
        if scenario.long:
            self.add_marker("long")

    def runtest(self) -> None:
        from bench.record import Verdict, combine
        from bench.scenario.model import check_fits
        from bench.testing.position import BenchError, CheckFailed
        from bench.yaml_input import ConfigError

        if self.scenario.long and not (self.session.isinitpath(self.path) or self.config.getoption("bench_long")):
            pytest.skip("runs for hours (long: true): name its file, or pass --bench-long")
        state = _state(self.config)
        running = state.bench()
        try:
            check_fits([self.scenario], running.config, running.options.config_path)
        except ConfigError as exc:
            raise BenchError(f"bad input: {exc}") from None
        before = len(running.record.scenarios)
        try:
            running.run(_on_every_position(running, self.scenario))
        except RuntimeError as exc:  # a position lost an instrument: the bench's fault
            raise BenchError(str(exc)) from None
        recs = running.record.scenarios[before:]
        verdict = combine([Verdict(r.verdict) for r in recs])
        if verdict is Verdict.SKIPPED:
            pytest.skip("; ".join(dict.fromkeys(r.skipped for r in recs if r.skipped)) or "skipped")
        why = "; ".join(_why_not_passed(r) for r in recs if Verdict(r.verdict) in (Verdict.FAIL, Verdict.ERROR))
        if verdict is Verdict.ERROR:
            raise BenchError(why)
        if verdict is Verdict.FAIL:
            raise CheckFailed(why)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from bench.testing.position import BenchError, CheckFailed

        if excinfo.errisinstance((CheckFailed, BenchError)):
            kind = "FAIL" if excinfo.errisinstance(CheckFailed) else "ERROR"
            return f"{self.scenario.file}: {kind}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.scenario.name}"


def _why_not_passed(rec: Any) -> str:
    """The scenario record's error, or its failing checks with their messages."""
    from bench.record import Verdict

    if rec.error:
        return f"{rec.position}: {rec.error}"
    bad = [f"{c.name}: {c.message}" for c in rec.checks if Verdict(c.verdict) in (Verdict.FAIL, Verdict.ERROR)]
    return f"{rec.position}: " + "; ".join(bad)


async def _on_every_position(running: RunningBench, scenario: Scenario) -> None:
    """The scenario on every position at once, as `bench run` runs it (reset, run, record)."""
    import asyncio

    from bench.session import _run_position

    session = running.session
    results = await asyncio.gather(*(_run_position(rt, [scenario], running.record, running.run_dir, session.opts,
                                                   session.emit) for rt in session.runtimes),
                                   return_exceptions=True)
    for res in results:
        if isinstance(res, BaseException):
            raise res
