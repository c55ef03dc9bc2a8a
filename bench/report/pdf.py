"""report.pdf (reportlab platypus): a cover a manager reads in one minute, a summary row per
scenario, and paper only where it earns its place.

  cover     verdict and counts (PASS / FAIL / ERROR / NOT SUPPORTED / SKIPPED), what was not run
            and why, an injected fault, the DUT and its declared features, the tolerances and
            where they come from, the run and its instruments
  summary   one row per scenario (a protocol-only PASS and a SKIPPED scenario get nothing more),
            then the key figures `bench trend` follows
  evidence  a FAIL or ERROR scenario: why (one sentence per failing check), steps, plots,
            measurements, the OCPP frames around the failure in full
  compact   a PASS scenario with physical measurements: one page, one plot

`full=True` (`bench report --full`) gives every scenario a full section, for an audit.
Everything comes from the run folder: the record, the plots already rendered into it
(ScenarioRecord.plots), the key figures (ScenarioRecord.figures) and ocpp.jsonl.
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
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (Image, KeepTogether, PageBreak, Paragraph, Preformatted, SimpleDocTemplate,
                                Spacer, Table, TableStyle)

from bench.clock import parse_iso, speed_label
from bench.checks.plan import PlannedMeasurement
from bench.record import CheckRecord, Measurement, RunRecord, ScenarioRecord, Verdict, skip_label
from bench.report import sentences as say
from bench.report.figures import FIGURES
from bench.report.junit import fmt_fixed, fmt_value, worst_measurement
from bench.report.signed_energy import signed_energy_section

PDF_FILE = "report.pdf"
OCPP_LOG = "ocpp.jsonl"
VERDICT_COLOURS = {
    Verdict.PASS: colors.HexColor("#2e7d32"),
    Verdict.FAIL: colors.HexColor("#c62828"),
    Verdict.ERROR: colors.HexColor("#ef6c00"),
    Verdict.SKIPPED: colors.HexColor("#757575"),
}
LABEL_COLOURS = {**{v.value: c for v, c in VERDICT_COLOURS.items()}, say.NOT_SUPPORTED: colors.HexColor("#5c6bc0")}
FAULT_BG = colors.HexColor("#fde0dc")
FRAMES_BEFORE, FRAMES_AFTER = 6, 4  # OCPP frames shown around a failure
FRAME_LINE_CHARS = 112  # fits the text width in 7 pt Courier
FRAME_MAX_CHARS = 3000  # a frame that carries limits is shown whole up to this
FRAME_OTHER_CHARS = 240  # the others (MeterValues with dozens of values) are cut: ocpp.jsonl has them whole
# requests whose frames (and answers) carry the limits or schedules a failure is judged against
FRAME_FULL_ACTIONS = frozenset({"SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule",
                                "GetChargingProfiles", "ReportChargingProfiles", "RemoteStartTransaction",
                                "RequestStartTransaction"})
CELL_CHARS = 600  # a table cell cannot split across pages: long texts (tracebacks) are cut
GRID = colors.HexColor("#b0b0b0")
HEADER_BG = colors.HexColor("#e8e8e8")
CHECK_BG = colors.HexColor("#f3f3f3")
MAX_STEP_ROWS = 300  # a soak run's thousands of steps stay in record.json, not on paper
COMPACT_PLOT_HEIGHT = 0.36  # share of the text height the one plot of a compact page may take
CELL_FONT, CELL_SIZE, CELL_PAD = "Helvetica", 8, 8  # table text; padding of a cell, both sides
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


def write_pdf(run_dir: Path, record: RunRecord, notes: list[str] | None = None, full: bool = False) -> Path:
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
    builder = _Builder(run_dir, record, doc.width, doc.height, notes if notes is not None else [], full)
    doc.build(builder.story(), onFirstPage=builder.footer, onLaterPages=builder.footer)
    tmp.replace(path)
    return path


def id_width(texts: list[str], share_max: float, width: float, bold: bool = False) -> float:
    """The share of the text width a column of identifiers needs to hold each on one line."""
    font = "Helvetica-Bold" if bold else CELL_FONT
    need = max((stringWidth(t, font, CELL_SIZE) for t in texts), default=0.0) + CELL_PAD + 2
    return min(need / width, share_max)


class _Builder:
    def __init__(self, run_dir: Path, record: RunRecord, width: float, height: float, notes: list[str],
                 full: bool) -> None:
        self.run_dir = run_dir
        self.record = record
        self.width = width
        self.height = height
        self.notes = notes
        self.full = full
        self.frames = load_ocpp_log(run_dir)
        if not self.frames and not (run_dir / OCPP_LOG).is_file():
            self.notes.append(f"OCPP log missing: {OCPP_LOG}")
        self.many_positions = len({s.position for s in record.scenarios}) > 1
        base = getSampleStyleSheet()
        cell = ParagraphStyle("cell", parent=base["BodyText"], fontName=CELL_FONT, fontSize=CELL_SIZE, leading=9.5)
        self.s = {
            "title": ParagraphStyle("title", parent=base["Title"], fontSize=22, leading=26),
            "h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=16, leading=20, spaceAfter=4),
            "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, leading=15, spaceBefore=8,
                                 keepWithNext=1),
            "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9.5, leading=12),
            "cell": cell,
            # identifiers (scenario, check, measurement, step names) never break mid-word
            "id": ParagraphStyle("id", parent=cell, splitLongWords=0),
            "cellb": ParagraphStyle("cellb", parent=cell, fontName="Helvetica-Bold", splitLongWords=0),
            "cellw": ParagraphStyle("cellw", parent=cell, fontName="Helvetica-Bold", textColor=colors.white,
                                    splitLongWords=0),
            "small": ParagraphStyle("small", parent=cell, fontSize=7, leading=8.2),
            "mono": ParagraphStyle("mono", fontName="Courier", fontSize=7, leading=8.6),
            "verdict": ParagraphStyle("verdict", fontName="Helvetica-Bold", fontSize=30, leading=36,
                                      alignment=TA_CENTER, textColor=colors.white),
            "badge": ParagraphStyle("badge", fontName="Helvetica-Bold", fontSize=11, leading=13,
                                    alignment=TA_CENTER, textColor=colors.white),
            "count": ParagraphStyle("count", fontName="Helvetica-Bold", fontSize=16, leading=19, alignment=TA_CENTER),
            "countl": ParagraphStyle("countl", fontName="Helvetica-Bold", fontSize=7.5, leading=9,
                                     alignment=TA_CENTER, textColor=colors.white),
            "fault": ParagraphStyle("fault", parent=base["BodyText"], fontName="Helvetica-Bold", fontSize=10.5,
                                    leading=13, textColor=VERDICT_COLOURS[Verdict.FAIL]),
        }

    # ------------------------------------------------------------ helpers
    def p(self, text: Any, style: str = "body") -> Paragraph:
        return Paragraph(escape(str(text)), self.s[style])

    def table(self, rows: list[list[Any]], widths: list[float], header: bool = True,
              extra: list[tuple] | None = None, ids: tuple[int, ...] = ()) -> Table:
        """Strings become Paragraphs; the columns in `ids` hold identifiers (no mid-word break)."""
        def cell(c: Any, i: int, j: int) -> Any:
            if not isinstance(c, str):
                return c
            return self.p(c, "cellb" if header and i == 0 else "id" if j in ids else "cell")

        cells = [[cell(c, i, j) for j, c in enumerate(row)] for i, row in enumerate(rows)]
        t = Table(cells, colWidths=[w * self.width for w in widths], repeatRows=1 if header else 0,
                  hAlign="LEFT")
        style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                 ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                 ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD / 2), ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD / 2)]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_BG))
        t.setStyle(TableStyle(style + (extra or [])))
        return t

    def coloured(self, text: str, verdict: Verdict | str) -> Paragraph:
        """A table cell in the verdict's colour (TableStyle colours do not reach Paragraph cells)."""
        colour = LABEL_COLOURS.get(str(Verdict(verdict).value if isinstance(verdict, Verdict) else verdict),
                                   colors.black)
        style = ParagraphStyle("v", parent=self.s["cellb"], textColor=colour)
        return Paragraph(escape(text), style)

    def kv_table(self, pairs: list[tuple[str, Any]], key_share: float = 0.25) -> Table:
        rows = [[self.p(k, "cellb"), self.p("—" if v in (None, "") else v, "cell")] for k, v in pairs]
        t = Table(rows, colWidths=[key_share * self.width, (1 - key_share) * self.width], hAlign="LEFT")
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (0, -1), HEADER_BG),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]))
        return t

    def verdict_block(self, verdict: Verdict, style: str, width: float) -> Table:
        v = Verdict(verdict)
        t = Table([[Paragraph(v.value, self.s[style])]], colWidths=[width], hAlign="LEFT")
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), VERDICT_COLOURS[v]),
                               ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
        return t

    def rel(self, scenario: ScenarioRecord, t: float | None) -> str:
        return "—" if t is None else fmt_fixed(t - scenario.t_start_mono_s, 2)

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
        numbered = list(enumerate(self.record.scenarios, 1))
        sections: list = []
        if self.full:
            for i, s in numbered:
                sections += [PageBreak()] + self.evidence(i, s)
        else:
            for i, s in numbered:
                if say.layout(s) == say.Layout.EVIDENCE:
                    sections += [PageBreak()] + self.evidence(i, s)
            for i, s in numbered:
                if say.layout(s) == say.Layout.COMPACT:
                    sections += [PageBreak()] + self.compact(i, s)
        return self.cover() + [PageBreak()] + self.summary() + sections

    # ------------------------------------------------------------ cover
    def cover(self) -> list:
        r = self.record
        out: list = [self.p("evbench test report", "title"), self.p(f"Suite {r.suite}, run {r.run_id}", "body"),
                     Spacer(1, 4 * mm)]
        if r.fault:
            out += [self.fault_banner(r.fault), Spacer(1, 3 * mm)]
        out += [self.verdict_and_counts(), Spacer(1, 3 * mm), self.p(self.tested_sentence())]
        if not r.complete:
            out.append(self.p("INCOMPLETE RUN: the run was cut short; only what was recorded is reported.", "h2"))
        blind = [name for name, info in (r.positions or {}).items() if info.get("protocol_only")]
        if blind:
            out.append(self.p(f"PROTOCOL-ONLY: position(s) {', '.join(blind)} had no instruments. Only the OCPP "
                              "behaviour was tested; current, PWM and energy were NOT measured and every check "
                              "that judges them is SKIPPED.", "h2"))
        out += self.not_run() + self.dut() + self.features() + self.tolerance_table() + self.run_info()
        out += self.instruments()
        if self.notes:
            out += [self.p("Missing or incomplete", "h2")] + [self.p(f"• {n}") for n in self.notes]
        return out

    def fault_banner(self, fault: str) -> Table:
        text = (f"FAULT INJECTED: {fault}. The simulated charger carried this fault on purpose; "
                "a FAIL below is the bench catching it, not a finding about a real charger.")
        t = Table([[Paragraph(escape(text), self.s["fault"])]], colWidths=[self.width], hAlign="LEFT")
        t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), FAULT_BG),
                               ("BOX", (0, 0), (-1, -1), 1.0, VERDICT_COLOURS[Verdict.FAIL])]))
        return t

    def verdict_and_counts(self) -> Table:
        counts = say.counts(self.record)
        labels = [Paragraph(escape(k), self.s["countl"]) for k in counts]
        numbers = [Paragraph(str(n), self.s["count"]) for n in counts.values()]
        # each label on one line: NOT SUPPORTED gets the room it needs, the others share the rest
        need = [stringWidth(k, "Helvetica-Bold", 7.5) + 8 for k in counts]
        spare = (0.66 * self.width - sum(need)) / len(counts)
        grid = Table([labels, numbers], colWidths=[n + spare for n in need])
        style: list[tuple] = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                 ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)]
        style += [("BACKGROUND", (j, 0), (j, 0), LABEL_COLOURS[k]) for j, k in enumerate(counts)]
        grid.setStyle(TableStyle(style))
        outer = Table([[self.verdict_block(self.record.verdict, "verdict", 0.3 * self.width), grid]],
                      colWidths=[0.32 * self.width, 0.68 * self.width], hAlign="LEFT")
        outer.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
        return outer

    def tested_sentence(self) -> str:
        r = self.record
        ran = [s for s in r.scenarios if Verdict(s.verdict) != Verdict.SKIPPED]
        measured = [s for s in ran if any(say.is_physical(c) and c.measurements for c in s.checks)]
        versions = sorted({str(info.get("ocpp_version")) for info in (r.positions or {}).values()
                           if info.get("ocpp_version")} or {r.ocpp_version})
        return (f"{len(r.scenarios)} scenarios on OCPP {', '.join(versions)}: {len(ran)} ran "
                f"({len(measured)} with current, PWM or energy measured, {len(ran) - len(measured)} judged on "
                f"the OCPP protocol alone), {len(r.scenarios) - len(ran)} did not run (below, with the reason).")

    def not_run(self) -> list:
        """The SKIPPED scenarios grouped by their reason: what was not tested, and why."""
        groups: dict[str, list[str]] = {}
        for s in self.record.scenarios:
            if Verdict(s.verdict) == Verdict.SKIPPED:
                groups.setdefault(say.skip_text(s), []).append(s.name)
        if not groups:
            return []
        rows: list[list[Any]] = [["Not run", "Scenarios"]]
        rows += [[reason, ", ".join(names)] for reason, names in groups.items()]
        return [self.p("Not tested, and why", "h2"), self.table(rows, [0.45, 0.55])]

    def dut(self) -> list:
        r = self.record
        dut = r.dut or {}
        pairs = [("Vendor / model", " ".join(str(dut[k]) for k in ("vendor", "model") if dut.get(k)) or None),
                 ("Serial", dut.get("serial")), ("Firmware", dut.get("firmware")), ("OCPP version", r.ocpp_version),
                 ("Security profile", _security_text(r.security_profile))]
        pairs += [(k, v) for k, v in dut.items() if k not in ("vendor", "model", "serial", "firmware")]
        for name, info in (r.positions or {}).items():
            limits = [f"{k} {info[k]}" for k in ("reaction_time_s", "meter_accuracy_class") if k in info]
            if limits:
                pairs.append((f"Declared limits ({name})", ", ".join(limits) + " (lab_config.yaml positions[].dut)"))
        return [self.p("Device under test", "h2"), self.kv_table(pairs)]

    def features(self) -> list:
        caps = self.record.capabilities or {}
        if not caps:
            return [self.p("Features", "h2"), self.p("not recorded")]
        rows: list[list[Any]] = [["Features", "Supported", "Source (declared in the config, or asked of the DUT)"]]
        for pos, cap in caps.items():
            prefix = f"{pos}: " if len(caps) > 1 else ""
            groups: dict[tuple[bool, str], list[str]] = {}  # features known from the same fact share a row
            for feature, info in (cap.get("features") or {}).items():
                groups.setdefault((bool(info.get("supported")), str(info.get("source", ""))), []).append(feature)
            for (yes, source), names in sorted(groups.items(), key=lambda g: not g[0][0]):
                rows.append([prefix + ", ".join(names), self.coloured("yes" if yes else "no",
                                                                      Verdict.PASS if yes else Verdict.SKIPPED),
                             _truncate(source, 200)])
            extra = [f"file transfer: {', '.join(cap['file_transfer'])}" if cap.get("file_transfer") else "",
                     f"reboot time {fmt_value(cap['reboot_time_s'])} s" if cap.get("reboot_time_s") else ""]
            if any(extra):
                rows.append([prefix + "other", "", "; ".join(x for x in extra if x)])
        return [self.p("Features of the DUT", "h2"), self.table(rows, [0.4, 0.1, 0.5])]

    def tolerance_table(self) -> list:
        tols = say.tolerances(self.record)
        if not tols:
            return [self.p("Tolerances", "h2"), self.p("not recorded")]
        rows: list[list[Any]] = [["Tolerance", "Value", "Set in", "Basis (rule or bench policy)"]]
        if self.record.tolerances:
            rows[0][0] = "Tolerance (config key tolerances.*)"
        rows += [[t.name, "—" if t.value is None else fmt_value(t.value) if isinstance(t.value, (int, float))
                  else str(t.value), t.set_in, self.p(t.basis, "small")] for t in tols]
        w0 = id_width([t.name for t in tols] + ["Tolerance"], 0.45, self.width)
        w2 = id_width([t.set_in for t in tols], 0.2, self.width)
        return [self.p("Tolerances", "h2"), self.table(rows, [w0, 0.07, w2, 0.93 - w0 - w2], ids=(0, 2))]

    def run_info(self) -> list:
        r = self.record
        return [self.p("Run", "h2"), self.kv_table([
            ("Bench", _bench_name(r) or "not recorded"),
            ("Virtual lab", ("yes" if r.virtual_lab else "no")
             + (f", time-warped at speed {speed_label(r.speed)} (times in virtual seconds)" if r.speed != 1 else "")),
            ("Fault injected", r.fault or "none"),
            ("Started / ended (UTC)", f"{r.utc_start} / {r.utc_end or 'not recorded'}"),
            ("Duration", f"{fmt_fixed(r.t_end_mono_s - r.t_start_mono_s, 1)} s"
             if r.t_end_mono_s > r.t_start_mono_s else None),
            ("Config file", f"{r.config_file} ({r.config_digest})"),
            ("Sampling", _sampling_text(r.sampling or {})),
            ("Run error", _truncate(r.error, CELL_CHARS) or None)])]

    def instruments(self) -> list:
        r = self.record
        if not r.instruments:
            return [self.p("Instruments", "h2"), self.p("none recorded")]
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
            rows.append([str(name), str(ins.get("role", "")), where, _identity_text(ins.get("identity")), due_cell])
        w0 = id_width([str(x[0]) for x in rows], 0.2, self.width, bold=True)
        w1 = id_width([str(x[1]) for x in rows], 0.14, self.width, bold=True)
        return [self.p("Instruments", "h2"), self.table(rows, [w0, w1, 0.33, 1.0 - w0 - w1 - 0.33 - 0.18, 0.18],
                                                        ids=(0, 1))]

    # ------------------------------------------------------------ summary
    def summary(self) -> list:
        header = ["#", "Scenario"] + (["Position"] if self.many_positions else []) + ["Verdict", "Duration (s)",
                                                                                      "Result"]
        rows: list[list[Any]] = [header]
        extra = []
        vcol = 3 if self.many_positions else 2
        for i, s in enumerate(self.record.scenarios, 1):
            lab = say.label(s)
            row: list[Any] = [str(i), s.name] + ([s.position] if self.many_positions else [])
            row += [self.p(lab, "cellw"), say.duration_text(s), _truncate(say.result_text(s), 300)]
            rows.append(row)
            extra.append(("BACKGROUND", (vcol, i), (vcol, i), LABEL_COLOURS[lab]))
        w_name = id_width([s.name for s in self.record.scenarios] + ["Scenario"], 0.34, self.width, bold=True)
        w_pos = [id_width([s.position for s in self.record.scenarios], 0.1, self.width)] if self.many_positions else []
        w_verdict = id_width(list(say.COUNT_LABELS), 0.16, self.width, bold=True)
        widths = [0.04, w_name] + w_pos + [w_verdict, 0.08]
        widths.append(1.0 - sum(widths))
        t = self.table(rows, widths, extra=extra, ids=(1, 2) if self.many_positions else (1,))
        counts = say.counts(self.record)
        line = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        where = ("Every scenario has its own section below." if self.full else
                 "FAIL and ERROR scenarios have their full evidence below, PASS scenarios with measured current, "
                 "PWM or energy one page each; the others are this row (`bench report --full` for every section).")
        # the key figures of each scenario head its own page; the table of them all is for the audit
        return [self.p("Summary", "h1"), self.p(f"{len(self.record.scenarios)} scenarios: {line or 'none'}. {where}"),
                Spacer(1, 3 * mm), t] + (self.key_figures() if self.full else [])

    def key_figures(self) -> list:
        """The numbers `bench trend` follows across runs, one row per scenario."""
        scenarios = [s for s in self.record.scenarios if any(v is not None for v in (s.figures or {}).values())]
        if not scenarios:
            return []
        names = list(FIGURES)
        rows = [["Scenario"] + [f"{FIGURES[n].label} ({FIGURES[n].unit})" for n in names]]
        for s in scenarios:
            rows.append([s.name] + [_figure_text((s.figures or {}).get(n)) for n in names])
        w0 = id_width([s.name for s in scenarios], 0.4, self.width)
        share = (1.0 - w0) / len(names)
        return [self.p("Key figures", "h2"), self.table(rows, [w0] + [share] * len(names), ids=(0,)),
                Spacer(1, 1.5 * mm),
                self.p("Overshoot: worst current above the expected limit outside the settle windows (0 = never "
                       "above). Settle time: longest time from a change of the expected limit until every phase "
                       "is at most limit + tolerance and steady. Errors are signed, worst of the scenario. "
                       "— = not applicable to the scenario.", "cell")]

    # ------------------------------------------------------------ scenario pages
    def heading(self, index: int, s: ScenarioRecord) -> list:
        lab = say.label(s)
        badge = Table([[Paragraph(escape(lab), self.s["badge"])]], colWidths=[0.2 * self.width], hAlign="LEFT")
        badge.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), LABEL_COLOURS[lab]),
                                   ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 8)]))
        head = Table([[Paragraph(escape(f"{index}. {s.name}"), self.s["h1"]), badge]],
                     colWidths=[0.78 * self.width, 0.22 * self.width], hAlign="LEFT")
        head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
        if say.never_ran(s):
            when = "not run"
        else:
            end = s.utc_end or "never ended (cut short)"
            when = f"UTC {s.utc_start or 'not recorded'} to {end}, duration {say.duration_text(s)}" + (
                " s" if s.t_end_mono_s > s.t_start_mono_s else "")
        out: list = [head, self.p(f"Position {s.position}   file {s.file}   {when}", "cell")]
        if s.block or s.ocpp_ids:
            out.append(self.p(f"Block {s.block or '-'}   OCTT ids {', '.join(s.ocpp_ids) or '-'}", "cell"))
        figures = [(n, (s.figures or {}).get(n)) for n in FIGURES]
        if any(val is not None for _, val in figures):
            text = ";  ".join(f"{FIGURES[n].label}: {_figure_text(val)} {FIGURES[n].unit}"
                              for n, val in figures if val is not None)
            out.append(self.p(f"Key figures: {text}", "cell"))
        return out

    def evidence(self, index: int, s: ScenarioRecord) -> list:
        """A full section: everything the record holds about the scenario."""
        v = Verdict(s.verdict)
        out = self.heading(index, s)
        if s.description:
            out += [Spacer(1, 2 * mm), self.p(s.description)]
        out += self.not_measured(s)
        failing = v in (Verdict.FAIL, Verdict.ERROR)
        if failing:  # the reason first: it is what the reader came for
            out += [self.p("Why", "h2")] + [self.p(w) for w in say.why_sentences(s)]
        if v == Verdict.SKIPPED and say.never_ran(s):
            return out  # nothing ran: no steps, no plots, no checks
        # a SKIPPED scenario's window is no evidence of anything: its steps and checks, never a plot
        plots = [] if v == Verdict.SKIPPED else self.plots(s)
        out += (self.composite(s) + self.steps(s) + self.profiles(s) + plots + self.plan(s) + self.checks(s)
                + signed_energy_section(self, s))
        if failing:
            out += self.ocpp_frames(s)
        return out

    def compact(self, index: int, s: ScenarioRecord) -> list:
        """One page for a passing scenario with physical measurements: its numbers and one plot."""
        out = self.heading(index, s) + self.not_measured(s)
        protocol = [c for c in s.checks if not say.is_physical(c) and c.name != say.COMPOSITE_CHECK]
        if protocol:
            texts = [f"{c.name} {Verdict(c.verdict).value}"
                     + (f" ({c.measurements[0].note})" if c.measurements and c.measurements[0].note else "")
                     for c in protocol]
            out.append(self.p("Protocol: " + "; ".join(texts) + ".", "cell"))
        out += self.composite(s) + self.plots(s, limit=1)
        # the composite schedules' table above stands for their measurements
        out += self.measurements(s, [c for c in s.checks if say.is_physical(c)], brief=True)
        return out + signed_energy_section(self, s)  # the three energies per transaction, PASS or not

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
            # numbered from 1, as the run's messages ("step 3 expect_status: ...") name them
            rows.append([str(st.index + 1), st.name, _truncate(args, CELL_CHARS), self.rel(s, st.t_start_mono_s),
                         self.rel(s, st.t_end_mono_s), _clock(st.utc_start), result])
        w_name = id_width([st.name for st in shown] + ["Step"], 0.3, self.width)
        return [self.p("Steps", "h2"), self.p("Times in seconds from the scenario start; UTC clock of the step "
                                              "start.", "cell"),
                self.table(rows, [0.05, w_name, 0.53 - w_name, 0.08, 0.08, 0.1, 0.16], ids=(1,))]

    def plots(self, s: ScenarioRecord, limit: int | None = None) -> list:
        """The scenario's plots; `limit` keeps the first (the current against the limit) for a compact page."""
        paths = list(s.plots)
        if limit is not None:
            paths = sorted(paths, key=lambda rel: 0 if rel.endswith("_current.png") else 1)[:limit]
        out = []
        for rel in paths:
            path = self.run_dir / rel
            if not path.is_file():
                self.notes.append(f"{s.name}: plot missing: {rel}")
                continue
            w, h = ImageReader(str(path)).getSize()
            width = self.width
            if limit is not None and width * h / w > COMPACT_PLOT_HEIGHT * self.height:
                width = COMPACT_PLOT_HEIGHT * self.height * w / h
            out += [Spacer(1, 2 * mm), Image(str(path), width=width, height=width * h / w)]
        if not out:
            return [self.p("Plots", "h2"), self.p("no plots (see 'Missing or incomplete' on the cover)")]
        if limit is not None:
            return out
        return [KeepTogether([self.p("Plots", "h2")] + out[:2])] + out[2:]

    def checks(self, s: ScenarioRecord) -> list:
        if not s.checks:
            return [self.p("Checks", "h2"), self.p("no checks ran")]
        return self.measurements(s, s.checks)

    def plan(self, s: ScenarioRecord) -> list:
        """The test plan the run recorded before the scenario ran: each measurement its checks take,
        the limit with this bench's values, and where those values come from."""
        if not s.plan:
            return []
        rows: list[list[Any]] = [["Check", "Measurement", "Limit", "Values from"]]
        planned = [PlannedMeasurement.from_record(row) for row in s.plan]
        for row in planned:
            limit = f"{row.limit} {row.unit}".strip() if row.unit not in ("", "count") else row.limit
            rows.append([row.check, row.measurement, _truncate(limit, CELL_CHARS),
                         _truncate(", ".join(row.sources) or "fixed by its rule", CELL_CHARS)])
        w_check = id_width([r.check for r in planned] + ["Check"], 0.25, self.width)
        w_name = id_width([r.measurement for r in planned] + ["Measurement"], 0.3, self.width)
        return [self.p("Test plan", "h2"),
                self.p("What the scenario's checks measure and against which limits, as planned before it ran; "
                       "the rules are with the measurements below.", "cell"),
                self.table(rows, [w_check, w_name, 0.25, 0.75 - w_check - w_name], ids=(0, 1))]

    def measurements(self, s: ScenarioRecord, checks: list[CheckRecord], brief: bool = False) -> list:
        """One block per check (its verdict, message and rule), then its measurements; `brief` (a
        compact page) leaves the rules and the longer evidence to `--full`."""
        if not checks:
            return []
        rows: list[list[Any]] = [["Measurement", "Value", "Limits", "Verdict", "Evidence"]]
        extra: list[tuple] = []
        names = [m.name for c in checks for m in c.measurements] + ["Measurement"]
        for c in checks:
            rules = [] if brief else sorted({m.rule for m in c.measurements if m.rule})
            # a FAIL's message is the Why above, said once; an ERROR's or SKIPPED's is its only reason
            message = c.message if c.message and Verdict(c.verdict) != Verdict.FAIL else ""
            text = f"{c.name}: {Verdict(c.verdict).value}" + (f". {message}" if message else "") + (
                f". Rule: {'; '.join(rules)}" if rules else "")
            rows.append([Paragraph(escape(_truncate(text, CELL_CHARS)), self.s["cellb"]), "", "", "", ""])
            k = len(rows) - 1
            extra += [("SPAN", (0, k), (-1, k)), ("BACKGROUND", (0, k), (-1, k), CHECK_BG)]
            for m in c.measurements:
                rows.append([m.name, _value_text(m), say.limits_text(m), self.coloured(Verdict(m.verdict).value,
                                                                                       m.verdict),
                             _truncate(_evidence_text(s, m), 90 if brief else 300)])
        w0 = id_width(names, 0.42, self.width)
        return [self.p("Checks and measurements", "h2"),
                self.table(rows, [w0, 0.11, 0.13, 0.08, 0.68 - w0], extra=extra, ids=(0,))]

    def composite(self, s: ScenarioRecord) -> list:
        """Each GetCompositeSchedule judged: the bench's composite next to what the DUT reported."""
        check = next((c for c in s.checks if c.name == say.COMPOSITE_CHECK), None)
        rows_in = say.composite_rows(check) if check is not None else []
        if not rows_in:
            return []
        rows: list[list[Any]] = [["#", "Asked", "Expected (bench's composite)", "Reported by the DUT", "Verdict"]]
        for i, r in enumerate(rows_in, 1):
            rows.append([str(i), r.asked, r.expected, r.reported, self.coloured(r.verdict.value, r.verdict)])
        return [self.p("Composite schedules (GetCompositeSchedule)", "h2"),
                self.table(rows, [0.04, 0.2, 0.32, 0.32, 0.12])]

    def profiles(self, s: ScenarioRecord) -> list:
        """Every charging profile the bench sent, whole: the limits the current was judged against."""
        if not s.profiles_sent:
            return []
        rows: list[list[Any]] = [["t (s)", "Connector", "Purpose / stack level", "Schedule", "Answer"]]
        for sent in s.profiles_sent:
            profile = sent.get("profile") or {}
            purpose = profile.get("chargingProfilePurpose") or profile.get("purpose") or ""
            schedule = profile.get("chargingSchedule") or {}
            if isinstance(schedule, list):  # 2.x: a list of schedules
                schedule = schedule[0] if schedule else {}
            unit = str(schedule.get("chargingRateUnit", ""))
            extra = [f"{k} {profile[k]}" for k in ("chargingProfileKind", "recurrencyKind", "validFrom", "validTo")
                     if profile.get(k)]
            extra += [f"{k} {schedule[k]}" for k in ("startSchedule", "duration") if schedule.get(k) is not None]
            rows.append([self.rel(s, sent.get("t_mono_s")), str(sent.get("connector", sent.get("evse_id", ""))),
                         f"{purpose} / {profile.get('stackLevel', '')}",
                         say.periods_text(schedule, unit) + (f" ({', '.join(extra)})" if extra else ""),
                         str(sent.get("status", ""))])
        w2 = id_width([str(r[2]) for r in rows], 0.3, self.width)
        return [self.p("Charging profiles sent", "h2"),
                self.table(rows, [0.07, 0.09, w2, 0.84 - w2 - 0.1, 0.1], ids=(2,))]

    def not_measured(self, s: ScenarioRecord) -> list:
        out = []
        if Verdict(s.verdict) == Verdict.SKIPPED:
            out.append(self.p(say.skip_text(s)))
        elif s.skipped:
            out.append(self.p(f"{skip_label(s.skip_kind)}: {s.skipped}"))
        if s.not_measured:
            out.append(self.p(f"Not measured (protocol-only position): {', '.join(s.not_measured)}"))
        return out

    def ocpp_frames(self, s: ScenarioRecord) -> list:
        """The frames around each failing check's worst point (or the scenario end), each in full."""
        out: list = []
        failed: list[CheckRecord | None] = [c for c in s.checks if c.verdict in (Verdict.FAIL, Verdict.ERROR)]
        t_end = s.t_end_mono_s if s.t_end_mono_s > s.t_start_mono_s else None
        fallback = t_end if t_end is not None else (s.steps[-1].t_start_mono_s if s.steps else s.t_start_mono_s)
        targets: list[tuple[str, float]] = []
        step = say.failed_step(s)
        for c in failed or [None]:
            t, label = fallback, "scenario end" if t_end is not None else "last step"
            m = _worst_failing(c)
            if c is not None and m is not None and m.t_mono_s is not None:  # m is None when c is
                t, label = m.t_mono_s, f"{c.name}.{m.name}"
            elif step is not None:  # a verdict on the steps: from the start of the step that failed
                t, label = step.t_start_mono_s, f"step {step.index + 1} {step.name}"
            if all(abs(t - t2) > 1e-9 for _, t2 in targets):
                targets.append((label, t))
        many_cps = len({f.cp_id for f in self.frames}) > 1
        for label, t in targets:
            frames = frames_around(self.frames, t, s.t_start_mono_s, t_end)
            title = f"OCPP frames around {label} (t = {fmt_fixed(t - s.t_start_mono_s, 2)} s)"
            if not frames:
                out += [self.p(title, "h2"), self.p("no OCPP frames in the scenario window")]
                continue
            lines = [line for f in frames for line in _frame_lines(f, s.t_start_mono_s, many_cps)]
            out += [self.p(title, "h2"), Preformatted("\n".join(lines), self.s["mono"])]
        return out


def _worst_failing(check: CheckRecord | None) -> Measurement | None:
    if check is None:
        return None
    return worst_measurement([m for m in check.measurements if m.verdict != Verdict.PASS])


def _frame_lines(f: OcppFrame, t0: float, with_cp: bool) -> list[str]:
    """One frame, whole, wrapped to the page: a profile's limits or a status must not be cut off."""
    arrow = {"dut->csms": "DUT>CSMS", "csms->dut": "CSMS>DUT"}.get(f.direction, f.direction)
    cp = f" {f.cp_id}" if with_cp else ""
    body = json.dumps(f.frame, separators=(",", ":"), default=str)
    room = FRAME_MAX_CHARS if f.action in FRAME_FULL_ACTIONS else FRAME_OTHER_CHARS
    if len(body) > room + FRAME_OTHER_CHARS // 2:  # cut only what is worth a pointer
        body = body[:room] + f"... ({len(body) - room} more characters in {OCPP_LOG})"
    head = f"{fmt_fixed(f.t_mono_s - t0, 3):>9}s {arrow}{cp} {f.action or '-':<20} "
    chunks = _wrap_json(body, FRAME_LINE_CHARS - len(head))
    return [head + chunks[0]] + [" " * len(head) + c for c in chunks[1:]]


def _wrap_json(text: str, room: int) -> list[str]:
    """Lines of at most `room` characters, broken after a comma or brace where one is near the end
    (so keys and values stay whole), else hard at `room`."""
    lines = []
    while len(text) > room:
        cut = max(text.rfind(ch, room // 2, room) for ch in ",{[:")
        cut = room if cut < 0 else cut + 1
        lines.append(text[:cut])
        text = text[cut:]
    return lines + [text]


def _value_text(m: Measurement) -> str:
    if m.value is None:
        return "none"
    return fmt_value(m.value) + (f" {m.unit}" if m.unit and m.unit != "count" else "")


def _evidence_text(s: ScenarioRecord, m: Measurement) -> str:
    """How much the measurement compared, where, and its note."""
    parts = []
    if m.samples is not None:
        parts.append(f"{m.samples} sample" + ("" if m.samples == 1 else "s"))
    if m.coverage is not None:
        parts.append(f"{m.coverage:.0%} covered")
    if m.t_mono_s is not None:
        parts.append(f"at {fmt_fixed(m.t_mono_s - s.t_start_mono_s, 1)} s")
    if m.note:
        parts.append(m.note)
    return ", ".join(parts)


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _flat(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, dict):
            inner = _flat(v)
            parts.append(f"{k} ({inner})" if inner else "")
        elif v not in (None, ""):
            parts.append(f"{k}={v}")
    return ", ".join(p for p in parts if p)


def _sampling_text(sampling: dict[str, Any]) -> str:
    """Either {key: value} or {position: {key: value}} (one entry per position); the per-instrument
    read counts stay in record.json."""
    def top(d: dict[str, Any]) -> str:
        return _flat({k: v for k, v in d.items() if not isinstance(v, dict)})

    return "; ".join(f"{k}: {top(v)}" if isinstance(v, dict) else f"{k}={v}" for k, v in sampling.items())


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
    return say.clock_text(dt)


def _figure_text(value: float | None) -> str:
    return "—" if value is None else fmt_value(value)
