"""Outputs of `bench trend`: trend.png (verdict grid + key figures over the runs),
trend.pdf (flags, verdict table, the figure, figure tables), trend.csv (verdict per
scenario per run), trend_figures.csv (every figure value, long format) and trend.json.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from bench.record import Verdict
from bench.report.figures import FIGURES
from bench.report.junit import fmt_value
from bench.report.trend import Trend

PNG, PDF, CSV, FIGURES_CSV, JSON = "trend.png", "trend.pdf", "trend.csv", "trend_figures.csv", "trend.json"
VERDICT_HEX = {Verdict.PASS: "#2e7d32", Verdict.FAIL: "#c62828", Verdict.ERROR: "#ef6c00",
               Verdict.SKIPPED: "#9e9e9e"}
ABSENT_HEX = "#ffffff"
MAX_TABLE_RUNS = 14  # runs per verdict table in the PDF (the PNG and the CSV hold them all)
DPI = 110
FONT = 9


@dataclass
class TrendFiles:
    png: Path
    pdf: Path
    csv: Path
    figures_csv: Path
    json: Path


def write_trend(trend: Trend, out_dir: Path) -> TrendFiles:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = TrendFiles(out_dir / PNG, out_dir / PDF, out_dir / CSV, out_dir / FIGURES_CSV, out_dir / JSON)
    _atomic(files.json, lambda p: p.write_text(json.dumps(trend.to_dict(), indent=2, default=str)))
    _atomic(files.csv, lambda p: _write_verdict_csv(trend, p))
    _atomic(files.figures_csv, lambda p: _write_figures_csv(trend, p))
    _atomic(files.png, lambda p: _figure(trend).savefig(p, dpi=DPI, format="png"))
    _atomic(files.pdf, lambda p: _write_pdf(trend, p))
    return files


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------- tables

def verdict_rows(trend: Trend, runs=None) -> list[list[str]]:
    """Header (scenario + run labels) then one row per scenario: verdict or '' (not run)."""
    runs = trend.runs if runs is None else runs
    rows = [["scenario"] + [r.label for r in runs]]
    for key in trend.scenarios:
        rows.append([key] + [r.scenarios[key].verdict.value if key in r.scenarios else "" for r in runs])
    return rows


def _write_verdict_csv(trend: Trend, path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario"] + [r.run_id for r in trend.runs])
        for row in verdict_rows(trend)[1:]:
            w.writerow(row)


def _write_figures_csv(trend: Trend, path: Path) -> None:
    flagged = {(f.run_id, f.scenario, f.figure) for f in trend.flags if f.kind == "drift"}
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run_id", "utc_start", "scenario", "verdict", "figure", "value", "unit", "flagged"])
        for run in trend.runs:
            for key, sp in run.scenarios.items():
                for name, value in sp.figures.items():
                    if value is not None:
                        w.writerow([run.run_id, run.utc_start, key, sp.verdict.value, name, value,
                                    FIGURES[name].unit if name in FIGURES else "",
                                    "drift" if (run.run_id, key, name) in flagged else ""])


# ---------------------------------------------------------------- figure

def figure_names(trend: Trend) -> list[str]:
    """The key figures that have at least one value in the trend."""
    return [n for n in FIGURES if any(trend.figure_series(k, n) for k in trend.scenarios)]


def _figure(trend: Trend, names: list[str] | None = None, with_grid: bool = True) -> Figure:
    """Verdict grid on top, then one panel per key figure with a line per scenario."""
    names = figure_names(trend) if names is None else names
    n_runs = max(len(trend.runs), 1)
    grid_h = 0.6 + 0.28 * max(len(trend.scenarios), 1)
    heights = ([grid_h] if with_grid else []) + [2.6] * len(names)
    fig = Figure(figsize=(11.0, sum(heights) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(len(heights), 1, squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": heights})[:, 0])
    if with_grid:
        _verdict_grid(axes.pop(0), trend)
    drift = {(f.run_id, f.scenario, f.figure) for f in trend.flags if f.kind == "drift"}
    for ax, name in zip(axes, names):
        d = FIGURES[name]
        marked = False
        for i, key in enumerate(trend.scenarios):
            series = trend.figure_series(key, name)
            if not series:
                continue
            x = [p[0] for p in series]
            y = [p[1] for p in series]
            ax.plot(x, y, marker="o", ms=4, lw=1.3, color=f"C{i % 10}", label=key)
            bad = [(xi, yi) for xi, yi in series if (trend.runs[xi].run_id, key, name) in drift]
            if bad:
                ax.scatter([b[0] for b in bad], [b[1] for b in bad], s=140, facecolors="none",
                           edgecolors="#d62728", linewidths=2.0, zorder=5,
                           label=None if marked else "drift beyond band")
                marked = True
        ax.set_ylabel(f"{d.label}\n({d.unit})", fontsize=FONT)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=FONT - 1)
        if d.worse == "abs":
            ax.axhline(0, color="#555555", lw=0.8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=FONT - 2, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    last = axes[-1]
    last.set_xticks(range(len(trend.runs)))
    last.set_xticklabels([r.label for r in trend.runs], rotation=35, ha="right", fontsize=FONT - 2)
    last.set_xlim(-0.5, n_runs - 0.5)
    last.set_xlabel("Run (UTC start)", fontsize=FONT)
    if with_grid:
        fig.suptitle(f"Trend over {len(trend.runs)} runs", fontsize=FONT + 3)
    return fig


def _png_bytes(fig: Figure) -> io.BytesIO:
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    buf.seek(0)
    return buf


def _verdict_grid(ax, trend: Trend) -> None:
    order = [None, Verdict.PASS, Verdict.FAIL, Verdict.ERROR, Verdict.SKIPPED]
    cmap = ListedColormap([ABSENT_HEX] + [VERDICT_HEX[v] for v in order[1:] if v is not None])
    grid = np.zeros((max(len(trend.scenarios), 1), max(len(trend.runs), 1)))
    for j, run in enumerate(trend.runs):
        for i, key in enumerate(trend.scenarios):
            sp = run.scenarios.get(key)
            grid[i, j] = order.index(sp.verdict) if sp is not None else 0
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(trend.scenarios)))
    ax.set_yticklabels(trend.scenarios, fontsize=FONT - 1)
    ax.set_xticks(np.arange(-0.5, len(trend.runs), 1), minor=True)
    ax.set_yticks(np.arange(-0.5, len(trend.scenarios), 1), minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="minor", length=0)
    new = {(f.run_id, f.scenario) for f in trend.flags if f.kind == "new_failure"}
    for j, run in enumerate(trend.runs):
        for i, key in enumerate(trend.scenarios):
            sp = run.scenarios.get(key)
            if sp is not None:
                mark = "NEW " if (run.run_id, key) in new else ""
                ax.text(j, i, mark + sp.verdict.value, ha="center", va="center", color="white",
                        fontsize=FONT - 2, fontweight="bold")
    ax.set_title("Verdict per scenario per run (NEW = newly failing)", fontsize=FONT + 1)


# ---------------------------------------------------------------- PDF

def _write_pdf(trend: Trend, path: Path) -> None:
    doc = SimpleDocTemplate(str(path), pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, title="evbench trend", author="evbench")
    base = getSampleStyleSheet()
    st = {"h1": ParagraphStyle("h1", parent=base["Heading1"], fontSize=16, leading=20),
          "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=12, leading=15, spaceBefore=6),
          "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=9, leading=11.5),
          "cell": ParagraphStyle("cell", parent=base["BodyText"], fontSize=7.5, leading=9)}
    width = doc.width

    def p(text, style="body"):
        return Paragraph(escape(str(text)), st[style])

    story: list = [p("evbench trend", "h1")]
    if trend.runs:
        latest = trend.latest
        assert latest is not None  # there are runs
        story.append(p(f"{len(trend.runs)} runs from {trend.runs[0].label} to {latest.label}; newest run "
                       f"{latest.run_id}: {latest.verdict.value}. Drift bands: "
                       + ", ".join(f"{n} {b:g} {FIGURES[n].unit}" for n, b in trend.bands.items() if n in FIGURES)
                       + f"; baseline = median of the last {trend.baseline_runs} passing runs."))
    else:
        story.append(p("No runs found."))
    regressions = trend.latest_regressions()
    story.append(p(f"Newest run: {len(regressions)} regression(s)", "h2"))
    story += [p(f"• {f.message}") for f in regressions] or [p("none")]
    older = [f for f in trend.flags if trend.latest is None or f.run_id != trend.latest.run_id]
    if older:
        story.append(p("Flags of earlier runs", "h2"))
        story += [p(f"• {f.run_id}: {f.message}", "cell") for f in older[-40:]]
    if trend.unreadable:
        story.append(p("Unreadable run folders", "h2"))
        story += [p(f"• {u}", "cell") for u in trend.unreadable]
    if trend.runs:  # the newest runs: trend.csv and trend.png hold the full history
        runs = trend.runs[-MAX_TABLE_RUNS:]
        shown = f" (newest {len(runs)} of {len(trend.runs)} runs)" if len(runs) < len(trend.runs) else ""
        story += [p(f"Verdicts{shown}", "h2"), _verdict_table(trend, runs, width, st)]
    names = figure_names(trend)
    if names:  # one landscape-shaped plot per figure, two to a page (trend.png has them stacked)
        story += [PageBreak(), p("Key figures over the runs", "h2")]
        for name in names:
            buf = _png_bytes(_figure(trend, [name], with_grid=False))
            w, h = ImageReader(buf).getSize()
            buf.seek(0)
            scale = min(width / w, (doc.height - 20 * mm) / 2 / h)
            story.append(Image(buf, width=w * scale, height=h * scale))
    story += [PageBreak(), p("Key figures of the newest runs", "h2")] + _figure_tables(trend, width, st)
    doc.build(story)


def _verdict_table(trend: Trend, runs, width: float, st) -> Table:
    rows = verdict_rows(trend, runs)
    cells: list[list[Any]] = [[Paragraph(escape(c), st["cell"]) for c in rows[0]]]
    style: list[tuple[Any, ...]] = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b0b0b0")),
             ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
             ("FONTSIZE", (0, 1), (-1, -1), 7), ("TEXTCOLOR", (1, 1), (-1, -1), colors.white),
             ("FONTNAME", (1, 1), (-1, -1), "Helvetica-Bold"), ("ALIGN", (1, 1), (-1, -1), "CENTER")]
    new = {(f.run_id, f.scenario) for f in trend.flags if f.kind == "new_failure"}
    for i, row in enumerate(rows[1:], 1):
        key = row[0]
        cells.append([Paragraph(escape(key), st["cell"])] + [
            ("NEW " if (run.run_id, key) in new else "") + v for run, v in zip(runs, row[1:])])
        for j, v in enumerate(row[1:], 1):
            if v:
                style.append(("BACKGROUND", (j, i), (j, i), colors.HexColor(VERDICT_HEX[Verdict(v)])))
    first = 0.22 * width
    other = (width - first) / max(len(runs), 1)
    t = Table(cells, colWidths=[first] + [other] * len(runs), repeatRows=1, hAlign="LEFT")
    t.setStyle(TableStyle(style))
    return t


def _figure_tables(trend: Trend, width: float, st) -> list:
    runs = trend.runs[-MAX_TABLE_RUNS:]
    drift = {(f.run_id, f.scenario, f.figure): f for f in trend.flags if f.kind == "drift"}
    out: list = []
    for name, d in FIGURES.items():
        keys = [k for k in trend.scenarios if any(k in r.scenarios and r.scenarios[k].figures.get(name) is not None
                                                  for r in runs)]
        if not keys:
            continue
        rows = [[Paragraph(escape(f"{d.label} ({d.unit})"), st["cell"])]
                + [Paragraph(escape(r.label), st["cell"]) for r in runs]]
        style: list[tuple[Any, ...]] = [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b0b0b0")), ("FONTSIZE", (0, 1), (-1, -1), 7),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8"))]
        for i, key in enumerate(keys, 1):
            row: list[Any] = [Paragraph(escape(key), st["cell"])]
            for j, run in enumerate(runs, 1):
                sp = run.scenarios.get(key)
                value = sp.figures.get(name) if sp else None
                row.append("" if value is None else fmt_value(value))
                flag = drift.get((run.run_id, key, name))
                if flag is not None:
                    style.append(("BACKGROUND", (j, i), (j, i),
                                  colors.HexColor("#f4b6b6" if flag.direction == "worse" else "#c8e6c9")))
            rows.append(row)
        first = 0.22 * width
        t = Table(rows, colWidths=[first] + [(width - first) / max(len(runs), 1)] * len(runs), hAlign="LEFT")
        t.setStyle(TableStyle(style))
        out += [t, Spacer(1, 4 * mm)]
    out.append(Paragraph(escape("Red cell: drifted worse beyond the band; green: better beyond the band."),
                         st["cell"]))
    return out
