"""The bench's firmware image: what the bench serves when a scenario updates the DUT's firmware
(bench/scenario/steps_firmware.py makes it, a charger reads the version from its first line)."""
from __future__ import annotations

# Defined here, in the core, because the bench decides what it serves; the simulated charger imports it from here.
FIRMWARE_MAGIC = b"EVBENCH-FIRMWARE "  # first line of a bench firmware image: "EVBENCH-FIRMWARE <version>"
