"""Charging profiles between OCPP versions: scenarios say what they mean once,
the bench sends what the DUT's version expects.

A scenario (or `build_profile`) may write a profile in the 1.6 form
(`chargingProfileId`, one `chargingSchedule` object, ChargePointMaxProfile)
or in the 2.x form (`id`, a list of schedules with their own `id`,
ChargingStationMaxProfile); `to_version` turns either into the form of the
DUT's version. Only names and shapes change, never a limit or a time.
"""
from __future__ import annotations

import copy
from typing import Any

STATION_MAX = {"1.6": "ChargePointMaxProfile", "2.0.1": "ChargingStationMaxProfile", "2.1": "ChargingStationMaxProfile"}
_STATION_MAX_NAMES = frozenset(STATION_MAX.values())


def is_v2x(version: str) -> bool:
    return version in ("2.0.1", "2.1")


def purpose_for(purpose: str | None, ocpp_version: str) -> str | None:
    """A chargingProfilePurpose in the words of `ocpp_version` (the station-wide maximum differs)."""
    if purpose in _STATION_MAX_NAMES:
        return STATION_MAX[ocpp_version]
    return purpose


def is_v2x_profile(profile: dict) -> bool:
    return isinstance(profile.get("chargingSchedule"), list) or ("id" in profile and "chargingProfileId" not in profile)


def to_version(profile: dict[str, Any], ocpp_version: str) -> dict[str, Any]:
    """`profile` (1.6 or 2.x form, wire camelCase) in the form of `ocpp_version`; a copy."""
    if ocpp_version not in STATION_MAX:
        raise ValueError(f"OCPP version {ocpp_version!r} not supported (known: {', '.join(STATION_MAX)})")
    p = copy.deepcopy(profile)
    if "chargingProfilePurpose" in p:
        p["chargingProfilePurpose"] = purpose_for(p["chargingProfilePurpose"], ocpp_version)
    if is_v2x(ocpp_version):
        return p if is_v2x_profile(p) else _v16_to_v2x(p)
    return _v2x_to_v16(p) if is_v2x_profile(p) else p


def _v16_to_v2x(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": p.pop("chargingProfileId")} if "chargingProfileId" in p else {}
    schedule = p.pop("chargingSchedule", None)
    out.update(p)
    if isinstance(schedule, dict):
        schedule = dict(schedule)
        if p.get("chargingProfileKind") == "Relative":
            schedule.pop("startSchedule", None)  # 1.6 ignores it there, 2.x refuses it
        out["chargingSchedule"] = [{"id": out.get("id", 1), **schedule}]
    if "transactionId" in out and not isinstance(out["transactionId"], str):
        out["transactionId"] = str(out["transactionId"])
    return out


def _v2x_to_v16(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"chargingProfileId": p.pop("id")} if "id" in p else {}
    schedules = p.pop("chargingSchedule", None)
    out.update(p)
    if isinstance(schedules, list) and schedules:
        first = dict(schedules[0])  # 1.6 has one schedule: the one a 2.x station executes
        first.pop("id", None)
        out["chargingSchedule"] = first
    tx = out.get("transactionId")
    if isinstance(tx, str) and tx.isdigit():
        out["transactionId"] = int(tx)
    return out


def profile_id(profile: dict[str, Any]) -> Any:
    """The profile's id whatever its form."""
    return profile.get("chargingProfileId", profile.get("id"))
