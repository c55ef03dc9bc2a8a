"""Reports of real runs against the virtual lab: the PDF pages, junit.xml against the JUnit
schema, `bench trend` over several runs with an injected fault, `bench compare`, and the
console view (plain lines in a log, the live panel on a terminal, Ctrl-C under the panel)."""
from __future__ import annotations

import csv
import importlib.util
import json
import re
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.checks.library import CHECKS

from .conftest import ROOT, SCENARIOS, STEP_DOWN, BenchRun, bench_cmd, free_port_config

# the shared runs (whole default suite + one run per fault) are set up by the first test here
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
REPORT_TESTS = ROOT / "tests" / "report"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _helper(name: str):
    """A helper module of tests/report (PDF text), loaded by path."""
    spec = importlib.util.spec_from_file_location(f"report_helper_{name}", REPORT_TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


pdf_text = _helper("pdf_text")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request) -> dict[str, BenchRun]:
    """The shared runs (clean default suite, one run per fault) plus a second clean run of the
    step-down scenario, started first so that it overlaps with the shared ones."""
    base = tmp_path_factory.mktemp("second-clean")
    config = free_port_config(base)
    out = base / "out"
    proc = subprocess.Popen(bench_cmd("run", str(STEP_DOWN), "--config", str(config), "--out", str(out)),
                            cwd=ROOT, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        shared = request.getfixturevalue("bench_runs")
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return {**shared, "second_clean": BenchRun("second_clean", proc.returncode, stdout, stderr, out)}


def test_default_suite_pdf_pages(runs, tmp_path: Path) -> None:
    """The default suite's report: a cover and summary, a page per PASS with measurements, a row
    for the rest; under 40 pages and 3 MB."""
    run = runs["clean"]
    record = run.record
    pdf = run.run_dir / "report.pdf"
    assert pdf.stat().st_size < 3_000_000
    for pages in (pdf_text.pages_text(pdf, prefer_poppler=False), pdf_text.pages_text(pdf)):
        assert len(pages) < 40
        at = next(i for i, pg in enumerate(pages) if "Summary" in pg)
        cover = "\n".join(pages[:at])
        dut = record["dut"]
        for expected in (dut["vendor"], dut["model"], dut["serial"], dut["firmware"], "OCPP version", "1.6",
                         "0: plain WebSocket, no basic auth", record["bench_name"], record["config_digest"],
                         record["utc_start"], "PASS", "NOT SUPPORTED", "SKIPPED", "Tolerances", "current_abs_a",
                         "Features of the DUT", "Instruments", "Calibration due"):
            assert expected in cover, expected
        for ins in record["instruments"]:
            assert ins["driver"] in cover and (ins["calibration_due"] or "not stated") in cover
        sections = [i for i, pg in enumerate(pages) if re.search(r"^\s*\d+\. \w+", pg, re.M) and i > at]
        summary_pages = _squeeze("".join(pages[at:sections[0]]))  # a long name wraps in its table cell
        text = "\n".join(pages)
        for i, s in enumerate(record["scenarios"], 1):
            assert _squeeze(s["name"]) in summary_pages, s["name"]
            measured = s["verdict"] == "PASS" and any(
                c["name"] in CHECKS and CHECKS[c["name"]].physical and c["verdict"] == "PASS" and c["measurements"]
                for c in s["checks"])
            assert (f"{i}. {s['name']}" in text) == measured, s["name"]
    if shutil.which("pdftoppm"):  # every page renders to an image (never written into the shared run folders)
        subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(tmp_path / "p")], check=True, timeout=120)
        assert len(list(tmp_path.glob("p-*.png"))) == len(pdf_text.pages_text(pdf))


def _squeeze(text: str) -> str:
    return "".join(text.split())


def test_key_figures_and_security_profile_in_the_record(runs) -> None:
    clean, fault = runs["clean"].record, runs["ignores_profile"].record
    assert clean["security_profile"] == 0 and clean["positions"]["pos1"]["ocpp_version"] == "1.6"
    step = next(s for s in clean["scenarios"] if s["name"] == "txprofile_step_down")
    assert step["figures"]["overshoot_a"] < 0.5
    assert 0.5 < step["figures"]["settle_time_s"] < 5.0  # DUT 1 s + EV 1 s in the virtual lab
    bad = fault["scenarios"][0]["figures"]
    assert bad["overshoot_a"] > 5.0 and bad["settle_time_s"] > 7.0  # never followed the 8 s holds
    metering = next(s for s in clean["scenarios"] if s["name"] == "meter_values_accuracy")
    assert abs(metering["figures"]["energy_error_pct"]) < 1.0
    gain = runs["meter_gain_error"].record["scenarios"][0]["figures"]
    assert abs(gain["energy_error_pct"]) > 2.0


def test_junit_of_every_run_is_valid_against_the_schema(runs) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(REPORT_TESTS / "junit-10.xsd"))
    for name, run in runs.items():
        junit = run.run_dir / "junit.xml"
        assert [str(e) for e in schema.iter_errors(str(junit))] == [], name
    import xml.etree.ElementTree as ET

    suite = ET.parse(runs["ignores_profile"].run_dir / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["run_id"] == runs["ignores_profile"].record["run_id"]
    assert props["dut_firmware"] == runs["ignores_profile"].record["dut"]["firmware"]
    failure = suite.find("testcase/failure")
    assert failure.get("message").startswith("current_follows_limit: excess_over_limit_l")


def _as_night(src: Path, results: Path, day: int) -> Path:
    """Copy a run folder into a results folder, stamped as night `day` (the calendar of a trend)."""
    dst = results / f"202501{day:02d}T020000Z-{src.name.split('Z-', 1)[-1]}"
    shutil.copytree(src, dst)
    record = json.loads((dst / "record.json").read_text())
    record["run_id"], record["utc_start"] = dst.name, f"2025-01-{day:02d}T02:00:00.000Z"
    (dst / "record.json").write_text(json.dumps(record, indent=2))
    return dst


def test_trend_flags_the_injected_fault(runs, tmp_path: Path) -> None:
    results = tmp_path / "results"
    _as_night(runs["clean"].run_dir, results, 1)
    _as_night(runs["second_clean"].run_dir, results, 2)
    fault = _as_night(runs["ignores_profile"].run_dir, results, 3)
    proc = subprocess.run(bench_cmd("trend", str(results)), cwd=ROOT, env=ENV, text=True, capture_output=True,
                          timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    trend = json.loads((results / "trend.json").read_text())
    flags = [(f["run_id"][:8], f["scenario"], f["kind"], f["figure"]) for f in trend["flags"]]
    # two independent clean runs stay within the bands: no false alarm on night 2
    assert [f for f in flags if f[0] != "20250103"] == []
    step = "txprofile_step_down"
    assert ("20250103", step, "new_failure", None) in flags
    assert ("20250103", step, "drift", "overshoot_a") in flags
    assert ("20250103", step, "drift", "settle_time_s") in flags
    assert trend["runs"][-1]["fault"] == "ignores_profile"
    with open(results / "trend.csv") as f:
        rows = {r[0]: r[1:] for r in csv.reader(f)}
    assert rows[step] == ["PASS", "PASS", "FAIL"] and rows["meter_values_accuracy"] == ["PASS", "", ""]
    assert (results / "trend.png").read_bytes().startswith(b"\x89PNG")
    text = "\n".join(pdf_text.pages_text(results / "trend.pdf", prefer_poppler=False))
    assert "NEW FAIL" in text and "regression(s)" in text
    assert fault.name in proc.stdout and "new_failure" in proc.stdout


def test_compare_a_clean_and_a_faulty_run(runs) -> None:
    clean, fault = runs["second_clean"].run_dir, runs["ignores_profile"].run_dir
    proc = subprocess.run(bench_cmd("compare", str(clean), str(fault), "--json", "-"), cwd=ROOT, env=ENV,
                          text=True, capture_output=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["regressions"] == ["txprofile_step_down"]
    assert data["run_changes"]["fault"] == {"a": None, "b": "ignores_profile"}
    figures = {f["name"]: f for f in data["scenarios"][0]["figures"]}
    assert figures["overshoot_a"]["drift"] == "worse"
    back = subprocess.run(bench_cmd("compare", str(fault), str(clean)), cwd=ROOT, env=ENV, text=True,
                          capture_output=True, timeout=120)
    assert back.returncode == 0 and "FAIL -> PASS" in back.stdout  # recovering is no regression


def test_plain_progress_lines_in_a_ci_log(runs) -> None:
    out = runs["clean"].stdout
    assert "\x1b[" not in out  # a pipe gets no terminal control sequences
    assert "[pos1] txprofile_step_down: PASS in" in out
    # at the end of each hold: the currents against the expected limit and the PWM offer
    assert "[pos1] L1/L2/L3 10.0/10.0/10.0 A, expected limit 10.0 A, PWM offers 10.0 A" in out
    assert "run finished: PASS" in out
    fault = runs["ignores_profile"].stdout
    assert "expected limit 6.0 A" in fault and "txprofile_step_down: FAIL in" in fault


def _read_until(fd: int, needle: bytes, timeout_s: float, sink: bytearray) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                return needle in sink
            if not chunk:
                return needle in sink
            sink += chunk
            if needle in sink:
                return True
    return needle in sink


def test_ctrl_c_under_the_live_panel(tmp_path: Path) -> None:
    """On a terminal the live panel shows the run; Ctrl-C still leaves the bench safe, keeps the
    record and writes the report of what ran."""
    config = free_port_config(tmp_path, speed=1)  # Ctrl-C lands mid-hold: real time is the point
    out = tmp_path / "results"
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        bench_cmd("run", str(SCENARIOS / "remote_control" / "remote_start_stop.yaml"), "--config", str(config),
                  "--out", str(out)),
        cwd=ROOT, env={**ENV, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"},
        stdin=slave, stdout=slave, stderr=slave, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    seen = bytearray()
    try:
        assert _read_until(master, b"step 4/7 hold", 60, seen), seen.decode(errors="replace")[-2000:]
        assert _read_until(master, b"16.0 A", 15, seen)  # the panel shows the current flowing
        proc.send_signal(signal.SIGINT)
        _read_until(master, b"report:", 60, seen)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = seen.decode(errors="replace")
    assert "\x1b[" in text and "expected limit 32.0 A" in text  # it was the live panel, not plain lines
    assert proc.returncode == 2, text[-3000:]
    run_dir = next(out.iterdir())
    record = json.loads((run_dir / "record.json").read_text())
    assert record["complete"] is False and "interrupted" in record["error"]
    with open(run_dir / "traces" / "pos1.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert last["ev_cp_state"] == "A" and float(last["meter_current_l1_a"] or 0) == 0.0
    assert (run_dir / "report.pdf").read_bytes().startswith(b"%PDF") and (run_dir / "junit.xml").is_file()
    assert "interrupted" in text and "overall:" in text  # the panel was closed before the summary
