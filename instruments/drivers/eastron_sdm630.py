"""Eastron SDM630 (v2) three-phase energy meter over Modbus: the reference `PowerMeter`.

Measurements are input registers (function code 04), IEEE754 float32 in two
registers, high word first. Start address and count must both be even and a
request may cover at most 60 registers, so the meter is read in a few
gap-free blocks declared below. The meter has no *IDN; its serial number is a
uint32 in holding registers 0xFC00/0xFC01 (function code 03).

Address: `modbus+tcp://host:502?unit=1` (Modbus TCP gateway) or
`modbus+rtu-over-tcp://host:port?unit=1` (transparent RS485 gateway).
"""
from __future__ import annotations

from dataclasses import dataclass

from instruments.roles import Identity, PowerMeter, PowerMeterReading, Ratings
from instruments.transports.modbus import ModbusExceptionError, ModbusTransport

# ---- register map (input registers, 0-based PDU address, float32 ABCD) -------------
VOLTAGE_V = (0x0000, 0x0002, 0x0004)  # L1-N, L2-N, L3-N
CURRENT_A = (0x0006, 0x0008, 0x000A)
POWER_W = (0x000C, 0x000E, 0x0010)
POWER_TOTAL_W = 0x0034
FREQUENCY_HZ = 0x0046
ENERGY_IMPORT_KWH = 0x0048
SERIAL_NUMBER_HOLDING = 0xFC00  # uint32, two holding registers
MAX_REGISTERS_PER_REQUEST = 60


@dataclass(frozen=True)
class Block:
    start: int
    count: int


# Gap-free blocks covering everything read() needs: 3 requests per reading.
READ_BLOCKS = (
    Block(0x0000, 0x12),  # V, I, P per phase (0x0000..0x0011)
    Block(POWER_TOTAL_W, 2),
    Block(FREQUENCY_HZ, 4),  # frequency + total import energy (0x0046..0x0049)
)
PRESENCE_BLOCK = Block(VOLTAGE_V[0], 2)

for _b in READ_BLOCKS:  # the meter's rules, checked once at import
    assert _b.start % 2 == 0 and _b.count % 2 == 0 and 0 < _b.count <= MAX_REGISTERS_PER_REQUEST, _b


class EastronSdm630(PowerMeter):
    def __init__(self, name: str, address: str, ratings: Ratings | None = None, **options) -> None:
        if options:
            raise TypeError(f"{name}: eastron_sdm630 takes no options, got {sorted(options)}")
        super().__init__(name, address, ratings)
        self.transport = ModbusTransport(name, address)

    async def open(self) -> None:
        await self.transport.open()

    async def close(self) -> None:
        await self.transport.close()

    async def safe_state(self) -> None:
        """A meter only measures: nothing to switch off."""

    async def identify(self) -> Identity:
        await self.transport.read_input_registers(PRESENCE_BLOCK.start, PRESENCE_BLOCK.count)
        try:
            regs = await self.transport.read_holding_registers(SERIAL_NUMBER_HOLDING, 2)
            serial: str | None = str(ModbusTransport.uint32s(regs)[0])
        except ModbusExceptionError:  # some gateways/firmware do not expose it
            serial = None
        return Identity(vendor="Eastron", model="SDM630", serial=serial)

    async def read(self) -> PowerMeterReading:
        values: dict[int, float] = {}
        for block in READ_BLOCKS:
            regs = await self.transport.read_input_registers(block.start, block.count)
            for i, value in enumerate(ModbusTransport.float32s(regs)):
                values[block.start + 2 * i] = value
        return PowerMeterReading(
            voltage_v=[values[a] for a in VOLTAGE_V],
            current_a=[values[a] for a in CURRENT_A],
            power_w=[values[a] for a in POWER_W],
            power_total_w=values[POWER_TOTAL_W],
            energy_import_wh=values[ENERGY_IMPORT_KWH] * 1000.0,
            frequency_hz=values[FREQUENCY_HZ],
        )
