#!/usr/bin/env python3
"""Run scenarios (default: the whole library) against an independent charge point and print
one row per scenario (scenario, block, verdict, reason) from the run's record.json.

    .venv/bin/python tests/interop/run_peer.py --ocpp 1.6
    .venv/bin/python tests/interop/run_peer.py --peer ocpp-virtual-charge-point --ocpp 2.0.1 \
        --out /tmp/interop --markdown docs/interop-raw-vcp-2.0.1.md scenarios/smart_charging

The peer is prepared once (copied to a cache folder, dependencies installed) and started
when the bench's CSMS listens; both are stopped at the end. Exit code: bench run's (0 all
PASS, 1 any FAIL, 2 any ERROR), 3 when the peer cannot run here.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.interop.harness import (markdown_table, run_against_peer, run_isolated,  # noqa: E402
                                   summary_line)
from tests.interop.peers import PEERS, PeerUnavailable  # noqa: E402


def _bench_version(root: Path) -> str:
    import subprocess

    # the last commit that changed the bench or the library (not this harness or the docs)
    done = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s", "--", "bench", "scenarios"],
                          capture_output=True, text=True)
    return done.stdout.strip() or str(root)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenarios", nargs="*", type=Path, help="scenario files or folders (default: scenarios/)")
    p.add_argument("--peer", default="ocpp-virtual-charge-point", choices=sorted(PEERS))
    p.add_argument("--ocpp", default="1.6", choices=("1.6", "2.0.1", "2.1"))
    p.add_argument("--out", type=Path, help="keep config, logs and results here (default: a temporary folder)")
    p.add_argument("--markdown", type=Path, help="also write the table (with a header) to this file")
    p.add_argument("--timeout", type=float, default=3 * 3600, help="seconds before the run is stopped")
    p.add_argument("--isolate", action="store_true",
                   help="one bench run and one fresh peer per scenario file (slower; no scenario "
                        "decides the next one's verdict)")
    p.add_argument("--bench-root", type=Path, default=ROOT,
                   help="run the bench (and its scenarios/) of another checkout, e.g. to compare branches")
    p.add_argument("--bench-arg", action="append", default=[], help="extra argument for bench run (repeatable)")
    args = p.parse_args(argv)
    # stoppable by Ctrl-C and by SIGTERM alike (a background job ignores SIGINT): both stop
    # bench run (it tears down) and the peer's whole process group
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    peer = PEERS[args.peer]
    if args.ocpp not in peer.versions:
        print(f"{peer.name} does not speak OCPP {args.ocpp} (it speaks {', '.join(peer.versions)})", file=sys.stderr)
        return 3
    out = args.out or Path(tempfile.mkdtemp(prefix=f"interop-{peer.name}-"))
    bench_root = args.bench_root.resolve()
    scenarios = [s.resolve() for s in args.scenarios] or [bench_root / "scenarios"]
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if args.isolate:
            run = run_isolated(peer, args.ocpp, scenarios, out, log=log, bench_root=bench_root)
        else:
            run = run_against_peer(peer, args.ocpp, scenarios, out, timeout_s=args.timeout,
                                   extra_args=tuple(args.bench_arg), log=log, bench_root=bench_root)
    except PeerUnavailable as exc:
        print(f"peer unavailable: {exc}", file=sys.stderr)
        return 3
    table = markdown_table(run)
    print(table)
    print(summary_line(run))
    if run.error:
        print(f"run error: {run.error}")
    print(f"run folder: {run.run_dir}\nbench log: {run.bench_log}\npeer log: {run.peer_log}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(
            f"# {peer.name}, OCPP {args.ocpp}: raw per-scenario verdicts"
            f"{' (one bench run per scenario)' if args.isolate else ' (one bench run)'}\n\n"
            f"Bench: {_bench_version(bench_root)}\n\n"
            f"{summary_line(run)}\n\n{table}\n" + (f"\nRun error: {run.error}\n" if run.error else ""))
    return run.returncode if run.returncode is not None else 2


if __name__ == "__main__":
    sys.exit(main())
