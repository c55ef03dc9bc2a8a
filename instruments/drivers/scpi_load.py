"""What the SCPI AC load drivers share: one unit per phase (the `phase` option, 1..3),
an `ScpiTransport`, and read() from the same four queries (current, power, voltage,
on/off state, sent as one compound message) under the command names each driver declares in its COMMANDS."""
from __future__ import annotations

from instruments.roles import AcLoad, AcLoadReading, Ratings
from instruments.transports.scpi import ScpiIO, ScpiTransport, parse_float, parse_on_off


class ScpiAcLoad(AcLoad):
    DRIVER_NAME = ""  # for the option errors
    COMMANDS: dict[str, str] = {}  # needs meas_current, meas_power, meas_voltage and STATE_KEY
    STATE_KEY = ""  # the on/off state query in COMMANDS

    def __init__(self, name: str, address: str, ratings: Ratings | None = None, *, phase: int = 1, **options) -> None:
        if options:
            raise TypeError(f"{name}: {self.DRIVER_NAME} takes only the option 'phase', got {sorted(options)}")
        if phase not in (1, 2, 3):
            raise ValueError(f"{name}: phase must be 1, 2 or 3, got {phase!r}")
        super().__init__(name, address, ratings)
        self.phase = phase
        self.transport = ScpiTransport(name, address)

    async def close(self) -> None:
        await self.transport.close()

    async def read(self) -> AcLoadReading:
        commands = self.COMMANDS

        asked = [commands["meas_current"], commands["meas_power"], commands["meas_voltage"], commands[self.STATE_KEY]]

        async def steps(io: ScpiIO) -> AcLoadReading:
            current, power, voltage, state = await io.query_units(asked)  # one round trip per reading
            return AcLoadReading(
                current_a=parse_float(self.name, asked[0], current),
                power_w=parse_float(self.name, asked[1], power),
                voltage_v=parse_float(self.name, asked[2], voltage),
                enabled=parse_on_off(self.name, asked[3], state),
            )

        return await self.transport.exchange(steps, what=commands["meas_current"])
