"""Authorization in the simulated charger: the Local Authorization List (SendLocalList,
GetLocalListVersion), the Authorization Cache (ClearCache) and the decision on a presented tag,
shared by OCPP 1.6 and 2.x (`LocalAuthMixin`, mixed into `SimulatedCharger`; the 2.x message
forms are in `LocalAuthMixin2x`).

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
from typing import Any

from bench.sim import faults as F
from bench.sim.device_model import Variable

# 1.6 configuration keys of the feature: key -> (value, readonly, kind) (see charger._Key).
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


class LocalAuthMixin:
    """What `SimulatedCharger` (1.6) does with a presented tag and the list/cache messages.
    Expects the charger's `_online`, `_faults`, `_keys`, `_call`."""

    _online: Any
    _faults: frozenset[str]
    _keys: dict

    def _init_local_auth(self) -> None:
        self._local_auth = LocalAuth(ignore_list=F.LOCAL_LIST_IGNORED in self._faults)

    def _auth_flag(self, key: str) -> bool:
        entry = self._keys.get(key)  # absent on a charger without the feature (charger_features.py)
        return entry is not None and str(entry.value).lower() == "true"

    async def _ask_csms(self, tag: str) -> str | None:
        """Authorize.req; the status, or None if it could not go out (offline)."""
        from ocpp.v16 import call
        response = await self._call(  # type: ignore[attr-defined]  # a SimulatedCharger mixin
            call.Authorize(id_tag=tag), durable=False)
        return response.id_tag_info["status"] if response else None

    async def _authorization_status(self, tag: str) -> str:
        """Is `tag` allowed to charge? The CSMS's word online, the list or the cache otherwise."""
        local = self._local_auth.local_status(tag, use_list=self._auth_flag("LocalAuthListEnabled"),
                                              use_cache=self._auth_flag("AuthorizationCacheEnabled"))
        if self._online.is_set():
            if local == "Accepted" and self._auth_flag("LocalPreAuthorize"):
                return "Accepted"
            status = await self._ask_csms(tag)
            if status is not None:
                if self._auth_flag("AuthorizationCacheEnabled"):
                    self._local_auth.cache[tag] = status
                return F.authorization_as_read(status, self._faults)
        if local == "Accepted" and self._auth_flag("LocalAuthorizeOffline"):
            return "Accepted"
        return "Invalid"

    # ---- CSMS -> charger (1.6, keyword arguments in snake_case) ------------------------------
    def on_send_local_list(self, list_version: int, update_type: str,
                           local_authorization_list: list[dict] | None = None, **_: Any) -> str:
        entries = [(e["id_tag"], (e.get("id_tag_info") or {}).get("status"))
                   for e in local_authorization_list or []]
        return self._local_auth.update_list(list_version, update_type, entries)

    def on_get_local_list_version(self, **_: Any) -> int:
        return self._local_auth.list_version

    def on_clear_cache(self, **_: Any) -> str:
        if not self._auth_flag("AuthorizationCacheEnabled"):
            return "Rejected"
        self._local_auth.cache.clear()
        return "Accepted"


class LocalAuthMixin2x(LocalAuthMixin):
    """The 2.x forms: device-model settings, idToken objects, version numbers."""

    model: Any
    RESULT: Any
    CALL: Any

    def _auth_flag(self, key: str) -> bool:
        return self.model.flag(*AUTH_SETTINGS_2X[key])

    async def _ask_csms(self, tag: str) -> str | None:
        response = await self._call(  # type: ignore[attr-defined]  # a SimulatedCharger mixin
            self.CALL.Authorize(id_token=self._token(tag)),  # type: ignore[attr-defined]  # a SimulatedCharger mixin
            durable=False)
        return response.id_token_info["status"] if response else None

    def on_send_local_list_2x(self, uid: str, p: dict) -> Any:
        entries = [(e["idToken"]["idToken"], (e.get("idTokenInfo") or {}).get("status"))
                   for e in p.get("localAuthorizationList") or []]
        status = self._local_auth.update_list(p["versionNumber"], p["updateType"], entries)
        self.model.put("LocalAuthListCtrlr", "Entries", str(len(self._local_auth.entries)))
        return self.RESULT.SendLocalList(status=status)

    def on_get_local_list_version_2x(self, uid: str, p: dict) -> Any:
        return self.RESULT.GetLocalListVersion(version_number=self._local_auth.list_version)

    def on_clear_cache_2x(self, uid: str, p: dict) -> Any:
        return self.RESULT.ClearCache(status=LocalAuthMixin.on_clear_cache(self))
