"""Hioki PW3335 family power meter over SCPI: a `PowerMeter`.

Models and channels (one channel = one phase): PW3335 1, PW3336 2, PW3337 3. A
three-phase bench needs a PW3337 wired 3P4W; a PW3335 measures L1 only: its
readings have one entry per list. The channel count comes from `*IDN?`
(`HIOKI,PW3337,<serial>,<firmware>`).

Address: `TCPIP::host::3390::SOCKET` (the meter's LAN command port) or an INSTR
address through a VXI-11 bridge.

Readout (check the item names against the communication manual of your model):
`:HEADER OFF` once, then `:MEASURE? U1,...,WP+123` returns the items comma separated
in NR3. `+9999.9E+99` marks an item the meter cannot show (over range, no input):
null. Items per channel n: `Un`, `In`, `Pn`, the sum `P123` (3P4W; `P12`, `P1` on
smaller models), voltage frequency `FREQU1`, positive active energy `WP+123` in Wh
from the integrator, which open() starts when it is not running. Command errors show
in the standard event status register (`*ESR?`).
"""
from __future__ import annotations

import re

from instruments.driver_info import DriverInfo
from instruments.drivers.analyser_values import analyser_reading, parse_values
from instruments.roles import Identity, InstrumentError, PowerMeter, PowerMeterReading, Ratings
from instruments.transports.scpi import ScpiIO, ScpiTransport, parse_identity, parse_int

COMMANDS = {
    "identify": "*IDN?",
    "clear_status": "*CLS",
    "header_off": ":HEADER OFF",
    "measure": ":MEASURE? {items}",
    "integ_state": ":INTEGRATE?",
    "integ_reset": ":INTEGRATE:RESET",
    "integ_start": ":INTEGRATE:START",
    "event_status": "*ESR?",
}
NO_DATA = frozenset({"+9999.9E+99", "9999.9E+99"})
ESR_ERROR_BITS = {4: "query error", 8: "device error", 16: "execution error", 32: "command error"}
MODEL_RE = re.compile(r"^PW333([567])", re.IGNORECASE)


def channels_of(model: str) -> int:
    m = MODEL_RE.match(model.strip())
    if not m:
        raise ValueError(f"{model!r} is not a PW3335 family model (PW3335, PW3336, PW3337)")
    return int(m[1]) - 4


def measure_items(channels: int) -> list[str]:
    total = "".join(str(c) for c in range(1, channels + 1))
    per_channel = [f"{q}{c}" for q in ("U", "I", "P") for c in range(1, channels + 1)]
    return per_channel + [f"P{total}", "FREQU1", f"WP+{total}"]


class HiokiPw3335(PowerMeter):
    def __init__(self, name: str, address: str, ratings: Ratings | None = None, **options) -> None:
        if options:
            raise TypeError(f"{name}: hioki_pw3335 takes no options, got {sorted(options)}")
        super().__init__(name, address, ratings)
        self.transport = ScpiTransport(name, address, allow_instr=True)
        self.channels = 0  # known after open()

    async def open(self) -> None:
        await self.transport.open()
        self.channels = channels_of((await self.identify()).model)
        # a meter that restarted answers with headers again and has lost its integrator
        self.transport.on_reconnect = self._prepare
        await self.transport.exchange(self._prepare, what=COMMANDS["header_off"])

    async def _prepare(self, io: ScpiIO) -> None:
        """Headers off, then integration running (a stopped integrator is reset first)."""
        await self._headers_off(io)
        state = (await io.query(COMMANDS["integ_state"])).strip().upper()
        if not state.startswith("START"):
            if not state.startswith("RESET"):
                await io.write(COMMANDS["integ_reset"])
            await io.write(COMMANDS["integ_start"])
            await self._check_esr(io, f"{COMMANDS['integ_start']} (integrator was {state or 'silent'})")

    async def close(self) -> None:
        await self.transport.close()

    async def _headers_off(self, io: ScpiIO) -> None:
        await io.write(COMMANDS["clear_status"])
        await io.write(COMMANDS["header_off"])
        await self._check_esr(io, COMMANDS["header_off"])

    async def safe_state(self) -> None:
        """A power meter only measures: nothing to switch off (integration keeps running)."""

    async def identify(self) -> Identity:
        command = COMMANDS["identify"]
        return parse_identity(self.name, command, await self.transport.query(command),
                              what="a Hioki PW3335 family meter",
                              accept=lambda f: f[0].upper() == "HIOKI" and bool(MODEL_RE.match(f[1])))

    async def read(self) -> PowerMeterReading:
        if not self.channels:
            raise InstrumentError(f"{self.name}: read() before open(): channel count unknown")
        n = self.channels
        items = measure_items(n)
        command = COMMANDS["measure"].format(items=",".join(items))
        reply = await self.transport.query(command)
        return analyser_reading(parse_values(self.name, command, reply, len(items), NO_DATA), n)

    async def _check_esr(self, io: ScpiIO, after: str) -> None:
        query = COMMANDS["event_status"]
        esr = parse_int(self.name, query, await io.query(query))
        errors = esr & sum(ESR_ERROR_BITS)
        if errors:
            found = ", ".join(text for bit, text in ESR_ERROR_BITS.items() if errors & bit)
            raise InstrumentError(f"{self.name}: {after!r} refused: {query} = {esr} ({found})")


DRIVER = DriverInfo(
    name="hioki_pw3335",
    role="power_meter",
    cls=HiokiPw3335,
    transport="scpi",
    description="Hioki PW3335 (1 channel) / PW3336 / PW3337 (3 channels) power meter, raw socket port 3390",
    models=("PW3335", "PW3336", "PW3337"),
    accepts_instr=True,
)
