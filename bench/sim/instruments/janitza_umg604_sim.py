"""Simulated Janitza UMG 604: its float32 measurement table, computed from the Plant.

Rules the simulator enforces, as the UMG 604 does:
- function codes 03 and 04 read the same table; others get exception 01;
- addresses as written in Janitza's list (19000 is the first voltage, not 18999);
- float32 high word first; the same table is mirrored word-swapped at address + 32768;
- any read inside the table is answered word by word (also half a float); a read that
  leaves the table gets exception 02; table positions the simulator does not model
  read NaN (0x7FC0 0x0000), which the driver turns into null;
- the table refreshes every 200 ms (on the Plant's clock): a read returns the values of
  the last refresh, not of this instant.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.datastore.context import ModbusBaseDeviceContext

from bench.sim.instruments.modbus_meter_sim import MAX_REGISTERS, NAN_WORDS, ModbusMeterServer, float32_words
from bench.sim.plant import Plant

PHASES = (0, 1, 2)
TABLE_START = 19000
TABLE_END = 19078  # exclusive: the export energy at 19076 is the last value modelled
WORD_SWAPPED_OFFSET = 32768
REFRESH_S = 0.2

# address -> value from the Plant (float32)
# `...`: the per-phase getters bind their phase as a default argument (`lambda pl, p=p: ...`),
# which mypy cannot match to Callable[[Plant], float]; they are called with the Plant alone
TABLE: dict[int, Callable[..., float]] = {
    **{19000 + 2 * p: (lambda pl, p=p: pl.voltage_v(p)) for p in PHASES},
    **{19006 + 2 * p: (lambda pl, p=p: pl.voltage_v(p) * math.sqrt(3)) for p in PHASES},  # L-L, balanced mains
    **{19012 + 2 * p: (lambda pl, p=p: pl.current_a(p)) for p in PHASES},
    19018: lambda pl: sum(pl.current_a(p) for p in PHASES),
    **{19020 + 2 * p: (lambda pl, p=p: pl.power_w(p)) for p in PHASES},
    19026: lambda pl: pl.total_power_w(),
    **{19044 + 2 * p: (lambda pl, p=p: pl.settings.power_factor) for p in PHASES},
    19050: lambda pl: pl.settings.frequency_hz,
    19060: lambda pl: pl.energy_wh(),  # total active energy, Wh
    19068: lambda pl: pl.energy_wh(),  # consumed (import), Wh: the bench only draws power
    19076: lambda pl: 0.0,  # delivered (export), Wh
}


class Umg604DeviceContext(ModbusBaseDeviceContext):
    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.requests: list[tuple[int, int, int]] = []
        self._slot: int | None = None
        self._image: dict[int, int] = {}

    def reset(self) -> None:
        self.requests.clear()

    def _refresh(self) -> None:
        slot = math.floor(self.plant.clock.monotonic() / REFRESH_S)
        if slot == self._slot:
            return
        self._slot = slot
        image: dict[int, int] = {}
        for address in range(TABLE_START, TABLE_END, 2):
            getter = TABLE.get(address)
            words = float32_words(getter(self.plant)) if getter else NAN_WORDS
            image[address], image[address + 1] = words
        self._image = image

    def getValues(self, func_code: int, address: int, count: int = 1) -> list[int] | ExcCodes:
        self.requests.append((func_code, address, count))
        if func_code not in (3, 4):
            return ExcCodes.ILLEGAL_FUNCTION
        swapped = address >= WORD_SWAPPED_OFFSET
        start = address - WORD_SWAPPED_OFFSET if swapped else address
        if not (TABLE_START <= start and start + count <= TABLE_END and 0 < count <= MAX_REGISTERS):
            return ExcCodes.ILLEGAL_ADDRESS
        self._refresh()
        words = []
        for a in range(start, start + count):
            if swapped:  # low word first: the partner word of the same float
                partner = a + 1 if (a - TABLE_START) % 2 == 0 else a - 1
                words.append(self._image[partner])
            else:
                words.append(self._image[a])
        return words

    def setValues(self, func_code: int, address: int, values) -> ExcCodes:
        self.requests.append((func_code, address, len(values)))
        return ExcCodes.ILLEGAL_FUNCTION  # configuration writes are not simulated


class Umg604Sim(ModbusMeterServer):
    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 0, *, unit_id: int = 1,
                 framing: str = "tcp") -> None:
        self.plant = plant
        super().__init__(Umg604DeviceContext(plant), host, port, unit_id=unit_id, framing=framing,
                         sim_name="janitza_umg604")
