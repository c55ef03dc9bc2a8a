"""What changed between two runs: run identity, verdicts, key figures, measurements.

`compare_runs(a, b)` reads both run folders. A change is a regression when B is worse
than A: a scenario's verdict got worse (PASS -> FAIL/ERROR), a scenario of A is
missing from B, a key figure drifted worse beyond its band, or a measurement that
passed in A does not pass in B.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.record import RunRecord, ScenarioRecord, Verdict, load_record
from bench.report.figures import FIGURES, badness, figures_of
from bench.report.junit import fmt_value

# how bad a verdict is, for "got worse" (SKIPPED is not better than PASS, just not judged)
_RANK = {Verdict.SKIPPED: 0, Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.ERROR: 1}
RUN_FIELDS = ("suite", "verdict", "complete", "fault", "ocpp_version", "security_profile", "config_digest",
              "bench_name", "virtual_lab")
DUT_FIELDS = ("vendor", "model", "serial", "firmware")


@dataclass
class FigureChange:
    name: str
    unit: str
    a: float | None
    b: float | None
    delta: float | None  # b - a
    band: float
    drift: str = ""  # worse | better | "" (within the band or not comparable)


@dataclass
class MeasurementChange:
    check: str
    name: str
    unit: str
    a: float | None
    b: float | None
    verdict_a: str
    verdict_b: str

    @property
    def regression(self) -> bool:
        return self.verdict_a == Verdict.PASS.value and self.verdict_b != Verdict.PASS.value


@dataclass
class ScenarioChange:
    key: str
    verdict_a: str | None  # None = not in that run
    verdict_b: str | None
    figures: list[FigureChange] = field(default_factory=list)
    measurements: list[MeasurementChange] = field(default_factory=list)  # in both runs, value or verdict changed

    @property
    def status(self) -> str:
        if self.verdict_a is None:
            return "added"
        if self.verdict_b is None:
            return "removed"
        ra, rb = _RANK[Verdict(self.verdict_a)], _RANK[Verdict(self.verdict_b)]
        if rb > ra:
            return "worse"
        if rb < ra:
            return "better"
        return "changed" if self.verdict_a != self.verdict_b else "same"

    @property
    def regression(self) -> bool:
        return self.status in ("worse", "removed") or any(f.drift == "worse" for f in self.figures) or any(
            m.regression for m in self.measurements)


@dataclass
class Comparison:
    run_a: str
    run_b: str
    run_changes: dict[str, tuple[Any, Any]]  # field -> (a, b), only fields that differ
    scenarios: list[ScenarioChange]

    @property
    def regressions(self) -> list[ScenarioChange]:
        return [s for s in self.scenarios if s.regression]

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a, "run_b": self.run_b,
                "run_changes": {k: {"a": a, "b": b} for k, (a, b) in self.run_changes.items()},
                "scenarios": [{**asdict(s), "status": s.status, "regression": s.regression} for s in self.scenarios],
                "regressions": [s.key for s in self.regressions]}

    def to_text(self) -> str:
        lines = [f"compare {self.run_a} -> {self.run_b}"]
        for k, (a, b) in self.run_changes.items():
            lines.append(f"  {k}: {a} -> {b}")
        if not self.run_changes:
            lines.append("  run: same suite, DUT, config and verdict")
        for s in self.scenarios:
            flag = "  REGRESSION" if s.regression else ""
            if s.status in ("added", "removed"):
                lines.append(f"{s.key}: only in {'B' if s.status == 'added' else 'A'} "
                             f"({s.verdict_b or s.verdict_a}){flag}")
                continue
            verdict = s.verdict_a if s.verdict_a == s.verdict_b else f"{s.verdict_a} -> {s.verdict_b}"
            lines.append(f"{s.key}: {verdict}{flag}")
            for f in s.figures:
                if f.a is None and f.b is None:
                    continue
                delta = "" if f.delta is None else f" ({f.delta:+.3g} {f.unit})"
                mark = f"  DRIFT {f.drift.upper()} (band {f.band:g} {f.unit})" if f.drift else ""
                lines.append(f"    {f.name}: {fmt_value(f.a)} -> {fmt_value(f.b)} {f.unit}{delta}{mark}")
            for m in s.measurements:
                if m.verdict_a != m.verdict_b:
                    lines.append(f"    {m.check}.{m.name}: {fmt_value(m.a)} -> {fmt_value(m.b)} {m.unit}  "
                                 f"{m.verdict_a} -> {m.verdict_b}")
        n = len(self.regressions)
        lines.append(f"{n} scenario(s) with regressions" + (f": {', '.join(s.key for s in self.regressions)}"
                                                           if n else ""))
        return "\n".join(lines)


def compare_runs(run_a: Path, run_b: Path, bands: dict[str, float] | None = None) -> Comparison:
    bands = {**{n: f.band for n, f in FIGURES.items()}, **(bands or {})}
    ra, rb = load_record(run_a), load_record(run_b)
    multi = len({s.position for s in ra.scenarios + rb.scenarios}) > 1
    sa = {_key(s, multi): s for s in ra.scenarios}
    sb = {_key(s, multi): s for s in rb.scenarios}
    keys = list(sa) + [k for k in sb if k not in sa]
    changes = []
    for key in keys:
        a, b = sa.get(key), sb.get(key)
        change = ScenarioChange(key, Verdict(a.verdict).value if a else None, Verdict(b.verdict).value if b else None)
        if a is not None and b is not None:
            change.figures = _figure_changes(figures_of(run_a, ra, a), figures_of(run_b, rb, b), bands)
            change.measurements = _measurement_changes(a, b)
        changes.append(change)
    return Comparison(ra.run_id, rb.run_id, _run_changes(ra, rb), changes)


def _key(s: ScenarioRecord, multi: bool) -> str:
    return f"{s.position}/{s.name}" if multi else s.name


def _run_changes(a: RunRecord, b: RunRecord) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for name in RUN_FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        va, vb = (va.value if isinstance(va, Verdict) else va), (vb.value if isinstance(vb, Verdict) else vb)
        if va != vb:
            out[name] = (va, vb)
    for name in DUT_FIELDS:
        va, vb = (a.dut or {}).get(name), (b.dut or {}).get(name)
        if va != vb:
            out[f"dut_{name}"] = (va, vb)
    return out


def _figure_changes(fa: dict[str, float | None], fb: dict[str, float | None], bands: dict[str, float]
                    ) -> list[FigureChange]:
    out = []
    for name, d in FIGURES.items():
        a, b = fa.get(name), fb.get(name)
        delta = None if a is None or b is None else round(b - a, 6)
        drift = ""
        if a is not None and b is not None:  # i.e. delta is not None
            worse_by = badness(name, b) - badness(name, a)
            if abs(worse_by) > bands[name]:
                drift = "worse" if worse_by > 0 else "better"
        out.append(FigureChange(name, d.unit, a, b, delta, bands[name], drift))
    return out


def _measurement_changes(a: ScenarioRecord, b: ScenarioRecord) -> list[MeasurementChange]:
    ma = {(c.name, m.name): m for c in a.checks for m in c.measurements}
    out = []
    for c in b.checks:
        for m in c.measurements:
            old = ma.get((c.name, m.name))
            if old is None or (old.value == m.value and old.verdict == m.verdict):
                continue
            out.append(MeasurementChange(c.name, m.name, m.unit, old.value, m.value, Verdict(old.verdict).value,
                                         Verdict(m.verdict).value))
    return out
