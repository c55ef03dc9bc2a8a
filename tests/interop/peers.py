"""Independent charge points (written by others) that the bench is run against.

A peer is a public project copied unmodified into a peers folder (by default the
`shared/peers/` folder found beside the repository or above it; `EVBENCH_PEERS_DIR`
overrides). Preparing it copies the source to a cache folder keyed by a hash of its
content (`EVBENCH_PEER_CACHE`, default `~/.cache/evbench/peers/<name>-<hash>`) and
installs its dependencies there once, so the peers folder itself stays read-only.
Starting it runs one charge point as a subprocess in its own process group, pointed at
the bench's CSMS; stopping it ends the whole group, so nothing outlives a run.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
STAMP = ".evbench-prepared"


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (no source, no Node/npm, install failed): a reason to skip."""


def peers_dir() -> Path | None:
    """The folder holding the peers' sources: EVBENCH_PEERS_DIR, else the nearest
    `shared/peers` beside the repository or above it."""
    if env := os.environ.get("EVBENCH_PEERS_DIR"):
        return Path(env)
    for parent in ROOT.parents:
        candidate = parent / "shared" / "peers"
        if candidate.is_dir():
            return candidate
    return None


def cache_root() -> Path:
    if env := os.environ.get("EVBENCH_PEER_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evbench" / "peers"


@dataclass(frozen=True)
class LaunchContext:
    """What a peer needs to connect: the CSMS url (without the charge point id) and its own id."""

    ws_url: str
    charge_point_id: str
    ocpp_version: str
    workdir: Path       # the prepared (installed) copy of the peer
    run_dir: Path       # a scratch folder for this run (logs, generated config)

    def free_port(self) -> int:
        return free_port()


@dataclass(frozen=True)
class Launch:
    """How to start one station: argv, extra environment, working folder (default: the
    prepared copy)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass(frozen=True)
class Peer:
    """One independent charge point: where its source is, how to install it, how to launch
    one station for an OCPP version (argv and extra environment)."""

    name: str
    folder: str                                   # its folder under the peers folder
    versions: tuple[str, ...]                     # OCPP versions it speaks
    install: tuple[tuple[str, ...], ...]          # commands run once in the cached copy
    launch: Callable[[LaunchContext], Launch]
    short: str = ""                               # a few letters for charge point ids and file names
    # the vendor's declarations for the lab config's `dut:` (reboot time, a PICS under
    # `features:`); a key the bench's config does not know yet is left out
    dut: dict = field(default_factory=dict)
    needs: tuple[str, ...] = ("node", "npm")      # executables that must be on PATH
    source_env: str = ""                          # env var naming a source folder, overrides `folder`
    notes: str = ""
    # files that are not part of the source (never hashed, never copied)
    ignore: tuple[str, ...] = field(default=("node_modules", ".git", "dist", STAMP))

    def source(self) -> Path | None:
        if self.source_env and (env := os.environ.get(self.source_env)):
            return Path(env)
        base = peers_dir()
        return base / self.folder if base is not None else None


def content_hash(folder: Path, ignore: tuple[str, ...], extra: str = "") -> str:
    """A hash over every file's relative path and bytes (ignored top-level names left out),
    and `extra` (the install recipe: a changed recipe makes a new copy)."""
    h = hashlib.sha256(extra.encode() + b"\0")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in ignore or not path.is_file():
            continue
        h.update(str(rel).encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def prepare(peer: Peer, log: Callable[[str], None] = lambda msg: None) -> Path:
    """The installed copy of the peer, made once per source content. Raises PeerUnavailable
    with the reason when it cannot be made here."""
    missing = [exe for exe in peer.needs if shutil.which(exe) is None]
    if missing:
        raise PeerUnavailable(f"{peer.name}: {', '.join(missing)} not found on PATH")
    src = peer.source()
    if src is None or not src.is_dir():
        where = f"${peer.source_env} or " if peer.source_env else ""
        raise PeerUnavailable(f"{peer.name}: source not found (looked for {where}"
                              f"{(peers_dir() or Path('<no shared/peers folder>')) / peer.folder})")
    digest = content_hash(src, peer.ignore, extra=repr(peer.install))
    dest = cache_root() / f"{peer.name}-{digest}"
    if (dest / STAMP).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{peer.name}-", dir=dest.parent))
    try:
        work = staging / "src"
        shutil.copytree(src, work, ignore=shutil.ignore_patterns(*peer.ignore), symlinks=True)
        for path in [work, *work.rglob("*")]:  # the source may be read-only; the copy must not be
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        for cmd in peer.install:
            log(f"{peer.name}: {' '.join(cmd)}")
            try:
                done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900,
                                      env={**os.environ, "CI": "true"})
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PeerUnavailable(f"{peer.name}: {' '.join(cmd)} could not run: {exc}") from exc
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
                raise PeerUnavailable(f"{peer.name}: {' '.join(cmd)} exited {done.returncode}:\n"
                                      + "\n".join(tail))
        (work / STAMP).write_text(digest + "\n")
        if dest.exists():  # prepared meanwhile by another process
            return dest
        work.rename(dest)
        return dest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_listener(host: str, port: int, timeout_s: float, alive: Callable[[], bool] = lambda: True) -> bool:
    """True once something accepts TCP connections on host:port (False on timeout or when
    `alive()` turns false, e.g. the process that should listen has exited)."""
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class RunningPeer:
    """One peer charge point as a subprocess in its own process group; output to a log file."""

    def __init__(self, peer: Peer, ctx: LaunchContext):
        self.peer, self.ctx = peer, ctx
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        launch = peer.launch(ctx)
        self.log_path = ctx.run_dir / f"peer-{peer.name}-{ctx.ocpp_version}.log"
        self._log = open(self.log_path, "ab")
        self.restarts = 0
        self._start(launch)

    def _start(self, launch) -> None:
        self.proc = subprocess.Popen(launch.argv, cwd=launch.cwd or self.ctx.workdir,
                                     env={**os.environ, **launch.env}, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def restart(self) -> None:
        """Start it again after it exited: what a charger's watchdog does when its software dies
        (the crash itself is the DUT's; the bench then sees a new boot, as on real hardware)."""
        self.stop()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n--- the peer exited ({self.proc.returncode}): restarted by the harness\n".encode())
        self._log.flush()
        self.restarts += 1
        self._start(self.peer.launch(self.ctx))

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> int | None:
        """SIGTERM to the whole group, SIGKILL after `grace_s`; also reaps what the leader left
        behind in its group (a launcher's child outlives it otherwise)."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and _group_alive(self.proc.pid):
                self.proc.poll()
                time.sleep(0.1)
            if not _group_alive(self.proc.pid):
                break
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "RunningPeer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- the peers ---------------------------------------------------------------------------

def _vcp_launch(ctx: LaunchContext) -> Launch:
    entry = {"1.6": "index_16.ts", "2.0.1": "index_201.ts", "2.1": "index_21.ts"}[ctx.ocpp_version]
    return Launch([str(ctx.workdir / "node_modules" / ".bin" / "tsx"), entry],
                  {"WS_URL": ctx.ws_url, "CP_ID": ctx.charge_point_id, "ADMIN_PORT": str(ctx.free_port()),
                   # a real charger reconnects and boots again after a Reset or a lost connection;
                   # without this the VCP process exits instead
                   "AUTO_RESTART": "true", "TOKEN": "TAG-ACCEPTED"})


VCP = Peer(
    name="ocpp-virtual-charge-point",
    folder="ocpp-virtual-charge-point",
    versions=("1.6", "2.0.1", "2.1"),
    install=(("npm", "ci", "--no-audit", "--no-fund"),),
    launch=_vcp_launch,
    short="vcp",
    # Reset: 3 s to close, 3 s to restart (AUTO_RESTART); diagnostics go up by FTP whatever the
    # location's scheme (src/v16/messages/getDiagnostics.ts)
    dut={"reboot_time_s": 30, "features": {"file_transfer": ["ftp"]}},
    notes="solidstudiosh/ocpp-virtual-charge-point: small TypeScript VCP, no cable/EV model",
)

# SAP/e-mobility-charging-stations-simulator reads its configuration from dist/assets/ beside
# its bundle and writes its state there, so every station gets its own copy of dist/ (a few
# MB) with the installed node_modules linked in. The station is made from the simulator's own
# KEBA templates (an AC wallbox, one connector, 22 kW), pointed at the bench.
SAP_TEMPLATES = {"1.6": "keba.station-template.json", "2.0.1": "keba-ocpp2.station-template.json"}
SAP_RESET_TIME_S = 10  # how long its simulated reboot takes (the template default is 60 s)
# Strict compliance (the simulator's default) refuses every request that comes before its
# BootNotification was answered; EVBENCH_SAP_STRICT=false relaxes that (and its PDU checks).
SAP_STRICT_ENV = "EVBENCH_SAP_STRICT"


def _sap_launch(ctx: LaunchContext) -> Launch:
    import json

    home = ctx.run_dir / f"sap-station-{ctx.ocpp_version}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(ctx.workdir / "dist", home / "dist")
    (home / "node_modules").symlink_to(ctx.workdir / "node_modules")
    (home / "package.json").symlink_to(ctx.workdir / "package.json")  # "type": "module"
    assets = home / "dist" / "assets"
    template = json.loads((assets / "station-templates" / SAP_TEMPLATES[ctx.ocpp_version]).read_text())
    template.update({
        "baseName": ctx.charge_point_id, "fixedName": True, "supervisionUrls": [ctx.ws_url],
        "supervisionUrlOcppConfiguration": False, "ocppVersion": ctx.ocpp_version,
        "idTagsFile": "idtags.json", "resetTime": SAP_RESET_TIME_S, "autoReconnectMaxRetries": -1,
        "registrationMaxRetries": -1, "ocppPersistentConfiguration": False,
        "stationInfoPersistentConfiguration": False,
        "automaticTransactionGeneratorPersistentConfiguration": False,
        "ocppStrictCompliance": os.environ.get(SAP_STRICT_ENV, "true").lower() not in ("0", "false", "no"),
    })
    template.get("AutomaticTransactionGenerator", {})["enable"] = False
    (assets / "station-templates" / "evbench.station-template.json").write_text(json.dumps(template, indent=2))
    (assets / "idtags.json").write_text(json.dumps(["TAG-ACCEPTED"]))
    (assets / "config.json").write_text(json.dumps({
        "$schemaVersion": 1,
        "supervisionUrls": [ctx.ws_url],
        "log": {"file": str(home / "combined.log"), "errorFile": str(home / "error.log"), "statisticsInterval": 0},
        "worker": {"processType": "workerSet"},
        "performanceStorage": {"enabled": False, "type": "none"},
        "uiServer": {"enabled": False},
        "persistState": False,
        "stationTemplateUrls": [{"file": "evbench.station-template.json", "numberOfStations": 1}],
    }, indent=2))
    # it is written for Node >= 22 (iterator helpers such as Iterator.prototype.map); on older
    # Node a polyfill is loaded first, into its worker threads too (they inherit execArgv)
    node_major = int(subprocess.run(["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True,
                                    text=True, check=True).stdout.strip())
    preload = ["--require", "core-js/actual/iterator"] if node_major < 22 else []
    return Launch(["node", *preload, "dist/start.js"], {"NODE_ENV": "production"}, cwd=home)


SAP = Peer(
    name="e-mobility-charging-stations-simulator",
    folder="e-mobility-charging-stations-simulator",
    source_env="EVBENCH_SAP_SIMULATOR_DIR",
    versions=("1.6", "2.0.1"),
    # no npm lock file upstream (pnpm): the runtime dependencies and the bundler, then its own
    # bundle script (scripts/bundle.js; `pnpm build` would first insist on Node >= 22)
    install=(("npm", "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--legacy-peer-deps"),
             ("npm", "install", "--no-save", "--ignore-scripts", "--no-audit", "--no-fund", "--legacy-peer-deps",
              "esbuild@0.28", "esbuild-plugin-clean@1", "esbuild-plugin-copy@2", "core-js@3"),
             ("node", "scripts/bundle.js")),
    launch=_sap_launch,
    short="sap",
    dut={"reboot_time_s": SAP_RESET_TIME_S + 30},
    notes="SAP/e-mobility-charging-stations-simulator: TypeScript, OCPP 1.6 and 2.0.1, station templates",
)

PEERS: dict[str, Peer] = {p.name: p for p in (VCP, SAP)}
