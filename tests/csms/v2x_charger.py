"""A scripted OCPP 2.0.1 / 2.1 charger for the CSMS tests: it sends with the `ocpp`
library's ChargePoint of its version (so every request is schema-validated on the
way out, like a real charger's would be) and answers the CSMS's commands with
canned payloads from `answers`, remembering what it was asked (wire camelCase)."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from ocpp import v21, v201

ANSWERS: dict[str, dict] = {
    "RequestStartTransaction": {"status": "Accepted"},
    "RequestStopTransaction": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetChargingProfiles": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Accepted", "schedule": {
        "evseId": 1, "duration": 60, "scheduleStart": "2031-05-06T07:08:09Z", "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.5, "numberPhases": 3}]}},
    "GetVariables": {"getVariableResult": []},  # filled per test
    "SetVariables": {"setVariableResult": []},
    "GetBaseReport": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Scheduled"},
    "SetDisplayMessage": {"status": "Accepted"},
    "GetDisplayMessages": {"status": "Accepted"},
    "ClearDisplayMessage": {"status": "Unknown"},
    "SetNetworkProfile": {"status": "Rejected"},
}
BASES = {"2.0.1": v201.ChargePoint, "2.1": v21.ChargePoint}
CALLS = {"2.0.1": v201.call, "2.1": v21.call}

FollowUp = Callable[[dict], Awaitable[None]]


def scripted_charger(version: str, cp_id: str, connection: Any) -> Any:
    class Scripted(BASES[version]):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(cp_id, connection, response_timeout=5)
            self.version = version
            self.call_module = CALLS[version]
            self.received: dict[str, dict] = {}
            self.answers: dict[str, Any] = {k: dict(v) for k, v in ANSWERS.items()}
            self.follow_ups: dict[str, FollowUp] = {}  # action -> what to send after answering

        async def route_message(self, raw: str) -> None:
            frame = json.loads(raw)
            if frame[0] != 2:
                await super().route_message(raw)
                return
            action, payload = frame[2], frame[3]
            self.received[action] = payload
            answer = self.answers[action]
            await self._send(json.dumps([3, frame[1], answer(payload) if callable(answer) else answer]))
            if action in self.follow_ups:
                asyncio.ensure_future(self.follow_ups[action](payload))

    return Scripted()
