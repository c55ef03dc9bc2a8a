"""The eichrecht checks on synthetic transactions: signed values made by the simulated charger's
signing meter (with and without each ocmf_* fault), judged against a synthetic reference."""
import base64
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from bench import ocmf
from bench.config import DutConfig, load_config
from bench.csms.events import Transaction
from bench.csms.signed import SignedValue, decode_signed_data
from bench.record import Verdict
from bench.checks.timeline import Expected
from bench.sim import faults as F
from bench.sim.charger_signing import Signing
from bench.trace import NUMERIC_COLUMNS
from bench.checks.base import CheckInputs
from bench.checks.eichrecht import signed_energy_matches_reference, signed_values_coherent, signed_values_verify
from bench.checks.library import CHECKS

from test_config import ROOT

T = np.round(np.arange(0, 40, 0.1), 3)
UTC0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
E0 = 1_000_000.0
WH_PER_S = 3.0  # about 10.8 kW


@pytest.fixture(scope="module")
def cfg():
    return load_config(ROOT / "lab_config.yaml")


def _trace():
    out = {c: np.full(T.size, np.nan) for c in NUMERIC_COLUMNS}
    out["t_mono_s"] = T.astype(float)
    out["meter_energy_import_wh"] = E0 + WH_PER_S * T
    return out


def _transaction(faults=(), version="1.6", id_tag="TAG1", tx_start=0.5, tx_stop=38.0, every_s=2.0):
    """A transaction whose meter signs at its begin, every `every_s` and at its end; the energy
    register counts WH_PER_S from `tx_start`. Returns (transaction, public keys published)."""
    signing = Signing("SIM", 1, faults)
    values = []
    times = [tx_start, *np.arange(tx_start + every_s, tx_stop, every_s), tx_stop]
    for i, t in enumerate(times):
        context = "Transaction.Begin" if i == 0 else "Transaction.End" if i == len(times) - 1 else "Sample.Periodic"
        wh = E0 + WH_PER_S * (t - tx_start)
        record = signing.record(1, energy_wh=wh, resolution_wh=0.1, time=UTC0 + timedelta(seconds=float(t)),
                                context=context, id_tag=id_tag)
        if record is None:
            continue
        if version == "1.6":
            values.append(SignedValue(float(t), UTC0, context, "Energy.Active.Import.Register", record,
                                      "StopTransaction" if context.startswith("Transaction") else "MeterValues"))
        else:
            key = base64.b64encode(bytes.fromhex(signing.meters[1].public_key_hex)).decode()
            values.append(SignedValue(float(t), UTC0, context, "Energy.Active.Import.Register",
                                      base64.b64encode(record.encode()).decode(), "TransactionEvent",
                                      plain_value=round(wh, 1), signing_method="ECDSA-secp256r1-SHA256",
                                      encoding_method="OCMF", public_key=key if i == 0 else None))
    digits = 0 if version == "1.6" else 1  # 1.6 meterStart/meterStop are whole Wh
    tx = Transaction(1 if version == "1.6" else "tx-uuid", 1, id_tag, E0, tx_start, UTC0,
                     meter_stop_wh=round(E0 + WH_PER_S * (tx_stop - tx_start), digits), t_stop_mono_s=tx_stop + 0.1,
                     signed_values=values)
    published = signing.public_keys_16() if version == "1.6" else {}
    return tx, published


def _inputs(cfg, tx, published, position=None):
    expected = Expected([(0.0, 16.0)], [(0.0, 16.0)], [(0.0, None)], [], meter_public_keys=published)
    return CheckInputs(position or cfg.positions[0], cfg.tolerances, 0.0, float(T[-1]), _trace(), expected, [tx],
                       lambda ts: (ts - UTC0).total_seconds())


def _by_name(rec):
    return {m.name: m for m in rec.measurements}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_correct_signing_meter_passes_all_three(cfg, version):
    inp = _inputs(cfg, *_transaction(version=version))
    verify, coherent = signed_values_verify(inp), signed_values_coherent(inp)
    energy = signed_energy_matches_reference(inp)
    verdicts = (verify.verdict, coherent.verdict, energy.verdict)
    assert verdicts == (Verdict.PASS,) * 3, (verify.message, coherent.message, energy.message)
    assert verify.samples and verify.samples >= 19  # every record compared
    assert _by_name(verify)["tx1_signatures_invalid"].samples == 20
    m = _by_name(energy)["tx1_signed_energy_error_pct"]
    assert abs(m.value) < 0.1 and "register steps" in m.note
    assert energy.params["transactions"][0]["signed_wh"] == pytest.approx(WH_PER_S * 37.5, abs=0.2)
    if version != "1.6":  # 2.x: each signed value against its plain value
        assert _by_name(coherent)["tx1_signed_vs_plain_value_wh"].verdict == Verdict.PASS


@pytest.mark.parametrize("fault, check, measurement", [
    (F.OCMF_BAD_SIGNATURE, signed_values_verify, "tx1_signatures_invalid"),
    (F.OCMF_PAGINATION_GAP, signed_values_coherent, "tx1_pagination_gap_records"),
    (F.OCMF_SERIAL_CHANGES, signed_values_coherent, "tx1_meter_serials"),
    (F.OCMF_ENERGY_TAMPERED, signed_energy_matches_reference, "tx1_signed_energy_error_pct"),
    (F.OCMF_UNSIGNED_END, signed_values_verify, "tx1_end_signed"),
])
@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_each_fault_fails_its_check(cfg, fault, check, measurement, version):
    rec = check(_inputs(cfg, *_transaction([fault], version=version)))
    assert rec.verdict == Verdict.FAIL
    assert _by_name(rec)[measurement].verdict == Verdict.FAIL, rec.message


def test_tampered_energy_still_verifies(cfg):
    """Transparency software would accept it: the signature holds, the energy is 5 % off."""
    inp = _inputs(cfg, *_transaction([F.OCMF_ENERGY_TAMPERED]))
    assert signed_values_verify(inp).verdict == Verdict.PASS
    assert _by_name(signed_energy_matches_reference(inp))["tx1_signed_energy_error_pct"].value == pytest.approx(5.0,
                                                                                                             abs=0.2)
    assert _by_name(signed_values_coherent(inp))["tx1_end_signed_minus_unsigned_wh"].verdict == Verdict.FAIL


def test_another_users_record_fails(cfg):
    tx, keys = _transaction(id_tag="SOMEONE-ELSE")
    tx.id_tag = "TAG1"
    assert _by_name(signed_values_coherent(_inputs(cfg, tx, keys)))["tx1_identification_mismatch"].value == 20


def test_records_without_a_user_assignment_are_not_compared_not_failed(cfg):
    tx, keys = _transaction(id_tag="")  # IS false: OCMF makes the user assignment optional
    tx.id_tag = "TAG1"
    record = signed_values_coherent(_inputs(cfg, tx, keys))
    assert _by_name(record)["tx1_identification_mismatch"].verdict == Verdict.SKIPPED
    assert record.verdict == Verdict.PASS


def test_a_charger_that_does_not_sign_is_not_supported_unless_declared(cfg):
    tx, _ = _transaction()
    tx.signed_values = []
    for check in (signed_values_verify, signed_values_coherent, signed_energy_matches_reference):
        rec = check(_inputs(cfg, tx, {}))
        assert rec.verdict == Verdict.SKIPPED and "NOT SUPPORTED" in rec.message
    pos = cfg.positions[0]
    declared = pos.model_copy(update={"dut": pos.dut.model_copy(update={
        "features": pos.dut.features.model_copy(update={"supported": ["SignedMeterValues"]})})})
    assert signed_values_verify(_inputs(cfg, tx, {}, declared)).verdict == Verdict.FAIL


def test_no_key_is_the_benchs_error_and_a_declared_key_is_used(cfg):
    tx, keys = _transaction()
    assert signed_values_verify(_inputs(cfg, tx, {})).verdict == Verdict.ERROR
    pos = cfg.positions[0]
    with_key = pos.model_copy(update={"dut": pos.dut.model_copy(update={"meter_public_keys": {
        "SIM-M1": keys["MeterPublicKey1"]}})})
    assert signed_values_verify(_inputs(cfg, tx, {}, with_key)).verdict == Verdict.PASS
    other = ocmf.public_key_hex(ec.generate_private_key(ec.SECP256R1()))
    wrong = pos.model_copy(update={"dut": pos.dut.model_copy(update={"meter_public_keys": {"SIM-M1": other}})})
    rec = signed_values_verify(_inputs(cfg, tx, keys, wrong))
    assert rec.verdict == Verdict.FAIL
    assert _by_name(rec)["tx1_published_keys_not_declared"].value == 1


def test_garbage_signed_data_fails_naming_why(cfg):
    tx, keys = _transaction()
    tx.signed_values.append(SignedValue(5.0, UTC0, "Sample.Periodic", "Energy.Active.Import.Register",
                                        "OCMF|{not json}|{}", "MeterValues"))
    rec = signed_values_verify(_inputs(cfg, tx, keys))
    assert rec.verdict == Verdict.FAIL and "not an OCMF record" in _by_name(rec)["tx1_signatures_invalid"].note


def test_too_short_a_transaction_cannot_be_compared(cfg):
    inp = _inputs(cfg, *_transaction(tx_start=0.5, tx_stop=2.0, every_s=1.0))  # 4.5 Wh < 100 steps of 0.1 Wh
    rec = signed_energy_matches_reference(inp)
    assert rec.verdict == Verdict.ERROR and "100 steps" in rec.measurements[0].note


def test_checks_are_registered():
    assert {"signed_values_verify", "signed_values_coherent", "signed_energy_matches_reference"} <= set(CHECKS)
    assert not CHECKS["signed_values_verify"].physical and CHECKS["signed_energy_matches_reference"].physical


def test_signed_data_transports():
    record = ocmf.sign({"PG": "T1", "MS": "M", "RD": [{"TM": "2024-01-01T00:00:00,000+0000 S", "ST": "G"}]},
                       ec.generate_private_key(ec.SECP256R1()))
    assert decode_signed_data(record) == record                        # 1.6 as text
    assert decode_signed_data(record.encode().hex()) == record         # 1.6 hex, as ValueFormat says
    assert decode_signed_data(base64.b64encode(record.encode()).decode(), base64_first=True) == record  # 2.x


def test_a_bad_configured_key_names_the_meter():
    with pytest.raises(ValidationError, match=r"meter_public_keys[\s\S]*meter 'M1': public key"):
        DutConfig(charge_point_id="CP", rated_current_a=16, meter_public_keys={"M1": "not a key"})
