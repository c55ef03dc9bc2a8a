"""Fixtures for the CSMS stub tests: a real server on a free port, and scripted
chargers built on the `ocpp` library's own 1.6 ChargePoint over real websockets."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect

from bench.clock import RealClock
from bench.csms import CsmsServer, CsmsSettings, MessageLog

ID_TAGS = {"TAG-OK": "Accepted", "TAG-BLOCKED": "Blocked", "TAG-EXPIRED": "Expired", "TAG-INVALID": "Invalid"}
HEARTBEAT_S = 42


class AnchoredClock:
    """Real monotonic time, but UTC anchored far from today: a timestamp that
    shows this date came from the injected clock, not from datetime.now()."""

    UTC0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)

    def __init__(self) -> None:
        self._real = RealClock()
        self._mono0 = self._real.monotonic()

    def monotonic(self) -> float:
        return self._real.monotonic()

    def utcnow(self) -> datetime:
        return self.UTC0 + timedelta(seconds=self.monotonic() - self._mono0)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


class ScriptedCharger(ChargePoint):
    """A 1.6 charge point that answers every CSMS command with `answers[action]`
    and remembers what it was asked. Actions in `ignore` are never answered."""

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=5)
        self.received: dict[str, dict] = {}
        self.ignore: set[str] = set()
        self.answers: dict[str, Any] = {
            "RemoteStartTransaction": call_result.RemoteStartTransaction(status="Accepted"),
            "RemoteStopTransaction": call_result.RemoteStopTransaction(status="Accepted"),
            "SetChargingProfile": call_result.SetChargingProfile(status="Accepted"),
            "ClearChargingProfile": call_result.ClearChargingProfile(status="Unknown"),
            "GetCompositeSchedule": call_result.GetCompositeSchedule(
                status="Accepted",
                connector_id=1,
                schedule_start="2031-05-06T07:08:09Z",
                charging_schedule={
                    "duration": 300,
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [
                        {"start_period": 0, "limit": 8.1, "number_phases": 3},
                        {"start_period": 60, "limit": 16},
                    ],
                },
            ),
            "GetConfiguration": call_result.GetConfiguration(
                configuration_key=[{"key": "MeterValueSampleInterval", "readonly": False, "value": "2"}],
                unknown_key=["NoSuchKey"],
            ),
            "ChangeConfiguration": call_result.ChangeConfiguration(status="RebootRequired"),
            "TriggerMessage": call_result.TriggerMessage(status="Accepted"),
            "Reset": call_result.Reset(status="Accepted"),
            "ChangeAvailability": call_result.ChangeAvailability(status="Scheduled"),
        }

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame[0] == 2 and frame[2] in self.ignore:
            self.received[frame[2]] = frame[3]
            return
        await super().route_message(raw_msg)

    def _answer(self, action: str, kwargs: dict) -> Any:
        self.received[action] = kwargs
        return self.answers[action]

    @on(Action.remote_start_transaction)
    def _remote_start(self, **kw):
        return self._answer("RemoteStartTransaction", kw)

    @on(Action.remote_stop_transaction)
    def _remote_stop(self, **kw):
        return self._answer("RemoteStopTransaction", kw)

    @on(Action.set_charging_profile)
    def _set_profile(self, **kw):
        return self._answer("SetChargingProfile", kw)

    @on(Action.clear_charging_profile)
    def _clear_profile(self, **kw):
        return self._answer("ClearChargingProfile", kw)

    @on(Action.get_composite_schedule)
    def _composite(self, **kw):
        return self._answer("GetCompositeSchedule", kw)

    @on(Action.get_configuration)
    def _get_config(self, **kw):
        return self._answer("GetConfiguration", kw)

    @on(Action.change_configuration)
    def _change_config(self, **kw):
        return self._answer("ChangeConfiguration", kw)

    @on(Action.trigger_message)
    def _trigger(self, **kw):
        return self._answer("TriggerMessage", kw)

    # Schema validation off so that a test can make this charger answer wrongly.
    @on(Action.reset, skip_schema_validation=True)
    def _reset(self, **kw):
        return self._answer("Reset", kw)

    @on(Action.change_availability)
    def _availability(self, **kw):
        return self._answer("ChangeAvailability", kw)

    # No UnlockConnector handler: the library answers CALLERROR NotImplemented.


@pytest.fixture
def clock() -> AnchoredClock:
    return AnchoredClock()


@pytest.fixture
def settings() -> CsmsSettings:
    return CsmsSettings(
        host="127.0.0.1",
        port=0,
        accepted_ids=["CP1", "CP2"],
        heartbeat_interval_s=HEARTBEAT_S,
        id_tags=dict(ID_TAGS),
        data_transfer_vendors=("org.evbench",),
    )


@pytest.fixture
async def log(tmp_path, clock):
    message_log = MessageLog(tmp_path / "ocpp.jsonl", clock)
    yield message_log
    message_log.close()


@pytest.fixture
async def csms(clock, settings, log):
    server = CsmsServer(clock, settings, log)
    await server.start()
    yield server
    await server.stop()


class Clients:
    """Opens client connections to the CSMS and closes all of them at teardown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sockets: list[ClientConnection] = []
        self._tasks: list[asyncio.Task] = []

    async def raw(self, cp_id: str = "CP1", subprotocols: list[str] | None = None) -> ClientConnection:
        ws = await connect(f"{self.url}/{cp_id}", subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols)
        self._sockets.append(ws)
        return ws

    async def charger(self, cp_id: str = "CP1") -> ScriptedCharger:
        charger = ScriptedCharger(cp_id, await self.raw(cp_id))
        self._tasks.append(asyncio.create_task(charger.start()))
        return charger

    async def charger2x(self, version: str, cp_id: str = "CP1") -> Any:
        """A scripted 2.0.1 or 2.1 charger (tests/csms/v2x_charger.py)."""
        from .v2x_charger import scripted_charger

        charger = scripted_charger(version, cp_id, await self.raw(cp_id, subprotocols=[f"ocpp{version}"]))
        self._tasks.append(asyncio.create_task(charger.start()))
        return charger

    async def close(self) -> None:
        for ws in self._sockets:
            await ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture
async def clients(csms):
    opened = Clients(csms.url)
    yield opened
    await opened.close()
