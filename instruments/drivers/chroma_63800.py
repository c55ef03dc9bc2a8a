"""Chroma 63800 programmable AC/DC load (63802/63803/63804) over SCPI: an `AcLoad`.

One unit per phase; the `phase` option (1..3) is informational (which line the
unit is wired to). Address: `TCPIP::host::port::SOCKET`.

Exchanges (all newline terminated):

| method            | sent                                          | expected reply         |
|-------------------|-----------------------------------------------|------------------------|
| open()            | `*CLS`, `LOAD OFF`, `MODE CURR`, `*ESR?`        | ESR `0`                |
| identify()        | `*IDN?`                                       | `Chroma,63803,SN,FW`   |
| set_current(a)    | `CURR {a:.3f}`, `*ESR?`, `PROT?`                | `0`, `0`               |
| set_enabled(True) | `LOAD ON`, `*ESR?`, `PROT?`                     | `0`, `0`               |
| set_enabled(False)| `LOAD OFF`, `*ESR?`                             | `0`                    |
| read()            | `MEAS:CURR?`, `MEAS:POW?`, `MEAS:VOLT?`, `LOAD?` | numbers, `1`/`0`/ON/OFF |
| clear_protection()| `PROT:CLE`, `*ESR?`                             | `0`                    |

Rules behind them:
- the CC mode mnemonic is `CURR` (there is no `CC`); the load is switched off before
  the mode changes;
- the 63800 has no usable `SYST:ERR?`; a refused command shows in the IEEE 488.2
  standard event status register (`*ESR?`, bits 4..32: query, device, execution,
  command error) (check against the manual for your firmware);
- `PROT?` is a bit mask (OCP, OPP, ...); a non-zero mask after enabling or changing
  the setpoint means the load tripped: InstrumentError naming the bits;
- a reply must be read completely before the next command, so every query here is
  answered before anything else is sent (one lock per instrument).
"""
from __future__ import annotations

from instruments.driver_info import DriverInfo
from instruments.drivers.scpi_load import ScpiAcLoad
from instruments.roles import Identity, InstrumentError, Ratings, check_rating
from instruments.transports.scpi import ScpiIO, parse_identity, parse_int

NOMINAL_VOLTAGE_V = 230.0  # for the power rating check of a CC setpoint

COMMANDS = {
    "clear_status": "*CLS",
    "identify": "*IDN?",
    "event_status": "*ESR?",
    "mode_cc": "MODE CURR",
    "load_on": "LOAD ON",
    "load_off": "LOAD OFF",
    "load_state": "LOAD?",
    "set_current": "CURR {current_a:.3f}",
    "meas_current": "MEAS:CURR?",
    "meas_power": "MEAS:POW?",
    "meas_voltage": "MEAS:VOLT?",
    "protection": "PROT?",
    "clear_protection": "PROT:CLE",
}

PROTECTION_BITS = {
    1: "FREQ",
    2: "UVP",
    4: "UVP2",
    8: "OVP",
    16: "OVP_PEAK",
    32: "OCP",
    64: "OPP",
    128: "OTP",
    256: "FAN_FAIL",
    512: "LDF",
    1024: "FREQ_ERR",
    2048: "POWER_FAIL",
}
ESR_ERROR_BITS = {4: "query error", 8: "device error", 16: "execution error", 32: "command error"}


def describe_bits(mask: int, names: dict[int, str]) -> str:
    found = [name for bit, name in names.items() if mask & bit]
    unknown = mask & ~sum(names)
    if unknown:
        found.append(f"0x{unknown:X}")
    return ", ".join(found)


class Chroma63800(ScpiAcLoad):
    DRIVER_NAME = "chroma_63800"
    COMMANDS = COMMANDS
    STATE_KEY = "load_state"

    # ---- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        await self.transport.open()

        async def steps(io: ScpiIO) -> None:
            await io.write(COMMANDS["clear_status"])
            await io.write(COMMANDS["load_off"])
            await io.write(COMMANDS["mode_cc"])
            await self._check(io, f"{COMMANDS['load_off']}; {COMMANDS['mode_cc']}")

        await self.transport.exchange(steps, what=COMMANDS["mode_cc"])

    async def identify(self) -> Identity:
        command = COMMANDS["identify"]
        return parse_identity(self.name, command, await self.transport.query(command), what="a Chroma 63800 load",
                              accept=lambda f: "chroma" in f[0].lower() and f[1].startswith("638"))

    # ---- AcLoad --------------------------------------------------------------------------
    async def set_current(self, current_a: float) -> None:
        check_rating(self, current_a=current_a, power_w=current_a * NOMINAL_VOLTAGE_V)
        command = COMMANDS["set_current"].format(current_a=current_a)

        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check(io, command, protection=True)

        await self.transport.exchange(steps, what=command)

    async def set_enabled(self, on: bool) -> None:
        command = COMMANDS["load_on" if on else "load_off"]

        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check(io, command, protection=on)

        await self.transport.exchange(steps, what=command)

    async def clear_protection(self) -> None:
        command = COMMANDS["clear_protection"]

        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check(io, command)

        await self.transport.exchange(steps, what=command)

    # ---- checks ------------------------------------------------------------------------
    async def _check(self, io: ScpiIO, after: str, *, protection: bool = False) -> None:
        """Read *ESR? (which also clears it) and, if asked, PROT?; raise naming what came back.
        Both are always read first, so a refused command never leaves a stale status
        bit that a later, good command would be blamed for."""
        esr_query, prot_query = COMMANDS["event_status"], COMMANDS["protection"]
        esr = parse_int(self.name, esr_query, await io.query(esr_query))
        mask = parse_int(self.name, prot_query, await io.query(prot_query)) if protection else 0
        if mask:
            raise InstrumentError(
                f"{self.name}: protection tripped after {after!r}: {prot_query} = {mask} "
                f"({describe_bits(mask, PROTECTION_BITS)}); load is off until {COMMANDS['clear_protection']}"
            )
        errors = esr & sum(ESR_ERROR_BITS)
        if errors:
            raise InstrumentError(
                f"{self.name}: {after!r} refused: {esr_query} = {esr} ({describe_bits(errors, ESR_ERROR_BITS)})"
            )


DRIVER = DriverInfo(
    name="chroma_63800",
    role="ac_load",
    cls=Chroma63800,
    transport="scpi",
    description="Chroma 63802/63803/63804 AC load, one unit per phase (option: phase 1..3)",
    models=("63802", "63803", "63804"),
    # Chroma 63800 series datasheet: 50..350 V rms; 18 A / 1800 W, 36 A / 3600 W, 45 A / 4500 W
    model_ratings={"63802": Ratings(18.0, 1800.0, 350.0), "63803": Ratings(36.0, 3600.0, 350.0),
                   "63804": Ratings(45.0, 4500.0, 350.0)},
)
