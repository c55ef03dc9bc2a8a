"""Simulators keyed by the same names as the drivers in `instruments/registry.py`.

`start_simulator()` starts one simulated instrument on host:port (port 0 binds an
ephemeral port) and returns where it listens as a driver address, so the virtual
lab differs from the real lab only in addresses.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from bench.sim.plant import Plant
from instruments.sim.chroma_63800_sim import DEFAULT_MODEL as DEFAULT_CHROMA_MODEL
from instruments.sim.chroma_63800_sim import MODELS as CHROMA_MODELS
from instruments.sim.chroma_63800_sim import Chroma63800Sim
from instruments.sim.ev_emulator_sim import EvEmulatorSim
from instruments.sim.scpi_server import ScpiServer
from instruments.sim.sdm630_sim import Sdm630Sim


@dataclass
class RunningSimulator:
    driver: str
    host: str
    port: int
    address: str
    device: object  # the simulated instrument (ScpiDevice or Sdm630Sim), for tests and fault injection
    _close: Callable[[], Awaitable[None]] = field(repr=False)

    async def close(self) -> None:
        await self._close()


StartFn = Callable[..., Awaitable[RunningSimulator]]


@dataclass(frozen=True)
class SimulatorInfo:
    driver: str
    transport: Literal["modbus", "scpi"]
    start: StartFn
    description: str


async def _start_scpi(driver: str, device, host: str, port: int) -> RunningSimulator:
    server = ScpiServer(device, host, port)
    await server.start()
    return RunningSimulator(
        driver=driver,
        host=host,
        port=server.port,
        address=f"TCPIP::{host}::{server.port}::SOCKET",
        device=device,
        _close=server.close,
    )


def _check_model(driver: str, model: str | None, known: tuple[str, ...]) -> None:
    if model is not None and model.upper() not in known:
        raise ValueError(f"{driver} simulator: model {model!r} is not simulated; known: {', '.join(known)}")


async def _start_sdm630(
    plant: Plant, host: str, port: int, *, unit_id: int, framing: str, model: str | None, **_
) -> RunningSimulator:
    _check_model("eastron_sdm630", model, ("SDM630",))
    sim = Sdm630Sim(plant, host, port, unit_id=unit_id, framing=framing)
    await sim.start()
    return RunningSimulator(
        driver="eastron_sdm630", host=host, port=sim.port, address=sim.address, device=sim, _close=sim.close
    )


async def _start_chroma(
    plant: Plant, host: str, port: int, *, phase: int | None, model: str | None, **_
) -> RunningSimulator:
    if phase is None:
        raise ValueError("chroma_63800 simulator needs phase=1..3 (the Plant phase the load sits on)")
    _check_model("chroma_63800", model, tuple(CHROMA_MODELS))
    device = Chroma63800Sim(plant, phase, model=model or DEFAULT_CHROMA_MODEL)
    return await _start_scpi("chroma_63800", device, host, port)


async def _start_ev(plant: Plant, host: str, port: int, *, model: str | None, **_) -> RunningSimulator:
    _check_model("reference_ev_emulator", model, ("REF-EV-EMULATOR",))
    return await _start_scpi("reference_ev_emulator", EvEmulatorSim(plant), host, port)


SIMULATORS: dict[str, SimulatorInfo] = {
    "eastron_sdm630": SimulatorInfo(
        "eastron_sdm630", "modbus", _start_sdm630, "SDM630 meter behind a Modbus TCP or RTU-over-TCP gateway"
    ),
    "chroma_63800": SimulatorInfo("chroma_63800", "scpi", _start_chroma, "Chroma 63802/63803/63804 AC load on one Plant phase"),
    "reference_ev_emulator": SimulatorInfo(
        "reference_ev_emulator", "scpi", _start_ev, "EV emulator with the bench's reference SCPI command set"
    ),
}

SCPI_FRAMINGS = ("tcp",)
MODBUS_FRAMINGS = ("tcp", "rtu-over-tcp", "rtu")  # "rtu" = "rtu-over-tcp"


async def start_simulator(
    driver: str,
    plant: Plant,
    host: str,
    port: int,
    *,
    phase: int | None = None,
    unit_id: int = 1,
    framing: str = "tcp",
    model: str | None = None,
) -> RunningSimulator:
    """Start the simulator for `driver`. `phase` (1..3) is needed by the AC load;
    `unit_id` and `framing` ("tcp" or "rtu-over-tcp", alias "rtu") apply to Modbus
    instruments; `model` picks the simulated model where a driver covers several
    (chroma_63800: "63802", "63803", "63804" (default)), None = the default."""
    info = SIMULATORS.get(driver)
    if info is None:
        raise KeyError(f"no simulator for driver {driver!r}; known: {', '.join(sorted(SIMULATORS))}")
    allowed = MODBUS_FRAMINGS if info.transport == "modbus" else SCPI_FRAMINGS
    if framing not in allowed:
        raise ValueError(f"{driver} simulator: framing must be one of {allowed}, got {framing!r}")
    return await info.start(plant, host, port, phase=phase, unit_id=unit_id, framing=framing, model=model)
