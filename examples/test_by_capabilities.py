"""A test that asks the charger what it supports and tests accordingly: with Smart Charging,
a TxProfile of 10 A must hold the current; without it, the car charges at what the charger
offers. Either way the reference meter's readings must agree with the charger's MeterValues.
"""
import pytest


async def test_charges_within_what_it_reports(position):
    await position.step("plug_in")
    await position.step("remote_start", id_tag="TAG-ACCEPTED")
    await position.step("ev_state", state="C")
    if position.capabilities.supports("SmartCharging"):
        await position.step("set_profile", purpose="TxProfile", stack_level=1, limit=10)
    await position.hold(10)
    await position.check("current_follows_limit")
    await position.check("pwm_matches_limit")
    await position.step("remote_stop")
    await position.step("unplug")
    # the DUT interface: what the charger reported over OCPP during the test
    tx = list(position.dut.transactions.values())[-1]
    assert tx.t_stop_mono_s is not None, "the transaction did not end"


@pytest.mark.ocpp("2.0.1", "2.1")
async def test_only_on_ocpp_2(position):
    """Selected by marker: SKIPPED (not applicable) on a charger speaking OCPP 1.6."""
    assert position.ocpp_version in ("2.0.1", "2.1")
