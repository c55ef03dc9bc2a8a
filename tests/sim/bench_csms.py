"""The simulated charger against the bench's own CSMS stub (any OCPP version), on a free
port: what the 2.0.1/2.1 charger tests use. Both sides validate every message against
the `ocpp` library's schemas of the version, so a malformed message fails the test."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from bench.csms import CsmsServer, CsmsSettings, Dut, MessageLog
from instruments.iec61851 import CpState
from bench.sim.charger import ChargerSimConfig, SimulatedCharger, make_charger
from bench.sim.plant import Plant
from instruments.iec61851 import CpState

from .conftest import CP_ID, TestClock, wait_until

ID_TAGS = {"TAG-1": "Accepted", "TAG-2": "Accepted", "TAG-INVALID": "Invalid", "TAG-BLOCKED": "Blocked",
           "TAG-EXPIRED": "Expired"}


@dataclass
class BenchLab:
    clock: TestClock
    plant: Plant
    csms: CsmsServer
    log: MessageLog
    chargers: list[SimulatedCharger] = field(default_factory=list)
    wait_until = staticmethod(wait_until)

    @property
    def dut(self) -> Dut:
        return self.csms.dut(CP_ID)

    async def charger(self, version: str, *, faults: frozenset[str] = frozenset(), **overrides: Any) -> SimulatedCharger:
        """Start a charger of `version` with fast intervals (sample 1 s, reaction 0.2 s), booted."""
        settings = dict(charge_point_id=CP_ID, csms_url=self.csms.url, meter_sample_interval_s=1.0,
                        reaction_time_s=0.2, reconnect_min_s=0.1, reconnect_max_s=0.5, faults=faults,
                        ocpp_version=version)
        settings.update(overrides)
        charger = make_charger(self.clock, self.plant, ChargerSimConfig(**settings))
        self.chargers.append(charger)
        mark = self.dut.mark()
        await charger.start()
        await self.dut.wait_for("boot", timeout_s=5, since_index=mark)
        await asyncio.wait_for(charger.wait_online(), 5)
        return charger

    def draw(self, amps: float) -> None:
        for phase in range(self.plant.settings.phases):
            self.plant.set_load(phase, enabled=amps > 0, setpoint_a=amps)

    def frames(self, action: str, since: int = 0) -> list[dict]:
        """Payloads of the CALLs `action` the charger sent (wire camelCase)."""
        return [e.frame[3] for e in self.log.entries[since:]
                if e.direction == "dut->csms" and e.message_type == 2 and e.action == action]

    async def start_charging(self, charger: SimulatedCharger, *, amps: float = 16.0, tag: str = "TAG-1") -> Any:
        """Plug in, remote start, EV to C, draw `amps`; returns the transaction id."""
        self.plant.set_ev_cp_state(CpState.B)
        mark = self.dut.mark()
        assert await self.dut.remote_start(1, tag) == "Accepted"
        started = await self.dut.wait_for("transaction_started", timeout_s=5, since_index=mark)
        self.plant.set_ev_cp_state(CpState.C)
        await wait_until(lambda: self.plant.contactor_closed)
        self.draw(amps)
        return started.data["transaction"].transaction_id

    async def stop(self) -> None:
        for charger in self.chargers:
            await charger.stop()


async def open_bench_lab(clock: TestClock, **settings: Any) -> BenchLab:
    log = MessageLog(None, clock)
    csms = CsmsServer(clock, CsmsSettings(accepted_ids=[CP_ID], id_tags=dict(ID_TAGS), **settings), log)
    await csms.start()
    return BenchLab(clock, Plant(clock), csms, log)


async def close_bench_lab(lab: BenchLab) -> None:
    await lab.stop()
    await lab.csms.stop()
    lab.log.close()
