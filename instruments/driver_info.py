"""What the registry knows about a driver. Each driver module declares one `DRIVER = DriverInfo(...)`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from instruments.roles import Instrument

Role = Literal["power_meter", "ac_load", "ev_emulator"]
Transport = Literal["modbus", "scpi"]


@dataclass(frozen=True)
class DriverInfo:
    name: str  # the name `lab_config.yaml` uses in `driver:`
    role: Role
    cls: type[Instrument]
    transport: Transport
    description: str
    models: tuple[str, ...] = ()  # models this driver talks to (the `model:` values it accepts)
    accepts_instr: bool = False  # SCPI over VXI-11/HiSLIP (`TCPIP::...::INSTR`) besides raw sockets
