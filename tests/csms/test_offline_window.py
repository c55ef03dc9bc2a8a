"""The CSMS's offline window (`take_offline`): the charger's connection is closed and its
reconnects are refused at the handshake (503) until the window ends or `back_online`."""
from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from bench.csms import EventKind

pytestmark = pytest.mark.timeout(30)


async def test_take_offline_closes_and_refuses_until_the_window_ends(csms, clients, clock):
    await clients.charger("CP1")
    dut = csms.dut("CP1")
    await dut.wait_connected(timeout_s=5)
    mark = dut.mark()
    await csms.take_offline("CP1", 0.6)
    await dut.wait_for(EventKind.DISCONNECTED, timeout_s=5, since_index=mark)
    assert csms.is_offline("CP1")
    with pytest.raises(InvalidStatus) as refused:
        await clients.raw("CP1")
    assert refused.value.response.status_code == 503
    assert csms.refusals[-1].cp_id == "CP1" and "offline window" in csms.refusals[-1].reason
    await clock.sleep(0.7)
    assert not csms.is_offline("CP1")
    await clients.raw("CP1")  # the window is over: accepted again
    await dut.wait_connected(timeout_s=5)


async def test_back_online_ends_the_window_and_other_chargers_are_not_refused(csms, clients):
    await csms.take_offline("CP1", 60)  # nothing to close: only refuse
    with pytest.raises(InvalidStatus):
        await clients.raw("CP1")
    await clients.raw("CP2")  # only CP1 is offline
    csms.back_online("CP1")
    await clients.raw("CP1")
    assert csms.dut("CP1").connected


async def test_a_connection_the_dut_drops_is_a_finding_one_the_bench_closes_is_not(csms, clients):
    from bench.csms.events import FindingKind

    ws = await clients.raw("CP1")
    dut = csms.dut("CP1")
    await dut.wait_connected(timeout_s=5)
    mark = dut.mark()
    await csms.take_offline("CP1", 0.2)  # the bench closes it: expected
    await dut.wait_for(EventKind.DISCONNECTED, timeout_s=5, since_index=mark)
    assert not [f for f in dut.findings if f.kind == FindingKind.CONNECTION_DROPPED]
    csms.back_online("CP1")
    ws = await clients.raw("CP1")
    await dut.wait_connected(timeout_s=5)
    mark = dut.mark()
    await ws.close()  # the DUT closes it: OCPP-J says it keeps it open
    await dut.wait_for(EventKind.DISCONNECTED, timeout_s=5, since_index=mark)
    (finding,) = [f for f in dut.findings if f.kind == FindingKind.CONNECTION_DROPPED]
    assert "the DUT closed it" in finding.detail
