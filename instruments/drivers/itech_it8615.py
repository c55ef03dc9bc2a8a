"""ITECH IT8615 (IT8600 series) AC/DC electronic load over SCPI: an `AcLoad`.

One unit per phase, like the Chroma; the `phase` option (1..3) says which line it
sits on. Address: `TCPIP::host::30000::SOCKET` (the load's raw socket port).
Newline terminated.

Exchanges:

| method            | sent                                                         | expected reply   |
|-------------------|--------------------------------------------------------------|------------------|
| open()            | `SYST:REM`, `*CLS`, `INP OFF`, `SYST:MODE AC`, `FUNC CURR`, `SYST:ERR?` | `0,"No error"` |
| identify()        | `*IDN?`                                                      | `ITECH Ltd,IT8615,SN,FW` |
| set_current(a)    | `CURR {a:.3f}`, `SYST:ERR?` (+ `INP?` while enabled)          | `0,...` (`1`)    |
| set_enabled(True) | `INP ON`, `SYST:ERR?`, `INP?`                                 | `0,...`, `1`     |
| set_enabled(False)| `INP OFF`, `SYST:ERR?`                                        | `0,...`          |
| read()            | `MEAS:CURR:RMS?`, `MEAS:POW?`, `MEAS:VOLT:RMS?`, `INP?`       | numbers, `1`/`0` |

Rules behind them:
- set commands need remote mode (`SYST:REM`); AC mode (`SYST:MODE AC`) before the
  constant-current function (`FUNC CURR`, the mnemonic `SOUR:FUNC` takes);
- a refused command is queued in `SYST:ERR?`, read after every set command;
- a protection (over-power, over-current) switches the input off by itself: while the
  bench wants the input on, `INP?` is read back and a load that switched itself off is
  an InstrumentError naming what it reported.
Ratings (check against the manual for your variant): IT8615 1800 VA / 20 A rms,
IT8616 3600 VA / 40 A rms.
"""
from __future__ import annotations

from instruments.driver_info import DriverInfo
from instruments.drivers.scpi_load import ScpiAcLoad
from instruments.roles import Identity, InstrumentError, Ratings, check_rating
from instruments.transports.scpi import ScpiIO, parse_identity

NOMINAL_VOLTAGE_V = 230.0  # for the power rating check of a CC setpoint, as for the Chroma

COMMANDS = {
    "remote": "SYST:REM",
    "clear_status": "*CLS",
    "identify": "*IDN?",
    "input_on": "INP ON",
    "input_off": "INP OFF",
    "input_state": "INP?",
    "mode_ac": "SYST:MODE AC",
    "function_cc": "FUNC CURR",
    "set_current": "CURR {current_a:.3f}",
    "meas_current": "MEAS:CURR:RMS?",
    "meas_power": "MEAS:POW?",
    "meas_voltage": "MEAS:VOLT:RMS?",
    "system_error": "SYST:ERR?",
}
MODELS = ("IT8615", "IT8616")


class ItechIt8615(ScpiAcLoad):
    DRIVER_NAME = "itech_it8615"
    COMMANDS = COMMANDS
    STATE_KEY = "input_state"

    def __init__(self, name: str, address: str, ratings: Ratings | None = None, *, phase: int = 1, **options) -> None:
        super().__init__(name, address, ratings, phase=phase, **options)
        self._want_on = False

    # ---- lifecycle ---------------------------------------------------------------------
    async def open(self) -> None:
        await self.transport.open()

        async def steps(io: ScpiIO) -> None:
            for key in ("remote", "clear_status", "input_off", "mode_ac", "function_cc"):
                await io.write(COMMANDS[key])
            await self._check_error(io, f"{COMMANDS['mode_ac']}; {COMMANDS['function_cc']}")

        self._want_on = False
        await self.transport.exchange(steps, what=COMMANDS["function_cc"])

    async def identify(self) -> Identity:
        command = COMMANDS["identify"]
        return parse_identity(self.name, command, await self.transport.query(command),
                              what="an ITECH IT8600 series load",
                              accept=lambda f: f[0].upper().startswith("ITECH") and f[1].upper().startswith("IT86"))

    # ---- AcLoad --------------------------------------------------------------------------
    async def set_current(self, current_a: float) -> None:
        check_rating(self, current_a=current_a, power_w=current_a * NOMINAL_VOLTAGE_V)
        command = COMMANDS["set_current"].format(current_a=current_a)

        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check_error(io, command)
            if self._want_on:
                await self._check_still_on(io, command)

        await self.transport.exchange(steps, what=command)

    async def set_enabled(self, on: bool) -> None:
        command = COMMANDS["input_on" if on else "input_off"]

        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check_error(io, command)
            if on:
                await self._check_still_on(io, command)

        self._want_on = on
        await self.transport.exchange(steps, what=command)

    # ---- checks ------------------------------------------------------------------------
    async def _check_still_on(self, io: ScpiIO, after: str) -> None:
        if not await io.query_on_off(COMMANDS["input_state"]):
            self._want_on = False
            raise InstrumentError(
                f"{self.name}: input switched itself off after {after!r} ({COMMANDS['input_state']} = 0): "
                "a protection tripped (over-power or over-current); see the load's display"
            )

    async def _check_error(self, io: ScpiIO, after: str) -> None:
        await io.check_error_queue(COMMANDS["system_error"], repr(after))


DRIVER = DriverInfo(
    name="itech_it8615",
    role="ac_load",
    cls=ItechIt8615,
    transport="scpi",
    description="ITECH IT8615/IT8616 AC/DC load, one unit per phase (option: phase 1..3), raw socket port 30000",
    models=MODELS,
    # the ratings in the module docstring (IT8600 series: up to 420 V rms)
    model_ratings={"IT8615": Ratings(20.0, 1800.0, 420.0), "IT8616": Ratings(40.0, 3600.0, 420.0)},
)
