"""What the bench needs from its instruments, independent of make and model.

The bench core only talks to these roles. A driver module implements one role
for one instrument model; it never knows whether the instrument is simulated.
Readings are typed dataclasses with units in their field names. A quantity the
instrument does not provide is `None`, never invented.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field


class InstrumentError(RuntimeError):
    """The instrument failed (timeout, exception response, malformed reply, lost link).

    A bench ERROR, never a charger FAIL. The message names the instrument, the
    command or register, and what came back.
    """


class LinkLost(InstrumentError):
    """The link to the instrument is gone and the transport's bounded reconnects failed: no later
    read will do better, so the run stops using it at once."""


class RatingError(InstrumentError):
    """A command would exceed the ratings stated in the config; nothing was sent."""


@dataclass(frozen=True)
class Identity:
    vendor: str
    model: str
    serial: str | None = None
    firmware: str | None = None


@dataclass(frozen=True)
class PowerMeterReading:
    voltage_v: list[float | None] = field(default_factory=list)  # per phase, L-N
    current_a: list[float | None] = field(default_factory=list)  # per phase
    power_w: list[float | None] = field(default_factory=list)  # per phase
    power_total_w: float | None = None
    energy_import_wh: float | None = None
    frequency_hz: float | None = None


@dataclass(frozen=True)
class AcLoadReading:
    current_a: float | None
    power_w: float | None
    voltage_v: float | None
    enabled: bool


@dataclass(frozen=True)
class EvEmulatorReading:
    cp_state: str  # IEC 61851-1 state letter the emulator applies/sees: A..F
    pwm_duty_pct: float  # duty measured on CP; 100 = no charging allowed, 0 = no PWM
    offered_current_a: float  # Annex A mapping of the measured duty
    cp_voltage_v: float | None = None


@dataclass(frozen=True)
class Ratings:
    """Limits from the config that the bench must never command beyond."""

    max_current_a: float | None = None
    max_power_w: float | None = None
    max_voltage_v: float | None = None


class Instrument(abc.ABC):
    """Common lifecycle. Drivers do blocking or async I/O behind these async methods,
    each instrument serialised by its own lock."""

    expected_model: str | None = None  # the model the config expects; set by registry.create_instrument

    def __init__(self, name: str, address: str, ratings: Ratings | None = None) -> None:
        self.name = name
        self.address = address
        self.ratings = ratings or Ratings()

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def identify(self) -> Identity: ...

    @abc.abstractmethod
    async def safe_state(self) -> None:
        """Put the instrument in its safe state (load off, EV unplugged). Must be idempotent."""


class PowerMeter(Instrument):
    @abc.abstractmethod
    async def read(self) -> PowerMeterReading: ...


class AcLoad(Instrument):
    """One programmable AC load. A three-phase bench has one per phase."""

    @abc.abstractmethod
    async def set_current(self, current_a: float) -> None:
        """Constant-current setpoint in A rms; raises RatingError beyond ratings."""

    @abc.abstractmethod
    async def set_enabled(self, on: bool) -> None: ...

    @abc.abstractmethod
    async def read(self) -> AcLoadReading: ...

    async def safe_state(self) -> None:
        await self.set_enabled(False)


class EvEmulator(Instrument):
    @abc.abstractmethod
    async def set_cp_state(self, state: str) -> None:
        """Apply an IEC 61851-1 EV-side state: A (unplugged), B, C, D, E."""

    @abc.abstractmethod
    async def read(self) -> EvEmulatorReading: ...

    async def safe_state(self) -> None:
        await self.set_cp_state("A")


def check_rating(instrument: Instrument, *, current_a: float | None = None, power_w: float | None = None) -> None:
    """Raise RatingError before sending a setpoint beyond the configured ratings."""
    r = instrument.ratings
    if current_a is not None and r.max_current_a is not None and current_a > r.max_current_a:
        raise RatingError(f"{instrument.name}: {current_a:.2f} A exceeds its rating of {r.max_current_a} A")
    if power_w is not None and r.max_power_w is not None and power_w > r.max_power_w:
        raise RatingError(f"{instrument.name}: {power_w:.0f} W exceeds its rating of {r.max_power_w} W")
    if current_a is not None and current_a < 0:
        raise RatingError(f"{instrument.name}: negative current setpoint {current_a} A")
