"""Carlo Gavazzi EM24 energy meter over Modbus: a `PowerMeter`.

Measurements are input registers (function code 04). 32-bit values are INT32
with the LOW word first (pymodbus `word_order="little"`) and fixed scaling:
voltage /10 V, current /1000 A, power /10 W, frequency INT16 /10 Hz, energy
/10 kWh. The identification code is holding register 0x000B (function code 03);
EM24 DIN variants answer 1648..1653 (check against the manual for your variant).

Resolution: the import energy register counts 0.1 kWh, i.e. 100 Wh steps. That is
too coarse to judge a charger's Wh register over a short load point; use an EM24
for currents and power, or over long metering scenarios. EM330/EM340 use another
identification code and put import energy at 0x34: they need their own map.

Address: `modbus+tcp://host:502?unit=1` or `modbus+rtu-over-tcp://host:port?unit=N`.
"""
from __future__ import annotations

from instruments.driver_info import DriverInfo
from instruments.drivers.modbus_meter import Block, ModbusMeter, RegisterMap, Value
from instruments.roles import Identity, InstrumentError
from instruments.transports.modbus import decode

# ---- register map (input registers, INT32 low word first, scaled) --------------------
VOLTAGE_V = (0x00, 0x02, 0x04)  # /10 V
CURRENT_A = (0x0C, 0x0E, 0x10)  # /1000 A
POWER_W = (0x12, 0x14, 0x16)  # /10 W
POWER_TOTAL_W = 0x28  # /10 W
FREQUENCY_HZ = 0x37  # INT16 /10 Hz
ENERGY_IMPORT_KWH = 0x42  # /10 kWh
ID_CODE_HOLDING = 0x000B  # INT16, function code 03
EM24_ID_CODES = {1648, 1649, 1650, 1651, 1652, 1653}  # (check)


def _int32(address: int, scale: float) -> Value:
    return Value(address, "int32", scale, word_order="little")


MAP = RegisterMap(
    function_code=4,
    voltage_v=tuple(_int32(a, 0.1) for a in VOLTAGE_V),
    current_a=tuple(_int32(a, 0.001) for a in CURRENT_A),
    power_w=tuple(_int32(a, 0.1) for a in POWER_W),
    power_total_w=_int32(POWER_TOTAL_W, 0.1),
    frequency_hz=Value(FREQUENCY_HZ, "int16", 0.1),
    energy_import_wh=_int32(ENERGY_IMPORT_KWH, 100.0),  # 0.1 kWh = 100 Wh per count
    blocks=(
        Block(0x00, 0x18),  # V L-N, V L-L, I, P per phase (0x00..0x17)
        Block(POWER_TOTAL_W, 2),
        Block(0x32, 6),  # PF L1..L3, PF sys, phase sequence, Hz (0x32..0x37)
        Block(ENERGY_IMPORT_KWH, 2),
    ),
)
MAP.check()


class CarloGavazziEm24(ModbusMeter):
    VENDOR = "Carlo Gavazzi"
    MODEL = "EM24"
    DRIVER_NAME = "carlo_gavazzi_em24"
    MAP = MAP
    ENERGY_RESOLUTION_WH = 100.0

    async def identify(self) -> Identity:
        regs = await self.transport.read_holding_registers(ID_CODE_HOLDING, 1)
        code = int(decode(regs, "int16")[0])
        if code not in EM24_ID_CODES:
            raise InstrumentError(
                f"{self.name}: identification code (holding 0x{ID_CODE_HOLDING:04X}) is {code}: "
                f"not an EM24 (expected one of {sorted(EM24_ID_CODES)})"
            )
        return Identity(vendor=self.VENDOR, model=self.MODEL, serial=None, firmware=None)


DRIVER = DriverInfo(
    name="carlo_gavazzi_em24",
    role="power_meter",
    cls=CarloGavazziEm24,
    transport="modbus",
    description="Carlo Gavazzi EM24 energy meter, Modbus TCP or RTU over TCP (INT32 low word first, scaled)",
    models=("EM24",),
)
