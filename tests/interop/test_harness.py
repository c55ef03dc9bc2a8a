"""The interop harness itself, without Node: config, cache key, process cleanup, reasons."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bench.config import load_config

from .harness import protocol_only_config, reason_of, rows_of, scenario_files
from .peers import Launch, LaunchContext, Peer, PeerUnavailable, RunningPeer, content_hash, free_port, prepare


def test_protocol_only_config_loads_without_instruments_or_virtual_lab(tmp_path):
    port = free_port()
    path = protocol_only_config(tmp_path / "lab.yaml", port, "EVB-X-16", "2.0.1",
                                dut={"reboot_time_s": 30, "no_such_key_in_any_bench": 1})
    config = load_config(path)
    assert config.bench.csms.port == port and config.bench.csms.host == "127.0.0.1"
    assert not config.virtual_lab.enabled
    (pos,) = config.positions
    assert pos.instruments == {}
    assert pos.dut.charge_point_id == "EVB-X-16" and pos.dut.ocpp_version == "2.0.1"
    assert config.bench.csms.id_tags["TAG-ACCEPTED"] == "Accepted"


def test_content_hash_follows_content_and_ignores_installed_files(tmp_path):
    (tmp_path / "a.ts").write_text("one")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x.js").write_text("installed")
    first = content_hash(tmp_path, ("node_modules",))
    (tmp_path / "node_modules" / "x.js").write_text("changed install")
    assert content_hash(tmp_path, ("node_modules",)) == first
    assert content_hash(tmp_path, ("node_modules",), extra="other recipe") != first
    (tmp_path / "a.ts").write_text("two")
    assert content_hash(tmp_path, ("node_modules",)) != first


def _python_peer(script: str, tmp_path: Path) -> tuple[Peer, LaunchContext]:
    peer = Peer(name="fake", folder="fake", versions=("1.6",), install=(), needs=(),
                launch=lambda ctx: Launch([sys.executable, "-c", script]))
    return peer, LaunchContext("ws://127.0.0.1:1", "CP", "1.6", tmp_path, tmp_path)


def test_stop_ends_the_whole_process_group(tmp_path):
    # a launcher whose child outlives it unless the whole group is ended (as npx/tsx do)
    pid_file = tmp_path / "child.pid"
    script = ("import subprocess, sys, time\n"
              f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(c.pid))\n"
              "time.sleep(600)\n")
    peer, ctx = _python_peer(script, tmp_path)
    running = RunningPeer(peer, ctx)
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, running.log_tail()
        time.sleep(0.05)
    child = int(pid_file.read_text())
    running.stop(grace_s=2)
    assert not running.running
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_prepare_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("EVBENCH_PEERS_DIR", str(tmp_path))
    peer = Peer(name="nothing", folder="not-there", versions=("1.6",), install=(), needs=(),
                launch=lambda ctx: Launch(["true"]))
    with pytest.raises(PeerUnavailable, match="source not found"):
        prepare(peer)
    no_tool = Peer(name="tool", folder="x", versions=("1.6",), install=(), needs=("no-such-tool-evbench",),
                   launch=lambda ctx: Launch(["true"]))
    with pytest.raises(PeerUnavailable, match="no-such-tool-evbench not found"):
        prepare(no_tool)


def test_prepare_copies_once_per_content(tmp_path, monkeypatch):
    src = tmp_path / "peers" / "p"
    src.mkdir(parents=True)
    (src / "index.txt").write_text("v1")
    src.chmod(0o555)  # the peers folder is read-only
    monkeypatch.setenv("EVBENCH_PEERS_DIR", str(tmp_path / "peers"))
    monkeypatch.setenv("EVBENCH_PEER_CACHE", str(tmp_path / "cache"))
    marker = ("python3", "-c", "import pathlib; pathlib.Path('installed').write_text('yes')")
    peer = Peer(name="p", folder="p", versions=("1.6",), install=(marker,), needs=(), launch=lambda ctx: Launch([]))
    try:
        first = prepare(peer)
        assert (first / "installed").read_text() == "yes" and (first / "index.txt").read_text() == "v1"
        (first / "installed").write_text("kept")
        assert prepare(peer) == first and (first / "installed").read_text() == "kept"
    finally:
        src.chmod(0o755)


def test_every_non_pass_row_has_a_reason():
    record = {"scenarios": [
        {"name": "a", "block": "b", "verdict": "PASS", "checks": []},
        {"name": "s", "block": "b", "verdict": "SKIPPED", "skipped": "needs an EV emulator"},
        {"name": "f", "block": "b", "verdict": "FAIL",
         "checks": [{"name": "step_expectations", "verdict": "FAIL", "message": "answered Rejected"}]},
        {"name": "e", "block": "b", "verdict": "ERROR", "error": "DutTimeout: no boot"},
    ]}
    rows = {r.scenario: r for r in rows_of(record)}
    assert rows["a"].reason == ""
    assert rows["s"].reason == "needs an EV emulator"
    assert rows["f"].reason == "step_expectations: answered Rejected"
    assert rows["e"].reason == "DutTimeout: no boot"
    assert reason_of({"steps": [{"name": "reset", "ok": False, "message": "no answer"}]}) == "step reset: no answer"


def test_scenario_files_expands_folders_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.yaml").write_text("name: z\n")
    (tmp_path / "b" / "a.yaml").write_text("name: a\n")
    single = tmp_path / "one.yaml"
    single.write_text("name: one\n")
    assert scenario_files([tmp_path / "b", single]) == [tmp_path / "b" / "a.yaml", tmp_path / "b" / "z.yaml", single]
