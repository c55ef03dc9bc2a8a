"""Acquisition benchmarks: how fast the sampler reads the virtual lab's instruments, against a bare
client sending the same requests, and how close to its ticks it samples at 100 Hz.

The default position of lab_config.yaml (an SDM630 meter over Modbus TCP, three Chroma 63804 loads
and the reference EV emulator over SCPI sockets), each against its simulator in a child process
(so the simulators do not share the measured process's event loop). One JSON line per figure:

- acq_max_hz: the highest rate at which the sampler (bench.acquisition.Sampler, the real
  drivers, the real trace writer) reads every instrument: over a sweep of configured rates
  (--rates-hz, each for --seconds / 2), the best successful reads per second of the slowest
  instrument, i.e. complete samples per second (extra: the rate that gave it, and per rate the
  rows, reads per instrument and in all). Unthrottled (2 kHz) it is lower: the fast instruments'
  extra reads take the loop from the slow one.
- acq_ratio_bare: acq_max_hz over the complete samples per second of a bare asyncio client
  sending the same requests (raw sockets with the drivers' query strings, Modbus with pymodbus's
  async client and the driver's register blocks) as a sampler does: every instrument at once,
  the next round when all have answered (bare_round_hz). Below 1, the sampler's own cost. Extra,
  for context: the sampler's total reads per second at 2 kHz over those of the same bare client
  free-running (one loop per instrument, each as fast as it goes: total_reads_ratio), which
  counts reads no sample needs (the SCPI simulators answer 3,000+ a second while the meter's
  Modbus one answers 600).
- acq_100hz_p99_jitter_ms: a real `bench run` process (the CSMS, the virtual lab with its
  simulated charger and instruments, and the sampler on one event loop, real time) sampling at
  100 Hz through JITTER_SCENARIO: the p99 of how late each row was requested after its scheduled
  tick, as the sampler records it (record.json sampling.late_p99_ms; extra: p50, max, skipped
  ticks, rows, the scenario's verdict). It does not depend on --seconds.

    python tests/benchmarks/acq_benchmarks.py                    # 10 s each
    python tests/benchmarks/acq_benchmarks.py --seconds 3
    make bench ARGS="--only acq"                                 # via warp_benchmarks.py
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from figures import emit, emit_machine  # noqa: E402

POSITION = [("meter", "eastron_sdm630", {}), ("ev", "reference_ev_emulator", {})] + [
    (f"load_l{p}", "chroma_63800", {"phase": p, "model": "63804"}) for p in (1, 2, 3)]


# ---- the simulators, in a child process ---------------------------------------------------
async def serve_simulators() -> None:
    from bench.clock import RealClock
    from bench.sim.instruments.registry import start_simulator
    from bench.sim.plant import Plant

    plant = Plant(RealClock())
    sims = {name: await start_simulator(driver, plant, "127.0.0.1", 0, **kw) for name, driver, kw in POSITION}
    print(json.dumps({name: [s.address, s.host, s.port] for name, s in sims.items()}), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    for s in sims.values():
        await s.close()


class Simulators:
    def __enter__(self) -> dict[str, list]:
        self.proc = subprocess.Popen([sys.executable, __file__, "--role", "sims"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def open_position(sims: dict[str, list]):
    from bench.acquisition import PositionInstruments
    from instruments.registry import create_instrument

    made = {name: create_instrument(name, driver, sims[name][0], **kw) for name, driver, kw in POSITION}
    for inst in made.values():
        await inst.open()
    return made, PositionInstruments(made["meter"], [made[f"load_l{p}"] for p in (1, 2, 3)], made["ev"])


# ---- the sampler ---------------------------------------------------------------------------
async def run_sampler(sims: dict[str, list], rate_hz: float, seconds: float, tmp: Path):
    from bench.acquisition import Sampler
    from bench.clock import RealClock
    from bench.trace import Trace

    clock = RealClock()
    made, position = await open_position(sims)
    try:
        sampler = Sampler(clock, position, Trace(tmp / f"acq-{rate_hz:g}.csv"), rate_hz=rate_hz)
        sampler.start()
        t_start = clock.monotonic()
        await asyncio.sleep(seconds)
        await sampler.stop()
        elapsed = clock.monotonic() - t_start
        sampler.trace.close()
        return sampler, elapsed
    finally:
        for inst in made.values():
            await inst.close()


def max_rate(sims: dict[str, list], rate_hz: float, seconds: float, tmp: Path) -> dict:
    sampler, elapsed = asyncio.run(run_sampler(sims, rate_hz, seconds, tmp))
    reads = {name: s.reads - s.failed for name, s in sampler.stats.instruments.items()}
    return {"hz": min(reads.values()) / elapsed, "rows_per_s": round(sampler.stats.samples / elapsed, 1),
            "reads_per_s": {n: round(r / elapsed, 1) for n, r in reads.items()},
            "total_reads_per_s": round(sum(reads.values()) / elapsed, 1), "errors": sampler.stats.errors}


JITTER_SCENARIO = "txprofile_step_down"  # 40 s: a charging session whose limit the CSMS changes


def jitter_in_bench(tmp: Path) -> dict:
    """`bench run` of JITTER_SCENARIO at 100 Hz, real time, on the default lab_config.yaml (realism
    on): what its sampler recorded of its own lateness."""
    import yaml

    config = yaml.safe_load((ROOT / "lab_config.yaml").read_text())
    config["bench"]["sampling_rate_hz"] = 100
    config["virtual_lab"]["speed"] = 1
    path = tmp / "lab_config_100hz.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp / "jitter-run"
    subprocess.run([sys.executable, "-m", "bench", "run", "--config", str(path), "-k", JITTER_SCENARIO,
                    "--no-report", "--out", str(out)], cwd=ROOT, check=False, capture_output=True, text=True)
    record = json.loads(next(out.glob("*/record.json")).read_text())
    sampling = next(iter(record["sampling"].values()))
    return {"p99_ms": sampling["late_p99_ms"], "p50_ms": sampling["late_p50_ms"], "max_ms": sampling["late_max_ms"],
            "skipped_ticks": sampling["skipped_ticks"], "rows": sampling["samples"],
            "achieved_hz": sampling["achieved_hz"], "read_errors": sampling["read_errors"],
            "verdict": record.get("verdict")}


# ---- the bare client -----------------------------------------------------------------------
def requests_of(made: dict) -> dict[str, object]:
    """What each driver's read() sends: a SCPI message, or the Modbus (function code, blocks)."""
    out: dict[str, object] = {}
    for name, inst in made.items():
        if name == "meter":
            out[name] = (inst.MAP.function_code, [(b.start, b.count) for b in inst.MAP.blocks])
        elif name == "ev":
            out[name] = inst.COMMANDS["read"]
        else:
            c = inst.COMMANDS
            asked = [c["meas_current"], c["meas_power"], c["meas_voltage"], c[inst.STATE_KEY]]
            out[name] = ";".join(q if q.startswith((":", "*")) else f":{q}" for q in asked)  # as query_units
    return out


async def open_bare_links(sims: dict[str, list]) -> tuple[dict[str, Callable[[], Awaitable[None]]], list[Any]]:
    """One bare link per instrument: (name -> one request and its answer, what to close). SCPI over
    a raw asyncio socket with the driver's query string; Modbus with pymodbus's async client and
    the driver's register blocks."""
    from pymodbus.client import AsyncModbusTcpClient

    from instruments.registry import create_instrument

    requests = requests_of({name: create_instrument(name, driver, sims[name][0], **kw)
                            for name, driver, kw in POSITION})
    asks: dict[str, Callable[[], Awaitable[None]]] = {}
    closers: list[Any] = []
    for name, request in requests.items():
        host, port = sims[name][1], sims[name][2]
        if isinstance(request, tuple):
            fc, blocks = request
            client = AsyncModbusTcpClient(host, port=port)
            await client.connect()
            read = client.read_input_registers if fc == 4 else client.read_holding_registers
            unit = int(sims[name][0].rsplit("unit=", 1)[-1]) if "unit=" in sims[name][0] else 1

            async def modbus(read: Any = read, blocks: list[tuple[int, int]] = blocks, unit: int = unit) -> None:
                for start, count in blocks:
                    await read(start, count=count, device_id=unit)

            asks[name] = modbus
            closers.append(client)
        else:
            reader, writer = await asyncio.open_connection(host, port)
            data = (str(request) + "\n").encode()

            async def scpi(reader: asyncio.StreamReader = reader, writer: asyncio.StreamWriter = writer,
                           data: bytes = data) -> None:
                writer.write(data)
                await reader.readline()

            asks[name] = scpi
            closers.append(writer)
    return asks, closers


async def bare(sims: dict[str, list], seconds: float) -> dict:
    """The bare client free-running: one loop per instrument, one request in flight each."""
    asks, closers = await open_bare_links(sims)
    counts = dict.fromkeys(asks, 0)
    stop = time.monotonic() + seconds

    async def loop(name: str) -> None:
        while time.monotonic() < stop:
            await asks[name]()
            counts[name] += 1

    t0 = time.monotonic()
    await asyncio.gather(*(loop(name) for name in asks))
    elapsed = time.monotonic() - t0
    for link in closers:
        link.close()
    return {"hz": min(counts.values()) / elapsed, "reads_per_s": {n: round(c / elapsed, 1) for n, c in counts.items()},
            "total_reads_per_s": round(sum(counts.values()) / elapsed, 1)}


async def bare_rounds(sims: dict[str, list], seconds: float) -> dict:
    """The bare client as a sampler: each round sends every instrument its request at once (the
    same requests as above) and starts the next round when all have answered. Rounds per second:
    complete samples per second at the least cost, what acq_max_hz is compared with."""
    asks, closers = await open_bare_links(sims)
    rounds, t0 = 0, time.monotonic()
    stop = t0 + seconds
    while time.monotonic() < stop:
        await asyncio.gather(*(ask() for ask in asks.values()))
        rounds += 1
    elapsed = time.monotonic() - t0
    for link in closers:
        link.close()
    return {"hz": rounds / elapsed}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds of each run")
    p.add_argument("--rates-hz", type=lambda text: [float(r) for r in text.split(",")],
                   default=[500.0, 750.0, 1000.0, 2000.0], help="the sampler's rates swept for acq_max_hz")
    p.add_argument("--role", choices=("sims",), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.role == "sims":
        asyncio.run(serve_simulators())
        return 0
    with Simulators() as sims, tempfile.TemporaryDirectory(prefix="bench-acq-") as tmp:
        sweep = {rate: max_rate(sims, rate, args.seconds / 2, Path(tmp)) for rate in args.rates_hz}
        best_rate = max(sweep, key=lambda rate: sweep[rate]["hz"])
        best = sweep[best_rate]
        emit("acq_max_hz", best["hz"], "Hz", rate_hz=best_rate, seconds=args.seconds / 2, errors=best["errors"],
             sweep={f"{rate:g}": {"slowest_hz": round(r["hz"], 1), "rows_per_s": r["rows_per_s"],
                                  "reads_per_s": r["reads_per_s"], "total_reads_per_s": r["total_reads_per_s"]}
                    for rate, r in sweep.items()})
        rounds = asyncio.run(bare_rounds(sims, args.seconds))
        free = asyncio.run(bare(sims, args.seconds))
        unthrottled = sweep.get(max(args.rates_hz), best)
        emit("acq_ratio_bare", best["hz"] / rounds["hz"] if rounds["hz"] else None, "ratio",
             bare_round_hz=round(rounds["hz"], 1), seconds=args.seconds,
             total_reads_ratio=round(unthrottled["total_reads_per_s"] / free["total_reads_per_s"], 3)
             if free["total_reads_per_s"] else None,
             bare_free_reads_per_s=free["reads_per_s"], bare_free_total_reads_per_s=free["total_reads_per_s"])
    with tempfile.TemporaryDirectory(prefix="bench-jitter-") as tmp:  # the simulators' child has ended
        j = jitter_in_bench(Path(tmp))
        emit("acq_100hz_p99_jitter_ms", j.pop("p99_ms"), "ms", scenario=JITTER_SCENARIO, **j)
    return 0


if __name__ == "__main__":
    if "--role" not in sys.argv:  # the simulators' child prints their addresses first
        emit_machine()
    raise SystemExit(main())
