"""Runs against independent charge points are opt-in: they install Node packages and take
minutes. They run when selected by marker (`pytest -m interop`) or with EVBENCH_INTEROP=1;
otherwise they are skipped with that reason (the harness's own tests always run)."""
from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if "interop" in (config.option.markexpr or "") or os.environ.get("EVBENCH_INTEROP") == "1":
        return
    skip = pytest.mark.skip(reason="interop runs are opt-in: pytest -m interop, or EVBENCH_INTEROP=1")
    for item in items:
        if item.get_closest_marker("interop") is not None:
            item.add_marker(skip)
