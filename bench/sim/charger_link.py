"""The simulated charger's OCPP connection: an `ocpp` ChargePoint per version whose routes are
its adapter's `@on`/`@after` handlers (`ocpp.routing.create_route_map(adapter)`, the same
lookup the library does on a ChargePoint subclass), so the adapter outlives the connection.

Before routing, a CALL of an action of a feature the charger lacks is answered CALLERROR
NotSupported (charger_features.py); an action without a handler is NotSupported when it is one
of the version's actions ("recognized but not supported"), NotImplemented otherwise ("not known
by receiver"), as OCPP-J 1.6 section 4.2.3 and 2.0.1 part 4 section 4.3 define them (the
library answers NotImplemented to both).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp import v16, v21, v201
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError
from ocpp.routing import create_route_map
from websockets.asyncio.client import ClientConnection

RESPONSE_TIMEOUT_S = 30  # ocpp library: wait for a .conf (library I/O timeout)


def refusal(action: str, version: str, unsupported: frozenset[str], routed: bool,
            actions: frozenset[str] | None) -> Exception | None:
    """The CALLERROR a CALL of `action` gets before any handler runs, or None (route it)."""
    if action in unsupported:
        return NotSupportedError(details={"cause": f"{action}: feature not implemented by this charger"})
    if actions is None or routed:
        return None
    if action in actions:
        return NotSupportedError(details={"cause": f"{action} is not simulated"})
    return OcppNotImplemented(details={"cause": f"{action} is not an OCPP {version} action"})


class _RefusingLink(ChargePoint):
    """What every version's link adds to the library's ChargePoint: the adapter's routes, and a
    CALLERROR for an action the simulated charger does not support or does not simulate."""

    VERSION = ""

    def __init__(self, cp_id: str, ws: ClientConnection, handlers: object, unsupported: frozenset[str],
                 actions: frozenset[str] | None = None) -> None:
        super().__init__(cp_id, ws, response_timeout=RESPONSE_TIMEOUT_S)
        self.route_map = create_route_map(handlers)
        self.unsupported, self.actions = unsupported, actions
        self.on_activity: Callable[[], None] = lambda: None  # the station's wake

    async def route_message(self, raw_msg: Any) -> None:
        self.on_activity()
        await super().route_message(raw_msg)
        self.on_activity()

    async def _handle_call(self, msg: Any) -> Any:
        error = refusal(msg.action, self.VERSION, self.unsupported, msg.action in self.route_map, self.actions)
        if error is not None:
            await self._send(msg.create_call_error(error).to_json())
            return None
        return await super()._handle_call(msg)


class Link16(_RefusingLink, v16.ChargePoint):
    """OCPP 1.6: the library answers actions without a route itself."""

    VERSION = "1.6"


class Link201(_RefusingLink, v201.ChargePoint):
    VERSION = "2.0.1"


class Link21(_RefusingLink, v21.ChargePoint):
    VERSION = "2.1"


LINKS: dict[str, type] = {"1.6": Link16, "2.0.1": Link201, "2.1": Link21}
