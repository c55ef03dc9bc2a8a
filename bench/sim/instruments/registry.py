"""Simulators keyed by the same names as the drivers in `instruments/registry.py`.

`start_simulator()` starts one simulated instrument on host:port (port 0 binds an
ephemeral port) and returns where it listens as a driver address, so the virtual
lab differs from the real lab only in addresses.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from bench.sim.instruments import chroma_63800_sim, it8615_sim, pw3335_sim, wt300_sim
from bench.sim.instruments.chroma_63800_sim import Chroma63800Sim
from bench.sim.instruments.em24_sim import Em24Sim
from bench.sim.instruments.ev_emulator_sim import EvEmulatorSim
from bench.sim.instruments.it8615_sim import It8615Sim
from bench.sim.instruments.janitza_umg604_sim import Umg604Sim
from bench.sim.instruments.pac2200_sim import Pac2200Sim
from bench.sim.instruments.pw3335_sim import Pw3335Sim
from bench.sim.instruments.scpi_server import ScpiServer
from bench.sim.instruments.sdm630_sim import Sdm630Sim
from bench.sim.instruments.vxi11_server import Vxi11Server
from bench.sim.instruments.wt300_sim import Wt300Sim
from bench.sim.plant import Plant


@dataclass
class RunningSimulator:
    driver: str
    host: str
    port: int
    address: str
    device: object  # the simulated instrument (ScpiDevice or Modbus server), for tests and fault injection
    _close: Callable[[], Awaitable[None]] = field(repr=False)

    async def close(self) -> None:
        await self._close()


StartFn = Callable[..., Awaitable[RunningSimulator]]

SCPI_SOCKET = ("tcp",)
SCPI_ANY = ("tcp", "vxi11")  # raw socket or VXI-11 (INSTR)
MODBUS_FRAMINGS = ("tcp", "rtu-over-tcp", "rtu")  # "rtu" = "rtu-over-tcp"


@dataclass(frozen=True)
class SimulatorInfo:
    driver: str
    transport: Literal["modbus", "scpi"]
    start: StartFn
    description: str
    framings: tuple[str, ...] = SCPI_SOCKET
    models: tuple[str, ...] = ()  # simulated models; the first one is the default


async def _start_scpi(driver: str, device, host: str, port: int, framing: str = "tcp") -> RunningSimulator:
    server: Vxi11Server | ScpiServer
    if framing == "vxi11":
        server = Vxi11Server(device, host, port)
        await server.start()
        address = f"TCPIP::{host},{server.port}::INSTR"
    else:
        server = ScpiServer(device, host, port)
        await server.start()
        address = f"TCPIP::{host}::{server.port}::SOCKET"
    return RunningSimulator(driver=driver, host=host, port=server.port, address=address, device=device,
                            _close=server.close)


def _model(driver: str, model: str | None, known: tuple[str, ...]) -> str:
    if model is None:
        return known[0]
    if model.upper() not in known:
        raise ValueError(f"{driver} simulator: model {model!r} is not simulated; known: {', '.join(known)}")
    return model.upper()


def _need_phase(driver: str, phase: int | None) -> int:
    if phase is None:
        raise ValueError(f"{driver} simulator needs phase=1..3 (the Plant phase the load sits on)")
    return phase


async def _start_modbus(driver: str, server) -> RunningSimulator:
    await server.start()
    return RunningSimulator(driver=driver, host=server.host, port=server.port, address=server.address,
                            device=server, _close=server.close)


def _modbus_start(driver: str, cls, known: tuple[str, ...]) -> StartFn:
    async def start(plant: Plant, host: str, port: int, *, unit_id: int, framing: str, model: str | None,
                    **_) -> RunningSimulator:
        _model(driver, model, known)
        return await _start_modbus(driver, cls(plant, host, port, unit_id=unit_id, framing=framing))
    return start


async def _start_chroma(plant: Plant, host: str, port: int, *, phase: int | None, model: str | None,
                        **_) -> RunningSimulator:
    phase = _need_phase("chroma_63800", phase)
    chosen = _model("chroma_63800", model or chroma_63800_sim.DEFAULT_MODEL, tuple(chroma_63800_sim.MODELS))
    return await _start_scpi("chroma_63800", Chroma63800Sim(plant, phase, model=chosen), host, port)


async def _start_itech(plant: Plant, host: str, port: int, *, phase: int | None, model: str | None,
                       **_) -> RunningSimulator:
    phase = _need_phase("itech_it8615", phase)
    chosen = _model("itech_it8615", model or it8615_sim.DEFAULT_MODEL, tuple(it8615_sim.MODELS))
    return await _start_scpi("itech_it8615", It8615Sim(plant, phase, model=chosen), host, port)


async def _start_ev(plant: Plant, host: str, port: int, *, model: str | None, **_) -> RunningSimulator:
    _model("reference_ev_emulator", model, ("REF-EV-EMULATOR",))
    return await _start_scpi("reference_ev_emulator", EvEmulatorSim(plant), host, port)


async def _start_wt300(plant: Plant, host: str, port: int, *, model: str | None, framing: str,
                       **_) -> RunningSimulator:
    chosen = _model("yokogawa_wt300", model or wt300_sim.DEFAULT_MODEL, tuple(wt300_sim.MODELS))
    return await _start_scpi("yokogawa_wt300", Wt300Sim(plant, model=chosen), host, port, framing)


async def _start_pw3335(plant: Plant, host: str, port: int, *, model: str | None, framing: str,
                        **_) -> RunningSimulator:
    chosen = _model("hioki_pw3335", model or pw3335_sim.DEFAULT_MODEL, tuple(pw3335_sim.MODELS))
    return await _start_scpi("hioki_pw3335", Pw3335Sim(plant, model=chosen), host, port, framing)


SIMULATORS: dict[str, SimulatorInfo] = {
    "eastron_sdm630": SimulatorInfo(
        "eastron_sdm630", "modbus", _modbus_start("eastron_sdm630", Sdm630Sim, ("SDM630",)),
        "SDM630 meter behind a Modbus TCP or RTU-over-TCP gateway", MODBUS_FRAMINGS, ("SDM630",)),
    "janitza_umg604": SimulatorInfo(
        "janitza_umg604", "modbus", _modbus_start("janitza_umg604", Umg604Sim, ("UMG604",)),
        "Janitza UMG 604: float32 table at 19000, word-swapped mirror, 200 ms refresh", MODBUS_FRAMINGS,
        ("UMG604",)),
    "carlo_gavazzi_em24": SimulatorInfo(
        "carlo_gavazzi_em24", "modbus", _modbus_start("carlo_gavazzi_em24", Em24Sim, ("EM24",)),
        "Carlo Gavazzi EM24: INT32 low word first, scaled", MODBUS_FRAMINGS, ("EM24",)),
    "siemens_pac2200": SimulatorInfo(
        "siemens_pac2200", "modbus", _modbus_start("siemens_pac2200", Pac2200Sim, ("PAC2200",)),
        "Siemens PAC2200: float32 values, float64 energy in Wh, device identification", MODBUS_FRAMINGS,
        ("PAC2200",)),
    "chroma_63800": SimulatorInfo(
        "chroma_63800", "scpi", _start_chroma, "Chroma 63802/63803/63804 AC load on one Plant phase", SCPI_SOCKET,
        (chroma_63800_sim.DEFAULT_MODEL, *(m for m in chroma_63800_sim.MODELS if m != chroma_63800_sim.DEFAULT_MODEL))),
    "itech_it8615": SimulatorInfo(
        "itech_it8615", "scpi", _start_itech, "ITECH IT8615/IT8616 AC load on one Plant phase", SCPI_SOCKET,
        (it8615_sim.DEFAULT_MODEL, *(m for m in it8615_sim.MODELS if m != it8615_sim.DEFAULT_MODEL))),
    "reference_ev_emulator": SimulatorInfo(
        "reference_ev_emulator", "scpi", _start_ev, "EV emulator with the bench's reference SCPI command set",
        SCPI_SOCKET, ("REF-EV-EMULATOR",)),
    "yokogawa_wt300": SimulatorInfo(
        "yokogawa_wt300", "scpi", _start_wt300, "Yokogawa WT310/WT332/WT333 over a raw socket or VXI-11", SCPI_ANY,
        (wt300_sim.DEFAULT_MODEL, *(m for m in wt300_sim.MODELS if m != wt300_sim.DEFAULT_MODEL))),
    "hioki_pw3335": SimulatorInfo(
        "hioki_pw3335", "scpi", _start_pw3335, "Hioki PW3335/PW3336/PW3337 over a raw socket or VXI-11", SCPI_ANY,
        (pw3335_sim.DEFAULT_MODEL, *(m for m in pw3335_sim.MODELS if m != pw3335_sim.DEFAULT_MODEL))),
}


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
    """Start the simulator for `driver`. `phase` (1..3) is needed by the AC loads;
    `unit_id` and `framing` ("tcp" or "rtu-over-tcp", alias "rtu") apply to Modbus
    instruments; SCPI analysers take framing "tcp" (raw socket) or "vxi11" (INSTR);
    `model` picks the simulated model where a driver covers several (see
    `SIMULATORS[driver].models`; None = the first, the default)."""
    info = SIMULATORS.get(driver)
    if info is None:
        raise KeyError(f"no simulator for driver {driver!r}; known: {', '.join(sorted(SIMULATORS))}")
    if framing not in info.framings:
        raise ValueError(f"{driver} simulator: framing must be one of {info.framings}, got {framing!r}")
    return await info.start(plant, host, port, phase=phase, unit_id=unit_id, framing=framing, model=model)
