"""Array building blocks of the checks (bench/checks/), each linear in the trace's rows.

A 72-hour 10 Hz trace has millions of rows and tens of thousands of events (MeterValues, limit
changes, CP state changes): a check must not pass over the whole trace once per event. The trace
is sorted in time (the sampler appends rows on one monotonic clock; `Trace.forget_before`
relies on it too), so the rows of a time window are one slice found by a binary search, and what
a check computes per event is computed on that slice only, for all events at once.

Every function here gives exactly (bit for bit) what the per-event code it replaced gave:
tests/bench/test_verify_linear_time.py holds them to a frozen copy of it.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# rows x window values handled at once by the window statistics (bounds the memory, not the result)
_BLOCK_VALUES = 1 << 20


def require_sorted(t: np.ndarray) -> np.ndarray:
    """`t` itself, once it is known to be in time order: a binary search in rows out of order would
    slice the wrong rows without a word (the check then ERRORs, see run_check)."""
    if t.size > 1 and bool(np.any(t[1:] < t[:-1])):
        raise ValueError("trace rows are not in time order")
    return t


def rows_from(t: np.ndarray, at: np.ndarray | list[float]) -> np.ndarray:
    """Index of the first row with t >= at (sorted t): rows [rows_from(a), rows_from(b)) are
    those with a <= t < b."""
    return np.searchsorted(t, np.asarray(at, dtype=float), side="left")


def rows_through(t: np.ndarray, at: np.ndarray | list[float]) -> np.ndarray:
    """Index past the last row with t <= at (sorted t)."""
    return np.searchsorted(t, np.asarray(at, dtype=float), side="right")


def in_windows(t: np.ndarray, windows: list[list[float]]) -> np.ndarray:
    """Rows with a <= t < b for any [a, b] of `windows`: a running count of windows opened
    minus closed at each row (O(rows + windows))."""
    starts = rows_from(require_sorted(t), [a for a, _ in windows])
    ends = rows_from(t, [b for _, b in windows])
    keep = ends > starts  # an empty (or reversed) window marks nothing
    depth = np.zeros(t.size + 1, dtype=np.int64)
    np.add.at(depth, starts[keep], 1)
    np.add.at(depth, ends[keep], -1)
    return np.cumsum(depth[:-1]) > 0


def count_between(cumulative: np.ndarray, lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
    """How many of the flags behind `cumulative` (0 then their running sum) lie in [lo, hi)."""
    return np.where(hi > lo, cumulative[np.maximum(hi, lo)] - cumulative[lo], 0)


def running_count(flags: np.ndarray) -> np.ndarray:
    """0 followed by the running sum of `flags`: count_between's table."""
    return np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])


def windows_by_length(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """values[lo[i]:hi[i]] for every i, as (indices i, 2-D array of their windows): windows of one
    length are stacked, so numpy's row-wise statistics compute each exactly as on the window alone."""
    lengths = hi - lo
    order = np.argsort(lengths, kind="stable")
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    for group in np.split(order, cuts):
        if not group.size:
            continue
        n = int(lengths[group[0]])
        step = max(1, _BLOCK_VALUES // max(n, 1))
        for k in range(0, group.size, step):
            rows = group[k:k + step]
            yield rows, values[lo[rows, None] + np.arange(n)]


def medians(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """np.median(values[lo[i]:hi[i]]) for every i (each window must hold at least one value)."""
    out = np.full(lo.shape, np.nan)
    for rows, w in windows_by_length(values, lo, hi):
        out[rows] = np.median(w, axis=1)
    return out


def round3(x: np.ndarray) -> np.ndarray:
    """Python's round(v, 3) (the correctly rounded decimal) of every value. numpy's rint(v * 1000)
    / 1000 picks the same thousandth except where v * 1000 lies a hair from a half (its product
    rounded) or is huge: those few are rounded by Python itself."""
    y = x * 1000.0
    out = np.rint(y) / 1000.0
    with np.errstate(invalid="ignore"):
        unsure = (np.abs(y - np.floor(y) - 0.5) < 1e-6) | (np.abs(x) >= 1e6)
    for i in np.flatnonzero(unsure & ~np.isnan(x)):
        out[i] = round(float(x[i]), 3)
    return out


def annex_a_current(duty_pct: np.ndarray) -> np.ndarray:
    """instruments.iec61851.duty_to_current_a on every duty (NaN stays NaN): the same Annex A table
    on arrays (the test of the checks' equivalence holds the two equal)."""
    d = round3(np.asarray(duty_pct, dtype=float))
    with np.errstate(invalid="ignore"):
        amps = np.select([d < 8.0, d < 10.0, d <= 85.0, d <= 96.0, d <= 97.0],
                         [0.0, 6.0, d * 0.6, (d - 64.0) * 2.5, 80.0], 0.0)
    return np.where(np.isnan(d), np.nan, amps)


def stretches_entered_from(states: np.ndarray, targets: set[str], before: tuple[str, ...]) -> list[tuple[int, int]]:
    """(first, last) row of each run of rows in `targets` entered straight from a row in `before`;
    a run entered twice (targets and before overlap) counts once, from its first entry."""
    states = np.asarray(states, dtype=object)
    inside, came_from = _is_any(states, targets), _is_any(states, set(before))
    edges = np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    entries = np.flatnonzero(inside[1:] & came_from[:-1]) + 1
    run = np.searchsorted(run_starts, entries, side="right") - 1
    first = np.ones(entries.shape, dtype=bool)
    first[1:] = run[1:] != run[:-1]
    return [(int(i), int(run_ends[r])) for i, r in zip(entries[first], run[first])]


def _is_any(states: np.ndarray, names: set[str]) -> np.ndarray:
    out = np.zeros(states.shape, dtype=bool)
    for name in names:
        out |= states == name
    return out
