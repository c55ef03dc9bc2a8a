"""What the registry knows about a driver. Each driver module declares one `DRIVER = DriverInfo(...)`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from instruments.roles import Instrument, Ratings

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
    # what each model can take at most (its datasheet): the config's `ratings` may not exceed it
    model_ratings: Mapping[str, Ratings] = field(default_factory=dict, hash=False)

    def capability(self, model: str | None) -> Ratings | None:
        """The most `model` can take; for no model, the largest of the driver's models (None: unknown)."""
        if model is not None:
            wanted = _normal(model)
            return next((r for m, r in self.model_ratings.items() if wanted.startswith(_normal(m))), None)
        if not self.model_ratings:
            return None
        return Ratings(*(_largest([getattr(r, f) for r in self.model_ratings.values()])
                         for f in ("max_current_a", "max_power_w", "max_voltage_v")))


def _normal(model: str) -> str:
    return "".join(c for c in model.upper() if c.isalnum())


def _largest(values: list[float | None]) -> float | None:
    """None (not stated) when any model leaves it unstated."""
    return None if None in values else max(v for v in values if v is not None)
