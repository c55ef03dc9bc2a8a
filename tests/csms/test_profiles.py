"""Charging profiles between the 1.6 and the 2.x forms: names and shapes change, limits and times never."""
from __future__ import annotations

import pytest

from bench.csms.profiles import is_v2x_profile, profile_id, purpose_for, to_version
from bench.smart_charging import validate_profile

P16 = {
    "chargingProfileId": 12, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "transactionId": 5,
    "validFrom": "2031-05-06T00:00:00Z",
    "chargingSchedule": {"startSchedule": "2031-05-06T07:00:00Z", "duration": 600, "chargingRateUnit": "A",
                         "minChargingRate": 6.0,
                         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.5, "numberPhases": 1}]},
}


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
def test_16_form_to_2x_and_back(version):
    p2 = to_version(P16, version)
    assert is_v2x_profile(p2) and "chargingProfileId" not in p2
    assert p2["id"] == 12 and p2["transactionId"] == "5"
    assert p2["chargingSchedule"] == [{"id": 12, **P16["chargingSchedule"]}]
    validate_profile(p2, 1, version)  # a valid profile of that version
    assert to_version(p2, "1.6") == P16
    assert to_version(p2, version) == p2  # already in the form: unchanged (a copy)
    assert to_version(p2, version) is not p2


def test_station_maximum_names_and_relative_start():
    station = {**P16, "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Relative"}
    station.pop("transactionId")
    p2 = to_version(station, "2.0.1")
    assert p2["chargingProfilePurpose"] == "ChargingStationMaxProfile"
    assert "startSchedule" not in p2["chargingSchedule"][0]  # 2.x refuses it on a Relative profile
    assert to_version(p2, "1.6")["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert purpose_for("ChargingStationMaxProfile", "1.6") == "ChargePointMaxProfile"
    assert purpose_for("TxDefaultProfile", "2.1") == "TxDefaultProfile"
    assert purpose_for(None, "2.1") is None
    assert profile_id(p2) == profile_id(station) == 12


def test_unknown_version_is_refused():
    with pytest.raises(ValueError, match="2.0"):
        to_version(P16, "2.0")
