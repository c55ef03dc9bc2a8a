"""The scenario library against independent charge points, by OCPP alone.

Each peer (tests/interop/peers.py) is prepared once, then for each OCPP version it speaks
`bench run --protocol-only` runs a representative subset of the library with the peer as
the DUT. What a peer does not implement may end SKIPPED (not supported, not applicable) or
FAIL (it broke a rule), but never ERROR: an ERROR is the bench's fault. Every verdict other
than PASS must say why.

Marked `interop` and opt-in (conftest.py): `pytest -m interop` or EVBENCH_INTEROP=1 runs them.
Skipped with the reason when Node/npm or a peer's source is missing or its install fails.
The whole library against one peer: tests/interop/run_peer.py.
"""
from __future__ import annotations

import pytest

from .harness import SCENARIOS, markdown_table, run_against_peer, summary_line
from .peers import PEERS, PeerUnavailable, prepare

pytestmark = [pytest.mark.interop, pytest.mark.timeout(1800)]

# Scenarios a charger without a cable or EV model can meet (a peer has neither: scenarios that plug
# in are NOT RUN ON THIS BENCH): boot, configuration, reset, availability, local list, reservation,
# firmware and diagnostics, plus one that needs an EV emulator to show that skip.
SUBSET = [
    SCENARIOS / "provisioning" / "heartbeat_interval.yaml",
    SCENARIOS / "provisioning" / "configuration.yaml",
    SCENARIOS / "provisioning" / "reset_without_transaction.yaml",
    SCENARIOS / "remote_control" / "availability_connector.yaml",
    SCENARIOS / "authorization" / "local_list_version.yaml",
    SCENARIOS / "reservation" / "reservation_expiry.yaml",
    SCENARIOS / "firmware" / "firmware_download_failed.yaml",
    SCENARIOS / "firmware" / "diagnostics_upload.yaml",
    SCENARIOS / "remote_control" / "remote_start_stop.yaml",
]
CASES = [(name, version) for name, peer in PEERS.items() for version in ("1.6", "2.0.1") if version in peer.versions]


@pytest.fixture(scope="session")
def prepared_peers():
    """Each peer installed once per session; the reason it cannot run, else None."""
    reasons: dict[str, str | None] = {}

    def get(name: str) -> str | None:
        if name not in reasons:
            try:
                prepare(PEERS[name])
                reasons[name] = None
            except PeerUnavailable as exc:
                reasons[name] = str(exc)
        return reasons[name]

    return get


@pytest.mark.parametrize(("peer_name", "version"), CASES, ids=[f"{p}-{v}" for p, v in CASES])
def test_subset_against_peer(peer_name, version, prepared_peers, tmp_path):
    if (why := prepared_peers(peer_name)) is not None:
        pytest.skip(f"peer cannot run here: {why}")
    run = run_against_peer(PEERS[peer_name], version, SUBSET, tmp_path)
    report = f"{summary_line(run)}\n{markdown_table(run)}\nbench log: {run.bench_log}\npeer log: {run.peer_log}"
    assert run.run_dir is not None, f"no record: {run.error}\n{run.bench_log.read_text()[-3000:]}"
    assert not run.error, f"the run itself failed: {run.error}\n{report}"
    assert {r.scenario for r in run.rows} == {p.stem for p in SUBSET}, report
    errors = [r for r in run.rows if r.verdict == "ERROR"]
    assert not errors, f"ERROR is the bench's fault, never the DUT's:\n{report}"
    silent = [r.scenario for r in run.rows if r.verdict != "PASS" and not r.reason.strip()]
    assert not silent, f"non-PASS verdicts without a reason: {silent}\n{report}"
    assert run.returncode in (0, 1), report  # 2 would mean an ERROR or bad input
