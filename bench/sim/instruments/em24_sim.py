"""Simulated Carlo Gavazzi EM24: INT32 values low word first, fixed scaling.

Rules the simulator enforces, as the meter does:
- measurements are input registers (function code 04): voltage /10 V, current /1000 A,
  power /10 W, frequency INT16 /10 Hz, energy /10 kWh, INT32 low word first; the
  value is rounded to the register's resolution (energy counts in 100 Wh steps);
- the identification code is holding register 0x000B (function code 03): 1648 here
  (an EM24 DIN AV9, check); other holding registers get exception 02;
- a read touching a register the meter does not have gets exception 02; function
  codes other than 03/04 get exception 01.
"""
from __future__ import annotations

from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.datastore.context import ModbusBaseDeviceContext

from bench.sim.instruments.modbus_meter_sim import MAX_REGISTERS, ModbusMeterServer, int16_words, int32_words
from bench.sim.plant import Plant

PHASES = (0, 1, 2)
ID_CODE_REGISTER = 0x000B
DEFAULT_ID_CODE = 1648


# `...`: the per-phase getters bind their phase as a default argument (`lambda pl, p=p: ...`),
# which mypy cannot match to Callable[[Plant], float]; they are called with the Plant alone
def _int32(getter: Callable[..., float], per_count: float) -> Callable[[Plant], list[int]]:
    return lambda pl: int32_words(round(getter(pl) / per_count), "little")


def _int16(getter: Callable[..., float], per_count: float) -> Callable[[Plant], list[int]]:
    return lambda pl: int16_words(round(getter(pl) / per_count))


# first register of a value -> its words from the Plant
INPUT_VALUES: dict[int, Callable[[Plant], list[int]]] = {
    **{0x00 + 2 * p: _int32(lambda pl, p=p: pl.voltage_v(p), 0.1) for p in PHASES},
    **{0x06 + 2 * p: _int32(lambda pl, p=p: pl.voltage_v(p) * 3 ** 0.5, 0.1) for p in PHASES},  # L-L
    **{0x0C + 2 * p: _int32(lambda pl, p=p: pl.current_a(p), 0.001) for p in PHASES},
    **{0x12 + 2 * p: _int32(lambda pl, p=p: pl.power_w(p), 0.1) for p in PHASES},
    0x28: _int32(lambda pl: pl.total_power_w(), 0.1),
    **{0x32 + p: _int16(lambda pl: pl.settings.power_factor, 0.001) for p in PHASES},
    0x35: _int16(lambda pl: pl.settings.power_factor, 0.001),  # PF sys
    0x36: lambda pl: int16_words(0),  # phase sequence: 0 = L1-L2-L3
    0x37: _int16(lambda pl: pl.settings.frequency_hz, 0.1),
    0x42: _int32(lambda pl: pl.energy_wh() / 1000.0, 0.1),  # kWh(+) total
    0x5C: _int32(lambda pl: 0.0, 0.1),  # kWh(-) total
}
_SIZES = {a: (2 if a not in range(0x32, 0x38) else 1) for a in INPUT_VALUES}
REGISTERS = {a + i: a for a, n in _SIZES.items() for i in range(n)}  # register -> first register of its value


class Em24DeviceContext(ModbusBaseDeviceContext):
    def __init__(self, plant: Plant, id_code: int = DEFAULT_ID_CODE) -> None:
        self.plant = plant
        self.id_code = id_code
        self.requests: list[tuple[int, int, int]] = []

    def reset(self) -> None:
        self.requests.clear()

    def getValues(self, func_code: int, address: int, count: int = 1) -> list[int] | ExcCodes:
        self.requests.append((func_code, address, count))
        if func_code == 3:
            if (address, count) != (ID_CODE_REGISTER, 1):
                return ExcCodes.ILLEGAL_ADDRESS
            return int16_words(self.id_code)
        if func_code != 4:
            return ExcCodes.ILLEGAL_FUNCTION
        wanted = range(address, address + count)
        if not 0 < count <= MAX_REGISTERS or any(a not in REGISTERS for a in wanted):
            return ExcCodes.ILLEGAL_ADDRESS
        words: dict[int, int] = {}
        for first in sorted({REGISTERS[a] for a in wanted}):
            words.update(zip(range(first, first + _SIZES[first]), INPUT_VALUES[first](self.plant)))
        return [words[a] for a in wanted]

    def setValues(self, func_code: int, address: int, values) -> ExcCodes:
        self.requests.append((func_code, address, len(values)))
        return ExcCodes.ILLEGAL_FUNCTION


class Em24Sim(ModbusMeterServer):
    def __init__(self, plant: Plant, host: str = "127.0.0.1", port: int = 0, *, unit_id: int = 1,
                 framing: str = "tcp", id_code: int = DEFAULT_ID_CODE) -> None:
        self.plant = plant
        super().__init__(Em24DeviceContext(plant, id_code), host, port, unit_id=unit_id, framing=framing,
                         sim_name="carlo_gavazzi_em24")
