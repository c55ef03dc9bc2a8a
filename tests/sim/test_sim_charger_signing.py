"""The simulated charger's signed meter values over real websockets to the bench's CSMS, on every
OCPP version: unsigned until the enable_signed_meter_values step asks, then every transaction
value signed in the version's form, the public key where the version publishes it, and the
records verify against it."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench import ocmf
from bench.config import load_config
from bench.scenario import steps_eichrecht as E
from bench.scenario.steps import NotSupportedByDut, StepContext
from bench.checks.timeline import Timeline, utc_mapper
from instruments.iec61851 import CpState

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["1.6", "2.0.1", "2.1"])
def version(request) -> str:
    return request.param


def _ctx(blab) -> StepContext:
    cfg = load_config(ROOT / "lab_config.yaml")
    timeline = Timeline(1, 32.0, 230.0, 3, utc_mapper(blab.clock.monotonic(), blab.clock.utcnow()))
    return StepContext(blab.clock, cfg.positions[0], cfg.tolerances, blab.dut, None, timeline,
                       event_cursor=blab.dut.mark())


async def _session(blab, charger) -> object:
    tx_id = await blab.start_charging(charger, amps=16)
    await blab.clock.sleep(3.0)
    mark = blab.dut.mark()
    assert await blab.dut.remote_stop(tx_id) == "Accepted"
    await blab.dut.wait_for("transaction_stopped", timeout_s=5, since_index=mark)
    blab.plant.set_ev_cp_state(CpState.A)
    await blab.wait_until(lambda: blab.dut.status(1) == "Available", timeout=10)  # ready for the next session
    return blab.dut.transactions[tx_id]


async def test_signs_once_asked_and_publishes_its_key(blab, version):
    charger = await blab.charger(version)
    unsigned = await _session(blab, charger)
    assert unsigned.signed_values == []  # signing is off until the CSMS asks (empty contexts / SignReadings false)
    ctx = _ctx(blab)
    step = E.STEPS["enable_signed_meter_values"]
    await step.run(ctx, step.args())
    if version == "1.6":
        assert set(ctx.timeline.meter_public_keys) == {"MeterPublicKey1"}
    tx = await _session(blab, charger)
    contexts = [v.context for v in tx.signed_values]
    assert contexts[0] == "Transaction.Begin" or "Transaction.Begin" in contexts
    assert "Transaction.End" in contexts and "Sample.Periodic" in contexts
    keys = [v.public_key for v in tx.signed_values if v.public_key]
    key = ctx.timeline.meter_public_keys["MeterPublicKey1"] if version == "1.6" else keys[0]
    if version != "1.6":
        assert len(keys) == 1 and tx.signed_values[0].encoding_method == "OCMF"  # OncePerTransaction
    records = [ocmf.parse(v.text() or "") for v in tx.signed_values]
    assert all(ocmf.verify(r, key).valid for r in records)
    pages = sorted({r.payload.pagination_number for r in records})
    assert pages == list(range(pages[0], pages[0] + len(pages)))
    assert {r.payload.identification_data for r in records} == {"TAG-1"}


async def test_a_charger_without_a_signing_meter_is_not_supported(blab, version):
    charger = await blab.charger(version, features="minimal")
    ctx = _ctx(blab)
    step = E.STEPS["enable_signed_meter_values"]
    if version == "1.6":  # no standard key: the step notes what is missing, the checks find no signed value
        await step.run(ctx, step.args())
        assert ctx.timeline.meter_public_keys == {} and any("MeterPublicKey" in n for n in ctx.notes)
        assert (await _session(blab, charger)).signed_values == []
    else:
        with pytest.raises(NotSupportedByDut, match="SignReadings: UnknownComponent|SignReadings: UnknownVariable"):
            await step.run(ctx, step.args())
