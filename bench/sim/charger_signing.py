"""The simulated charger's signing meters (Eichrecht): OCMF records of its energy register.

One signing meter per connector, each with an ECDSA P-256 key generated when the charger starts
(OCMF's default algorithm, ECDSA-secp256r1-SHA256) and its own transaction pagination counter.
Each signed value is one OCMF record with one reading (TX B at the transaction's begin, C while
it runs, E at its end), sent the way the charger's OCPP version carries it:
- 1.6: an extra sampled value `format: SignedData` whose value is the OCMF text, for the contexts
  listed in MeterValuesSignatureContexts / StopTransactionSignatureContexts (OCMF best practice
  keys; empty = unsigned); the public key in the read-only key MeterPublicKey<connector>.
- 2.x: `signedMeterValue` on the energy register's sampled value when SampledDataCtrlr.SignReadings
  (AlignedDataCtrlr.SignReadings for clock-aligned values) is true; publicKey as
  OCPPCommCtrlr.PublicKeyWithSignedMeterValue says (Never, OncePerTransaction, EveryMeterValue).

The ocmf_* faults of bench/sim/faults.py change what the meters sign.
"""
from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from bench import ocmf
from bench.sim import faults as F
from bench.sim.device_model import Variable

ENERGY = "Energy.Active.Import.Register"
OBIS_IMPORT = "01-00:01.08.00*FF"  # active energy import, total (OBIS 1-0:1.8.0)
CONTEXTS_16 = ("MeterValuesSignatureContexts", "StopTransactionSignatureContexts")
CONTEXT_TX_CODES = {"Transaction.Begin": "B", "Transaction.End": "E"}  # anything else in a transaction: C


def signing_variables() -> list[Variable]:
    """The 2.x device model variables of a charger that can sign (2.0.1 part 2 2.7.3, 2.7.14, 2.7.17)."""
    return [Variable("SampledDataCtrlr", "SignReadings", "false", data_type="boolean"),
            Variable("AlignedDataCtrlr", "SignReadings", "false", data_type="boolean"),
            Variable("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue", "Never", data_type="OptionList",
                     values_list="Never,OncePerTransaction,EveryMeterValue")]


@dataclass
class MeterSigner:
    """One connector's signing meter."""

    serial: str
    gateway_serial: str
    faults: frozenset[str]
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    page: int = 0  # the last T pagination number used
    begin_wh: float = 0.0  # the register at the current transaction's begin
    skipped: bool = False  # ocmf_pagination_gap: the page skipped in this transaction
    key_sent_for: Any = None  # 2.x OncePerTransaction: the transaction the key went with

    @property
    def public_key_hex(self) -> str:
        return ocmf.public_key_hex(self.key)

    def record(self, *, energy_wh: float, resolution_wh: float, time: datetime, tx_code: str, id_tag: str) -> str:
        """One signed OCMF record of the register `energy_wh` (unrounded) at `time`."""
        if tx_code == "B":
            self.begin_wh, self.skipped = energy_wh, False
        counted = energy_wh
        if F.OCMF_ENERGY_TAMPERED in self.faults:
            counted = self.begin_wh + F.magnitude(F.OCMF_ENERGY_TAMPERED, "gain") * (energy_wh - self.begin_wh)
        self.page += 1
        if F.OCMF_PAGINATION_GAP in self.faults and tx_code != "B" and not self.skipped:
            self.page += 1  # one record of the stream never sent
            self.skipped = True
        serial = self.serial + ("-X" if F.OCMF_SERIAL_CHANGES in self.faults and tx_code != "B" else "")
        payload = {"FV": "1.0", "GI": "evbench VirtualCharger", "GS": self.gateway_serial, "GV": "1.0.0",
                   "PG": f"T{self.page}", "MV": "evbench", "MM": "VirtualMeter", "MS": serial, "MF": "1.0",
                   "IS": bool(id_tag), "IL": "TRUSTED" if id_tag else "NONE", "IF": ["OCPP_AUTH"] if id_tag else [],
                   "IT": "CENTRAL" if id_tag else "NONE", "ID": id_tag,
                   "RD": [{"TM": ocmf.format_time(time, "S"), "TX": tx_code, "RV": _kwh(counted, resolution_wh),
                           "RI": OBIS_IMPORT, "RU": "kWh", "RT": "AC", "EF": "", "ST": "G"}]}
        text = ocmf.sign(payload, self.key)
        if F.OCMF_BAD_SIGNATURE in self.faults:  # the signature of another payload
            other = ocmf.sign({**payload, "PG": f"T{self.page + 1000}"}, self.key)
            text = f"{text.rsplit('|', 1)[0]}|{other.rsplit('|', 1)[1]}"
        return text


def _kwh(energy_wh: float, resolution_wh: float) -> Decimal:
    """The register in kWh with the decimals of its resolution (0.1 Wh -> 4 decimals)."""
    step = Decimal(str(resolution_wh)) / 1000
    return (Decimal(str(energy_wh)) / 1000).quantize(step.normalize())


class Signing:
    """The charger's signing meters, one per connector."""

    def __init__(self, serial: str, connectors: int, faults: Iterable[str]) -> None:
        wrong = frozenset(faults)
        self.meters = {c: MeterSigner(f"{serial}-M{c}", serial, wrong) for c in range(1, connectors + 1)}
        self.faults = wrong

    def public_keys_16(self) -> dict[str, str]:
        """MeterPublicKey<connector> -> the meter's key (hex DER)."""
        return {f"MeterPublicKey{c}": m.public_key_hex for c, m in self.meters.items()}

    def record(self, connector_id: int, *, energy_wh: float, resolution_wh: float, time: datetime, context: str,
               id_tag: str) -> str | None:
        """The signed record of a reading in a transaction; None when the charger leaves it unsigned
        (only the ocmf_unsigned_end fault does, for the end)."""
        if context == "Transaction.End" and F.OCMF_UNSIGNED_END in self.faults:
            return None
        return self.meters[connector_id].record(energy_wh=energy_wh, resolution_wh=resolution_wh, time=time,
                                                tx_code=CONTEXT_TX_CODES.get(context, "C"), id_tag=id_tag)

    # ---- 1.6 --------------------------------------------------------------------------------------
    @staticmethod
    def add_16(value: dict, record: str | None, context: str) -> dict:
        """A 1.6 MeterValue with the signed record as one more sampled value (format SignedData)."""
        if record is None:
            return value
        signed = {"value": record, "context": context, "format": "SignedData", "measurand": ENERGY,
                  "location": "Outlet"}
        return {**value, "sampledValue": [*value["sampledValue"], signed]}

    # ---- 2.x --------------------------------------------------------------------------------------
    def add_2x(self, value: dict, record: str | None, connector_id: int, transaction_id: Any, key_mode: str,
               energy_wh: float) -> dict:
        """A 2.x MeterValue whose energy register sampled value carries the signedMeterValue."""
        if record is None:
            return value
        meter = self.meters[connector_id]
        send_key = key_mode == "EveryMeterValue" or (key_mode == "OncePerTransaction"
                                                     and meter.key_sent_for != transaction_id)
        if send_key:
            meter.key_sent_for = transaction_id
        signed = {"signedMeterData": base64.b64encode(record.encode()).decode(),
                  "signingMethod": ocmf.algorithm_for(meter.key), "encodingMethod": "OCMF",
                  "publicKey": base64.b64encode(bytes.fromhex(meter.public_key_hex)).decode() if send_key else ""}
        sampled = [dict(sv) for sv in value["sampledValue"]]
        target = next((sv for sv in sampled if sv.get("measurand", ENERGY) == ENERGY and "phase" not in sv), None)
        if target is None:
            context = next((sv["context"] for sv in sampled if "context" in sv), "Sample.Periodic")
            target = {"value": energy_wh, "context": context, "measurand": ENERGY, "unitOfMeasure": {"unit": "Wh"}}
            sampled.append(target)
        target["signedMeterValue"] = signed
        return {**value, "sampledValue": sampled}
