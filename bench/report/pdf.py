"""report.pdf (reportlab platypus): cover, summary, one section per scenario.

Everything comes from the run folder: the record, the plots already rendered
into it (ScenarioRecord.plots), the key figures (ScenarioRecord.figures) and
ocpp.jsonl for the frames around a failure.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (Image, KeepTogether, PageBreak, Paragraph, Preformatted, SimpleDocTemplate,
                                Spacer, Table, TableStyle)

from bench.clock import parse_iso, speed_label
from bench.record import CheckRecord, RunRecord, ScenarioRecord, Verdict, skip_label
from bench.report.figures import FIGURES
from bench.report.junit import duration_s, error_message, failure_message, fmt_value, margin, scenario_worst
from bench.report.junit import worst_measurement
from bench.report.signed_energy import signed_energy_section

PDF_FILE = "report.pdf"
OCPP_LOG = "ocpp.jsonl"
VERDICT_COLOURS = {
    Verdict.PASS: colors.HexColor("#2e7d32"),
    Verdict.FAIL: colors.HexColor("#c62828"),
    Verdict.ERROR: colors.HexColor("#ef6c00"),
    Verdict.SKIPPED: colors.HexColor("#757575"),
}
FRAMES_BEFORE, FRAMES_AFTER = 6, 4  # OCPP frames shown around a failure
FRAME_LINE_CHARS = 112  # fits the text width in 7 pt Courier
CELL_CHARS = 600  # a table cell cannot split across pages: long texts (tracebacks) are cut
GRID = colors.HexColor("#b0b0b0")
HEADER_BG = colors.HexColor("#e8e8e8")
MAX_STEP_ROWS = 300  # a soak run's thousands of steps stay in record.json, not on paper
SECURITY_PROFILES = {0: "0: plain WebSocket, no basic auth", 1: "1: basic auth, no TLS",
                     2: "2: TLS with basic auth", 3: "3: TLS with client certificates"}


@dataclass(frozen=True)
class OcppFrame:
    t_mono_s: float
    direction: str
    action: str
    cp_id: str
    frame: Any


def load_ocpp_log(run_dir: Path) -> list[OcppFrame]:
    """Frames of ocpp.jsonl in time order; a torn last line (killed run) is skipped."""
    path = Path(run_dir) / OCPP_LOG
    if not path.is_file():
        return []
    frames = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            d = json.loads(line)
            frames.append(OcppFrame(float(d["t_mono_s"]), str(d.get("dir", "")), str(d.get("action") or ""),
                                    str(d.get("cp_id", "")), d.get("frame")))
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(frames, key=lambda f: f.t_mono_s)


def frames_around(frames: list[OcppFrame], t: float, t_from: float, t_to: float | None) -> list[OcppFrame]:
    """A few frames before and after `t`, limited to the scenario window [t_from, t_to]."""
    inside = [f for f in frames if f.t_mono_s >= t_from and (t_to is None or f.t_mono_s <= t_to)]
    before = [f for f in inside if f.t_mono_s <= t][-FRAMES_BEFORE:]
    after = [f for f in inside if f.t_mono_s > t][:FRAMES_AFTER]
    return before + after


def write_pdf(run_dir: Path, record: RunRecord, notes: list[str] | None = None) -> Path:
    """Write report.pdf into the run folder and return its path.

    `notes` name what is missing (shown on the cover); what the PDF itself finds
    missing (OCPP log, a plot file) is appended to that list.
    """
    run_dir = Path(run_dir)
    path = run_dir / PDF_FILE
    tmp = path.with_suffix(".pdf.tmp")
    doc = SimpleDocTemplate(str(tmp), pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm,
                            topMargin=16 * mm, bottomMargin=18 * mm,
                            title=f"evbench report {record.run_id}", author="evbench", subject=record.suite)
    builder = _Builder(run_dir, record, doc.width, notes if notes is not None else [])
    doc.build(builder.story(), onFirstPage=builder.footer, onLaterPages=builder.footer)
    tmp.replace(path)
    return path


class _Builder:
    def __init__(self, run_dir: Path, record: RunRecord, width: float, notes: list[str]) -> None:
        self.run_dir = run_dir
        self.record = record
        self.width = width
        self.notes = notes
        self.frames = load_ocpp_log(run_dir)
        if not self.frames and not (run_dir / OCPP_LOG).is_file():
            self.notes.append(f"OCPP log missing: {OCPP_LOG}")
        base = getSampleStyleSheet()
        self.s = {
            "title": ParagraphStyle("title", parent=base["Title"], fontSize=22, leading=26),
            "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=16, leading=20, spaceAfter=4),
            "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, leading=15, spaceBefore=8,
                                 keepWithNext=1),
            "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12),
            "cell": ParagraphStyle("cell", parent=base["BodyText"], fontSize=8, leading=9.5),
            "cellb": ParagraphStyle("cellb", parent=base["BodyText"], fontSize=8, leading=9.5,
                                    fontName="Helvetica-Bold"),
            "cellw": ParagraphStyle("cellw", parent=base["BodyText"], fontSize=8, leading=9.5,
                                    fontName="Helvetica-Bold", textColor=colors.white),
            "mono": ParagraphStyle("mono", fontName="Courier", fontSize=7, leading=8.6),
            "verdict": ParagraphStyle("verdict", fontName="Helvetica-Bold", fontSize=30, leading=36,
                                      alignment=TA_CENTER, textColor=colors.white),
            "badge": ParagraphStyle("badge", fontName="Helvetica-Bold", fontSize=11, leading=13,
                                    alignment=TA_CENTER, textColor=colors.white),
        }

    # ------------------------------------------------------------ helpers
    def p(self, text: Any, style: str = "body") -> Paragraph:
        return Paragraph(escape(str(text)), self.s[style])

    def table(self, rows: list[list[Any]], widths: list[float], header: bool = True,
              extra: list[tuple] | None = None) -> Table:
        cells = [[c if not isinstance(c, str) else self.p(c, "cellb" if header and i == 0 else "cell")
                  for c in row] for i, row in enumerate(rows)]
        t = Table(cells, colWidths=[w * self.width for w in widths], repeatRows=1 if header else 0,
                  hAlign="LEFT")
        style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                 ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_BG))
        t.setStyle(TableStyle(style + (extra or [])))
        return t

    def coloured(self, text: str, verdict: Verdict) -> Paragraph:
        """A table cell in the verdict's colour (TableStyle colours do not reach Paragraph cells)."""
        style = ParagraphStyle("v", parent=self.s["cellb"], textColor=VERDICT_COLOURS[Verdict(verdict)])
        return Paragraph(escape(text), style)

    def kv_table(self, pairs: list[tuple[str, Any]]) -> Table:
        rows = [[self.p(k, "cellb"), self.p("—" if v in (None, "") else v, "cell")] for k, v in pairs]
        t = Table(rows, colWidths=[0.25 * self.width, 0.75 * self.width], hAlign="LEFT")
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    def verdict_block(self, verdict: Verdict, style: str, width: float) -> Table:
        v = Verdict(verdict)
        t = Table([[Paragraph(v.value, self.s[style])]], colWidths=[width], hAlign="LEFT")
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), VERDICT_COLOURS[v]),
                               ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
        return t

    def rel(self, scenario: ScenarioRecord, t: float | None) -> str:
        return "—" if t is None else f"{t - scenario.t_start_mono_s:.2f}"

    def footer(self, canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(doc.leftMargin, 9 * mm, f"evbench  {self.record.suite}  run {self.record.run_id}")
        canvas.drawRightString(doc.leftMargin + doc.width, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    # ------------------------------------------------------------ story
    def story(self) -> list:
        # scenario sections first: they add notes (missing plots) that the cover lists
        sections = []
        for i, scenario in enumerate(self.record.scenarios, 1):
            sections += [PageBreak()] + self.scenario_section(i, scenario)
        return self.cover() + [PageBreak()] + self.summary() + sections

    def cover(self) -> list:
        r = self.record
        dut = r.dut or {}
        out = [self.p("evbench test report", "title"), self.p(f"Suite {r.suite}, run {r.run_id}", "body"),
               Spacer(1, 6 * mm), self.verdict_block(r.verdict, "verdict", self.width), Spacer(1, 6 * mm)]
        if not r.complete:
            out.append(self.p("INCOMPLETE RUN: the run was cut short; only what was recorded is reported.", "h2"))
        blind = [name for name, info in (r.positions or {}).items() if info.get("protocol_only")]
        if blind:
            out.append(self.p(f"PROTOCOL-ONLY: position(s) {', '.join(blind)} had no instruments. Only the OCPP "
                              "behaviour was tested; current, PWM and energy were NOT measured and every check "
                              "that judges them is SKIPPED.", "h2"))
        out += [self.p("Device under test", "h2"), self.kv_table([
            ("Vendor", dut.get("vendor")), ("Model", dut.get("model")), ("Serial", dut.get("serial")),
            ("Firmware", dut.get("firmware")), ("OCPP version", r.ocpp_version),
            ("Security profile", _security_text(r.security_profile))]
            + [(k, v) for k, v in dut.items() if k not in ("vendor", "model", "serial", "firmware")])]
        out += [self.p("Run", "h2"), self.kv_table([
            ("Bench", _bench_name(r) or "not recorded"),
            ("Virtual lab", ("yes" if r.virtual_lab else "no")
             + (f", time-warped at speed {speed_label(r.speed)} (times in virtual seconds)" if r.speed != 1 else "")),
            ("Fault injected", r.fault or "none"),
            ("Started (UTC)", r.utc_start), ("Ended (UTC)", r.utc_end or "not recorded"),
            ("Duration", f"{r.t_end_mono_s - r.t_start_mono_s:.1f} s" if r.t_end_mono_s > r.t_start_mono_s
             else None),
            ("Config file", r.config_file), ("Config digest", r.config_digest),
            ("Sampling", _sampling_text(r.sampling or {})),
            ("Run error", _truncate(r.error, CELL_CHARS) or None)])]
        if r.instruments:
            rows: list[list[Any]] = [["Position / name", "Role", "Driver / address", "Identity", "Calibration due"]]
            run_day = _day(r.utc_start)
            for ins in r.instruments:
                due = ins.get("calibration_due")
                due_cell: Any = "not stated"
                if due:
                    due_day = _day(due)
                    overdue = run_day is not None and due_day is not None and due_day < run_day
                    due_cell = self.coloured(f"{due} (OVERDUE)", Verdict.FAIL) if overdue else str(due)
                name = f"{ins.get('position')} / {ins.get('name', '')}" if ins.get("position") else ins.get("name", "")
                where = Paragraph(f"{escape(str(ins.get('driver', '')))}<br/>{escape(str(ins.get('address', '')))}",
                                  self.s["cell"])
                rows.append([str(name), str(ins.get("role", "")), where, _identity_text(ins.get("identity")),
                             due_cell])
            out += [self.p("Instruments", "h2"), self.table(rows, [0.13, 0.11, 0.32, 0.24, 0.20])]
        else:
            out += [self.p("Instruments", "h2"), self.p("none recorded")]
        if self.notes:
            out += [self.p("Missing or incomplete", "h2")] + [self.p(f"• {n}") for n in self.notes]
        return out

    def summary(self) -> list:
        rows: list[list[Any]] = [
            ["#", "Scenario", "Position", "Verdict", "Duration (s)", "Worst measurement", "Margin"]]
        extra = []
        for i, s in enumerate(self.record.scenarios, 1):
            worst = scenario_worst(s)
            if worst:
                c, m = worst
                d = margin(m)
                wtext = f"{c.name}.{m.name} = {fmt_value(m.value)} {m.unit}"
                mtext = "—" if d is None else f"{d:+.4g} {m.unit}"
            else:
                wtext = _truncate(error_message(s), 200) if s.verdict == Verdict.ERROR else "no measurements"
                mtext = "—"
            rows.append([str(i), s.name, s.position, self.p(Verdict(s.verdict).value, "cellw"),
                         f"{duration_s(s):.1f}", wtext, mtext])
            extra += [("BACKGROUND", (3, i), (3, i), VERDICT_COLOURS[Verdict(s.verdict)])]
        t = self.table(rows, [0.04, 0.28, 0.09, 0.10, 0.09, 0.30, 0.10], extra=extra)
        counts = {v: sum(1 for s in self.record.scenarios if s.verdict == v) for v in Verdict}
        line = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n)
        return [self.p("Summary", "h1"), self.p(f"{len(self.record.scenarios)} scenarios: {line or 'none'}."),
                Spacer(1, 3 * mm), t] + self.key_figures()

    def key_figures(self) -> list:
        """The numbers `bench trend` follows across runs, one row per scenario."""
        scenarios = [s for s in self.record.scenarios if any(v is not None for v in (s.figures or {}).values())]
        if not scenarios:
            return []
        names = list(FIGURES)
        rows = [["Scenario"] + [f"{FIGURES[n].label} ({FIGURES[n].unit})" for n in names]]
        for s in scenarios:
            rows.append([s.name] + [_figure_text((s.figures or {}).get(n)) for n in names])
        share = 0.70 / len(names)
        return [self.p("Key figures", "h2"), self.table(rows, [0.30] + [share] * len(names)),
                Spacer(1, 1.5 * mm),
                self.p("Overshoot: worst current above the expected limit outside the settle windows (0 = never "
                       "above). Settle time: longest time from a change of the expected limit until every phase "
                       "is at most limit + tolerance and steady. Errors are signed, worst of the scenario. "
                       "— = not applicable to the scenario.", "cell")]

    def scenario_section(self, index: int, s: ScenarioRecord) -> list:
        v = Verdict(s.verdict)
        head = Table([[Paragraph(escape(f"{index}. {s.name}"), self.s["h1"]),
                       self.verdict_block(v, "badge", 0.18 * self.width)]],
                     colWidths=[0.8 * self.width, 0.2 * self.width], hAlign="LEFT")
        head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
        ended = s.t_end_mono_s > s.t_start_mono_s
        out: list = [head, self.p(f"Position {s.position}   file {s.file}   UTC {s.utc_start or 'not recorded'} "
                                  f"to {s.utc_end or 'not recorded'}   duration "
                                  + (f"{duration_s(s):.1f} s" if ended else "not recorded (never ended)"), "cell")]
        if s.description:
            out += [Spacer(1, 2 * mm), self.p(s.description)]
        figures = [(n, (s.figures or {}).get(n)) for n in FIGURES]
        if any(val is not None for _, val in figures):
            text = ";  ".join(f"{FIGURES[n].label}: {_figure_text(val)} {FIGURES[n].unit}"
                              for n, val in figures if val is not None)
            out += [Spacer(1, 1.5 * mm), self.p(f"Key figures: {text}", "cell")]
        if s.block or s.ocpp_ids:
            out += [self.p(f"Block {s.block or '-'}   OCTT ids {', '.join(s.ocpp_ids) or '-'}", "cell")]
        out += self.not_measured(s)
        failing = v in (Verdict.FAIL, Verdict.ERROR)
        if failing:  # the reason first: it is what the reader came for
            out += self.reasons(s)
        out += self.steps(s) + self.plots(s) + self.checks(s) + signed_energy_section(self, s)
        if failing:
            out += self.ocpp_frames(s)
        return out

    def steps(self, s: ScenarioRecord) -> list:
        if not s.steps:
            return [self.p("Steps", "h2"), self.p("no steps recorded")]
        rows: list[list[Any]] = [["#", "Step", "Arguments", "Start (s)", "End (s)", "UTC", "Result"]]
        shown = s.steps if len(s.steps) <= MAX_STEP_ROWS else s.steps[: MAX_STEP_ROWS - 20] + s.steps[-20:]
        for k, st in enumerate(shown):
            if k == MAX_STEP_ROWS - 20 and len(shown) < len(s.steps):
                rows.append(["…", f"{len(s.steps) - len(shown)} more steps (see record.json)", "", "", "", "", ""])
            args = json.dumps(st.args, default=str)
            result = "ok" if st.ok else self.coloured(_truncate(f"failed: {st.message}", CELL_CHARS), Verdict.ERROR)
            rows.append([str(st.index), st.name, _truncate(args, 160), self.rel(s, st.t_start_mono_s),
                         self.rel(s, st.t_end_mono_s), _clock(st.utc_start), result])
        return [self.p("Steps", "h2"), self.p("Times in seconds from the scenario start; UTC clock of the step "
                                              "start.", "cell"),
                self.table(rows, [0.05, 0.16, 0.33, 0.09, 0.09, 0.11, 0.17])]

    def plots(self, s: ScenarioRecord) -> list:
        out = []
        for rel in s.plots:
            path = self.run_dir / rel
            if not path.is_file():
                self.notes.append(f"{s.name}: plot missing: {rel}")
                continue
            w, h = ImageReader(str(path)).getSize()
            width = self.width
            out += [Spacer(1, 2 * mm), Image(str(path), width=width, height=width * h / w)]
        if not out:
            return [self.p("Plots", "h2"), self.p("no plots (see 'Missing or incomplete' on the cover)")]
        return [self.p("Plots", "h2")] + out

    def checks(self, s: ScenarioRecord) -> list:
        if not s.checks:
            return [self.p("Checks", "h2"), self.p("no checks ran")]
        rows: list[list[Any]] = [["Check", "Verdict", "Message"]]
        for c in s.checks:
            rows.append([c.name, self.coloured(Verdict(c.verdict).value, c.verdict),
                         _truncate(c.message or "", CELL_CHARS)])
        out = [self.p("Checks", "h2"), self.table(rows, [0.25, 0.1, 0.65])]
        rows = [["Check", "Measurement", "Value", "Unit", "Low", "High", "Verdict"]]
        for c in s.checks:
            for m in c.measurements:
                rows.append([c.name, m.name, fmt_value(m.value), m.unit,
                             "—" if m.low is None else fmt_value(m.low),
                             "—" if m.high is None else fmt_value(m.high),
                             self.coloured(Verdict(m.verdict).value, m.verdict)])
        if len(rows) > 1:
            out += [self.p("Measurements", "h2"), self.table(rows, [0.22, 0.26, 0.11, 0.07, 0.11, 0.11, 0.12])]
        return out

    def not_measured(self, s: ScenarioRecord) -> list:
        out = []
        if s.skipped:
            out.append(self.p(f"{skip_label(s.skip_kind)}: {s.skipped}"))
        if s.not_measured:
            out.append(self.p(f"Not measured (protocol-only position): {', '.join(s.not_measured)}"))
        return out

    def reasons(self, s: ScenarioRecord) -> list:
        reasons = [f"Scenario error: {s.error}"] if s.error else []
        reasons += [failure_message(c) + (f" ({c.message})" if c.message and c.measurements else "")
                    for c in s.checks if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
        return [self.p("Why", "h2")] + [self.p(r) for r in reasons or [error_message(s)]]

    def ocpp_frames(self, s: ScenarioRecord) -> list:
        """The frames around each failing check's worst point (or the scenario end)."""
        out: list = []
        failed: list[CheckRecord | None] = [c for c in s.checks if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
        t_end = s.t_end_mono_s if s.t_end_mono_s > s.t_start_mono_s else None
        fallback = t_end if t_end is not None else (s.steps[-1].t_start_mono_s if s.steps else s.t_start_mono_s)
        targets: list[tuple[str, float]] = []
        for c in failed or [None]:
            t, label = fallback, "scenario end" if t_end is not None else "last step"
            m = _worst_failing(c)
            if c is not None and m is not None and m.t_mono_s is not None:  # m is None when c is
                t, label = m.t_mono_s, f"{c.name}.{m.name}"
            if all(abs(t - t2) > 1e-9 for _, t2 in targets):
                targets.append((label, t))
        for label, t in targets:
            frames = frames_around(self.frames, t, s.t_start_mono_s, t_end)
            title = f"OCPP frames around {label} (t = {t - s.t_start_mono_s:.2f} s)"
            if not frames:
                out += [self.p(title, "h2"), self.p("no OCPP frames in the scenario window")]
                continue
            many_cps = len({f.cp_id for f in self.frames}) > 1
            lines = [_frame_line(f, s.t_start_mono_s, many_cps) for f in frames]
            out.append(KeepTogether([self.p(title, "h2"), Preformatted("\n".join(lines), self.s["mono"])]))
        return out


def _worst_failing(check: CheckRecord | None):
    if check is None:
        return None
    return worst_measurement([m for m in check.measurements if m.verdict != Verdict.PASS])


def _frame_line(f: OcppFrame, t0: float, with_cp: bool) -> str:
    arrow = {"dut->csms": "DUT>CSMS", "csms->dut": "CSMS>DUT"}.get(f.direction, f.direction)
    cp = f" {f.cp_id}" if with_cp else ""
    body = json.dumps(f.frame, separators=(",", ":"), default=str)
    return _truncate(f"{f.t_mono_s - t0:+9.3f}s {arrow}{cp} {f.action or '-':<20} {body}", FRAME_LINE_CHARS)


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _flat(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, dict):
            parts.append(_flat(v))
        elif v not in (None, ""):
            parts.append(f"{k}={v}")
    return ", ".join(p for p in parts if p)


def _sampling_text(sampling: dict[str, Any]) -> str:
    """Either {key: value} or {position: {key: value}} (one entry per position)."""
    return "; ".join(f"{k}: {_flat(v)}" if isinstance(v, dict) else f"{k}={v}" for k, v in sampling.items())


def _bench_name(record: RunRecord) -> str | None:
    return record.bench_name or None


def _security_text(profile: int | None) -> str:
    if profile is None:
        return "not recorded"
    return SECURITY_PROFILES.get(profile, str(profile))


def _identity_text(identity: Any) -> str:
    if not isinstance(identity, dict):
        return str(identity or "")
    main = " ".join(str(identity[k]) for k in ("vendor", "model") if identity.get(k))
    extra = [f"{k} {identity[k]}" for k in ("serial", "firmware") if identity.get(k)]
    rest = _flat({k: v for k, v in identity.items() if k not in ("vendor", "model", "serial", "firmware")})
    return ", ".join(x for x in [main, *extra, rest] if x)


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return parse_iso(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


def _clock(utc: str) -> str:
    """'2025-01-01T00:01:10.123Z' -> '00:01:10.1'."""
    try:
        dt = parse_iso(utc)
    except (ValueError, TypeError):
        return "—"
    return dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 100_000}"


def _figure_text(value: float | None) -> str:
    return "—" if value is None else fmt_value(value)
