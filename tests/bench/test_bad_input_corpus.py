"""A corpus of bad lab configs and scenarios: each one stops `bench run` before anything starts.

Every case asserts that the message names the file, the key (or line) and the reason, and that
nothing was created in --out. Most cases go through the function `bench run` itself validates
with (`_validated_inputs`, in-process: fast); a handful run the real `python -m bench run` and
assert exit code 2, no traceback and no run folder.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from bench.cli import _parser, _validated_inputs, main
from bench.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIG_NAME, SCENARIO_NAME = "lab_config.yaml", "probe.yaml"
# the shipped config on a free CSMS port (never a fixed port in tests)
GOOD_CONFIG = (ROOT / "lab_config.yaml").read_text().replace("port: 18180", "port: 0", 1)
GOOD_SCENARIO = "name: probe\nsteps:\n  - plug_in\n  - hold: {seconds: 1}\n"
DIRECTORY, MISSING, SPARSE_50_MB = "<directory>", "<missing>", "<sparse 50 MB>"


def _billion_laughs() -> str:
    """Nine levels of nine aliases each inside set_profile.profile: 9**9 "lol"s once expanded."""
    lines = ["name: bomb", "steps:", "  - set_profile:", "      purpose: TxProfile", "      profile:"]
    for level, name in enumerate("abcdefghi"):
        item = '"lol"' if level == 0 else f"*{'abcdefghi'[level - 1]}"
        lines.append(f"        {name}: &{name} [{', '.join([item] * 9)}]")
    return "\n".join(lines) + "\n"


BILLION_LAUGHS = _billion_laughs()
BINARY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # an image saved as the config by mistake


@dataclass(frozen=True)
class Bad:
    id: str
    key: str                               # the key (dotted path) or line the message must name
    reason: str                            # a fragment of the reason
    config: str | bytes | None = None      # None: the good config
    scenario: str | bytes | None = None    # None: the good scenario
    twin: str | None = None                # a second scenario file next to the first

    @property
    def names(self) -> tuple[str, ...]:
        """The file(s) the message must name."""
        return (SCENARIO_NAME,) if self.scenario is not None else (CONFIG_NAME,)


# ---- building bad files -----------------------------------------------------------

def cfg(edit: Callable[[dict], Any]) -> str:
    """The good config with `edit` applied to its data."""
    data = yaml.safe_load(GOOD_CONFIG)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def cfg_set(path: str, value: Any) -> str:
    """The good config with the value at a dotted path ("positions.0.dut.phases") set."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(data: dict) -> None:
        for p in parents:
            data = data[p]
        data[last] = value
    return cfg(edit)


def cfg_drop(path: str) -> str:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(data: dict) -> None:
        for p in parents:
            data = data[p]
        del data[last]
    return cfg(edit)


def cfg_text(old: str, new: str) -> str:
    assert old in GOOD_CONFIG, old
    return GOOD_CONFIG.replace(old, new, 1)


def step(text: str) -> str:
    return f"name: probe\nsteps:\n  - {text}\n"


def header(text: str) -> str:
    return f"{text}\nsteps:\n  - hold: {{seconds: 1}}\n"


def check(text: str) -> str:
    return f"name: probe\nsteps:\n  - hold: {{seconds: 1}}\nchecks:\n  - {text}\n"


METER, LOAD = "positions.0.instruments.meter", "positions.0.instruments.load_l1"
DUT = "positions.0.dut"
SMALL_LOADS = cfg(lambda d: [d["positions"][0]["instruments"][f"load_l{n}"].update(model="63802", ratings={})
                             for n in (1, 2, 3)])  # 18 A each, the EV's 16 A fits

CONFIG_CASES = [
    # -- the file itself
    Bad("binary", "line 1", "byte 0x89 at offset 0", config=BINARY),
    Bad("latin-1", "line 2", "not UTF-8", config="bench:\n  name: caf\xe9\n".encode("latin-1")),
    Bad("nul-character", "offset", "not allowed in YAML", config="bench:\n  name: a\x00b\n"),
    Bad("empty-file", "(top level)", "not an empty file", config=""),
    Bad("list-not-mapping", "(top level)", "must be a mapping", config="- bench\n- positions\n"),
    Bad("over-1-MiB", CONFIG_NAME, "larger than 1024 KiB", config=GOOD_CONFIG + "#" * (1 << 20)),
    Bad("sparse-50-MB", CONFIG_NAME, "larger than 1024 KiB", config=SPARSE_50_MB),
    Bad("a-directory", CONFIG_NAME, "cannot read", config=DIRECTORY),
    Bad("missing-file", CONFIG_NAME, "cannot read", config=MISSING),
    Bad("yaml-syntax", "line 2", "expected ',' or ']'", config="bench: [unclosed\n"),
    Bad("tab-indent", "line 2", "not valid YAML", config="bench:\n\tname: x\n"),
    Bad("duplicate-top-key", "duplicate key 'bench'", "first given on line 5",
        config=GOOD_CONFIG + "bench:\n  name: again\n"),
    Bad("duplicate-nested-key", "duplicate key 'address'", "first given on line",
        config=cfg_text("        driver: eastron_sdm630\n",
                        "        driver: eastron_sdm630\n        address: modbus+tcp://10.0.0.9:502\n")),
    Bad("alias-loop", f"line {len(GOOD_CONFIG.splitlines()) + 1}", "alias *l is inside the value it names",
        config=GOOD_CONFIG + "loop: &l [1, *l]\n"),
    Bad("alias-is-its-value", "bench.extra", "unknown key",  # a few aliases are fine: the value is judged
        config=cfg_text("  name: virtual-lab", "  name: &n virtual-lab\n  extra: *n")),
    Bad("deep-nesting", "line 1", "nested deeper than 32", config="bench: " + "[" * 5000 + "]" * 5000),
    Bad("non-text-key", "(top level)", "key 1 must be text", config=GOOD_CONFIG + "1: one\n"),
    Bad("binary-tag", "bench.name", "bytes value is not allowed",
        config=cfg_text("  name: virtual-lab", "  name: !!binary aGVsbG8=")),
    Bad("5000-digit-int", "line", "cannot read", config=cfg_text("  sampling_rate_hz: 10",
                                                                 "  sampling_rate_hz: " + "9" * 5000)),
    # -- dates
    Bad("impossible-date", f"{METER}.calibration_due".replace(".0.", "[0]."), "day value is outside",
        config=cfg_text("calibration_due: 2027-06-30", "calibration_due: 2027-02-30")),
    Bad("not-a-date", "instruments.meter.calibration_due", "valid date",
        config=cfg_text("calibration_due: 2027-06-30", "calibration_due: next year")),
    # -- strict numbers
    Bad("bool-current", "positions[0].dut.rated_current_a", "valid number (got true)",
        config=cfg_set(f"{DUT}.rated_current_a", True)),
    Bad("string-current", "positions[0].dut.rated_current_a", "valid number (got \"32\")",
        config=cfg_set(f"{DUT}.rated_current_a", "32")),
    Bad("bool-phases", "positions[0].dut.phases", "not true", config=cfg_set(f"{DUT}.phases", True)),
    Bad("bool-security-profile", "bench.csms.security.profile", "not true",
        config=cfg_set("bench.csms.security", {"profile": True})),
    Bad("float-connectors", "positions[0].dut.connectors", "valid integer", config=cfg_set(f"{DUT}.connectors", 1.5)),
    Bad("nan-current", "positions[0].dut.rated_current_a", "not a finite number",
        config=cfg_text("rated_current_a: 32", "rated_current_a: .nan")),
    Bad("inf-current", "positions[0].dut.rated_current_a", "not a finite number",
        config=cfg_text("rated_current_a: 32", "rated_current_a: .inf")),
    Bad("1e400-current", "positions[0].dut.rated_current_a", "not a finite number",
        config=cfg_text("rated_current_a: 32", "rated_current_a: 1e400")),
    Bad("negative-current", "positions[0].dut.rated_current_a", "greater than 0",
        config=cfg_set(f"{DUT}.rated_current_a", -5)),
    Bad("current-above-80", "positions[0].dut.rated_current_a", "less than or equal to 80",
        config=cfg_set(f"{DUT}.rated_current_a", 200)),
    Bad("zero-sampling-rate", "bench.sampling_rate_hz", "greater than 0", config=cfg_set("bench.sampling_rate_hz", 0)),
    Bad("sampling-rate-1000", "bench.sampling_rate_hz", "less than or equal to 100",
        config=cfg_set("bench.sampling_rate_hz", 1000)),
    Bad("negative-tolerance", "tolerances.current_abs_a", "greater than or equal to 0",
        config=cfg_set("tolerances.current_abs_a", -1)),
    Bad("inverted-range", "virtual_lab.realism.mains_v", "min 240.0 is above max 220.0",
        config=cfg_set("virtual_lab.realism.mains_v", [240, 220])),
    # -- ports and addresses
    Bad("csms-port-70000", "bench.csms.port", "less than or equal to 65535", config=cfg_set("bench.csms.port", 70000)),
    Bad("csms-port-negative", "bench.csms.port", "greater than or equal to 0", config=cfg_set("bench.csms.port", -1)),
    Bad("csms-host-empty", "bench.csms.host", "at least 1 character", config=cfg_set("bench.csms.host", "")),
    Bad("modbus-port-70000", "positions[0].instruments.meter.address", "port 70000 is out of range",
        config=cfg_set(f"{METER}.address", "modbus+tcp://127.0.0.1:70000?unit=1")),
    Bad("scpi-port-99999", "positions[0].instruments.load_l1.address", "port 99999 is out of range",
        config=cfg_set(f"{LOAD}.address", "TCPIP::127.0.0.1::99999::SOCKET")),
    Bad("modbus-unit-300", "positions[0].instruments.meter.address", "Modbus unit 300 is out of range",
        config=cfg_set(f"{METER}.address", "modbus+tcp://127.0.0.1:502?unit=300")),
    Bad("not-a-visa-address", "positions[0].instruments.ev.address", "not a VISA address",
        config=cfg_set("positions.0.instruments.ev.address", "10.0.0.1:5025")),
    Bad("instr-on-raw-socket-driver", "positions[0].instruments.load_l1.address", "raw socket only",
        config=cfg_set(f"{LOAD}.address", "TCPIP::10.0.0.1::INSTR")),
    Bad("port-0-on-a-real-bench", "virtual_lab", "port 0 is only allowed",
        config=cfg(lambda d: (d["virtual_lab"].update(enabled=False),
                              d["positions"][0]["instruments"]["meter"].update(
                                  address="modbus+tcp://127.0.0.1:0?unit=1")))),
    # -- instruments and their models
    Bad("unknown-driver", "positions[0].instruments.meter.driver", "unknown driver 'acme_9000'",
        config=cfg_set(f"{METER}.driver", "acme_9000")),
    Bad("model-of-another-driver", "positions[0].instruments.load_l1.model", "talks to 63802",
        config=cfg_set(f"{LOAD}.model", "63899")),
    Bad("load-current-above-model", "positions[0].instruments.load_l1.ratings", "above what a 63804 can take (45 A)",
        config=cfg_set(f"{LOAD}.ratings", {"max_current_a": 60, "max_power_w": 4500})),
    Bad("load-power-above-model", "positions[0].instruments.load_l1.ratings", "max_power_w 9000 W is above",
        config=cfg_set(f"{LOAD}.ratings", {"max_current_a": 45, "max_power_w": 9000})),
    Bad("ev-above-loads", "positions[0]", "ev.max_current_a 20 A is above what load_l1",
        config=SMALL_LOADS.replace("max_current_a: 16", "max_current_a: 20")),
    Bad("two-meters", "positions[0]", "more than one power_meter",
        config=cfg(lambda d: d["positions"][0]["instruments"].update(
            meter2=dict(d["positions"][0]["instruments"]["meter"])))),
    Bad("load-without-phase", "positions[0]", "needs 'phase'", config=cfg_drop(f"{LOAD}.phase")),
    Bad("load-phase-4", "positions[0].instruments.load_l1.phase", "Input should be 1, 2 or 3",
        config=cfg_set(f"{LOAD}.phase", 4)),
    # -- keys and values
    Bad("unknown-top-key", "bnch", "unknown key", config=GOOD_CONFIG + "bnch: {}\n"),
    Bad("unknown-nested-key", "positions[0].dut.rated_curent_a", "unknown key",
        config=cfg_set(f"{DUT}.rated_curent_a", 16)),
    Bad("missing-positions", "positions", "required key is missing", config=cfg_drop("positions")),
    Bad("missing-dut", "positions[0].dut", "required key is missing", config=cfg_drop(f"{DUT}")),
    Bad("missing-address", "positions[0].instruments.meter.address", "required key is missing",
        config=cfg_drop(f"{METER}.address")),
    Bad("no-positions", "positions", "at least 1 item", config=cfg_set("positions", [])),
    Bad("positions-a-mapping", "positions", "Input should be a list", config=cfg_set("positions", {"pos1": {}})),
    Bad("ocpp-version-float", "positions[0].dut.ocpp_version", "Input should be '1.6'",
        config=cfg_text('ocpp_version: "1.6"', "ocpp_version: 1.5")),
    Bad("meter-class-D", "positions[0].dut.meter_accuracy_class", "Input should be 'A', 'B' or 'C'",
        config=cfg_set(f"{DUT}.meter_accuracy_class", "D")),
    Bad("verdict-mode", "bench.verdict_mode", "'strict' or 'compatibility'",
        config=cfg_set("bench.verdict_mode", "lenient")),
    Bad("id-tag-status", "bench.csms.id_tags.TAG-ACCEPTED", "Input should be 'Accepted'",
        config=cfg_set("bench.csms.id_tags.TAG-ACCEPTED", "Maybe")),
    Bad("security-no-password", "bench.csms.security", "needs a password",
        config=cfg_set("bench.csms.security", {"profile": 1})),
    Bad("short-password", "bench.csms.security.password", "16..40 characters",
        config=cfg_set("bench.csms.security", {"profile": 1, "password": "short"})),
    Bad("path-prefix", "bench.csms.path_prefix", "should match pattern",
        config=cfg_set("bench.csms.path_prefix", "ocpp")),
    Bad("charge-point-id-space", "positions[0].dut.charge_point_id", "URL-path safe",
        config=cfg_set(f"{DUT}.charge_point_id", "EVB SIM")),
    Bad("duplicate-position", "positions", "position names must be unique",
        config=cfg(lambda d: d["positions"].append(d["positions"][0]))),
    Bad("speed-on-a-real-bench", "virtual_lab", "only the virtual lab runs faster",
        config=cfg(lambda d: d["virtual_lab"].update(enabled=False, speed=4))),
    Bad("features-both", "positions[0].dut.features", "both supported and unsupported",
        config=cfg_set(f"{DUT}.features", {"supported": ["SmartCharging"], "unsupported": ["SmartCharging"]})),
    Bad("unknown-feature", "positions[0].dut.features.unsupported[0]", "Input should be",
        config=cfg_set(f"{DUT}.features", {"unsupported": ["Teleport"]})),
]

SCENARIO_CASES = [
    # -- the file itself
    Bad("binary", "line 1", "not UTF-8", scenario=BINARY),
    Bad("empty-file", "(top level)", "not an empty file", scenario=""),
    Bad("list-not-mapping", "(top level)", "must be a mapping", scenario="- plug_in\n- unplug\n"),
    Bad("over-1-MiB", SCENARIO_NAME, "larger than 1024 KiB", scenario=GOOD_SCENARIO + "#" * (1 << 20)),
    Bad("billion-laughs", "line 11", "more than 200000 values once its aliases are expanded", scenario=BILLION_LAUGHS),
    Bad("duplicate-arg", "duplicate key 'seconds'", "first given on line 3",
        scenario="name: probe\nsteps:\n  - hold: {seconds: 1, seconds: 2}\n"),
    Bad("duplicate-steps-key", "duplicate key 'steps'", "first given on line 2",
        scenario=GOOD_SCENARIO + "steps: []\n"),
    # -- header
    Bad("missing-name", "name", "required key is missing", scenario="steps:\n  - plug_in\n"),
    Bad("empty-name", "name", "at least 1 character", scenario=header("name: ''")),
    Bad("missing-steps", "steps", "required key is missing", scenario="name: probe\n"),
    Bad("unknown-header-key", "stpes", "unknown key", scenario=header("name: probe\nstpes: []")),
    Bad("steps-not-a-list", "steps", "Input should be a list (got \"plug_in\")",
        scenario="name: probe\nsteps: plug_in\n"),
    Bad("tags-a-string", "tags", "Input should be a list", scenario=header("name: probe\ntags: smart")),
    Bad("long-not-bool", "long", "valid boolean", scenario=header("name: probe\nlong: yes please")),
    Bad("unknown-version", "ocpp_versions[0]", "Input should be '1.6'",
        scenario=header("name: probe\nocpp_versions: ['1.5']")),
    Bad("no-versions", "ocpp_versions", "at least 1 item", scenario=header("name: probe\nocpp_versions: []")),
    Bad("zero-sampling-rate", "sampling_rate_hz", "greater than 0",
        scenario=header("name: probe\nsampling_rate_hz: 0")),
    Bad("unknown-need", "needs[0]", "unknown need 'Teleport'", scenario=header("name: probe\nneeds: [Teleport]")),
    Bad("duplicate-name", "name", "is already the name of", twin=GOOD_SCENARIO.replace("plug_in", "unplug"),
        scenario=GOOD_SCENARIO),
    # -- steps
    Bad("unknown-step", "steps[0]", "unknown step 'fly_away'", scenario=step("fly_away")),
    Bad("empty-step-name", "steps[0]", "unknown step ''", scenario=step("''")),
    Bad("null-step", "steps[0]", "must be a name or a one-key mapping", scenario="name: probe\nsteps:\n  -\n"),
    Bad("two-key-step", "steps[0]", "must be a name or a one-key mapping", scenario=step("{plug_in: {}, unplug: {}}")),
    Bad("args-a-list", "steps[0].hold", "arguments must be a mapping", scenario=step("hold: [3]")),
    Bad("unknown-arg", "steps[0].hold.secs", "unknown key", scenario=step("hold: {secs: 3}")),
    Bad("missing-arg", "steps[0].hold.seconds", "required key is missing", scenario=step("hold: {}")),
    Bad("zero-hold", "steps[0].hold.seconds", "greater than 0", scenario=step("hold: {seconds: 0}")),
    Bad("negative-hold", "steps[0].hold.seconds", "greater than 0", scenario=step("hold: {seconds: -3}")),
    Bad("hold-1e9", "steps[0].hold.seconds", "beyond the longest a step may take, 604800 s",
        scenario=step("hold: {seconds: 1e9}")),
    Bad("hold-inf", "steps[0].hold.seconds", "not a finite number", scenario=step("hold: {seconds: .inf}")),
    Bad("hold-nan", "steps[0].hold.seconds", "not a finite number", scenario=step("hold: {seconds: .nan}")),
    Bad("hold-text", "steps[0].hold.seconds", "valid number", scenario=step("hold: {seconds: ten}")),
    Bad("hold-bool", "steps[0].hold.seconds", "valid number (got true)", scenario=step("hold: {seconds: true}")),
    Bad("timeout-1e9", "steps[0].wait_for.timeout_s", "beyond the longest",
        scenario=step("wait_for: {event: boot, timeout_s: 1e9}")),
    Bad("offset-1e12", "steps[0].set_profile.start_offset_s", "beyond the longest",
        scenario=step("set_profile: {limit: 10, start_offset_s: -1e12}")),
    Bad("bool-limit", "steps[0].set_profile.limit", "valid number", scenario=step("set_profile: {limit: true}")),
    Bad("limit-and-periods", "steps[0].set_profile", "give exactly one of profile, limit, periods",
        scenario=step("set_profile: {limit: 10, periods: [[0, 10]]}")),
    Bad("bad-purpose", "steps[0].set_profile.purpose", "Input should be",
        scenario=step("set_profile: {limit: 10, purpose: Foo}")),
    Bad("bad-time-of-day", "steps[0].set_profile.start_time_of_day", "valid time",
        scenario=step("set_profile: {limit: 10, kind: Recurring, recurrency: Daily, start_time_of_day: 25:00:00}")),
    Bad("bad-ev-state", "steps[0].ev_state.state", "Input should be 'A'", scenario=step("ev_state: {state: Z}")),
    Bad("connector-0", "steps[0].remote_start.connector", "greater than or equal to 1",
        scenario=step("remote_start: {connector: 0}")),
    Bad("connector-text", "steps[0].remote_start.connector", "valid integer",
        scenario=step("remote_start: {connector: one}")),
    Bad("bad-expect", "steps[0].remote_start.expect", "'Accepted' or 'Rejected'",
        scenario=step("remote_start: {expect: Maybe}")),
    Bad("repeat-zero", "steps[0].repeat.times", "whole number from 1 to 10000",
        scenario=step("repeat: {times: 0, steps: [plug_in]}")),
    Bad("repeat-bool", "steps[0].repeat.times", "whole number",
        scenario=step("repeat: {times: true, steps: [plug_in]}")),
    Bad("repeat-unknown-key", "steps[0].repeat", "a repeat has times and steps",
        scenario=step("repeat: {times: 2, step: [plug_in]}")),
    Bad("repeat-bad-inner", "steps[0].repeat.steps[1].hold.seconds", "greater than 0",
        scenario=step("repeat: {times: 2, steps: [plug_in, hold: {seconds: -1}]}")),
    # -- checks
    Bad("unknown-check", "checks[0]", "unknown check 'nonsense'", scenario=check("nonsense")),
    Bad("unknown-check-arg", "checks[0].current_follows_limit", "unknown argument(s) slack",
        scenario=check("current_follows_limit: {slack: 1}")),
    Bad("check-arg-text", "checks[0].current_follows_limit.tolerance_abs_a", "valid number",
        scenario=check("current_follows_limit: {tolerance_abs_a: lots}")),
    Bad("check-arg-negative", "checks[0].pwm_matches_limit.tolerance_pct", "greater than or equal to 0",
        scenario=check("pwm_matches_limit: {tolerance_pct: -1}")),
    Bad("check-arg-nan", "checks[0].pwm_matches_limit.tolerance_pct", "not a finite number",
        scenario=check("pwm_matches_limit: {tolerance_pct: .nan}")),
    Bad("check-bad-state", "checks[0].energy_stops_within.states[0]", "Input should be 'A'",
        scenario=check("energy_stops_within: {states: [Z]}")),
]


@dataclass(frozen=True)
class Fits(Bad):
    """A scenario that is valid on its own but asks more than the config's bench has."""

    @property
    def names(self) -> tuple[str, ...]:
        return (SCENARIO_NAME, CONFIG_NAME)


FIT_CASES = [
    Bad("limit-above-iec-61851", "steps[0].set_profile.limit", "100 A is above what any AC charger can offer",
         scenario=step("set_profile: {limit: 100}")),
    Bad("watts-above-iec-61851", "steps[0].set_profile.limit", "60000 W (87.0 A per phase on 3)",
         scenario=step("set_profile: {unit: W, limit: 60000}")),
    Bad("period-above-iec-61851", "steps[0].set_profile.periods[1]", "90 A is above",
         scenario=step("set_profile: {periods: [[0, 10], [60, 90]]}")),
    Bad("wire-profile-above-iec-61851",
         "steps[0].remote_start.profile.chargingSchedule.chargingSchedulePeriod[0].limit", "96 A is above", scenario=step("remote_start: {profile: {chargingProfileId: 1, stackLevel: 0, "
                                        "chargingProfilePurpose: TxProfile, chargingProfileKind: Relative, "
                                        "chargingSchedule: {chargingRateUnit: A, chargingSchedulePeriod: "
                                        "[{startPeriod: 0, limit: 96}]}}}")),
    Bad("repeat-limit-above-iec-61851", "steps[0].repeat.steps[0].set_profile.limit", "81 A is above",
         scenario=step("repeat: {times: 3, steps: [set_profile: {limit: 81}]}")),
    Fits("ev-above-load", "steps[0].set_ev.max_current_a", "through load_l1 of pos1, which may be commanded 18 A",
         scenario=step("set_ev: {max_current_a: 30}"), config=SMALL_LOADS),
]


def _write(folder: Path, case: Bad) -> tuple[Path, Path, Path]:
    """The case's config and scenario files in `folder`; returns (config, scenarios, out)."""
    config, scenarios = folder / CONFIG_NAME, folder / "scenarios"
    scenarios.mkdir(parents=True)
    content = GOOD_CONFIG if case.config is None else case.config
    if content == DIRECTORY:
        config.mkdir()
    elif content == SPARSE_50_MB:
        with open(config, "wb") as f:
            f.truncate(50 << 20)  # sparse: costs no disk, only the reader's bound protects
    elif content != MISSING:
        config.write_bytes(content if isinstance(content, bytes) else content.encode())
    scenario = GOOD_SCENARIO if case.scenario is None else case.scenario
    (scenarios / SCENARIO_NAME).write_bytes(scenario if isinstance(scenario, bytes) else scenario.encode())
    if case.twin is not None:
        (scenarios / "probe_twin.yaml").write_text(case.twin)
    return config, scenarios, folder / "results"


def _ids(cases: list[Bad], kind: str) -> Iterator[Any]:
    for case in cases:
        yield pytest.param(case, id=f"{kind}:{case.id}")


ALL_CASES = [*_ids(CONFIG_CASES, "config"), *_ids(SCENARIO_CASES, "scenario"), *_ids(FIT_CASES, "fits")]


def test_the_corpus_is_large_and_distinct():
    ids = [p.id for p in ALL_CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", ALL_CASES)
def test_bad_input_is_refused_before_anything_starts(case: Bad, tmp_path: Path):
    config, scenarios, out = _write(tmp_path, case)
    args = _parser().parse_args(["run", str(scenarios), "--config", str(config), "--out", str(out)])
    with pytest.raises(ConfigError) as exc:  # the CLI prints a ConfigError as it is and exits 2
        _validated_inputs(args)
    message = str(exc.value)
    for name in case.names:
        assert name in message, message
    assert case.key in message, message
    assert case.reason in message, message
    assert not out.exists()


# ---- the real command, for what must hold end to end -------------------------------------

def _occupied_port() -> socket.socket:
    """A socket listening on a free port, as another process holding the CSMS port would."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture(scope="module")
def command_runs(tmp_path_factory) -> Iterator[dict[str, tuple[Bad, Path, subprocess.CompletedProcess]]]:
    """`python -m bench run` on each bad input, all started at once (each pays the import time)."""
    blocker = _occupied_port()
    port = blocker.getsockname()[1]
    unresolvable = cfg(lambda d: (d["virtual_lab"].update(enabled=False), d["positions"][0]["instruments"]["meter"]
                                  .update(address="modbus+tcp://no-such-host.invalid:502?unit=1")))
    cases = [
        Bad("binary-config", "line 1", "not UTF-8", config=BINARY),
        Bad("port-taken", "bench.csms.port", f"port {port} on 127.0.0.1 is already in use",
            config=cfg_set("bench.csms.port", port)),
        Bad("unresolvable-host", "positions[0].instruments.meter.address", "host 'no-such-host.invalid' does not "
            "resolve", config=unresolvable),
        Bad("billion-laughs", "line 11", "an alias bomb", scenario=BILLION_LAUGHS),
        Bad("limit-above-iec-61851", "steps[0].set_profile.limit", "above what any AC charger can offer",
             scenario=step("set_profile: {limit: 100}")),
    ]
    env = {**os.environ, "COLUMNS": "200"}  # rich folds long lines to the terminal width
    procs = {}
    for case in cases:
        config, scenarios, out = _write(tmp_path_factory.mktemp(case.id), case)
        argv = ["run", str(scenarios), "--config", str(config), "--out", str(out)]
        procs[case.id] = (case, out, subprocess.Popen([sys.executable, "-m", "bench", *argv], cwd=ROOT, env=env,
                                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        results = {}
        for name, (case, out, proc) in procs.items():
            stdout, stderr = proc.communicate(timeout=60)
            results[name] = (case, out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
        yield results
    finally:
        blocker.close()
        for _, _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("name", ["binary-config", "port-taken", "unresolvable-host", "billion-laughs",
                                  "limit-above-iec-61851"])
def test_the_command_exits_2_without_traceback_or_run_folder(command_runs, name: str):
    case, out, res = command_runs[name]
    text = " ".join(res.stderr.split())  # one line: rich may still wrap a long message
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert "bad input" in res.stderr
    for fragment in (*case.names, case.key, case.reason):
        assert fragment in text, res.stderr
    assert not out.exists()


@pytest.mark.parametrize("command, case", [
    ("list", Bad("list-binary-scenario", "line 1", "not UTF-8", scenario=b"\xff\xfe\x00")),
    # the message is printed as text: a key that looks like console markup must not break it
    ("run", Bad("markup-key", "[/bold]", "unknown key", config=GOOD_CONFIG + "'[/bold]': 1\n")),
], ids=lambda v: v.id if isinstance(v, Bad) else v)
def test_the_cli_prints_the_message_and_exits_2(command: str, case: Bad, tmp_path: Path, capsys):
    config, scenarios, out = _write(tmp_path, case)
    argv = [command, str(scenarios)] + (["--config", str(config), "--out", str(out)] if command == "run" else [])
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    for fragment in ("bad input", *case.names, case.key, case.reason):
        assert fragment in err
    assert not out.exists()


def test_a_limit_above_the_duts_rating_skips_that_scenario_only():
    """A library written for a 32 A charger on a 16 A one: the scenarios whose limits the DUT can
    never offer are SKIPPED with the reason, the others run (no input error)."""
    from bench.config import load_config
    from bench.scenario.model import above_rating, load_scenario

    config = load_config(ROOT / "lab_config.yaml")
    pos = config.positions[0]
    small = pos.model_copy(update={"dut": pos.dut.model_copy(update={"rated_current_a": 16.0})})
    soak = load_scenario(ROOT / "scenarios" / "metering" / "soak_8h.yaml")  # limits up to 24 A
    why = above_rating(soak, small)
    assert why is not None and "above this DUT's rated current (dut.rated_current_a: 16 A)" in why
    assert above_rating(soak, pos) is None
