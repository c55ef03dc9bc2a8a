"""Which driver implements which role: the names `lab_config.yaml` uses in `driver:`.

A lab adds a model by writing one driver module (see
`instruments/drivers/reference_ev_emulator.py` for the recipe) and adding one
entry here, or by calling `register_driver()` from its own code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from instruments.drivers.chroma_63800 import Chroma63800
from instruments.drivers.eastron_sdm630 import EastronSdm630
from instruments.drivers.reference_ev_emulator import ReferenceEvEmulator
from instruments.roles import Instrument, Ratings

Role = Literal["power_meter", "ac_load", "ev_emulator"]
Transport = Literal["modbus", "scpi"]


@dataclass(frozen=True)
class DriverInfo:
    name: str
    role: Role
    cls: type[Instrument]
    transport: Transport
    description: str


DRIVERS: dict[str, DriverInfo] = {
    "eastron_sdm630": DriverInfo(
        name="eastron_sdm630",
        role="power_meter",
        cls=EastronSdm630,
        transport="modbus",
        description="Eastron SDM630 three-phase energy meter, Modbus TCP or RTU over TCP",
    ),
    "chroma_63800": DriverInfo(
        name="chroma_63800",
        role="ac_load",
        cls=Chroma63800,
        transport="scpi",
        description="Chroma 63802/63803/63804 AC load, one unit per phase (option: phase 1..3)",
    ),
    "reference_ev_emulator": DriverInfo(
        name="reference_ev_emulator",
        role="ev_emulator",
        cls=ReferenceEvEmulator,
        transport="scpi",
        description="EV emulator speaking the bench's reference SCPI command set",
    ),
}


def register_driver(info: DriverInfo) -> None:
    """Add a lab's own driver; refuses to silently replace an existing name."""
    if info.name in DRIVERS and DRIVERS[info.name] != info:
        raise ValueError(f"driver {info.name!r} is already registered ({DRIVERS[info.name].cls.__name__})")
    DRIVERS[info.name] = info


def create_instrument(name: str, driver: str, address: str, ratings: Ratings | None = None, **options) -> Instrument:
    """Build (not open) the instrument `name` with the driver named in the config."""
    info = DRIVERS.get(driver)
    if info is None:
        raise KeyError(f"instrument {name!r}: unknown driver {driver!r}; known drivers: {', '.join(sorted(DRIVERS))}")
    return info.cls(name, address, ratings, **options)
