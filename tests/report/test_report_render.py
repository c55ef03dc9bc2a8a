"""render_all on synthetic run folders: plots, junit.xml and report.pdf from the folder alone."""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.record import CheckRecord, ScenarioRecord, Verdict, load_record
from bench.report import render_all
from bench.report.figures import figures_of
from bench.trace import binary_path, header_path
from pdf_text import pages_text
from report_runs import OVERSHOOT_A, T0, base_record, long_run, write_trace

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# long enough to overflow any table cell or page if it were laid out whole
LOST_EV_ERROR = "EV emulator lost after 20 failed reads\n" + "  File 'driver.py', line 42, in read\n" * 300


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))


def pdf_text(path: Path) -> str:
    """Text of the PDF, pages split by form feeds (pdftotext if installed, else our own reader)."""
    return "\f".join(pages_text(path))


def test_full_run_renders_plots_junit_and_pdf(run_dir: Path) -> None:
    result = render_all(run_dir)

    # plots: written, real PNGs, and recorded in record.json relative to the run folder
    record = load_record(run_dir)
    ok, bad = record.scenarios
    assert [Path(p).name.split("_")[-1] for p in ok.plots] == ["current.png", "pwm.png"]
    assert [Path(p).name.split("_")[-1] for p in bad.plots] == ["current.png", "pwm.png", "error.png"]
    assert sorted(result.plots) == sorted(run_dir / p for p in ok.plots + bad.plots)
    for p in result.plots:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 8_000, p  # palette PNG of a drawn figure
    assert result.notes == []  # nothing was missing

    # junit.xml
    suite = ET.parse(result.junit).getroot()
    assert suite.tag == "testsuite" and suite.get("name") == "smart-charging"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("2", "1", "0", "0")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run_id"] == record.run_id and props["dut_firmware"] == "fw-3.1.4"
    assert props["ocpp_version"] == "1.6" and props["fault"] == "none"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == \
        [("evbench.pos1", "ramp-down-ok"), ("evbench.pos1", "limit-ignored")]
    assert float(cases[0].get("time")) == pytest.approx(60.0)
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure.get("message") == f"current_follows_limit: excess_over_limit_l1_a={OVERSHOOT_A} A outside [-inf, 0.66]"
    assert "current above the limit after settling" in failure.text

    # report.pdf: cover + summary + one new page per scenario (the plots push each to more)
    pdf = result.pdf.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) >= 2 + 2
    text = pdf_text(result.pdf)
    for expected in ("AcmeCharge", "fw-3.1.4", "ramp-down-ok", "limit-ignored", "PASS", "FAIL",
                     "excess_over_limit_l1_a", "eastron_sdm630", "MeterValues", "SetChargingProfile"):
        assert expected in text, expected
    # each scenario section starts on its own page (pages are split by form feeds), the FAIL first
    pages = text.split("\f")
    fail_at = [i for i, pg in enumerate(pages) if "2. limit-ignored" in pg]
    pass_at = [i for i, pg in enumerate(pages) if "1. ramp-down-ok" in pg]
    assert len(fail_at) == 1 and len(pass_at) == 1 and 2 <= fail_at[0] < pass_at[0]


def test_csv_only_run_folder_still_reports(run_dir: Path) -> None:
    """A run folder written before the binary trace (traces/pos1.csv alone): the same figures."""
    def figures() -> dict[str, dict]:
        record = load_record(run_dir)
        for s in record.scenarios:
            s.figures = {}  # derive them from the trace again
        return {s.name: figures_of(run_dir, record, s) for s in record.scenarios}

    with_binary = figures()
    for f in (binary_path(run_dir / "traces" / "pos1.csv"), header_path(run_dir / "traces" / "pos1.csv")):
        f.unlink()
    result = render_all(run_dir)
    assert result.notes == [] and len(result.plots) == 5 and result.pdf.stat().st_size > 0
    assert figures() == with_binary and with_binary["limit-ignored"]["overshoot_a"]


def test_rerender_is_stable(run_dir: Path) -> None:
    first = render_all(run_dir)
    second = render_all(run_dir)
    assert load_record(run_dir).scenarios[1].plots == [str(p.relative_to(run_dir)) for p in second.plots[2:]]
    assert first.plots == second.plots
    assert not list(run_dir.rglob("*.tmp*"))  # atomic writes leave no temporaries


def test_partial_run_renders_what_is_there(tmp_path: Path) -> None:
    """Cut-short run: a missing trace, an ERROR scenario without checks, a scenario that never
    ended, a SKIPPED one, no OCPP log. Nothing crashes and the gaps are named."""
    run = tmp_path / "partial"
    run.mkdir()
    # pos2's trace has a meter only (no EV emulator, no loads) and stops mid-scenario
    write_trace(run / "traces" / "pos2.csv", T0, T0 + 30, lambda t: 10.0, with_ev=False, with_load=False)
    record = base_record(complete=False, error="DUT connection lost",
                         traces={"pos1": "traces/pos1.csv", "pos2": "traces/pos2.csv"}, scenarios=[
        ScenarioRecord(name="lost-ev", file="a.yaml", position="pos1", verdict=Verdict.ERROR,
                       t_start_mono_s=T0, t_end_mono_s=T0 + 20, expected_limit=[[T0, 16.0]],
                       error=LOST_EV_ERROR),
        ScenarioRecord(name="cut-short", file="b.yaml", position="pos2", verdict=Verdict.ERROR,
                       t_start_mono_s=T0 + 5, expected_limit=[[T0 + 5, 16.0], [T0 + 15, 10.0]]),
        ScenarioRecord(name="no-profile-support", file="c.yaml", position="pos1", verdict=Verdict.SKIPPED,
                       t_start_mono_s=T0 + 40, t_end_mono_s=T0 + 41,
                       checks=[CheckRecord("current_follows_limit", Verdict.SKIPPED,
                                           message="DUT has no SmartCharging profile")]),
    ])
    record.finalize_verdict()
    record.write(run)

    result = render_all(run)

    notes = "\n".join(result.notes)
    assert "trace file missing: traces/pos1.csv" in notes
    assert "OCPP log missing" in notes and "did not complete" in notes
    assert "no-profile-support" not in notes  # it did not run: nothing to plot is nothing missing
    reloaded = load_record(run)
    lost, cut, skipped = reloaded.scenarios
    assert [Path(p).name.split("_")[-1] for p in lost.plots] == ["current.png"]  # the expected limit alone
    assert [Path(p).name.split("_")[-1] for p in cut.plots] == ["current.png"]  # no EV columns: no PWM plot
    assert skipped.plots == []
    assert not reloaded.complete  # the renderer records plots, it does not 'finish' the run

    suite = ET.parse(result.junit).getroot()
    # 3 scenarios + the run-level error as its own test case
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("4", "0", "3", "1")
    errors = [c.find("error").get("message") for c in suite.iter("testcase") if c.find("error") is not None]
    assert errors == [LOST_EV_ERROR, "scenario ended in ERROR", "DUT connection lost"]
    skipped_el = [c for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped_el] == ["no-profile-support"]

    pdf = result.pdf.read_bytes()
    assert pdf.startswith(b"%PDF") and page_count(pdf) >= 2 + 3
    text = pdf_text(result.pdf)
    for expected in ("INCOMPLETE RUN", "trace file missing", "EV emulator lost", "SKIPPED", "ERROR",
                     "cut-short", "no checks ran"):
        assert expected in text, expected


def test_empty_run_still_reports(tmp_path: Path) -> None:
    """A run that died before its first scenario still yields a readable junit.xml and PDF."""
    run = tmp_path / "empty"
    run.mkdir()
    record = base_record(error="config invalid: positions[0].instruments.meter.address")
    record.finalize_verdict()
    record.write(run)
    result = render_all(run)
    suite = ET.parse(result.junit).getroot()
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert result.pdf.read_bytes().startswith(b"%PDF") and result.plots == []


def test_cover_summary_and_key_figures(run_dir: Path) -> None:
    """What a lab engineer looks for first: DUT and bench identity, calibration, the verdict,
    and the key figures the trend follows (stored in record.json for `bench trend`)."""
    result = render_all(run_dir, full=True)  # the key figures table is part of the audit
    ok, bad = load_record(run_dir).scenarios
    assert bad.figures["overshoot_a"] == OVERSHOOT_A
    assert bad.figures["settle_time_s"] == pytest.approx(30.0, abs=0.2)  # ignored the drop for 30 s
    assert ok.figures["settle_time_s"] == pytest.approx(2.0, abs=0.2)  # followed within 2 s
    assert bad.figures["energy_error_pct"] == 0.1
    pages = pages_text(result.pdf, prefer_poppler=False)  # the reader CI has, whatever is installed here
    at = next(i for i, pg in enumerate(pages) if "Summary" in pg)
    cover, summary = "\n".join(pages[:at]), pages[at]
    for expected in ("AcmeCharge", "AC22", "SN-42", "fw-3.1.4", "OCPP version", "1.6", "Security profile",
                     "0: plain WebSocket, no basic auth", "bench-a", "sha256:0123abcd", "2025-01-01T00:00:00Z",
                     "Calibration due", "2024-06-30", "(OVERDUE)", "2026-03-31", "Eastron SDM630", "FAIL"):
        assert expected in cover, expected
    for expected in ("Summary", "ramp-down-ok", "limit-ignored", "Key figures", "current_follows_limit", "7.5 A"):
        assert expected in summary, (expected, summary)
    section = next(pg for pg in pages if "2. limit-ignored" in pg)
    assert "Why" in section and "Key figures: worst overshoot above the limit: 7.5" in section
    assert "00:01:30.0" in section  # the step at t = 20 s with its UTC clock time


def test_long_run_renders_fast_and_small(tmp_path: Path) -> None:
    """A 3 h soak at 10 Hz (108 000 samples per column): decimated plots keep the 0.3 s
    overshoot spike, and the report is quick and small. (24 h: tests/report/measure_render.py.)"""
    run = tmp_path / "soak"
    long_run(run, hours=3.0)
    t = time.perf_counter()
    result = render_all(run)
    elapsed = time.perf_counter() - t
    assert elapsed < 20.0  # ~1.5 s here; generous for a slow CI machine
    assert result.pdf.stat().st_size < 1_500_000
    assert sorted(Path(p).name.split("_")[-1] for p in result.plots) == ["current.png", "error.png", "pwm.png"]
    s = load_record(run).scenarios[0]
    assert s.figures["overshoot_a"] == pytest.approx(14.0)
    assert s.figures["settle_time_s"] == pytest.approx(2.0, abs=0.2)  # the spike 15 min later is no slow settle
    pages = pages_text(result.pdf, prefer_poppler=False)
    assert any("soak_24h" in pg and "Steps" in pg for pg in pages)
