"""The trace: every instrument reading of a position, in memory for judging and streamed to disk.

On disk a trace is three files next to each other (`traces/<position>.*`):

- `<position>.f64.json`, the header, written (atomically) before any row: the columns in row
  order with their units, the dtype, and the code table of the CP state column;
- `<position>.f64`, the rows: append-only little-endian float64, one value per column, the CP
  state as its index in the code table. numpy reads it whole (`np.fromfile`); a run killed
  mid-write leaves at most a torn last row, which the reader drops;
- `<position>.csv`, the same rows as text. Kept because it costs little (~10 us a row at 10 Hz)
  and people open it in a spreadsheet, the live view tails it, and run folders written before
  the binary form have only it (`read_trace` falls back to it).

Both files are flushed at least every second of trace time, so a killed run keeps its data.
Its own module so that what the bench keeps as evidence is one place (`bench/memory.py`
reports it apart from the bench's own memory)."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import sys
from pathlib import Path
from typing import Any

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
CP_STATES = ["", "A", "B", "C", "D", "E", "F"]  # IEC 61851-1; "" = not read. Others get codes as met.
FORMAT = "evbench-trace-f64"
_FLUSH_EVERY_S = 1.0
_ROW = struct.Struct(f"<{len(COLUMNS)}d")
_UNITS = {"_s": "s", "_v": "V", "_a": "A", "_w": "W", "_wh": "Wh", "_pct": "%"}


def binary_path(path: Path) -> Path:
    """The binary rows file of the trace whose CSV (or rows file) is `path`."""
    return Path(path).with_suffix(".f64")


def header_path(path: Path) -> Path:
    return binary_path(path).with_suffix(".f64.json")


class Trace:
    """The samples in memory (a compact numpy buffer) plus the files they stream to.

    Memory holds only what a judgement may still need: `forget_before(t)` (called when a
    scenario starts) drops older rows, which the files keep, so a 24-hour run or a night of
    scenarios holds one scenario's samples, not the run's."""

    def __init__(self, path: Path) -> None:
        self.path = path  # the CSV; the binary files sit next to it
        self._data = np.empty((1024, len(NUMERIC_COLUMNS)), dtype=float)
        self._states: list[str] = []
        self._n = 0
        self._codes = {s: i for i, s in enumerate(CP_STATES)}
        self._write_header()
        self._bin = open(binary_path(path), "wb")
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
        self._bin.write(_ROW.pack(*values, self._code(state)))
        self._writer.writerow([_fmt(v) for v in values] + [state])
        if values[0] - self._t_flush >= _FLUSH_EVERY_S:
            self.flush()
            self._t_flush = values[0]

    def forget_before(self, t: float) -> None:
        """Drop the rows taken before `t` from memory (the files have them)."""
        keep = int(np.searchsorted(self._data[: self._n, 0], t, side="left"))
        if keep:
            self._data[: self._n - keep] = self._data[keep: self._n]
            self._n -= keep
            del self._states[:keep]

    def flush(self) -> None:
        for f in (self._bin, self._file):
            if not f.closed:
                f.flush()

    def close(self) -> None:
        for f in (self._bin, self._file):
            if not f.closed:
                f.close()

    def __len__(self) -> int:
        return self._n

    def columns(self, t_from: float = -math.inf, t_to: float = math.inf) -> dict[str, np.ndarray]:
        """Column arrays for samples with t_from <= t_mono_s <= t_to."""
        data = self._data[: self._n]
        mask = (data[:, 0] >= t_from) & (data[:, 0] <= t_to)
        out = {c: data[mask, i].copy() for i, c in enumerate(NUMERIC_COLUMNS)}
        out["ev_cp_state"] = np.array(self._states, dtype=object)[mask] if self._n else np.array([], dtype=object)
        return out

    def _code(self, state: str) -> int:
        code = self._codes.get(state)
        if code is None:  # a state outside IEC 61851: the header names it before any row uses it
            code = self._codes[state] = len(self._codes)
            self._write_header()
        return code

    def _write_header(self) -> None:
        header = {"format": FORMAT, "version": 1, "rows": binary_path(self.path).name, "dtype": "<f8",
                  "csv": Path(self.path).name,
                  "columns": [_column_header(c, list(self._codes)) for c in COLUMNS]}
        target = header_path(self.path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(header, indent=1) + "\n")
        os.replace(tmp, target)  # a kill leaves the old header or the new one, never half of one


def _column_header(name: str, codes: list[str]) -> dict[str, Any]:
    if name in TEXT_COLUMNS:
        return {"name": name, "unit": None, "codes": codes}
    return {"name": name, "unit": next((u for s, u in _UNITS.items() if name.endswith(s)), None)}


def read_trace(path: Path) -> dict[str, np.ndarray]:
    """All columns of a trace by name: floats, and the CP state as strings (object array).

    `path` is the trace's CSV or rows file (record.json names the CSV). Reads the binary rows
    when they are there; run folders written before them have only the CSV."""
    if header_path(path).exists() and binary_path(path).exists():
        return read_trace_binary(binary_path(path))
    return read_trace_csv(Path(path).with_suffix(".csv"))


def read_trace_binary(path: Path) -> dict[str, np.ndarray]:
    """The rows file `path` as columns, as its header describes them; a torn last row is dropped."""
    header = json.loads(header_path(path).read_text())
    cols = header["columns"]
    raw = np.fromfile(path, dtype=np.dtype(header["dtype"]))
    rows = raw.size // len(cols)
    data = raw[: rows * len(cols)].reshape(rows, len(cols)).T.astype(float)  # one copy, columns contiguous
    out: dict[str, np.ndarray] = {}
    for i, col in enumerate(cols):
        codes = col.get("codes")
        out[col["name"]] = data[i] if codes is None else np.array(codes, dtype=object)[data[i].astype(np.intp)]
    return out


def read_trace_csv(path: Path) -> dict[str, np.ndarray]:
    """A trace CSV written by `Trace`; a torn last row (a killed run) is dropped.

    Parsed by numpy's C reader (~4 s for 24 h at 10 Hz); anything unusual (a row with a field
    too many or too few) goes to the exact row-by-row reader, which is twice as slow."""
    try:
        return _read_csv_fast(path)
    except ValueError:
        return _read_csv_exact(path)


def _read_csv_fast(path: Path) -> dict[str, np.ndarray]:
    header, _, body = Path(path).read_text().partition("\n")
    names = next(csv.reader([header]))
    body = body[: body.rfind("\n") + 1]  # a killed run may leave half a last row
    if not body.strip():
        return {n: np.array([], dtype=object if n in TEXT_COLUMNS else float) for n in names}
    # Trace writes a missing value as an empty field; numpy wants a number. Two passes,
    # because str.replace does not overlap (",,," needs both). The first column (time)
    # is never empty; an empty text column stays empty (a string).
    body = body.replace(",,", ",nan,").replace(",,", ",nan,")
    numeric = [i for i, n in enumerate(names) if n not in TEXT_COLUMNS]
    data = np.loadtxt(io.StringIO(body), delimiter=",", usecols=numeric, dtype=float, ndmin=2, comments=None)
    out = {names[i]: np.ascontiguousarray(data[:, k]) for k, i in enumerate(numeric)}
    for i in (i for i, n in enumerate(names) if n in TEXT_COLUMNS):
        out[names[i]] = _shared_strings(np.loadtxt(io.StringIO(body), delimiter=",", usecols=[i], dtype=str,
                                                   ndmin=1, comments=None))
    return {n: out[n] for n in names}


def _shared_strings(col: np.ndarray) -> np.ndarray:
    """An object array holding one str per distinct value (a handful of CP states)."""
    values, inverse = np.unique(col, return_inverse=True)
    return np.array(values.tolist() + [""], dtype=object)[:-1][inverse.reshape(-1)]


def _read_csv_exact(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        col = [r[i] for r in rows]
        out[name] = np.array([sys.intern(v) for v in col], dtype=object) if name in TEXT_COLUMNS else np.array(
            [float(v) if v not in ("", "nan") else np.nan for v in col], dtype=float)
    return out


def _num(v: float | str | None) -> float:
    return float("nan") if v is None else float(v)


def _fmt(v: float) -> str:
    # 10 significant digits: a run-clock time of hours keeps its microseconds (6 kept 0.1 s)
    return "" if math.isnan(v) else f"{v:.10g}" if abs(v) < 1e5 else f"{v:.3f}"
