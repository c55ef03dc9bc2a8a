"""Learn what a connected DUT supports, before any scenario judges it.

Declared facts (`dut.features` in lab_config.yaml, a PICS) win over discovered ones; what is
neither declared nor discoverable is assumed supported, so a scenario then finds out by asking
(and a NotSupported answer makes it SKIPPED, see bench/scenario/runner.py).
- 1.6: GetConfiguration of `SupportedFeatureProfiles` (Core key, section 9.1.33),
  `AuthorizationCacheEnabled` (optional Core key: no key, no cache) and
  `SupportedFileTransferProtocols` (security whitepaper edition 2, section 3.1.13, optional).
- 2.x: GetVariables of each optional block's controller `Available` and `Enabled`
  (2.0.1 part 2 appendix 3; UnknownComponent = the block is not there) and
  `OCPPCommCtrlr.FileTransferProtocols`.
"""
from __future__ import annotations

import logging

from bench.capabilities import FEATURES, V16_PROFILES, V2X_CONTROLLERS, V2X_CORE, Capabilities
from bench.config import DutConfig
from bench.csms.dut import Dut, DutError

log = logging.getLogger(__name__)
DISCOVERY_TIMEOUT_S = 30.0  # per request; OCPP-J sets no answer time, 30 s is the OCTT default
V16_OPTIONAL_PROFILES = ("FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging",
                         "RemoteTrigger")


def _schemes(text: str) -> tuple[str, ...]:
    """"FTP,HTTP" -> ("ftp", "http"); FTPS/HTTPS/SFTP kept as named."""
    return tuple(s.strip().lower() for s in text.split(",") if s.strip())


async def _discover_v16(dut: Dut, caps: Capabilities) -> None:
    answer = await dut.get_configuration(["SupportedFeatureProfiles", "AuthorizationCacheEnabled",
                                          "SupportedFileTransferProtocols"], timeout_s=DISCOVERY_TIMEOUT_S)
    values = {k.get("key"): str(k.get("value", "")) for k in answer.get("configurationKey", [])}
    unknown = set(answer.get("unknownKey", []))
    profiles = values.get("SupportedFeatureProfiles")
    if profiles is None:
        caps.notes.append("SupportedFeatureProfiles is missing although OCPP 1.6 section 9.1 requires it: "
                          "every optional feature is tried")
    else:
        listed = {p.strip() for p in profiles.split(",")}
        for profile in V16_OPTIONAL_PROFILES:
            feature = V16_PROFILES[profile]
            caps.supported[feature] = profile in listed
            caps.source[feature] = f"SupportedFeatureProfiles = {profiles}"
    if "AuthorizationCacheEnabled" in unknown:
        caps.mark_unsupported("AuthCache", "no AuthorizationCacheEnabled key (optional, section 9.1.2)")
    elif "AuthorizationCacheEnabled" in values:
        caps.source["AuthCache"] = f"AuthorizationCacheEnabled = {values['AuthorizationCacheEnabled']}"
    caps.mark_unsupported("DisplayMessages", "OCPP 1.6 has no display messages")
    if values.get("SupportedFileTransferProtocols"):
        caps.file_transfer = _schemes(values["SupportedFileTransferProtocols"])


async def _read_variables(dut: Dut, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """{ref: value, or the attributeStatus when not Accepted}. One small request per controller:
    a station may limit GetVariables to DeviceDataCtrlr.ItemsPerMessage items."""
    results = await dut.get_variables(list(refs), timeout_s=DISCOVERY_TIMEOUT_S)
    return {ref: (str(r.get("attributeValue", "")) if r.get("attributeStatus") == "Accepted"
                  else r.get("attributeStatus")) for ref, r in zip(refs, results)}


async def _discover_v2x(dut: Dut, caps: Capabilities) -> None:
    for feature, ctrlr in V2X_CONTROLLERS.items():
        try:
            found = await _read_variables(dut, [(ctrlr, "Available"), (ctrlr, "Enabled")])
        except DutError as exc:
            caps.notes.append(f"{ctrlr}: {exc}")
            continue
        available, enabled = found.get((ctrlr, "Available")), found.get((ctrlr, "Enabled"))
        if "UnknownComponent" in (available, enabled):
            caps.mark_unsupported(feature, f"{ctrlr} is not in the device model (UnknownComponent)")
        elif available is not None and available.lower() == "false":
            caps.mark_unsupported(feature, f"{ctrlr}.Available = false")
        elif enabled is not None and enabled.lower() == "false":
            caps.mark_unsupported(feature, f"{ctrlr}.Enabled = false (available but switched off)")
        elif available is not None and available.lower() == "true":
            caps.supported[feature], caps.source[feature] = True, f"{ctrlr}.Available = true"
    for feature in V2X_CORE:
        caps.supported[feature], caps.source[feature] = True, "required on OCPP 2.x (Core)"
    try:
        protocols = (await _read_variables(dut, [("OCPPCommCtrlr", "FileTransferProtocols")])).get(
            ("OCPPCommCtrlr", "FileTransferProtocols"))
    except DutError as exc:
        caps.notes.append(f"OCPPCommCtrlr.FileTransferProtocols: {exc}")
        return
    if protocols and protocols not in ("UnknownComponent", "UnknownVariable", "Rejected", "NotSupportedAttributeType"):
        caps.file_transfer = _schemes(protocols)


def declared(cfg: DutConfig) -> Capabilities:
    """The capabilities lab_config.yaml declares (before the DUT is asked)."""
    caps = Capabilities(reboot_time_s=cfg.reboot_time_s)
    feats = cfg.features
    if feats.supported is not None:
        for feature in FEATURES:
            caps.supported[feature] = feature in feats.supported
            caps.source[feature] = "declared in lab_config.yaml (dut.features.supported)"
    for feature in feats.unsupported:
        caps.mark_unsupported(feature, "declared in lab_config.yaml (dut.features.unsupported)")
    if feats.measurands is not None:
        caps.measurands = frozenset(feats.measurands)
    if feats.file_transfer is not None:
        caps.file_transfer = tuple(feats.file_transfer)
    return caps


async def discover(dut: Dut, cfg: DutConfig, ocpp_version: str) -> Capabilities:
    """What the DUT supports: discovered, then overridden by what the config declares."""
    caps = Capabilities(reboot_time_s=cfg.reboot_time_s)
    try:
        if ocpp_version == "1.6":
            await _discover_v16(dut, caps)
        else:
            await _discover_v2x(dut, caps)
    except DutError as exc:  # a charger that cannot tell is asked again by each scenario
        caps.notes.append(f"discovery incomplete: {exc}")
        log.warning("%s: capability discovery incomplete: %s", dut.cp_id, exc)
    decl = declared(cfg)
    for feature in FEATURES:
        if decl.source[feature] != "assumed":
            caps.supported[feature], caps.source[feature] = decl.supported[feature], decl.source[feature]
    if cfg.features.measurands is not None:
        caps.measurands = decl.measurands
    if cfg.features.file_transfer is not None:
        caps.file_transfer = decl.file_transfer
    return caps
