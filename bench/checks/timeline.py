"""What the charger should be doing over time, from what the bench did and saw.

During a scenario the steps note every input of the expected behaviour: the
charging profiles the DUT holds (a mirror of a compliant charger's store), the
EV state and EV maximum current; transactions come from the DUT's messages.
Afterwards `expected()` turns them into step functions on the monotonic clock:
the composite limit (capped by the DUT's rating), the current the EV should draw,
and the PWM duty the charger should offer.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.smart_charging import InstalledProfile, ProfileStore16, ProfileStore201, composite_schedule, make_store
from instruments.iec61851 import CpState, current_to_duty_pct


@dataclass
class TxSpan:
    transaction_id: int | str  # 1.6 int, 2.x string
    connector_id: int
    t_start: float
    t_stop: float | None
    start_utc: datetime | None


@dataclass
class CompositeReport:
    """A GetCompositeSchedule the bench sent: the DUT's answer next to the bench's own composite."""

    t_mono_s: float
    connector_id: int
    duration_s: int
    unit: str  # asked for (A when the request named none)
    requested_utc: datetime  # bench clock when sent
    expected: dict  # the bench's ChargingSchedule (wire camelCase, limits floored to 0.1)
    answer: dict | None  # the DUT's GetCompositeSchedule.conf payload (camelCase)
    error: str = ""  # why there is no usable answer (e.g. it broke the schema)


@dataclass
class SecurityProbe:
    """One security check a step made on the DUT (a TLS probe, a password change, a
    downgrade request), judged by the `security_probes_pass` check."""

    name: str  # e.g. "server_certificate_unknown_ca", "security_profile_downgrade"
    t_mono_s: float
    required: str  # what a compliant charger does, in one sentence
    applicable: bool  # False: not at the bench's security profile (see detail)
    passed: bool | None  # None: the bench could not tell (e.g. the DUT never tried to connect)
    detail: str = ""


@dataclass
class Expected:
    """Step functions: lists of (t_mono_s, value) each holding until the next point."""

    limit_a: list[tuple[float, float]]
    current_a: list[tuple[float, float]]  # what the EV should draw per phase (0 = nothing)
    duty_pct: list[tuple[float, float | None]]  # None = PWM not judged (no transaction)
    changes: list[float]  # instants where any of the above changed
    ev_phases: list[tuple[float, int]] = field(default_factory=list)  # EV phases when a step changed them
    # the most the EV will draw per phase whatever it is offered (set_ev max_current_a); empty =
    # unknown: the checks then take the EV to draw all it is offered
    ev_max_a: list[tuple[float, float]] = field(default_factory=list)
    composite_reports: list[CompositeReport] = field(default_factory=list)
    security_probes: list[SecurityProbe] = field(default_factory=list)
    meter_public_keys: dict[str, str] = field(default_factory=dict)  # where the DUT published it -> key


@dataclass
class Timeline:
    connector_id: int
    rated_current_a: float
    voltage_v: float
    phases: int
    utc_at: Callable[[float], datetime]  # t_mono -> aware UTC datetime
    store: ProfileStore16 | ProfileStore201 = field(default_factory=ProfileStore16)  # see use_version
    profile_snapshots: list[tuple[float, tuple[InstalledProfile, ...]]] = field(default_factory=list)
    ev_states: list[tuple[float, CpState]] = field(default_factory=list)
    ev_max_a: list[tuple[float, float]] = field(default_factory=list)
    ev_phases: list[tuple[float, int]] = field(default_factory=list)  # only when a step changed them
    composite_reports: list[CompositeReport] = field(default_factory=list)
    security_probes: list[SecurityProbe] = field(default_factory=list)
    meter_public_keys: dict[str, str] = field(default_factory=dict)  # enable_signed_meter_values step

    def note_security(self, probe: SecurityProbe) -> None:
        self.security_probes.append(probe)

    def use_version(self, ocpp_version: str, **station) -> None:
        """Mirror a charger of `ocpp_version` (2.x: `station` as for make_store). Only before
        the first profile: a store is never switched with profiles in it."""
        if self.store.ocpp_version == ocpp_version:
            return
        if self.store.profiles:
            raise RuntimeError(f"profile mirror holds {self.store.ocpp_version} profiles; cannot switch to "
                               f"{ocpp_version}")
        self.store = make_store(ocpp_version, **({} if ocpp_version == "1.6" else station))

    def note_ev_phases(self, t: float, phases: int) -> None:
        self.ev_phases.append((t, phases))

    def note_composite(self, report: CompositeReport) -> None:
        self.composite_reports.append(report)

    def note_profiles(self, t: float) -> None:
        self.profile_snapshots.append((t, tuple(self.store.profiles)))

    def note_ev_state(self, t: float, state: CpState) -> None:
        self.ev_states.append((t, CpState(state)))

    def note_ev_max(self, t: float, max_a: float) -> None:
        self.ev_max_a.append((t, max_a))

    def expected(self, t0: float, t1: float, transactions: list[TxSpan]) -> Expected:
        cuts = {t0, t1}
        cuts.update(t for t, _ in self.profile_snapshots if t0 <= t <= t1)
        cuts.update(t for t, _ in self.ev_states if t0 <= t <= t1)
        cuts.update(t for t, _ in self.ev_max_a if t0 <= t <= t1)
        for span in transactions:
            cuts.update(t for t in (span.t_start, span.t_stop) if t is not None and t0 <= t <= t1)
        edges = sorted(cuts)
        limit, current, duty, ev_max_points = [], [], [], []
        for a, b in zip(edges, edges[1:]):
            tx = _active(transactions, a)
            profiles = _applicable(_at(self.profile_snapshots, a, ()), tx)
            schedule = composite_schedule(
                profiles, self.connector_id, self.utc_at(a), max(1, math.ceil(b - a)),
                default_limit_a=self.rated_current_a, voltage_v=self.voltage_v, phases=self.phases,
                transaction_start=tx.start_utc if tx else None, transaction_id=tx.transaction_id if tx else None,
                ocpp_version=self.store.ocpp_version)
            state = _at(self.ev_states, a, CpState.A)
            ev_max = _at(self.ev_max_a, a, self.rated_current_a)
            for period in schedule.periods:
                t = a + period.start_s
                if t >= b:
                    break
                lim = min(_to_amps(period.limit, schedule.unit, period.number_phases, self.voltage_v),
                          self.rated_current_a)
                flowing = tx is not None and state.is_charging and lim >= 6.0
                limit.append((t, lim))
                ev_max_points.append((t, ev_max))
                current.append((t, min(lim, ev_max) if flowing else 0.0))
                pwm_judged = tx is not None and state.is_connected
                duty.append((t, current_to_duty_pct(lim) if pwm_judged else None))
        changes = _change_times(limit, current, duty)
        if self.ev_phases:  # phases the EV stops or starts drawing on settle like a limit change
            changes = sorted(set(changes) | {t for t, _ in self.ev_phases if t0 <= t <= t1})
        return Expected(_merge(limit), _merge(current), _merge(duty), changes,
                        ev_phases=list(self.ev_phases), ev_max_a=_merge(ev_max_points),
                        composite_reports=list(self.composite_reports),
                        security_probes=list(self.security_probes),
                        meter_public_keys=dict(self.meter_public_keys))


def _to_amps(limit: float, unit: str, phases: int, voltage_v: float) -> float:
    return limit if unit == "A" else limit / (voltage_v * (phases or 3))


def _active(transactions: list[TxSpan], t: float) -> TxSpan | None:
    for tx in transactions:
        if tx.t_start <= t and (tx.t_stop is None or t < tx.t_stop):
            return tx
    return None


def _applicable(profiles: tuple[InstalledProfile, ...], tx: TxSpan | None) -> list[InstalledProfile]:
    """TxProfiles only live with their transaction (removed at its end)."""
    out = []
    for p in profiles:
        if p.profile.get("chargingProfilePurpose") == "TxProfile":
            if tx is None or (p.transaction_id is not None and p.transaction_id != tx.transaction_id):
                continue
        out.append(p)
    return out


def _at(points, t, default):
    value = default
    for tp, v in points:
        if tp <= t:
            value = v
        else:
            break
    return value


def _merge(points):
    out: list = []
    for t, v in points:
        if not out or out[-1][1] != v:
            out.append((t, v))
    return out


def _change_times(*series) -> list[float]:
    times: set[float] = set()
    for points in series:
        merged = _merge(points)
        times.update(t for t, _ in merged[1:])
    return sorted(times)


def value_at(points: Sequence[tuple[float, float | None]], t) :
    """Evaluate a step function at scalar or numpy times (NaN before the first point)."""
    import numpy as np

    ts = np.array([p[0] for p in points], dtype=float)
    vs = np.array([np.nan if p[1] is None else p[1] for p in points], dtype=float)
    idx = np.searchsorted(ts, np.asarray(t, dtype=float), side="right") - 1
    return np.where(idx >= 0, vs[np.clip(idx, 0, None)], np.nan)


def utc_mapper(clock_mono: float, clock_utc: datetime):
    """t_mono -> UTC using one anchor read from the run's clock (they share one scale)."""
    return lambda t: clock_utc + timedelta(seconds=t - clock_mono)


def mono_mapper(clock_mono: float, clock_utc: datetime):
    return lambda dt: clock_mono + (dt - clock_utc).total_seconds()
