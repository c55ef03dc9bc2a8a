"""junit.xml for CI: one testsuite per run, one testcase per scenario (per scenario and
OCPP version when the positions of the run speak different versions).

The file is valid against the Jenkins JUnit schema (junit-10.xsd of the xunit plugin,
vendored in tests/report/), which GitLab reads as well: so no attribute outside it
(the scenario file goes to system-out, not to a testcase `file` attribute).

Also home of the small helpers every report uses to name "the worst measurement"
of a check or scenario and its margin to the limits.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.record import CheckRecord, Measurement, RunRecord, ScenarioRecord, Verdict, skip_label

JUNIT_FILE = "junit.xml"
_RANK = {Verdict.FAIL: 0, Verdict.ERROR: 1, Verdict.PASS: 2, Verdict.SKIPPED: 3}
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # text from the DUT may hold these


SMALLEST_SHOWN = 1e-3  # below this a value reads as 0: no "-3.4e-05 s" on paper


def fmt_value(v: float | None) -> str:
    """Short, readable number: 4 significant digits, never an exponent, never "-0"."""
    if v is None:
        return "none"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if abs(v) < SMALLEST_SHOWN:
        return "0"
    return f"{v:.1f}" if abs(v) >= 1e4 else f"{v:.4g}"


def fmt_fixed(v: float, decimals: int) -> str:
    """`v` with a fixed number of decimals, "0.00" rather than "-0.00"."""
    text = f"{v:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def fmt_limits(m: Measurement) -> str:
    low = "-inf" if m.low is None else fmt_value(m.low)
    high = "inf" if m.high is None else fmt_value(m.high)
    return f"[{low}, {high}]"


def margin(m: Measurement) -> float | None:
    """Signed distance to the nearest limit, in the measurement's unit: >= 0 inside, < 0 outside."""
    if m.value is None or (m.low is None and m.high is None):
        return None
    sides = [x for x in ((m.value - m.low) if m.low is not None else None,
                         (m.high - m.value) if m.high is not None else None) if x is not None]
    return min(sides)


def _relative_margin(m: Measurement) -> float:
    """Margin scaled by the limit, so measurements in different units can be ranked."""
    d = margin(m)
    if d is None:
        return math.inf
    if m.low is not None and m.high is not None and m.high > m.low:
        scale = m.high - m.low
    else:
        bound = m.low if m.low is not None else m.high
        assert bound is not None  # margin() is None without a bound
        scale = abs(bound) or 1.0
    return d / scale


def worst_measurement(measurements: list[Measurement]) -> Measurement | None:
    """FAIL before ERROR before PASS; among equals, the smallest relative margin. A passing
    count that must be zero (e.g. DUT answers not as required) sits exactly on its limit
    but says nothing about how close the charger came: physical values rank first."""
    if not measurements:
        return None
    return min(measurements, key=lambda m: (_RANK.get(Verdict(m.verdict), 9),
                                            m.verdict == Verdict.PASS and m.unit == "count",
                                            _relative_margin(m)))


def scenario_worst(scenario: ScenarioRecord) -> tuple[CheckRecord, Measurement] | None:
    pairs = [(c, m) for c in scenario.checks for m in c.measurements]
    if not pairs:
        return None
    worst = worst_measurement([m for _, m in pairs])
    return next((c, m) for c, m in pairs if m is worst)


def failure_message(check: CheckRecord) -> str:
    """'<check>: <measurement>=<value> <unit> outside [low, high]', or the check's own message."""
    m = worst_measurement([x for x in check.measurements if x.verdict == Verdict.FAIL])
    if m is None:
        return f"{check.name}: {check.message or str(Verdict(check.verdict).value)}"
    return f"{check.name}: {m.name}={fmt_value(m.value)} {m.unit} outside {fmt_limits(m)}"


def error_message(scenario: ScenarioRecord) -> str:
    if scenario.error:
        return scenario.error
    for check in scenario.checks:
        if check.verdict == Verdict.ERROR:
            return f"{check.name}: {check.message or 'error'}"
    return "scenario ended in ERROR"


def _details(scenario: ScenarioRecord) -> str:
    """Every non-passing check and measurement, one per line, for the CI log."""
    lines = []
    for check in scenario.checks:
        if check.verdict == Verdict.PASS:
            continue
        lines.append(f"check {check.name}: {Verdict(check.verdict).value}"
                     + (f" - {check.message}" if check.message else ""))
        for m in check.measurements:
            if m.verdict != Verdict.PASS:
                at = f" at t={m.t_mono_s - scenario.t_start_mono_s:+.3f} s" if m.t_mono_s is not None else ""
                lines.append(f"  {m.name} = {fmt_value(m.value)} {m.unit}, limits {fmt_limits(m)}: "
                             f"{Verdict(m.verdict).value}{at}" + (f" ({m.note})" if m.note else ""))
    if scenario.error:
        lines.append(f"error: {scenario.error}")
    return "\n".join(lines)


def _system_out(scenario: ScenarioRecord) -> str:
    lines = [f"{c.name}: {Verdict(c.verdict).value}" for c in scenario.checks]
    for c in scenario.checks:
        for m in c.measurements:
            lines.append(f"  {c.name}.{m.name} = {fmt_value(m.value)} {m.unit} {fmt_limits(m)} "
                         f"{Verdict(m.verdict).value}")
    return "\n".join(lines)


def duration_s(scenario: ScenarioRecord) -> float:
    d = scenario.t_end_mono_s - scenario.t_start_mono_s
    return d if d > 0 else 0.0


def ocpp_version_of(record: RunRecord, scenario: ScenarioRecord) -> str:
    return str((record.positions or {}).get(scenario.position, {}).get("ocpp_version") or record.ocpp_version)


def testcase_name(record: RunRecord, scenario: ScenarioRecord) -> str:
    """The scenario name, with '[ocpp<version>]' when the run covers several OCPP versions."""
    versions = {ocpp_version_of(record, s) for s in record.scenarios}
    return f"{scenario.name}[ocpp{ocpp_version_of(record, scenario)}]" if len(versions) > 1 else scenario.name


def _testcase(record: RunRecord, scenario: ScenarioRecord) -> ET.Element:
    case = ET.Element("testcase", classname=f"evbench.{scenario.position}", name=testcase_name(record, scenario),
                      time=f"{duration_s(scenario):.3f}")
    verdict = Verdict(scenario.verdict)
    if verdict == Verdict.FAIL:
        failed = [c for c in scenario.checks if c.verdict == Verdict.FAIL]
        message = failure_message(failed[0]) if failed else (scenario.error or "scenario failed")
        ET.SubElement(case, "failure", message=message, type="FAIL").text = _details(scenario)
    elif verdict == Verdict.ERROR:
        ET.SubElement(case, "error", message=error_message(scenario), type="ERROR").text = _details(scenario)
    elif verdict == Verdict.SKIPPED:
        reasons = [f"{skip_label(scenario.skip_kind)}: {scenario.skipped}"] if scenario.skipped else []
        reasons += [f"{c.name}: {c.message}" for c in scenario.checks if c.message]
        ET.SubElement(case, "skipped", message="; ".join(reasons) or "not applicable")
    out = "\n".join(x for x in (f"scenario file: {scenario.file}" if scenario.file else "",
                                  _figures_line(scenario), _system_out(scenario)) if x)
    if out:
        ET.SubElement(case, "system-out").text = out
    return case


def _figures_line(scenario: ScenarioRecord) -> str:
    figures = {k: v for k, v in (scenario.figures or {}).items() if v is not None}
    return "key figures: " + ", ".join(f"{k}={fmt_value(v)}" for k, v in figures.items()) if figures else ""


def _sanitize(root: ET.Element) -> None:
    for el in root.iter():
        if el.text:
            el.text = _XML_INVALID.sub("?", el.text)
        for key, value in el.attrib.items():
            el.set(key, _XML_INVALID.sub("?", value))


def write_junit(run_dir: Path, record: RunRecord) -> Path:
    """Write junit.xml into the run folder (atomically) and return its path."""
    verdicts = [Verdict(s.verdict) for s in record.scenarios]
    suite = ET.Element("testsuite", {
        "name": record.suite,
        "tests": str(len(verdicts)),
        "failures": str(verdicts.count(Verdict.FAIL)),
        "errors": str(verdicts.count(Verdict.ERROR)),
        "skipped": str(verdicts.count(Verdict.SKIPPED)),
        "time": f"{sum(duration_s(s) for s in record.scenarios):.3f}",
        "timestamp": record.utc_start,
    })
    props = ET.SubElement(suite, "properties")
    dut = record.dut or {}
    for name, value in (("run_id", record.run_id), ("dut_vendor", dut.get("vendor")),
                        ("dut_model", dut.get("model")), ("dut_serial", dut.get("serial")),
                        ("dut_firmware", dut.get("firmware")), ("ocpp_version", record.ocpp_version),
                        ("security_profile", record.security_profile), ("bench", record.bench_name),
                        ("fault", record.fault or "none"), ("config_digest", record.config_digest),
                        ("verdict", Verdict(record.verdict).value), ("complete", str(record.complete).lower()),
                        ("virtual_lab", str(record.virtual_lab).lower())):
        ET.SubElement(props, "property", name=name, value="" if value is None else str(value))
    for scenario in record.scenarios:
        suite.append(_testcase(record, scenario))
    if record.error:
        # a run that broke outside any scenario must still show up as an error in CI
        case = ET.SubElement(suite, "testcase", classname="evbench.run", name="run", time="0.000")
        ET.SubElement(case, "error", message=record.error, type="ERROR")
        for key in ("tests", "errors"):
            suite.set(key, str(int(suite.attrib[key]) + 1))
    _sanitize(suite)
    ET.indent(suite)
    path = Path(run_dir) / JUNIT_FILE
    tmp = path.with_suffix(".xml.tmp")
    ET.ElementTree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
    return path
