"""Charging profiles -> composite schedule (the limit over time), and the
acceptance rules of an OCPP 1.6, 2.0.1 and 2.1 charging station.

One module, two users: the simulated charger derives its PWM offer from it,
and the bench derives the expected limit that verdicts are built on. The
rules follow OCPP 1.6 edition 2 (sections 3.13, 5.7, 5.16, 7.8-7.14) and its
errata sheet, OCPP 2.0.1 functional block K with the 2023-12 errata, and the
OCPP 2.1 message schemas; where the text leaves room, the choice made here is
stated. Words: "connector" below means the 1.6 connector or the 2.0.1/2.1 EVSE
(`connector_id` is the EVSE id for 2.x); 0 is the whole station.

Choices where the specification leaves room
-------------------------------------------
- Time: all arithmetic is exact, in integer microseconds. Breakpoints (period,
  duration, recurrence, validFrom/validTo, transaction start) are computed, not
  sampled. `composite_schedule` then rounds each breakpoint to the nearest
  whole second from `start` (half up); when two breakpoints round to the same
  second the later limit wins. `limit_at` never rounds.
- A profile applies on [begin, end): at a boundary the next period rules.
  validFrom/validTo absent = valid forever in that direction.
- Stacking: within one purpose the highest stackLevel whose schedule is active
  at the instant wins; a schedule that has ended (past `duration`) or not yet
  started does not apply, so a lower stack level shows through. Equal stack
  levels cannot coexist in a store; in a raw list the later entry wins.
- 1.6: a TxDefaultProfile on the connector itself outranks (at every instant)
  any TxDefaultProfile on connector 0, whatever the stack levels; connector 0's
  shows through only where no connector-specific one applies ("replaced only
  for that specific connector", 3.13.1). 2.0.1/2.1: TxDefaultProfiles on EVSE 0
  and on the EVSE compete by stackLevel (a station must refuse equal levels on
  both, so the order is always defined; in a raw list the EVSE's wins a tie).
- TxProfile applies only while a transaction is active: from
  `transaction_start` on, and only if its transactionId (or the transaction it
  was installed for, `InstalledProfile.transaction_id`) equals
  `transaction_id`. TxDefaultProfile and the station-wide purposes apply with
  or without a transaction.
- Kinds: Absolute starts at startSchedule. Relative starts at
  `transaction_start`: 1.6 the start of the transaction; 2.0.1/2.1 the moment
  the EVSE was ready to deliver energy (EV connected and authorized, 2023-12
  errata), which the caller passes as `transaction_start`. With no transaction
  it starts at the window start (`start`, or `at` for `limit_at`). A
  startSchedule on a Relative profile is ignored in 1.6 (2.x refuses it).
  Recurring restarts every 24 h (Daily) or 7 d (Weekly) at startSchedule's
  time of day/week, never before startSchedule itself (the schedule has not
  started); periods and duration beyond the recurrence period are not executed
  (1.6 errata 3.43/3.44).
- `duration`: periods past it are not executed; the last period holds until
  it ends; absent = the last period holds indefinitely. A schedule duration
  of 0 never applies. A composite window of 0 s still reports the limit at
  `start` (one period).
- Units and phases: the phases in use at an instant are
  min(`phases` of the charger, numberPhases of every limiting profile period,
  absent = 3). A limits are per phase and used as given; W limits are the
  total power, spread over the phases in use:
  I = P / (`voltage_v` x phases in use). This follows 1.6 errata 3.34: a
  3-phase W limit on a 1-phase charger keeps its power, it is not divided by 3.
  Purposes are combined with these common phases, so min() is the same in A
  and in W and a W limit never lets a per-phase A cap be exceeded.
- `default_limit_a` (the DUT's rated current) is used only where no profile
  applies at all; it does not cap a profile (hardware ratings are the caller's
  to apply).
- minChargingRate is a hint for local balancing and is ignored here.
- Connector/EVSE 0 (GetCompositeSchedule for the grid connection): the sum of
  the composites of connectors 1..`connectors` (each without the station-wide
  caps, gaps filled with `default_limit_a`), summed in the requested unit
  (each connector converted with its own phases, so W->A is never done on a
  wrong phase count), numberPhases = the most any connector uses; then capped
  by the station maximum (ChargePointMaxProfile / ChargingStationMaxProfile)
  and the EVSE-0 ChargingStationExternalConstraints.
- ChargingStationExternalConstraints (2.x): set by an external system (a
  station refuses them in SetChargingProfile). On EVSE 0 they cap every EVSE
  and the total like the station maximum; on an EVSE they cap that EVSE.
  Within one of those levels the highest stackLevel wins.
- 2.x chargingSchedule is a list (1..3 entries, several only with ISO 15118,
  where the EV picks one): every entry is validated, the first is executed.
- Validation is deliberately no stricter than the schemas and texts require:
  e.g. recurrencyKind on a non-Recurring profile and transactionId on a
  non-Tx profile are ignored, not rejected; the one-decimal rule for limits is
  enforced for 1.6 only (its schema says multipleOf 0.1; 2.x only describes
  it), but every reported limit is floored to one decimal. Charger-specific
  limits (ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods,
  MaxChargingProfilesInstalled, 2.1 rate limits and MaxExternalConstraintsId)
  are not modelled.
- 2.1: the purposes, kinds and fields 2.1 adds for optional features
  (PriorityCharging, LocalGeneration, Dynamic profiles, per-phase limits,
  setpoints, discharging, V2X operation modes, evseSleep, limitAtSoC,
  useLocalTime, randomizedDelay) are refused, as a 2.1 station that does not
  advertise them must; what remains follows the 2.0.1 rules.
"""
from __future__ import annotations

import bisect
import copy
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from bench.clock import iso_utc, parse_iso

# ---------------------------------------------------------------------------
# Per-version vocabulary, as data. The schedule arithmetic below does not
# depend on names; version differences are flags here.


@dataclass(frozen=True)
class VersionRules:
    station_max: str  # limits the whole charge point, connector 0 only
    tx_default: str  # default for transactions, connector 0 or one connector
    tx: str  # one transaction, connector > 0
    kinds: frozenset[str]
    recurrency_s: dict[str, int]  # recurrencyKind -> period in seconds
    units: frozenset[str]
    max_phases: int = 3
    external_constraints: str | None = None  # 2.x: set by an external system, never by the CSMS
    id_key: str = "chargingProfileId"  # 2.x: "id"
    schedule_is_list: bool = False  # 2.x: chargingSchedule is an array of 1..3 schedules
    one_decimal_in_schema: bool = True  # 1.6 schema: multipleOf 0.1 (2.x: description text only)
    relative_refuses_start: bool = False  # 2.x: a Relative profile must not carry startSchedule
    station_max_not_relative: bool = False  # 2.x: ChargingStationMaxProfile is never Relative
    specific_tx_default_outranks: bool = True  # 1.6: connector's TxDefault replaces connector 0's
    transaction_id_is_string: bool = False  # 2.x: transactionId is a string (max 36)
    refused_purposes: frozenset[str] = frozenset()  # in the schema, refused by a station without the feature
    refused_kinds: frozenset[str] = frozenset()

    @property
    def purposes(self) -> frozenset[str]:
        extra = {self.external_constraints} if self.external_constraints else set()
        return frozenset({self.station_max, self.tx_default, self.tx} | extra)

    def profile_label(self, pid: Any) -> str:
        return f"chargingProfileId {pid}" if self.id_key == "chargingProfileId" else f"charging profile id {pid}"


_RECURRENCY_S = {"Daily": 86_400, "Weekly": 7 * 86_400}
_V201 = VersionRules(
    station_max="ChargingStationMaxProfile",
    tx_default="TxDefaultProfile",
    tx="TxProfile",
    kinds=frozenset({"Absolute", "Recurring", "Relative"}),
    recurrency_s=_RECURRENCY_S,
    units=frozenset({"A", "W"}),
    external_constraints="ChargingStationExternalConstraints",
    id_key="id",
    schedule_is_list=True,
    one_decimal_in_schema=False,
    relative_refuses_start=True,
    station_max_not_relative=True,
    specific_tx_default_outranks=False,
    transaction_id_is_string=True,
)
VERSION_RULES: dict[str, VersionRules] = {
    "1.6": VersionRules(
        station_max="ChargePointMaxProfile",
        tx_default="TxDefaultProfile",
        tx="TxProfile",
        kinds=frozenset({"Absolute", "Recurring", "Relative"}),
        recurrency_s=_RECURRENCY_S,
        units=frozenset({"A", "W"}),
    ),
    "2.0.1": _V201,
    "2.1": VersionRules(**{**_V201.__dict__,
                           "refused_purposes": frozenset({"PriorityCharging", "LocalGeneration"}),
                           "refused_kinds": frozenset({"Dynamic"})}),
}

# 2.1 fields of optional features a station that does not advertise them must refuse (where they
# are set to something other than their neutral value); the bench does not model them either.
_V21_REFUSED_PERIOD_FIELDS = ("limit_L2", "limit_L3", "dischargeLimit", "dischargeLimit_L2", "dischargeLimit_L3",
                              "setpoint", "setpoint_L2", "setpoint_L3", "setpointReactive", "setpointReactive_L2",
                              "setpointReactive_L3", "v2xBaseline", "v2xFreqWattCurve", "v2xSignalWattCurve")

DEFAULT_NUMBER_PHASES = 3  # 1.6 7.12/7.14 and 2.x: numberPhases absent -> 3
_US = 1_000_000
_FOREVER = 1 << 62  # "no end", in microseconds; beyond any datetime


def rules_for(ocpp_version: str) -> VersionRules:
    try:
        return VERSION_RULES[ocpp_version]
    except KeyError:
        raise ValueError(
            f"OCPP version {ocpp_version!r} not supported (known: {', '.join(sorted(VERSION_RULES))})"
        ) from None


# ---------------------------------------------------------------------------
# Public data


class ProfileError(ValueError):
    """A charging profile breaks a rule; the message names the profile id and the rule."""


@dataclass(frozen=True)
class InstalledProfile:
    connector_id: int  # 1.6 connector, 2.x EVSE; 0 = the whole station
    profile: dict  # ChargingProfile exactly as on the wire (camelCase)
    transaction_id: int | str | None = None  # transaction a TxProfile was installed for


@dataclass(frozen=True)
class ActiveTransaction:
    """A transaction running on a connector/EVSE, for composites of several at once."""

    start: datetime  # 1.6: start of the transaction; 2.x: when the EVSE was ready to deliver energy
    transaction_id: int | str | None = None


@dataclass(frozen=True)
class SchedulePeriod:
    start_s: int  # seconds from CompositeSchedule.start
    limit: float  # in CompositeSchedule.unit (A per phase, or W total)
    number_phases: int


@dataclass
class CompositeSchedule:
    start: datetime  # aware UTC
    duration_s: int
    unit: str  # "A" | "W"
    periods: list[SchedulePeriod]  # adjacent equal periods merged; starts at 0

    def limit_at(self, t: datetime) -> float:
        """Limit in `unit` at `t`, which must lie inside the window."""
        offset_us = _us(t) - _us(self.start)
        end_us = self.duration_s * _US
        if offset_us < 0 or (offset_us >= end_us and offset_us != 0):
            raise ValueError(f"{iso_utc(t)} is outside the schedule window")
        starts = [p.start_s * _US for p in self.periods]
        return self.periods[bisect.bisect_right(starts, offset_us) - 1].limit

    def _periods_ocpp(self) -> list[dict]:
        return [{"startPeriod": p.start_s, "limit": _floor_one_decimal(p.limit), "numberPhases": p.number_phases}
                for p in self.periods]

    def to_ocpp(self) -> dict:
        """The schedule as an OCPP ChargingSchedule (the `chargingSchedule` of a 1.6
        GetCompositeSchedule.conf; `bench schedule --json` prints it for every version).
        Limits are floored to one decimal (the 1.6 schema's multipleOf 0.1), so the
        report never allows more than the computed limit. (In a 1.6
        GetCompositeSchedule.conf the errata (3.57) wants startSchedule omitted in
        favour of scheduleStart.)"""
        return {
            "startSchedule": iso_utc(self.start),
            "duration": self.duration_s,
            "chargingRateUnit": self.unit,
            "chargingSchedulePeriod": self._periods_ocpp(),
        }

    def to_ocpp_composite(self, evse_id: int) -> dict:
        """The schedule as the 2.0.1/2.1 CompositeScheduleType (GetCompositeScheduleResponse.schedule)."""
        return {
            "evseId": evse_id,
            "duration": self.duration_s,
            "scheduleStart": iso_utc(self.start),
            "chargingRateUnit": self.unit,
            "chargingSchedulePeriod": self._periods_ocpp(),
        }


# ---------------------------------------------------------------------------
# Validation


def profile_id(profile: dict, ocpp_version: str = "1.6") -> Any:
    return profile.get(rules_for(ocpp_version).id_key) if isinstance(profile, dict) else None


def validate_profile(profile: dict, connector_id: int, ocpp_version: str = "1.6") -> None:
    """Raise ProfileError if a charge point of `ocpp_version` must refuse
    `profile` on `connector_id` whatever else it holds (the rules that depend on
    the station's state are in the stores below)."""
    rules = rules_for(ocpp_version)
    pid = profile.get(rules.id_key, "?") if isinstance(profile, dict) else "?"

    def fail(rule: str) -> None:
        raise ProfileError(f"{rules.profile_label(pid)}: {rule}")

    if not isinstance(profile, dict):
        fail("profile is not an object")
    for key in (rules.id_key, "stackLevel", "chargingProfilePurpose", "chargingProfileKind", "chargingSchedule"):
        if key not in profile:
            fail(f"{key} is required")
    if not _is_int(profile[rules.id_key]):
        fail(f"{rules.id_key} must be an integer")
    if not _is_int(profile["stackLevel"]) or profile["stackLevel"] < 0:
        fail("stackLevel must be an integer >= 0")
    if "transactionId" in profile:
        if rules.transaction_id_is_string:
            if not isinstance(profile["transactionId"], str) or not 0 < len(profile["transactionId"]) <= 36:
                fail("transactionId must be a string of 1..36 characters")
        elif not _is_int(profile["transactionId"]):
            fail("transactionId must be an integer")

    purpose, kind = profile["chargingProfilePurpose"], profile["chargingProfileKind"]
    if purpose in rules.refused_purposes:
        fail(f"chargingProfilePurpose {purpose} is refused: this charging station does not support it")
    if purpose not in rules.purposes:
        fail(f"chargingProfilePurpose {purpose!r} is not one of {sorted(rules.purposes)}")
    if kind in rules.refused_kinds:
        fail(f"chargingProfileKind {kind} is refused: this charging station does not support it")
    if kind not in rules.kinds:
        fail(f"chargingProfileKind {kind!r} is not one of {sorted(rules.kinds)}")
    where = "EVSE" if rules.schedule_is_list else "connector"
    if not _is_int(connector_id) or connector_id < 0:
        fail(f"{'evseId' if rules.schedule_is_list else 'connectorId'} {connector_id!r} must be an integer >= 0")
    if purpose == rules.station_max and connector_id != 0:
        fail(f"{purpose} may only be set on {where} 0, not {connector_id}")
    if purpose == rules.station_max and kind == "Relative" and rules.station_max_not_relative:
        fail(f"{purpose} may not be Relative")
    if purpose == rules.tx and connector_id == 0:
        fail(f"{purpose} may only be set on {'an EVSE' if rules.schedule_is_list else 'a connector'} > 0")
    if ocpp_version == "2.1":
        for key in ("dynUpdateInterval", "dynUpdateTime"):
            if key in profile:
                fail(f"{key} is only allowed on a Dynamic profile")

    if kind == "Recurring":
        recurrency = profile.get("recurrencyKind")
        if recurrency is None:
            fail("Recurring profile needs recurrencyKind")
        if recurrency not in rules.recurrency_s:
            fail(f"recurrencyKind {recurrency!r} is not one of {sorted(rules.recurrency_s)}")
    for key in ("validFrom", "validTo"):
        if key in profile:
            _check_datetime(profile[key], key, fail)

    if rules.schedule_is_list:
        schedules = profile["chargingSchedule"]
        if not isinstance(schedules, list) or not 1 <= len(schedules) <= 3:
            fail("chargingSchedule must be a list of 1..3 schedules")
        for i, schedule in enumerate(schedules):
            _validate_schedule(schedule, f"chargingSchedule[{i}]", profile, rules, ocpp_version, fail)
    else:
        _validate_schedule(profile["chargingSchedule"], "chargingSchedule", profile, rules, ocpp_version, fail)


def _validate_schedule(schedule: Any, name: str, profile: dict, rules: VersionRules, ocpp_version: str,
                       fail: Callable[[str], None]) -> None:
    kind = profile["chargingProfileKind"]
    if not isinstance(schedule, dict):
        fail(f"{name} must be an object")
    if rules.schedule_is_list and not _is_int(schedule.get("id")):
        fail(f"{name}.id is required (an integer)")
    if kind in ("Absolute", "Recurring"):
        if "startSchedule" not in schedule:
            fail(f"{kind} profile needs {name}.startSchedule")
        _check_datetime(schedule["startSchedule"], "startSchedule", fail)
    if kind == "Relative" and rules.relative_refuses_start and "startSchedule" in schedule:
        fail(f"Relative profile must not have {name}.startSchedule")
    unit = schedule.get("chargingRateUnit")
    if unit not in rules.units:
        fail(f"chargingRateUnit {unit!r} is not one of {sorted(rules.units)}")
    if "duration" in schedule and (not _is_int(schedule["duration"]) or schedule["duration"] < 0):
        fail("duration must be an integer >= 0")
    one_decimal = rules.one_decimal_in_schema
    if "minChargingRate" in schedule:
        _check_limit(schedule["minChargingRate"], "minChargingRate", fail, one_decimal)
    if ocpp_version == "2.1":
        purpose = profile["chargingProfilePurpose"]
        if schedule.get("randomizedDelay", 0) and purpose not in (rules.tx, rules.tx_default):
            fail(f"{name}.randomizedDelay is only allowed on {rules.tx} and {rules.tx_default}")
        for key, neutral in (("randomizedDelay", 0), ("useLocalTime", False), ("limitAtSoC", None)):
            if schedule.get(key, neutral) not in (neutral, None):
                fail(f"{name}.{key} is refused: this charging station does not support it")

    periods = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        fail("chargingSchedulePeriod needs at least one period")
    if rules.schedule_is_list and len(periods) > 1024:
        fail("chargingSchedulePeriod holds at most 1024 periods")
    previous: int | None = None
    for i, period in enumerate(periods):
        where = f"chargingSchedulePeriod[{i}]"
        limit_required = ocpp_version != "2.1"
        if not isinstance(period, dict) or "startPeriod" not in period or (limit_required and "limit" not in period):
            fail(f"{where} needs startPeriod and limit")
        start = period["startPeriod"]
        if not _is_int(start):
            fail(f"{where}.startPeriod must be an integer")
        if previous is None and start != 0:
            fail(f"first startPeriod must be 0, not {start}")
        if previous is not None and start <= previous:
            fail(f"startPeriod values must increase strictly ({where}: {start} after {previous})")
        previous = start
        if "limit" in period:
            _check_limit(period["limit"], f"{where}.limit", fail, one_decimal)
        n = period.get("numberPhases")
        if n is not None and (not _is_int(n) or not 1 <= n <= rules.max_phases):
            fail(f"{where}.numberPhases must be 1..{rules.max_phases}, not {n!r}")
        if rules.schedule_is_list and "phaseToUse" in period:
            if n != 1:
                fail(f"{where}.phaseToUse is only allowed with numberPhases 1")
            if period["phaseToUse"] not in (1, 2, 3):
                fail(f"{where}.phaseToUse must be 1..3")
        if ocpp_version == "2.1":
            mode = period.get("operationMode", "ChargingOnly")
            if mode != "ChargingOnly":
                fail(f"{where}.operationMode {mode} is refused: this charging station only supports ChargingOnly")
            if period.get("evseSleep"):
                fail(f"{where}.evseSleep is refused: this charging station does not support it")
            for key in _V21_REFUSED_PERIOD_FIELDS:
                if key in period:
                    fail(f"{where}.{key} is refused: this charging station does not support it")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_limit(value: Any, name: str, fail, one_decimal: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"{name} must be a number")
    if value < 0:
        fail(f"{name} must be >= 0, not {value}")
    tenths = value * 10
    if one_decimal and abs(tenths - round(tenths)) > 1e-6 * max(1.0, abs(tenths)):
        fail(f"{name} {value} has more than one decimal")


def _check_datetime(value: Any, name: str, fail) -> None:
    try:
        parse_iso(value)
    except (TypeError, ValueError, AttributeError):
        fail(f"{name} {value!r} is not an ISO 8601 date-time")


# ---------------------------------------------------------------------------
# Composite schedule


def composite_schedule(
    profiles: Sequence[InstalledProfile],
    connector_id: int,
    start: datetime,
    duration_s: int,
    *,
    default_limit_a: float,
    voltage_v: float,
    phases: int = 3,
    transaction_start: datetime | None = None,
    transaction_id: int | str | None = None,
    unit: str = "A",
    ocpp_version: str = "1.6",
    connectors: int | None = None,
    transactions: Mapping[int, ActiveTransaction] | None = None,
) -> CompositeSchedule:
    """The limit on `connector_id` from `start` for `duration_s` seconds, as
    a charge point reports it in GetCompositeSchedule (see module notes).

    The transaction is `transaction_start`/`transaction_id` on `connector_id`;
    `transactions` (connector -> ActiveTransaction) replaces them when several
    run at once. For connector 0 (the sum over `connectors`, default: the
    highest connector id among the profiles, at least 1) the single
    transaction is taken to run on every connector, unless `transactions` says
    where each one runs."""
    rules = rules_for(ocpp_version)
    if unit not in rules.units:
        raise ValueError(f"unit must be one of {sorted(rules.units)}, not {unit!r}")
    if not _is_int(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s must be an integer >= 0, not {duration_s!r}")
    composer = _Composer.build(profiles, connector_id, ocpp_version, default_limit_a, voltage_v, phases,
                               _transactions(connector_id, transaction_start, transaction_id, transactions),
                               connectors)
    lo = _us(start)
    hi = lo + max(duration_s * _US, 1)  # a 0 s window still evaluates `start`
    timeline = composer.timeline(lo, hi, anchor_us=lo, unit=unit)

    periods: list[SchedulePeriod] = []
    for t_us, (limit, n) in timeline:
        second = (t_us - lo + _US // 2) // _US
        if periods and second >= duration_s:
            break
        if periods and periods[-1].start_s == second:
            periods.pop()  # two breakpoints in one second: the later one rules
        if periods and (periods[-1].limit, periods[-1].number_phases) == (limit, n):
            continue
        periods.append(SchedulePeriod(second, limit, n))
    return CompositeSchedule(start.astimezone(timezone.utc), duration_s, unit, periods)


def limit_at(
    profiles: Sequence[InstalledProfile],
    connector_id: int,
    at: datetime,
    **context: Any,
) -> float:
    """The limit in A per phase on `connector_id` at the instant `at` (exact, no rounding to
    seconds); `context` as for `limit_until`."""
    return limit_until(profiles, connector_id, at, horizon_s=1e-6, **context)[0]


def limit_until(
    profiles: Sequence[InstalledProfile],
    connector_id: int,
    at: datetime,
    *,
    horizon_s: float,
    default_limit_a: float,
    voltage_v: float,
    phases: int = 3,
    transaction_start: datetime | None = None,
    transaction_id: int | str | None = None,
    ocpp_version: str = "1.6",
    connectors: int | None = None,
    transactions: Mapping[int, ActiveTransaction] | None = None,
) -> tuple[float, float]:
    """The limit in A per phase at `at` and how many seconds after `at` it may next change (the
    next breakpoint of any profile: a period, a validity bound, a recurrence), at most
    `horizon_s`: a charger need not evaluate its profiles again before then unless they change."""
    composer = _Composer.build(profiles, connector_id, ocpp_version, default_limit_a, voltage_v, phases,
                               _transactions(connector_id, transaction_start, transaction_id, transactions),
                               connectors)
    t = _us(at)
    points = composer.timeline(t, t + max(1, int(horizon_s * 1e6)), anchor_us=t, unit="A")
    limit = points[0][1][0]
    return limit, ((points[1][0] - t) / 1e6 if len(points) > 1 else horizon_s)


@dataclass(frozen=True)
class ProfileSpan:
    """Where one installed profile sets a limit by itself (before stacking and min())."""

    profile: InstalledProfile
    start_s: float  # seconds from the window start
    end_s: float
    limit: float  # in the unit asked; math.inf = the period sets no limit
    number_phases: int


def profile_spans(
    profiles: Sequence[InstalledProfile],
    connector_id: int,
    start: datetime,
    duration_s: int,
    *,
    voltage_v: float,
    phases: int = 3,
    transactions: Mapping[int, ActiveTransaction] | None = None,
    unit: str = "A",
    ocpp_version: str = "1.6",
) -> list[ProfileSpan]:
    """Each profile that can limit `connector_id` (0: any), alone: its periods in the window,
    clipped by its validity, duration and recurrence, TxProfiles only with their transaction.
    What `bench schedule` draws under the composite to show why a limit is what it is."""
    rules = rules_for(ocpp_version)
    transactions = transactions or {}
    lo, hi = _us(start), _us(start) + max(duration_s, 1) * _US
    out = []
    for installed in profiles:
        validate_profile(installed.profile, installed.connector_id, ocpp_version)
        on = installed.connector_id
        if connector_id != 0 and on not in (0, connector_id):
            continue
        tx = transactions.get(on) if on else transactions.get(connector_id)
        parsed = _Parsed.parse(installed.profile, rules)
        not_before = -_FOREVER
        if _purpose(installed) == rules.tx:
            bound = installed.profile.get("transactionId", installed.transaction_id)
            if tx is None or (bound is not None and bound != tx.transaction_id):
                continue
            not_before = _us(tx.start)
        anchor = _us(tx.start) if tx is not None else lo
        for begin, end, period in parsed.segments(lo, hi, anchor, not_before):
            n = min(phases, period.number_phases or DEFAULT_NUMBER_PHASES)
            limit = period.limit
            if parsed.unit != unit and not math.isinf(limit):
                limit = limit / (voltage_v * n) if unit == "A" else limit * voltage_v * n
            out.append(ProfileSpan(installed, (begin - lo) / _US, (end - lo) / _US, limit, n))
    return out


def _transactions(connector_id: int, start: datetime | None, transaction_id: int | str | None,
                  transactions: Mapping[int, ActiveTransaction] | None) -> Mapping[int, ActiveTransaction]:
    """connector -> transaction; key 0 = "the one transaction runs on every connector" (legacy call for 0)."""
    if transactions is not None:
        return dict(transactions)
    if start is None:
        return {}
    return {connector_id: ActiveTransaction(start, transaction_id)}


@dataclass(frozen=True)
class _Period:
    start_us: int
    limit: float  # math.inf = this period sets no limit (2.1 periods without `limit`)
    number_phases: int | None


@dataclass(frozen=True)
class _Parsed:
    """A profile reduced to what the arithmetic needs, times in microseconds."""

    stack_level: int
    kind: str
    recurrency_us: int | None
    valid_from_us: int
    valid_to_us: int
    start_schedule_us: int | None
    duration_us: int | None
    unit: str
    periods: tuple[_Period, ...]

    @classmethod
    def parse(cls, profile: dict, rules: VersionRules) -> _Parsed:
        schedule = profile["chargingSchedule"][0] if rules.schedule_is_list else profile["chargingSchedule"]
        recurrency = profile.get("recurrencyKind") if profile["chargingProfileKind"] == "Recurring" else None
        start = schedule.get("startSchedule") if profile["chargingProfileKind"] != "Relative" else None
        return cls(
            stack_level=profile["stackLevel"],
            kind=profile["chargingProfileKind"],
            recurrency_us=rules.recurrency_s[recurrency] * _US if recurrency else None,
            valid_from_us=_us(parse_iso(profile["validFrom"])) if "validFrom" in profile else -_FOREVER,
            valid_to_us=_us(parse_iso(profile["validTo"])) if "validTo" in profile else _FOREVER,
            start_schedule_us=_us(parse_iso(start)) if start else None,
            duration_us=schedule["duration"] * _US if "duration" in schedule else None,
            unit=schedule["chargingRateUnit"],
            periods=tuple(
                _Period(p["startPeriod"] * _US, float(p["limit"]) if "limit" in p else math.inf, p.get("numberPhases"))
                for p in schedule["chargingSchedulePeriod"]
            ),
        )

    def segments(self, lo: int, hi: int, anchor_us: int, not_before_us: int) -> list[tuple[int, int, _Period]]:
        """Sorted, disjoint [begin, end) spans in which this profile sets a
        limit, clipped to [lo, hi), its validity and `not_before_us`."""
        lo_clip = max(lo, self.valid_from_us, not_before_us)
        hi_clip = min(hi, self.valid_to_us)
        length = self.duration_us if self.duration_us is not None else _FOREVER
        if self.kind == "Recurring":
            assert self.recurrency_us is not None and self.start_schedule_us is not None
            length = min(length, self.recurrency_us)
            first = max(0, (lo_clip - self.start_schedule_us) // self.recurrency_us)
            origins = []
            k = first
            while (origin := self.start_schedule_us + k * self.recurrency_us) < hi_clip:
                origins.append(origin)
                k += 1
        elif self.kind == "Absolute":
            assert self.start_schedule_us is not None  # validated: an Absolute profile has a startSchedule
            origins = [self.start_schedule_us]
        else:
            origins = [anchor_us]

        spans = []
        for origin in origins:
            end_of_schedule = origin + length
            for i, period in enumerate(self.periods):
                nxt = self.periods[i + 1].start_us if i + 1 < len(self.periods) else _FOREVER
                begin = max(origin + period.start_us, lo_clip)
                end = min(origin + nxt, end_of_schedule, hi_clip)
                if begin < end:
                    spans.append((begin, end, period))
        return spans


@dataclass
class _Track:
    """One profile's spans in a window, with a fast lookup by instant."""

    stack_level: int
    unit: str
    spans: list[tuple[int, int, _Period]]
    begins: list[int]

    def at(self, t: int) -> _Period | None:
        i = bisect.bisect_right(self.begins, t) - 1
        if i >= 0 and t < self.spans[i][1]:
            return self.spans[i][2]
        return None


_Member = tuple[_Parsed, bool]  # (profile, gated by the transaction start)


@dataclass
class _Connector:
    """The profiles that limit one connector, sorted into precedence groups."""

    tx_side: list[list[_Member]]  # precedence order: the first group with a winner rules
    caps: list[list[_Member]]  # every group's winner caps the tx side
    tx_start_us: int | None

    def tracks(self, lo: int, hi: int, anchor_us: int, breakpoints: set[int]
               ) -> tuple[list[list[_Track]], list[list[_Track]]]:
        anchor = self.tx_start_us if self.tx_start_us is not None else anchor_us
        not_before = self.tx_start_us if self.tx_start_us is not None else -_FOREVER
        return (_tracks(self.tx_side, lo, hi, anchor, not_before, breakpoints),
                _tracks(self.caps, lo, hi, anchor, not_before, breakpoints))


def _tracks(groups: list[list[_Member]], lo: int, hi: int, anchor_us: int, not_before_us: int,
            breakpoints: set[int]) -> list[list[_Track]]:
    out = []
    for members in groups:
        tracks = []
        for parsed, gated in members:
            spans = parsed.segments(lo, hi, anchor_us, not_before_us if gated else -_FOREVER)
            tracks.append(_Track(parsed.stack_level, parsed.unit, spans, [s[0] for s in spans]))
            for begin, end, _ in spans:
                breakpoints.add(begin)
                if end < hi:
                    breakpoints.add(end)
        out.append(tracks)
    return out


@dataclass
class _Composer:
    """Everything that limits the asked connector (or, for 0, the whole station)."""

    connectors: list[_Connector]  # one (the asked one), or 1..N for connector 0
    station_caps: list[list[_Member]]  # connector 0 only: caps on the sum
    summed: bool
    default_limit_a: float
    voltage_v: float
    phases: int

    @classmethod
    def build(cls, profiles: Sequence[InstalledProfile], connector_id: int, ocpp_version: str,
              default_limit_a: float, voltage_v: float, phases: int,
              transactions: Mapping[int, ActiveTransaction], connectors: int | None) -> _Composer:
        rules = rules_for(ocpp_version)
        if not _is_int(phases) or not 1 <= phases <= rules.max_phases:
            raise ValueError(f"phases must be 1..{rules.max_phases}, not {phases!r}")
        if voltage_v <= 0:
            raise ValueError(f"voltage_v must be > 0, not {voltage_v!r}")
        if not _is_int(connector_id) or connector_id < 0:
            raise ValueError(f"connector_id must be an integer >= 0, not {connector_id!r}")
        parsed = []
        for installed in profiles:
            validate_profile(installed.profile, installed.connector_id, ocpp_version)
            parsed.append((installed, _Parsed.parse(installed.profile, rules)))

        if connector_id != 0:
            conn = _connector_groups(parsed, connector_id, rules, transactions.get(connector_id),
                                     with_station_caps=True)
            return cls([conn], [], False, float(default_limit_a), float(voltage_v), phases)
        if connectors is None:
            connectors = max([1] + [p.connector_id for p, _ in parsed])
        if not _is_int(connectors) or connectors < 1:
            raise ValueError(f"connectors must be an integer >= 1, not {connectors!r}")
        everywhere = transactions.get(0)  # legacy call: one transaction, connector not said
        members = [_connector_groups(parsed, c, rules, transactions.get(c, everywhere), with_station_caps=False)
                   for c in range(1, connectors + 1)]
        station_caps = [
            [(p, False) for i, p in parsed if i.connector_id == 0 and _purpose(i) == rules.station_max],
            [(p, False) for i, p in parsed if i.connector_id == 0 and _purpose(i) == rules.external_constraints],
        ]
        return cls(members, station_caps, True, float(default_limit_a), float(voltage_v), phases)

    def timeline(self, lo: int, hi: int, *, anchor_us: int, unit: str) -> list[tuple[int, tuple[float, int]]]:
        """[(instant, (limit in `unit`, phases in use))] at every breakpoint in
        [lo, hi), starting at lo; each value holds until the next instant."""
        breakpoints = {lo}
        per_connector = [c.tracks(lo, hi, anchor_us, breakpoints) for c in self.connectors]
        station = _tracks(self.station_caps, lo, hi, anchor_us, -_FOREVER, breakpoints)
        return [(t, self._value(per_connector, station, t, unit)) for t in sorted(breakpoints)]

    def _value(self, per_connector, station, t: int, unit: str) -> tuple[float, int]:
        values = [self._connector_value(tx_side, caps, t, unit) for tx_side, caps in per_connector]
        if not self.summed:
            return values[0]
        total = sum(v for v, _ in values)
        n_total = max(n for _, n in values)
        caps = [w for w in (_stack_winner(g, t) for g in station) if w is not None]
        return self._combine(caps, unit, start=(total, n_total))

    def _connector_value(self, tx_side: list[list[_Track]], caps: list[list[_Track]], t: int, unit: str
                         ) -> tuple[float, int]:
        limiting = []
        for group in tx_side:
            won = _stack_winner(group, t)
            if won is not None:
                limiting.append(won)
                break
        limiting += [w for w in (_stack_winner(g, t) for g in caps) if w is not None]
        return self._combine(limiting, unit)

    def _combine(self, periods: list[tuple[str, _Period]], unit: str,
                 start: tuple[float, int] | None = None) -> tuple[float, int]:
        """min() of the limiting periods (and an already combined `start`) on common phases."""
        if start is None and not periods:
            return self._default(unit, self.phases)
        n = min([start[1] if start else self.phases]
                + [p.number_phases or DEFAULT_NUMBER_PHASES for _, p in periods])
        values = [start[0]] if start else []
        for period_unit, period in periods:
            if math.isinf(period.limit):
                continue
            if period_unit == unit:
                values.append(period.limit)
            elif unit == "A":  # W total -> A per phase over the phases in use
                values.append(period.limit / (self.voltage_v * n))
            else:
                values.append(period.limit * self.voltage_v * n)
        if not values:  # only periods that set no limit: the rating applies
            return self._default(unit, n)
        return min(values), n

    def _default(self, unit: str, n: int) -> tuple[float, int]:
        if unit == "A":
            return self.default_limit_a, n
        return self.default_limit_a * self.voltage_v * n, n


def _purpose(installed: InstalledProfile) -> str:
    return installed.profile["chargingProfilePurpose"]


def _connector_groups(parsed: list[tuple[InstalledProfile, _Parsed]], connector_id: int, rules: VersionRules,
                      transaction: ActiveTransaction | None, *, with_station_caps: bool) -> _Connector:
    tx, default_here, default_station, station_max, ext_station, ext_here = [], [], [], [], [], []
    for installed, p in parsed:
        purpose, on = _purpose(installed), installed.connector_id
        if purpose == rules.tx:
            if on != connector_id or transaction is None:
                continue
            bound = installed.profile.get("transactionId", installed.transaction_id)
            if bound is not None and bound != transaction.transaction_id:
                continue
            tx.append((p, True))
        elif purpose == rules.tx_default and on == connector_id:
            default_here.append((p, False))
        elif purpose == rules.tx_default and on == 0:
            default_station.append((p, False))
        elif purpose == rules.station_max and on == 0:
            station_max.append((p, False))
        elif purpose == rules.external_constraints and on == 0:
            ext_station.append((p, False))
        elif purpose == rules.external_constraints and on == connector_id:
            ext_here.append((p, False))
    if rules.specific_tx_default_outranks:
        tx_side = [tx, default_here, default_station]
    else:  # one stack; the EVSE's own profile after EVSE 0's, so it wins a tie
        tx_side = [tx, default_station + default_here]
    caps = [ext_here] + ([station_max, ext_station] if with_station_caps else [])
    return _Connector(tx_side, caps, _us(transaction.start) if transaction is not None else None)


def _stack_winner(tracks: list[_Track], t: int) -> tuple[str, _Period] | None:
    best: tuple[int, str, _Period] | None = None
    for track in tracks:
        period = track.at(t)
        if period is not None and (best is None or track.stack_level >= best[0]):
            best = (track.stack_level, track.unit, period)
    return None if best is None else (best[1], best[2])


def _us(dt: datetime) -> int:
    """Microseconds since the Unix epoch, exactly."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: times must be timezone-aware (UTC)")
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _floor_one_decimal(value: float) -> float:
    return math.floor(value * 10 + 1e-6) / 10


# ---------------------------------------------------------------------------
# What a compliant charging station holds: acceptance rules, replacement,
# ClearChargingProfile, end of transaction. Used by the simulated charger and
# to judge DUT answers (SetChargingProfile / ClearChargingProfile).


class ProfileStore16:
    """What a compliant 1.6 charge point holds; used by the simulated charger
    and to judge DUT answers (SetChargingProfile / ClearChargingProfile)."""

    ocpp_version = "1.6"

    def __init__(self) -> None:
        self.profiles: list[InstalledProfile] = []

    def install(self, connector_id: int, profile: dict, *, active_transaction_id: int | None) -> tuple[bool, str]:
        """SetChargingProfile: (accepted, reason). `active_transaction_id` is
        the transaction running on `connector_id`, None if there is none."""
        rules = rules_for(self.ocpp_version)
        try:
            validate_profile(profile, connector_id, self.ocpp_version)
        except ProfileError as err:
            return False, str(err)
        pid, purpose, level = profile["chargingProfileId"], profile["chargingProfilePurpose"], profile["stackLevel"]
        bound: int | None = None
        if purpose == rules.tx:
            if active_transaction_id is None:
                return False, (f"chargingProfileId {pid}: {purpose} needs an active transaction "
                               f"on connector {connector_id}")
            wanted = profile.get("transactionId")
            if wanted is not None and wanted != active_transaction_id:
                return False, (f"chargingProfileId {pid}: transactionId {wanted} is not the active "
                               f"transaction {active_transaction_id} on connector {connector_id}")
            bound = active_transaction_id

        def replaced_by_new(old: InstalledProfile) -> bool:
            p = old.profile
            return p["chargingProfileId"] == pid or (
                old.connector_id == connector_id
                and p["chargingProfilePurpose"] == purpose
                and p["stackLevel"] == level
            )

        gone = [p.profile["chargingProfileId"] for p in self.profiles if replaced_by_new(p)]
        self.profiles = [p for p in self.profiles if not replaced_by_new(p)]
        self.profiles.append(InstalledProfile(connector_id, copy.deepcopy(profile), bound))
        if gone:
            return True, f"chargingProfileId {pid}: replaced chargingProfileId {', '.join(map(str, gone))}"
        return True, f"chargingProfileId {pid}: installed"

    def clear(self, *, profile_id: int | None = None, connector_id: int | None = None,
              purpose: str | None = None, stack_level: int | None = None) -> bool:
        """ClearChargingProfile (with errata 3.25/3.26): an id clears that
        profile and ignores the other fields; otherwise every given field must
        match (AND); no field clears all. True = Accepted, False = Unknown."""
        def matches(p: InstalledProfile) -> bool:
            if profile_id is not None:
                return p.profile["chargingProfileId"] == profile_id
            return ((connector_id is None or p.connector_id == connector_id)
                    and (purpose is None or p.profile["chargingProfilePurpose"] == purpose)
                    and (stack_level is None or p.profile["stackLevel"] == stack_level))

        kept = [p for p in self.profiles if not matches(p)]
        cleared = len(kept) != len(self.profiles)
        self.profiles = kept
        return cleared

    def end_transaction(self, connector_id: int) -> None:
        """The transaction on `connector_id` ended: its TxProfiles are deleted."""
        tx = rules_for(self.ocpp_version).tx
        self.profiles = [
            p for p in self.profiles
            if not (p.connector_id == connector_id and p.profile["chargingProfilePurpose"] == tx)
        ]


class ProfileStore201:
    """What a compliant 2.0.1 charging station holds (use case K01, K10).

    The station is described by its EVSE count, supply phases, the units it
    accepts (ChargingScheduleChargingRateUnit) and whether it can switch
    phases (ACPhaseSwitchingSupported). `connector_id` is the EVSE id."""

    ocpp_version = "2.0.1"

    def __init__(self, *, evses: int = 1, supply_phases: int = 3, units: Sequence[str] = ("A", "W"),
                 phase_switching: bool = False) -> None:
        self.evses = evses
        self.supply_phases = supply_phases
        self.units = frozenset(units)
        self.phase_switching = phase_switching
        self.profiles: list[InstalledProfile] = []

    def install(self, connector_id: int, profile: dict, *, active_transaction_id: str | None,
                source: str = "SetChargingProfile") -> tuple[bool, str]:
        """SetChargingProfile (or the profile of a RequestStartTransaction,
        `source="RequestStartTransaction"`, where `active_transaction_id` is the
        transaction it started): (accepted, reason)."""
        rules = rules_for(self.ocpp_version)
        try:
            validate_profile(profile, connector_id, self.ocpp_version)
        except ProfileError as err:
            return False, str(err)
        label = rules.profile_label(profile["id"])
        if profile["chargingProfilePurpose"] == rules.external_constraints:
            return False, f"{label}: {rules.external_constraints} are set by an external system, not by the CSMS"
        why = self._refusal(connector_id, profile, active_transaction_id, source)
        if why:
            return False, f"{label}: {why}"
        return self._store(connector_id, profile, active_transaction_id if profile["chargingProfilePurpose"] == rules.tx
                           else None)

    def install_external(self, connector_id: int, profile: dict) -> tuple[bool, str]:
        """A ChargingStationExternalConstraints profile from an external system (e.g. an EMS)."""
        rules = rules_for(self.ocpp_version)
        try:
            validate_profile(profile, connector_id, self.ocpp_version)
        except ProfileError as err:
            return False, str(err)
        if profile["chargingProfilePurpose"] != rules.external_constraints:
            return False, f"{rules.profile_label(profile['id'])}: not a {rules.external_constraints} profile"
        if connector_id > self.evses:
            return False, f"{rules.profile_label(profile['id'])}: EVSE {connector_id} does not exist"
        return self._store(connector_id, profile, None)

    def _refusal(self, evse_id: int, profile: dict, tx_id: str | None, source: str) -> str | None:
        rules = rules_for(self.ocpp_version)
        purpose, level, pid = profile["chargingProfilePurpose"], profile["stackLevel"], profile["id"]
        if evse_id > self.evses:
            return f"EVSE {evse_id} does not exist"
        if source == "RequestStartTransaction" and purpose != rules.tx:
            return f"the profile of RequestStartTransaction must be a {rules.tx}"
        for schedule in profile["chargingSchedule"]:
            if schedule["chargingRateUnit"] not in self.units:
                return f"chargingRateUnit {schedule['chargingRateUnit']} is not supported by this charging station"
            for period in schedule["chargingSchedulePeriod"]:
                if period.get("numberPhases", 0) > self.supply_phases:
                    return f"numberPhases {period['numberPhases']} exceeds the {self.supply_phases} supply phases"
                if "phaseToUse" in period and not self.phase_switching:
                    return "phaseToUse needs AC phase switching, which this charging station does not support"
        existing = [p for p in self.profiles if p.profile["id"] == pid]
        if any(_purpose(p) == rules.external_constraints for p in existing):
            return f"id {pid} belongs to a {rules.external_constraints} profile, which the CSMS cannot replace"
        others = [p for p in self.profiles if p.profile["id"] != pid]
        if purpose == rules.tx:
            if source == "SetChargingProfile":
                if "transactionId" not in profile:
                    return f"{rules.tx} needs a transactionId"
                if tx_id is None:
                    return f"{rules.tx} needs an active transaction on EVSE {evse_id}"
                if profile["transactionId"] != tx_id:
                    return f"transactionId {profile['transactionId']} is not the transaction {tx_id} on EVSE {evse_id}"
            clash = [p for p in others if _purpose(p) == rules.tx and p.profile["stackLevel"] == level
                     and p.profile.get("transactionId", p.transaction_id) == tx_id]
            if clash:
                return (f"{rules.tx} id {clash[0].profile['id']} of the same transaction already has "
                        f"stackLevel {level}")
            return None
        if purpose == rules.tx_default:
            clash = [p for p in others if _purpose(p) == purpose and p.profile["stackLevel"] == level
                     and (p.connector_id == 0) != (evse_id == 0)]
            if clash:
                where = "EVSE 0" if clash[0].connector_id == 0 else f"EVSE {clash[0].connector_id}"
                return (f"{purpose} id {clash[0].profile['id']} on {where} already has stackLevel {level} "
                        "(a stack level is either station-wide or per EVSE)")
        clash = [p for p in others if _purpose(p) == purpose and p.profile["stackLevel"] == level
                 and p.connector_id == evse_id and _validity_overlaps(p.profile, profile)]
        if clash:
            return (f"{purpose} id {clash[0].profile['id']} on EVSE {evse_id} already has stackLevel {level} "
                    "for an overlapping validity period (2.x refuses, it does not replace)")
        return None

    def _store(self, evse_id: int, profile: dict, bound: str | None) -> tuple[bool, str]:
        label = rules_for(self.ocpp_version).profile_label(profile["id"])
        gone = [p for p in self.profiles if p.profile["id"] == profile["id"]]
        self.profiles = [p for p in self.profiles if p.profile["id"] != profile["id"]]
        self.profiles.append(InstalledProfile(evse_id, copy.deepcopy(profile), bound))
        return True, f"{label}: {'replaced the profile with that id' if gone else 'installed'}"

    def clear(self, *, profile_id: int | None = None, connector_id: int | None = None,
              purpose: str | None = None, stack_level: int | None = None) -> bool:
        """ClearChargingProfile: chargingProfileId, or the criteria (evseId,
        purpose, stackLevel) that must all match; nothing given clears all.
        ChargingStationExternalConstraints are the external system's and stay.
        True = Accepted, False = Unknown."""
        external = rules_for(self.ocpp_version).external_constraints

        def matches(p: InstalledProfile) -> bool:
            if _purpose(p) == external:
                return False
            if profile_id is not None:
                return p.profile["id"] == profile_id
            return ((connector_id is None or p.connector_id == connector_id)
                    and (purpose is None or _purpose(p) == purpose)
                    and (stack_level is None or p.profile["stackLevel"] == stack_level))

        kept = [p for p in self.profiles if not matches(p)]
        cleared = len(kept) != len(self.profiles)
        self.profiles = kept
        return cleared

    def end_transaction(self, connector_id: int) -> None:
        """The transaction on EVSE `connector_id` ended: its TxProfiles are deleted."""
        tx = rules_for(self.ocpp_version).tx
        self.profiles = [p for p in self.profiles if not (p.connector_id == connector_id and _purpose(p) == tx)]


class ProfileStore21(ProfileStore201):
    """A 2.1 charging station without the optional 2.1 smart-charging features
    (they are refused by `validate_profile`); otherwise the 2.0.1 rules."""

    ocpp_version = "2.1"


def make_store(ocpp_version: str, **station: Any) -> ProfileStore16 | ProfileStore201:
    """The store of a compliant station of `ocpp_version` (2.x: `station` describes it)."""
    rules_for(ocpp_version)
    if ocpp_version == "1.6":
        return ProfileStore16()
    return {"2.0.1": ProfileStore201, "2.1": ProfileStore21}[ocpp_version](**station)


def _validity_overlaps(a: dict, b: dict) -> bool:
    def span(p: dict) -> tuple[int, int]:
        return (_us(parse_iso(p["validFrom"])) if "validFrom" in p else -_FOREVER,
                _us(parse_iso(p["validTo"])) if "validTo" in p else _FOREVER)
    (a0, a1), (b0, b1) = span(a), span(b)
    return a0 < b1 and b0 < a1
