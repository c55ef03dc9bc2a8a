"""Fast, cached reading of trace CSVs for the reports.

`bench.acquisition.read_trace` converts value by value in Python: fine for a
scenario of minutes, ~9 s for a 24 h trace at 10 Hz. The reports read the same
file through numpy's C parser instead (~2 s for 864 000 rows) and keep the last
few files parsed, since every scenario of a position reads its one trace.
Only the numeric columns are returned; text columns (CP state) are not drawn.
"""
from __future__ import annotations

import io
import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.trace import TEXT_COLUMNS, read_trace

log = logging.getLogger(__name__)


def load_trace(path: Path) -> dict[str, np.ndarray]:
    """Numeric columns of a trace CSV by name; parsed once per file version (mtime, size)."""
    st = os.stat(path)
    return _cached(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    try:
        return _parse_fast(Path(path))
    except ValueError as exc:  # anything unusual: the exact (slow) reader decides
        log.debug("fast trace parse of %s failed (%s); using read_trace", path, exc)
        full = read_trace(Path(path))
        return {k: v for k, v in full.items() if k not in TEXT_COLUMNS}


def _parse_fast(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_text()
    header, _, body = raw.partition("\n")
    names = header.strip().split(",")
    if not body.endswith("\n"):  # a killed run may leave half a last row
        body = body[: body.rfind("\n") + 1]
    numeric = [i for i, n in enumerate(names) if n not in TEXT_COLUMNS]
    if not body.strip():
        return {names[i]: np.array([], dtype=float) for i in numeric}
    # Trace writes a missing value as an empty field; numpy wants a number. Two passes,
    # because str.replace does not overlap (",,," needs both). The first column (time)
    # is never empty, and an empty last text column is not read at all.
    body = body.replace(",,", ",nan,").replace(",,", ",nan,")
    data = np.loadtxt(io.StringIO(body), delimiter=",", usecols=numeric, dtype=float, ndmin=2,
                      comments=None)
    return {names[i]: data[:, k] for k, i in enumerate(numeric)}
