"""`bench instruments list|check|read`: the command-line contract, against the virtual lab it
starts itself (free ports) and against simulators started by the test (a real lab's view)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import yaml

from bench.cli import main
from instruments.registry import DRIVERS

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
METER_KEYS = ["voltage_v", "current_a", "power_w", "power_total_w", "energy_import_wh", "frequency_hz"]


def write_config(tmp_path: Path, instruments: dict, *, virtual_lab: bool = True, ev_phases: int = 3,
                 second: dict | None = None) -> Path:
    """The default config with these instruments (and a second position `pos2` if given)."""
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    data["bench"]["csms"]["port"] = 0
    data["positions"][0]["instruments"] = instruments
    data["positions"][0]["ev"]["phases"] = ev_phases
    if second is not None:
        pos2 = yaml.safe_load(yaml.safe_dump(data["positions"][0]))
        pos2.update(name="pos2", instruments=second)
        pos2["dut"]["charge_point_id"] = "EVB-SIM-002"
        pos2["ev"]["phases"] = 1
        data["positions"].append(pos2)
    data["virtual_lab"]["enabled"] = virtual_lab
    data["virtual_lab"]["realism"] = "ideal"  # readings compared with exact plant values
    path = tmp_path / "lab_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


MIXED_LAB = {  # every kind of transport, all on free ports
    "meter": {"driver": "yokogawa_wt300", "address": "TCPIP::127.0.0.1,0::INSTR", "model": "WT333"},
    "load_l1": {"driver": "chroma_63800", "address": "TCPIP::127.0.0.1::0::SOCKET", "model": "63804", "phase": 1,
                "ratings": {"max_current_a": 45, "max_power_w": 4500}},
    "load_l2": {"driver": "itech_it8615", "address": "TCPIP::127.0.0.1::0::SOCKET", "model": "IT8616", "phase": 2,
                "ratings": {"max_current_a": 40}},
    "load_l3": {"driver": "itech_it8615", "address": "TCPIP::127.0.0.1::0::SOCKET", "phase": 3},
    "ev": {"driver": "reference_ev_emulator", "address": "TCPIP::127.0.0.1::0::SOCKET"},
}
SECOND_POSITION = {"meter": {"driver": "janitza_umg604", "address": "modbus+rtu-over-tcp://127.0.0.1:0?unit=7"}}


async def bench(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench", "instruments", *args, cwd=ROOT,
                                                env=ENV, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


# ---- list ----------------------------------------------------------------------------------------
def test_list_names_every_driver_with_role_and_transport(capsys):
    assert main(["instruments", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["driver"] for r in rows} == set(DRIVERS)
    by_name = {r["driver"]: r for r in rows}
    assert (by_name["janitza_umg604"]["role"], by_name["janitza_umg604"]["transport"]) == ("power_meter", "modbus")
    assert (by_name["itech_it8615"]["role"], by_name["itech_it8615"]["transport"]) == ("ac_load", "scpi")
    assert all(r["simulated"] for r in rows)


def test_list_as_a_table(capsys):
    assert main(["instruments", "list"]) == 0
    out = capsys.readouterr().out
    assert "yokogawa_wt300" in out and "power_meter" in out and "ev_emulator" in out


# ---- check / read against the virtual lab started by the command itself ------------------------------
async def test_check_and_read_against_the_virtual_lab(tmp_path):
    config = write_config(tmp_path, MIXED_LAB, second=SECOND_POSITION)
    code, out, err = await bench("check", "--config", str(config))
    assert code == 0, out + err
    for name in MIXED_LAB:
        assert f"OK pos1/{name}:" in out
    assert "OK pos2/meter: janitza_umg604" in out
    assert "identity: YOKOGAWA WT333" in out and "identity: ITECH Ltd IT8616" in out
    assert "ratings:  max_current_a 45, max_power_w 4500" in out

    code, out, err = await bench("read", "meter", "--position", "pos1", "--config", str(config), "--json")
    assert code == 0, err
    reading = json.loads(out)
    assert list(reading) == METER_KEYS
    assert reading["voltage_v"] == [230.0, 230.0, 230.0] and reading["current_a"] == [0.0, 0.0, 0.0]
    assert reading["frequency_hz"] == 50.0 and reading["energy_import_wh"] == 0.0

    code, out, err = await bench("read", "load_l2", "--config", str(config), "--json")
    assert (code, json.loads(out)) == (0, {"current_a": 0.0, "power_w": 0.0, "enabled": False}), err

    code, out, err = await bench("read", "ev_emulator", "--config", str(config), "--json")  # a role with one instrument
    assert (code, json.loads(out)) == (0, {"cp_state": "A", "pwm_duty_pct": 0.0, "offered_current_a": 0.0}), err

    code, out, err = await bench("read", "power_meter", "--position", "pos2", "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["frequency_hz"] == 50.0, err


def test_read_of_an_unknown_or_ambiguous_name_is_bad_input(tmp_path, capsys):
    config = write_config(tmp_path, MIXED_LAB, second=SECOND_POSITION)
    assert main(["instruments", "read", "wattmeter", "--config", str(config), "--json"]) == 2
    err = capsys.readouterr().err
    assert "no instrument 'wattmeter'" in err and "pos1/meter" in err and "pos2/meter" in err
    assert main(["instruments", "read", "meter", "--config", str(config)]) == 2  # a meter in each position
    assert "ambiguous (pos1/meter, pos2/meter)" in capsys.readouterr().err.replace("\n", " ")


def test_raw_socket_instruments_refuse_instr_addresses_in_the_config(tmp_path, capsys):
    lab = dict(MIXED_LAB, load_l1={**MIXED_LAB["load_l1"], "address": "TCPIP::10.0.3.21::INSTR"})
    assert main(["instruments", "check", "--config", str(write_config(tmp_path, lab))]) == 2
    err = capsys.readouterr().err
    assert "positions[0].instruments.load_l1" in err and "chroma_63800 talks over a raw socket only" in err


# ---- a real lab's view: simulators started here, the command only connects ---------------------------
async def test_check_fails_with_the_instrument_and_reason(tmp_path, plant, sim):
    meter = await sim("eastron_sdm630", plant, unit_id=2)
    load = await sim("chroma_63800", plant, phase=1, model="63803")
    ev = await sim("reference_ev_emulator", plant)
    gone = await sim("itech_it8615", plant, phase=2)
    await gone.close()  # nothing listens there any more
    config = write_config(tmp_path, {
        "meter": {"driver": "eastron_sdm630", "address": meter.address},
        "load_l1": {"driver": "chroma_63800", "address": load.address, "model": "63804", "phase": 1},
        "load_l2": {"driver": "itech_it8615", "address": gone.address, "phase": 2},
        "ev": {"driver": "reference_ev_emulator", "address": ev.address},
    }, virtual_lab=False, ev_phases=2)
    code, out, err = await bench("check", "--config", str(config))
    assert code == 2, out + err
    assert "OK pos1/meter:" in out and "OK pos1/ev:" in out
    assert f"ERROR pos1/load_l1 (chroma_63800 at {load.address}): load_l1: expected model '63804'" in err
    assert "found Chroma '63803'" in err
    assert f"ERROR pos1/load_l2 (itech_it8615 at {gone.address}): load_l2: link to" in err

    code, out, err = await bench("read", "meter", "--config", str(config), "--json")
    assert code == 0 and json.loads(out)["voltage_v"] == [230.0, 230.0, 230.0], err
    code, out, err = await bench("check", "--config", str(config), "--json")
    results = {r["name"]: r for r in json.loads(out)}
    assert code == 2 and results["meter"]["ok"] and not results["load_l1"]["ok"]
    assert results["meter"]["identity"]["serial"] == "21000123"


async def test_virtual_lab_port_in_use_suggests_attach(tmp_path, plant, sim):
    taken = await sim("reference_ev_emulator", plant)
    lab = dict(MIXED_LAB, ev={"driver": "reference_ev_emulator", "address": taken.address})
    config = write_config(tmp_path, lab)
    code, out, err = await bench("check", "--config", str(config))
    assert code == 2
    assert f"cannot start the simulator of ev (reference_ev_emulator) on 127.0.0.1:{taken.port}" in err
    assert "--attach" in err
    code, out, err = await bench("read", "ev", "--config", str(config), "--attach", "--json")  # talk to what runs
    assert (code, json.loads(out)["cp_state"]) == (0, "A"), err


def test_single_element_meters_read_one_entry_per_list(tmp_path, capsys):
    """docs/instruments.md: a WT310 or a PW3335 measures one phase; `read --json` prints one
    entry per list (not three with nulls), a three-element model three."""
    for driver, address, model, entries in (("yokogawa_wt300", "TCPIP::127.0.0.1,0::INSTR", "WT310", 1),
                                            ("hioki_pw3335", "TCPIP::127.0.0.1::0::SOCKET", "PW3335", 1),
                                            ("hioki_pw3335", "TCPIP::127.0.0.1::0::SOCKET", "PW3337", 3)):
        meter = {"meter": {"driver": driver, "address": address, "model": model}}
        config = write_config(tmp_path, meter, ev_phases=1)
        assert main(["instruments", "read", "meter", "--config", str(config), "--json"]) == 0
        reading = json.loads(capsys.readouterr().out)
        assert [len(reading[k]) for k in ("voltage_v", "current_a", "power_w")] == [entries] * 3, (model, reading)
        assert None not in reading["voltage_v"] and reading["voltage_v"][0] == 230.0
