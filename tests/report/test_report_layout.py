"""report.pdf laid out for a reader: the cover's counts, tolerances and fault, paper only where
it earns its place, no plot for a scenario that did not run. Checked by text extraction."""
from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.checks.plan import PlannedMeasurement
from bench.config import load_config
from bench.record import CheckRecord, ScenarioRecord, StepRecord, Verdict, judge, load_record
from bench.report import render_all
from bench.report import sentences as say
from bench.report.junit import fmt_value
from bench.session import suite_name, tolerance_record
from pdf_text import pages_text
from report_runs import T0

REPO = Path(__file__).resolve().parents[2]
IMAGE = re.compile(rb"/Subtype\s*/Image")


def _add_scenarios(run: Path) -> None:
    """The conftest run (a measured PASS, a FAIL) plus a protocol-only PASS, a NOT SUPPORTED scenario
    and a NOT APPLICABLE one, the last two inside the recorded trace (which goes on without them), as
    recorded by a run with an injected fault."""
    record = load_record(run)
    failed = next(s for s in record.scenarios if s.name == "limit-ignored")
    failed.plan = [asdict(PlannedMeasurement("limit-ignored", "pos1", "current_follows_limit",
                                             "excess_over_limit_l{phase}_a", "A", "<= 0.5 + 4 % of the limit",
                                             ("tolerances.current_abs_a (config)",), "OCPP 1.6 3.13", True))]
    t = T0 + 141  # after the FAIL scenario, still inside the trace
    answers = judge("dut_answers_not_as_required", 0, "count", None, 0,
                    note="3 steps done as a compliant charger requires")
    record.scenarios += [
        ScenarioRecord(name="boot_protocol_only", file="b.yaml", position="pos1", verdict=Verdict.PASS,
                       t_start_mono_s=t, t_end_mono_s=t + 0.5, utc_start="2025-01-01T00:02:21Z",
                       utc_end="2025-01-01T00:02:21.5Z",
                       steps=[StepRecord(0, "reset", {}, t, t + 0.2)],
                       checks=[CheckRecord("step_expectations", Verdict.PASS, [answers])]),
        ScenarioRecord(name="reserve_not_supported", file="r.yaml", position="pos1", verdict=Verdict.SKIPPED,
                       t_start_mono_s=t + 0.6, skip_kind="not_supported",
                       skipped="the DUT does not support Reservation (declared in lab_config.yaml)"),
        ScenarioRecord(name="display_v201_only", file="d.yaml", position="pos1", verdict=Verdict.SKIPPED,
                       t_start_mono_s=t + 0.6, skip_kind="not_applicable",
                       skipped="not defined for OCPP 1.6 (only 2.0.1, 2.1)"),
        # ran a step, then found nothing it tests applies (e.g. a security probe on profile 0)
        ScenarioRecord(name="tls_not_applicable", file="t.yaml", position="pos1", verdict=Verdict.SKIPPED,
                       t_start_mono_s=t + 0.7, t_end_mono_s=t + 0.9, utc_start="2025-01-01T00:02:21.7Z",
                       utc_end="2025-01-01T00:02:21.9Z", skip_kind="not_applicable",
                       skipped="the bench runs security profile 0", steps=[StepRecord(0, "probe", {}, t + 0.7)],
                       checks=[CheckRecord("security_probes_pass", Verdict.SKIPPED,
                                           message="needs TLS (profile 2 or 3)")]),
    ]
    record.suite = suite_name("smart-charging", "ignores_profile")
    record.fault = "ignores_profile"
    record.tolerances = {
        "current_abs_a": {"value": 0.5, "set_in": "lab_config.yaml",
                          "basis": "current over the composite limit, A: OCPP 1.6 3.13"},
        "pwm_duty_pct": {"value": 0.5, "set_in": "default", "basis": "IEC 61851-1 Annex A pulse width"}}
    record.capabilities = {"pos1": {"features": {
        "SmartCharging": {"supported": True, "source": "SupportedFeatureProfiles = Core,SmartCharging"},
        "Reservation": {"supported": False, "source": "declared in lab_config.yaml"}}}}
    # a measurement too small to print: it reads 0, never "-3.4e-05 s"
    record.scenarios[0].checks[1].measurements[0].t_mono_s = record.scenarios[0].t_start_mono_s - 3.4e-05
    record.finalize_verdict()
    record.write(run)


@pytest.fixture
def layout_run(run_dir: Path) -> Path:
    _add_scenarios(run_dir)
    return run_dir


def test_default_report_cover_rows_and_pages(layout_run: Path) -> None:
    result = render_all(layout_run)
    record = load_record(layout_run)
    skipped = [s for s in record.scenarios if s.verdict == Verdict.SKIPPED]
    assert [s.plots for s in skipped] == [[], [], []]  # the trace covers their window, but they did not run
    assert not [p for p in (layout_run / "plots").iterdir() if "not_supported" in p.name or "v201" in p.name]

    pages = pages_text(result.pdf)
    text = "\n".join(pages)
    at = next(i for i, pg in enumerate(pages) if "Summary" in pg)
    cover = "\n".join(pages[:at])
    # verdict and the five counts, in order, next to it
    labels = re.search(r"PASS\s+FAIL\s+ERROR\s+NOT SUPPORTED\s+SKIPPED", cover)
    assert labels, cover
    # the verdict block beside the counts may share their line
    counts = re.search(r"^\s*(FAIL\s+)?(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", cover[labels.end():], re.M)
    assert counts and counts.groups()[1:] == ("2", "1", "0", "1", "2"), cover
    assert "FAULT INJECTED: ignores_profile" in cover and "smart-charging-fault-ignores_profile" in cover
    # what was not run, and why
    assert "NOT SUPPORTED: the DUT does not support Reservation" in cover
    assert "NOT APPLICABLE: not defined for OCPP 1.6" in cover
    # tolerances with their value and where they were set; the DUT's features with their source
    assert re.search(r"current_abs_a\s+0\.5\s+lab_config\.yaml\s", cover), cover
    assert re.search(r"pwm_duty_pct\s+0\.5\s+default", cover)
    assert re.search(r"Reservation\s+no\s+declared in lab_config\.yaml", cover)

    # a section for the FAIL, a compact page for the measured PASS; a row for the rest
    assert "2. limit-ignored" in text and "1. ramp-down-ok" in text
    for name in ("boot_protocol_only", "reserve_not_supported", "display_v201_only", "tls_not_applicable"):
        assert f". {name}" not in text and name in pages[at], name
    assert "3 steps done as a compliant charger requires" in pages[at]
    # the measured PASS: one page with its numbers (its one plot is counted below)
    compact = [pg for pg in pages if "1. ramp-down-ok" in pg]
    assert len(compact) == 1 and "Checks and measurements" in compact[0] and "pwm_matches_limit: PASS" in compact[0]
    assert pages.index(compact[0]) == len(pages) - 1  # after the FAIL's evidence, and the last page
    assert re.search(r"display_v201_only\s+SKIPPED\s+not run", pages[at])
    assert "duration not recorded" not in text
    # the Why: what, how much, against which limit and rule, when, once
    fail = next(pg for pg in pages if "2. limit-ignored" in pg)
    why = re.search(r"Why\s+(.*?)\.\s*\n\s*(Steps|Checks)", fail, re.S)
    assert why, fail
    sentence = " ".join(why.group(1).split())
    assert "excess_over_limit_l1_a was 7.5 A, 6.84 A above its upper limit of 0.66 A" in sentence
    assert "at 30.0 s after the scenario start (2025-01-01 00:01:40.0 UTC)" in sentence
    assert text.count("6.84 A above") == 1
    # the test plan recorded before the scenario ran, next to what was measured
    plan = text[text.index("Test plan"):]  # only the FAIL has one recorded
    assert "excess_over_limit_l{phase}_a" in plan and "tolerances.current_abs_a (config)" in plan
    # step numbers as the run's messages give them (from 1); sensible numbers
    assert re.search(r"^\s*1\s+plug_in", fail, re.M) and re.search(r"^\s*3\s+wait", fail, re.M)
    assert not re.search(r"\de-0\d", text) and not re.search(r"(?<![\w.])-0(?![.\d])", text)
    # images: the FAIL's three plots and the compact page's one
    assert len(IMAGE.findall(result.pdf.read_bytes())) == 4


def test_full_report_keeps_a_section_per_scenario(layout_run: Path) -> None:
    result = render_all(layout_run, full=True)
    pages = pages_text(result.pdf)
    text = "\n".join(pages)
    for i, name in enumerate(["ramp-down-ok", "limit-ignored", "boot_protocol_only", "reserve_not_supported",
                              "display_v201_only", "tls_not_applicable"], 1):
        assert f"{i}. {name}" in text, name
    for name in ("reserve_not_supported", "display_v201_only"):
        section = next(pg for pg in pages if f". {name}" in pg)
        assert "not run" in section and "Plots" not in section and "never ended" not in section
    ran = next(pg for pg in pages if ". tls_not_applicable" in pg)
    assert "needs TLS" in ran and "1 probe" in " ".join(ran.split()) and "Plots" not in ran
    record = load_record(layout_run)
    plotted = sum(len(s.plots) for s in record.scenarios)
    assert len(IMAGE.findall(result.pdf.read_bytes())) == plotted  # none of them a SKIPPED one's


def test_why_of_a_step_verdict_names_the_step_and_its_time() -> None:
    """A FAIL on the steps has no measurement time: the sentence gives the failed step, numbered as
    in the steps table and in the run's own message."""
    s = ScenarioRecord(name="boot", file="b.yaml", position="pos1", verdict=Verdict.FAIL, t_start_mono_s=T0,
                       t_end_mono_s=T0 + 70, utc_start="2025-01-01T00:00:00Z",
                       steps=[StepRecord(0, "reset", {}, T0, T0 + 1),
                              StepRecord(1, "expect_boot_sequence", {}, T0 + 1, T0 + 63, ok=False, message="x")])
    check = CheckRecord("step_expectations", Verdict.FAIL,
                        [judge("dut_answers_not_as_required", 1, "count", None, 0)],
                        "step 2 expect_boot_sequence: the DUT sent StatusNotification while Pending")
    assert say.why_sentence(s, check) == (
        "step_expectations: step 2 expect_boot_sequence: the DUT sent StatusNotification while Pending; during "
        "step 2 expect_boot_sequence, 1.0 s to 63.0 s after the scenario start (from 2025-01-01 00:00:01.0 UTC).")


def test_fmt_value_never_prints_exponents_or_negative_zero() -> None:
    assert [fmt_value(v) for v in (-3.4e-05, -0.0, 0.66, -2760.0, 12345.67, 0.001234)] == \
        ["0", "0", "0.66", "-2760", "12345.7", "0.001234"]


def test_tolerances_recorded_with_where_they_were_set() -> None:
    config_path = REPO / "lab_config.yaml"
    tolerances = tolerance_record(load_config(config_path), config_path)
    assert tolerances["current_abs_a"]["set_in"] == "lab_config.yaml"
    assert tolerances["clock_tolerance_s"]["set_in"] == "default"  # not in the shipped file
    assert "IEC 61851-1" in tolerances["pwm_duty_pct"]["basis"]
    assert suite_name("default", None) == "default"
    assert suite_name("default", "pwm_offset") == "default-fault-pwm_offset"
