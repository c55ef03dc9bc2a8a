"""The trace: every instrument reading of a position, in memory for judging and streamed to CSV.

Its own module so that what the bench keeps as evidence is one place (`bench/memory.py`
reports it apart from the bench's own memory)."""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np

PHASES = (1, 2, 3)
NUMERIC_COLUMNS = (
    ["t_mono_s"]
    + [f"meter_voltage_l{p}_v" for p in PHASES]
    + [f"meter_current_l{p}_a" for p in PHASES]
    + ["meter_power_total_w", "meter_energy_import_wh"]
    + [f"load_current_l{p}_a" for p in PHASES]
    + ["ev_pwm_duty_pct", "ev_offered_current_a"]
)
TEXT_COLUMNS = ["ev_cp_state"]
COLUMNS = NUMERIC_COLUMNS + TEXT_COLUMNS
_FLUSH_EVERY_S = 1.0


class Trace:
    """The samples in memory (a compact numpy buffer) plus the CSV file they stream to.

    Memory holds only what a judgement may still need: `forget_before(t)` (called when a
    scenario starts) drops older rows, which the CSV keeps, so a 24-hour run or a night of
    scenarios holds one scenario's samples, not the run's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = np.empty((1024, len(NUMERIC_COLUMNS)), dtype=float)
        self._states: list[str] = []
        self._n = 0
        self._file = open(path, "w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._t_flush = -math.inf

    def append(self, row: dict[str, float | str | None]) -> None:
        values = [_num(row.get(c)) for c in NUMERIC_COLUMNS]
        state = sys.intern(str(row.get("ev_cp_state") or ""))  # a handful of states, one object each
        if self._n == len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self._n] = values
        self._n += 1
        self._states.append(state)
        self._writer.writerow([_fmt(v) for v in values] + [state])
        if values[0] - self._t_flush >= _FLUSH_EVERY_S:
            self.flush()
            self._t_flush = values[0]

    def forget_before(self, t: float) -> None:
        """Drop the rows taken before `t` from memory (the CSV has them)."""
        keep = int(np.searchsorted(self._data[: self._n, 0], t, side="left"))
        if keep:
            self._data[: self._n - keep] = self._data[keep: self._n]
            self._n -= keep
            del self._states[:keep]

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __len__(self) -> int:
        return self._n

    def columns(self, t_from: float = -math.inf, t_to: float = math.inf) -> dict[str, np.ndarray]:
        """Column arrays for samples with t_from <= t_mono_s <= t_to."""
        data = self._data[: self._n]
        mask = (data[:, 0] >= t_from) & (data[:, 0] <= t_to)
        out = {c: data[mask, i].copy() for i, c in enumerate(NUMERIC_COLUMNS)}
        out["ev_cp_state"] = np.array(self._states, dtype=object)[mask] if self._n else np.array([], dtype=object)
        return out


def read_trace(path: Path) -> dict[str, np.ndarray]:
    """Load a trace CSV written by `Trace` (for reports regenerated from results/)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        col = [r[i] for r in rows]
        out[name] = np.array(col, dtype=object) if name in TEXT_COLUMNS else np.array(
            [float(v) if v not in ("", "nan") else np.nan for v in col], dtype=float)
    return out


def _num(v: float | str | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.6g}" if abs(v) < 1e5 else f"{v:.3f}"
