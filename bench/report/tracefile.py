"""Cached reading of traces for the reports.

Every scenario of a position reads its one trace, so the reports keep the last few traces
read (`bench.trace.read_trace`: the binary rows, ~0.1 s for a 24 h trace at 10 Hz, or the
CSV of a run folder written before them, ~4 s). Only the numeric columns are returned;
text columns (CP state) are not drawn.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.trace import TEXT_COLUMNS, binary_path, header_path, read_trace


def load_trace(path: Path) -> dict[str, np.ndarray]:
    """Numeric columns of the trace `path` (its CSV, as record.json names it) by name; read
    once per version (mtime, size) of the file actually read."""
    binary = binary_path(path)
    source = binary if binary.exists() and header_path(path).exists() else Path(path)
    st = os.stat(source)
    return _cached(str(path), str(source), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _cached(path: str, source: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    return {k: v for k, v in read_trace(Path(path)).items() if k not in TEXT_COLUMNS}
