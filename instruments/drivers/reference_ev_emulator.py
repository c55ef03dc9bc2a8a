"""The bench's reference EV emulator command set (SCPI over a TCP socket): an `EvEmulator`.

EV emulator vendors keep their command sets private, so the bench defines its
own, served by `bench/sim/instruments/ev_emulator_sim.py` and implementable by any
lab-built emulator (e.g. a microcontroller board behind a serial-to-TCP bridge).
Address: `TCPIP::host::port::SOCKET`. Newline terminated, case-insensitive, SCPI
short and long forms (`CP:STATe`, `CP:VOLTage?`), several commands per line
separated by `;` (path rule: `CP:STATE?;DUTY?` means `CP:DUTY?`).

| command                       | reply / effect                                                   |
|-------------------------------|------------------------------------------------------------------|
| `*IDN?`                       | `EVBENCH,REF-EV-EMULATOR,<serial>,<firmware>`                    |
| `*RST`                        | state A (unplugged), no error injected, PP 220 ohm               |
| `*CLS`                        | clears the error queue and the event status register             |
| `*ESR?`                       | standard event status register (NR1), cleared by reading         |
| `CP:STATe A\\|B\\|C\\|D\\|E`        | state the EV applies on the control pilot (F is the EVSE's)      |
| `CP:STATe?`                   | state seen on the line, `A`..`F` (F when the charger forces it)  |
| `CP:DUTY?`                    | measured PWM duty in % (NR2); 0 = no PWM, 100 = no charging      |
| `CP:VOLTage?`                 | measured CP high level in V (NR2): 12, 9, 6, 3, 0, -12           |
| `CP:FREQuency?`               | measured PWM frequency in Hz (NR2), 0 without oscillation        |
| `PP:RESistance <ohm>`         | proximity resistor, 0..100000 ohm (1500/680/220/100 = 13/20/32/63 A cable) |
| `PP:RESistance?`              | the proximity resistor in ohm                                    |
| `EV:ERRor NONE\\|DIODE\\|SHORT`   | error injection: missing diode, CP shorted to PE                 |
| `EV:ERRor?`                   | the injected error                                               |
| `SYSTem:WDOG <s>`             | watchdog: no command for `s` seconds -> state A, no error (0 = off, up to 3600) |
| `SYSTem:WDOG?`                | the watchdog time in s                                           |
| `SYSTem:ERRor[:NEXT]?`        | oldest queued error (see below)                                  |

Queued errors: `0,"No error"`, `-113,"Undefined header"`, `-222,"Data out of range"`,
`-224,"Illegal parameter value"` ...

After every set command this driver queries `SYST:ERR?` and raises
`InstrumentError` on a non-zero code.

Safety: `open()` arms the watchdog (WATCHDOG_S) and a keep-alive query every KEEPALIVE_S
feeds it while the bench process lives, so a bench that dies, even by SIGKILL, leaves the
EV unplugged within WATCHDOG_S; `close()` disarms it. An emulator without `SYST:WDOG`
(it answers -113) is used without one (`watchdog_s` is then None).

Adding a vendor's emulator (one file, nothing else in the bench changes):
1. create `instruments/drivers/<vendor_model>.py` with a class deriving from
   `instruments.roles.EvEmulator` (or from `ReferenceEvEmulator` if the emulator
   speaks SCPI: override `COMMANDS` and, if needed, `read()`/`_check_error()`);
2. register it: `DRIVERS["<vendor_model>"] = DriverInfo(...)` in
   `instruments/registry.py` (or `register_driver(...)` from the lab's own code);
3. name that driver in `lab_config.yaml`.
"""
from __future__ import annotations

import asyncio
import logging
import math

from instruments.driver_info import DriverInfo
from instruments.iec61851 import duty_to_current_a
from instruments.roles import EvEmulator, EvEmulatorReading, Identity, InstrumentError, Ratings
from instruments.transports.scpi import ScpiIO, ScpiTransport, parse_float

EV_STATES = ("A", "B", "C", "D", "E")
LINE_STATES = ("A", "B", "C", "D", "E", "F")
EV_ERRORS = ("NONE", "DIODE", "SHORT")
NO_ERROR_CODE = 0
WATCHDOG_S = 30.0   # no command this long: the bench is gone, the EV unplugs
KEEPALIVE_S = 10.0  # a query at least this often while the bench lives (the EV model polls more often)
log = logging.getLogger(__name__)


class ReferenceEvEmulator(EvEmulator):
    COMMANDS = {
        "identify": "*IDN?",
        "reset": "*RST",
        "clear_status": "*CLS",
        "set_cp_state": "CP:STATE {state}",
        "set_pp_resistance": "PP:RES {ohm:g}",
        "set_error": "EV:ERR {kind}",
        "error_injected": "EV:ERR?",
        "cp_frequency": "CP:FREQ?",
        # one line, one consistent snapshot: state, duty, high level
        "read": "CP:STATE?;DUTY?;VOLT?",
        "system_error": "SYST:ERR?",
        "watchdog": "SYST:WDOG {seconds:g}",
        "watchdog_query": "SYST:WDOG?",
    }
    IDN_VENDOR = "EVBENCH"

    def __init__(self, name: str, address: str, ratings: Ratings | None = None, **options) -> None:
        if options:
            raise TypeError(f"{name}: reference_ev_emulator takes no options, got {sorted(options)}")
        super().__init__(name, address, ratings)
        self.transport = ScpiTransport(name, address)
        self.watchdog_s: float | None = None  # armed watchdog time, None without one
        self._keepalive: asyncio.Task | None = None

    # ---- lifecycle -------------------------------------------------------------------
    async def open(self) -> None:
        await self.transport.open()
        await self.transport.write(self.COMMANDS["clear_status"])  # stale errors are not ours
        await self._arm_watchdog()

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
            self._keepalive = None
        if self.watchdog_s is not None:
            try:  # disarmed: a person at the bench may take over the emulator
                await self._set(self.COMMANDS["watchdog"].format(seconds=0))
            except InstrumentError as exc:
                log.warning("%s: could not disarm the watchdog: %s", self.name, exc)
            self.watchdog_s = None
        await self.transport.close()

    async def _arm_watchdog(self) -> None:
        try:
            await self._set(self.COMMANDS["watchdog"].format(seconds=WATCHDOG_S))
        except InstrumentError as exc:
            log.warning("%s: no watchdog (%s): after a crash the EV stays as it was", self.name, exc)
            return
        self.watchdog_s = WATCHDOG_S
        self._keepalive = asyncio.create_task(self._keep_alive(), name=f"{self.name}-keepalive")

    async def _keep_alive(self) -> None:
        query = self.COMMANDS["watchdog_query"]
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            try:
                reply = await self.transport.query(query)
                if not math.isclose(float(reply), WATCHDOG_S):
                    log.warning("%s: watchdog reads %r, not %g s: arming again", self.name, reply, WATCHDOG_S)
                    await self._set(self.COMMANDS["watchdog"].format(seconds=WATCHDOG_S))
            except (InstrumentError, ValueError) as exc:  # a lost link is the sampler's to report
                log.debug("%s: keep-alive: %s", self.name, exc)

    async def identify(self) -> Identity:
        command = self.COMMANDS["identify"]
        reply = await self.transport.query(command)
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) != 4 or fields[0].upper() != self.IDN_VENDOR:
            raise InstrumentError(f"{self.name}: {command!r} answered {reply!r}: not a reference EV emulator")
        return Identity(vendor=fields[0], model=fields[1], serial=fields[2], firmware=fields[3])

    # ---- EvEmulator ----------------------------------------------------------------
    async def set_cp_state(self, state: str) -> None:
        state = str(getattr(state, "value", state)).upper()
        if state not in EV_STATES:
            raise ValueError(f"{self.name}: an EV applies CP state A..E, not {state!r}")
        await self._set(self.COMMANDS["set_cp_state"].format(state=state))

    async def set_pp_resistance(self, ohm: float) -> None:
        await self._set(self.COMMANDS["set_pp_resistance"].format(ohm=ohm))

    async def inject_error(self, kind: str) -> None:
        """`NONE`, `DIODE` (diode missing) or `SHORT` (CP shorted to PE)."""
        kind = kind.upper()
        if kind not in EV_ERRORS:
            raise ValueError(f"{self.name}: error kind must be one of {EV_ERRORS}, not {kind!r}")
        await self._set(self.COMMANDS["set_error"].format(kind=kind))

    async def reset(self) -> None:
        await self._set(self.COMMANDS["reset"])

    async def read(self) -> EvEmulatorReading:
        command = self.COMMANDS["read"]
        reply = await self.transport.query(command)
        parts = [p.strip() for p in reply.split(";")]
        if len(parts) != 3 or parts[0].upper() not in LINE_STATES:
            raise InstrumentError(f"{self.name}: malformed reply to {command!r}: {reply!r}")
        duty = parse_float(self.name, command, parts[1])
        return EvEmulatorReading(
            cp_state=parts[0].upper(),
            pwm_duty_pct=duty,
            offered_current_a=duty_to_current_a(duty),
            cp_voltage_v=parse_float(self.name, command, parts[2]),
        )

    # ---- helpers ---------------------------------------------------------------------
    async def _set(self, command: str) -> None:
        async def steps(io: ScpiIO) -> None:
            await io.write(command)
            await self._check_error(io, command)

        await self.transport.exchange(steps, what=command)

    async def _check_error(self, io: ScpiIO, after: str) -> None:
        query = self.COMMANDS["system_error"]
        reply = await io.query(query)
        code_text, _, message = reply.partition(",")
        try:
            code = int(code_text.strip())
        except ValueError:
            raise InstrumentError(f"{self.name}: malformed reply to {query!r} after {after!r}: {reply!r}") from None
        if code != NO_ERROR_CODE:
            raise InstrumentError(f"{self.name}: {after!r} refused: {query} = {code},{message.strip()}")


DRIVER = DriverInfo(
    name="reference_ev_emulator",
    role="ev_emulator",
    cls=ReferenceEvEmulator,
    transport="scpi",
    description="EV emulator speaking the bench's reference SCPI command set",
    models=("REF-EV-EMULATOR",),
)
