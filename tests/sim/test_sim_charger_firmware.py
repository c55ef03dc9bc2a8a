"""Firmware update, diagnostics upload and display messages of the simulated charger, on
every OCPP version, against the bench's CSMS stub and the bench's HTTP file server (real
sockets, free ports): the file really moves, the statuses say so, and each fault breaks
exactly that."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bench.csms.events import EventKind
from bench.csms.file_server import FileServer
from bench.firmware_image import FIRMWARE_MAGIC
from bench.sim import faults as F
from bench.sim.charger_firmware import firmware_version

from .bench_csms import open_bench_lab

pytestmark = pytest.mark.timeout(60)

IMAGE = FIRMWARE_MAGIC + b"9.9.9\n" + bytes(range(256)) * 64
LOG_EVENT = {"1.6": EventKind.DIAGNOSTICS_STATUS}  # 2.x: LOG_STATUS
UPLOAD_FAILED = {"1.6": "UploadFailed"}  # 2.x: UploadFailure


@pytest.fixture(params=["1.6", "2.0.1", "2.1"])
def version(request) -> str:
    return request.param


@pytest.fixture
async def blab(clock):
    lab = await open_bench_lab(clock)
    files = FileServer(clock)
    await files.start()
    lab.files = files
    yield lab
    await lab.stop()
    await files.stop()
    await lab.csms.stop()
    lab.log.close()


async def _statuses(blab, kind, mark, until: set[str], timeout_s: float = 10) -> list[str]:
    """Statuses of `kind` after `mark`, up to the first in `until`."""
    event = await blab.dut.wait_for(kind, lambda e: e.data["status"] in until, timeout_s=timeout_s, since_index=mark)
    stop = blab.dut.events.index(event)
    return [e.data["status"] for e in blab.dut.events[mark:stop + 1] if e.kind == kind]


def test_firmware_version_is_read_from_the_image():
    assert firmware_version(IMAGE) == "9.9.9"
    assert firmware_version(b"\x7fELF...") is None


async def test_update_firmware_downloads_installs_and_boots_the_new_version(blab, version):
    await blab.charger(version)
    url = blab.files.serve("/fw.bin", IMAGE)
    mark = blab.dut.mark()
    answer = await blab.dut.update_firmware(url, retries=0, retry_interval_s=0)
    assert answer.status == "Accepted"
    statuses = await _statuses(blab, EventKind.FIRMWARE_STATUS, mark, {"Installed", "DownloadFailed"})
    reboot = [] if version == "1.6" else ["InstallRebooting"]
    assert statuses == ["Downloading", "Downloaded", "Installing", *reboot, "Installed"]
    assert [(r.method, r.status) for r in blab.files.requests] == [("GET", 200)]
    boot = await blab.dut.wait_for(EventKind.BOOT, timeout_s=1, since_index=mark)
    assert boot.data["identity"].firmware == "9.9.9"
    if version != "1.6":
        assert boot.data["reason"] == "FirmwareUpdate"
        assert [e.data["type"] for e in blab.dut.events[mark:] if e.kind == EventKind.SECURITY_EVENT] \
            == ["FirmwareUpdated"]
        assert {e.data["request_id"] for e in blab.dut.events[mark:] if e.kind == EventKind.FIRMWARE_STATUS} \
            == {answer.request_id}
    installed = next(e for e in blab.dut.events[mark:] if e.data.get("status") == "Installed")
    assert installed.t_mono_s > boot.t_mono_s  # Installed is reported by the new firmware


async def test_scheduled_download_waits_for_the_retrieve_date(blab, version):
    await blab.charger(version)
    url = blab.files.serve("/fw.bin", IMAGE)
    mark, sent = blab.dut.mark(), blab.clock.monotonic()
    await blab.dut.update_firmware(url, blab.clock.utcnow() + timedelta(seconds=1.0))
    statuses = await _statuses(blab, EventKind.FIRMWARE_STATUS, mark, {"Installed", "DownloadFailed"})
    assert statuses[:2] == (["Downloading", "Downloaded"] if version == "1.6" else ["DownloadScheduled", "Downloading"])
    [get] = blab.files.requests
    assert get.t_mono_s - sent >= 1.0


async def test_failed_download_is_retried_then_download_failed(blab, version):
    await blab.charger(version)
    url = blab.files.fail("/fw.bin", 404)
    mark = blab.dut.mark()
    await blab.dut.update_firmware(url, retries=2, retry_interval_s=0)
    statuses = await _statuses(blab, EventKind.FIRMWARE_STATUS, mark, {"Installed", "DownloadFailed"})
    assert statuses == ["Downloading", "DownloadFailed"]
    assert len(blab.files.requests_for("/fw.bin", "GET")) == 3  # the first try and 2 retries


async def test_get_diagnostics_uploads_a_file(blab, version):
    await blab.charger(version)
    base = blab.files.accept_uploads("/upload")
    mark = blab.dut.mark()
    answer = await blab.dut.get_diagnostics(base, retries=0, retry_interval_s=0)
    assert answer.status == "Accepted" and answer.file_name
    kind = LOG_EVENT.get(version, EventKind.LOG_STATUS)
    assert await _statuses(blab, kind, mark, {"Uploaded", "UploadFailed", "UploadFailure"}) == ["Uploading", "Uploaded"]
    [stored] = blab.files.uploads
    assert stored.file_name == answer.file_name and b"VirtualCharger" in stored.data


async def test_refused_upload_is_reported_failed(blab, version):
    await blab.charger(version)
    base = blab.files.accept_uploads("/upload", status=500)
    mark = blab.dut.mark()
    await blab.dut.get_diagnostics(base, retries=1, retry_interval_s=0)
    kind = LOG_EVENT.get(version, EventKind.LOG_STATUS)
    failed = UPLOAD_FAILED.get(version, "UploadFailure")
    assert await _statuses(blab, kind, mark, {"Uploaded", failed}) == ["Uploading", failed]
    assert len(blab.files.requests_for("/upload", "PUT")) == 2 and blab.files.uploads == []


async def test_firmware_status_skipped_reports_an_install_without_a_download(blab, version):
    await blab.charger(version, faults=frozenset({F.FIRMWARE_STATUS_SKIPPED}))
    url = blab.files.fail("/fw.bin", 404)
    mark = blab.dut.mark()
    await blab.dut.update_firmware(url, retries=0, retry_interval_s=0)
    statuses = await _statuses(blab, EventKind.FIRMWARE_STATUS, mark, {"Installed", "DownloadFailed"})
    assert statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert blab.files.requests == []


async def test_diagnostics_not_uploaded_says_uploaded_and_sends_nothing(blab, version):
    await blab.charger(version, faults=frozenset({F.DIAGNOSTICS_NOT_UPLOADED}))
    base = blab.files.accept_uploads("/upload")
    mark = blab.dut.mark()
    await blab.dut.get_diagnostics(base)
    kind = LOG_EVENT.get(version, EventKind.LOG_STATUS)
    assert await _statuses(blab, kind, mark, {"Uploaded", "UploadFailed", "UploadFailure"}) == ["Uploading", "Uploaded"]
    assert blab.files.requests == []


@pytest.mark.parametrize("faults", [frozenset(), frozenset({F.DISPLAY_MESSAGE_NOT_STORED})])
async def test_display_message_is_kept_unless_the_fault_forgets_it(blab, faults):
    await blab.charger("2.0.1", faults=faults)
    message = {"id": 7, "priority": "InFront", "message": {"format": "UTF8", "content": "hallo"}}
    assert await blab.dut.set_display_message(message) == "Accepted"
    status, messages = await blab.dut.get_display_messages([7])
    if faults:
        assert (status, messages) == ("Unknown", [])
    else:
        assert status == "Accepted" and messages == [message]
        assert await blab.dut.clear_display_message(7) == "Accepted"
        assert await blab.dut.clear_display_message(7) == "Unknown"


@pytest.mark.parametrize("version", ["2.0.1", "2.1"])
async def test_a_new_update_cancels_the_scheduled_one(blab, version):
    """L01.FR.24 / TC_L_10: UpdateFirmware while one is in progress -> AcceptedCanceled, and only
    the new one runs to Installed."""
    await blab.charger(version)
    url = blab.files.serve("/fw.bin", IMAGE)
    mark = blab.dut.mark()
    first = await blab.dut.update_firmware(url, blab.clock.utcnow() + timedelta(seconds=30))
    await blab.dut.wait_for(EventKind.FIRMWARE_STATUS, lambda e: e.data["status"] == "DownloadScheduled",
                            timeout_s=5, since_index=mark)
    second = await blab.dut.update_firmware(url, retries=0, retry_interval_s=0)
    assert (first.status, second.status) == ("Accepted", "AcceptedCanceled")
    await _statuses(blab, EventKind.FIRMWARE_STATUS, mark, {"Installed"})
    by_request = [(e.data["request_id"], e.data["status"]) for e in blab.dut.events[mark:]
                  if e.kind == EventKind.FIRMWARE_STATUS]
    assert by_request[0] == (first.request_id, "DownloadScheduled")
    assert {r for r, _ in by_request[1:]} == {second.request_id}
    assert len(blab.files.requests) == 1  # the cancelled update never downloaded
