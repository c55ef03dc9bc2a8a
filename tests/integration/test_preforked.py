"""`bench` runs forked from the preloaded server (the fault matrix's processes)."""
from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

from bench.sim.matrix import free_port_config
from bench.sim.preforked import run_bench

ROOT = Path(__file__).resolve().parents[2]


async def test_a_forked_bench_runs_the_command_and_writes_its_output(tmp_path):
    log = tmp_path / "list.log"
    code = await run_bench(["list", str(ROOT / "scenarios" / "metering")], log, timeout_s=120,
                           env={"COLUMNS": "200"})
    assert code == 0
    count = len(list((ROOT / "scenarios" / "metering").glob("*.yaml")))
    assert f"{count} scenarios in 1 blocks: metering" in log.read_text()


async def test_bad_input_gives_the_exit_code_of_the_command(tmp_path):
    log = tmp_path / "bad.log"
    assert await run_bench(["run", "--fault", "gremlins", "--out", str(tmp_path / "r")], log, timeout_s=120) == 2
    assert "unknown fault 'gremlins'" in log.read_text()


async def test_a_run_past_its_timeout_is_killed(tmp_path):
    # `bench csms` serves until stopped: past the timeout it is killed, and nothing is left running
    config = free_port_config(ROOT / "lab_config.yaml", tmp_path)
    t0 = time.monotonic()
    assert await run_bench(["csms", "--config", str(config), "--out", str(tmp_path / "r")], tmp_path / "csms.log",
                           timeout_s=3.0) is None
    assert time.monotonic() - t0 < 60
    assert not multiprocessing.active_children()


async def test_cancelling_the_wait_kills_the_process(tmp_path):
    config = free_port_config(ROOT / "lab_config.yaml", tmp_path)
    task = asyncio.ensure_future(run_bench(["csms", "--config", str(config), "--out", str(tmp_path / "r")],
                                           tmp_path / "csms.log", timeout_s=600))
    await asyncio.sleep(2.0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the wait was not cancelled")
    assert not multiprocessing.active_children()
