"""OCMF (Open Charge Metering Format, SAFE e.V.): signed meter records, parsed and verified.

A record is `OCMF|{payload JSON}|{signature JSON}`. The signature is an ECDSA signature over the
payload section's exact bytes (OCMF "Sections"; RV keeps its decimals as sent, so the payload is
never re-serialised before verifying). The public key is the meter's, published out of band
(OCPP: a configuration key or the signedMeterValue's publicKey) as DER SubjectPublicKeyInfo,
in hex or base64.

Field names follow the OCMF specification (tables 1-8, 10, 19, 22); the dataclasses name them in
words and keep the OCMF key in a comment. `parse()` raises `OcmfError` naming the field and the
reason for anything that is not a well-formed record; `verify()` says whether a signature holds.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_ALGORITHM = "ECDSA-secp256r1-SHA256"  # OCMF table 8: SA default (since OCMF 0.4)

# OCMF table 22 curve names (and the brainpoolP synonyms chargers send) -> cryptography curves
CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1, "secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpool256r1": ec.BrainpoolP256R1, "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpool384r1": ec.BrainpoolP384R1, "brainpoolP384r1": ec.BrainpoolP384R1,
}
# table 22 pairs the 384-bit curves with SHA-256; transparency software also accepts SHA-384 pairings
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384,
                                                 "SHA512": hashes.SHA512}
TIME_STATUSES = {"U": "unknown, unsynchronized", "I": "informative", "S": "synchronized", "R": "relative"}  # t.19
METER_STATUSES = {"N", "G", "T", "D", "R", "M", "X", "I", "O", "S", "E", "F"}  # table 10 (G: OK)
TX_CODES = {"B", "C", "X", "E", "L", "R", "A", "P", "S", "T"}  # table 7 TX
END_CODES = {"E", "L", "R", "A", "P"}  # the transaction's end: E, or its more precise codes
UNITS_WH = {"kWh": Decimal(1000), "Wh": Decimal(1)}  # table 20 energy units

_TM = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})[,.](\d{3})([+-])(\d{2})(\d{2}) ([A-Z])$")
_PG = re.compile(r"^([TF])(0|[1-9]\d*)$")


class OcmfError(ValueError):
    """Not a well-formed OCMF record: the message names the field and the reason."""


@dataclass(frozen=True)
class Reading:
    """One RD entry, with the fields it omitted taken from the reading before it (OCMF 'Readings')."""

    time: datetime               # TM, aware
    time_status: str             # TM's synchronisation letter (table 19)
    status: str                  # ST (table 10)
    transaction: str | None      # TX (B begin, C charging, E/L/R/A/P end, ...)
    value: Decimal | None        # RV, as written
    obis: str | None             # RI
    unit: str | None             # RU
    current_type: str | None     # RT
    error_flags: str             # EF ('' when none)

    @property
    def value_wh(self) -> float | None:
        """RV in Wh when it is an energy (RU kWh or Wh), else None."""
        if self.value is None or self.unit not in UNITS_WH:
            return None
        return float(self.value * UNITS_WH[self.unit])

    @property
    def resolution_wh(self) -> float | None:
        """One step of RV's last written digit, in Wh (RV keeps its decimals: OCMF table 7)."""
        if self.value is None or self.unit not in UNITS_WH:
            return None
        exponent = self.value.as_tuple().exponent
        return float(Decimal(1).scaleb(int(exponent)) * UNITS_WH[self.unit]) if isinstance(exponent, int) else None


@dataclass(frozen=True)
class Payload:
    format_version: str | None           # FV
    gateway_id: str | None               # GI
    gateway_serial: str | None           # GS
    gateway_version: str | None          # GV
    pagination: str                      # PG, e.g. "T12"
    meter_vendor: str | None             # MV
    meter_model: str | None              # MM
    meter_serial: str | None             # MS (optional when GS identifies the signing component)
    meter_firmware: str | None           # MF
    identified: bool | None              # IS
    identification_level: str | None    # IL
    identification_flags: tuple[str, ...]  # IF
    identification_type: str | None     # IT
    identification_data: str | None     # ID
    tariff_text: str | None              # TT
    charge_point_id_type: str | None     # CT
    charge_point_id: str | None          # CI
    readings: tuple[Reading, ...]        # RD
    extra: dict[str, Any] = field(default_factory=dict)  # vendor extension keys (U..Z) and others

    @property
    def signer_id(self) -> str:
        """What identifies the signing meter: MS, else GS (OCMF 'Relation of Serial Numbers')."""
        return self.meter_serial or self.gateway_serial or ""

    @property
    def pagination_context(self) -> str:
        return self.pagination[0]

    @property
    def pagination_number(self) -> int:
        return int(self.pagination[1:])


@dataclass(frozen=True)
class Signature:
    algorithm: str   # SA
    encoding: str    # SE: hex or base64
    mime_type: str   # SM: application/x-der
    data: str        # SD

    def der(self) -> bytes:
        try:
            return bytes.fromhex(self.data) if self.encoding == "hex" else base64.b64decode(self.data, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise OcmfError(f"SD: not {self.encoding} ({exc})") from None


@dataclass(frozen=True)
class OcmfRecord:
    payload: Payload
    signature: Signature
    payload_text: str  # the payload section exactly as received: what was signed


@dataclass(frozen=True)
class SignatureCheck:
    valid: bool
    reason: str  # why not, or what verified


def parse(text: str) -> OcmfRecord:
    """An OCMF record from its text (also with line breaks between the sections)."""
    text = text.strip()
    if not text.startswith("OCMF|"):
        raise OcmfError(f"header: an OCMF record starts with 'OCMF|', got {text[:12]!r}")
    body = text[len("OCMF|"):]
    cut = body.rfind("|")  # the signature JSON holds no '|'; a payload's free text (TT) might
    if cut < 0:
        raise OcmfError("sections: no '|' between the payload and the signature section")
    payload_text, signature_text = body[:cut].strip(), body[cut + 1:].strip()
    payload = _payload(_json_object("payload", payload_text))
    return OcmfRecord(payload, _signature(_json_object("signature", signature_text)), payload_text)


def _json_object(section: str, text: str) -> dict[str, Any]:
    try:
        obj = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise OcmfError(f"{section} section: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise OcmfError(f"{section} section: a JSON object is required, got {type(obj).__name__}")
    return obj


def _text(obj: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise OcmfError(f"{key}: required field missing")
        return None
    if not isinstance(value, str):
        raise OcmfError(f"{key}: a string is required, got {value!r}")
    return value


def _payload(obj: dict[str, Any]) -> Payload:
    pagination = _text(obj, "PG", required=True) or ""
    if not _PG.match(pagination):
        raise OcmfError(f"PG: '<T|F><number without leading zeros>' required, got {pagination!r}")
    identified = obj.get("IS")
    if identified is not None and not isinstance(identified, bool):
        raise OcmfError(f"IS: a boolean is required, got {identified!r}")
    flags = obj.get("IF", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise OcmfError(f"IF: an array of strings is required, got {flags!r}")
    rd = obj.get("RD")
    if not isinstance(rd, list) or not rd:
        raise OcmfError("RD: at least one reading is required")
    known = {"FV", "GI", "GS", "GV", "PG", "MV", "MM", "MS", "MF", "IS", "IL", "IF", "IT", "ID", "TT", "CT", "CI", "RD"}
    return Payload(
        format_version=_text(obj, "FV"), gateway_id=_text(obj, "GI"), gateway_serial=_text(obj, "GS"),
        gateway_version=_text(obj, "GV"), pagination=pagination, meter_vendor=_text(obj, "MV"),
        meter_model=_text(obj, "MM"), meter_serial=_text(obj, "MS"),
        meter_firmware=_text(obj, "MF"), identified=identified, identification_level=_text(obj, "IL"),
        identification_flags=tuple(flags), identification_type=_text(obj, "IT"),
        identification_data=_text(obj, "ID"), tariff_text=_text(obj, "TT"),
        charge_point_id_type=_text(obj, "CT"), charge_point_id=_text(obj, "CI"),
        readings=_readings(rd), extra={k: v for k, v in obj.items() if k not in known})


def _readings(rd: list[Any]) -> tuple[Reading, ...]:
    out: list[Reading] = []
    inherited: dict[str, Any] = {}
    for i, raw in enumerate(rd):
        if not isinstance(raw, dict):
            raise OcmfError(f"RD[{i}]: a JSON object is required")
        entry = {**inherited, **raw}  # fields equal to the previous reading's are omitted
        inherited = entry
        where = f"RD[{i}]"
        tm = entry.get("TM")
        if not isinstance(tm, str):
            raise OcmfError(f"{where}.TM: required (time and synchronisation state)")
        time, time_status = parse_time(tm, f"{where}.TM")
        status = entry.get("ST")
        if status not in METER_STATUSES:
            raise OcmfError(f"{where}.ST: one of {''.join(sorted(METER_STATUSES))} required (table 10), got {status!r}")
        tx = entry.get("TX")
        if tx is not None and tx not in TX_CODES:
            raise OcmfError(f"{where}.TX: one of {''.join(sorted(TX_CODES))} required, got {tx!r}")
        value = entry.get("RV")
        if value is not None and not isinstance(value, Decimal):
            raise OcmfError(f"{where}.RV: a number is required, got {value!r}")
        unit = entry.get("RU")
        if value is not None and not isinstance(unit, str):
            raise OcmfError(f"{where}.RU: required with RV")
        flags = entry.get("EF", "")
        if not isinstance(flags, str):
            raise OcmfError(f"{where}.EF: a string is required, got {flags!r}")
        out.append(Reading(time, time_status, status, tx, value, entry.get("RI"), unit, entry.get("RT"), flags))
    return tuple(out)


def parse_time(tm: str, where: str = "TM") -> tuple[datetime, str]:
    """OCMF TM ('2018-07-24T13:22:04,000+0200 S') -> (aware time, synchronisation state)."""
    m = _TM.match(tm)
    if not m:
        raise OcmfError(f"{where}: '<YYYY-MM-DDThh:mm:ss,fff+hhmm> <U|I|S|R>' required, got {tm!r}")
    base, ms, sign, hh, mm, state = m.groups()
    if state not in TIME_STATUSES:
        raise OcmfError(f"{where}: time status {state!r} is not one of U, I, S, R (table 19)")
    offset = timedelta(hours=int(hh), minutes=int(mm)) * (1 if sign == "+" else -1)
    try:
        naive = datetime.fromisoformat(base)
    except ValueError as exc:
        raise OcmfError(f"{where}: {exc}") from None
    return naive.replace(microsecond=int(ms) * 1000, tzinfo=timezone(offset)), state


def format_time(t: datetime, status: str = "S") -> str:
    """An aware time as OCMF TM, with its synchronisation state."""
    t = t.astimezone(timezone.utc)
    return f"{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}+0000 {status}"


def _signature(obj: dict[str, Any]) -> Signature:
    sig = Signature(algorithm=_text(obj, "SA") or DEFAULT_ALGORITHM, encoding=_text(obj, "SE") or "hex",
                    mime_type=_text(obj, "SM") or "application/x-der", data=_text(obj, "SD", required=True) or "")
    if sig.encoding not in ("hex", "base64"):
        raise OcmfError(f"SE: 'hex' or 'base64' required, got {sig.encoding!r}")
    if sig.mime_type != "application/x-der":
        raise OcmfError(f"SM: only 'application/x-der' is defined, got {sig.mime_type!r}")
    algorithm(sig.algorithm)
    return sig


def algorithm(name: str) -> tuple[type[ec.EllipticCurve], type[hashes.HashAlgorithm]]:
    """The curve and hash an SA value names ('ECDSA-<curve>-<hash>', OCMF table 22)."""
    parts = name.split("-")
    if len(parts) != 3 or parts[0] != "ECDSA" or parts[1] not in CURVES or parts[2] not in HASHES:
        raise OcmfError(f"SA: unknown signature algorithm {name!r} (ECDSA-<curve>-<hash>, OCMF table 22)")
    return CURVES[parts[1]], HASHES[parts[2]]


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """A meter's public key: DER SubjectPublicKeyInfo in hex (how chargers show it) or base64
    (OCPP 2.x publicKey), or PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            try:
                der = bytes.fromhex(text)
            except ValueError:
                der = base64.b64decode(text, validate=True)
            key = serialization.load_der_public_key(der)
    except (ValueError, binascii.Error) as exc:
        raise OcmfError(f"public key: not a DER/PEM SubjectPublicKeyInfo in hex or base64 ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise OcmfError(f"public key: an elliptic-curve key is required, got {type(key).__name__}")
    return key


def verify(record: OcmfRecord, public_key: str | ec.EllipticCurvePublicKey) -> SignatureCheck:
    """Whether the record's signature holds for the payload as received, under `public_key`."""
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    curve, digest = algorithm(record.signature.algorithm)
    if not isinstance(key.curve, curve):
        return SignatureCheck(False, f"the key is on {key.curve.name}, SA names {record.signature.algorithm}")
    try:
        der = record.signature.der()
    except OcmfError as exc:
        return SignatureCheck(False, str(exc))
    try:
        key.verify(der, record.payload_text.encode("utf-8"), ec.ECDSA(digest()))
    except InvalidSignature:
        return SignatureCheck(False, f"{record.signature.algorithm} signature does not verify")
    except ValueError as exc:  # malformed DER
        return SignatureCheck(False, f"SD: not a DER ECDSA signature ({exc})")
    return SignatureCheck(True, f"{record.signature.algorithm} signature verifies")


# ---- building records (the simulated charger's meter signs with these) ----------------------

def public_key_hex(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    """DER SubjectPublicKeyInfo in upper-case hex, as chargers publish it."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()


def algorithm_for(key: ec.EllipticCurvePrivateKey) -> str:
    """The SA naming a key's curve with the hash of its size (SHA-256 for 256 bits, SHA-384 above)."""
    names = {ec.SECP256R1: "secp256r1", ec.SECP384R1: "secp384r1", ec.BrainpoolP256R1: "brainpool256r1",
             ec.BrainpoolP384R1: "brainpool384r1"}
    name = names.get(type(key.curve))
    if name is None:
        raise OcmfError(f"no OCMF algorithm for curve {key.curve.name}")
    return f"ECDSA-{name}-{'SHA256' if key.curve.key_size <= 256 else 'SHA384'}"


def payload_json(payload: dict[str, Any]) -> str:
    """Compact JSON of a payload; Decimal RV values keep their written decimals."""
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return _Raw(str(o))
        raise TypeError(type(o).__name__)
    text = json.dumps(payload, separators=(",", ":"), default=default)
    return re.sub(r'\{"__raw__":"([^"]*)"\}', r"\1", text)


class _Raw(dict):
    """A number written as given (json cannot emit a Decimal with its trailing zeros)."""

    def __init__(self, text: str) -> None:
        super().__init__(__raw__=text)


def sign(payload: dict[str, Any] | str, key: ec.EllipticCurvePrivateKey, sa: str | None = None) -> str:
    """An OCMF record: the payload (a dict, or JSON text used as is) signed with `key`."""
    text = payload if isinstance(payload, str) else payload_json(payload)
    sa = sa or algorithm_for(key)
    _, digest = algorithm(sa)
    der = key.sign(text.encode("utf-8"), ec.ECDSA(digest()))
    return f'OCMF|{text}|{json.dumps({"SA": sa, "SD": der.hex().upper()}, separators=(",", ":"))}'
