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

from bench.clock import Clock
from bench.config import LabConfig, PositionConfig, parse_host_port, replace_port
from bench.sim.charger import ChargerSimConfig, SimulatedCharger
from bench.sim.plant import Plant, PlantSettings
from instruments.sim.registry import start_simulator

log = logging.getLogger(__name__)


@dataclass
class SimPosition:
    plant: Plant
    charger: SimulatedCharger
    simulators: list = field(default_factory=list)


class VirtualLab:
    def __init__(self, clock: Clock, config: LabConfig, csms_url: str, faults: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.config = config
        self.csms_url = csms_url
        self.faults = faults
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
        plant = Plant(self.clock, PlantSettings(phases=dut.phases, nominal_voltage_v=dut.nominal_voltage_v))
        sims, instruments = [], {}
        for name, ins in pos.instruments.items():
            host, port = parse_host_port(ins.address) or ("127.0.0.1", 0)
            unit_id, framing = 1, "tcp"
            if ins.address.startswith("modbus"):
                framing = "rtu" if ins.address.startswith("modbus+rtu") else "tcp"
                if "unit=" in ins.address:
                    unit_id = int(ins.address.rsplit("unit=", 1)[1])
            sim = await start_simulator(ins.driver, plant, host, port,
                                        phase=ins.phase,
                                        unit_id=unit_id, framing=framing, model=ins.model)
            sims.append(sim)
            instruments[name] = ins.model_copy(update={"address": replace_port(ins.address, sim.port)})
            log.info("virtual lab: %s (%s) on %s", name, ins.driver, instruments[name].address)
        self.positions[pos.name] = SimPosition(plant, None, sims)  # type: ignore[arg-type]
        return pos.model_copy(update={"instruments": instruments})

    async def start_chargers(self) -> None:
        """Start the simulated chargers (after the CSMS is listening)."""
        settings = self.config.virtual_lab.charger
        for pos in self.config.positions:
            dut = pos.dut
            sp = self.positions[pos.name]
            sp.charger = SimulatedCharger(self.clock, sp.plant, ChargerSimConfig(
                charge_point_id=dut.charge_point_id, csms_url=self.csms_url, connectors=dut.connectors,
                rated_current_a=dut.rated_current_a, reaction_time_s=settings.reaction_time_s,
                meter_sample_interval_s=dut.meter_sample_interval_s,
                meter_resolution_wh=dut.meter_resolution_wh, faults=self.faults))
            await sp.charger.start()

    def tag_presenter(self, position: str):
        """The virtual lab's RFID reader: presents a tag to the simulated charger."""
        charger = self.positions[position].charger

        async def present(tag: str) -> None:
            await charger.present_id_tag(tag)
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
