"""The live console view: plain lines for CI logs, a rich panel on a terminal, the expected
limit evaluated from a real timeline, and the last sample read from a real trace file."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from bench.trace import Trace
from instruments.iec61851 import CpState
from bench.live import LiveView, expected_limit_ahead, limit_at, planned_duration_s, read_last_sample
from bench.record import Verdict
from bench.checks.timeline import Timeline, utc_mapper
from bench.testing.clock import ManualClock

T0 = 1000.0
UTC0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)


def lab_clock() -> ManualClock:
    """The run's clock: T0 on the monotonic scale is UTC0 (as the timelines below map it)."""
    return ManualClock(T0, utc=UTC0)


@dataclass
class FakeTx:
    transaction_id: int = 7
    connector_id: int = 1
    t_start_mono_s: float = T0 + 1
    start_timestamp: datetime | None = None


@dataclass
class FakeDut:
    tx: FakeTx | None = field(default_factory=FakeTx)

    def active_transaction(self, connector_id: int) -> FakeTx | None:
        return self.tx


def tx_profile(limit: float) -> dict:
    return {"chargingProfileId": 1, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "transactionId": 7,
            "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": limit}, {"startPeriod": 60, "limit": 6}]}}


def timeline_with_profile(limit: float) -> Timeline:
    tl = Timeline(1, 32.0, 230.0, 3, utc_mapper(T0, UTC0))
    tl.note_profiles(T0)
    tl.note_ev_state(T0, CpState.C)
    tl.note_ev_max(T0, 32.0)
    assert tl.store.install(1, tx_profile(limit), active_transaction_id=7)[0]
    tl.note_profiles(T0 + 2)
    return tl


def write_samples(path: Path, amps: float, offered: float, n: int = 20) -> None:
    trace = Trace(path)
    for i in range(n):
        trace.append({"t_mono_s": T0 + i / 10, **{f"meter_current_l{p}_a": amps for p in (1, 2, 3)},
                      "ev_offered_current_a": offered, "ev_cp_state": "C"})
    trace.close()


def scenarios():
    hold = SimpleNamespace(name="hold", args=SimpleNamespace(seconds=8.0))
    plug = SimpleNamespace(name="plug_in", args=SimpleNamespace())
    return [SimpleNamespace(name="step_down", steps=[plug, hold, hold]), SimpleNamespace(name="metering", steps=[plug])]


def feed(view: LiveView, trace: Path, clock: ManualClock) -> None:
    view.on_event("run_started", suite="default", run_dir=Path("/r/20261121T120000Z-default"),
                  scenarios=scenarios(), positions=["pos1"])
    view.on_event("position_ready", position="pos1", trace=trace)
    view.on_event("scenario_started", position="pos1", name="step_down", index=1, total=2)
    clock.t = T0 + 3
    tl = timeline_with_profile(10.0)
    view.on_event("step_started", position="pos1", scenario="step_down", index=2, total=3, name="hold",
                  args={"seconds": 8.0}, timeline=tl, dut=FakeDut())
    clock.t = T0 + 5
    view.on_progress("[pos1] step_down: step 2/3 hold")


def test_planned_duration_and_limit_lookup() -> None:
    assert planned_duration_s(scenarios()[0]) == 1.0 + 8.0 + 8.0
    points = [(T0, 16.0), (T0 + 10, 10.0)]
    assert limit_at(points, T0 + 5) == 16.0 and limit_at(points, T0 + 11) == 10.0
    assert limit_at(points, T0 - 1) == 16.0  # a sample a moment older than the evaluation
    assert limit_at([], T0) is None


def test_expected_limit_ahead_from_a_real_timeline() -> None:
    tl = timeline_with_profile(10.0)
    ahead = expected_limit_ahead(tl, FakeDut(), T0 + 3)
    # the TxProfile of the running transaction: 10 A, then 6 A from 60 s after the transaction start
    assert limit_at(ahead, T0 + 3) == 10.0 and limit_at(ahead, T0 + 62) == 6.0
    # without a transaction the TxProfile does not apply: the rated current
    assert limit_at(expected_limit_ahead(tl, FakeDut(tx=None), T0 + 3), T0 + 3) == 32.0


def test_last_sample_of_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "pos1.csv"
    assert read_last_sample(path) is None  # not created yet
    write_samples(path, 9.5, 10.0)
    with open(path, "a") as f:
        f.write("1099.0,230,23")  # the sampler is half way through a row
    s = read_last_sample(path)
    assert s is not None and s.t_mono_s == T0 + 1.9
    assert s.current_a == {1: 9.5, 2: 9.5, 3: 9.5} and s.offered_a == 10.0


def test_plain_lines_for_ci_logs(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    clock = lab_clock()
    view = LiveView(console, clock, wall=clock.monotonic)
    assert view.live is False  # not a terminal
    write_samples(tmp_path / "pos1.csv", 16.0, 16.0)
    with view:
        feed(view, tmp_path / "pos1.csv", clock)
        view.on_event("step_finished", position="pos1", scenario="step_down", index=2, total=3, name="hold",
                      ok=True, message="", timeline=timeline_with_profile(10.0), dut=FakeDut())
        view.on_event("step_finished", position="pos1", scenario="step_down", index=3, total=3, name="unplug",
                      ok=False, message="DUT answered Rejected")
        view.on_event("scenario_finished", position="pos1", name="step_down", verdict=Verdict.FAIL,
                      duration_s=40.5, message="excess_over_limit_l1_a = 6.0 A outside [, 0.7]")
        view.on_event("run_finished", verdict=Verdict.FAIL, error="")
        view.on_event("some_future_event", anything=1)  # unknown kinds are ignored
    text = out.getvalue()
    assert "12:00:05 [pos1] step_down: step 2/3 hold  (0/2, ~00:00:13 left)" in text  # '[pos1]' is text, not markup
    assert "[pos1] L1/L2/L3 16.0/16.0/16.0 A, expected limit 10.0 A, PWM offers 16.0 A" in text
    assert "step unplug failed: DUT answered Rejected" in text
    assert "[pos1] step_down: FAIL in 40.5 s - excess_over_limit_l1_a = 6.0 A outside [, 0.7]" in text
    assert "run finished: FAIL (PASS 0 FAIL 1 ERROR 0 SKIPPED 0)" in text
    assert "FAIL in 40.5 s - excess_over_limit_l1_a = 6.0 A outside [, 0.7]  (1/2, " in text  # N/M on its line
    assert "\x1b[" not in text  # no terminal control sequences in a log


def test_live_panel_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, record=True)
    clock = lab_clock()
    view = LiveView(console, clock, wall=clock.monotonic)
    assert view.live is True
    write_samples(tmp_path / "pos1.csv", 16.0, 16.0)
    with view:  # the rich Live display starts and stops cleanly
        feed(view, tmp_path / "pos1.csv", clock)
        panel = Console(width=120, record=True, file=io.StringIO(), force_terminal=True, color_system="standard")
        panel.print(view.render())
        styled = panel.export_text(styles=True, clear=False)
        text = panel.export_text()
        view.on_event("scenario_finished", position="pos1", name="step_down", verdict=Verdict.PASS, duration_s=17.0)
    for expected in ("evbench  default  20261121T120000Z-default", "elapsed 00:00:05", "remaining ~00:00:13",
                     "step_down (1/2)", "step 2/3 hold", "16.0 A", "expected limit 10.0 A", "PWM offers 16.0 A",
                     "[pos1] step_down: step 2/3 hold", "PASS 0   FAIL 0   ERROR 0   SKIPPED 0"):
        assert expected in text, expected
    # 16 A against a 10 A limit is above limit + tolerance: the value is drawn in bold red
    assert "\x1b[1;31m 16.0 A" in styled
    after = Console(width=120, record=True, file=io.StringIO())
    after.print(view.render())
    # step_down (17 declared seconds) took 5 s: 'metering' (one step, 1 declared second) takes 5/17 s
    assert view.remaining_s() == 5.0 / 17.0
    after_text = after.export_text()
    assert "step_down PASS" in after_text and "idle" in after_text and "PASS 1   FAIL 0" in after_text
    assert "[pos1] step_down: PASS in 17.0 s" in console.export_text()  # kept above the panel


def test_time_left_is_real_time_learned_from_the_run() -> None:
    """Time-warped, the time left is in real seconds: before a scenario has run, at the warp seen
    so far; after, at the rate the scenarios that ran took (SKIPPED ones teach nothing)."""
    clock, wall = lab_clock(), ManualClock()
    view = LiveView(Console(file=io.StringIO(), force_terminal=False, width=80), clock, wall=wall.monotonic)
    sc = [SimpleNamespace(name=f"s{i}", steps=[SimpleNamespace(name="hold", args=SimpleNamespace(seconds=99.0))])
          for i in range(4)]  # 99 declared seconds each
    view.on_event("run_started", suite="x", run_dir=Path("/r/x"), scenarios=sc, positions=["pos1"])
    view.on_event("scenario_started", position="pos1", name="s0", index=1, total=4)
    clock.t, wall.t = T0 + 50, 5.0  # the lab runs 10 times faster than real time
    assert abs(view.remaining_s() - (4 * 99 - 50) * 0.1) < 1e-9
    # s0 took 198 lab seconds, twice its declared length: 20 real seconds per 99 declared ones
    clock.t, wall.t = T0 + 198, 20.0
    view.on_event("scenario_finished", position="pos1", name="s0", verdict=Verdict.PASS, duration_s=198)
    assert abs(view.remaining_s() - 3 * 20.0) < 1e-9
    view.on_event("scenario_started", position="pos1", name="s1", index=2, total=4)
    view.on_event("scenario_finished", position="pos1", name="s1", verdict=Verdict.SKIPPED, duration_s=0)
    assert abs(view.remaining_s() - 2 * 20.0) < 1e-9  # the skip took no time and changed no rate
    assert view.progress_tag() == "2/4, ~00:00:40 left"
    assert view.counts_text() == "PASS 1 FAIL 0 ERROR 0 SKIPPED 1"


def test_expected_warnings_stay_off_the_console_and_go_to_the_run_log(tmp_path: Path) -> None:
    """The offline window's refusals are the scenario working: INFO in the run's log, not a
    WARNING scrolling through the panel; an unexpected refusal still warns."""
    import logging

    from bench.cli import _start_run_log, _stop_run_log
    from bench.csms.server import LOG

    console_lines = io.StringIO()
    console_handler = logging.StreamHandler(console_lines)
    console_handler.setLevel(logging.WARNING)  # as bench.cli.main sets up the console
    root = logging.getLogger()
    root.addHandler(console_handler)
    level = root.level
    root.setLevel(logging.WARNING)
    handler = _start_run_log(tmp_path)
    try:
        LOG.log(logging.INFO, "CSMS refused 'CP1' from 127.0.0.1:1 (http): offline window: expected")
        LOG.warning("CSMS refused 'CP9' from 127.0.0.1:2 (http): unknown charge point id")
    finally:
        _stop_run_log(handler)
        root.removeHandler(console_handler)
        root.setLevel(level)
    shown, kept = console_lines.getvalue(), (tmp_path / "bench.log").read_text()
    assert "offline window" not in shown and "unknown charge point id" in shown
    assert "INFO bench.csms: CSMS refused 'CP1'" in kept and "WARNING bench.csms: CSMS refused 'CP9'" in kept
