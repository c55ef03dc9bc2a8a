"""Signed meter values in the report: per transaction, the three energies side by side (signed by
the charger's meter, reported unsigned over OCPP, measured by the reference meter) and the status
of its signatures.

Read from the record alone: the params of the checks signed_energy_matches_reference (energies)
and signed_values_verify (signatures), bench/checks/eichrecht.py. A scenario without them adds nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reportlab.platypus import KeepTogether

from bench.record import ScenarioRecord, Verdict

ENERGY_CHECK = "signed_energy_matches_reference"
SIGNATURE_CHECK = "signed_values_verify"
HEADER = ["Transaction", "Signed (Wh)", "Reported unsigned (Wh)", "Measured (Wh)", "Signed vs measured",
          "Signatures"]


@dataclass(frozen=True)
class SignedEnergyRow:
    transaction_id: Any
    signed_wh: float | None        # last minus first signed register reading
    reported_wh: float | None      # meterStop - meterStart (2.x: the End minus the Begin register)
    measured_wh: float | None      # the reference meter between the signed readings
    signatures: str                # "17 of 17 verify", "2 of 17 invalid", ...
    signature_verdict: Verdict

    @property
    def error_pct(self) -> float | None:
        if self.signed_wh is None or not self.measured_wh:
            return None
        return (self.signed_wh - self.measured_wh) / self.measured_wh * 100.0

    def cells(self) -> list[str]:
        def wh(v: float | None) -> str:
            return "—" if v is None else f"{v:.1f}"
        err = self.error_pct
        return [str(self.transaction_id), wh(self.signed_wh), wh(self.reported_wh), wh(self.measured_wh),
                "—" if err is None else f"{err:+.2f} %", self.signatures]


def _params(scenario: ScenarioRecord, name: str) -> dict[str, Any] | None:
    check = next((c for c in scenario.checks if c.name == name), None)
    return check.params if check is not None else None


def _signature_status(entry: dict[str, Any] | None) -> tuple[str, Verdict]:
    if entry is None:
        return "not checked", Verdict.SKIPPED
    records, verified, invalid = entry.get("records", 0), entry.get("verified", 0), entry.get("invalid", 0)
    if not records:
        return "none signed", Verdict.FAIL
    if invalid:
        return f"{invalid} of {records} invalid", Verdict.FAIL
    if verified < records:
        return f"{verified} of {records} verified (no key for the rest)", Verdict.ERROR
    return f"{verified} of {records} verify", Verdict.PASS


def signed_energy_rows(scenario: ScenarioRecord) -> list[SignedEnergyRow]:
    """One row per transaction the eichrecht checks judged (empty when none ran)."""
    energies = (_params(scenario, ENERGY_CHECK) or {}).get("transactions", [])
    signatures = {str(e.get("transaction_id")): e
                  for e in (_params(scenario, SIGNATURE_CHECK) or {}).get("transactions", [])}
    ids = [str(e.get("transaction_id")) for e in energies] + [i for i in signatures
                                                               if i not in {str(e.get("transaction_id"))
                                                                            for e in energies}]
    by_id = {str(e.get("transaction_id")): e for e in energies}
    rows = []
    for tx in ids:
        energy = by_id.get(tx, {})
        text, verdict = _signature_status(signatures.get(tx))
        rows.append(SignedEnergyRow(tx, energy.get("signed_wh"), energy.get("reported_wh"), energy.get("measured_wh"),
                                    text, verdict))
    return rows


def signed_energy_section(builder: Any, scenario: ScenarioRecord) -> list:
    """The PDF flowables (a heading and a table; nothing when the scenario has no signed values
    judged). `builder` is the PDF builder of bench/report/pdf.py (its p, table, coloured)."""
    rows = signed_energy_rows(scenario)
    if not rows:
        return []
    table: list[list[Any]] = [list(HEADER)]
    for row in rows:
        cells: list[Any] = row.cells()
        cells[-1] = builder.coloured(row.signatures, row.signature_verdict)
        table.append(cells)
    return [KeepTogether([
        builder.p("Signed meter values (OCMF)", "h2"),
        builder.p("Energy per transaction: signed = last minus first signed register reading; reported "
                  "unsigned = meterStop - meterStart over OCPP; measured = the reference meter between the "
                  "signed readings.", "cell"),
        builder.table(table, [0.2, 0.13, 0.17, 0.13, 0.14, 0.23])])]
