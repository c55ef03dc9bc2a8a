"""Charging profiles -> composite schedule (the limit over time), and the
acceptance rules of an OCPP 1.6 charge point.

One module, two users: the simulated charger derives its PWM offer from it,
and the bench derives the expected limit that verdicts are built on. The
rules follow OCPP 1.6 edition 2 (sections 3.13, 5.7, 5.16, 7.8-7.14) and its
errata sheet; where the text leaves room, the choice made here is stated.

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
- TxDefaultProfile on the connector itself outranks (at every instant) any
  TxDefaultProfile on connector 0, whatever the stack levels; connector 0's
  shows through only where no connector-specific one applies ("replaced only
  for that specific connector", 3.13.1).
- TxProfile applies only while a transaction is active: from
  `transaction_start` on, and only if its transactionId (or the transaction it
  was installed for, `InstalledProfile.transaction_id`) equals
  `transaction_id`. TxDefaultProfile and ChargePointMaxProfile apply with or
  without a transaction.
- Kinds: Absolute starts at startSchedule. Relative starts at
  `transaction_start` (the caller's "start of charging"); with no transaction
  at the window start (`start`, or `at` for `limit_at`); a startSchedule on a
  Relative profile is ignored. Recurring restarts every 24 h (Daily) or 7 d
  (Weekly) at startSchedule's time of day/week, never before startSchedule
  itself (the schedule has not started); periods and duration beyond the
  recurrence period are not executed (errata 3.43/3.44).
- `duration`: periods past it are not executed; the last period holds until
  it ends; absent = the last period holds indefinitely. A schedule duration
  of 0 never applies. A composite window of 0 s still reports the limit at
  `start` (one period).
- Units and phases: the phases in use at an instant are
  min(`phases` of the charger, numberPhases of every limiting profile period,
  absent = 3). A limits are per phase and used as given; W limits are the
  total power, spread over the phases in use:
  I = P / (`voltage_v` x phases in use). This follows errata 3.34: a 3-phase
  W limit on a 1-phase charger keeps its power, it is not divided by 3.
  Purposes are combined with these common phases, so min() is the same in A
  and in W and a W limit never lets a per-phase A cap be exceeded.
- `default_limit_a` is used only where no profile applies at all; it does not
  cap a profile (hardware ratings are the caller's to apply).
- minChargingRate is a hint for local balancing and is ignored here.
- Connector 0: the composite combines ChargePointMaxProfile with the
  TxDefaultProfile on connector 0 by the same min() rule. It is not the sum of
  the connectors' schedules (a 1.6 simplification; 2.0.1 work will add sums).
- Validation is deliberately no stricter than the 1.6 schema and text
  require: e.g. recurrencyKind on a non-Recurring profile and transactionId on
  a non-Tx profile are ignored, not rejected. Charger-specific limits
  (ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods, number of
  connectors, MaxChargingProfilesInstalled) are not modelled.
"""
from __future__ import annotations

import bisect
import copy
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Sequence

from bench.clock import iso_utc, parse_iso

# ---------------------------------------------------------------------------
# Per-version vocabulary, as data. 2.0.1/2.1 add an entry here (and their own
# acceptance rules); the schedule arithmetic below does not depend on names.


@dataclass(frozen=True)
class VersionRules:
    station_max: str  # limits the whole charge point, connector 0 only
    tx_default: str  # default for transactions, connector 0 or one connector
    tx: str  # one transaction, connector > 0
    kinds: frozenset[str]
    recurrency_s: dict[str, int]  # recurrencyKind -> period in seconds
    units: frozenset[str]
    max_phases: int = 3

    @property
    def purposes(self) -> frozenset[str]:
        return frozenset((self.station_max, self.tx_default, self.tx))


VERSION_RULES: dict[str, VersionRules] = {
    "1.6": VersionRules(
        station_max="ChargePointMaxProfile",
        tx_default="TxDefaultProfile",
        tx="TxProfile",
        kinds=frozenset({"Absolute", "Recurring", "Relative"}),
        recurrency_s={"Daily": 86_400, "Weekly": 7 * 86_400},
        units=frozenset({"A", "W"}),
    ),
}

DEFAULT_NUMBER_PHASES = 3  # 7.12/7.14: numberPhases absent -> 3
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
    connector_id: int
    profile: dict  # ChargingProfile exactly as on the wire (camelCase)
    transaction_id: int | None = None  # transaction a TxProfile was installed for


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

    def to_ocpp(self) -> dict:
        """The schedule as an OCPP ChargingSchedule. Limits are floored to one
        decimal (the 1.6 schema's multipleOf 0.1), so the report never allows
        more than the computed limit. (In a 1.6 GetCompositeSchedule.conf the
        errata (3.57) wants startSchedule omitted in favour of scheduleStart.)"""
        return {
            "startSchedule": iso_utc(self.start),
            "duration": self.duration_s,
            "chargingRateUnit": self.unit,
            "chargingSchedulePeriod": [
                {"startPeriod": p.start_s, "limit": _floor_one_decimal(p.limit), "numberPhases": p.number_phases}
                for p in self.periods
            ],
        }


# ---------------------------------------------------------------------------
# Validation


def validate_profile(profile: dict, connector_id: int, ocpp_version: str = "1.6") -> None:
    """Raise ProfileError if a charge point of `ocpp_version` must refuse
    `profile` on `connector_id`."""
    rules = rules_for(ocpp_version)
    pid = profile.get("chargingProfileId", "?") if isinstance(profile, dict) else "?"

    def fail(rule: str) -> None:
        raise ProfileError(f"chargingProfileId {pid}: {rule}")

    if not isinstance(profile, dict):
        fail("profile is not an object")
    for key in ("chargingProfileId", "stackLevel", "chargingProfilePurpose", "chargingProfileKind", "chargingSchedule"):
        if key not in profile:
            fail(f"{key} is required")
    if not _is_int(profile["chargingProfileId"]):
        fail("chargingProfileId must be an integer")
    if not _is_int(profile["stackLevel"]) or profile["stackLevel"] < 0:
        fail("stackLevel must be an integer >= 0")
    if "transactionId" in profile and not _is_int(profile["transactionId"]):
        fail("transactionId must be an integer")

    purpose, kind = profile["chargingProfilePurpose"], profile["chargingProfileKind"]
    if purpose not in rules.purposes:
        fail(f"chargingProfilePurpose {purpose!r} is not one of {sorted(rules.purposes)}")
    if kind not in rules.kinds:
        fail(f"chargingProfileKind {kind!r} is not one of {sorted(rules.kinds)}")
    if not _is_int(connector_id) or connector_id < 0:
        fail(f"connectorId {connector_id!r} must be an integer >= 0")
    if purpose == rules.station_max and connector_id != 0:
        fail(f"{purpose} may only be set on connector 0, not {connector_id}")
    if purpose == rules.tx and connector_id == 0:
        fail(f"{purpose} may only be set on a connector > 0")

    if kind == "Recurring":
        recurrency = profile.get("recurrencyKind")
        if recurrency is None:
            fail("Recurring profile needs recurrencyKind")
        if recurrency not in rules.recurrency_s:
            fail(f"recurrencyKind {recurrency!r} is not one of {sorted(rules.recurrency_s)}")
    for key in ("validFrom", "validTo"):
        if key in profile:
            _check_datetime(profile[key], key, fail)

    schedule = profile["chargingSchedule"]
    if not isinstance(schedule, dict):
        fail("chargingSchedule must be an object")
    if kind in ("Absolute", "Recurring"):
        if "startSchedule" not in schedule:
            fail(f"{kind} profile needs chargingSchedule.startSchedule")
        _check_datetime(schedule["startSchedule"], "startSchedule", fail)
    unit = schedule.get("chargingRateUnit")
    if unit not in rules.units:
        fail(f"chargingRateUnit {unit!r} is not one of {sorted(rules.units)}")
    if "duration" in schedule and (not _is_int(schedule["duration"]) or schedule["duration"] < 0):
        fail("duration must be an integer >= 0")
    if "minChargingRate" in schedule:
        _check_limit(schedule["minChargingRate"], "minChargingRate", fail)

    periods = schedule.get("chargingSchedulePeriod")
    if not isinstance(periods, list) or not periods:
        fail("chargingSchedulePeriod needs at least one period")
    previous: int | None = None
    for i, period in enumerate(periods):
        where = f"chargingSchedulePeriod[{i}]"
        if not isinstance(period, dict) or "startPeriod" not in period or "limit" not in period:
            fail(f"{where} needs startPeriod and limit")
        start = period["startPeriod"]
        if not _is_int(start):
            fail(f"{where}.startPeriod must be an integer")
        if previous is None and start != 0:
            fail(f"first startPeriod must be 0, not {start}")
        if previous is not None and start <= previous:
            fail(f"startPeriod values must increase strictly ({where}: {start} after {previous})")
        previous = start
        _check_limit(period["limit"], f"{where}.limit", fail)
        if "numberPhases" in period:
            n = period["numberPhases"]
            if not _is_int(n) or not 1 <= n <= rules.max_phases:
                fail(f"{where}.numberPhases must be 1..{rules.max_phases}, not {n!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_limit(value: Any, name: str, fail) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail(f"{name} must be a number")
    if value < 0:
        fail(f"{name} must be >= 0, not {value}")
    tenths = value * 10
    if abs(tenths - round(tenths)) > 1e-6 * max(1.0, abs(tenths)):
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
    transaction_id: int | None = None,
    unit: str = "A",
    ocpp_version: str = "1.6",
) -> CompositeSchedule:
    """The limit on `connector_id` from `start` for `duration_s` seconds, as
    a charge point reports it in GetCompositeSchedule (see module notes)."""
    rules = rules_for(ocpp_version)
    if unit not in rules.units:
        raise ValueError(f"unit must be one of {sorted(rules.units)}, not {unit!r}")
    if not _is_int(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s must be an integer >= 0, not {duration_s!r}")
    ctx = _Context.build(profiles, connector_id, ocpp_version, default_limit_a, voltage_v, phases,
                         transaction_start, transaction_id)
    lo = _us(start)
    hi = lo + max(duration_s * _US, 1)  # a 0 s window still evaluates `start`
    timeline = ctx.timeline(lo, hi, anchor_us=ctx.tx_start_us if ctx.tx_start_us is not None else lo, unit=unit)

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
    *,
    default_limit_a: float,
    voltage_v: float,
    phases: int = 3,
    transaction_start: datetime | None = None,
    transaction_id: int | None = None,
    ocpp_version: str = "1.6",
) -> float:
    """The limit in A per phase on `connector_id` at the instant `at` (exact,
    no rounding to seconds)."""
    ctx = _Context.build(profiles, connector_id, ocpp_version, default_limit_a, voltage_v, phases,
                         transaction_start, transaction_id)
    t = _us(at)
    anchor = ctx.tx_start_us if ctx.tx_start_us is not None else t
    _, (limit, _) = ctx.timeline(t, t + 1, anchor_us=anchor, unit="A")[0]
    return limit


@dataclass(frozen=True)
class _Period:
    start_us: int
    limit: float
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
        schedule = profile["chargingSchedule"]
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
                _Period(p["startPeriod"] * _US, float(p["limit"]), p.get("numberPhases"))
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
        else:
            origins = [self.start_schedule_us if self.kind == "Absolute" else anchor_us]

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


@dataclass
class _Context:
    """The profiles relevant to one connector, sorted into precedence groups."""

    groups: dict[str, list[tuple[_Parsed, bool]]]  # group -> (profile, gated by transaction start)
    default_limit_a: float
    voltage_v: float
    phases: int
    tx_start_us: int | None

    # groups in precedence order for the "transaction" side of the min()
    TX_ORDER: ClassVar[tuple[str, ...]] = ("tx", "tx_default_connector", "tx_default_station")

    @classmethod
    def build(cls, profiles: Sequence[InstalledProfile], connector_id: int, ocpp_version: str,
              default_limit_a: float, voltage_v: float, phases: int,
              transaction_start: datetime | None, transaction_id: int | None) -> _Context:
        rules = rules_for(ocpp_version)
        if not _is_int(phases) or not 1 <= phases <= rules.max_phases:
            raise ValueError(f"phases must be 1..{rules.max_phases}, not {phases!r}")
        if voltage_v <= 0:
            raise ValueError(f"voltage_v must be > 0, not {voltage_v!r}")
        groups: dict[str, list[tuple[_Parsed, bool]]] = {
            "tx": [], "tx_default_connector": [], "tx_default_station": [], "station_max": []}
        for installed in profiles:
            validate_profile(installed.profile, installed.connector_id, ocpp_version)
            purpose = installed.profile["chargingProfilePurpose"]
            on_this = installed.connector_id == connector_id
            if purpose == rules.station_max:
                group = "station_max"
            elif purpose == rules.tx_default and on_this and connector_id != 0:
                group = "tx_default_connector"
            elif purpose == rules.tx_default and installed.connector_id == 0:
                group = "tx_default_station"
            elif purpose == rules.tx and on_this and transaction_start is not None:
                bound = installed.profile.get("transactionId", installed.transaction_id)
                if bound is not None and bound != transaction_id:
                    continue
                group = "tx"
            else:
                continue
            groups[group].append((_Parsed.parse(installed.profile, rules), group == "tx"))
        return cls(groups, float(default_limit_a), float(voltage_v), phases,
                   _us(transaction_start) if transaction_start is not None else None)

    def timeline(self, lo: int, hi: int, *, anchor_us: int, unit: str) -> list[tuple[int, tuple[float, int]]]:
        """[(instant, (limit in `unit`, phases in use))] at every breakpoint in
        [lo, hi), starting at lo; each value holds until the next instant."""
        not_before = self.tx_start_us if self.tx_start_us is not None else -_FOREVER
        tracks: dict[str, list[_Track]] = {}
        breakpoints = {lo}
        for group, members in self.groups.items():
            tracks[group] = []
            for parsed, gated in members:
                spans = parsed.segments(lo, hi, anchor_us, not_before if gated else -_FOREVER)
                tracks[group].append(_Track(parsed.stack_level, parsed.unit, spans, [s[0] for s in spans]))
                for begin, end, _ in spans:
                    breakpoints.add(begin)
                    if end < hi:
                        breakpoints.add(end)
        return [(t, self._value(tracks, t, unit)) for t in sorted(breakpoints)]

    def _value(self, tracks: dict[str, list[_Track]], t: int, unit: str) -> tuple[float, int]:
        limiting: list[tuple[str, _Period]] = []  # (unit, period) of each purpose that applies
        for group in self.TX_ORDER:
            won = _stack_winner(tracks[group], t)
            if won is not None:
                limiting.append(won)
                break
        won = _stack_winner(tracks["station_max"], t)
        if won is not None:
            limiting.append(won)

        if not limiting:
            if unit == "A":
                return self.default_limit_a, self.phases
            return self.default_limit_a * self.voltage_v * self.phases, self.phases
        n = min([self.phases] + [p.number_phases or DEFAULT_NUMBER_PHASES for _, p in limiting])
        values = []
        for period_unit, period in limiting:
            if period_unit == unit:
                values.append(period.limit)
            elif unit == "A":  # W total -> A per phase over the phases in use
                values.append(period.limit / (self.voltage_v * n))
            else:
                values.append(period.limit * self.voltage_v * n)
        return min(values), n


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
# What a compliant 1.6 charge point holds


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
                return False, f"chargingProfileId {pid}: {purpose} needs an active transaction on connector {connector_id}"
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
