"""One JSON line per benchmark figure, with the machine load next to it.

A figure on a busy machine is not the same figure: every line carries the 1- and 5-minute load
averages and the core count at the moment it was printed.

    {"figure": "verify_24h_s", "value": 0.412, "unit": "s", "load_1min": 0.31, "load_5min": 0.4, "cores": 2}
"""
from __future__ import annotations

import json
import os
import sys


def machine() -> dict[str, float | int | None]:
    one, five, _ = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2), "cores": os.cpu_count()}


def emit(name: str, value: float | int | None, unit: str, **extra: object) -> None:
    """Print one figure as a JSON line (rounded to 3 decimals) and flush."""
    if isinstance(value, float):
        value = round(value, 3)
    print(json.dumps({"figure": name, "value": value, "unit": unit, **machine(), **extra}), file=sys.stdout,
          flush=True)


def emit_machine() -> None:
    """The machine line: printed first, before any figure."""
    print(json.dumps({"machine": True, "python": sys.version.split()[0], **machine()}), flush=True)
