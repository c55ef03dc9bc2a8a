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

Signed meter values (Eichrecht, OCMF) are optional on every version: 2.x reports
`SampledDataCtrlr.SignReadings` only when it can sign (2.0.1 part 2 2.7.3); 1.6 has no standard key.

Names here are version-neutral: a scenario says `needs: {features: [SmartCharging]}`
and the same name means the 1.6 feature profile and the 2.x functional block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Feature = Literal["SmartCharging", "Reservation", "LocalAuthList", "AuthCache", "FirmwareManagement",
                  "RemoteTrigger", "DisplayMessages", "SignedMeterValues"]
FEATURES: tuple[str, ...] = ("SmartCharging", "Reservation", "LocalAuthList", "AuthCache", "FirmwareManagement",
                             "RemoteTrigger", "DisplayMessages", "SignedMeterValues")
FileScheme = Literal["ftp", "ftps", "http", "https"]
# what the metering checks compare with the reference meter, asked of every DUT that can sample it
BENCH_MEASURANDS: tuple[str, ...] = ("Energy.Active.Import.Register", "Current.Import", "Power.Active.Import",
                                     "Voltage")

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

    def sampled_data(self) -> str:
        """MeterValuesSampledData for the bench (1.6 key; 2.x SampledDataCtrlr.TxUpdatedMeasurands):
        the measurands the checks use that the DUT declares it can sample (all when not declared).
        Energy.Active.Import.Register is the default measurand (1.6 section 7.31, 2.0.1 J02), always kept."""
        wanted = [m for m in BENCH_MEASURANDS
                  if self.measurands is None or m in self.measurands or m == "Energy.Active.Import.Register"]
        return ",".join(wanted)

    def supports(self, feature: str) -> bool:
        return self.supported.get(feature, True)

    def unsupported(self, features: list[str] | tuple[str, ...]) -> list[str]:
        return [f for f in features if not self.supports(f)]

    def why_not(self, features: list[str] | tuple[str, ...]) -> str:
        """"not supported by the DUT: SmartCharging (SupportedFeatureProfiles = Core)"."""
        missing = self.unsupported(features)
        return "not supported by the DUT: " + "; ".join(f"{f} ({self.source.get(f, 'assumed')})" for f in missing)

    def mark_unsupported(self, feature: str, evidence: str) -> None:
        self.supported[feature] = False
        self.source[feature] = evidence

    def as_record(self) -> dict[str, object]:
        return {"features": {f: {"supported": self.supported.get(f, True), "source": self.source.get(f, "assumed")}
                             for f in FEATURES},
                "measurands": sorted(self.measurands) if self.measurands is not None else None,
                "file_transfer": list(self.file_transfer), "reboot_time_s": self.reboot_time_s,
                "notes": list(self.notes)}


# Actions of each optional feature: a CALLERROR NotImplemented/NotSupported to one of them means
# "not supported by the DUT" (OCPP-J 1.6 section 4.2.3, 2.0.1 part 4 section 4.3), never a bench ERROR.
ACTION_FEATURE: dict[str, str] = {
    "SetChargingProfile": "SmartCharging", "ClearChargingProfile": "SmartCharging",
    "GetCompositeSchedule": "SmartCharging", "get_charging_profiles": "SmartCharging",
    "ReserveNow": "Reservation", "CancelReservation": "Reservation",
    "SendLocalList": "LocalAuthList", "GetLocalListVersion": "LocalAuthList",
    "ClearCache": "AuthCache",
    "TriggerMessage": "RemoteTrigger",
    "UpdateFirmware": "FirmwareManagement", "GetDiagnostics": "FirmwareManagement",
    "set_display_message": "DisplayMessages", "get_display_messages": "DisplayMessages",
    "clear_display_message": "DisplayMessages",
    # the same, by their 2.x OCPP action names (a CALLERROR names the action as sent)
    "GetChargingProfiles": "SmartCharging", "SetDisplayMessage": "DisplayMessages",
    "GetDisplayMessages": "DisplayMessages", "ClearDisplayMessage": "DisplayMessages",
}
# ClearCache is a Core message in 1.6 (section 5.4): the cache itself is optional, the answer is not.
V16_CORE_ACTIONS: frozenset[str] = frozenset({"ClearCache"})
NOT_SUPPORTED_CODES: frozenset[str] = frozenset({"NotImplemented", "NotSupported"})

# OCPP 1.6 section 9: the configuration keys a charger must have (Required) in each profile it
# supports; the others are optional, and an unknown optional key is "not supported", not a fault.
V16_REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "Core": frozenset({
        "AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut", "ConnectorPhaseRotation",
        "GetConfigurationMaxKeys", "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize",
        "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval", "NumberOfConnectors",
        "ResetRetries", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
        "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
        "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect"}),
    "LocalAuthList": frozenset({"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"}),
    "SmartCharging": frozenset({"ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
                                "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled"}),
}
V16_KEY_SECTION: dict[str, str] = {"Core": "9.1", "LocalAuthList": "9.2", "SmartCharging": "9.4"}


def feature_of_action(action: str, ocpp_version: str) -> str | None:
    """The optional feature an action belongs to on this version; None: the action is required."""
    feature = ACTION_FEATURE.get(action)
    if feature is None:
        return None
    if ocpp_version == "1.6":
        return None if action in V16_CORE_ACTIONS else feature
    return None if feature in V2X_CORE else feature


def required_key_rule(key: str, caps: Capabilities) -> str | None:
    """The 1.6 rule that makes `key` required on this DUT, if one does ("OCPP 1.6 section 9.1 ...")."""
    for profile, keys in V16_REQUIRED_KEYS.items():
        if key in keys and (profile == "Core" or caps.supports(profile)):
            return f"OCPP 1.6 section {V16_KEY_SECTION[profile]}: {key} is a required configuration key" + (
                "" if profile == "Core" else f" of the {profile} profile the DUT supports")
    return None
