"""The report's signed meter values: the three energies of each transaction side by side and the
status of its signatures, from the record alone, in the PDF."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.record import CheckRecord, Measurement, ScenarioRecord, Verdict
from bench.report.pdf import write_pdf
from bench.report.signed_energy import signed_energy_rows
from pdf_text import pages_text
from report_runs import T0, base_record


def _scenario(invalid: int = 0) -> ScenarioRecord:
    energy = CheckRecord("signed_energy_matches_reference", Verdict.PASS, params={"transactions": [
        {"transaction_id": 7, "signed_wh": 86.2, "reported_wh": 86.0, "measured_wh": 85.6}]},
        measurements=[Measurement("tx7_signed_energy_error_pct", 0.7, "%", -2.2, 2.2, Verdict.PASS)])
    verify = CheckRecord("signed_values_verify", Verdict.FAIL if invalid else Verdict.PASS, params={"transactions": [
        {"transaction_id": 7, "records": 17, "verified": 17 - invalid, "invalid": invalid, "keys": [],
         "problems": []}]})
    return ScenarioRecord("signed_meter_values", "eichrecht/signed_meter_values.yaml", "pos1",
                          verdict=Verdict.PASS, t_start_mono_s=T0, t_end_mono_s=T0 + 40, checks=[verify, energy])


def test_rows_put_the_three_energies_side_by_side() -> None:
    (row,) = signed_energy_rows(_scenario())
    assert row.cells() == ["7", "86.2", "86.0", "85.6", "+0.70 %", "17 of 17 verify"]
    assert row.signature_verdict == Verdict.PASS
    (bad,) = signed_energy_rows(_scenario(invalid=2))
    assert (bad.signatures, bad.signature_verdict) == ("2 of 17 invalid", Verdict.FAIL)
    assert signed_energy_rows(ScenarioRecord("other", "x.yaml", "pos1")) == []


def test_the_pdf_shows_them(tmp_path: Path) -> None:
    record = base_record(scenarios=[_scenario()], t_end_mono_s=T0 + 41, complete=True)
    text = "\f".join(pages_text(write_pdf(tmp_path, record, [])))
    assert "Signed meter values (OCMF)" in text
    assert "86.2" in text and "85.6" in text and "17 of 17 verify" in text


@pytest.mark.parametrize("missing", ["signed_values_verify", "signed_energy_matches_reference"])
def test_one_check_alone_still_gives_a_row(missing: str) -> None:
    s = _scenario()
    s.checks = [c for c in s.checks if c.name != missing]
    (row,) = signed_energy_rows(s)
    assert (row.signed_wh is None) == (missing == "signed_energy_matches_reference")
