"""The simulated charger on security profiles 1..3 (every OCPP version) against the bench's
CSMS stub over real TLS: it connects with the right credentials, takes a new password and
reconnects with it, refuses what a correct charger refuses and reports it; its security faults
break exactly that."""
from __future__ import annotations

import pytest

from bench.certs import ensure_certs
from bench.csms.security import CsmsSecurity
from bench.sim import faults as F
from bench.sim.charger_security import ChargerSecurity

from .bench_csms import open_bench_lab
from .conftest import CP_ID

pytestmark = pytest.mark.timeout(60)
PASSWORD = "evbench-test-password-0001"
VERSIONS = ["1.6", "2.0.1", "2.1"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from bench.clock import RealClock

    return ensure_certs(tmp_path_factory.mktemp("certs"), [CP_ID], RealClock())


@pytest.fixture
async def secure_lab(clock, certs):
    labs = []

    async def open_(profile: int):
        security = CsmsSecurity(
            profile=profile, passwords={CP_ID: PASSWORD} if profile in (1, 2) else {},
            server_cert=certs.server.cert if profile >= 2 else None, server_key=certs.server.key if profile >= 2 else None,
            client_ca=certs.ca.cert if profile == 3 else None,
            probe_certs={k: (certs.probe_server(k).cert, certs.probe_server(k).key) for k in ("unknown_ca", "expired")})
        lab = await open_bench_lab(clock, security=security)
        labs.append(lab)
        return lab

    yield open_
    for lab in labs:
        await lab.stop()
        await lab.csms.stop()
        lab.log.close()


def charger_security(certs, profile: int, password: str = PASSWORD) -> ChargerSecurity:
    client = certs.charger(CP_ID) if profile == 3 else None
    return ChargerSecurity(profile, password if profile in (1, 2) else None, certs.ca.cert if profile >= 2 else None,
                           client.cert if client else None, client.key if client else None)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("profile", [1, 2, 3])
async def test_connects_on_every_profile(secure_lab, certs, version, profile):
    lab = await secure_lab(profile)
    await lab.charger(version, security=charger_security(certs, profile))
    assert lab.dut.security_profile == profile and lab.dut.ocpp_version == version
    assert lab.csms.refusals == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_wrong_password_never_gets_in(secure_lab, certs, version, clock):
    lab = await secure_lab(1)
    from bench.sim.charger import ChargerSimConfig
    from bench.sim.charger import make_charger

    charger = make_charger(clock, lab.plant, ChargerSimConfig(
        CP_ID, lab.csms.url, ocpp_version=version, reconnect_min_s=0.1, reconnect_max_s=0.2,
        security=charger_security(certs, 1, "not-the-password-000")))
    lab.chargers.append(charger)
    await charger.start()
    await lab.wait_until(lambda: len(lab.csms.refusals) >= 2)
    assert not charger.online and all(r.reason == "wrong password" for r in lab.csms.refusals)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_new_password_is_used_on_the_next_connection(secure_lab, certs, version):
    lab = await secure_lab(2)
    await lab.charger(version, security=charger_security(certs, 2))
    assert await lab.dut.set_basic_auth_password("too-short") == "Rejected"
    new = "evbench-rotated-password-01"
    mark = lab.dut.mark()
    lab.csms.set_password(CP_ID, PASSWORD, new)  # both while the change is on its way
    assert await lab.dut.set_basic_auth_password(new) == "Accepted"
    lab.csms.set_password(CP_ID, new)  # the CSMS accepts only the new one from now on (A01.FR.03)
    await lab.dut.wait_for("connected", timeout_s=5, since_index=mark)
    assert lab.csms.refusals == []
    assert lab.csms.passwords(CP_ID) == (new,)


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_invalid_server_certificate_is_refused_and_reported(secure_lab, certs, version):
    lab = await secure_lab(2)
    await lab.charger(version, security=charger_security(certs, 2))
    mark = lab.dut.mark()
    with lab.csms.tls_probe("unknown_ca"):
        await lab.csms.drop(CP_ID)
        await lab.wait_until(lambda: len(lab.csms.refusals) >= 1)
    event = await lab.dut.wait_for("security_event", timeout_s=10, since_index=mark)
    assert event.data["type"] == ("InvalidCentralSystemCertificate" if version == "1.6" else "InvalidCsmsCertificate")
    assert lab.csms.refusals[0].probe == "unknown_ca"


@pytest.mark.parametrize("fault, probe", [(F.ACCEPTS_INVALID_SERVER_CERTIFICATE, "expired"),
                                          (F.ACCEPTS_OLD_TLS, "tls_1_1")])
async def test_security_faults_connect_where_a_correct_charger_refuses(secure_lab, certs, fault, probe):
    lab = await secure_lab(2)
    await lab.charger("2.0.1", security=charger_security(certs, 2), faults=frozenset({fault}))
    mark = lab.dut.mark()
    with lab.csms.tls_probe(probe):
        await lab.csms.drop(CP_ID)
        await lab.dut.wait_for("connected", timeout_s=10, since_index=mark)
    assert lab.csms.refusals == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_lower_security_profile_is_rejected(secure_lab, certs, version):
    lab = await secure_lab(1)
    await lab.charger(version, security=charger_security(certs, 1))
    assert await lab.dut.set_security_profile(0, lab.csms.url) == "Rejected"
    assert await lab.dut.set_security_profile(1, lab.csms.url) == "Accepted"


async def test_a_16_charger_never_reports_its_password(secure_lab, certs):
    lab = await secure_lab(1)
    await lab.charger("1.6", security=charger_security(certs, 1))
    everything = await lab.dut.get_configuration()
    keys = {k["key"]: k["value"] for k in everything["configurationKey"]}
    assert "AuthorizationKey" not in keys and keys["SecurityProfile"] == "1"
    assert (await lab.dut.get_configuration(["AuthorizationKey"]))["unknownKey"] == ["AuthorizationKey"]
