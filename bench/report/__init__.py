"""Reports regenerated from a run folder (`results/<run>/`) alone: plots, junit.xml, report.pdf.

The names below load on first use: `bench run --no-report` and the commands that only read
figures (`bench trend`) then start without matplotlib and reportlab.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.report.junit import write_junit
    from bench.report.render import RenderResult, render_all

__all__ = ["RenderResult", "render_all", "write_junit"]
_HOMES = {"RenderResult": "bench.report.render", "render_all": "bench.report.render",
          "write_junit": "bench.report.junit"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
