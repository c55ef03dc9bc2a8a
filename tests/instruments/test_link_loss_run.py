"""A TCP link drops in the middle of a run (in-process `run_bench` on the virtual lab, free ports,
time-warped):
- the meter's gateway restarts within the drivers' bounded retries: the run carries on and PASSes;
- the EV emulator or the meter is gone for good: the scenario ends in ERROR (not FAIL) within 1 s
  of the loss (on the run's clock), the loads are off by then and the record and trace of what
  ran are kept.
The test swaps in a VirtualLab that drops one simulator once current flows (a test-only hook:
nothing in the bench knows about it)."""
from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest
import yaml

import bench.sim.lab as lab_module
from bench.clock import MAX, WarpClock
from bench.config import load_config
from bench.scenario.model import load_suite
from bench.session import RunOptions, make_run_dir, run_bench
from bench.sim.instruments.scpi_server import ScpiServer
from bench.sim.instruments.sdm630_sim import Sdm630Sim

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """\
name: short_session
tags: [link_loss]
steps:
  - plug_in
  - remote_start: {id_tag: TAG-ACCEPTED}
  - ev_state: {state: C}
  - hold: {seconds: HOLD_S}
  - remote_stop
  - unplug
checks:
  - current_follows_limit
"""


def free_port_config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    data["bench"]["csms"]["port"] = 0
    for ins in data["positions"][0]["instruments"].values():
        if ins["address"].startswith("modbus"):
            host_port, _, query = ins["address"].partition("?")
            ins["address"] = host_port.rsplit(":", 1)[0] + ":0" + (f"?{query}" if query else "")
        else:
            parts = ins["address"].split("::")
            parts[2] = "0"
            ins["address"] = "::".join(parts)
    data["virtual_lab"]["realism"] = "ideal"  # this run is about the link, on exact signals
    data["virtual_lab"]["speed"] = "max"
    path = tmp_path / "lab_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def dropping_lab(driver: str, back_after_s: float | None, seen: dict):
    """A VirtualLab that, a second after the EV draws current, closes the simulator of `driver` and, if
    `back_after_s` is given, serves the same instrument on the same port again after that time.
    `seen` gets the plant, when the link dropped and when every load was off again after that."""

    class DroppingLab(lab_module.VirtualLab):
        async def start_instruments(self):
            bound = await super().start_instruments()
            position = next(iter(self.positions.values()))
            seen["plant"] = plant = position.plant
            plant.listeners.append(lambda: _note_loads_off(plant, seen))
            running = next(s for s in position.simulators if s.driver == driver)
            seen["task"] = asyncio.create_task(self._drop(position, running))
            return bound

        async def _drop(self, position, running) -> None:
            while position.plant.current_a(0) < 1.0:
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # a second of charging in the trace first
            seen["dropped_at"] = position.plant.clock.monotonic()  # the loss begins with the close
            await running.close()
            seen["dropped"] = True
            if back_after_s is None:
                return
            await asyncio.sleep(back_after_s)
            if driver == "eastron_sdm630":  # the gateway restarts: same meter, same port
                server = Sdm630Sim(position.plant, running.host, running.port)
            else:  # the instrument's LAN link comes back: same device state, same port
                server = ScpiServer(running.device, running.host, running.port)
            await server.start()
            position.simulators.append(type(running)(running.driver, running.host, running.port, running.address,
                                                     running.device, server.close))
            seen["back"] = True

    return DroppingLab


def _note_loads_off(plant, seen: dict) -> None:
    if "dropped_at" in seen and "loads_off_at" not in seen and not any(plant.load_enabled):
        seen["loads_off_at"] = plant.clock.monotonic()


def run_with_drop(tmp_path: Path, monkeypatch, driver: str, back_after_s: float | None, hold_s: float = 6):
    """The run, time-warped (`--speed max`): its clock is virtual, and every time below is on it."""
    scenario = tmp_path / "short_session.yaml"
    scenario.write_text(SCENARIO.replace("HOLD_S", f"{hold_s:g}"))
    config_path = free_port_config(tmp_path)
    seen: dict = {}
    monkeypatch.setattr(lab_module, "VirtualLab", dropping_lab(driver, back_after_s, seen))
    clock = WarpClock(MAX)
    opts = RunOptions(config_path, load_suite([scenario]), "link_loss", tmp_path / "results")
    run_dir = make_run_dir(opts.out_dir, opts.suite, clock)
    with asyncio.Runner(loop_factory=clock.new_loop) as runner:
        record = runner.run(asyncio.wait_for(run_bench(load_config(config_path), opts, clock, run_dir), 120))
    return record, run_dir, seen


def test_meter_gateway_restart_within_the_retries_keeps_the_run_going(tmp_path, monkeypatch):
    record, run_dir, seen = run_with_drop(tmp_path, monkeypatch, "eastron_sdm630", back_after_s=0.3)
    assert seen.get("dropped") and seen.get("back")
    assert record.verdict.value == "PASS", (record.error, [(s.name, s.error) for s in record.scenarios])
    assert record.sampling["pos1"]["samples"] > 50
    with open(run_dir / "traces" / "pos1.csv") as f:
        rows = list(csv.DictReader(f))
    charging = [r for r in rows if r["meter_current_l1_a"] and float(r["meter_current_l1_a"]) > 10]
    assert len(charging) > 20  # the meter kept being read after its gateway came back


def test_ev_emulator_gone_for_good_ends_in_error_with_loads_off_and_data_kept(tmp_path, monkeypatch):
    record, run_dir, seen = run_with_drop(tmp_path, monkeypatch, "reference_ev_emulator", back_after_s=None)
    assert seen.get("dropped")
    assert record.verdict.value == "ERROR" and record.complete is False
    scenario = record.scenarios[0]
    assert scenario.verdict.value == "ERROR"  # the bench failed, not the charger
    # the sampler or the EV model, whichever read the EV emulator first, gives it up
    assert ("EV model stopped" in scenario.error or "ev lost after 1 failed reads" in scenario.error)
    assert "ev: link to" in scenario.error
    assert "reconnect attempts failed" in scenario.error
    assert not any(seen["plant"].load_enabled)  # teardown switched every load off
    saved = json.loads((run_dir / "record.json").read_text())
    assert saved["verdict"] == "ERROR" and saved["scenarios"][0]["name"] == "short_session"
    with open(run_dir / "traces" / "pos1.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r["meter_current_l1_a"] and float(r["meter_current_l1_a"]) > 10 for r in rows)  # what ran is kept


@pytest.mark.parametrize("driver", ["eastron_sdm630", "reference_ev_emulator"])
def test_a_lost_instrument_stops_the_scenario_within_1_s_with_the_loads_off(tmp_path, monkeypatch, driver):
    # a 60 s hold: the scenario must end when the link is given up (0.6 s of reconnects, one sampling
    # period to notice), not after the hold, and the loads must be off by then; the sampler gives the
    # meter up at once (not after 20 failed reads)
    record, _, seen = run_with_drop(tmp_path, monkeypatch, driver, back_after_s=None, hold_s=60)
    scenario = record.scenarios[0]
    assert scenario.verdict.value == "ERROR" and record.verdict.value == "ERROR"
    name = "meter" if driver == "eastron_sdm630" else "ev"
    assert f"{name}: link to" in scenario.error and "reconnect attempts failed" in scenario.error
    hold = next(st for st in scenario.steps if st.name == "hold")
    assert not hold.ok
    assert scenario.t_end_mono_s - seen["dropped_at"] < 1.0
    assert seen["loads_off_at"] - seen["dropped_at"] < 1.0
    assert not any(seen["plant"].load_enabled)
