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
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    password: str | None = None  # Basic auth password of the chargers (profiles 1 and 2)
    cert_dir: Path = Path("certs")  # test CA, CSMS server certificate, one client certificate per charger
    server_names: list[str] = Field(default_factory=list)  # host names/IPs the chargers use for the CSMS

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
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(18180, ge=0, le=MAX_PORT)  # 0: any free port (tests, the virtual lab)
    heartbeat_interval_s: int = Field(60, gt=0)
    id_tags: dict[str, Literal["Accepted", "Blocked", "Expired", "Invalid"]] = Field(default_factory=dict)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    # chargers connect to ws://host:port<path_prefix>/<charge point id>, and only there
    path_prefix: str = Field("", pattern=r"^(/[A-Za-z0-9._~-]+)*$")


class BenchConfig(_Strict):
    name: str = "bench"
    csms: CsmsConfig = Field(default_factory=CsmsConfig)
    sampling_rate_hz: float = Field(10.0, gt=0, le=100)
    # what a protocol violation of the DUT (malformed frame, schema violation, unknown action, ...)
    # does to its scenario: strict FAILs it (conformance testing), compatibility reports it in the
    # record without failing (checking what a charger does despite known protocol defects)
    verdict_mode: Literal["strict", "compatibility"] = "strict"


class DutFeaturesConfig(_Strict):
    """What the DUT supports, as its vendor declares it (a PICS). Anything left out is discovered
    from the DUT when it boots (1.6 GetConfiguration, 2.x device model); a declaration wins over
    discovery. Names are the bench's version-neutral ones (bench/capabilities.py)."""

    supported: list[Feature] | None = None    # optional features it has; None: discover
    unsupported: list[Feature] = Field(default_factory=list)  # optional features it lacks
    measurands: list[str] | None = None       # optional measurands it can sample; None: discover/try
    file_transfer: list[FileScheme] | None = None  # schemes for firmware/diagnostics, preferred first

    @model_validator(mode="after")
    def _not_both(self) -> "DutFeaturesConfig":
        both = set(self.supported or []) & set(self.unsupported)
        if both:
            raise ValueError(f"declared both supported and unsupported: {', '.join(sorted(both))}")
        return self


class DutConfig(_Strict):
    charge_point_id: str = Field(min_length=1, max_length=48)
    ocpp_version: OcppVersion = "1.6"  # the only subprotocol the CSMS accepts from this charger
    connectors: int = Field(1, ge=1, le=8)
    phases: Annotated[Literal[1, 3], NotBool] = 3
    rated_current_a: float = Field(gt=0, le=80)
    nominal_voltage_v: float = Field(230.0, gt=0, le=480)
    reaction_time_s: float = Field(5.0, ge=0, le=60)
    meter_accuracy_class: Literal["A", "B", "C"] = "A"
    meter_resolution_wh: PositiveFloat = 1.0
    meter_sample_interval_s: int = Field(10, ge=1, le=3600)
    # how long a reboot (Reset, firmware install) may take until the DUT is connected and booted
    # again; OCPP sets no limit, so it is the vendor's figure
    reboot_time_s: float = Field(120.0, gt=0, le=3600)
    # how long after the CSMS is reachable again the DUT is back at most: its reconnect back-off
    # (2.0.1 part 4 section 5.3: OCPPCommCtrlr.RetryBackOff*, doubling; 1.6 leaves it to the vendor)
    reconnect_time_s: float = Field(60.0, gt=0, le=3600)
    features: DutFeaturesConfig = Field(default_factory=DutFeaturesConfig)
    # legal-metrology tolerance preset of the energy checks (bench/metering_regimes.py: MID class
    # A/B/C, NIST HB 44 3.40); None: the flat meter_mpe_pct below. The MID presets need the meter's
    # own currents (2014/32/EU Annex V point 2: the manufacturer specifies Imin, Itr, Imax)
    meter_regime: Literal["mid_a", "mid_b", "mid_c", "nist_hb44"] | None = None
    meter_imin_a: PositiveFloat | None = None
    meter_itr_a: PositiveFloat | None = None
    meter_imax_a: PositiveFloat | None = None

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
        """MID maximum permissible error at balanced load above Itr (2014/32/EU Annex V); with a
        meter_regime, that regime's MPE for a whole session (bench/metering_regimes.py)."""
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
    max_current_a: float = Field(32.0, gt=0, le=80)
    phases: Annotated[Literal[1, 2, 3], NotBool] = 3
    reaction_time_s: float = Field(1.0, ge=0, le=10)


class RatingsConfig(_Strict):
    max_current_a: PositiveFloat | None = None
    max_power_w: PositiveFloat | None = None
    max_voltage_v: PositiveFloat | None = None


class InstrumentConfig(_Strict):
    driver: str
    address: str
    model: str | None = None  # the model expected at this address (e.g. "63804"); the virtual lab simulates it
    calibration_due: date | None = None  # shown on the report cover; the bench warns when it has passed
    phase: Annotated[Literal[1, 2, 3], NotBool] | None = None  # AC loads: which phase the unit sits on
    ratings: RatingsConfig = Field(default_factory=RatingsConfig)

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
    name: str = Field(min_length=1)
    dut: DutConfig
    ev: EvConfig = Field(default_factory=EvConfig)
    instruments: dict[str, InstrumentConfig] = Field(default_factory=dict)

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
    reaction_time_s: float = Field(1.0, ge=0)  # the ideal charger's fixed reaction (realism: ideal)
    # full: every optional OCPP feature, files over HTTP and FTP; minimal: only the required part
    # of each OCPP version, files over FTP only, 30 s reboots (bench/sim/charger_features.py)
    features: Literal["full", "minimal"] = "full"


Range = tuple[float, float]


def _ordered(name: str, r: Range | None) -> None:
    if r is not None and r[0] > r[1]:
        raise ValueError(f"{name}: min {r[0]} is above max {r[1]}")


class RealismConfig(_Strict):
    """Real signals in the virtual lab (bench/sim/realism.py): what a correct charger on a
    real bench produces. `realism: ideal` turns all of it off (exact values, for unit tests)."""

    # per-sample noise (3-sigma band, % of reading) of the reference meter and, independently,
    # of the charger's own meter (its MeterValues current and power)
    current_noise_pct: float = Field(1.0, ge=0, le=10)
    # the simulated charger's reaction to each limit change, drawn per change; default
    # [0.2 s, the DUT's allowed reaction_time_s]: a correct charger is never slower than allowed
    reaction_time_s: Range | None = None
    ev_underdraw_a: Range = (0.3, 0.8)       # the car draws this much less than offered, slowly varying
    mains_v: Range = (225.0, 235.0)          # L-N voltage per phase, slowly wandering inside
    # PWM generator jitter per update, percentage points of duty: IEC 61851-1 lets the EV
    # side tolerate +-0.5 % of duty (1 kHz, +-5 us pulse width), so a correct charger stays inside
    pwm_jitter_pct: float = Field(0.3, ge=0, le=0.5)
    timestamp_resolution_s: float = Field(1.0, ge=0, le=60)  # the charger's OCPP timestamps, truncated
    seed: int = 1                            # every random draw is reproducible from this

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
    enabled: bool = False
    charger: ChargerSimSettings = Field(default_factory=ChargerSimSettings)
    realism: RealismConfig | Literal["ideal"] = Field(default_factory=RealismConfig)
    # how many times faster than real time the virtual lab runs (`bench run --speed`), or "max":
    # as fast as the machine allows, time jumping ahead while the whole lab waits. A real charger
    # lives in real time, so any other speed needs enabled: true
    speed: Annotated[float, Field(gt=0, le=100)] | Literal["max"] = 1.0

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
    bench: BenchConfig = Field(default_factory=BenchConfig)
    positions: list[PositionConfig] = Field(min_length=1)
    tolerances: TolerancesConfig = Field(default_factory=TolerancesConfig)
    virtual_lab: VirtualLabConfig = Field(default_factory=VirtualLabConfig)

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
