"""junit.xml against the JUnit schema Jenkins uses (junit-10.xsd of the xunit plugin,
vendored), checked with the xmlschema library."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from bench.record import CheckRecord, ScenarioRecord, Verdict, judge
from bench.report import render_all, write_junit
from report_runs import T0, base_record

XSD = Path(__file__).with_name("junit-10.xsd")
SCHEMA = xmlschema.XMLSchema(str(XSD))


def schema_errors(path: Path) -> list[str]:
    return [str(e) for e in SCHEMA.iter_errors(str(path))]


def assert_valid(xml_paths: list[Path], tmp_path: Path) -> None:
    for path in xml_paths:
        assert schema_errors(path) == [], path


def test_full_run_junit_is_valid(run_dir: Path, tmp_path: Path) -> None:
    result = render_all(run_dir)
    assert_valid([result.junit], tmp_path)
    suite = ET.parse(result.junit).getroot()
    case = suite.findall("testcase")[1]
    assert case.get("name") == "limit-ignored" and case.get("file") is None  # not in the schema
    out = case.find("system-out").text
    assert "scenario file: scenarios/sc/limit_ignored.yaml" in out and "key figures: overshoot_a=" in out


def test_partial_and_empty_runs_are_valid(tmp_path: Path) -> None:
    record = base_record(error="DUT connection lost", scenarios=[
        ScenarioRecord(name="never-ended", file="a.yaml", position="pos1", verdict=Verdict.ERROR, t_start_mono_s=T0),
        ScenarioRecord(name="skipped", file="b.yaml", position="pos1", verdict=Verdict.SKIPPED, t_start_mono_s=T0,
                       t_end_mono_s=T0 + 1, checks=[CheckRecord("x", Verdict.SKIPPED, message="no meter\x01")])])
    record.finalize_verdict()
    partial = write_junit(tmp_path, record)
    (tmp_path / "empty").mkdir()
    empty = base_record(error="config invalid")
    empty.finalize_verdict()
    assert_valid([partial, write_junit(tmp_path / "empty", empty)], tmp_path)


def test_one_testcase_per_scenario_and_ocpp_version(tmp_path: Path) -> None:
    """Two positions speaking different OCPP versions run the same scenario: two test cases
    that CI can tell apart."""
    m = judge("excess_over_limit_l1_a", 3.0, "A", None, 0.7)
    scenarios = [ScenarioRecord(name="step_down", file="s.yaml", position=pos, verdict=v, t_start_mono_s=T0,
                                t_end_mono_s=T0 + 10, checks=[CheckRecord("current_follows_limit", v, [m] if
                                                                          v == Verdict.FAIL else [])])
                 for pos, v in (("pos1", Verdict.PASS), ("pos2", Verdict.FAIL))]
    record = base_record(scenarios=scenarios, security_profile=0, positions={
        "pos1": {"ocpp_version": "1.6"}, "pos2": {"ocpp_version": "2.0.1"}})
    record.finalize_verdict()
    path = write_junit(tmp_path, record)
    assert_valid([path], tmp_path)
    suite = ET.parse(path).getroot()
    cases = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase")]
    assert cases == [("evbench.pos1", "step_down[ocpp1.6]"), ("evbench.pos2", "step_down[ocpp2.0.1]")]
    failure = suite.findall("testcase")[1].find("failure")
    assert failure.get("message") == "current_follows_limit: excess_over_limit_l1_a=3 A outside [-inf, 0.7]"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["dut_firmware"] == "fw-3.1.4" and props["run_id"] == record.run_id
    assert props["security_profile"] == "0"


def test_the_validator_rejects_what_the_schema_forbids(run_dir: Path, tmp_path: Path) -> None:
    """The validation must fail documents that break the schema, or its 'valid' means nothing."""
    good = ET.parse(render_all(run_dir).junit).getroot()
    assert not list(SCHEMA.iter_errors(good))

    def broken(edit) -> Path:
        root = ET.fromstring(ET.tostring(good))
        edit(root)
        path = tmp_path / f"bad{len(list(tmp_path.iterdir()))}.xml"
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
        return path

    cases = {
        "testcase file attribute": lambda r: r.find("testcase").set("file", "x.yaml"),
        "suite without name": lambda r: r.attrib.pop("name"),
        "bad suite time": lambda r: r.set("time", "1.2.3"),
        "testcase without name": lambda r: r.find("testcase").attrib.pop("name"),
        "property without value": lambda r: r.find("properties/property").attrib.pop("value"),
        "unknown child": lambda r: ET.SubElement(r.find("testcase"), "properties"),
        "child in system-out": lambda r: ET.SubElement(r.find("testcase/system-out"), "b"),
        "text in properties": lambda r: setattr(r.find("properties"), "text", "oops"),
    }
    for what, edit in cases.items():
        assert schema_errors(broken(edit)), what
