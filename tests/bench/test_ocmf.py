"""OCMF records: parsing, signature verification on both NIST curves, a public example by its values."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from bench import ocmf

# A KEBA KC-P30 record and its meter's public key, as published in the SAFE e.V. transparency
# software's test resources (test_ocmf_keba_kcp30.xml) and reused by open OCMF verifiers.
KEBA_RECORD = (
    'OCMF|{"FV":"1.0","GI":"KEBA_KCP30","GS":"17619300","GV":"2.8.5","PG":"T32","IS":false,"IL":"NONE",'
    '"IF":["RFID_NONE","OCPP_NONE","ISO15118_NONE","PLMN_NONE"],"IT":"NONE","ID":"",'
    '"RD":[{"TM":"2019-08-13T10:03:15,000+0000 I","TX":"B","EF":"","ST":"G","RV":0.2596,"RI":"1-b:1.8.0","RU":"kWh"},'
    '{"TM":"2019-08-13T10:03:36,000+0000 R","TX":"E","EF":"","ST":"G","RV":0.2597,"RI":"1-b:1.8.0","RU":"kWh"}]}|'
    '{"SD":"304502200E2F107C987A300AC1695CA89EA149A8CDFA16188AF0A33EE64B67964AA943F9'
    '022100889A72B6D65364BEA8562E7F6A0253157ACFF84FE4929A93B5964D23C4265699"}')
KEBA_KEY = ("3059301306072A8648CE3D020106082A8648CE3D030107034200043AEEB45C392357820A58FDFB0857BD77ADA31585C61C4305"
            "31DFA53B440AFBFDD95AC887C658EA55260F808F55CA948DF235C2108A0D6DC7D4AB1A5E1A7955BE")


def _payload(pg: str = "T1", rv: str = "1.2340") -> dict:
    return {"FV": "1.0", "GI": "bench test", "GS": "GW1", "PG": pg, "MV": "Vendor", "MS": "M-1", "IS": True,
            "IL": "TRUSTED", "IF": ["OCPP_AUTH"], "IT": "CENTRAL", "ID": "TAG1",
            "RD": [{"TM": "2024-05-01T10:00:00,000+0000 S", "TX": "B", "RV": Decimal(rv), "RI": "01-00:B0.08.00*FF",
                    "RU": "kWh", "RT": "AC", "EF": "", "ST": "G"}]}


def test_public_example_verifies_by_its_values() -> None:
    record = ocmf.parse(KEBA_RECORD)
    assert record.payload.gateway_id == "KEBA_KCP30" and record.payload.pagination_number == 32
    assert record.signature.algorithm == ocmf.DEFAULT_ALGORITHM  # SA omitted: the default
    begin, end = record.payload.readings
    assert (begin.transaction, end.transaction, begin.time_status, end.time_status) == ("B", "E", "I", "R")
    assert begin.value == Decimal("0.2596") and begin.value_wh == pytest.approx(259.6)
    assert begin.resolution_wh == pytest.approx(0.1)
    assert begin.time == datetime(2019, 8, 13, 10, 3, 15, tzinfo=timezone.utc)
    assert ocmf.verify(record, KEBA_KEY).valid
    tampered = ocmf.parse(KEBA_RECORD.replace('"RV":0.2597', '"RV":0.2598'))
    check = ocmf.verify(tampered, KEBA_KEY)
    assert not check.valid and "does not verify" in check.reason


@pytest.mark.parametrize("curve, sa", [(ec.SECP256R1(), "ECDSA-secp256r1-SHA256"),
                                       (ec.SECP384R1(), "ECDSA-secp384r1-SHA384"),
                                       (ec.BrainpoolP256R1(), "ECDSA-brainpool256r1-SHA256")])
def test_built_records_verify_and_tampering_fails(curve: ec.EllipticCurve, sa: str) -> None:
    key = ec.generate_private_key(curve)
    text = ocmf.sign(_payload(), key)
    record = ocmf.parse(text)
    assert record.signature.algorithm == sa
    assert '"RV":1.2340' in record.payload_text  # the decimals as written
    assert ocmf.verify(record, ocmf.public_key_hex(key)).valid
    other = ec.generate_private_key(curve)
    assert not ocmf.verify(record, ocmf.public_key_hex(other)).valid
    assert not ocmf.verify(ocmf.parse(text.replace('"RV":1.2340', '"RV":1.2341')), ocmf.public_key_hex(key)).valid


def test_key_on_another_curve_is_named() -> None:
    record = ocmf.parse(ocmf.sign(_payload(), ec.generate_private_key(ec.SECP256R1())))
    check = ocmf.verify(record, ocmf.public_key_hex(ec.generate_private_key(ec.SECP384R1())))
    assert not check.valid and "secp384r1" in check.reason


def test_base64_key_and_sha256_on_p384() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    record = ocmf.parse(ocmf.sign(_payload(), key, sa="ECDSA-secp384r1-SHA256"))  # OCMF table 22 pairing
    import base64
    b64 = base64.b64encode(bytes.fromhex(ocmf.public_key_hex(key))).decode()
    assert ocmf.verify(record, b64).valid


def test_omitted_reading_fields_come_from_the_reading_before() -> None:
    p = _payload()
    p["RD"].append({"TM": "2024-05-01T10:05:00,000+0000 S", "TX": "E", "RV": Decimal("2.0000")})
    reading = ocmf.parse(ocmf.sign(p, ec.generate_private_key(ec.SECP256R1()))).payload.readings[1]
    assert (reading.unit, reading.status, reading.obis, reading.value_wh) == ("kWh", "G", "01-00:B0.08.00*FF", 2000.0)


@pytest.mark.parametrize("text, field", [
    ("XYZ|{}|{}", "header"),
    ('OCMF|{"PG":"T1"}', "sections"),
    ('OCMF|{"PG":"T1",|{"SD":"00"}', "payload section"),
    ('OCMF|[]|{"SD":"00"}', "payload section"),
    ('OCMF|{"MS":"1","RD":[]}|{"SD":"00"}', "PG"),
    ('OCMF|{"PG":"T01","MS":"1","RD":[]}|{"SD":"00"}', "PG"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[]}|{"SD":"00"}', "RD"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[{"TM":"2024-05-01 10:00","ST":"G"}]}|{"SD":"00"}', "RD[0].TM"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[{"TM":"2024-05-01T10:00:00,000+0000 S","ST":"?"}]}|{"SD":"00"}', "RD[0].ST"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[{"TM":"2024-05-01T10:00:00,000+0000 S","ST":"G","RV":"1"}]}|{"SD":"00"}',
     "RD[0].RV"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[{"TM":"2024-05-01T10:00:00,000+0000 S","ST":"G"}]}|{}', "SD"),
    ('OCMF|{"PG":"T1","MS":"1","RD":[{"TM":"2024-05-01T10:00:00,000+0000 S","ST":"G"}]}|'
     '{"SA":"RSA-2048","SD":"00"}', "SA"),
])
def test_malformed_records_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ocmf.OcmfError, match="^" + re.escape(field)):
        ocmf.parse(text)


def test_bad_public_key_is_an_error() -> None:
    with pytest.raises(ocmf.OcmfError, match="public key"):
        ocmf.verify(ocmf.parse(KEBA_RECORD), "not a key")
