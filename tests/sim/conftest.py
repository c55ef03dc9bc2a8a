"""Fixtures for the simulated charger tests: a minimal CSMS built on the `ocpp`
library's own 1.6 ChargePoint (server side) on a real websockets server on a
free port, a plant, and a factory that starts chargers and always stops them.

Every test here runs on a time-warped loop at `max` (bench/clock.py), as `bench run` does on
the virtual lab: the charger's timers, the CSMS's and the test's own waits are virtual
seconds, jumped over while everything waits; the sockets stay real."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.clock import MAX, Clock, WarpClock, WarpLoop
from bench.sim.charger import ChargerSimConfig, SimulatedCharger
from bench.sim.plant import Plant
from instruments.iec61851 import CpState

CP_ID = "SIM-CP-1"
INVALID_TAG = "TAG-INVALID"
UTC0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def pytest_asyncio_loop_factories(config, item):
    """The tests of this folder run on a warped loop (a fresh virtual clock per loop)."""
    return {"warp": lambda: WarpLoop(WarpClock(MAX))}


def _loop_time() -> float:
    """The running loop's time (virtual on a warped loop); real time outside a loop, which is
    where a fresh warp clock starts (it has not jumped yet)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class TestClock:
    """The loop's time scaled by `factor`, UTC anchored far from today: a timestamp with this
    date came from the injected clock, not from datetime.now(), and with factor > 1 anything
    that bypasses the clock runs visibly too slow."""

    __test__ = False
    UTC0 = UTC0

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor
        self._real0 = _loop_time()

    def monotonic(self) -> float:
        return (_loop_time() - self._real0) * self.factor

    def utcnow(self) -> datetime:
        return self.UTC0 + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)


@dataclass
class Frame:
    action: str
    payload: dict          # wire camelCase, as the charger sent it
    mono: float            # test clock time of arrival


class CsmsSide(ChargePoint):
    """Server side of one charger connection: answers like a permissive CSMS and
    records every CALL frame the charger sends (raw, before routing)."""

    def __init__(self, cp_id: str, ws: ServerConnection, csms: "MiniCsms") -> None:
        super().__init__(cp_id, ws, response_timeout=5)
        self.csms = csms

    async def route_message(self, raw_msg: str) -> None:
        msg = json.loads(raw_msg)
        if msg[0] == 2:
            await self.csms.record(Frame(msg[2], msg[3], self.csms.clock.monotonic()))
        await super().route_message(raw_msg)

    def _tag_info(self, id_tag: str) -> dict:
        return {"status": "Invalid" if id_tag == INVALID_TAG else "Accepted"}

    @on(Action.boot_notification)
    def csms_boot(self, **_: Any):
        return call_result.BootNotification(current_time=_iso(self.csms.clock), interval=self.csms.heartbeat_s,
                                            status="Accepted")

    @on(Action.heartbeat)
    def csms_heartbeat(self, **_: Any):
        return call_result.Heartbeat(current_time=_iso(self.csms.clock))

    @on(Action.status_notification)
    def csms_status(self, **_: Any):
        return call_result.StatusNotification()

    @on(Action.authorize)
    def csms_authorize(self, id_tag: str, **_: Any):
        return call_result.Authorize(id_tag_info=self._tag_info(id_tag))

    @on(Action.start_transaction)
    def csms_start(self, id_tag: str, **_: Any):
        return call_result.StartTransaction(transaction_id=next(self.csms.tx_ids), id_tag_info=self._tag_info(id_tag))

    @on(Action.stop_transaction)
    def csms_stop(self, **_: Any):
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.meter_values)
    def csms_meter_values(self, **_: Any):
        return call_result.MeterValues()


def _iso(clock: Clock) -> str:
    return clock.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class MiniCsms:
    clock: Clock
    heartbeat_s: int = 60
    frames: list[Frame] = field(default_factory=list)
    connections: list[CsmsSide] = field(default_factory=list)
    tx_ids: Any = field(default_factory=lambda: itertools.count(1001))

    async def start(self) -> None:
        self._cond = asyncio.Condition()
        self._server = await serve(self._handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"])
        self.port = self._server.sockets[0].getsockname()[1]

    async def start_on(self, port: int) -> None:
        """Come back on the port this CSMS was given before (a CSMS restart)."""
        self._server = await serve(self._handle, "127.0.0.1", port, subprotocols=["ocpp1.6"])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        side = CsmsSide(ws.request.path.strip("/"), ws, self)
        self.connections.append(side)
        try:
            await side.start()
        except ConnectionClosed:
            pass

    @property
    def cp(self) -> CsmsSide:
        """The latest connection (a reconnect replaces it)."""
        return self.connections[-1]

    async def record(self, frame: Frame) -> None:
        async with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()

    def of(self, action: str, since: int = 0) -> list[Frame]:
        return [f for f in self.frames[since:] if f.action == action]

    async def wait_for(self, action: str, pred: Callable[[dict], bool] = lambda p: True, *,
                       since: int = 0, timeout: float = 5.0) -> Frame:
        """First frame of `action` (from index `since`) whose payload matches `pred`."""
        def find() -> Frame | None:
            return next((f for f in self.frames[since:] if f.action == action and pred(f.payload)), None)

        async with self._cond:
            return await asyncio.wait_for(self._cond.wait_for(find), timeout)

    async def wait_status(self, status: str, connector_id: int = 1, *, since: int = 0, timeout: float = 5.0) -> Frame:
        return await self.wait_for("StatusNotification",
                                   lambda p: p["status"] == status and p["connectorId"] == connector_id,
                                   since=since, timeout=timeout)

    def mark(self) -> int:
        return len(self.frames)


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, poll_s: float = 0.005) -> float:
    """Poll a condition on the plant or the charger; returns the loop seconds it took."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not predicate():
        if loop.time() - t0 > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(poll_s)
    return loop.time() - t0


@dataclass
class VirtualLab:
    """One position of the virtual lab for a test: clock, plant, CSMS, chargers."""

    clock: TestClock
    plant: Plant
    csms: MiniCsms
    chargers: list[SimulatedCharger] = field(default_factory=list)
    wait_until = staticmethod(wait_until)

    async def charger(self, *, faults: frozenset[str] = frozenset(), online: bool = True,
                      **overrides: Any) -> SimulatedCharger:
        """Start a charger with fast intervals (sample 1 s, reaction 0.2 s)."""
        settings = dict(charge_point_id=CP_ID, csms_url=self.csms.url, meter_sample_interval_s=1.0,
                        reaction_time_s=0.2, reconnect_min_s=0.1, reconnect_max_s=0.5, faults=faults)
        settings.update(overrides)
        charger = SimulatedCharger(self.clock, self.plant, ChargerSimConfig(**settings))
        self.chargers.append(charger)
        await charger.start()
        if online:
            await asyncio.wait_for(charger.wait_online(), 5)
        return charger

    def draw(self, amps: float) -> None:
        """The EV's load: `amps` on every phase (0 = loads off)."""
        for phase in range(self.plant.settings.phases):
            self.plant.set_load(phase, enabled=amps > 0, setpoint_a=amps)

    async def start_charging(self, charger: SimulatedCharger, *, amps: float = 32.0, tag: str = "TAG-1",
                             profile: dict | None = None) -> int:
        """Plug in, remote start, EV to C, draw `amps`; returns the transaction id."""
        self.plant.set_ev_cp_state(CpState.B)
        res = await self.csms.cp.call(call.RemoteStartTransaction(id_tag=tag, connector_id=1,
                                                                  charging_profile=profile))
        assert res.status == "Accepted"
        await self.csms.wait_for("StartTransaction")
        await wait_until(lambda: charger.transaction_id() is not None)
        self.plant.set_ev_cp_state(CpState.C)
        await wait_until(lambda: self.plant.contactor_closed)
        self.draw(amps)
        return charger.transaction_id()

    @staticmethod
    def tx_profile(limit_a: float, *, profile_id: int = 7, stack_level: int = 0, tx_id: int | None = None) -> dict:
        """A Relative TxProfile with one period of `limit_a` A (wire camelCase)."""
        profile = {
            "chargingProfileId": profile_id, "stackLevel": stack_level,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "A",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_a}]},
        }
        if tx_id is not None:
            profile["transactionId"] = tx_id
        return profile

    async def set_profile(self, profile: dict, connector_id: int = 1) -> str:
        res = await self.csms.cp.call(call.SetChargingProfile(connector_id=connector_id,
                                                              cs_charging_profiles=profile))
        return res.status

    async def stop(self) -> None:
        for charger in self.chargers:
            await charger.stop()


@pytest.fixture
def clock_speed() -> float:
    """How much faster than real time the test's clock runs (override per module)."""
    return 1.0


@pytest.fixture
def clock(clock_speed) -> TestClock:
    return TestClock(clock_speed)


@pytest.fixture
async def lab(clock):
    csms = MiniCsms(clock)
    await csms.start()
    lab = VirtualLab(clock, Plant(clock), csms)
    yield lab
    await lab.stop()
    await csms.stop()


@pytest.fixture
async def blab(clock):
    """The bench's real CSMS stub on a free port with a plant; chargers are started by the test."""
    from .bench_csms import close_bench_lab, open_bench_lab

    lab = await open_bench_lab(clock)
    yield lab
    await close_bench_lab(lab)
