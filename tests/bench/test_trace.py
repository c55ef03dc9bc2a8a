"""The trace on disk: binary rows read back exactly, a killed run's rows kept, old CSV-only traces read."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.trace import COLUMNS, Trace, binary_path, header_path, read_trace, read_trace_csv

T0 = 5000.0


def rows(n: int) -> list[dict[str, float | str | None]]:
    """n rows at 10 Hz with gaps (None, NaN), tiny and huge values and every kind of CP state."""
    out: list[dict[str, float | str | None]] = []
    for i in range(n):
        row: dict[str, float | str | None] = {
            "t_mono_s": T0 + i / 10, "meter_current_l1_a": 16.0 + i * 1e-7, "meter_energy_import_wh": 1e7 + i / 3,
            "ev_pwm_duty_pct": float("nan") if i % 4 == 0 else 26.6666, "meter_voltage_l2_v": None,
            "ev_cp_state": ["C", "B", "", "X9", None][i % 5]}  # X9: a state outside IEC 61851
        if i % 3:
            row["load_current_l3_a"] = -0.5 * i
        out.append(row)
    return out


def write(path: Path, n: int) -> Trace:
    trace = Trace(path)
    for row in rows(n):
        trace.append(row)
    return trace


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert list(got) == list(want) == COLUMNS
    for name, col in want.items():
        if col.dtype == object:
            assert list(got[name]) == list(col), name
        else:
            assert got[name].dtype == np.float64 and np.array_equal(got[name], col, equal_nan=True), name


def test_round_trip_is_exact(tmp_path: Path) -> None:
    trace = write(tmp_path / "pos1.csv", 200)
    trace.close()
    assert_same(read_trace(tmp_path / "pos1.csv"), trace.columns())
    assert_same(read_trace(binary_path(tmp_path / "pos1.csv")), trace.columns())  # by its rows file too
    assert list(read_trace(tmp_path / "pos1.csv")["ev_cp_state"][:5]) == ["C", "B", "", "X9", ""]


def test_header_describes_the_rows(tmp_path: Path) -> None:
    write(tmp_path / "pos1.csv", 10).close()
    header = json.loads(header_path(tmp_path / "pos1.csv").read_text())
    assert header["rows"] == "pos1.f64" and header["dtype"] == "<f8" and header["csv"] == "pos1.csv"
    cols = {c["name"]: c for c in header["columns"]}
    assert [c["name"] for c in header["columns"]] == COLUMNS
    assert (cols["t_mono_s"]["unit"], cols["meter_energy_import_wh"]["unit"], cols["ev_pwm_duty_pct"]["unit"]) == \
        ("s", "Wh", "%")
    assert cols["ev_cp_state"]["codes"][:4] == ["", "A", "B", "C"] and "X9" in cols["ev_cp_state"]["codes"]
    assert binary_path(tmp_path / "pos1.csv").stat().st_size == 10 * len(COLUMNS) * 8


def test_torn_last_row_is_dropped(tmp_path: Path) -> None:
    trace = write(tmp_path / "pos1.csv", 30)
    trace.close()
    with open(binary_path(tmp_path / "pos1.csv"), "ab") as f:
        f.write(np.array([T0 + 99, 1.0, 2.0]).tobytes()[:-3])  # a kill in the middle of a row
    got = read_trace(tmp_path / "pos1.csv")
    assert len(got["t_mono_s"]) == 30 and got["t_mono_s"][-1] == pytest.approx(T0 + 2.9)
    assert_same(got, trace.columns())


WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_trace import rows
from bench.trace import Trace
trace = Trace(__import__("pathlib").Path({path!r}))
for row in rows(57):
    trace.append(row)
print("written", flush=True)
time.sleep(60)
"""


def test_a_killed_run_keeps_every_row_up_to_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "pos1.csv"
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(tests=str(Path(__file__).parent), path=str(path))],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    got = read_trace(path)
    # flushed every second of trace time: rows up to T0 + 5.0 s are on disk, in both files
    n = len(got["t_mono_s"])
    assert 51 <= n <= 57 and math.isclose(got["t_mono_s"][50], T0 + 5.0)
    want = Trace(tmp_path / "again.csv")
    for row in rows(n):
        want.append(row)
    want.close()
    assert_same(got, want.columns())
    assert len(read_trace_csv(path)["t_mono_s"]) >= 51


def test_csv_only_trace_is_still_read(tmp_path: Path) -> None:
    """A run folder from before the binary rows: the CSV alone (6 significant digits)."""
    trace = write(tmp_path / "pos1.csv", 120)
    trace.close()
    for f in (binary_path(tmp_path / "pos1.csv"), header_path(tmp_path / "pos1.csv")):
        f.unlink()
    got, want = read_trace(tmp_path / "pos1.csv"), trace.columns()
    assert list(got) == COLUMNS and list(got["ev_cp_state"]) == list(want["ev_cp_state"])
    for name in COLUMNS[:-1]:
        assert np.allclose(got[name], want[name], rtol=1e-6, equal_nan=True), name
