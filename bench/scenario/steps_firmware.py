"""Firmware management and diagnostics steps (OCPP 1.6 FirmwareManagement, 2.x L and N).

The bench serves the file itself: each step starts a file server
(`bench.csms.file_server`) on the CSMS host for as long as the transfer lasts, so
it can prove the charger really downloaded the firmware or uploaded its log, not
just reported that it did. It speaks the first protocol of the DUT's
`capabilities.file_transfer` (declared, or discovered from 1.6
`SupportedFileTransferProtocols` / 2.x `OCPPCommCtrlr.FileTransferProtocols`) that the
bench serves: FTP or HTTP. A DUT that names only others (FTPS, HTTPS) makes the step
not applicable. The steps wait for the whole status sequence and
FAIL (StepFailed) with what the charger reported when it differs from what a
compliant charger reports.

- `update_firmware`: UpdateFirmware, answered Accepted (2.x: or AcceptedCanceled, when it
  cancels an update in progress, L01.FR.24 / TC_L_10); served -> (2.x DownloadScheduled when
  retrieveDate is ahead,) Downloading, Downloaded, Installing, (2.x InstallRebooting,)
  Installed, no download before retrieveDate, and a boot with the new firmware version (2.x
  reason FirmwareUpdate and a FirmwareUpdated security event) within the DUT's reboot time;
  missing (HTTP 404, FTP 550) or unreachable -> Downloading, DownloadFailed after its
  retries, never Installing.
- `get_diagnostics`: 1.6 GetDiagnostics / 2.x GetLog (DiagnosticsLog, answered Accepted or
  AcceptedCanceled, N01.FR.12 / TC_N_36) -> Uploading, Uploaded with a non-empty file on the
  server; a refusing (HTTP 500, FTP 550) or unreachable server -> UploadFailed (2.x
  UploadFailure).
- `expect_firmware_statuses`: what the charger reported since the last UpdateFirmware or
  GetDiagnostics the steps above sent: statuses in order, statuses that must not come
  within a hold window.
"""
from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Callable, Literal

from pydantic import Field

from bench.csms.dut import DutError
from bench.csms.events import DutEvent, EventKind
from bench.csms.file_server import DOWNLOADS, SCHEMES, UPLOADS, FileServer
from bench.firmware_image import FIRMWARE_MAGIC
from bench.scenario.steps import NotApplicable, StepContext, StepDef, StepFailed, _Args

FIRMWARE_PATH = "/firmware/evbench-{version}.bin"
UPLOAD_DIR = "/upload"
IMAGE_FILL_BYTES = 64 * 1024  # a bench image: the version line and some bulk, so a download is a download
# Statuses that a compliant charger may add between the required ones.
OPTIONAL_FIRMWARE = frozenset({"DownloadScheduled", "DownloadPaused", "SignatureVerified", "InstallScheduled",
                               "InstallRebooting", "Idle"})
FINAL_FIRMWARE = frozenset({"Installed", "DownloadFailed", "InstallationFailed", "InstallVerificationFailed",
                            "InvalidSignature", "InvalidCertificate"})
FINAL_LOG = frozenset({"Uploaded", "UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation",
                       "PermissionDenied", "AcceptedCanceled"})
UPLOAD_FAILED = {"1.6": "UploadFailed"}  # 2.x: UploadFailure
REFUSED_UPLOAD_STATUS = 500
# What a compliant charger answers to UpdateFirmware / GetLog: AcceptedCanceled when it cancels a
# transfer in progress for the new one (2.0.1 L01.FR.24, N01.FR.12; 1.6 security whitepaper
# L01.FR.26 / N01.FR.11 for the Signed/GetLog forms; 1.6 UpdateFirmware.conf has no status).
ACCEPTED_TRANSFER = frozenset({"Accepted", "AcceptedCanceled"})
RETRIEVE_TOLERANCE_S = 0.5  # a download this much before retrieveDate is still "at" it (clock skew)
FIRMWARE_UPDATED_EVENT = "FirmwareUpdated"  # 2.x security event after booting the new firmware


class UpdateFirmwareArgs(_Args):
    """`file`: served (the bench image, or `image` read from the bench PC), missing (HTTP 404)
    or unreachable (nothing listens). `expect`: the firmware statuses in order (default from
    `file`); statuses in OPTIONAL_FIRMWARE may come in between."""

    file: Literal["served", "missing", "unreachable"] = "served"
    version: str = "2.0.0-bench"  # the firmware version the image carries and the charger must boot with
    image: str | None = None  # a real firmware file for a real charger (then `version` is what it names)
    retries: int = Field(1, ge=0, le=10)
    retry_interval_s: int = Field(1, ge=0, le=60)
    retrieve_in_s: float = Field(0.0, ge=0, le=60)  # retrieveDate: now + this
    expect: list[str] | None = None
    expect_boot: bool | None = None  # a boot with `version` (2.x reason FirmwareUpdate); default: file served
    settle_s: float = Field(1.0, ge=0, le=30)  # after the last status: nothing else may come
    timeout_s: float = Field(30.0, gt=0)


class GetDiagnosticsArgs(_Args):
    """`server`: accepting (stores the upload), refusing (HTTP 500 to every upload) or
    unreachable. `expect`: log statuses in order (1.6 words; UploadFailed is UploadFailure on 2.x)."""

    server: Literal["accepting", "refusing", "unreachable"] = "accepting"
    retries: int = Field(1, ge=0, le=10)
    retry_interval_s: int = Field(1, ge=0, le=60)
    expect: list[str] | None = None
    settle_s: float = Field(1.0, ge=0, le=30)
    timeout_s: float = Field(30.0, gt=0)


class ExpectFirmwareStatusesArgs(_Args):
    """`statuses` in this order among the firmware (or log: `of: diagnostics`) statuses reported
    since the last update_firmware / get_diagnostics; none of `absent` until `hold_s` after them."""

    of: Literal["firmware", "diagnostics"] = "firmware"
    statuses: list[str] = []
    absent: list[str] = []
    hold_s: float = Field(0.0, ge=0, le=60)
    timeout_s: float = Field(30.0, gt=0)


# ---- helpers ------------------------------------------------------------------------------

def bench_host(ctx: StepContext) -> str:
    """The address the charger reaches the bench on: the CSMS host (a wildcard bind means the
    bench's own name)."""
    server = ctx.dut.server
    host = server.settings.host if server is not None else "127.0.0.1"
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostbyname(socket.gethostname())
    return host


def closed_port_url(host: str, path: str, scheme: str = "http") -> str:
    """A URL on the bench where nothing listens (a port just bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    return f"{scheme}://{host}:{port}/{path.lstrip('/')}"


def transfer_scheme(ctx: StepContext) -> str:
    """The first protocol the DUT transfers files with (capabilities.file_transfer, preferred
    first) that the bench serves; NotApplicable if there is none."""
    wanted = [s.lower() for s in ctx.capabilities.file_transfer]
    scheme = next((s for s in wanted if s in SCHEMES), None)
    if scheme is None:
        raise NotApplicable(f"the DUT transfers files over {', '.join(wanted) or 'nothing'}; "
                            f"the bench's file server serves {', '.join(SCHEMES)}")
    return scheme


def bench_image(version: str) -> bytes:
    bulk = bytes(i % 251 for i in range(IMAGE_FILL_BYTES))
    return FIRMWARE_MAGIC + version.encode() + b"\n" + bulk


def _note_command(ctx: StepContext) -> int:
    """Mark the events from here on as this transfer's (one StepContext per scenario run
    carries the mark for `expect_firmware_statuses`)."""
    mark = ctx.dut.mark()
    ctx.block_state["firmware_transfer_mark"] = mark
    return mark


def _statuses_of(ctx: StepContext, of: str, request_id: int | None) -> tuple[str, Callable[[DutEvent], bool]]:
    """The event kind carrying `of` statuses on the DUT's version, and a predicate for the request."""
    if of == "firmware":
        kind = EventKind.FIRMWARE_STATUS
    else:
        kind = EventKind.DIAGNOSTICS_STATUS if ctx.ocpp_version == "1.6" else EventKind.LOG_STATUS

    def mine(event: DutEvent) -> bool:
        return request_id is None or event.data.get("request_id") in (None, request_id)
    return kind, mine


async def _follow(ctx: StepContext, kind: str, mine: Callable[[DutEvent], bool], since: int, expected: list[str],
                  optional: frozenset[str], final: frozenset[str], timeout_s: float, settle_s: float,
                  what: str) -> list[DutEvent]:
    """Wait for `expected` in order; FAIL on any other status (except `optional`), on a final
    status out of turn, on silence, and on anything that comes within `settle_s` after the last."""
    seen: list[DutEvent] = []
    index, deadline = since, ctx.now() + timeout_s

    def reported() -> str:
        return ", ".join(e.data["status"] for e in seen) or "nothing"

    position = 0
    while position < len(expected):
        remaining = deadline - ctx.now()
        try:
            event = await ctx.dut.wait_for(kind, mine, timeout_s=max(remaining, 0.001), since_index=index)
        except DutError:
            raise StepFailed(f"{what}: expected {', '.join(expected)} within {timeout_s:g} s; "
                             f"the DUT reported {reported()}") from None
        index = ctx.dut.events.index(event) + 1
        seen.append(event)
        status = event.data["status"]
        if status == expected[position]:
            position += 1
        elif status not in optional or status in final:
            raise StepFailed(f"{what}: expected {expected[position]} next (sequence {', '.join(expected)}); "
                             f"the DUT reported {reported()}")
    if settle_s > 0:
        await ctx.clock.sleep(settle_s)
        late = [e for e in ctx.dut.events[index:] if e.kind == kind and mine(e)]
        if late:
            seen += late
            raise StepFailed(f"{what}: nothing may follow {expected[-1]}; the DUT reported {reported()}")
    return seen


def _at(seen: list[DutEvent], status: str) -> float:
    return next(e.t_mono_s for e in seen if e.data["status"] == status)


# ---- steps --------------------------------------------------------------------------------

async def update_firmware(ctx: StepContext, args: UpdateFirmwareArgs) -> None:
    """TC_044_1..3 (1.6), TC_L_01 / TC_L_07 (2.0.1): UpdateFirmware from the bench's file server."""
    v2x = ctx.ocpp_version != "1.6"
    image = Path(args.image).read_bytes() if args.image else bench_image(args.version)
    path = FIRMWARE_PATH.format(version=args.version)
    host = bench_host(ctx)
    if args.expect is not None:
        expected = list(args.expect)
    elif args.file == "served":
        expected = ["Downloading", "Downloaded", "Installing", "Installed"]
    else:
        # a failed download may be reported with or without Downloading first: the spec defines each
        # status (1.6 section 7.25, 2.0.1 FirmwareStatusEnumType), not that a failure passes through it
        expected = ["DownloadFailed"]
    if args.expect is None and v2x and args.retrieve_in_s > 0:
        expected.insert(0, "DownloadScheduled")  # TC_L_03: the wait is reported
    boot = args.file == "served" if args.expect_boot is None else args.expect_boot
    scheme = transfer_scheme(ctx)
    # A served image is installed and the DUT reboots before it reports Installed.
    follow_s = args.timeout_s + (ctx.capabilities.reboot_time_s if boot else 0.0)
    async with FileServer(ctx.clock, host, schemes=(scheme,)) as files:
        if args.file == "served":
            url = files.serve(path, image)
        elif args.file == "missing":
            url = files.fail(path, 404)
        else:
            url = closed_port_url(host, path, scheme)
        mark = _note_command(ctx)
        retrieve_at = ctx.clock.utcnow() + timedelta(seconds=args.retrieve_in_s)
        retrieve_mono = ctx.now() + args.retrieve_in_s
        answer = await ctx.dut.update_firmware(url, retrieve_at, retries=args.retries,
                                               retry_interval_s=args.retry_interval_s)
        if answer.status not in ACCEPTED_TRANSFER:
            raise StepFailed(f"UpdateFirmware: DUT answered {answer.status}, a compliant charger answers Accepted "
                             "(or AcceptedCanceled when it cancels an update in progress, L01.FR.24)")
        kind, mine = _statuses_of(ctx, "firmware", answer.request_id)
        optional = OPTIONAL_FIRMWARE | ({"Downloading"} if expected[-1] == "DownloadFailed" and args.expect is None
                                         else set())
        seen = await _follow(ctx, kind, mine, mark, expected, frozenset(optional), FINAL_FIRMWARE, follow_s,
                             args.settle_s, "FirmwareStatusNotification")
        gets = files.requests_for(path, DOWNLOADS)
    if v2x and any(e.data.get("request_id") != answer.request_id for e in seen):
        raise StepFailed(f"FirmwareStatusNotification: requestId must be {answer.request_id} (the UpdateFirmware's); "
                         f"the DUT sent {[e.data.get('request_id') for e in seen]}")
    if args.file == "served" and "Downloaded" in expected:
        fetched = [r for r in gets if r.ok and r.t_mono_s <= _at(seen, "Downloaded")]
        if not fetched:
            raise StepFailed(f"the DUT reported Downloaded, but the bench's file server got no download of {path} "
                             f"before that ({len(gets)} request(s) for it)")
    early = [r for r in gets if r.t_mono_s < retrieve_mono - RETRIEVE_TOLERANCE_S]
    if early:
        raise StepFailed(f"the DUT downloaded the firmware {retrieve_mono - early[0].t_mono_s:.1f} s before the "
                         f"retrieveDate of the UpdateFirmware")
    if args.file == "missing" and "DownloadFailed" in expected and not gets:
        raise StepFailed(f"the DUT reported DownloadFailed without trying to download {url}")
    ctx.notes.append(f"firmware {args.file} over {scheme}: {len(gets)} download attempt(s); statuses "
                     f"{', '.join(e.data['status'] for e in seen)}")
    if boot:
        await _expect_firmware_boot(ctx, mark, args.version, v2x, follow_s)


async def _expect_firmware_boot(ctx: StepContext, mark: int, version: str, v2x: bool, timeout_s: float) -> None:
    boots = [e for e in ctx.dut.events[mark:] if e.kind == EventKind.BOOT]
    if not boots:
        try:
            boots = [await ctx.dut.wait_for(EventKind.BOOT, timeout_s=timeout_s, since_index=mark)]
        except DutError:
            raise StepFailed(f"no BootNotification within {timeout_s:g} s of the firmware installation") from None
    last = boots[-1]
    running = last.data["identity"].firmware
    if running != version:
        raise StepFailed(f"after the firmware update the DUT booted with firmwareVersion {running!r}, "
                         f"not the installed {version!r}")
    if v2x and last.data.get("reason") != "FirmwareUpdate":
        raise StepFailed(f"BootNotification after a firmware update: reason {last.data.get('reason')!r}, "
                         "a compliant charger says FirmwareUpdate")
    if v2x:
        try:
            await ctx.dut.wait_for(EventKind.SECURITY_EVENT, lambda e: e.data.get("type") == FIRMWARE_UPDATED_EVENT,
                                   timeout_s=timeout_s, since_index=ctx.dut.events.index(last))
        except DutError:
            raise StepFailed(f"no SecurityEventNotification {FIRMWARE_UPDATED_EVENT} after booting the new firmware "
                             f"within {timeout_s:g} s (TC_L_01 step 15)") from None


async def get_diagnostics(ctx: StepContext, args: GetDiagnosticsArgs) -> None:
    """TC_045_1/2 (1.6 GetDiagnostics), TC_N_25 / TC_N_26 (2.0.1 GetLog DiagnosticsLog)."""
    failed = UPLOAD_FAILED.get(ctx.ocpp_version, "UploadFailure")
    if args.expect is not None:
        expected = [failed if s in ("UploadFailed", "UploadFailure") else s for s in args.expect]
    else:
        # a failed upload may be reported with or without Uploading first (1.6 section 7.24,
        # 2.0.1 UploadLogStatusEnumType define the statuses, not that a failure passes through Uploading)
        expected = ["Uploading", "Uploaded"] if args.server == "accepting" else [failed]
    host = bench_host(ctx)
    scheme = transfer_scheme(ctx)
    async with FileServer(ctx.clock, host, schemes=(scheme,)) as files:
        if args.server == "unreachable":
            url = closed_port_url(host, UPLOAD_DIR, scheme)
        else:
            url = files.accept_uploads(UPLOAD_DIR, 201 if args.server == "accepting" else REFUSED_UPLOAD_STATUS)
        mark = _note_command(ctx)
        answer = await ctx.dut.get_diagnostics(url, retries=args.retries, retry_interval_s=args.retry_interval_s)
        if answer.status not in ACCEPTED_TRANSFER:
            raise StepFailed(f"GetLog: DUT answered {answer.status}, a compliant charger answers Accepted "
                             "(or AcceptedCanceled when it cancels an upload in progress, N01.FR.12)")
        kind, mine = _statuses_of(ctx, "diagnostics", answer.request_id)
        name = "DiagnosticsStatusNotification" if ctx.ocpp_version == "1.6" else "LogStatusNotification"
        optional = frozenset({"Uploading"}) if args.expect is None and args.server != "accepting" else frozenset()
        seen = await _follow(ctx, kind, mine, mark, expected, optional, FINAL_LOG, args.timeout_s,
                             args.settle_s, name)
        uploads = files.uploads_under(UPLOAD_DIR)
        attempts = files.requests_for(UPLOAD_DIR, UPLOADS)
    if ctx.ocpp_version != "1.6" and any(e.data.get("request_id") != answer.request_id for e in seen):
        raise StepFailed(f"{name}: requestId must be {answer.request_id} (the GetLog's); "
                         f"the DUT sent {[e.data.get('request_id') for e in seen]}")
    if "Uploaded" in expected:
        t_uploaded = _at(seen, "Uploaded")
        if not any(u.data and u.t_mono_s <= t_uploaded for u in uploads):
            raise StepFailed(f"the DUT reported Uploaded, but no non-empty file arrived at the bench's {UPLOAD_DIR} "
                             f"before that ({len(attempts)} upload request(s))")
    if args.server == "refusing" and not attempts:
        raise StepFailed(f"the DUT reported {failed} without trying to upload to {url}")
    ctx.notes.append(f"diagnostics {args.server} over {scheme}: file {answer.file_name!r}, "
                     f"{len(attempts)} upload attempt(s), {sum(len(u.data) for u in uploads)} bytes")


def _status_is(status: str) -> Callable[[DutEvent], bool]:
    return lambda e: e.data["status"] == status


async def expect_firmware_statuses(ctx: StepContext, args: ExpectFirmwareStatusesArgs) -> None:
    kind, mine = _statuses_of(ctx, args.of, None)
    since = max(ctx.event_cursor, ctx.block_state.get("firmware_transfer_mark", 0))
    index, deadline = since, ctx.now() + args.timeout_s
    position = 0
    while position < len(args.statuses):
        try:
            event = await ctx.dut.wait_for(kind, _status_is(args.statuses[position]),
                                           timeout_s=max(deadline - ctx.now(), 0.001), since_index=index)
        except DutError:
            got = [e.data["status"] for e in ctx.dut.events[since:] if e.kind == kind]
            raise StepFailed(f"expected {args.of} statuses {', '.join(args.statuses)} in this order within "
                             f"{args.timeout_s:g} s; the DUT reported {', '.join(got) or 'nothing'}") from None
        index = ctx.dut.events.index(event) + 1
        position += 1
    if args.hold_s:
        await ctx.clock.sleep(args.hold_s)
    reported = [e for e in ctx.dut.events[since:] if e.kind == kind and mine(e)]
    bad = [e.data["status"] for e in reported if e.data["status"] in args.absent]
    if bad:
        raise StepFailed(f"a compliant charger does not report {', '.join(sorted(set(bad)))} here; the DUT reported "
                         f"{', '.join(e.data['status'] for e in reported)}")
    ctx.event_cursor = max(ctx.event_cursor, index)


STEPS: dict[str, StepDef] = {
    "update_firmware": StepDef(UpdateFirmwareArgs, update_firmware, reconnects=True),
    "get_diagnostics": StepDef(GetDiagnosticsArgs, get_diagnostics),
    "expect_firmware_statuses": StepDef(ExpectFirmwareStatusesArgs, expect_firmware_statuses),
}
