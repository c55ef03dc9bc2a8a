"""Yokogawa WT300 series power meter over SCPI: a `PowerMeter`.

Models and elements (one element = one phase): WT310/WT310E/WT310EH 1 (single-phase),
WT332/WT332E 2, WT333/WT333E 3 (three-phase). A three-phase bench needs a WT333
wired 3P4W; a WT310 measures L1 only: its readings have one entry per list. The element
count comes from `*IDN?` (`YOKOGAWA,WT333,<serial>,<firmware>`).

Address: `TCPIP::host::INSTR` (VXI-11, the WT300's Ethernet option),
`TCPIP::host,port::INSTR` (VXI-11 without the portmapper) or a raw socket
`TCPIP::host::port::SOCKET` through a LAN bridge.

Readout: the numeric items are set up once in open(), then one
`:NUMERIC:NORMAL:VALUE?` returns all of them comma separated in NR3 (ASCII format).
`NAN` (no data) and `INF` (over range) - and 9.91E+37 / 9.9E+37 in FLOAT format -
become null. Energy is the positive watt-hour (WHP) of the integrator, in Wh: open()
starts integration if it is not running (after a reset when it was stopped), so
energy counts from then on; the bench compares energy differences only.

| method     | sent                                                                  | reply            |
|------------|-----------------------------------------------------------------------|------------------|
| open()     | `*IDN?`, `*CLS`, `:COMMUNICATE:HEADER OFF`, `:NUMERIC:FORMAT ASCII`, `:RATE 100MS`, |  |
|            | `:NUMERIC:NORMAL:NUMBER n`, `:NUMERIC:NORMAL:ITEM<x> <fn>,<element>`... |                  |
|            | `:STATUS:ERROR?`, `:INTEGRATE:STATE?`                                 | `0,"No error"`, `START` |
|            | (+ `:INTEGRATE:RESET`, `:INTEGRATE:START`, `:STATUS:ERROR?`)          |                  |
| identify() | `*IDN?`                                                               | `YOKOGAWA,WT333,...` |
| read()     | `:NUMERIC:NORMAL:VALUE?`                                              | n values         |
"""
from __future__ import annotations

import re

from instruments.driver_info import DriverInfo
from instruments.drivers.analyser_values import analyser_reading, parse_values
from instruments.roles import Identity, InstrumentError, PowerMeter, PowerMeterReading, Ratings
from instruments.transports.scpi import ScpiIO, ScpiTransport, parse_identity

COMMANDS = {
    "identify": "*IDN?",
    "clear_status": "*CLS",
    "header_off": ":COMMUNICATE:HEADER OFF",
    "format_ascii": ":NUMERIC:FORMAT ASCII",
    "rate": ":RATE 100MS",  # fastest update: the bench samples at 10 Hz
    "number": ":NUMERIC:NORMAL:NUMBER {n}",
    "item": ":NUMERIC:NORMAL:ITEM{x} {function},{element}",
    "values": ":NUMERIC:NORMAL:VALUE?",
    "integ_state": ":INTEGRATE:STATE?",
    "integ_reset": ":INTEGRATE:RESET",
    "integ_start": ":INTEGRATE:START",
    "error": ":STATUS:ERROR?",
}
NO_DATA = frozenset({"NAN", "INF", "-INF", "+INF", "9.91E+37", "9.9E+37", "-9.9E+37"})
MODEL_RE = re.compile(r"^WT3(1\d|3[23])", re.IGNORECASE)  # WT310.., WT332.., WT333..


def elements_of(model: str) -> int:
    m = MODEL_RE.match(model.strip())
    if not m:
        raise ValueError(f"{model!r} is not a WT300 series model (WT310, WT332, WT333)")
    return 1 if m[1].startswith("1") else int(m[1][1])


def numeric_items(elements: int) -> list[tuple[str, str]]:
    """(function, element) per item, in the order read() maps them."""
    total = "SIGMA" if elements > 1 else "1"
    per_element = [(fn, str(e)) for fn in ("U", "I", "P") for e in range(1, elements + 1)]
    return per_element + [("P", total), ("FU", "1"), ("WHP", total)]


class YokogawaWt300(PowerMeter):
    def __init__(self, name: str, address: str, ratings: Ratings | None = None, **options) -> None:
        if options:
            raise TypeError(f"{name}: yokogawa_wt300 takes no options, got {sorted(options)}")
        super().__init__(name, address, ratings)
        self.transport = ScpiTransport(name, address, allow_instr=True)
        self.elements = 0  # known after open()

    async def open(self) -> None:
        await self.transport.open()
        identity = await self.identify()
        self.elements = elements_of(identity.model)
        # a meter that restarted has lost its items and its integrator: prepare it again
        self.transport.on_reconnect = self._prepare
        await self.transport.exchange(self._prepare, what="numeric item setup")

    async def _prepare(self, io: ScpiIO) -> None:
        """Numeric items, then integration running (a stopped integrator is reset first)."""
        await self._set_up_items(io)
        state = (await io.query(COMMANDS["integ_state"])).strip().upper()
        if not state.startswith("START"):
            if not state.startswith("RESET"):
                await io.write(COMMANDS["integ_reset"])
            await io.write(COMMANDS["integ_start"])
            await self._check_error(io, f"{COMMANDS['integ_start']} (integrator was {state or 'silent'})")

    async def close(self) -> None:
        await self.transport.close()

    async def _set_up_items(self, io: ScpiIO) -> None:
        items = numeric_items(self.elements)
        setup = [COMMANDS["clear_status"], COMMANDS["header_off"], COMMANDS["format_ascii"], COMMANDS["rate"],
                 COMMANDS["number"].format(n=len(items))]
        setup += [COMMANDS["item"].format(x=i, function=fn, element=el) for i, (fn, el) in enumerate(items, 1)]
        for command in setup:
            await io.write(command)
        await self._check_error(io, "numeric item setup")

    async def safe_state(self) -> None:
        """A power meter only measures: nothing to switch off (integration keeps running)."""

    async def identify(self) -> Identity:
        command = COMMANDS["identify"]
        return parse_identity(self.name, command, await self.transport.query(command),
                              what="a Yokogawa WT300 series meter",
                              accept=lambda f: f[0].upper() == "YOKOGAWA" and bool(MODEL_RE.match(f[1])))

    async def read(self) -> PowerMeterReading:
        if not self.elements:
            raise InstrumentError(f"{self.name}: read() before open(): numeric items are not set up")
        n = self.elements
        count = len(numeric_items(n))
        command = COMMANDS["values"]
        reply = await self.transport.query(command)
        return analyser_reading(parse_values(self.name, command, reply, count, NO_DATA), n)

    async def _check_error(self, io: ScpiIO, after: str) -> None:
        await io.check_error_queue(COMMANDS["error"], after)


DRIVER = DriverInfo(
    name="yokogawa_wt300",
    role="power_meter",
    cls=YokogawaWt300,
    transport="scpi",
    description="Yokogawa WT310 (1 element) / WT332 / WT333 (3 elements) power meter, VXI-11 INSTR or raw socket",
    models=("WT310", "WT310E", "WT332", "WT333", "WT333E"),
    accepts_instr=True,
)
