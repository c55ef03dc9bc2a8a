"""`bench run` processes forked from a server that has already imported the bench.

A `bench run` spends about 1.3 s of CPU importing the bench (ocpp's three versions, pydantic
models, pyvisa, pymodbus, numpy) before its first message; the fault matrix starts over a
hundred of them. The standard library's forkserver start method imports those modules once
(`set_forkserver_preload`) and forks every run from there: each run is still a process of
its own (own event loop, own lab, own fault, killed on its own), it only skips the imports.
The forkserver itself holds no threads and no event loop, so forking it is safe.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from multiprocessing.context import ForkServerContext
from pathlib import Path

# what a virtual-lab run imports anyway (the run's other modules load on first use)
PRELOAD = ["bench.cli", "bench.session", "bench.live", "bench.sim", "bench.sim.charger", "bench.scenario.library"]

_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _bench_main(argv: list[str], log_path: str, env: dict[str, str]) -> None:
    """The child: stdout and stderr to the log, then `bench <argv>` as from the command line."""
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    from bench.cli import main

    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(code)


async def run_bench(argv: list[str], log_path: Path, timeout_s: float,
                    env: dict[str, str] | None = None) -> int | None:
    """`bench <argv>` in a forked process, output to `log_path`; its exit code, or None when it
    ran past `timeout_s` (it is killed). Cancelled (Ctrl-C): the process is killed, then re-raised."""
    proc = _forkserver().Process(target=_bench_main, args=(argv, str(log_path), env or {}), daemon=False)
    proc.start()
    loop = asyncio.get_running_loop()
    ended = loop.create_future()

    def on_exit() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(proc.sentinel, on_exit)  # readable once the process has exited
    try:
        await asyncio.wait_for(ended, timeout_s)
    except TimeoutError:
        proc.kill()
        return None
    finally:
        loop.remove_reader(proc.sentinel)
        if proc.is_alive():  # cancelled or timed out: never leave a lab running
            proc.kill()
        await asyncio.to_thread(proc.join)
    return proc.exitcode
