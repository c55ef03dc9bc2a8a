"""Which optional parts of OCPP the simulated charger implements (`virtual_lab.charger.features`).

- `full`: every feature profile / functional block the simulator has, files over HTTP and FTP,
  a reboot that reconnects at once.
- `minimal`: only the required part of each version, as many chargers in the field:
  - 1.6 (section 3, "Feature Profiles"): Core and FirmwareManagement. The actions of the other
    profiles (SmartCharging, Reservation, LocalAuthListManagement, RemoteTrigger) are answered
    CALLERROR NotSupported (OCPP-J 1.6 section 4.2.3: "Requested Action is recognized but not
    supported by the receiver"); their configuration keys and the optional Core keys are absent
    (GetConfiguration lists them in unknownKey, ChangeConfiguration answers NotSupported, 1.6
    section 5.3 / 5.8); `SupportedFeatureProfiles` (9.1.33) is "Core,FirmwareManagement".
  - 2.0.1 / 2.1: the optional functional blocks are not there: their controllers
    (SmartChargingCtrlr, ReservationCtrlr, LocalAuthListCtrlr, AuthCacheCtrlr,
    DisplayMessageCtrlr) report `Available` false ("Whether ... is supported", part 2 appendix
    3.1) and `Enabled` false, read-only, and no other variable; their actions are answered
    CALLERROR NotSupported (2.0.1 part 4 section 4.3, same wording). TriggerMessage and
    UpdateFirmware stay: they are in the Core certification profile (part 6).
  - no signing meter (signed meter values are optional on every version): no OCMF keys (1.6),
    no SignReadings variables (2.x, part 2 2.7.3: a station that cannot sign does not report them);
  - files over FTP only (1.6 security whitepaper `SupportedFileTransferProtocols`, 2.x
    `OCPPCommCtrlr.FileTransferProtocols` = "FTP"): an http:// location fails the transfer.
  - a reboot (Reset, firmware installation) takes REBOOT_S of clock time before the charger
    connects and boots again.

Everything here is data plus three small transforms the charger applies once: to its 1.6
configuration keys, to its 2.x device model, and to the actions its OCPP link accepts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from bench.sim.device_model import Variable

FeatureSet = Literal["full", "minimal"]
FEATURE_SETS: tuple[str, ...] = ("full", "minimal")
REBOOT_S = 30.0  # a minimal charger's boot time, from going down to connecting again

# Optional features (the bench's version-neutral names, bench.capabilities.FEATURES) ->
# the CSMS-initiated actions of each, per version family.
ACTIONS_16: dict[str, frozenset[str]] = {  # 1.6 section 3, Table 4 "Feature Profiles"
    "SmartCharging": frozenset({"SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"}),
    "Reservation": frozenset({"ReserveNow", "CancelReservation"}),
    "LocalAuthList": frozenset({"SendLocalList", "GetLocalListVersion"}),
    "RemoteTrigger": frozenset({"TriggerMessage"}),
    "FirmwareManagement": frozenset({"UpdateFirmware", "GetDiagnostics"}),
}
ACTIONS_2X: dict[str, frozenset[str]] = {  # 2.0.1 part 2 functional blocks K, H, D, C (C11), O
    "SmartCharging": frozenset({"SetChargingProfile", "ClearChargingProfile", "GetChargingProfiles",
                                "GetCompositeSchedule"}),
    "Reservation": frozenset({"ReserveNow", "CancelReservation"}),
    "LocalAuthList": frozenset({"SendLocalList", "GetLocalListVersion"}),
    "AuthCache": frozenset({"ClearCache"}),
    "DisplayMessages": frozenset({"SetDisplayMessage", "GetDisplayMessages", "ClearDisplayMessage"}),
}
# 1.6 feature profile names (SupportedFeatureProfiles) of the bench's names
PROFILES_16: dict[str, str] = {"FirmwareManagement": "FirmwareManagement", "LocalAuthList": "LocalAuthListManagement",
                               "Reservation": "Reservation", "SmartCharging": "SmartCharging",
                               "RemoteTrigger": "RemoteTrigger"}
# 1.6 configuration keys of each optional profile (section 9.2-9.4) and the optional Core keys
# (section 9.1, "Required/optional: optional") the simulator has.
KEYS_16: dict[str, frozenset[str]] = {
    "LocalAuthList": frozenset({"LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength"}),
    "Reservation": frozenset({"ReserveConnectorZeroSupported"}),
    "SmartCharging": frozenset({"ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
                                "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled"}),
}
OPTIONAL_CORE_KEYS_16 = frozenset({"AuthorizationCacheEnabled", "MeterValuesSampledDataMaxLength"})
# 2.x controller component of each optional functional block (part 2 appendix 3.1)
CONTROLLERS_2X: dict[str, str] = {"SmartCharging": "SmartChargingCtrlr", "Reservation": "ReservationCtrlr",
                                  "LocalAuthList": "LocalAuthListCtrlr", "AuthCache": "AuthCacheCtrlr",
                                  "DisplayMessages": "DisplayMessageCtrlr"}
FILE_TRANSFER_KEY_16 = "SupportedFileTransferProtocols"  # 1.6 security whitepaper, optional key
FILE_TRANSFER_PROTOCOLS = "FTP,FTPS,HTTP,HTTPS"  # 2.x FileTransferProtocols valuesList


@dataclass(frozen=True)
class ChargerFeatures:
    """What this charger implements beyond the required part of its OCPP version."""

    name: str = "full"
    missing: frozenset[str] = frozenset()  # optional features it lacks (bench names, see ACTIONS_16)
    file_transfer: tuple[str, ...] = ("http", "ftp")  # URL schemes it fetches/uploads with, preferred first
    reboot_s: float = 0.0  # clock time from going down for a reboot to connecting again
    optional_core_keys: bool = True  # 1.6: the optional Core configuration keys are there

    @classmethod
    def of(cls, name: str) -> ChargerFeatures:
        if name == "full":
            return cls()
        if name == "minimal":
            return cls("minimal", frozenset({"SmartCharging", "Reservation", "LocalAuthList", "AuthCache",
                                             "RemoteTrigger", "DisplayMessages", "SignedMeterValues"}),
                       ("ftp",), REBOOT_S, optional_core_keys=False)
        raise ValueError(f"charger features {name!r}: known {', '.join(FEATURE_SETS)}")

    @property
    def protocols(self) -> str:
        """The file transfer protocols as OCPP names them (FTP, HTTP)."""
        return ",".join(s.upper() for s in self.file_transfer)

    def unsupported_actions(self, ocpp_version: str) -> frozenset[str]:
        table = ACTIONS_16 if ocpp_version == "1.6" else ACTIONS_2X
        return frozenset().union(*(table.get(f, frozenset()) for f in self.missing))

    def configuration_keys_16(self, keys: dict[str, Any]) -> dict[str, Any]:
        """The charger's 1.6 keys (name -> charger._Key) without the missing profiles' keys,
        with SupportedFeatureProfiles and SupportedFileTransferProtocols saying what is there."""
        drop = frozenset().union(*(KEYS_16.get(f, frozenset()) for f in self.missing))
        if not self.optional_core_keys:
            drop |= OPTIONAL_CORE_KEYS_16
        out = {k: v for k, v in keys.items() if k not in drop}
        profiles = out["SupportedFeatureProfiles"]
        present = [p for p in profiles.value.split(",")
                   if p not in {PROFILES_16[f] for f in self.missing if f in PROFILES_16}]
        out["SupportedFeatureProfiles"] = dataclasses.replace(profiles, value=",".join(present))
        out[FILE_TRANSFER_KEY_16] = dataclasses.replace(profiles, value=self.protocols)  # read-only string
        return out

    def device_model_2x(self, variables: list[Variable]) -> list[Variable]:
        """The 2.x device model: the controller of a missing block keeps only Available and
        Enabled, both false and read-only; OCPPCommCtrlr.FileTransferProtocols is added."""
        absent = {CONTROLLERS_2X[f] for f in self.missing if f in CONTROLLERS_2X}
        out: list[Variable] = []
        for var in variables:
            if var.component not in absent:
                out.append(var)
            elif var.name in ("Available", "Enabled") and var.instance is None:
                out.append(dataclasses.replace(var, value="false", mutability="ReadOnly"))
        out.append(Variable("OCPPCommCtrlr", "FileTransferProtocols", self.protocols, "ReadOnly", "MemberList",
                            values_list=FILE_TRANSFER_PROTOCOLS))
        return out
