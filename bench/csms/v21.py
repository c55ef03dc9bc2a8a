"""OCPP 2.1 adapter: the 2.0.1 handlers and commands (`V2xSession`) with the
`ocpp` library's 2.1 messages and schemas.

What 2.1 adds on the framing level is handled here: SEND frames (message type
6, unconfirmed, e.g. NotifyPeriodicEventStream) are logged and need no answer;
a CALLRESULTERROR (5) is the charger telling us our answer was broken (a bench
problem, logged). The optional 2.1 features (tariffs, DER, V2X, ...) are not
used by the bench; their requests are answered NotImplemented.
"""
from __future__ import annotations

import logging

from ocpp.v21 import ChargePoint, call, call_result
from ocpp.v21.enums import Action

from bench.csms.message_log import CALLRESULTERROR, SEND
from bench.csms.v201 import V2xSession

LOG = logging.getLogger("bench.csms")

OCPP_VERSION = "2.1"
SUBPROTOCOL = "ocpp2.1"


class V21Session(V2xSession, ChargePoint):
    OCPP_VERSION = OCPP_VERSION
    SUBPROTOCOL = SUBPROTOCOL
    ACTIONS = frozenset(a.value for a in Action)
    CALL = call
    RESULT = call_result
    NETWORK_OCPP_VERSION = "OCPP21"

    async def route_other_type(self, frame: list) -> bool:
        if frame[0] == SEND:
            LOG.info("%s: SEND %s (no answer needed)", self.id, frame[2] if len(frame) > 2 else "?")
            return True
        if frame[0] == CALLRESULTERROR:
            LOG.warning("%s: the charger rejected our answer to %s: %s", self.id,
                        frame[1] if len(frame) > 1 else "?", frame[2:])
            return True
        return False
