"""Security profiles 1..3 at the CSMS, through real TLS and WebSocket handshakes on 127.0.0.1:
what is accepted, what is refused (and recorded), on every OCPP version."""
from __future__ import annotations

import asyncio
import base64
import json
import ssl
import warnings

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from bench.certs import ensure_certs
from bench.csms import CsmsServer, CsmsSettings, EventKind, FindingKind, MessageLog
from bench.csms.security import CsmsSecurity

pytestmark = pytest.mark.timeout(30)
PASSWORD = "evbench-test-password-0001"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from bench.clock import RealClock

    return ensure_certs(tmp_path_factory.mktemp("certs"), ["CP1", "CP2"], RealClock())


def security(certs, profile: int) -> CsmsSecurity:
    if profile < 2:
        return CsmsSecurity(profile=profile, passwords={"CP1": PASSWORD, "CP2": PASSWORD} if profile else {})
    return CsmsSecurity(profile=profile, passwords={"CP1": PASSWORD, "CP2": PASSWORD}, server_cert=certs.server.cert,
                        server_key=certs.server.key, client_ca=certs.ca.cert,
                        probe_certs={k: (certs.probe_server(k).cert, certs.probe_server(k).key)
                                     for k in ("unknown_ca", "expired", "wrong_host")})


@pytest.fixture
async def open_csms(clock, tmp_path, certs):
    servers = []

    async def open_(profile: int) -> CsmsServer:
        server = CsmsServer(clock, CsmsSettings(accepted_ids=["CP1", "CP2"], security=security(certs, profile)),
                            MessageLog(None, clock), connections_path=tmp_path / "connections.jsonl")
        await server.start()
        servers.append(server)
        return server

    yield open_
    for server in servers:
        await server.stop()


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def client_tls(certs, *, client: tuple | None = None, max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(certs.ca.cert))
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


async def refusals(server: CsmsServer, n: int) -> list:
    """The server's refusals once there are `n` (the client may give up before the server notices)."""
    for _ in range(200):
        if len(server.refusals) >= n:
            return server.refusals
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(server.refusals)} refusals, expected {n}")


async def dial(server: CsmsServer, cp_id: str = "CP1", version: str = "2.0.1", **kwargs):
    ws = await connect(f"{server.url}/{cp_id}", subprotocols=[f"ocpp{version}"], open_timeout=5, **kwargs)
    await server.dut(cp_id).wait_connected(timeout_s=5)
    return ws


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
@pytest.mark.parametrize("profile", [1, 2, 3])
async def test_the_right_credentials_connect_on_every_profile_and_version(open_csms, certs, profile, version):
    server = await open_csms(profile)
    assert server.url.startswith("wss://" if profile >= 2 else "ws://")
    kwargs: dict = {}
    if profile in (1, 2):
        kwargs["additional_headers"] = basic("CP1", PASSWORD)
    if profile >= 2:
        kwargs["ssl"] = client_tls(certs, client=(certs.charger("CP1").cert, certs.charger("CP1").key)
                                   if profile == 3 else None)
    ws = await dial(server, version=version, **kwargs)
    connected = server.dut("CP1").events[-1]
    assert connected.kind == EventKind.CONNECTED and connected.data["security_profile"] == profile
    assert server.dut("CP1").security_profile == profile and server.dut("CP1").ocpp_version == version
    if profile >= 2:
        assert connected.data["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert server.refusals == []
    await ws.close()


@pytest.mark.parametrize("profile", [1, 2])
async def test_basic_auth_refusals_are_401_and_recorded(open_csms, certs, profile, tmp_path):
    server = await open_csms(profile)
    tls = {"ssl": client_tls(certs)} if profile == 2 else {}
    cases = [({}, "no Authorization header"), (basic("CP1", "wrong-password-000000"), "wrong password"),
             (basic("CP2", PASSWORD), "is not the charge point id"),
             ({"Authorization": "Bearer abc"}, "is not Basic")]
    for headers, why in cases:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{server.url}/CP1", subprotocols=["ocpp2.0.1"], additional_headers=headers, **tls)
        assert refused.value.response.status_code == 401
        assert refused.value.response.headers["WWW-Authenticate"] == 'Basic realm="OCPP"'
        assert why in server.refusals[-1].reason
    with pytest.raises(InvalidStatus) as unknown:
        await connect(f"{server.url}/STRANGER", subprotocols=["ocpp2.0.1"],
                      additional_headers=basic("STRANGER", PASSWORD), **tls)
    assert unknown.value.response.status_code == 404
    assert [(r.cp_id, r.stage) for r in server.refusals] == [("CP1", "http")] * 4 + [("STRANGER", "http")]
    assert [f.kind for f in server.dut("CP1").findings] == [FindingKind.AUTH_REFUSED] * 4
    assert not server.dut("CP1").connected
    lines = [json.loads(x) for x in (tmp_path / "connections.jsonl").read_text().splitlines()]
    assert [x["event"] for x in lines] == ["refused"] * 5
    assert all(x["security_profile"] == profile for x in lines)


async def test_a_new_password_replaces_the_old_one(open_csms):
    server = await open_csms(1)
    server.set_password("CP1", "evbench-rotated-password-01")
    with pytest.raises(InvalidStatus):
        await connect(f"{server.url}/CP1", subprotocols=["ocpp1.6"], additional_headers=basic("CP1", PASSWORD))
    ws = await dial(server, version="1.6", additional_headers=basic("CP1", "evbench-rotated-password-01"))
    await ws.close()


async def test_tls_below_1_2_and_plain_ws_on_the_tls_port_are_refused(open_csms, certs):
    server = await open_csms(2)
    with pytest.raises((ssl.SSLError, OSError)):
        await connect(f"{server.url}/CP1", subprotocols=["ocpp2.0.1"], additional_headers=basic("CP1", PASSWORD),
                      ssl=client_tls(certs, max_version=ssl.TLSVersion.TLSv1_1))
    with pytest.raises(Exception):
        await connect(server.url.replace("wss://", "ws://") + "/CP1", subprotocols=["ocpp2.0.1"],
                      additional_headers=basic("CP1", PASSWORD), open_timeout=3)
    reasons = [r.reason for r in await refusals(server, 2)]
    assert [r.stage for r in server.refusals] == ["tls", "tls"] and all(r.cp_id is None for r in server.refusals)
    assert "TLS version below 1.2" in reasons[0]
    assert "not TLS" in reasons[1] or "plain HTTP" in reasons[1]
    assert not server.dut("CP1").connected


async def test_profile_3_refuses_foreign_missing_and_borrowed_client_certificates(open_csms, certs):
    server = await open_csms(3)
    rogue = (certs.rogue_charger("CP1").cert, certs.rogue_charger("CP1").key)  # right name, other CA
    with pytest.raises(Exception):
        await connect(f"{server.url}/CP1", subprotocols=["ocpp2.1"], ssl=client_tls(certs, client=rogue))
    with pytest.raises(Exception):
        await connect(f"{server.url}/CP1", subprotocols=["ocpp2.1"], ssl=client_tls(certs))  # none at all
    other = (certs.charger("CP2").cert, certs.charger("CP2").key)  # a valid certificate of another charger
    with pytest.raises(InvalidStatus) as borrowed:
        await connect(f"{server.url}/CP1", subprotocols=["ocpp2.1"], ssl=client_tls(certs, client=other))
    assert borrowed.value.response.status_code == 403
    stages = [(r.stage, r.cp_id) for r in await refusals(server, 3)]
    assert stages == [("tls", None), ("tls", None), ("http", "CP1")]
    assert "client certificate refused: unable to get local issuer" in server.refusals[0].reason  # other CA
    assert "no client certificate" in server.refusals[1].reason
    assert "is for CP2, not CP1" in server.refusals[2].reason
    assert not server.dut("CP1").connected


@pytest.mark.parametrize("probe", ["unknown_ca", "expired", "wrong_host", "tls_1_1"])
async def test_tls_probes_are_refused_by_a_correct_client_and_the_refusal_is_recorded(open_csms, certs, probe):
    server = await open_csms(2)
    with server.tls_probe(probe):
        with pytest.raises((ssl.SSLError, OSError)):
            await connect(f"{server.url}/CP1", subprotocols=["ocpp2.0.1"], ssl=client_tls(certs),
                          additional_headers=basic("CP1", PASSWORD))
    (refusal,) = await refusals(server, 1)
    assert refusal.stage == "tls" and refusal.probe == probe
    ws = await dial(server, additional_headers=basic("CP1", PASSWORD), ssl=client_tls(certs))  # normal again
    await ws.close()


async def test_probes_need_tls(open_csms):
    server = await open_csms(1)
    with pytest.raises(RuntimeError, match="profile 2 or 3"):
        with server.tls_probe("expired"):
            pass


def test_settings_need_what_the_profile_uses(certs):
    with pytest.raises(ValueError, match="0..3"):
        CsmsSecurity(profile=4)
    with pytest.raises(ValueError, match="server certificate"):
        CsmsSecurity(profile=2)
    with pytest.raises(ValueError, match="CA"):
        CsmsSecurity(profile=3, server_cert=certs.server.cert, server_key=certs.server.key)
