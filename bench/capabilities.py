"""What the DUT supports, declared in `lab_config.yaml` (a PICS) and discovered from the DUT.

OCPP splits a charger's functions into a required part and optional parts:
- 1.6 (section 3, "Feature Profiles"): Core is required; FirmwareManagement,
  LocalAuthListManagement, Reservation, SmartCharging and RemoteTrigger are
  optional, and the charger lists the ones it has in the Core configuration key
  `SupportedFeatureProfiles` (section 9.1).
- 2.0.1 / 2.1 (part 2, "Functional Blocks" and the Controller components of the
  device model, appendix 3): an optional block is there when its controller's
  `Available` variable is true and in use when `Enabled` is true
  (SmartChargingCtrlr, ReservationCtrlr, LocalAuthListCtrlr, AuthCacheCtrlr,
  DisplayMessageCtrlr).

Names here are version-neutral: a scenario says `needs: {features: [SmartCharging]}`
and the same name means the 1.6 feature profile and the 2.x functional block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Feature = Literal["SmartCharging", "Reservation", "LocalAuthList", "AuthCache", "FirmwareManagement",
                  "RemoteTrigger", "DisplayMessages"]
FEATURES: tuple[str, ...] = ("SmartCharging", "Reservation", "LocalAuthList", "AuthCache", "FirmwareManagement",
                             "RemoteTrigger", "DisplayMessages")
FileScheme = Literal["ftp", "ftps", "http", "https"]

# 1.6 SupportedFeatureProfiles values (section 9.1.33) -> the bench's names
V16_PROFILES: dict[str, str] = {
    "SmartCharging": "SmartCharging",
    "Reservation": "Reservation",
    "LocalAuthListManagement": "LocalAuthList",
    "FirmwareManagement": "FirmwareManagement",
    "RemoteTrigger": "RemoteTrigger",
}
# 2.x controller component of each optional functional block (part 2 appendix 3)
V2X_CONTROLLERS: dict[str, str] = {
    "SmartCharging": "SmartChargingCtrlr",
    "Reservation": "ReservationCtrlr",
    "LocalAuthList": "LocalAuthListCtrlr",
    "AuthCache": "AuthCacheCtrlr",
    "DisplayMessages": "DisplayMessageCtrlr",
}
# Required on 2.x whatever the device model says: TriggerMessage (F06) and UpdateFirmware (L01) are
# in the Core certification profile of 2.0.1 (part 6, "Core" test cases TC_F_*, TC_L_*).
V2X_CORE: frozenset[str] = frozenset({"RemoteTrigger", "FirmwareManagement"})


@dataclass
class Capabilities:
    """What one DUT supports, with where each fact came from ("declared", "discovered", "assumed")."""

    supported: dict[str, bool] = field(default_factory=lambda: {f: True for f in FEATURES})
    source: dict[str, str] = field(default_factory=lambda: {f: "assumed" for f in FEATURES})
    measurands: frozenset[str] | None = None      # None: not known, every measurand is tried
    file_transfer: tuple[str, ...] = ("http", "ftp")  # schemes the DUT fetches/uploads with, preferred first
    reboot_time_s: float = 120.0
    notes: list[str] = field(default_factory=list)  # what discovery found worth telling (shown in the record)

    def supports(self, feature: str) -> bool:
        return self.supported.get(feature, True)

    def unsupported(self, features: list[str] | tuple[str, ...]) -> list[str]:
        return [f for f in features if not self.supports(f)]

    def as_record(self) -> dict[str, object]:
        return {"features": {f: {"supported": self.supported.get(f, True), "source": self.source.get(f, "assumed")}
                             for f in FEATURES},
                "measurands": sorted(self.measurands) if self.measurands is not None else None,
                "file_transfer": list(self.file_transfer), "reboot_time_s": self.reboot_time_s,
                "notes": list(self.notes)}
