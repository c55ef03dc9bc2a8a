"""The virtual lab: assembles simulators from lab_config.yaml.

For every position it builds a Plant, starts the instrument simulators named by
the configured drivers on the configured addresses (port 0 = any free port) and
a simulated charger that connects to the CSMS. It returns the configuration
with the addresses actually bound, so the bench then talks to the simulators
exactly as it would to real instruments.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import cast

from bench.certs import CertPaths
from bench.clock import Clock
from bench.config import LabConfig, PositionConfig, parse_host_port, replace_port
from bench.sim.charger import ChargerSimConfig, SimulatedCharger, make_charger
from bench.sim.charger_security import ChargerSecurity
from bench.sim.instruments.registry import start_simulator
from bench.sim.plant import Plant, PlantSettings
from bench.sim.realism import Realism, RealismSettings, SensedPlant
from instruments.transports.modbus import ModbusAddress
from instruments.transports.scpi import parse_visa_address, with_port

log = logging.getLogger(__name__)
RECONNECT_MAX_S = 4.0  # the simulated charger retries at least this often (security probes close its connection)


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    unit_id: int = 1
    framing: str = "tcp"  # Modbus: tcp / rtu-over-tcp; SCPI: tcp (raw socket) / vxi11 (INSTR)


def _sim_endpoint(address: str) -> _Endpoint:
    """Where and how to serve the simulator of a configured address (port 0 = any free port)."""
    if address.startswith("modbus"):
        target = ModbusAddress.parse(address)
        return _Endpoint(target.host, target.port, target.unit, target.framing)
    visa = parse_visa_address(address)
    if visa.kind == "hislip":
        raise ValueError(f"virtual lab: HiSLIP is not simulated ({address}); use TCPIP::host,port::INSTR (VXI-11)")
    if visa.kind == "vxi11":  # without a port the portmapper (111) would be needed: take any free port
        return _Endpoint(visa.host, visa.port or 0, framing="vxi11")
    host_port = parse_host_port(address)
    return _Endpoint(host_port[0], host_port[1]) if host_port else _Endpoint(visa.host, visa.port or 0)


def charger_security(config: LabConfig, certs: CertPaths | None) -> dict[str, ChargerSecurity]:
    """How each simulated charger (by charge point id) connects: the bench's own profile."""
    security = config.bench.csms.security
    out = {}
    for position in config.positions:
        cp_id = position.dut.charge_point_id
        client = certs.charger(cp_id) if certs is not None and security.profile == 3 else None
        out[cp_id] = ChargerSecurity(
            profile=security.profile, password=security.password,
            ca_cert=certs.ca.cert if certs is not None else None,
            client_cert=client.cert if client else None, client_key=client.key if client else None)
    return out


@dataclass
class SimPosition:
    plant: Plant
    charger: SimulatedCharger
    simulators: list = field(default_factory=list)


class VirtualLab:
    def __init__(self, clock: Clock, config: LabConfig, csms_url: str, faults: frozenset[str] = frozenset(),
                 security: dict[str, ChargerSecurity] | None = None) -> None:
        """`security`: how each simulated charger (by charge point id) connects; default plain ws."""
        self.clock = clock
        self.config = config
        self.csms_url = csms_url
        self.faults = faults
        self.security = security or {}
        self.positions: dict[str, SimPosition] = {}

    async def start_instruments(self) -> LabConfig:
        """Start every instrument simulator; return the config with the bound addresses."""
        new_positions = []
        try:
            for pos in self.config.positions:
                new_positions.append(await self._start_position_instruments(pos))
        except BaseException:
            await self.stop()
            raise
        return self.config.model_copy(update={"positions": new_positions})

    async def _start_position_instruments(self, pos: PositionConfig) -> PositionConfig:
        dut = pos.dut
        plant = Plant(self.clock, PlantSettings(phases=dut.phases, nominal_voltage_v=dut.nominal_voltage_v),
                      realism=self._realism(pos))
        sims, instruments = [], {}
        for name, ins in pos.instruments.items():
            where = _sim_endpoint(ins.address)
            # a power meter senses the plant with its own noise; loads and the EV emulator see it as it is
            # SensedPlant: a proxy with the Plant's interface
            seen = (cast(Plant, SensedPlant(plant, plant.realism.reference_noise))
                    if plant.realism is not None and ins.role == "power_meter" else plant)
            try:
                sim = await start_simulator(ins.driver, seen, where.host, where.port, phase=ins.phase,
                                            unit_id=where.unit_id, framing=where.framing, model=ins.model)
            except OSError as exc:  # e.g. the port is taken by a running `bench sim`
                raise OSError(f"virtual lab: cannot start the simulator of {name} ({ins.driver}) "
                              f"on {where.host}:{where.port}: {exc.strerror or exc}") from exc
            sims.append(sim)
            self.positions[pos.name] = SimPosition(plant, None, sims)  # type: ignore[arg-type]  # stop() sees them
            bound = (with_port(ins.address, sim.port) if where.framing == "vxi11"
                     else replace_port(ins.address, sim.port))
            instruments[name] = ins.model_copy(update={"address": bound})
            log.info("virtual lab: %s (%s) on %s", name, ins.driver, instruments[name].address)
        self.positions[pos.name] = SimPosition(plant, None, sims)  # type: ignore[arg-type]  # charger: start()
        return pos.model_copy(update={"instruments": instruments})

    def _realism(self, pos: PositionConfig) -> Realism | None:
        """The position's random sources (one seed stream per position, so positions differ)."""
        knobs = self.config.virtual_lab.realism_on
        if knobs is None:
            return None
        index = [p.name for p in self.config.positions].index(pos.name)
        return Realism(RealismSettings(
            current_noise_pct=knobs.current_noise_pct, reaction_time_s=knobs.reaction_range_s(pos.dut),
            ev_underdraw_a=knobs.ev_underdraw_a, mains_v=knobs.mains_v, pwm_jitter_pct=knobs.pwm_jitter_pct,
            timestamp_resolution_s=knobs.timestamp_resolution_s, seed=knobs.seed + index), self.clock)

    async def start_chargers(self) -> None:
        """Start the simulated chargers (after the CSMS is listening)."""
        settings = self.config.virtual_lab.charger
        for pos in self.config.positions:
            dut = pos.dut
            sp = self.positions[pos.name]
            sp.charger = make_charger(self.clock, sp.plant, ChargerSimConfig(
                charge_point_id=dut.charge_point_id, csms_url=self.csms_url, connectors=dut.connectors,
                rated_current_a=dut.rated_current_a, reaction_time_s=settings.reaction_time_s,
                meter_sample_interval_s=dut.meter_sample_interval_s,
                meter_resolution_wh=dut.meter_resolution_wh, faults=self.faults, ocpp_version=dut.ocpp_version,
                security=self.security.get(dut.charge_point_id, ChargerSecurity()),
                reconnect_max_s=RECONNECT_MAX_S, features=settings.features, realism=sp.plant.realism))
            await sp.charger.start()

    def protocol_only_car(self, position: str, phases: int):
        """(EV, loads) acting on the plant directly, for a position with no instruments."""
        from bench.sim.plant_ev import plant_car

        return plant_car(self.positions[position].plant, phases)

    def tag_presenter(self, position: str):
        """The virtual lab's RFID reader: presents a tag to the simulated charger."""
        async def present(tag: str) -> None:  # the charger is looked up now: it may start after this is made
            await self.positions[position].charger.present_id_tag(tag)
        return present

    async def stop(self) -> None:
        for sp in self.positions.values():
            if sp.charger is not None:
                try:
                    await sp.charger.stop()
                except Exception as exc:  # keep stopping the rest
                    log.warning("stopping simulated charger: %s", exc)
            for sim in sp.simulators:
                try:
                    await sim.close()
                except Exception as exc:
                    log.warning("stopping simulator: %s", exc)
        self.positions.clear()
