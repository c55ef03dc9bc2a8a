"""`bench schedule`: the composite of a profiles file, as JSON, table and plot; bad input exits 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
START = "2024-01-01T12:24:36Z"


def _period(start: int, limit: float, phases: int | None = 3) -> dict:
    return {"startPeriod": start, "limit": limit, **({"numberPhases": phases} if phases else {})}


def v201(pid: int, purpose: str, periods: list[dict], *, duration: int | None = None, stack: int = 0,
         kind: str = "Absolute", **extra) -> dict:
    schedule = {"id": pid, "chargingRateUnit": extra.pop("unit", "A"), "chargingSchedulePeriod": periods}
    if kind != "Relative":
        schedule["startSchedule"] = START
    if duration is not None:
        schedule["duration"] = duration
    return {"id": pid, "stackLevel": stack, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
            "chargingSchedule": [schedule], **extra}


def v16(pid: int, purpose: str, periods: list[dict], *, duration: int | None = None, stack: int = 0,
        kind: str = "Absolute", unit: str = "A", **extra) -> dict:
    schedule = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods}
    if kind != "Relative":
        schedule["startSchedule"] = START
    if duration is not None:
        schedule["duration"] = duration
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": schedule, **extra}


TC_K_41 = [
    {"evse": 0, "profile": v201(1, "ChargingStationMaxProfile", [_period(0, 10)], duration=86404)},
    {"evse": 1, "profile": v201(2, "TxDefaultProfile", [_period(0, 6), _period(60, 10), _period(120, 8),
                                                        _period(180, 15), _period(260, 8)], duration=304)},
    {"evse": 1, "profile": v201(3, "TxProfile", [_period(0, 8), _period(50, 11), _period(140, 16), _period(200, 6),
                                                 _period(240, 12)], duration=264, transactionId="TX-41")},
]


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at the terminal width; keep messages on one line


@pytest.fixture
def write(tmp_path):
    def write(entries, name="profiles.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(entries) if not isinstance(entries, str) else entries)
        return path
    return write


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["schedule", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_tc_k_41_as_json_exactly_as_the_reference(capsys, write):
    code, out, _ = run(capsys, "--ocpp", "2.0.1", "--profiles", str(write(TC_K_41)), "--start", "2024-01-01T12:24:40Z",
                       "--duration", "400", "--evse", "1", "--transaction-start", "2024-01-01T12:20:00Z",
                       "--default-limit-a", "32", "--json")
    assert code == 0
    assert json.loads(out) == {
        "startSchedule": "2024-01-01T12:24:40.000Z", "duration": 400, "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": float(v), "numberPhases": 3}
                                   for s, v in ((0, 8), (46, 10), (196, 6), (236, 10), (260, 8), (300, 10))]}


def test_without_transaction_the_tx_profile_is_refused_with_a_hint(capsys, write):
    code, out, err = run(capsys, "--ocpp", "2.0.1", "--profiles", str(write(TC_K_41)), "--start", START,
                         "--duration", "60", "--evse", "1", "--default-limit-a", "32", "--json")
    assert code == 2 and out == ""
    assert "entry 2" in err and "charging profile id 3" in err and "needs an active transaction" in err
    assert "--transaction-start" in err


def test_gaps_carry_the_rated_current_from_the_config(capsys, write, tmp_path):
    config = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    config["positions"][0]["dut"]["rated_current_a"] = 20
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(config))
    profiles = write([{"connector": 1, "profile": v16(1, "TxDefaultProfile", [_period(0, 10)], duration=30)}])
    code, out, _ = run(capsys, "--ocpp", "1.6", "--profiles", str(profiles), "--start", START, "--duration", "60",
                       "--connector", "1", "--config", str(tmp_path / "lab.yaml"), "--json")
    assert code == 0
    assert [(p["startPeriod"], p["limit"]) for p in json.loads(out)["chargingSchedulePeriod"]] == [(0, 10), (30, 20)]


def test_watts_phases_and_voltage_options(capsys, write):
    profiles = write([{"connector": 1, "profile": v16(1, "TxDefaultProfile", [_period(0, 2760, 1)], unit="W")}])
    base = ["--ocpp", "1.6", "--profiles", str(profiles), "--start", START, "--duration", "10",
            "--default-limit-a", "16", "--json"]
    code, out, _ = run(capsys, *base)
    assert code == 0 and json.loads(out)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 12.0, "numberPhases": 1}]  # 2760 W / 230 V on one phase
    code, out, _ = run(capsys, *base, "--voltage", "240", "--unit", "W")
    assert json.loads(out)["chargingRateUnit"] == "W"
    assert json.loads(out)["chargingSchedulePeriod"][0]["limit"] == 2760
    empty = write([], "empty.json")
    code, out, _ = run(capsys, "--ocpp", "1.6", "--profiles", str(empty), "--start", START, "--duration", "10",
                       "--default-limit-a", "16", "--phases", "1", "--unit", "W", "--json")
    assert json.loads(out)["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 3680.0, "numberPhases": 1}]


def test_later_profile_replaces_same_stack_level_in_1_6(capsys, write):
    profiles = write([
        {"connector": 1, "profile": v16(1, "TxDefaultProfile", [_period(0, 10)], stack=2)},
        {"connector": 1, "profile": v16(2, "TxDefaultProfile", [_period(0, 14)], stack=2)},
    ])
    code, out, _ = run(capsys, "--ocpp", "1.6", "--profiles", str(profiles), "--start", START, "--duration", "10",
                       "--default-limit-a", "32", "--json")
    assert code == 0 and json.loads(out)["chargingSchedulePeriod"][0]["limit"] == 14


def test_station_wide_composite_sums_the_evses(capsys, write):
    profiles = write([
        {"evse": 1, "profile": v201(1, "TxDefaultProfile", [_period(0, 10)])},
        {"evse": 2, "profile": v201(2, "TxDefaultProfile", [_period(0, 6)])},
        {"evse": 0, "profile": v201(3, "ChargingStationMaxProfile", [_period(0, 14)], duration=30)},
    ])
    code, out, _ = run(capsys, "--ocpp", "2.1", "--profiles", str(profiles), "--start", START, "--duration", "60",
                       "--evse", "0", "--default-limit-a", "32", "--json")
    assert code == 0
    assert [(p["startPeriod"], p["limit"]) for p in json.loads(out)["chargingSchedulePeriod"]] == [(0, 14), (30, 16)]


def test_table_names_what_sets_each_limit(capsys, write):
    code, out, _ = run(capsys, "--ocpp", "2.0.1", "--profiles", str(write(TC_K_41)), "--start", "2024-01-01T12:24:40Z",
                       "--duration", "400", "--transaction-start", START, "--default-limit-a", "32")
    assert code == 0
    assert "ChargingStationMaxProfile" in out and "TxProfile" in out and "TxDefaultProfile" in out
    assert "12:25:26" in out  # the second period starts 46 s in


def test_plot_is_written(capsys, write, tmp_path):
    png = tmp_path / "composite.png"
    code, out, _ = run(capsys, "--ocpp", "2.0.1", "--profiles", str(write(TC_K_41)), "--start", "2024-01-01T12:24:40Z",
                       "--duration", "400", "--transaction-start", START, "--default-limit-a", "32", "--plot", str(png),
                       "--json")
    assert code == 0 and json.loads(out)["duration"] == 400
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 10_000


@pytest.mark.parametrize("entries, words", [
    ("[1, 2", ["not valid JSON"]),
    ({"connector": 1}, ["must be a JSON list"]),
    ([{"evse": 1, "profile": v16(1, "TxDefaultProfile", [_period(0, 10)])}], ["entry 0", '"connector": N']),
    ([{"connector": -1, "profile": v16(1, "TxDefaultProfile", [_period(0, 10)])}], ["connector must be"]),
    ([{"connector": 1, "profile": v16(7, "TxDefaultProfile", [_period(5, 10)])}],
     ["entry 0", "chargingProfileId 7", "first startPeriod must be 0"]),
    ([{"connector": 1, "profile": v16(8, "ChargePointMaxProfile", [_period(0, 10)])}],
     ["chargingProfileId 8", "may only be set on connector 0"]),
    ([{"connector": 1, "profile": v16(9, "TxDefaultProfile", [_period(0, 8.15)])}], ["more than one decimal"]),
])
def test_bad_profiles_file_exits_2_naming_entry_and_rule(capsys, write, entries, words):
    code, out, err = run(capsys, "--ocpp", "1.6", "--profiles", str(write(entries)), "--start", START,
                         "--duration", "60", "--default-limit-a", "32", "--json")
    assert code == 2 and out == ""
    for word in words:
        assert word in err


@pytest.mark.parametrize("version, entries, words", [
    ("2.0.1", [{"evse": 1, "profile": v201(1, "TxDefaultProfile", [_period(0, 10)], stack=1)},
               {"evse": 1, "profile": v201(2, "TxDefaultProfile", [_period(0, 12)], stack=1)}],
     ["entry 1", "charging profile id 2", "overlapping validity"]),
    ("2.1", [{"evse": 1, "profile": v201(1, "PriorityCharging", [_period(0, 10)])}],
     ["PriorityCharging is refused"]),
    ("2.0.1", [{"evse": 1, "profile": v201(1, "TxDefaultProfile", [_period(0, 10, 3)], kind="Relative")
                | {"chargingSchedule": [{"id": 1, "startSchedule": START, "chargingRateUnit": "A",
                                         "chargingSchedulePeriod": [_period(0, 10)]}]}}],
     ["Relative profile must not have"]),
])
def test_2x_refusals_exit_2(capsys, write, version, entries, words):
    code, _, err = run(capsys, "--ocpp", version, "--profiles", str(write(entries)), "--start", START,
                       "--duration", "60", "--default-limit-a", "32", "--json")
    assert code == 2
    for word in words:
        assert word in err


@pytest.mark.parametrize("args, words", [
    (["--start", "noon"], ["--start", "not an ISO 8601"]),
    (["--duration", "-1"], ["--duration", ">= 0"]),
    (["--default-limit-a", "-3"], ["--default-limit-a"]),
    (["--transaction-start", "later"], ["--transaction-start"]),
])
def test_bad_options_exit_2(capsys, write, args, words):
    base = {"--start": START, "--duration": "60", "--default-limit-a": "32"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    if "--transaction-start" in args:
        flat += ["--transaction-start", "later"]
    code, _, err = run(capsys, "--ocpp", "1.6", "--profiles", str(write([])), *flat, "--json")
    assert code == 2
    for word in words:
        assert word in err


def test_without_default_limit_or_config_exits_2(capsys, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no lab_config.yaml here
    code, _, err = run(capsys, "--ocpp", "1.6", "--profiles", str(write([])), "--start", START, "--duration", "60")
    assert code == 2 and "--default-limit-a" in err


def test_the_installed_command_prints_one_json_object(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"connector": 0, "profile": v16(1, "ChargePointMaxProfile", [_period(0, 16)])}]))
    proc = subprocess.run([sys.executable, "-m", "bench", "schedule", "--ocpp", "1.6", "--profiles", str(path),
                           "--start", START, "--duration", "120", "--connector", "0", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]
