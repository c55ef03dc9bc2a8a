"""The simulated charger's file transfer over FTP and its `minimal` feature set, against the
bench's CSMS stub and the bench's file server (real sockets, free ports): a minimal charger
implements only the required part of its OCPP version, answers the actions of the rest
CALLERROR NotSupported, says so where OCPP lets a CSMS discover it, speaks FTP only and takes
30 s to reboot. The clock runs 20 times faster than real time so a reboot takes 1.5 s."""
from __future__ import annotations

import pytest

from bench.capabilities import Capabilities
from bench.csms.dut import DutCallError
from bench.csms.events import EventKind
from bench.csms.file_server import FileServer
from bench.firmware_image import FIRMWARE_MAGIC
from bench.scenario.library import STEP_ARGS, STEPS
from bench.scenario.steps import StepContext
from bench.sim.charger_features import REBOOT_S, ChargerFeatures

from .bench_csms import open_bench_lab

pytestmark = pytest.mark.timeout(60)

IMAGE = FIRMWARE_MAGIC + b"7.7.7\n" + bytes(range(256)) * 64
LOG_EVENT = {"1.6": EventKind.DIAGNOSTICS_STATUS}  # 2.x: LOG_STATUS
FINAL_FIRMWARE = {"Installed", "DownloadFailed"}
FINAL_LOG = {"Uploaded", "UploadFailed", "UploadFailure"}
PROFILE_16 = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
              "chargingProfileKind": "Absolute", "chargingSchedule": {
                  "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}}


@pytest.fixture
def clock_speed() -> float:
    return 20.0


@pytest.fixture
async def flab(clock):
    lab = await open_bench_lab(clock)
    lab.files = FileServer(clock, schemes=("ftp", "http"))
    await lab.files.start()
    yield lab
    await lab.stop()
    await lab.files.stop()
    await lab.csms.stop()
    lab.log.close()


async def _statuses(lab, kind, mark, until: set[str], timeout_s: float = 60) -> list[str]:
    event = await lab.dut.wait_for(kind, lambda e: e.data["status"] in until, timeout_s=timeout_s, since_index=mark)
    stop = lab.dut.events.index(event)
    return [e.data["status"] for e in lab.dut.events[mark:stop + 1] if e.kind == kind]


async def _not_supported(command) -> str:
    with pytest.raises(DutCallError) as caught:
        await command
    return caught.value.code


# ---- FTP on every version and feature set -------------------------------------------------------

@pytest.mark.parametrize("version,features", [("1.6", "full"), ("2.0.1", "full"), ("1.6", "minimal"),
                                              ("2.1", "minimal")])
async def test_firmware_download_and_diagnostics_upload_over_ftp(flab, version, features):
    await flab.charger(version, features=features)
    url = flab.files.serve("/firmware/fw.bin", IMAGE)
    assert url.startswith("ftp://")
    mark = flab.dut.mark()
    await flab.dut.update_firmware(url, retries=0, retry_interval_s=0)
    statuses = await _statuses(flab, EventKind.FIRMWARE_STATUS, mark, FINAL_FIRMWARE)
    assert statuses[:2] == ["Downloading", "Downloaded"] and statuses[-1] == "Installed"
    assert [(r.method, r.status) for r in flab.files.requests] == [("RETR", 226)]
    assert flab.dut.identity.firmware == "7.7.7"

    base = flab.files.accept_uploads("/upload")
    mark = flab.dut.mark()
    answer = await flab.dut.get_diagnostics(base, retries=0, retry_interval_s=0)
    assert await _statuses(flab, LOG_EVENT.get(version, EventKind.LOG_STATUS), mark, FINAL_LOG) == \
        ["Uploading", "Uploaded"]
    [stored] = flab.files.uploads
    assert stored.file_name == answer.file_name and b"firmware 7.7.7" in stored.data


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_minimal_charger_fails_http_transfers_without_trying(flab, version):
    await flab.charger(version, features="minimal")
    url = flab.files.serve("/fw.bin", IMAGE)
    mark = flab.dut.mark()
    await flab.dut.update_firmware(flab.files.url("/fw.bin", "http"), retries=1, retry_interval_s=0)
    assert await _statuses(flab, EventKind.FIRMWARE_STATUS, mark, FINAL_FIRMWARE) == ["Downloading", "DownloadFailed"]
    mark = flab.dut.mark()
    flab.files.accept_uploads("/upload")
    await flab.dut.get_diagnostics(flab.files.url("/upload", "http"), retries=0, retry_interval_s=0)
    failed = "UploadFailed" if version == "1.6" else "UploadFailure"
    assert await _statuses(flab, LOG_EVENT.get(version, EventKind.LOG_STATUS), mark, FINAL_LOG) == \
        ["Uploading", failed]
    assert flab.files.requests == [] and url.startswith("ftp://")


# ---- discovery surface and NotSupported -----------------------------------------------------------

async def test_minimal_16_reports_core_and_firmware_and_refuses_the_rest(flab):
    await flab.charger("1.6", features="minimal")
    dut = flab.dut
    answer = await dut.get_configuration()
    keys = {k["key"]: k["value"] for k in answer["configurationKey"]}
    assert keys["SupportedFeatureProfiles"] == "Core,FirmwareManagement"
    assert keys["SupportedFileTransferProtocols"] == "FTP"
    for absent in ("AuthorizationCacheEnabled", "LocalAuthListEnabled", "LocalAuthListMaxLength",
                   "ReserveConnectorZeroSupported", "ChargeProfileMaxStackLevel", "MeterValuesSampledDataMaxLength"):
        assert absent not in keys
    assert {"LocalAuthorizeOffline", "LocalPreAuthorize", "HeartbeatInterval"} <= set(keys)  # required Core keys
    asked = await dut.get_configuration(["LocalAuthListEnabled", "AuthorizationCacheEnabled", "HeartbeatInterval"])
    assert asked["unknownKey"] == ["LocalAuthListEnabled", "AuthorizationCacheEnabled"]
    assert await dut.change_configuration("LocalAuthListEnabled", "true") == "NotSupported"
    # OCPP-J 1.6 section 4.2.3: NotSupported, "Requested Action is recognized but not supported"
    assert await _not_supported(dut.set_charging_profile(1, PROFILE_16)) == "NotSupported"
    assert await _not_supported(dut.clear_charging_profile()) == "NotSupported"
    assert await _not_supported(dut.get_composite_schedule(1, 60)) == "NotSupported"
    assert await _not_supported(dut.reserve_now(1, "TAG-1", "2031-05-06T08:00:00Z", 1)) == "NotSupported"
    assert await _not_supported(dut.cancel_reservation(1)) == "NotSupported"
    assert await _not_supported(dut.send_local_list(1, "Full", [("TAG-1", "Accepted")])) == "NotSupported"
    assert await _not_supported(dut.get_local_list_version()) == "NotSupported"
    assert await _not_supported(dut.trigger_message("Heartbeat")) == "NotSupported"
    assert await dut.clear_cache() == "Rejected"  # Core, but this charger has no cache (1.6 section 5.4)


async def test_full_16_reports_every_profile_and_both_protocols(flab):
    await flab.charger("1.6")
    keys = {k["key"]: k["value"] for k in (await flab.dut.get_configuration())["configurationKey"]}
    assert keys["SupportedFeatureProfiles"] == ("Core,FirmwareManagement,SmartCharging,RemoteTrigger,"
                                                "LocalAuthListManagement,Reservation")
    assert keys["SupportedFileTransferProtocols"] == "HTTP,FTP"
    assert keys["AuthorizationCacheEnabled"] == "true"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_minimal_2x_reports_its_blocks_unavailable_and_refuses_their_actions(flab, version):
    await flab.charger(version, features="minimal")
    dut = flab.dut
    ctrlrs = ("SmartChargingCtrlr", "ReservationCtrlr", "LocalAuthListCtrlr", "AuthCacheCtrlr", "DisplayMessageCtrlr")
    refs = [(c, v) for c in ctrlrs for v in ("Available", "Enabled")]
    results = await dut.get_variables(refs + [("SmartChargingCtrlr", "ProfileStackLevel"),
                                              ("OCPPCommCtrlr", "FileTransferProtocols")])
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == \
        [("Accepted", "false")] * len(refs) + [("UnknownVariable", None), ("Accepted", "FTP")]
    [enable] = await dut.set_variables([(("SmartChargingCtrlr", "Enabled"), "true")])
    assert enable["attributeStatus"] == "Rejected"  # read-only: nothing to enable
    profile = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute", "chargingSchedule": [{
                   "id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}]}]}
    # 2.0.1 part 4 section 4.3: NotSupported, "Requested Action is recognized but not supported"
    for command in (dut.set_charging_profile(1, profile), dut.clear_charging_profile(), dut.get_charging_profiles(),
                    dut.get_composite_schedule(1, 60), dut.reserve_now(1, "TAG-1", "2031-05-06T08:00:00Z", 1),
                    dut.cancel_reservation(1), dut.send_local_list(1, "Full", [("TAG-1", "Accepted")]),
                    dut.get_local_list_version(), dut.clear_cache(), dut.get_display_messages(),
                    dut.clear_display_message(1)):
        assert await _not_supported(command) == "NotSupported"
    assert await dut.trigger_message("Heartbeat") == "Accepted"  # Core on 2.x


async def test_full_2x_names_both_file_transfer_protocols(flab):
    await flab.charger("2.0.1")
    [result] = await flab.dut.get_variables([("OCPPCommCtrlr", "FileTransferProtocols")])
    assert result["attributeValue"] == "HTTP,FTP"


# ---- reboot time -------------------------------------------------------------------------------------

@pytest.mark.parametrize("version,kind", [("1.6", "Soft"), ("2.0.1", "Immediate")])
async def test_a_minimal_charger_takes_30_s_to_reboot(flab, version, kind):
    await flab.charger(version, features="minimal")
    mark, sent = flab.dut.mark(), flab.clock.monotonic()
    assert await flab.dut.reset(kind) == "Accepted"
    boot = await flab.dut.wait_for(EventKind.BOOT, timeout_s=REBOOT_S + 20, since_index=mark)
    assert REBOOT_S <= boot.t_mono_s - sent < REBOOT_S + 10


async def test_a_full_charger_reboots_at_once(flab):
    await flab.charger("1.6")
    mark, sent = flab.dut.mark(), flab.clock.monotonic()
    await flab.dut.reset("Soft")
    boot = await flab.dut.wait_for(EventKind.BOOT, timeout_s=20, since_index=mark)
    assert boot.t_mono_s - sent < 10


def test_features_by_name():
    assert ChargerFeatures.of("full") == ChargerFeatures()
    assert ChargerFeatures.of("minimal").unsupported_actions("1.6") == {
        "SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule", "ReserveNow", "CancelReservation",
        "SendLocalList", "GetLocalListVersion", "TriggerMessage"}
    with pytest.raises(ValueError, match="known full, minimal"):
        ChargerFeatures.of("tiny")


# ---- the firmware steps pick FTP for a DUT that declares it ------------------------------------------

@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_firmware_steps_run_over_ftp_against_a_minimal_charger(flab, version):
    await flab.charger(version, features="minimal")
    capabilities = Capabilities(file_transfer=("ftps", "ftp", "http"), reboot_time_s=REBOOT_S)
    # The protocol steps need the DUT and the clock only (no instruments, no limit timeline).
    ctx = StepContext(flab.clock, None, None, flab.dut, None, None,  # type: ignore[arg-type]  # no position needed
                      event_cursor=flab.dut.mark(), capabilities=capabilities)
    await STEPS["update_firmware"].run(ctx, STEP_ARGS["update_firmware"](
        file="served", version="8.0.0", retry_interval_s=0, settle_s=0.2))
    await STEPS["get_diagnostics"].run(ctx, STEP_ARGS["get_diagnostics"](server="refusing", retry_interval_s=0,
                                                                         settle_s=0.2))
    assert flab.dut.identity.firmware == "8.0.0"
    assert any("over ftp" in note for note in ctx.notes)
