"""Live console view of a run: what runs now, how long it still takes, the current per
phase against the limit, and the verdicts so far.

On a terminal it is a `rich` Live panel redrawn a few times a second; anywhere else
(CI logs, a pipe) it writes plain lines, one per event, that read well in a log, each with
`N/M` scenarios done and the time left.

The time left is in real (wall-clock) time, also when the virtual lab is time-warped: the
scenarios' declared lengths (their holds plus a second per other step) times how many real
seconds a declared second has taken so far in this run (scenarios that ran, not SKIPPED
ones, which take no time). Before the first scenario has run it assumes a declared second
takes one second of the run's clock, converted to real time at the rate seen so far.
It consumes the run's progress (`on_progress(str)`) and structured events
(`on_event(kind, **data)`, kinds listed in bench/session.py).

The live currents come from the tail of the position's trace CSV (flushed every
second by the sampler), so the view never touches an instrument. The expected
limit is evaluated from the scenario's timeline at each step boundary (that is
where profiles change) as a step function ahead in time, so the display thread
never calls into the bench.
"""
from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bench.trace import PHASES
from bench.clock import Clock
from bench.record import Verdict

VERDICT_STYLE = {"PASS": "bold green", "FAIL": "bold red", "ERROR": "bold magenta", "SKIPPED": "yellow"}
REFRESH_HZ = 4
BAR_WIDTH = 28
STEP_OVERHEAD_S = 1.0  # planning estimate for a step that is not a hold
TAIL_BYTES = 4096  # enough for the last few trace rows
LIMIT_HORIZON_S = 24 * 3600.0
KEEP_IN_LIVE = frozenset({"scenario_finished"})  # event lines that stay in the scrollback above the panel


@dataclass
class _Position:
    name: str
    trace: Path | None = None
    scenario: str = ""
    scenario_index: int = 0
    scenario_total: int = 0
    scenario_t0: float | None = None
    step: str = ""
    step_args: dict[str, Any] = field(default_factory=dict)
    step_index: int = 0
    step_total: int = 0
    step_t0: float | None = None
    limit_ahead: list[tuple[float, float]] = field(default_factory=list)  # (t_mono_s, A) step function
    done_s: float = 0.0  # planned seconds of the scenarios already finished
    scenario_wall0: float | None = None  # real time the current scenario started
    ran_planned_s: float = 0.0  # planned seconds of the finished scenarios that ran (not SKIPPED)
    ran_wall_s: float = 0.0  # the real seconds those took


@dataclass
class Sample:
    t_mono_s: float
    current_a: dict[int, float]  # phase -> A (meter, else load)
    offered_a: float | None


def planned_duration_s(scenario: Any) -> float:
    """Rough length of a scenario: its holds plus a second per other step."""
    total = 0.0
    for step in getattr(scenario, "steps", []):
        seconds = getattr(step.args, "seconds", None)
        total += float(seconds) if step.name == "hold" and seconds else STEP_OVERHEAD_S
    return total


def read_last_sample(path: Path, header: list[str] | None = None) -> Sample | None:
    """The last complete row of a trace CSV, or None (no file, no rows yet)."""
    try:
        with open(path, "rb") as f:
            head = header or next(csv.reader(io.StringIO(f.readline().decode(errors="replace"))))
            f.seek(0, io.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - TAIL_BYTES))
            tail = f.read().decode(errors="replace")
    except (OSError, StopIteration):
        return None
    lines = [ln for ln in tail.split("\n")[:-1] if ln]  # the text after the last newline may be torn
    for line in reversed(lines):
        row = next(csv.reader([line]))
        if len(row) != len(head) or row[0] == head[0]:
            continue
        values = dict(zip(head, row))
        try:
            t = float(values["t_mono_s"])
        except (KeyError, ValueError):
            continue
        currents = {}
        for p in PHASES:
            v = _num(values.get(f"meter_current_l{p}_a")) if values.get(f"meter_current_l{p}_a") else \
                _num(values.get(f"load_current_l{p}_a"))
            if v is not None:
                currents[p] = v
        return Sample(t, currents, _num(values.get("ev_offered_current_a")))
    return None


def _num(text: str | None) -> float | None:
    try:
        v = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


def expected_limit_ahead(timeline: Any, dut: Any, t_now: float, horizon_s: float = LIMIT_HORIZON_S
                         ) -> list[tuple[float, float]]:
    """The expected composite limit from now on (a step function), from the scenario's
    timeline and the DUT's running transaction; [] when it cannot be evaluated."""
    from bench.checks.timeline import TxSpan

    tx = dut.active_transaction(timeline.connector_id) if dut is not None else None
    spans = []
    if tx is not None and tx.t_start_mono_s is not None:
        spans.append(TxSpan(tx.transaction_id, tx.connector_id, tx.t_start_mono_s, None,
                            tx.start_timestamp or timeline.utc_at(tx.t_start_mono_s)))
    expected = timeline.expected(t_now, t_now + horizon_s, spans)
    return [(float(t), float(v)) for t, v in expected.limit_a]


def limit_at(points: list[tuple[float, float]], t: float) -> float | None:
    value = None
    for tp, v in points:
        if tp <= t:
            value = v
        else:
            break
    return value if value is not None or not points else points[0][1]


class LiveView:
    """Receives a run's progress and shows it (see the module notes). Use as a context
    manager around the run; `live` chooses the rich panel (default: the console is a terminal)."""

    def __init__(self, console: Console, clock: Clock, *, live: bool | None = None,
                 tolerance_abs_a: float = 0.5, tolerance_rel_pct: float = 2.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.clock = clock
        self.wall = wall  # real time, for the time left (the run's clock may be warped)
        self.live = console.is_terminal if live is None else live
        self.tol_abs_a = tolerance_abs_a
        self.tol_rel = tolerance_rel_pct / 100.0
        self._lock = threading.Lock()
        self._positions: dict[str, _Position] = {}
        self._planned: list[tuple[str, float]] = []  # scenario name, planned seconds
        self._verdicts: list[tuple[str, str, str]] = []  # position, scenario, verdict
        self._t_start: float | None = None
        self._wall_start: float | None = None
        self._title = "evbench"
        self._headers: dict[Path, list[str]] = {}
        self._rich: Live | None = None
        self._last_message = ""

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> LiveView:
        if self.live:
            self._rich = Live(console=self.console, get_renderable=self.render, refresh_per_second=REFRESH_HZ,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
            self._rich.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        """Remove the panel (also on Ctrl-C) so the summary prints on a clean screen."""
        if self._rich is not None:
            rich, self._rich = self._rich, None
            rich.stop()

    # ---------------------------------------------------------------- input
    def on_progress(self, message: str) -> None:
        """Free-text progress: a log line without the panel; in the panel, its last line."""
        line = f"[dim]{self.clock.utcnow():%H:%M:%S}[/] {escape(message)}"  # '[pos1]' is text, not markup
        if self.live:
            with self._lock:
                self._last_message = line
            return
        with self._lock:
            tag = self.progress_tag()
        self._print_plain(f"[dim]{self.clock.utcnow():%H:%M:%S}[/] {escape(message)}  [dim]({escape(tag)})[/]")

    def _print_plain(self, line: str) -> None:
        """One log line, never wrapped (a wrapped line reads as two in a CI log)."""
        self.console.print(line, highlight=False, soft_wrap=True)

    def on_event(self, kind: str, **data: Any) -> None:
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return
        with self._lock:
            line = handler(**data)
        # printed outside the lock: rich's refresh thread holds its own lock while it renders
        if line and self.live and kind in KEEP_IN_LIVE:
            self.console.print(line, highlight=False)
        elif line and not self.live:
            self._print_plain(line)

    def _pos(self, name: str) -> _Position:
        return self._positions.setdefault(name, _Position(name))

    def _on_run_started(self, suite: str, run_dir: Path, scenarios: list, positions: list[str], **_: Any) -> None:
        self._t_start = self.clock.monotonic()
        self._wall_start = self.wall()
        self._title = f"evbench  {suite}  {Path(run_dir).name}"
        self._planned = [(s.name, planned_duration_s(s)) for s in scenarios]
        for name in positions:
            self._pos(name)

    def _on_position_ready(self, position: str, trace: Path, **_: Any) -> None:
        self._pos(position).trace = Path(trace)

    def _on_scenario_started(self, position: str, name: str, index: int, total: int, **_: Any) -> None:
        p = self._pos(position)
        p.scenario, p.scenario_index, p.scenario_total = name, index, total
        p.scenario_t0, p.step, p.step_index, p.step_total, p.limit_ahead = self.clock.monotonic(), "", 0, 0, []
        p.scenario_wall0 = self.wall()

    def _on_step_started(self, position: str, index: int, total: int, name: str, args: dict | None = None,
                         timeline: Any = None, dut: Any = None, **_: Any) -> None:
        p = self._pos(position)
        p.step, p.step_index, p.step_total, p.step_args = name, index, total, dict(args or {})
        p.step_t0 = self.clock.monotonic()
        self._update_limit(p, timeline, dut)

    def _on_step_finished(self, position: str, name: str, ok: bool = True, message: str = "",
                          timeline: Any = None, dut: Any = None, **_: Any) -> str | None:
        p = self._pos(position)
        self._update_limit(p, timeline, dut)
        if not ok:
            return f"  [bold red]step {escape(name)} failed:[/] {escape(message)}"
        if name == "hold":  # the end of a hold is where a CI log wants the currents
            return escape(f"  [{position}] {self._currents_text(p)}")
        return None

    def _on_scenario_finished(self, position: str, name: str, verdict: Any, duration_s: float = 0.0,
                              message: str = "", **_: Any) -> str:
        v = Verdict(verdict).value
        self._verdicts.append((position, name, v))
        p = self._pos(position)
        planned = self._planned_of(name)
        p.done_s += planned
        if v != Verdict.SKIPPED.value and p.scenario_wall0 is not None:  # a SKIPPED one took no time
            p.ran_planned_s += planned
            p.ran_wall_s += max(self.wall() - p.scenario_wall0, 0.0)
        p.scenario, p.step, p.limit_ahead, p.scenario_wall0 = "", "", [], None
        return escape(f"  [{position}] {name}: ") + f"[{VERDICT_STYLE[v]}]{v}[/] in {duration_s:.1f} s" + \
            (escape(f" - {message}") if message else "") + f"  [dim]({escape(self.progress_tag())})[/]"

    def _on_run_finished(self, verdict: Any, error: str = "", **_: Any) -> str:
        v = Verdict(verdict).value
        return f"run finished: [{VERDICT_STYLE[v]}]{v}[/] ({self.counts_text()})" + \
            (escape(f" - {error}") if error else "")

    def _update_limit(self, p: _Position, timeline: Any, dut: Any) -> None:
        if timeline is None:
            return
        try:
            p.limit_ahead = expected_limit_ahead(timeline, dut, self.clock.monotonic())
        except Exception:  # a display must never break a run; the checks judge afterwards
            p.limit_ahead = []

    # ---------------------------------------------------------------- output
    def elapsed_s(self) -> float:
        """Real seconds since the run started."""
        return 0.0 if self._wall_start is None else self.wall() - self._wall_start

    def virtual_elapsed_s(self) -> float:
        """Seconds of the run's clock since the run started (more than elapsed_s when time-warped)."""
        return 0.0 if self._t_start is None else self.clock.monotonic() - self._t_start

    def _planned_of(self, name: str) -> float:
        return next((s for n, s in self._planned if n == name), 0.0)

    def _wall_per_planned_s(self, p: _Position) -> float:
        """Real seconds a declared second takes: learned from this position's scenarios that ran,
        else one second of the run's clock at the warp seen so far (1 on a real bench)."""
        if p.ran_planned_s > 0:
            return p.ran_wall_s / p.ran_planned_s
        virtual = self.virtual_elapsed_s()
        return self.elapsed_s() / virtual if virtual > 1.0 else 1.0

    def remaining_s(self) -> float | None:
        """Real time left: the slowest position decides (positions run in parallel)."""
        if not self._planned:
            return None
        total = sum(s for _, s in self._planned)
        now = self.wall()
        left = []
        for p in self._positions.values():
            rate = self._wall_per_planned_s(p)
            planned_left = total - p.done_s
            if p.scenario and p.scenario_wall0 is not None and rate > 0:
                # the current scenario counts as done up to its declared length, never beyond
                planned_left -= min((now - p.scenario_wall0) / rate, self._planned_of(p.scenario))
            left.append(max(planned_left, 0.0) * rate)
        return max(left) if left else total

    def counts(self) -> Counter[str]:
        return Counter(v for _, _, v in self._verdicts)

    def counts_text(self) -> str:
        counts = self.counts()
        return " ".join(f"{v} {counts[v]}" for v in VERDICT_STYLE)

    def scenarios_total(self) -> int:
        return len(self._planned) * max(len(self._positions), 1)

    def progress_tag(self) -> str:
        """`N/M, ~H:MM:SS left` for the plain lines."""
        remaining = self.remaining_s()
        left = f", ~{_hms(remaining)} left" if remaining is not None else ""
        return f"{len(self._verdicts)}/{self.scenarios_total()}{left}"

    def sample(self, p: _Position) -> Sample | None:
        if p.trace is None:
            return None
        if p.trace not in self._headers:
            try:
                with open(p.trace, newline="") as f:
                    self._headers[p.trace] = next(csv.reader(f))
            except (OSError, StopIteration):
                return None
        return read_last_sample(p.trace, self._headers[p.trace])

    def _currents_text(self, p: _Position) -> str:
        s = self.sample(p)
        if s is None or not s.current_a:
            return "no current samples yet"
        limit = limit_at(p.limit_ahead, s.t_mono_s)
        cur = "/".join(f"{s.current_a[k]:.1f}" for k in sorted(s.current_a))
        phases = "/".join(f"L{k}" for k in sorted(s.current_a))
        out = f"{phases} {cur} A"
        if limit is not None:
            out += f", expected limit {limit:.1f} A"
        if s.offered_a is not None:
            out += f", PWM offers {s.offered_a:.1f} A"
        return out

    def render(self) -> Panel:
        """The live panel (called by rich's refresh thread)."""
        with self._lock:
            return self._render_locked()

    def _render_locked(self) -> Panel:
        rows: list = []
        remaining = self.remaining_s()
        head = Text(f"elapsed {_hms(self.elapsed_s())}")
        virtual = self.virtual_elapsed_s()
        if virtual > self.elapsed_s() + 1.0:  # time-warped: say how much lab time that was
            head.append(f" (lab time {_hms(virtual)})", style="dim")
        if remaining is not None:
            head.append(f"   remaining ~{_hms(remaining)}")
        rows.append(head)
        counts = self.counts()
        tally = Text(f"scenarios done {len(self._verdicts)}/{self.scenarios_total()}   ")
        for v, style in VERDICT_STYLE.items():
            tally.append(f"{v} {counts[v]}", style=style if counts[v] else "dim")
            tally.append("   ")
        rows.append(tally)
        for p in self._positions.values():
            rows.append(self._position_block(p))
        if self._verdicts:
            verdicts = Text("verdicts: ")
            for pos, name, v in self._verdicts[-12:]:
                label = name if len(self._positions) <= 1 else f"{pos}:{name}"
                verdicts.append(f"{label} ", style="default")
                verdicts.append(f"{v}  ", style=VERDICT_STYLE[v])
            rows.append(verdicts)
        if self._last_message:
            rows.append(Text.from_markup(self._last_message, style="dim"))
        return Panel(Group(*rows), title=self._title, title_align="left", border_style="blue")

    def _position_block(self, p: _Position) -> Group:
        now = self.clock.monotonic()
        line = Text(f"{p.name}  ", style="bold")
        if p.scenario:
            line.append(f"{p.scenario} ({p.scenario_index}/{p.scenario_total})", style="bold cyan")
            if p.step:
                args = json.dumps(p.step_args, default=str) if p.step_args else ""
                line.append(f"   step {p.step_index}/{p.step_total} {p.step} {args}")
                if p.step_t0 is not None:
                    line.append(f"  {now - p.step_t0:.1f} s", style="dim")
        else:
            line.append("idle", style="dim")
        table = Table.grid(padding=(0, 2))
        s = self.sample(p)
        limit = limit_at(p.limit_ahead, s.t_mono_s if s else now)
        if s is not None and s.current_a:
            scale = max([limit or 0.0, s.offered_a or 0.0, *s.current_a.values(), 6.0]) * 1.1
            for k in sorted(s.current_a):
                amps = s.current_a[k]
                over = limit is not None and amps > limit + self.tol_abs_a + self.tol_rel * limit
                table.add_row(f"L{k}", _bar(amps, limit, scale, "red" if over else "green"),
                              Text(f"{amps:5.1f} A", style="bold red" if over else ""))
        info = Text("   ")
        info.append(f"expected limit {limit:.1f} A" if limit is not None else "expected limit -")
        if s is not None and s.offered_a is not None:
            info.append(f"   PWM offers {s.offered_a:.1f} A")
        if s is None:
            info.append("   (no samples yet)", style="dim")
        return Group(line, table, info)


def _bar(value: float, limit: float | None, scale: float, colour: str) -> Text:
    """A bar of the current with a '|' where the limit is."""
    filled = int(round(BAR_WIDTH * min(max(value, 0.0) / scale, 1.0)))
    mark = int(round(BAR_WIDTH * min(limit / scale, 1.0))) if limit is not None else None
    text = Text()
    for i in range(BAR_WIDTH):
        if mark is not None and i == min(mark, BAR_WIDTH - 1):
            text.append("|", style="bold blue")
        else:
            text.append("█" if i < filled else "·", style=colour if i < filled else "dim")
    return text


def _hms(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
