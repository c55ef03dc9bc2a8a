"""Memory over a long run: is it flat, for the charger and for the bench?

A soak marks memory at each session boundary (`memory_mark` step) and `memory_flat` fits a
line through the marks. Python's `tracemalloc` attributes every live allocation to the file
that made it, which splits the bench process in three:
- the DUT: the simulated charger's package, when the DUT is the virtual lab's charger (it runs
  in this process). A real charger's memory is not visible over OCPP: then it is not measured,
  and the check says so;
- the bench's evidence: what `bench/csms/` records of the DUT's messages (events,
  transactions, meter samples, kept until the run ends) and the scenario's samples in
  `bench/trace.py`, both growing with the scenario on purpose; reported, not judged;
- the rest of the bench: judged.
Tracing starts at the first mark (it slows allocation), so the first interval is warm-up.
"""
from __future__ import annotations

import logging
import os
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import bench.csms as _csms
import bench.trace as _trace

LOG = logging.getLogger("bench.memory")
EVIDENCE = (str(Path(_csms.__file__).resolve().parent), str(Path(_trace.__file__).resolve()))


@dataclass(frozen=True)
class MemoryMark:
    t_mono_s: float
    bench_bytes: int          # traced, outside the DUT's package and the evidence log
    evidence_bytes: int       # traced in bench/csms and bench/trace.py (kept on purpose, reported)
    dut_bytes: int | None     # traced in the simulated charger's package; None: not observable
    rss_bytes: int | None = None  # the whole process's resident memory (None: not on Linux)


def resident_bytes() -> int | None:
    """This process's resident set size now (Linux /proc; None elsewhere). Unlike traced memory it
    includes the allocator's fragmentation and the libraries' own heaps: what the OS sees."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class MemoryProbe:
    """Marks traced memory; `dut_dir` is the simulated charger's package (None: a real DUT)."""

    def __init__(self, dut_dir: Path | None) -> None:
        self.dut_dir = str(dut_dir.resolve()) if dut_dir is not None else None
        self._started_here = False

    def mark(self, t_mono_s: float) -> MemoryMark:
        if not tracemalloc.is_tracing():
            tracemalloc.start()
            self._started_here = True
        stats = tracemalloc.take_snapshot().statistics("filename")
        bench = evidence = dut = 0
        for stat in stats:
            filename = stat.traceback[0].filename
            if self.dut_dir is not None and filename.startswith(self.dut_dir):
                dut += stat.size
            elif filename.startswith(EVIDENCE):
                evidence += stat.size
            else:
                bench += stat.size
        mark = MemoryMark(t_mono_s, bench, evidence, dut if self.dut_dir is not None else None, resident_bytes())
        LOG.info("memory mark: traced bench %.0f KiB, evidence %.0f KiB, charger %s; process RSS %s",
                 bench / 1024, evidence / 1024, f"{dut / 1024:.0f} KiB" if self.dut_dir else "not observable",
                 f"{mark.rss_bytes / 2**20:.1f} MiB" if mark.rss_bytes is not None else "unknown")
        return mark

    def stop(self) -> None:
        """Stop tracing if a mark started it (at the end of the scenario)."""
        if self._started_here:
            tracemalloc.stop()
            self._started_here = False
