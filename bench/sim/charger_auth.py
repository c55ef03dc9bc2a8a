"""Authorization in the simulated charger: the Local Authorization List (SendLocalList,
GetLocalListVersion), the Authorization Cache (ClearCache) and the decision on a presented tag,
shared by OCPP 1.6 and 2.x: the station keeps one `LocalAuth` and decides on a tag
(`Station.authorization_status`); the adapters answer the list and cache messages.

The rules (1.6 sections 3.5 and 5.15/5.17; 2.0.1 C01, C10-C13, D01-D02):
- a list entry takes precedence over a cache entry; only an Accepted entry authorizes locally;
- online, the CSMS decides (Authorize) unless LocalPreAuthorize lets an Accepted list or cache
  entry start at once; every answer of the CSMS goes to the cache (AuthorizationCacheEnabled);
- offline, with LocalAuthorizeOffline, an Accepted list or cache entry authorizes; an unknown
  tag does not (AllowOfflineTxForUnknownId is false);
- a Differential update whose version is not above the list's is VersionMismatch; a Full
  update with an entry without idTagInfo is Failed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bench.sim.device_model import Variable

# 1.6 configuration keys of the feature: key -> (value, readonly, kind) (see charger_ocpp16.ConfigKey).
AUTH_KEYS_16: dict[str, tuple[str, bool, str]] = {
    "LocalAuthListEnabled": ("true", False, "bool"),
    "LocalAuthListMaxLength": ("100", True, "int"),
    "SendLocalListMaxLength": ("100", True, "int"),
    "AuthorizationCacheEnabled": ("true", False, "bool"),
    "LocalAuthorizeOffline": ("true", False, "bool"),
    "LocalPreAuthorize": ("false", False, "bool"),
    "ReserveConnectorZeroSupported": ("false", True, "bool"),
}
# The same settings in the 2.x device model (LocalAuthorizeOffline and LocalPreAuthorize are
# AuthCtrlr variables of the default model already).
AUTH_SETTINGS_2X: dict[str, tuple[str, str]] = {
    "LocalAuthListEnabled": ("LocalAuthListCtrlr", "Enabled"),
    "AuthorizationCacheEnabled": ("AuthCacheCtrlr", "Enabled"),
    "LocalAuthorizeOffline": ("AuthCtrlr", "LocalAuthorizeOffline"),
    "LocalPreAuthorize": ("AuthCtrlr", "LocalPreAuthorize"),
}
MAX_LIST_ENTRIES = 100


def auth_variables() -> list[Variable]:
    """The 2.x device-model variables of the local list, the cache and reservations."""
    v = Variable
    return [
        v("LocalAuthListCtrlr", "Enabled", "true", data_type="boolean"),
        v("LocalAuthListCtrlr", "Available", "true", "ReadOnly", "boolean"),
        v("LocalAuthListCtrlr", "Entries", "0", "ReadOnly", "integer", max_limit=MAX_LIST_ENTRIES),
        v("LocalAuthListCtrlr", "ItemsPerMessage", str(MAX_LIST_ENTRIES), "ReadOnly", "integer"),
        v("LocalAuthListCtrlr", "BytesPerMessage", "65000", "ReadOnly", "integer"),
        v("AuthCacheCtrlr", "Enabled", "true", data_type="boolean"),
        v("AuthCacheCtrlr", "Available", "true", "ReadOnly", "boolean"),
        v("ReservationCtrlr", "Enabled", "true", data_type="boolean"),
        v("ReservationCtrlr", "Available", "true", "ReadOnly", "boolean"),
        v("ReservationCtrlr", "NonEvseSpecific", "true", "ReadOnly", "boolean"),
    ]


@dataclass
class LocalAuth:
    """The list and the cache: idTag -> authorization status."""

    list_version: int = 0
    entries: dict[str, str] = field(default_factory=dict)
    cache: dict[str, str] = field(default_factory=dict)
    ignore_list: bool = False  # fault local_list_ignored: stored and versioned, never consulted

    def update_list(self, version: int, update_type: str, entries: list[tuple[str, str | None]]) -> str:
        """SendLocalList: (idTag, status or None = remove) -> Accepted, Failed or VersionMismatch."""
        if update_type == "Differential" and version <= self.list_version:
            return "VersionMismatch"
        if len(entries) > MAX_LIST_ENTRIES:
            return "Failed"
        if update_type == "Full":
            if any(status is None for _, status in entries):
                return "Failed"
            self.entries = {tag: status for tag, status in entries if status is not None}
        else:
            for tag, status in entries:
                if status is None:
                    self.entries.pop(tag, None)
                else:
                    self.entries[tag] = status
        self.list_version = version
        return "Accepted"

    def local_status(self, tag: str, *, use_list: bool, use_cache: bool) -> str | None:
        if use_list and not self.ignore_list and tag in self.entries:
            return self.entries[tag]
        if use_cache and tag in self.cache:
            return self.cache[tag]
        return None
