"""Simulated Eastron SDM630 energy meter: a pymodbus 3.11 server whose registers are
computed live from the Plant at every request.

Rules the simulator enforces, as the meter does:
- measurements are input registers (FC04), float32 high word first (ABCD);
- start address and count must be even, count 2..60, and every register of the
  block must exist: otherwise exception 02 (ILLEGAL DATA ADDRESS);
- FC03 on a measurement register gets exception 01 (measurements are not holding
  registers); holding registers served: system type 0x000A and serial 0xFC00 (uint32);
- function codes other than 03/04 get exception 01 (configuration writes are not
  simulated);
- a request for another unit id: on RTU framing no reply at all (the meter on the
  RS485 line stays silent, the client times out); on Modbus TCP framing the gateway
  answers exception 0x0B (gateway target device failed to respond), which is what
  a TCP/RTU gateway does when nobody on the line answers.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.datastore.context import ModbusBaseDeviceContext

from bench.sim.instruments.modbus_meter_sim import FRAMINGS, ModbusMeterServer, float32_words, uint32_words
from bench.sim.plant import Plant

MAX_REGISTERS_PER_REQUEST = 60
PHASES = (0, 1, 2)


def _va(plant: Plant, p: int) -> float:
    return plant.voltage_v(p) * plant.current_a(p)


def _var(plant: Plant, p: int) -> float:
    return math.sqrt(max(0.0, _va(plant, p) ** 2 - plant.power_w(p) ** 2))


# input register (0-based PDU address) -> value from the Plant; float32 each
# `...`: the per-phase getters bind their phase as a default argument (`lambda pl, p=p: ...`),
# which mypy cannot match to Callable[[Plant], float]; they are called with the Plant alone
INPUT_REGISTERS: dict[int, Callable[..., float]] = {
    **{0x0000 + 2 * p: (lambda pl, p=p: pl.voltage_v(p)) for p in PHASES},
    **{0x0006 + 2 * p: (lambda pl, p=p: pl.current_a(p)) for p in PHASES},
    **{0x000C + 2 * p: (lambda pl, p=p: pl.power_w(p)) for p in PHASES},
    **{0x0012 + 2 * p: (lambda pl, p=p: _va(pl, p)) for p in PHASES},
    **{0x0018 + 2 * p: (lambda pl, p=p: _var(pl, p)) for p in PHASES},
    **{0x001E + 2 * p: (lambda pl, p=p: pl.settings.power_factor) for p in PHASES},
    0x002A: lambda pl: sum(pl.voltage_v(p) for p in PHASES) / 3,  # average L-N voltage
    0x002E: lambda pl: sum(pl.current_a(p) for p in PHASES) / 3,  # average line current
    0x0030: lambda pl: sum(pl.current_a(p) for p in PHASES),  # sum of line currents
    0x0034: lambda pl: pl.total_power_w(),
    0x0038: lambda pl: sum(_va(pl, p) for p in PHASES),
    0x003C: lambda pl: sum(_var(pl, p) for p in PHASES),
    0x003E: lambda pl: pl.settings.power_factor,
    0x0046: lambda pl: pl.settings.frequency_hz,
    0x0048: lambda pl: pl.energy_wh() / 1000.0,  # total import, kWh
    0x004A: lambda pl: 0.0,  # total export, kWh: the bench only draws power
    0x0156: lambda pl: pl.energy_wh() / 1000.0,  # total active energy, kWh
    **{0x015A + 2 * p: (lambda pl, p=p: pl.energy_wh(p) / 1000.0) for p in PHASES},
}
SYSTEM_TYPE_3P4W = 3.0
SERIAL_NUMBER_REGISTER = 0xFC00


class Sdm630DeviceContext(ModbusBaseDeviceContext):
    """One meter's register space; `requests` keeps the last (fc, address, count) seen."""

    def __init__(self, plant: Plant, serial_number: int) -> None:
        self.plant = plant
        self.holding: dict[int, Callable[[], list[int]]] = {
            0x000A: lambda: float32_words(SYSTEM_TYPE_3P4W),
            SERIAL_NUMBER_REGISTER: lambda: uint32_words(serial_number),
        }
        self.requests: deque[tuple[int, int, int]] = deque(maxlen=256)

    def reset(self) -> None:
        self.requests.clear()

    def getValues(self, func_code: int, address: int, count: int = 1) -> list[int] | ExcCodes:
        self.requests.append((func_code, address, count))
        if func_code not in (3, 4):
            return ExcCodes.ILLEGAL_FUNCTION
        if address % 2 or count % 2 or not 0 < count <= MAX_REGISTERS_PER_REQUEST:
            return ExcCodes.ILLEGAL_ADDRESS
        starts = range(address, address + count, 2)
        if func_code == 3:
            if all(a in INPUT_REGISTERS and a not in self.holding for a in starts):
                return ExcCodes.ILLEGAL_FUNCTION
            if not all(a in self.holding for a in starts):
                return ExcCodes.ILLEGAL_ADDRESS
            return [w for a in starts for w in self.holding[a]()]
        if not all(a in INPUT_REGISTERS for a in starts):
            return ExcCodes.ILLEGAL_ADDRESS
        return [w for a in starts for w in float32_words(INPUT_REGISTERS[a](self.plant))]

    def setValues(self, func_code: int, address: int, values) -> ExcCodes:
        self.requests.append((func_code, address, len(values)))
        return ExcCodes.ILLEGAL_FUNCTION


__all__ = ["Sdm630Sim", "Sdm630DeviceContext", "INPUT_REGISTERS", "FRAMINGS", "float32_words", "uint32_words"]


class Sdm630Sim(ModbusMeterServer):
    """The meter behind a Modbus TCP (or RTU-over-TCP) gateway on host:port."""

    def __init__(
        self,
        plant: Plant,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        unit_id: int = 1,
        framing: str = "tcp",
        serial_number: int = 21_000_123,
    ) -> None:
        self.plant = plant
        super().__init__(Sdm630DeviceContext(plant, serial_number), host, port, unit_id=unit_id, framing=framing,
                         sim_name="sdm630")
