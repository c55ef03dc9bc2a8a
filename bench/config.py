"""lab_config.yaml -> typed, validated configuration.

Everything is checked before any instrument is touched. Errors name the file,
the key (dotted path) and the reason, e.g.
`lab_config.yaml: positions[0].instruments.meter.address: required key is missing`.
The file is read by bench/yaml_input.py (size, encoding, duplicate keys, aliases) and
validated strictly (a bool is not a number). `preflight()` adds what the file alone
cannot tell (hosts resolve, the CSMS port is free), before any run folder or socket.
"""
from __future__ import annotations

import errno
import hashlib
import re
import socket
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from bench.capabilities import Feature, FileScheme
from bench.ocmf import OcmfError, load_public_key
from bench.yaml_input import ConfigError, bad_input, read_mapping, validate

if TYPE_CHECKING:
    from bench.metering_regimes import MeterRatings, Regime

OCPP_VERSIONS = ("1.6", "2.0.1", "2.1")
OcppVersion = Literal["1.6", "2.0.1", "2.1"]
# OCPP 2.0.1 passwordString (also used for the 1.6 AuthorizationKey): 16..40 characters
_PASSWORD = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{16,40}$")
_SCPI_SOCKET = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)::(?P<port>\d+)::SOCKET$", re.IGNORECASE)
_SCPI_INSTR = re.compile(r"^TCPIP\d*::(?P<host>[^:]+)(::[^:]+)?::INSTR$", re.IGNORECASE)
_MODBUS = re.compile(r"^(?P<scheme>modbus\+tcp|modbus\+rtu-over-tcp)://(?P<host>[^:/?]+):(?P<port>\d+)(\?unit=(?P<unit>\d+))?$")
_VXI11_PORT = re.compile(r"^TCPIP\d*::(?P<host>[^:,]+),(?P<port>\d+)(::[^:]+)?::INSTR$", re.IGNORECASE)
MAX_PORT = 65535
MAX_MODBUS_UNIT = 255  # the unit identifier is one byte

__all__ = ["ConfigError", "LabConfig", "load_config", "preflight"]  # ConfigError lives in yaml_input


class _Strict(BaseModel):
    # NaN and infinity are refused everywhere (a NaN limit compares false with everything)
    # a field's docstring is its description: in `bench config schema` and docs/config.md
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)


def _not_bool(value: Any) -> Any:
    """A Literal of numbers takes `true` as 1; a phase count or profile number is not a bool."""
    if isinstance(value, bool):
        raise ValueError(f"must be a number, not {str(value).lower()}")
    return value


NotBool = BeforeValidator(_not_bool)
PositiveFloat = Annotated[float, Field(gt=0)]


class SecurityConfig(_Strict):
    """OCPP security profile of the CSMS (the same for every OCPP version): 0 plain ws,
    1 ws + HTTP Basic auth, 2 TLS (server certificate) + Basic auth, 3 TLS with client
    certificates. Certificates come from `cert_dir` (made by `bench certs`, or on the first
    run that needs them)."""

    profile: Annotated[Literal[0, 1, 2, 3], NotBool] = 0
    """OCPP security profile: 0 plain ws://, 1 ws:// with HTTP Basic auth, 2 wss:// (TLS, server
    certificate) with Basic auth, 3 wss:// with a client certificate per charger."""
    password: str | None = None
    """HTTP Basic auth password of the chargers (profiles 1 and 2; required there): 16 to 40
    characters of letters, digits and * - _ = : + | @ . (the OCPP passwordString)."""
    cert_dir: Path = Path("certs")
    """Folder of the test CA, the CSMS server certificate and one client certificate per charger
    (made by `bench certs`, or on the first run that needs them)."""
    server_names: list[str] = Field(default_factory=list)
    """Host names and IP addresses the chargers use to reach the CSMS: they go into the server
    certificate (profiles 2 and 3), so a charger verifying the host name accepts it."""

    @field_validator("password")
    @classmethod
    def _password_string(cls, v: str | None) -> str | None:
        if v is not None and not _PASSWORD.fullmatch(v):
            raise ValueError("must be 16..40 characters: letters, digits and * - _ = : + | @ .")
        return v

    @model_validator(mode="after")
    def _password_when_needed(self) -> "SecurityConfig":
        if self.profile in (1, 2) and self.password is None:
            raise ValueError(f"security profile {self.profile} needs a password (HTTP Basic auth)")
        return self


class CsmsConfig(_Strict):
    """The OCPP backend stub the chargers connect to."""

    host: str = Field("127.0.0.1", min_length=1)
    """Address the CSMS listens on: 0.0.0.0 (or the bench PC's address on the charger's network)
    for a real charger, 127.0.0.1 for the virtual lab."""
    port: int = Field(18180, ge=0, le=MAX_PORT)
    """TCP port the CSMS listens on; 0: any free port (tests, the virtual lab)."""
    heartbeat_interval_s: int = Field(60, gt=0)
    """Heartbeat interval the CSMS gives in its BootNotification answer, s."""
    id_tags: dict[str, Literal["Accepted", "Blocked", "Expired", "Invalid"]] = Field(default_factory=dict)
    """idTag -> the authorization status the CSMS answers for it (Authorize, StartTransaction)."""
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    """OCPP security profile, password and certificates."""
    path_prefix: str = Field("", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    """URL path before the charge point id, e.g. /ocpp: chargers connect to
    ws://host:port<path_prefix>/<charge point id>, and only there."""


class BenchConfig(_Strict):
    """The bench itself: its name, the CSMS stub, the sampling rate, how protocol findings count."""

    name: str = "bench"
    """Name of this bench, in the record and on the report cover."""
    csms: CsmsConfig = Field(default_factory=CsmsConfig)
    """The OCPP backend stub (CSMS) the chargers connect to."""
    sampling_rate_hz: float = Field(10.0, gt=0, le=100)
    """How often every instrument is read, Hz (a scenario may set its own)."""
    verdict_mode: Literal["strict", "compatibility"] = "strict"
    """What a protocol violation of the DUT (malformed frame, schema violation, unknown action, ...)
    does to its scenario: strict FAILs it (conformance testing), compatibility reports it in the
    record without failing (checking what a charger does despite known protocol defects)."""


class DutFeaturesConfig(_Strict):
    """What the DUT supports, as its vendor declares it (a PICS). Anything left out is discovered
    from the DUT when it boots (1.6 GetConfiguration, 2.x device model); a declaration wins over
    discovery. Names are the bench's version-neutral ones (bench/capabilities.py)."""

    supported: list[Feature] | None = None
    """The optional features it has (the others count as lacking); unset: discovered."""
    unsupported: list[Feature] = Field(default_factory=list)
    """The optional features it lacks (scenarios needing them are NOT SUPPORTED)."""
    measurands: list[str] | None = None
    """The optional measurands it can sample (e.g. Current.Import); unset: discovered or tried."""
    file_transfer: list[FileScheme] | None = None
    """URL schemes it can fetch firmware and upload diagnostics with, preferred first; unset: discovered."""

    @model_validator(mode="after")
    def _not_both(self) -> "DutFeaturesConfig":
        both = set(self.supported or []) & set(self.unsupported)
        if both:
            raise ValueError(f"declared both supported and unsupported: {', '.join(sorted(both))}")
        return self


class DutConfig(_Strict):
    """The charger under test at this position."""

    charge_point_id: str = Field(min_length=1, max_length=48)
    """Its charge point id (the last part of the URL it connects to): letters, digits, . _ ~ -."""
    ocpp_version: OcppVersion = "1.6"
    """The OCPP version it speaks: the only subprotocol the CSMS accepts from it."""
    connectors: int = Field(1, ge=1, le=8)
    """Number of connectors (EVSEs on 2.x)."""
    phases: Annotated[Literal[1, 3], NotBool] = 3
    """Phases it is wired for."""
    rated_current_a: float = Field(gt=0, le=80)
    """Its rated current per phase, A; a scenario setting a higher limit is SKIPPED on it."""
    nominal_voltage_v: float = Field(230.0, gt=0, le=480)
    """Nominal line-to-neutral voltage, V (converts W limits to A)."""
    reaction_time_s: float = Field(5.0, ge=0, le=60)
    """Time allowed from a charging profile accepted to the PWM offer changed, s (the vendor's figure)."""
    meter_accuracy_class: Literal["A", "B", "C"] = "A"
    """MID accuracy class of its energy meter. Without meter_regime the energy checks allow the
    class's error at reference conditions (EN 50470-3): A 2 %, B 1 %, C 0.5 %."""
    meter_resolution_wh: PositiveFloat = 1.0
    """Last digit of its energy register, Wh."""
    meter_sample_interval_s: int = Field(10, ge=1, le=3600)
    """MeterValueSampleInterval the bench sets on it before each scenario, s."""
    reboot_time_s: float = Field(120.0, gt=0, le=3600)
    """How long a reboot (Reset, firmware install) may take until it is connected and booted
    again, s; OCPP sets no limit, so it is the vendor's figure."""
    reconnect_time_s: float = Field(60.0, gt=0, le=3600)
    """How long after the CSMS is reachable again it is back at most, s: its reconnect back-off
    (2.0.1 part 4 section 5.3: OCPPCommCtrlr.RetryBackOff*, doubling; 1.6 leaves it to the vendor)."""
    features: DutFeaturesConfig = Field(default_factory=DutFeaturesConfig)
    """What it supports, as its vendor declares it; anything left out is discovered at boot."""
    meter_public_keys: dict[str, str] = Field(default_factory=dict)
    """The signing meter's public key by its serial (OCMF MS, else GS), as its maker publishes it:
    DER SubjectPublicKeyInfo in hex or base64; signed meter values are verified against it."""

    @field_validator("meter_public_keys")
    @classmethod
    def _public_keys(cls, v: dict[str, str]) -> dict[str, str]:
        for serial, key in v.items():
            try:
                load_public_key(key)
            except OcmfError as exc:
                raise ValueError(f"meter {serial!r}: {exc}") from None
        return v

    meter_regime: Literal["mid_a", "mid_b", "mid_c", "nist_hb44"] | None = None
    """Legal-metrology tolerance preset of the energy checks: MID class A/B/C (2014/32/EU Annex V)
    or NIST HB 44 section 3.40; unset: the flat MPE of meter_accuracy_class. The MID presets need
    the meter's own currents below (Annex V point 2: the manufacturer specifies them)."""
    meter_imin_a: PositiveFloat | None = None
    """The meter's minimum current Imin, A (MID Annex V)."""
    meter_itr_a: PositiveFloat | None = None
    """The meter's transitional current Itr, A (MID Annex V)."""
    meter_imax_a: PositiveFloat | None = None
    """The meter's maximum current Imax, A (MID Annex V)."""

    @model_validator(mode="after")
    def _regime_fits_the_meter(self) -> "DutConfig":
        currents = (self.meter_imin_a, self.meter_itr_a, self.meter_imax_a)
        imin, itr, imax = currents
        if imin is not None and itr is not None and imax is not None and not imin < itr < imax:
            raise ValueError(f"meter_imin_a < meter_itr_a < meter_imax_a must hold, got {imin:g}, {itr:g}, {imax:g} A")
        if self.meter_regime is None or not self.meter_regime.startswith("mid_"):
            return self
        if None in currents:
            raise ValueError(f"meter_regime {self.meter_regime} needs meter_imin_a, meter_itr_a and meter_imax_a "
                             "(the meter's Imin, Itr, Imax: MID Annex V sets its MPE per current range)")
        letter = self.meter_regime[-1].upper()
        if letter != self.meter_accuracy_class:
            raise ValueError(f"meter_regime {self.meter_regime} is MID class {letter} but meter_accuracy_class is "
                             f"{self.meter_accuracy_class}: set both to the meter's class")
        return self

    @field_validator("charge_point_id")
    @classmethod
    def _url_safe(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", v):
            raise ValueError("must be URL-path safe (letters, digits, . _ ~ -)")
        return v

    @property
    def meter_mpe_pct(self) -> float:
        """The class's error limit at reference conditions, balanced load above Itr (EN 50470-3);
        with a meter_regime, that regime's MPE for a whole session (bench/metering_regimes.py)."""
        if (preset := self.regime) is not None:
            return preset.session().mpe_pct or 0.0
        return {"A": 2.0, "B": 1.0, "C": 0.5}[self.meter_accuracy_class]

    @property
    def regime(self) -> "Regime | None":
        from bench.metering_regimes import regime

        return regime(self.meter_regime)

    @property
    def meter_ratings(self) -> "MeterRatings":
        from bench.metering_regimes import MeterRatings

        return MeterRatings(self.meter_imin_a, self.meter_itr_a, self.meter_imax_a)


class EvConfig(_Strict):
    """The car the bench plays (EV emulator plus AC loads, or the virtual lab's car)."""

    max_current_a: float = Field(32.0, gt=0, le=80)
    """Most current the car draws per phase, A."""
    phases: Annotated[Literal[1, 2, 3], NotBool] = 3
    """Phases the car draws on."""
    reaction_time_s: float = Field(1.0, ge=0, le=10)
    """How fast the car follows a PWM change, s (IEC 61851-1 allows the EV 5 s)."""


class RatingsConfig(_Strict):
    """Limits the bench never commands an instrument beyond (at most the model's datasheet figures)."""

    max_current_a: PositiveFloat | None = None
    """Most current, A."""
    max_power_w: PositiveFloat | None = None
    """Most power, W."""
    max_voltage_v: PositiveFloat | None = None
    """Most voltage, V."""


class InstrumentConfig(_Strict):
    """One instrument: its driver (`bench instruments list`), address and what the bench may ask of it."""

    driver: str
    """Driver name, e.g. eastron_sdm630, chroma_63800, reference_ev_emulator (`bench instruments list`)."""
    address: str
    """Where it answers: modbus+tcp://host:502?unit=1 (or modbus+rtu-over-tcp://) for Modbus drivers,
    TCPIP::host::port::SOCKET or TCPIP::host::inst0::INSTR (drivers that accept VXI-11) for SCPI ones."""
    model: str | None = None
    """The model expected at this address (e.g. "63804"): its identity is checked against it, and
    the virtual lab simulates it."""
    calibration_due: date | None = None
    """Calibration due date, shown on the report cover; the bench warns when it has passed."""
    phase: Annotated[Literal[1, 2, 3], NotBool] | None = None
    """AC loads: the phase the unit sits on (required for every ac_load)."""
    ratings: RatingsConfig = Field(default_factory=RatingsConfig)
    """Limits the bench never commands beyond; may narrow the model's, never widen them."""

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        from instruments.registry import DRIVERS

        if v not in DRIVERS:
            raise ValueError(f"unknown driver {v!r}; known: {', '.join(sorted(DRIVERS))}")
        return v

    @field_validator("address")
    @classmethod
    def _address_fits_driver(cls, v: str, info: ValidationInfo) -> str:
        from instruments.registry import DRIVERS

        if "driver" not in info.data:  # an unknown driver is reported on its own key
            return v
        driver = DRIVERS[info.data["driver"]]
        if driver.transport == "modbus" and not _MODBUS.match(v):
            raise ValueError(f"{v!r} is not a Modbus address like modbus+tcp://host:502?unit=1")
        if driver.transport == "scpi" and not (_SCPI_SOCKET.match(v) or _SCPI_INSTR.match(v)):
            raise ValueError(f"{v!r} is not a VISA address like TCPIP::host::5025::SOCKET")
        if _SCPI_INSTR.match(v) and not driver.accepts_instr:
            raise ValueError(f"{v!r}: {driver.name} talks over a raw socket only (TCPIP::host::port::SOCKET)")
        endpoint = _host_port(v)
        if endpoint is not None and endpoint[1] > MAX_PORT:
            raise ValueError(f"{v!r}: port {endpoint[1]} is out of range (1..{MAX_PORT})")
        unit = (m := _MODBUS.match(v)) and m["unit"]
        if unit and int(unit) > MAX_MODBUS_UNIT:
            raise ValueError(f"{v!r}: Modbus unit {unit} is out of range (0..{MAX_MODBUS_UNIT})")
        return v

    @field_validator("model")
    @classmethod
    def _model_of_driver(cls, v: str | None, info: ValidationInfo) -> str | None:
        from instruments.registry import DRIVERS, model_matches

        known = DRIVERS[info.data["driver"]].models if "driver" in info.data else ()
        if v is not None and known and not any(model_matches(m, v) for m in known):
            raise ValueError(f"{info.data['driver']} talks to {', '.join(known)}, not {v!r}")
        return v

    @field_validator("ratings")
    @classmethod
    def _within_capability(cls, v: RatingsConfig, info: ValidationInfo) -> RatingsConfig:
        """The config's ratings may narrow what the model can take, never widen it: the bench
        refuses setpoints beyond the configured ratings, so a rating above the datasheet would
        let it command the instrument past its limits."""
        from instruments.registry import DRIVERS

        if "driver" not in info.data or "model" not in info.data:
            return v
        can = DRIVERS[info.data["driver"]].capability(info.data["model"])
        if can is None:
            return v
        what = f"a {info.data['model']}" if info.data["model"] else f"any {info.data['driver']} model"
        for name, unit in (("max_current_a", "A"), ("max_power_w", "W"), ("max_voltage_v", "V")):
            mine, most = getattr(v, name), getattr(can, name)
            if mine is not None and most is not None and mine > most:
                raise ValueError(f"{name} {mine:g} {unit} is above what {what} can take ({most:g} {unit})")
        return v

    @property
    def role(self) -> str:
        from instruments.registry import DRIVERS

        return DRIVERS[self.driver].role

    @property
    def host_port(self) -> tuple[str, int] | None:
        return _host_port(self.address)

    @property
    def host(self) -> str | None:
        """The host name or IP of the address (None: no network address)."""
        if endpoint := self.host_port:
            return endpoint[0]
        m = _SCPI_INSTR.match(self.address)
        return m["host"] if m else None

    def max_current_a(self) -> float | None:
        """The most current it may be commanded: its rating, else its model's capability."""
        from instruments.registry import DRIVERS

        if self.ratings.max_current_a is not None:
            return self.ratings.max_current_a
        can = DRIVERS[self.driver].capability(self.model)
        return can.max_current_a if can else None


def _host_port(address: str) -> tuple[str, int] | None:
    m = _MODBUS.match(address) or _SCPI_SOCKET.match(address) or _VXI11_PORT.match(address)
    return (m["host"], int(m["port"])) if m else None


class PositionConfig(_Strict):
    """One charging position: a charger under test, the car the bench plays, the instruments around it."""

    name: str = Field(min_length=1)
    """Position name (unique), e.g. pos1: in the console, the record and trace file names."""
    dut: DutConfig
    """The charger under test."""
    ev: EvConfig = Field(default_factory=EvConfig)
    """The car the bench plays."""
    instruments: dict[str, InstrumentConfig] = Field(default_factory=dict)
    """Instrument name -> instrument (at most one power_meter and one ev_emulator, one ac_load per
    phase); none: protocol-only (physical checks SKIPPED)."""

    @model_validator(mode="after")
    def _roles_consistent(self) -> "PositionConfig":
        roles = [i.role for i in self.instruments.values()]
        for role in ("power_meter", "ev_emulator"):
            if roles.count(role) > 1:
                raise ValueError(f"more than one {role} configured")
        phases = [i.phase for i in self.instruments.values() if i.role == "ac_load"]
        if None in phases:
            raise ValueError("every ac_load instrument needs 'phase' (1..3)")
        if len(set(phases)) != len(phases):
            raise ValueError("two ac_load instruments on the same phase")
        if phases and len(phases) < self.ev.phases:
            raise ValueError(f"the EV draws on {self.ev.phases} phases but only {len(phases)} AC loads are configured")
        for name, load in self.instruments_with_role("ac_load").items():
            most = load.max_current_a()
            if most is not None and self.ev.max_current_a > most:  # the EV's draw is the load's setpoint
                raise ValueError(f"ev.max_current_a {self.ev.max_current_a:g} A is above what {name} may be "
                                 f"commanded ({most:g} A): the EV draws through the AC loads")
        return self

    def instruments_with_role(self, role: str) -> dict[str, InstrumentConfig]:
        return {n: i for n, i in self.instruments.items() if i.role == role}


class TolerancesConfig(_Strict):
    """Every tolerance the checks apply, stated once with where it comes from (each field's
    description, shown with the check parameters). Two kinds: limits of a rule (what the DUT
    must meet) and the bench's own uncertainty (what the bench cannot tell apart). A verdict
    closer to a limit than the bench's uncertainty is reported as such (`within_uncertainty`
    on the measurement). The DUT's MID class (energy MPE) and its allowed reaction time are in
    `positions[].dut`; per-check overrides in the scenario's check arguments."""

    # -- rule limits --------------------------------------------------------------------
    current_abs_a: float = Field(0.5, ge=0, description=(
        "current over the composite limit, A (with current_rel_pct): OCPP 1.6 3.13 / 2.0.1 K keep the EV under "
        "the limit through the PWM (IEC 61851-1 Annex A); a bench allowance for the EV's control ripple and the "
        "reference meter, not a figure of a standard"))
    current_rel_pct: float = Field(2.0, ge=0, description="share of the limit added to current_abs_a, %")
    pwm_duty_pct: float = Field(0.5, ge=0, description=(
        "PWM duty vs the Annex A duty of the limit, percentage points: IEC 61851-1 Annex A, the generator's "
        "pulse width within +-5 us at 1 kHz"))
    meter_current_rel_pct: float = Field(2.0, ge=0, description=(
        "MeterValues Current.Import vs the reference current, % (with meter_current_abs_a): the DUT's declared "
        "accuracy for current (MID covers energy only): set it from the DUT's datasheet"))
    meter_current_abs_a: float = Field(0.2, ge=0, description="absolute part of the DUT's current accuracy, A")
    settle_margin_s: float = Field(1.0, ge=0, description=(
        "slack on top of the allowed reaction times (DUT, EV) before a change is judged, s; the checks add one "
        "trace sampling period themselves"))
    ev_underdraw_a: float = Field(1.0, ge=0, description=(
        "how much less than it requests the bench's EV (emulator + load) may draw, A: an EV may draw less than "
        "offered (IEC 61851-1 Annex A: the duty is a maximum); below request - this - the current tolerance the "
        "charger cut the power"))
    clock_tolerance_s: float = Field(2.0, ge=0, description=(
        "the DUT's clock against the bench's for MeterValues timestamps, s (open conformance suites: sampled "
        "interval +-1 s, clock-aligned within 2 s of the boundary)"))
    timestamp_resolution_s: PositiveFloat | None = Field(None, description=(
        "resolution of the DUT's OCPP timestamps, s; unset = inferred (all whole seconds -> 1 s): a value "
        "stamped t was taken somewhere in [t, t + resolution)"))
    memory_growth_kib_per_h: float = Field(1024.0, gt=0, description=(
        "how fast the charger's (virtual lab) and the bench's memory may grow over a soak, KiB/h (`memory_flat`, "
        "fitted over the session marks after the first): a bench policy, not a figure of a standard; 1 MiB/h is "
        "8 MiB over a night, small against a charger's RAM yet far above a flat process's noise"))
    min_coverage_pct: float = Field(80.0, ge=0, le=100, description=(
        "share of the judgeable time (outside settle windows, with a limit known) a trace check must compare, "
        "%; below it the bench lost data and the check is ERROR, never a quiet PASS"))

    # -- the bench's own uncertainty --------------------------------------------------------
    reference_current_pct: float = Field(0.5, ge=0, description=(
        "reference meter's current uncertainty, % of reading: Eastron SDM630 datasheet +-0.5 % (a power "
        "analyser such as a WT300 is about 0.1 % + 0.1 % of range)"))
    reference_energy_pct: float = Field(1.0, ge=0, description=(
        "reference meter's active energy uncertainty, % of reading: SDM630 class 1 (IEC 62053-21, MID class "
        "B); a class-1 reference cannot settle verdicts within 1 % of a class A DUT's 2 % MPE"))
    reference_duty_pct: float = Field(0.1, ge=0, description=(
        "EV emulator's duty measurement uncertainty, percentage points (its datasheet)"))


class ChargerSimSettings(_Strict):
    """The simulated charger of the virtual lab."""

    reaction_time_s: float = Field(1.0, ge=0)
    """The ideal charger's fixed reaction to a limit change, s (with realism: ideal)."""
    features: Literal["full", "minimal"] = "full"
    """full: every optional OCPP feature, files over HTTP and FTP; minimal: only the required part
    of each OCPP version, files over FTP only, 30 s reboots (bench/sim/charger_features.py)."""


Range = tuple[float, float]


def _ordered(name: str, r: Range | None) -> None:
    if r is not None and r[0] > r[1]:
        raise ValueError(f"{name}: min {r[0]} is above max {r[1]}")


class RealismConfig(_Strict):
    """Real signals in the virtual lab (bench/sim/realism.py): what a correct charger on a
    real bench produces. `realism: ideal` turns all of it off (exact values, for unit tests)."""

    current_noise_pct: float = Field(1.0, ge=0, le=10)
    """Per-sample noise (3-sigma band, % of reading) of the reference meter and, independently,
    of the charger's own meter (its MeterValues current and power)."""
    reaction_time_s: Range | None = None
    """[min, max] of the simulated charger's reaction to each limit change, s, drawn per change;
    default [0.2, the DUT's reaction_time_s]: a correct charger is never slower than allowed."""
    ev_underdraw_a: Range = (0.3, 0.8)
    """[min, max] the car draws less than offered, A, slowly varying."""
    mains_v: Range = (225.0, 235.0)
    """[min, max] line-to-neutral voltage per phase, V, slowly wandering inside."""
    pwm_jitter_pct: float = Field(0.3, ge=0, le=0.5)
    """PWM generator jitter per update, percentage points of duty: IEC 61851-1 lets the EV side
    tolerate +-0.5 % of duty (1 kHz, +-5 us pulse width), so a correct charger stays inside."""
    timestamp_resolution_s: float = Field(1.0, ge=0, le=60)
    """The simulated charger's OCPP timestamps are truncated to this, s."""
    seed: int = 1
    """Every random draw is reproducible from this."""

    @field_validator("reaction_time_s", "ev_underdraw_a", "mains_v")
    @classmethod
    def _range(cls, v: Range | None, info) -> Range | None:
        _ordered(info.field_name, v)
        if v is not None and v[0] < 0:
            raise ValueError(f"{info.field_name}: must not be negative")
        return v

    @field_validator("mains_v")
    @classmethod
    def _mains_positive(cls, v: Range) -> Range:
        if v[0] <= 0:
            raise ValueError("mains_v: voltages must be above 0")
        return v

    def reaction_range_s(self, dut: DutConfig) -> Range:
        """The reaction range of the charger at this position (default: up to the DUT's allowed time)."""
        if self.reaction_time_s is not None:
            return self.reaction_time_s
        allowed = dut.reaction_time_s
        return (min(0.2, allowed), allowed)


class VirtualLabConfig(_Strict):
    """The virtual lab: a simulated charger and simulated instruments on this machine."""

    enabled: bool = False
    """true: `bench run` starts the simulated charger and the simulators of the configured
    instruments itself; false: a real bench (real charger, real instruments)."""
    charger: ChargerSimSettings = Field(default_factory=ChargerSimSettings)
    """The simulated charger."""
    realism: RealismConfig | Literal["ideal"] = Field(default_factory=RealismConfig)
    """Real signals (noise, wandering mains, reaction times, jitter), or `ideal`: exact values."""
    speed: Annotated[float, Field(gt=0, le=100)] | Literal["max"] = 1.0
    """How many times faster than real time the virtual lab runs (`bench run --speed`), or "max":
    as fast as the machine allows, time jumping ahead while the whole lab waits. A real charger
    lives in real time, so any other speed needs enabled: true."""

    @property
    def realism_on(self) -> RealismConfig | None:
        """The realism knobs, or None for `realism: ideal`."""
        return None if self.realism == "ideal" else self.realism

    @model_validator(mode="after")
    def _speed_needs_the_virtual_lab(self) -> "VirtualLabConfig":
        if self.speed != 1 and not self.enabled:
            raise ValueError(f"speed {self.speed}: only the virtual lab runs faster than real time "
                             "(a real charger lives in real time); set speed: 1 or enabled: true")
        return self


class LabConfig(_Strict):
    """lab_config.yaml: the bench, its charging positions, the tolerances and the virtual lab."""

    bench: BenchConfig = Field(default_factory=BenchConfig)
    """The bench: name, CSMS stub, sampling rate, verdict mode."""
    positions: list[PositionConfig] = Field(min_length=1)
    """The charging positions (at least one), tested in parallel."""
    tolerances: TolerancesConfig = Field(default_factory=TolerancesConfig)
    """Every tolerance the checks apply, each with its source."""
    virtual_lab: VirtualLabConfig = Field(default_factory=VirtualLabConfig)
    """The simulated charger and instruments (enabled: true), or a real bench (false)."""

    @field_validator("positions")
    @classmethod
    def _unique(cls, v: list[PositionConfig]) -> list[PositionConfig]:
        names = [p.name for p in v]
        if len(set(names)) != len(names):
            raise ValueError("position names must be unique")
        ids = [p.dut.charge_point_id for p in v]
        if len(set(ids)) != len(ids):
            raise ValueError("charge_point_id must be unique across positions")
        return v

    @field_validator("virtual_lab")
    @classmethod
    def _fits_the_positions(cls, v: VirtualLabConfig, info: ValidationInfo) -> VirtualLabConfig:
        positions: list[PositionConfig] = info.data.get("positions", [])
        realism = v.realism_on
        if realism is not None and realism.reaction_time_s is not None:
            for p in positions:
                if realism.reaction_time_s[1] > p.dut.reaction_time_s:
                    raise ValueError(f"realism.reaction_time_s: max {realism.reaction_time_s[1]} s is "
                                     f"beyond the reaction time {p.dut.reaction_time_s} s allowed to "
                                     f"{p.name}'s DUT: the correct charger would be too slow")
        if not v.enabled:
            for i, p in enumerate(positions):
                for n, ins in p.instruments.items():
                    if ins.host_port and ins.host_port[1] == 0:
                        raise ValueError(f"positions[{i}].instruments.{n}.address: port 0 is only allowed "
                                         "when the virtual lab starts the simulator (enabled: true)")
        return v


def load_config(path: Path | str) -> LabConfig:
    """lab_config.yaml, read safely (bench/yaml_input.py) and validated strictly; ConfigError
    naming the file, each bad key and why."""
    path = Path(path)
    data = read_mapping(path, "config", "with 'bench' and 'positions'")
    try:
        return validate(LabConfig, data)
    except ValidationError as exc:
        raise bad_input(path, exc, data) from None


def preflight(config: LabConfig, path: Path | str) -> None:
    """What the file alone cannot tell, checked before any run folder or socket: every host
    resolves, and the CSMS can listen where configured (bound and released at once)."""
    problems = [*_unresolved_hosts(config), *_csms_cannot_listen(config.bench.csms)]
    if problems:
        raise ConfigError("\n".join(f"{path}: {p}" for p in problems))


def _resolves(host: str) -> str | None:
    """None when `host` resolves, else why not."""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label the IDNA codec refuses
        return getattr(exc, "strerror", None) or str(exc)
    return None


def _unresolved_hosts(config: LabConfig) -> list[str]:
    problems = []
    for i, pos in enumerate(config.positions):
        for name, ins in pos.instruments.items():
            if ins.host is not None and (why := _resolves(ins.host)) is not None:
                problems.append(f"positions[{i}].instruments.{name}.address: host {ins.host!r} does not resolve "
                                f"({why})")
    return problems


def _csms_cannot_listen(csms: CsmsConfig) -> list[str]:
    """Bind every address the CSMS would listen on, as asyncio does (SO_REUSEADDR, IPv6 only
    on IPv6 sockets), and release it again: a port held by another process is refused here."""
    try:
        infos = socket.getaddrinfo(csms.host, csms.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return [f"bench.csms.host: {csms.host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})"]
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return [_why_not_listening(csms, exc)]
    return []


def _why_not_listening(csms: CsmsConfig, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        return (f"bench.csms.port: port {csms.port} on {csms.host} is already in use ({why}); stop what "
                "listens there or choose another bench.csms.port (0: any free port)")
    if exc.errno == errno.EACCES:
        return f"bench.csms.port: not allowed to listen on port {csms.port} ({why}); use a port above 1023"
    return f"bench.csms.host: the CSMS cannot listen on {csms.host!r} port {csms.port} ({why})"


def config_digest(path: Path | str) -> str:
    """sha256 of the config file bytes, recorded with every run."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def parse_host_port(address: str) -> tuple[str, int] | None:
    m = _MODBUS.match(address) or _SCPI_SOCKET.match(address)
    return (m["host"], int(m["port"])) if m else None


def replace_port(address: str, port: int) -> str:
    """The same address with another TCP port (the virtual lab binds port 0 in tests)."""
    if m := _MODBUS.match(address):
        return address.replace(f":{m['port']}", f":{port}", 1)
    if m := _SCPI_SOCKET.match(address):
        return address.replace(f"::{m['port']}::", f"::{port}::", 1)
    raise ValueError(f"no TCP port in address {address!r}")
