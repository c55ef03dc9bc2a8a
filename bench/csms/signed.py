"""Signed meter values as the DUT sends them, collected per transaction (version-neutral).

- OCPP 1.6 (section 7.45 SampledValue, 7.46 ValueFormat): a sampled value with
  `format: SignedData` carries the signed data in `value` ("a signed binary data block,
  encoded as hex data"; Eichrecht chargers mostly put the OCMF text there as it is), in
  MeterValues and in StopTransaction.transactionData. The meter's public key is not in the
  message: chargers publish it in a configuration key (`MeterPublicKey<connector>`), read by
  the `enable_signed_meter_values` step.
- OCPP 2.0.1 / 2.1 (2.0.1 part 2 2.46 SignedMeterValueType): a sampled value carries
  `signedMeterValue` {signedMeterData (base64), signingMethod, encodingMethod, publicKey
  (base64; "" when OCPPCommCtrlr.PublicKeyWithSignedMeterValue says not to send it)} next to
  its plain `value`, in TransactionEvent (and MeterValues) meterValue.

Only the transport is handled here; what the data says is bench/ocmf.py's and the checks'.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SignedValue:
    t_mono_s: float                # receipt on the bench clock
    timestamp: datetime | None     # the MeterValue's timestamp
    context: str                   # the sampled value's context (Transaction.Begin, Sample.Periodic, ...)
    measurand: str
    data: str                      # the signed data as sent (1.6 value; 2.x signedMeterData, still base64)
    message: str                   # "MeterValues", "StopTransaction", "TransactionEvent Ended", ...
    plain_value: float | None = None      # 2.x: the unsigned value of the same sampled value (Wh)
    signing_method: str | None = None     # 2.x signingMethod
    encoding_method: str | None = None    # 2.x encodingMethod (e.g. "OCMF")
    public_key: str | None = None         # 2.x publicKey as sent (base64), None/"" when not sent

    def text(self) -> str | None:
        """The signed record as text (OCMF starts 'OCMF|'), or None when it cannot be decoded."""
        return decode_signed_data(self.data, base64_first=self.encoding_method is not None)


def decode_signed_data(data: str, base64_first: bool = False) -> str | None:
    """Signed data as text: as sent when it is text already (OCMF), else decoded from hex (1.6
    ValueFormat SignedData) or base64 (2.x signedMeterData). None when none of them gives text."""
    raw = data.strip()
    if raw.startswith("OCMF|"):
        return raw
    decoders = (_b64, _hex) if base64_first else (_hex, _b64)
    for decode in decoders:
        text = decode(raw)
        if text is not None and text.strip():
            return text.strip()
    return None


def _hex(text: str) -> str | None:
    try:
        return bytes.fromhex(text).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _b64(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def signed_values_16(meter_values: list[dict], received: float, message: str,
                     parse_time) -> list[SignedValue]:
    """The SignedData sampled values of 1.6 MeterValue objects (snake_case, as the library hands
    them over)."""
    out = []
    for mv in meter_values or []:
        timestamp = parse_time(message, mv.get("timestamp"))
        for sv in mv.get("sampled_value", []):
            if sv.get("format") == "SignedData" and isinstance(sv.get("value"), str):
                out.append(SignedValue(received, timestamp, sv.get("context", "Sample.Periodic"),
                                       sv.get("measurand", "Energy.Active.Import.Register"), sv["value"], message))
    return out


def signed_values_2x(meter_values: list[dict] | None, received: float, message: str,
                     parse_time) -> list[SignedValue]:
    """The sampled values with a signedMeterValue in 2.x MeterValueType objects (wire camelCase)."""
    out = []
    for mv in meter_values or []:
        timestamp = parse_time(message, mv.get("timestamp"))
        for sv in mv.get("sampledValue", []):
            signed = sv.get("signedMeterValue")
            if not isinstance(signed, dict) or not isinstance(signed.get("signedMeterData"), str):
                continue
            multiplier = int((sv.get("unitOfMeasure") or {}).get("multiplier", 0))
            unit = (sv.get("unitOfMeasure") or {}).get("unit", "Wh")
            try:
                plain = float(sv["value"]) * 10 ** multiplier * (1000.0 if unit == "kWh" else 1.0)
            except (KeyError, TypeError, ValueError):
                plain = None
            out.append(SignedValue(received, timestamp, sv.get("context", "Sample.Periodic"),
                                   sv.get("measurand", "Energy.Active.Import.Register"), signed["signedMeterData"],
                                   message, plain, signed.get("signingMethod"), signed.get("encodingMethod"),
                                   signed.get("publicKey") or None))
    return out
