"""Simulated Siemens SENTRON PAC2200: float32 measurements and float64 energy counters.

Rules the simulator enforces (check against Siemens' manual for your firmware):
- measurements are holding registers (function code 03) at Siemens' offsets; other
  function codes get exception 01;
- a read must start at the first register of a value and end at the last register
  of one: half a value, or a register the meter does not have, gets exception 02;
- float32 high word first, energy counters float64 in Wh;
- Read Device Identification (function code 43/14) answers vendor "Siemens", the
  order number as product code and "SENTRON PAC2200" as product name.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from pymodbus import ModbusDeviceIdentification
from pymodbus.constants import ExcCodes
from pymodbus.datastore.context import ModbusBaseDeviceContext

from bench.sim.instruments.modbus_meter_sim import MAX_REGISTERS, ModbusMeterServer, float32_words, float64_words
from bench.sim.plant import Plant

PHASES = (0, 1, 2)


def _va(pl: Plant, p: int) -> float:
    return pl.voltage_v(p) * pl.current_a(p)


# `...`: the per-phase getters bind their phase as a default argument (`lambda pl, p=p: ...`),
# which mypy cannot match to Callable[[Plant], float]; they are called with the Plant alone
def _f32(getter: Callable[..., float]) -> tuple[int, Callable[[Plant], list[int]]]:
    return 2, lambda pl: float32_words(getter(pl))


def _f64(getter: Callable[..., float]) -> tuple[int, Callable[[Plant], list[int]]]:
    return 4, lambda pl: float64_words(getter(pl))


# first register of a value -> (register count, words from the Plant)
VALUES: dict[int, tuple[int, Callable[[Plant], list[int]]]] = {
    **{1 + 2 * p: _f32(lambda pl, p=p: pl.voltage_v(p)) for p in PHASES},
    **{7 + 2 * p: _f32(lambda pl, p=p: pl.voltage_v(p) * math.sqrt(3)) for p in PHASES},  # L-L
    **{13 + 2 * p: _f32(lambda pl, p=p: pl.current_a(p)) for p in PHASES},
    **{19 + 2 * p: _f32(lambda pl, p=p: _va(pl, p)) for p in PHASES},
    **{25 + 2 * p: _f32(lambda pl, p=p: pl.power_w(p)) for p in PHASES},
    55: _f32(lambda pl: pl.settings.frequency_hz),
    57: _f32(lambda pl: sum(pl.voltage_v(p) for p in PHASES) / 3),
    59: _f32(lambda pl: sum(pl.voltage_v(p) for p in PHASES) / 3 * math.sqrt(3)),
    61: _f32(lambda pl: sum(pl.current_a(p) for p in PHASES) / 3),
    63: _f32(lambda pl: sum(_va(pl, p) for p in PHASES)),
    65: _f32(lambda pl: pl.total_power_w()),
    801: _f64(lambda pl: pl.energy_wh()),  # import, tariff 1
    805: _f64(lambda pl: 0.0),  # import, tariff 2
    809: _f64(lambda pl: 0.0),  # export, tariff 1
    813: _f64(lambda pl: 0.0),  # export, tariff 2
}
VALUE_ENDS = {first + n for first, (n, _) in VALUES.items()}
IDENTITY = {
    "VendorName": "Siemens",
    "ProductCode": "7KM2200-2EA30-1JA1",
    "MajorMinorRevision": "V3.2.1",
    "ProductName": "SENTRON PAC2200",
    "ModelName": "PAC2200",
}


class Pac2200DeviceContext(ModbusBaseDeviceContext):
    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.requests: list[tuple[int, int, int]] = []

    def reset(self) -> None:
        self.requests.clear()

    def getValues(self, func_code: int, address: int, count: int = 1) -> list[int] | ExcCodes:
        self.requests.append((func_code, address, count))
        if func_code != 3:
            return ExcCodes.ILLEGAL_FUNCTION
        if not 0 < count <= MAX_REGISTERS or address not in VALUES or address + count not in VALUE_ENDS:
            return ExcCodes.ILLEGAL_ADDRESS
        words: list[int] = []
        a = address
        while a < address + count:
            if a not in VALUES:  # a gap in Siemens' list inside the requested span
                return ExcCodes.ILLEGAL_ADDRESS
            n, get = VALUES[a]
            words += get(self.plant)
            a += n
        return words

    def setValues(self, func_code: int, address: int, values) -> ExcCodes:
        self.requests.append((func_code, address, len(values)))
        return ExcCodes.ILLEGAL_FUNCTION


class Pac2200Sim(ModbusMeterServer):
    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 0, *, unit_id: int = 1,
                 framing: str = "tcp") -> None:
        self.plant = plant
        super().__init__(Pac2200DeviceContext(plant), host, port, unit_id=unit_id, framing=framing,
                         identity=ModbusDeviceIdentification(info_name=IDENTITY), sim_name="siemens_pac2200")
