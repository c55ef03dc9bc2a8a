"""The simulated charger: a real OCPP charge point driving the virtual lab's plant, composed of
a version-neutral station (`station.py`: state machine, limits, PWM, meter, outbox, reconnects,
faults, realism) and the OCPP adapter of its version, which only translates messages:

| OCPP       | adapter                                   | link (ocpp ChargePoint) |
|------------|-------------------------------------------|-------------------------|
| 1.6        | `charger_ocpp16.Ocpp16Adapter`            | `charger_link.Link16`   |
| 2.0.1, 2.1 | `charger_ocpp2x.Ocpp2xAdapter` (by version) | `Link201`, `Link21`   |

Both adapters route with the `ocpp` library's `@on`/`@after` decorators and snake_case keyword
arguments. The features (local authorization, reservations, remote control, firmware, security,
device model) use the station's public methods. Faults (`faults.py`) make it misbehave in one
precise way each.
"""
from __future__ import annotations

from collections.abc import Callable

from bench.clock import Clock
from bench.sim.charger_ocpp2x import Ocpp2xAdapter
from bench.sim.charger_ocpp16 import Ocpp16Adapter, derive_status, wire_profile
from bench.sim.plant import Plant
from bench.sim.station import ChargerSimConfig, OcppAdapter, Station

ADAPTERS: dict[str, Callable[[Station], OcppAdapter]] = {
    "1.6": Ocpp16Adapter,
    "2.0.1": Ocpp2xAdapter,
    "2.1": Ocpp2xAdapter,
}


class SimulatedCharger(Station):
    """The station speaking the OCPP version of `config.ocpp_version`."""

    def __init__(self, clock: Clock, plant: Plant, config: ChargerSimConfig) -> None:
        try:
            adapter = ADAPTERS[config.ocpp_version]
        except KeyError:
            raise ValueError(f"simulated charger: OCPP version {config.ocpp_version!r} not supported "
                             f"(known: {', '.join(ADAPTERS)})") from None
        super().__init__(clock, plant, config, adapter)


def make_charger(clock: Clock, plant: Plant, config: ChargerSimConfig) -> SimulatedCharger:
    """The simulated charger of `config.ocpp_version`."""
    return SimulatedCharger(clock, plant, config)


__all__ = ["ChargerSimConfig", "SimulatedCharger", "derive_status", "make_charger", "wire_profile"]
