"""Regenerate every report of a run from its folder alone: plots, key figures, junit.xml,
report.pdf.

Safe on a partial run (cut short, scenarios in ERROR without checks, a trace file
missing): it renders what is there and lists what is missing in `RenderResult.notes`
(and on the PDF cover).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bench.record import load_record
from bench.report.figures import compute_figures
from bench.report.junit import write_junit
from bench.report.pdf import write_pdf
from bench.report.plots import render_scenario_plots

log = logging.getLogger(__name__)


@dataclass
class RenderResult:
    run_dir: Path
    record: Path  # record.json, rewritten with the plot paths
    junit: Path
    pdf: Path
    plots: list[Path] = field(default_factory=list)  # absolute paths of every PNG written
    notes: list[str] = field(default_factory=list)  # what was missing or could not be drawn


def render_all(run_dir: Path, full: bool = False) -> RenderResult:
    """Plots and key figures per scenario (both stored in record.json), then junit.xml and
    report.pdf (`full`: one section per scenario, for an audit)."""
    run_dir = Path(run_dir)
    record = load_record(run_dir)
    notes: list[str] = []
    if not record.complete:
        notes.append("the run did not complete (record.complete is false)")
    if record.error:
        notes.append(f"run error: {record.error}")
    plots: list[Path] = []
    for scenario in record.scenarios:
        try:
            scenario.plots = render_scenario_plots(run_dir, record, scenario, notes)
        except Exception as exc:  # one bad scenario must not cost the whole report
            log.exception("plots of scenario %s failed", scenario.name)
            notes.append(f"{scenario.name}: plots failed: {type(exc).__name__}: {exc}")
            scenario.plots = []
        plots += [run_dir / p for p in scenario.plots]
        try:
            scenario.figures = compute_figures(run_dir, record, scenario)
        except Exception as exc:
            log.exception("key figures of scenario %s failed", scenario.name)
            notes.append(f"{scenario.name}: key figures failed: {type(exc).__name__}: {exc}")
    record_path = record.write(run_dir)
    junit = write_junit(run_dir, record)
    pdf = write_pdf(run_dir, record, notes, full=full)
    for note in notes:
        log.warning("report %s: %s", record.run_id, note)
    return RenderResult(run_dir, record_path, junit, pdf, plots, notes)
