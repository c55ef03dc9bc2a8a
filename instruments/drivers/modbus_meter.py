"""Shared machinery for power meters read over Modbus: a register map declared as data.

A meter driver module declares its `RegisterMap` at the top (which function code,
where each quantity lives, its data type, word order and scale to the unit in the
field name) and the blocks that cover it; `ModbusMeter` reads the blocks, decodes
every value and builds the `PowerMeterReading`. A register that reads NaN (the
meter has no value) becomes `None`: never invented.

This module is not a driver itself (it declares no `DRIVER`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from instruments.roles import Identity, InstrumentError, PowerMeter, PowerMeterReading, Ratings
from instruments.transports.modbus import REGISTERS_PER_VALUE, DataType, ModbusTransport, WordOrder, decode

PLAUSIBLE_FREQUENCY_HZ = (40.0, 70.0)  # a meter without voltage may read 0 Hz


@dataclass(frozen=True)
class Value:
    """One quantity in the register map: `raw * scale` is in the unit of the field name."""

    address: int
    datatype: DataType = "float32"
    scale: float = 1.0
    word_order: WordOrder = "big"

    @property
    def count(self) -> int:
        return REGISTERS_PER_VALUE[self.datatype]


@dataclass(frozen=True)
class Block:
    """One read request: `count` registers from `start`."""

    start: int
    count: int

    def covers(self, value: Value) -> bool:
        return self.start <= value.address and value.address + value.count <= self.start + self.count


@dataclass(frozen=True)
class RegisterMap:
    function_code: int  # 3 = holding registers, 4 = input registers
    voltage_v: tuple[Value, ...]  # per phase, L-N
    current_a: tuple[Value, ...]
    power_w: tuple[Value, ...]
    power_total_w: Value | None
    frequency_hz: Value | None
    energy_import_wh: Value | None
    blocks: tuple[Block, ...]  # the requests of one reading, in order

    def values(self) -> list[Value]:
        scalars = (self.power_total_w, self.frequency_hz, self.energy_import_wh)
        return [*self.voltage_v, *self.current_a, *self.power_w, *(v for v in scalars if v is not None)]

    def check(self, max_registers: int = 125) -> None:
        """Every value inside exactly one block, every block within the request limit."""
        for block in self.blocks:
            if not 0 < block.count <= max_registers:
                raise ValueError(f"block {block} exceeds {max_registers} registers")
        for value in self.values():
            if not any(b.covers(value) for b in self.blocks):
                raise ValueError(f"{value} is not covered by any block")


class ModbusMeter(PowerMeter):
    """A `PowerMeter` whose whole reading is described by `MAP`. Subclasses set VENDOR, MODEL,
    DRIVER_NAME and MAP, and may override `identify()` with the meter's own identity registers."""

    VENDOR = ""
    MODEL = ""
    DRIVER_NAME = ""
    MAP: RegisterMap
    ENERGY_RESOLUTION_WH: float | None = None  # the energy register's step, where it is coarse (EM24: 100 Wh)

    def __init__(self, name: str, address: str, ratings: Ratings | None = None, **options) -> None:
        if options:
            raise TypeError(f"{name}: {self.DRIVER_NAME} takes no options, got {sorted(options)}")
        super().__init__(name, address, ratings)
        self.transport = ModbusTransport(name, address)

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    async def safe_state(self) -> None:
        """A meter only measures: nothing to switch off."""

    async def identify(self) -> Identity:
        """Without identity registers, the register layout is the identity: the frequency
        register must exist and read a mains frequency (or 0 Hz without voltage)."""
        await self.check_layout()
        return Identity(vendor=self.VENDOR, model=self.MODEL)

    async def check_layout(self) -> None:
        value = self.MAP.frequency_hz
        if value is None:
            return
        regs = await self.transport.read_registers(self.MAP.function_code, value.address, value.count)
        hz = self._decode(value, regs)
        if hz is not None and hz != 0.0 and not PLAUSIBLE_FREQUENCY_HZ[0] <= hz <= PLAUSIBLE_FREQUENCY_HZ[1]:
            raise InstrumentError(
                f"{self.name}: register {value.address} (frequency) reads {hz:g}: "
                f"not the register layout of a {self.VENDOR} {self.MODEL} at {self.address}"
            )

    async def read(self) -> PowerMeterReading:
        words: dict[int, int] = {}
        for block in self.MAP.blocks:
            regs = await self.transport.read_registers(self.MAP.function_code, block.start, block.count)
            words.update(zip(range(block.start, block.start + block.count), regs))

        def get(value: Value | None) -> float | None:
            if value is None:
                return None
            return self._decode(value, [words[a] for a in range(value.address, value.address + value.count)])

        m = self.MAP
        return PowerMeterReading(
            voltage_v=[get(v) for v in m.voltage_v],
            current_a=[get(v) for v in m.current_a],
            power_w=[get(v) for v in m.power_w],
            power_total_w=get(m.power_total_w),
            energy_import_wh=get(m.energy_import_wh),
            frequency_hz=get(m.frequency_hz),
        )

    @staticmethod
    def _decode(value: Value, regs: list[int]) -> float | None:
        raw = float(decode(regs, value.datatype, value.word_order)[0])
        return None if math.isnan(raw) or math.isinf(raw) else raw * value.scale
