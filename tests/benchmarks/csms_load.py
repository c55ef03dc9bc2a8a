"""CSMS load benchmark (`make bench ARGS="--only csms"`): the bench CSMS against a bare OCPP stub.

Three processes per run, so that none measures itself: the server under test, a load generator
(asyncio + websockets clients: each sends one BootNotification, then a Heartbeat every second and
times every answer), and this one, which samples the server's RSS (/proc/<pid>/status VmRSS) and
CPU time (/proc/<pid>/stat utime + stime) over the measured window.

Servers:
- bench: the bench's CsmsServer as `bench csms` runs it (OCPP 1.6 only for the ids, schema
  validation on, every frame to ocpp.jsonl in a temporary folder, logging at WARNING, the
  collector's thresholds and validation in the loop's thread: `tune_for_serving`), with N
  accepted charge point ids;
- bare: the `ocpp` library's 1.6 ChargePoint with @on handlers for BootNotification and
  Heartbeat behind websockets.serve: what a CSMS costs at the least.

Runs: bench and bare with --chargers (default 1000) clients, bench with --hold (default 2000).
With --bare-sync also a bare stub validating in the loop's thread as the bench CSMS does (the
library's default, kept by the bare stub, validates in executor threads): context for the CPU
ratio, `bare_sync_1000_cpu_ratio` (bench CPU / that stub's).
Timeline of each: connect every client (at most 50 handshakes at a time), --warmup-s (default 20),
then --duration-s (default 600; 60-120 s while developing on a shared machine) measured.
Figures, one JSON line each with the 1-minute load average and the number of cores:
    csms_1000_p99_ms                  p99 Heartbeat answer latency, bench CSMS
    csms_1000_rss_growth_mb_per_min   least-squares slope of the server's RSS over the window
    csms_1000_cpu_ratio_bare          bench CSMS CPU seconds / bare stub CPU seconds, same window
    csms_2000_connected               clients connected and answered at the end, of 2000
plus context figures (bare_*, csms_*_rss_mb, csms_*_answered ...).

One load generator process drives all clients; at 1,000-2,000 clients it uses a good part of a
core itself and its own scheduling delay is in every latency. The bare stub is measured with the
same generator, so its p99 is the floor this setup can show (`bare_1000_p99_ms`).

    python tests/benchmarks/csms_load.py --duration-s 60
    python tests/benchmarks/warp_benchmarks.py --only csms --csms-duration-s 600
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HANDSHAKES_AT_ONCE = 50
BOOT = {"chargePointVendor": "LoadGen", "chargePointModel": "L1"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ids(n: int) -> list[str]:
    return [f"LOAD{i:05d}" for i in range(n)]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ------------------------------------------------------------------ servers (subprocesses)
async def serve_bench(n: int, log_dir: Path) -> None:
    """The CsmsServer with a MessageLog to a file, as `bench csms` builds them."""
    from bench.clock import RealClock
    from bench.csms import CsmsServer, MessageLog
    from bench.csms.server import CsmsSettings, tune_for_serving

    tune_for_serving()  # as `bench csms` does
    clock = RealClock()
    accepted = ids(n)
    settings = CsmsSettings(accepted_ids=accepted, cp_versions=dict.fromkeys(accepted, "1.6"))
    with MessageLog(log_dir / "ocpp.jsonl", clock) as log:
        async with CsmsServer(clock, settings, log) as server:
            print(server.port, flush=True)
            await asyncio.Event().wait()


async def serve_bare(sync_validation: bool = False) -> None:
    import ocpp.messages
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action, RegistrationStatus
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.typing import Subprotocol

    def now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    class Stub(ChargePoint):
        @on(Action.boot_notification)
        def on_boot(self, **_: Any) -> call_result.BootNotification:
            return call_result.BootNotification(current_time=now(), interval=60, status=RegistrationStatus.accepted)

        @on(Action.heartbeat)
        def on_heartbeat(self) -> call_result.Heartbeat:
            return call_result.Heartbeat(current_time=now())

    async def handle(ws: ServerConnection) -> None:
        assert ws.request is not None
        await Stub(ws.request.path.strip("/"), ws).start()

    # the library's default validates in executor threads; the bench CSMS validates in the loop
    ocpp.messages.ASYNC_VALIDATION = not sync_validation

    async with serve(handle, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()


# ------------------------------------------------------------------ load generator (subprocess)
class Client:
    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[tuple[float, float]] = []  # (sent at, seconds to the answer)
        self.last_answer = 0.0
        self.booted = False
        self.error = ""
        self._n = 0

    async def _call(self, ws: Any, action: str, payload: dict) -> float:
        self._n += 1
        sent = time.monotonic()
        await ws.send(json.dumps([2, str(self._n), action, payload]))
        while True:  # skip anything that is not our answer (the bench sends no CALLs here)
            frame = json.loads(await ws.recv())
            if frame[0] in (3, 4) and frame[1] == str(self._n):
                break
        self.last_answer = time.monotonic()
        self.latencies.append((sent, self.last_answer - sent))
        return sent

    async def run(self, handshakes: asyncio.Semaphore, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        try:
            async with handshakes:
                ws = await connect(self.url, subprotocols=[Subprotocol("ocpp1.6")], open_timeout=60)
            async with ws:
                await self._call(ws, "BootNotification", BOOT)
                self.booted = True
                tick = time.monotonic() + random.random()
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):  # the tick, or the end
                        await asyncio.wait_for(stop.wait(), max(0.0, tick - time.monotonic()))
                    if stop.is_set():
                        break
                    await self._call(ws, "Heartbeat", {})
                    tick = max(tick + 1.0, time.monotonic())
        except Exception as exc:  # a client that fails counts as not connected; say why once
            self.error = f"{type(exc).__name__}: {exc}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def generate(url: str, n: int, warmup_s: float, duration_s: float) -> None:
    """Prints "ready" when every client is booted (or failed), "measure" when the window starts,
    then one JSON line of results."""
    clients = [Client(f"{url}/{cp}") for cp in ids(n)]
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(c.run(handshakes, stop)) for c in clients]
    while not all(c.booted or c.error for c in clients):
        await asyncio.sleep(0.2)
    print("ready", flush=True)
    await asyncio.sleep(warmup_s)
    start = time.monotonic()
    print("measure", flush=True)
    await asyncio.sleep(duration_s)
    end = time.monotonic()
    print("end", flush=True)
    alive = [c for c in clients if not c.error and c.last_answer >= end - 5.0]
    window = [lat for c in clients for (sent, lat) in c.latencies if start <= sent < end]
    errors = sorted({c.error for c in clients if c.error})
    stop.set()  # every client closes its connection normally
    await asyncio.wait(tasks, timeout=30)
    print(json.dumps({"connected": len(alive), "answered": len(window),
                      "p50_ms": percentile(window, 0.50) * 1000, "p99_ms": percentile(window, 0.99) * 1000,
                      "max_ms": max(window, default=float("nan")) * 1000, "errors": errors[:5]}), flush=True)


# ------------------------------------------------------------------ this process: measure
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return float("nan")
    mt = sum(t for t, _ in samples) / len(samples)
    mv = sum(v for _, v in samples) / len(samples)
    den = sum((t - mt) ** 2 for t, _ in samples)
    return 60 * sum((t - mt) * (v - mv) for t, v in samples) / den if den else float("nan")


def spawn(*role: str, stderr: Path) -> subprocess.Popen:
    with stderr.open("a") as err:  # the servers' warnings go to a file (the run folder)
        return subprocess.Popen([sys.executable, __file__, *role], stdout=subprocess.PIPE, stderr=err, text=True)


def measure(server_role: list[str], n: int, warmup_s: float, duration_s: float, base: Path) -> dict[str, Any]:
    """One server, one load generator; the server's figures over the measured window."""
    name = f"{server_role[1]}-{n}"
    server = spawn(*server_role, stderr=base / f"{name}-server.txt")
    assert server.stdout is not None
    port = int(server.stdout.readline())
    idle_mb = rss_mb(server.pid)
    gen = spawn("--role", "load", "--url", f"ws://127.0.0.1:{port}", "--chargers", str(n),
                "--warmup-s", str(warmup_s), "--duration-s", str(duration_s), stderr=base / f"{name}-load.txt")
    assert gen.stdout is not None
    try:
        t_ready = time.monotonic()
        assert gen.stdout.readline().strip() == "ready"
        connect_s = time.monotonic() - t_ready
        assert gen.stdout.readline().strip() == "measure"
        t0, cpu0, rss0 = time.monotonic(), cpu_s(server.pid), rss_mb(server.pid)
        samples = [(0.0, rss0)]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2.0):
                samples.append((time.monotonic() - t0, rss_mb(server.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert gen.stdout.readline().strip() == "end"
        cpu1, rss1, t1 = cpu_s(server.pid), rss_mb(server.pid), time.monotonic()
        stop.set()
        sampler.join()
        result = json.loads(gen.stdout.readline())
    finally:
        gen.wait(timeout=120)
        server.terminate()
        server.wait(timeout=30)
    return {**result, "idle_rss_mb": idle_mb, "rss_start_mb": rss0, "rss_end_mb": rss1,
            "rss_growth_mb_per_min": slope_per_min(samples), "cpu_s": cpu1 - cpu0, "window_s": t1 - t0,
            "connect_s": connect_s}


def figure(name: str, value: float, unit: str, duration_s: float, load_before: float) -> None:
    print(json.dumps({"figure": name, "value": round(value, 3), "unit": unit, "duration_s": duration_s,
                      "load_1min": round(os.getloadavg()[0], 2), "load_1min_before": round(load_before, 2),
                      "cores": os.cpu_count()}), flush=True)


def run(n: int, hold: int, warmup_s: float, duration_s: float, keep: Path | None, bare_sync: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="csms-load-") as tmp:
        base = keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        load0 = os.getloadavg()[0]
        bench = measure(["--role", "bench", "--chargers", str(n), "--log-dir", str(base / f"bench-{n}")],
                        n, warmup_s, duration_s, base)
        print(json.dumps({"run": f"bench {n}", **bench}), file=sys.stderr, flush=True)
        load1 = os.getloadavg()[0]
        bare = measure(["--role", "bare"], n, warmup_s, duration_s, base)
        print(json.dumps({"run": f"bare {n}", **bare}), file=sys.stderr, flush=True)
        figure(f"csms_{n}_p99_ms", bench["p99_ms"], "ms", duration_s, load0)
        figure(f"csms_{n}_rss_growth_mb_per_min", bench["rss_growth_mb_per_min"], "MB/min", duration_s, load0)
        figure(f"csms_{n}_cpu_ratio_bare", bench["cpu_s"] / bare["cpu_s"], "x", duration_s, load0)
        figure(f"csms_{n}_connected", bench["connected"], "clients", duration_s, load0)
        figure(f"csms_{n}_idle_rss_mb", bench["idle_rss_mb"], "MB", duration_s, load0)
        figure(f"bare_{n}_p99_ms", bare["p99_ms"], "ms", duration_s, load1)
        figure(f"bare_{n}_rss_growth_mb_per_min", bare["rss_growth_mb_per_min"], "MB/min", duration_s, load1)
        figure(f"bare_{n}_idle_rss_mb", bare["idle_rss_mb"], "MB", duration_s, load1)
        if bare_sync:
            load_s = os.getloadavg()[0]
            same = measure(["--role", "bare-sync"], n, warmup_s, duration_s, base)
            print(json.dumps({"run": f"bare-sync {n}", **same}), file=sys.stderr, flush=True)
            figure(f"bare_sync_{n}_cpu_ratio", bench["cpu_s"] / same["cpu_s"], "x", duration_s, load_s)
            figure(f"bare_sync_{n}_p99_ms", same["p99_ms"], "ms", duration_s, load_s)
        if hold:
            load2 = os.getloadavg()[0]
            held = measure(["--role", "bench", "--chargers", str(hold), "--log-dir", str(base / f"bench-{hold}")],
                           hold, warmup_s, duration_s, base)
            print(json.dumps({"run": f"bench {hold}", **held}), file=sys.stderr, flush=True)
            figure(f"csms_{hold}_connected", held["connected"], "clients", duration_s, load2)
            figure(f"csms_{hold}_p99_ms", held["p99_ms"], "ms", duration_s, load2)
            figure(f"csms_{hold}_rss_growth_mb_per_min", held["rss_growth_mb_per_min"], "MB/min", duration_s, load2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chargers", type=int, default=1000)
    p.add_argument("--hold", type=int, default=2000, help="chargers of the hold run (0: none)")
    p.add_argument("--duration-s", type=float, default=600.0)
    p.add_argument("--warmup-s", type=float, default=20.0)
    p.add_argument("--keep", type=Path, help="keep the ocpp.jsonl files here (default: a temporary folder)")
    p.add_argument("--bare-sync", action="store_true",
                   help="also measure a bare stub validating in the loop's thread (context for the CPU ratio)")
    p.add_argument("--role", choices=("bench", "bare", "bare-sync", "load"), help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--log-dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    raise_fd_limit()
    if args.role == "bench":
        import logging

        logging.basicConfig(level=logging.WARNING)  # as `bench csms` without -v
        asyncio.run(serve_bench(args.chargers, args.log_dir))
    elif args.role in ("bare", "bare-sync"):
        asyncio.run(serve_bare(sync_validation=args.role == "bare-sync"))
    elif args.role == "load":
        asyncio.run(generate(args.url, args.chargers, args.warmup_s, args.duration_s))
    else:
        run(args.chargers, args.hold, args.warmup_s, args.duration_s, args.keep, args.bare_sync)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
