"""Siemens SENTRON PAC2200 power meter over Modbus: a `PowerMeter`.

Measurements are holding registers (function code 03) at the offsets of
Siemens' list: float32 high word first, energy counters float64 (4 registers)
in Wh. A request must start at the first register of a value and cover whole
values (check). The meter identifies itself through Read Device Identification
(function code 43/14, regular objects): vendor "Siemens", product name
"SENTRON PAC2200" or an order number 7KM2200-... as product code (check).

Address: `modbus+tcp://host:502?unit=1` (the PAC2200 speaks Modbus TCP itself)
or `modbus+rtu-over-tcp://host:port?unit=N` (the RS485 variant behind a gateway).
"""
from __future__ import annotations

from instruments.driver_info import DriverInfo
from instruments.drivers.modbus_meter import Block, ModbusMeter, RegisterMap, Value
from instruments.roles import Identity, InstrumentError

# ---- register map (holding registers, offsets as documented by Siemens) ---------------
VOLTAGE_V = (1, 3, 5)  # L1-N, L2-N, L3-N, float32
CURRENT_A = (13, 15, 17)
POWER_W = (25, 27, 29)
FREQUENCY_HZ = 55
POWER_TOTAL_W = 65
ENERGY_IMPORT_WH = 801  # active energy import, tariff 1, float64 Wh
ENERGY_EXPORT_WH = 809
ORDER_NUMBER_PREFIX = "7KM2200"  # the product code a PAC2200 reports (check)

MAP = RegisterMap(
    function_code=3,
    voltage_v=tuple(Value(a) for a in VOLTAGE_V),
    current_a=tuple(Value(a) for a in CURRENT_A),
    power_w=tuple(Value(a) for a in POWER_W),
    power_total_w=Value(POWER_TOTAL_W),
    frequency_hz=Value(FREQUENCY_HZ),
    energy_import_wh=Value(ENERGY_IMPORT_WH, "float64"),
    blocks=(
        Block(1, 30),  # V L-N, V L-L, I, VA, P per phase (1..30)
        Block(FREQUENCY_HZ, 12),  # frequency .. total active power (55..66)
        Block(ENERGY_IMPORT_WH, 4),
    ),
)
MAP.check()


class SiemensPac2200(ModbusMeter):
    VENDOR = "Siemens"
    MODEL = "PAC2200"
    DRIVER_NAME = "siemens_pac2200"
    MAP = MAP

    async def identify(self) -> Identity:
        info = await self.transport.read_device_identification(read_code=2)
        vendor, code = info.get("vendor", ""), info.get("product_code", "")
        names = " ".join(info.get(k, "") for k in ("product_name", "model_name")).upper().replace(" ", "")
        if "siemens" not in vendor.lower() or not ("PAC2200" in names or code.upper().startswith(ORDER_NUMBER_PREFIX)):
            raise InstrumentError(
                f"{self.name}: read device identification answered vendor {vendor!r}, product code {code!r}, "
                f"name {info.get('product_name', '')!r}: not a Siemens PAC2200"
            )
        return Identity(vendor=vendor, model=self.MODEL, serial=None, firmware=info.get("revision") or None)


DRIVER = DriverInfo(
    name="siemens_pac2200",
    role="power_meter",
    cls=SiemensPac2200,
    transport="modbus",
    description="Siemens SENTRON PAC2200 power meter, Modbus TCP (float32, energy float64 in Wh)",
    models=("PAC2200",),
)
