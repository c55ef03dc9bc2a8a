"""Janitza UMG 604 power analyser over Modbus: a `PowerMeter`.

The UMG 604 serves its measurement table through function codes 03 and 04 (and
06/16 for configuration); addresses are used exactly as written in Janitza's
list (19000, not 18999). Values are float32, high word first; the same table
appears again word-swapped at address + 32768. The table refreshes every 200 ms,
so a reading may be up to 200 ms old. Energies are in Wh.

The meter reports no model through this table, so `identify()` checks the
layout: the frequency register must read a mains frequency. Address:
`modbus+tcp://host:502?unit=1` or `modbus+rtu-over-tcp://host:port?unit=N`.
"""
from __future__ import annotations

from instruments.driver_info import DriverInfo
from instruments.drivers.modbus_meter import Block, ModbusMeter, RegisterMap, Value

# ---- register map (holding registers, float32 ABCD, addresses as documented) --------
VOLTAGE_V = (19000, 19002, 19004)  # L1-N, L2-N, L3-N
CURRENT_A = (19012, 19014, 19016)
POWER_W = (19020, 19022, 19024)
POWER_TOTAL_W = 19026
FREQUENCY_HZ = 19050
ENERGY_TOTAL_WH = 19060
ENERGY_IMPORT_WH = 19068  # "consumed" active energy
ENERGY_EXPORT_WH = 19076
WORD_SWAPPED_OFFSET = 32768  # address + 32768: the same value, low word first
REFRESH_S = 0.2

MAP = RegisterMap(
    function_code=3,
    voltage_v=tuple(Value(a) for a in VOLTAGE_V),
    current_a=tuple(Value(a) for a in CURRENT_A),
    power_w=tuple(Value(a) for a in POWER_W),
    power_total_w=Value(POWER_TOTAL_W),
    frequency_hz=Value(FREQUENCY_HZ),
    energy_import_wh=Value(ENERGY_IMPORT_WH),
    blocks=(
        Block(19000, 28),  # V, V L-L, I, I sum, P per phase, P total (19000..19027)
        Block(19050, 20),  # frequency .. import energy (19050..19069)
    ),
)
MAP.check()


class JanitzaUmg604(ModbusMeter):
    VENDOR = "Janitza"
    MODEL = "UMG604"
    DRIVER_NAME = "janitza_umg604"
    MAP = MAP


DRIVER = DriverInfo(
    name="janitza_umg604",
    role="power_meter",
    cls=JanitzaUmg604,
    transport="modbus",
    description="Janitza UMG 604 power analyser, Modbus TCP or RTU over TCP (float32, addresses as written)",
    models=("UMG604",),
)
