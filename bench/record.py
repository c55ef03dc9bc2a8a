"""The run record (`record.json`): the single source of truth for every report.

Times: `*_mono_s` are seconds on the run's monotonic clock (the same scale as
the `t_mono_s` column of the traces and of `ocpp.jsonl`); `*_utc` are ISO 8601.
Plots put time in seconds from the scenario start (`t_start_mono_s`).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1


class Verdict(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"  # the charger did something wrong
    ERROR = "ERROR"  # the bench, an instrument or the config failed
    SKIPPED = "SKIPPED"  # not applicable


_SEVERITY = {Verdict.SKIPPED: 0, Verdict.PASS: 1, Verdict.FAIL: 2, Verdict.ERROR: 3}


def combine(verdicts: list[Verdict]) -> Verdict:
    """Worst verdict wins (ERROR > FAIL > PASS > SKIPPED); nothing ran = SKIPPED."""
    if not verdicts:
        return Verdict.SKIPPED
    return max((Verdict(v) for v in verdicts), key=_SEVERITY.__getitem__)


SKIP_LABELS = {"not_supported": "NOT SUPPORTED", "not_applicable": "NOT APPLICABLE", "bench": "NOT RUN ON THIS BENCH"}


def skip_label(skip_kind: str) -> str:
    """How a SKIPPED scenario is shown: NOT SUPPORTED (by the DUT), NOT APPLICABLE, NOT RUN ON THIS BENCH."""
    return SKIP_LABELS.get(skip_kind, "SKIPPED")


def exit_code(verdict: Verdict) -> int:
    return {Verdict.PASS: 0, Verdict.SKIPPED: 0, Verdict.FAIL: 1, Verdict.ERROR: 2}[Verdict(verdict)]


@dataclass
class Measurement:
    name: str  # unit in the name: overshoot_l1_a, energy_error_pct
    value: float | None
    unit: str
    low: float | None  # inclusive limits; None = unbounded
    high: float | None
    verdict: Verdict
    t_mono_s: float | None = None  # where the value was taken (worst point), if meaningful
    note: str = ""
    rule: str = ""  # the requirement the limits enforce (spec section, requirement id, standard clause)
    samples: int | None = None  # how many samples (instants, MeterValues, intervals) were compared
    coverage: float | None = None  # share of the scenario (0..1) those samples cover
    # the bench's own uncertainty of `value` (reference meter class, sampling interval), same unit;
    # the verdict is taken against the limits as they are (simple acceptance), and a value closer to
    # a limit than this is flagged: the bench cannot settle that verdict
    uncertainty: float | None = None
    within_uncertainty: bool = False


def judge(name: str, value: float | None, unit: str, low: float | None = None, high: float | None = None,
          *, t_mono_s: float | None = None, note: str = "", rule: str = "", samples: int | None = None,
          coverage: float | None = None, uncertainty: float | None = None) -> Measurement:
    """A measurement with limits as data; no value = ERROR (nothing to judge is not a pass).
    A DUT that gave nothing to measure is a FAIL made with `failed`, not a missing value here."""
    if value is None:
        verdict = Verdict.ERROR
    elif (low is not None and value < low) or (high is not None and value > high):
        verdict = Verdict.FAIL
    else:
        verdict = Verdict.PASS
    near = False
    if value is not None and uncertainty:
        near = any(lim is not None and abs(value - lim) <= uncertainty for lim in (low, high))
        if near:
            note = (f"{note}; " if note else "") + (f"within the bench's uncertainty (+-{uncertainty:.3g} {unit}) "
                                                   f"of a limit: {verdict.value} is not certain")
    return Measurement(name, value, unit, low, high, verdict, t_mono_s, note, rule, samples, coverage,
                       uncertainty, near)


def failed(name: str, unit: str, note: str, rule: str = "", *, t_mono_s: float | None = None) -> Measurement:
    """A measurement that fails because the DUT gave nothing (or nothing valid) to measure: its
    fault, not the bench's, so FAIL naming the rule, never the ERROR of a missing value."""
    return Measurement(name, None, unit, None, None, Verdict.FAIL, t_mono_s, note, rule)


@dataclass
class CheckRecord:
    name: str
    verdict: Verdict
    measurements: list[Measurement] = field(default_factory=list)
    message: str = ""  # one sentence: why it failed / was skipped / errored
    params: dict[str, Any] = field(default_factory=dict)
    # the evidence: samples compared over all measurements, the share of the scenario (0..1) they
    # cover, and the share the check declares it needs (below it the check cannot PASS)
    samples: int | None = None
    coverage: float | None = None
    min_coverage: float | None = None


@dataclass
class StepRecord:
    index: int
    name: str
    args: dict[str, Any]
    t_start_mono_s: float
    t_end_mono_s: float | None = None
    utc_start: str = ""
    ok: bool = True
    message: str = ""


@dataclass
class ScenarioRecord:
    name: str
    file: str
    position: str
    description: str = ""
    charge_point_id: str = ""
    verdict: Verdict = Verdict.ERROR
    t_start_mono_s: float = 0.0
    t_end_mono_s: float = 0.0
    utc_start: str = ""
    utc_end: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    checks: list[CheckRecord] = field(default_factory=list)
    # expected composite limit per phase, a step function: [[t_mono_s, limit_a], ...]
    expected_limit: list[list[float]] = field(default_factory=list)
    profiles_sent: list[dict[str, Any]] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # paths relative to the run folder
    error: str = ""  # why the scenario ended in ERROR (bench side)
    skipped: str = ""  # why the scenario did not apply (SKIPPED), e.g. not on this OCPP version
    # what kind of SKIPPED: "not_supported" (the DUT lacks an optional feature), "not_applicable"
    # (not defined for its OCPP version, or nothing it tests applied), "bench" (this bench lacks
    # an instrument or a tag presenter); "" for older records
    skip_kind: str = ""
    block: str = ""  # OCPP functional block (scenario folder)
    ocpp_ids: list[str] = field(default_factory=list)  # OCTT test case ids it covers
    # checks that judge measured quantities and were SKIPPED because the position has no
    # instruments (protocol-only mode): what this run did not measure
    not_measured: list[str] = field(default_factory=list)
    # key figures for trends across runs (bench/report/figures.py), derived from this record and
    # the traces when reports are rendered: {"overshoot_a": 0.2, "settle_time_s": 1.4, ...}
    figures: dict[str, float | None] = field(default_factory=dict)
    # the DUT's connection during the scenario: [{"t_mono_s", "event": connected|disconnected, ...}]
    connection_events: list[dict[str, Any]] = field(default_factory=list)
    # the test plan, known before the scenario ran: each measurement its checks take, with the limit
    # and where its values come from (bench/checks/plan.py PlannedMeasurement); [] for older records
    plan: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunRecord:
    run_id: str
    suite: str
    utc_start: str
    config_file: str
    config_digest: str
    ocpp_version: str
    schema_version: int = SCHEMA_VERSION
    bench_name: str = ""
    utc_end: str = ""
    t_start_mono_s: float = 0.0
    t_end_mono_s: float = 0.0
    fault: str | None = None
    virtual_lab: bool = False
    dut: dict[str, Any] = field(default_factory=dict)  # identity from BootNotification
    instruments: list[dict[str, Any]] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)  # position -> trace file (relative)
    sampling: dict[str, Any] = field(default_factory=dict)  # configured and achieved rate
    scenarios: list[ScenarioRecord] = field(default_factory=list)
    verdict: Verdict = Verdict.ERROR
    error: str = ""
    complete: bool = False  # False while running or when the run was cut short
    # OCPP security profile of the CSMS connection (0 = plain ws without basic auth, 1..3 as in
    # the OCPP security whitepaper); None = not recorded (records written before the field)
    security_profile: int | None = None
    # per position: {"charge_point_id", "ocpp_version", "security_profile"}, so reports can name
    # the OCPP version of every scenario when positions run different versions
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the run's clock: "real", or "virtual" when the virtual lab ran `speed` times faster than real
    # time; every time in this record is in the run's (virtual) seconds either way
    clock: str = "real"
    speed: float | Literal["max"] = 1.0
    # the virtual lab's signal imperfections ("ideal", or the knobs of virtual_lab.realism); None
    # on a real bench
    realism: dict[str, Any] | str | None = None
    # per position: what the DUT supports and where each fact came from (bench/capabilities.py)
    capabilities: dict[str, dict[str, Any]] = field(default_factory=dict)
    # every tolerance of the config's `tolerances`: {name: {"value", "set_in", "basis"}}, where
    # set_in names the config file (key tolerances.<name>) or "default", and basis the rule or
    # bench policy behind it
    tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)

    def finalize_verdict(self) -> Verdict:
        verdicts = [s.verdict for s in self.scenarios]
        if self.error:
            verdicts.append(Verdict.ERROR)
        self.verdict = combine(verdicts)
        return self.verdict

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=_json_default))

    def write(self, run_dir: Path) -> Path:
        """Write record.json atomically, so a crash never leaves half a file."""
        path = Path(run_dir) / "record.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        os.replace(tmp, path)
        return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Enum):
        return obj.value
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_record(run_dir: Path) -> RunRecord:
    """Read record.json back into dataclasses (reports are regenerated from this alone)."""
    data = json.loads((Path(run_dir) / "record.json").read_text())
    scenarios = []
    for s in data.pop("scenarios", []):
        steps = [StepRecord(**st) for st in s.pop("steps", [])]
        checks = []
        for c in s.pop("checks", []):
            ms = [Measurement(**{**m, "verdict": Verdict(m["verdict"])}) for m in c.pop("measurements", [])]
            checks.append(CheckRecord(**{**c, "verdict": Verdict(c["verdict"])}, measurements=ms))
        scenarios.append(ScenarioRecord(**{**s, "verdict": Verdict(s["verdict"])}, steps=steps, checks=checks))
    return RunRecord(**{**data, "verdict": Verdict(data["verdict"])}, scenarios=scenarios)
