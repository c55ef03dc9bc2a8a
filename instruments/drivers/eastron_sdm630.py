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

from instruments.driver_info import DriverInfo
from instruments.drivers.modbus_meter import Block, ModbusMeter, RegisterMap, Value
from instruments.roles import Identity
from instruments.transports.modbus import ModbusExceptionError, decode

# ---- register map (input registers, 0-based PDU address, float32 ABCD) -------------
VOLTAGE_V = (0x0000, 0x0002, 0x0004)  # L1-N, L2-N, L3-N
CURRENT_A = (0x0006, 0x0008, 0x000A)
POWER_W = (0x000C, 0x000E, 0x0010)
POWER_TOTAL_W = 0x0034
FREQUENCY_HZ = 0x0046
ENERGY_IMPORT_KWH = 0x0048
SERIAL_NUMBER_HOLDING = 0xFC00  # uint32, two holding registers
MAX_REGISTERS_PER_REQUEST = 60

MAP = RegisterMap(
    function_code=4,
    voltage_v=tuple(Value(a) for a in VOLTAGE_V),
    current_a=tuple(Value(a) for a in CURRENT_A),
    power_w=tuple(Value(a) for a in POWER_W),
    power_total_w=Value(POWER_TOTAL_W),
    frequency_hz=Value(FREQUENCY_HZ),
    energy_import_wh=Value(ENERGY_IMPORT_KWH, scale=1000.0),  # kWh register
    # Gap-free blocks covering everything read() needs: 3 requests per reading.
    blocks=(
        Block(0x0000, 0x12),  # V, I, P per phase (0x0000..0x0011)
        Block(POWER_TOTAL_W, 2),
        Block(FREQUENCY_HZ, 4),  # frequency + total import energy (0x0046..0x0049)
    ),
)
PRESENCE_BLOCK = Block(VOLTAGE_V[0], 2)

MAP.check(MAX_REGISTERS_PER_REQUEST)
for _b in MAP.blocks:  # the meter's rules, checked once at import
    assert _b.start % 2 == 0 and _b.count % 2 == 0, _b


class EastronSdm630(ModbusMeter):
    VENDOR = "Eastron"
    MODEL = "SDM630"
    DRIVER_NAME = "eastron_sdm630"
    MAP = MAP

    async def identify(self) -> Identity:
        await self.transport.read_input_registers(PRESENCE_BLOCK.start, PRESENCE_BLOCK.count)
        try:
            regs = await self.transport.read_holding_registers(SERIAL_NUMBER_HOLDING, 2)
            serial: str | None = str(decode(regs, "uint32")[0])
        except ModbusExceptionError:  # some gateways/firmware do not expose it
            serial = None
        return Identity(vendor=self.VENDOR, model=self.MODEL, serial=serial)


DRIVER = DriverInfo(
    name="eastron_sdm630",
    role="power_meter",
    cls=EastronSdm630,
    transport="modbus",
    description="Eastron SDM630 three-phase energy meter, Modbus TCP or RTU over TCP",
    models=("SDM630",),
)
