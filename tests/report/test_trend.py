"""`bench trend` and `bench compare` over synthetic nights (records with stored key figures)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.record import CheckRecord, ScenarioRecord, Verdict, judge
from bench.report.compare import compare_runs
from bench.report.figures import FIGURES
from bench.report.trend import trend_of
from bench.report.trend_render import write_trend
from report_runs import T0, base_record

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLEAN = {"overshoot_a": 0.1, "settle_time_s": 2.3, "energy_error_pct": 0.2, "duty_error_pct": 0.0}


def night(results: Path, day: int, figures: dict[str, dict], verdicts: dict[str, Verdict] | None = None,
          suite: str = "default", fault: str | None = None, firmware: str = "fw-3.1.4") -> Path:
    """A run folder for night `day` holding one scenario per entry of `figures`."""
    run_id = f"202501{day:02d}T020000Z-{suite}"
    run = results / run_id
    run.mkdir(parents=True)
    verdicts = verdicts or {}
    scenarios = []
    for i, (name, figs) in enumerate(figures.items()):
        v = verdicts.get(name, Verdict.PASS)
        ms = [judge("excess_over_limit_l1_a", figs.get("overshoot_a"), "A", None, 0.82)]
        scenarios.append(ScenarioRecord(name=name, file=f"{name}.yaml", position="pos1", verdict=v,
                                        t_start_mono_s=T0 + 100 * i, t_end_mono_s=T0 + 100 * i + 50,
                                        checks=[CheckRecord("current_follows_limit", v, ms,
                                                            "" if v == Verdict.PASS else "current above the limit")],
                                        figures={n: figs.get(n) for n in FIGURES}))
    record = base_record(scenarios=scenarios, complete=True, fault=fault)
    record.run_id, record.suite, record.utc_start = run_id, suite, f"2025-01-{day:02d}T02:00:00Z"
    record.dut = {**record.dut, "firmware": firmware}
    record.finalize_verdict()
    record.write(run)
    return run


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Four clean nights with a little noise, then a night where step_down fails (new firmware)."""
    res = tmp_path / "results"
    for day, noise in zip(range(1, 5), (0.0, 0.1, -0.1, 0.05)):
        night(res, day, {"step_down": {**CLEAN, "settle_time_s": 2.3 + noise},
                         "metering": {**CLEAN, "energy_error_pct": 0.2 + noise}})
    night(res, 5, {"step_down": {**CLEAN, "overshoot_a": 9.6, "settle_time_s": 8.0},
                   "metering": {**CLEAN, "energy_error_pct": 0.25}},
          verdicts={"step_down": Verdict.FAIL}, firmware="fw-3.2.0")
    return res


def test_trend_flags_the_new_failure_and_the_drift(results: Path) -> None:
    trend = trend_of(results)
    assert [r.run_id[:8] for r in trend.runs] == [f"202501{d:02d}" for d in range(1, 6)]
    assert trend.scenarios == ["step_down", "metering"]
    assert trend.flags[:-3] == []  # the clean nights' noise stays inside the bands
    flags = trend.latest_regressions()
    kinds = sorted((f.kind, f.scenario, f.figure or "") for f in flags)
    assert kinds == [("drift", "step_down", "overshoot_a"), ("drift", "step_down", "settle_time_s"),
                     ("new_failure", "step_down", "")]
    settle = next(f for f in flags if f.figure == "settle_time_s")
    assert settle.baseline == pytest.approx(2.325) and settle.value == 8.0 and settle.direction == "worse"
    new = next(f for f in flags if f.kind == "new_failure")
    assert "was PASS before" in new.message and "excess_over_limit_l1_a=9.6" in new.message


def test_band_is_configurable(results: Path) -> None:
    wide = trend_of(results, bands={"settle_time_s": 10.0, "overshoot_a": 20.0})
    assert [f.kind for f in wide.latest_regressions()] == ["new_failure"]
    narrow = trend_of(results, bands={"energy_error_pct": 0.01})
    assert any(f.scenario == "metering" and f.figure == "energy_error_pct" for f in narrow.latest_regressions())


def test_baseline_ignores_failing_nights_and_flags_missing_and_recovery(results: Path) -> None:
    # night 6: step_down is back to normal, metering is gone from the default suite
    night(results, 6, {"step_down": CLEAN})
    trend = trend_of(results)
    latest = trend.flags_of(trend.latest.run_id)
    # the failing night 5 is not part of the baseline: no 'better' drift for the recovery
    assert [(f.kind, f.scenario) for f in latest] == [("missing", "metering")]
    # a one-off single-scenario run (another suite) does not make the default suite's scenarios 'missing'
    night(results, 7, {"step_down": CLEAN}, suite="txprofile_step_down")
    assert trend_of(results).latest_regressions() == []


def test_trend_files(results: Path, tmp_path: Path) -> None:
    trend = trend_of(results)
    files = write_trend(trend, tmp_path / "out")
    assert files.png.read_bytes().startswith(PNG_MAGIC) and files.png.stat().st_size > 30_000
    pdf = files.pdf.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    with open(files.csv) as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "scenario" and len(rows[0]) == 1 + 5
    assert rows[1] == ["step_down", "PASS", "PASS", "PASS", "PASS", "FAIL"]
    with open(files.figures_csv) as f:
        figs = list(csv.DictReader(f))
    flagged = {(r["run_id"][:8], r["scenario"], r["figure"]) for r in figs if r["flagged"]}
    assert flagged == {("20250105", "step_down", "overshoot_a"), ("20250105", "step_down", "settle_time_s")}
    data = json.loads(files.json.read_text())
    assert data["latest_regressions"] == 3 and len(data["runs"]) == 5
    from pdf_text import pages_text

    text = "\n".join(pages_text(files.pdf, prefer_poppler=False))
    for expected in ("evbench trend", "3 regression(s)", "step_down: FAIL (was PASS before)", "NEW FAIL",
                     "settle time after a limit change 8 s vs baseline 2.325 s"):
        assert expected in text, expected


def test_bench_trend_command(results: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "trend"
    assert main(["trend", str(results), "--out", str(out)]) == 1  # the newest night regressed
    printed = capsys.readouterr().out
    assert "3 regression(s)" in printed and "NEW FAIL" in printed
    assert (out / "trend.pdf").is_file() and (out / "trend.png").is_file()
    assert main(["trend", str(results), "--out", str(out), "--band", "settle_time_s=10",
                 "--band", "overshoot_a=20"]) == 1  # still newly failing
    assert main(["trend", str(results), "--band", "nonsense=1"]) == 2
    assert main(["trend", str(tmp_path / "nothing-here")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["trend", str(tmp_path / "empty")]) == 2
    capsys.readouterr()
    # without the failing night: no regression, exit 0
    clean = tmp_path / "clean"
    for d in sorted(results.iterdir())[:4]:
        (clean / d.name).mkdir(parents=True)
        (clean / d.name / "record.json").write_bytes((d / "record.json").read_bytes())
    assert main(["trend", str(clean)]) == 0
    assert "no regression" in capsys.readouterr().out


def test_compare_two_runs(results: Path, tmp_path: Path, capsys) -> None:
    runs = sorted(results.iterdir())
    comparison = compare_runs(runs[3], runs[4])
    assert [s.key for s in comparison.regressions] == ["step_down"]
    assert comparison.run_changes["verdict"] == ("PASS", "FAIL")
    assert comparison.run_changes["dut_firmware"] == ("fw-3.1.4", "fw-3.2.0")
    step = comparison.scenarios[0]
    assert step.status == "worse"
    overshoot = next(f for f in step.figures if f.name == "overshoot_a")
    assert (overshoot.a, overshoot.b, overshoot.drift) == (0.1, 9.6, "worse")
    assert [(m.name, m.verdict_a, m.verdict_b) for m in step.measurements] == \
        [("excess_over_limit_l1_a", "PASS", "FAIL")]
    metering = comparison.scenarios[1]
    assert metering.status == "same" and not metering.regression

    json_path = tmp_path / "cmp.json"
    assert main(["compare", str(runs[3]), str(runs[4]), "--json", str(json_path)]) == 1
    text = capsys.readouterr().out
    assert "step_down: PASS -> FAIL  REGRESSION" in text and "dut_firmware: fw-3.1.4 -> fw-3.2.0" in text
    assert "overshoot_a: 0.1 -> 9.6 A (+9.5 A)  DRIFT WORSE" in text
    data = json.loads(json_path.read_text())
    assert data["regressions"] == ["step_down"] and data["run_changes"]["verdict"] == {"a": "PASS", "b": "FAIL"}
    assert main(["compare", str(runs[0]), str(runs[1]), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["regressions"] == []
    assert main(["compare", str(runs[0]), str(tmp_path)]) == 2  # not a run folder


def test_a_broken_run_folder_does_not_hide_the_others(results: Path) -> None:
    broken = results / "20250106T020000Z-default"
    broken.mkdir()
    (broken / "record.json").write_text('{"run_id": "cut')  # a disk that filled up mid-write
    trend = trend_of(results)
    assert len(trend.runs) == 5 and trend.latest.run_id.startswith("20250105")
    assert len(trend.unreadable) == 1 and "20250106T020000Z-default" in trend.unreadable[0]


def test_compare_with_a_filtered_run(tmp_path: Path, capsys) -> None:
    """B ran only part of A's scenarios (`-k`, `--tags`): what it did not run is listed, not a
    regression, unless --strict; a scenario B ran and got worse still is one."""
    a = night(tmp_path, 1, {"step_down": CLEAN, "metering": CLEAN})
    b = night(tmp_path, 2, {"metering": CLEAN})
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "not run in B (1, not counted as regressions; --strict counts them): step_down" in text
    assert "REGRESSION" not in text
    assert main(["compare", str(a), str(b), "--strict", "--json", "-"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["regressions"] == ["step_down"] and data["not_run_in_b"] == ["step_down"] and data["strict"]
    worse = night(tmp_path, 3, {"metering": CLEAN}, verdicts={"metering": Verdict.FAIL})
    assert main(["compare", str(a), str(worse), "--json", "-"]) == 1
    assert json.loads(capsys.readouterr().out)["regressions"] == ["metering"]
