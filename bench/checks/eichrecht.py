"""Checks of signed meter values (Eichrecht, OCMF), judged three ways:

- `signed_values_verify`: every signed value of every transaction (its end included) is an OCMF
  record whose signature verifies against the meter's public key;
- `signed_values_coherent`: the records of a transaction make one story: pagination without gap
  or repeat, begin and end records bracketing it, one meter, timestamps within it and status
  flags without error, the user it names is the transaction's idTag / idToken, and its begin and
  end readings are those the OCPP messages report unsigned;
- `signed_energy_matches_reference`: the signed energy (last minus first signed reading) agrees
  with the reference meter within the DUT's MID class, over >= 100 steps of the signed register.

Transparency software only does the first; a record claiming an absurd energy still verifies.

Signing is optional (OCPP 2.0.1 part 2 2.7.3; 1.6 has no standard for it): a DUT that sent no
signed value in any transaction of the scenario is SKIPPED (NOT SUPPORTED), unless lab_config.yaml
declares SignedMeterValues supported, which makes it a FAIL. Once it signs, every transaction
must carry its signed values.

Keys (which one verifies a record): the one lab_config.yaml declares for the record's meter
serial (`dut.meter_public_keys`), else the publicKey of the signedMeterValue (2.x; sent once per
transaction or with every value), else the `MeterPublicKey<connector>` configuration key (1.6,
read by the enable_signed_meter_values step). A key the DUT publishes that differs from the
declared one is a FAIL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from bench import ocmf
from bench.csms.signed import SignedValue
from bench.record import CheckRecord, Measurement, Verdict, failed, judge
from bench.checks.base import CheckInputs, check_record, covered_share, skipped
from bench.checks.declare import CheckDef, Measures, NoParams, setting
from bench.checks.reference import (ENERGY_LIMIT, EnergyParams, EnergyTrace, judge_energy, reference_energy,
                                    reference_energy_step_wh)

FEATURE = "SignedMeterValues"
RULE_SIGNATURE = ("OCMF (SAFE e.V.) signature section: ECDSA over the payload section with the meter's key "
                  "(SA, table 22); OCPP 2.0.1 E02.FR.14 / J02.FR.21, 1.6 7.46 SignedData")
RULE_END_SIGNED = ("OCPP 2.0.1 E06 / J02.FR.21 (SignReadings: signed Transaction.End value), 1.6 StopTransaction "
                   "transactionData; OCMF TX=E: the end reading of a billed transaction is signed")
RULE_PAGINATION = "OCMF Pagination (PG, table 2): the T counter counts on by 1 with every record, no gap, no repeat"
RULE_BRACKET = "OCMF Readings TX (table 7): B at the begin of the transaction, E (or L, R, A, P) at its end"
RULE_METER = "OCMF Meter Identification (MS, table 3): one meter signs the whole transaction"
RULE_STATUS = ("OCMF table 7/10/19: meter status ST = G (OK), no error flags EF, a time that is not U "
               "(unknown); readings stamped within the transaction, in pagination order")
RULE_IDENTIFICATION = "OCMF User Assignment (IS, ID, table 4): the record names the transaction's user"
RULE_UNSIGNED = ("OCPP 1.6 meterStart/meterStop, 2.0.1 Transaction.Begin/End register and each sampled value's "
                 "value: the unsigned readings are those the meter signed")
RULE_KEY = "dut.meter_public_keys (lab_config.yaml): the DUT publishes its meter's declared key"
RULE_SIGNED_ENERGY = "MID 2014/32/EU Annex V: the signed energy within the maximum permissible error of the DUT's class"


# ---- the records of a transaction ----------------------------------------------------------

@dataclass(frozen=True)
class SignedRecord:
    """One distinct signed value of a transaction, parsed (record None: why not, in `error`)."""

    value: SignedValue
    text: str | None
    record: ocmf.OcmfRecord | None
    error: str = ""


def _label(tx: Any, n: int) -> str:
    return f"tx{tx.transaction_id if isinstance(tx.transaction_id, int) else n}"


def transaction_records(tx: Any) -> list[SignedRecord]:
    """The transaction's signed values, each distinct record once (a Begin value the stop message
    repeats is the same record), in order of receipt."""
    out: list[SignedRecord] = []
    seen: set[str] = set()
    for value in tx.signed_values:
        text = value.text()
        if text is not None and text in seen:
            continue
        if text is not None:
            seen.add(text)
        if text is None:
            out.append(SignedRecord(value, None, None, f"{value.message}: signed data is neither text, hex nor "
                                                       "base64 text"))
            continue
        try:
            out.append(SignedRecord(value, text, ocmf.parse(text)))
        except ocmf.OcmfError as exc:
            out.append(SignedRecord(value, text, None, f"{value.message}: not an OCMF record: {exc}"))
    return out


def _signs(inp: CheckInputs) -> bool:
    return any(tx.signed_values for tx in inp.transactions)


def _declared(inp: CheckInputs) -> bool:
    return FEATURE in (inp.position.dut.features.supported or [])


def _not_signing(name: str, inp: CheckInputs) -> CheckRecord | None:
    """SKIPPED (optional feature) or FAIL (declared) when no transaction carries a signed value."""
    if not inp.transactions:
        return CheckRecord(name, Verdict.ERROR, message="no transaction in this scenario")
    if _signs(inp):
        return None
    why = f"no signed meter value in any of the {len(inp.transactions)} transactions"
    if _declared(inp):
        m = failed("signed_values", "count", f"{why}, although lab_config.yaml declares {FEATURE} supported",
                   RULE_END_SIGNED)
        return CheckRecord(name, Verdict.FAIL, [m], m.note)
    return skipped(name, f"NOT SUPPORTED: {why} (signed meter values are optional)")


def _der(key: str) -> bytes:
    return ocmf.load_public_key(key).public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeyChoice:
    key: str | None
    source: str


def choose_key(inp: CheckInputs, tx: Any, rec: SignedRecord) -> KeyChoice:
    """The key that verifies `rec` (see the module notes for the order)."""
    signer = rec.record.payload.signer_id if rec.record else ""
    declared = inp.position.dut.meter_public_keys
    if signer in declared:
        return KeyChoice(declared[signer], f"dut.meter_public_keys[{signer!r}]")
    if rec.value.public_key:
        return KeyChoice(rec.value.public_key, "the signedMeterValue's publicKey")
    sent = [v.public_key for v in tx.signed_values if v.public_key]
    if sent:
        return KeyChoice(sent[0], "the publicKey sent once in the transaction")
    published = inp.expected.meter_public_keys
    own = f"MeterPublicKey{tx.connector_id}"
    if own in published:
        return KeyChoice(published[own], f"configuration key {own}")
    if len(published) == 1:
        (name, key), = published.items()
        return KeyChoice(key, f"configuration key {name}")
    return KeyChoice(None, "no public key: the DUT published none (declare it in dut.meter_public_keys)")


# ---- (a) signatures --------------------------------------------------------------------------

def signed_values_verify(inp: CheckInputs) -> CheckRecord:
    """Every signed value of every transaction verifies against its meter's key, and every
    transaction has a signed end value."""
    name = "signed_values_verify"
    if (early := _not_signing(name, inp)) is not None:
        return early
    ms: list[Measurement] = []
    summary: list[dict[str, Any]] = []
    for n, tx in enumerate(inp.transactions, 1):
        label = _label(tx, n)
        recs = transaction_records(tx)
        ms += _judge_signatures(inp, tx, label, recs, summary)
        ms.append(_judge_end_signed(tx, label, recs))
        ms += _judge_published_keys(inp, tx, label)
    return check_record(name, ms, {"transactions": summary})


def _judge_signatures(inp: CheckInputs, tx: Any, label: str, recs: list[SignedRecord],
                      summary: list[dict[str, Any]]) -> list[Measurement]:
    """Invalid records (unreadable, or their signature fails) are the DUT's FAIL; records no key
    could be found for are not compared: ERROR when they are all the evidence left."""
    bad: list[str] = []
    sources: set[str] = set()
    verified, unkeyed, no_key = 0, 0, ""
    for rec in recs:
        if rec.record is None:
            bad.append(rec.error)
            continue
        choice = choose_key(inp, tx, rec)
        if choice.key is None:
            unkeyed, no_key = unkeyed + 1, choice.source
            continue
        sources.add(choice.source)
        try:
            check = ocmf.verify(rec.record, choice.key)
        except ocmf.OcmfError as exc:
            bad.append(f"{rec.value.message} {rec.record.payload.pagination}: {exc} ({choice.source})")
            continue
        if check.valid:
            verified += 1
        else:
            bad.append(f"{rec.value.message} {rec.record.payload.pagination}: {check.reason}")
    summary.append({"transaction_id": tx.transaction_id, "records": len(recs), "verified": verified,
                    "invalid": len(bad), "keys": sorted(sources), "problems": bad[:5]})
    name = f"{label}_signatures_invalid"
    if not recs:
        return [failed(name, "count", f"transaction {tx.transaction_id}: no signed value although the DUT signs "
                                      "others", RULE_END_SIGNED)]
    if unkeyed and not bad:
        return [judge(name, None, "count", note=f"{unkeyed} of {len(recs)} records not compared: {no_key}")]
    note = f"{verified} of {len(recs)} records verify, keys: {', '.join(sorted(sources)) or '-'}"
    if unkeyed:
        note += f"; {unkeyed} not compared ({no_key})"
    return [judge(name, len(bad), "count", None, 0, rule=RULE_SIGNATURE, samples=verified + len(bad),
                  note=note + (f"; {bad[0]}" if bad else ""))]


def _is_end(rec: SignedRecord) -> bool:
    if rec.value.context == "Transaction.End":
        return True
    return rec.record is not None and any(r.transaction in ocmf.END_CODES for r in rec.record.payload.readings)


def _judge_end_signed(tx: Any, label: str, recs: list[SignedRecord]) -> Measurement:
    if tx.t_stop_mono_s is None:
        return failed(f"{label}_end_signed", "bool", f"transaction {tx.transaction_id} had not ended: no stop "
                                                     "message, no end value", RULE_END_SIGNED)
    ends = [r for r in recs if _is_end(r)]
    return judge(f"{label}_end_signed", 1.0 if ends else 0.0, "bool", 1.0, 1.0, rule=RULE_END_SIGNED,
                 samples=len(recs), note=(f"signed end value in {ends[0].value.message}" if ends else
                                          f"no signed Transaction.End value / TX=E record among {len(recs)}"))


def _judge_published_keys(inp: CheckInputs, tx: Any, label: str) -> list[Measurement]:
    """A key the DUT sends or publishes equals the one declared for its meter (when one is)."""
    declared = inp.position.dut.meter_public_keys
    if not declared:
        return []
    want = {_der(k) for k in declared.values()}
    published = {v.public_key for v in tx.signed_values if v.public_key} | set(inp.expected.meter_public_keys.values())
    if not published:
        return []
    strange = []
    for key in sorted(published):
        try:
            if _der(key) not in want:
                strange.append(key[:24] + "...")
        except ocmf.OcmfError as exc:
            strange.append(f"unreadable key ({exc})")
    return [judge(f"{label}_published_keys_not_declared", len(strange), "count", None, 0, rule=RULE_KEY,
                  samples=len(published), note="; ".join(strange) or f"{len(published)} published key(s) as declared")]


# ---- (b) coherence ---------------------------------------------------------------------------

def signed_values_coherent(inp: CheckInputs) -> CheckRecord:
    name = "signed_values_coherent"
    if (early := _not_signing(name, inp)) is not None:
        return early
    ms: list[Measurement] = []
    for n, tx in enumerate(inp.transactions, 1):
        label = _label(tx, n)
        recs = [r for r in transaction_records(tx) if r.record is not None]
        if not recs:
            ms.append(failed(f"{label}_records", "count", f"transaction {tx.transaction_id}: no readable OCMF "
                                                          "record", RULE_BRACKET))
            continue
        ms += _judge_pagination(label, recs)
        ms += _judge_bracket(label, recs)
        ms.append(_judge_one_meter(label, recs))
        ms += _judge_times_and_flags(inp, tx, label, recs)
        ms.append(_judge_identification(tx, label, recs))
        ms += _judge_unsigned(inp, tx, label, recs)
    return check_record(name, ms, {"clock_tolerance_s": inp.tolerances.clock_tolerance_s})


def _paged(recs: list[SignedRecord]) -> list[SignedRecord]:
    """The transaction-context records in pagination order."""
    return sorted((r for r in recs if r.record and r.record.payload.pagination_context == "T"),
                  key=lambda r: r.record.payload.pagination_number if r.record else 0)


def _judge_pagination(label: str, recs: list[SignedRecord]) -> list[Measurement]:
    paged = _paged(recs)
    numbers = [r.record.payload.pagination_number for r in paged if r.record]
    if not numbers:
        return [failed(f"{label}_pagination", "count", "no record in the transaction context (PG T...)",
                       RULE_PAGINATION)]
    repeats = len(numbers) - len(set(numbers))  # same PG, different record (identical ones are merged)
    distinct = sorted(set(numbers))
    gaps = [(a, b) for a, b in zip(distinct, distinct[1:]) if b != a + 1]
    missing = sum(b - a - 1 for a, b in gaps)
    return [
        judge(f"{label}_pagination_gap_records", missing, "count", None, 0, rule=RULE_PAGINATION,
              samples=len(numbers), note=(f"T{distinct[0]}..T{distinct[-1]}" + (
                  f"; missing after {', '.join(f'T{a}' for a, _ in gaps[:5])}" if gaps else ""))),
        judge(f"{label}_pagination_repeats", repeats, "count", None, 0, rule=RULE_PAGINATION, samples=len(numbers),
              note="records with the same PG and different content" if repeats else "no PG used twice"),
    ]


def _judge_bracket(label: str, recs: list[SignedRecord]) -> list[Measurement]:
    paged = _paged(recs) or recs
    first, last = paged[0].record, paged[-1].record
    assert first is not None and last is not None
    begins = first.payload.readings[0].transaction == "B"
    ends = last.payload.readings[-1].transaction in ocmf.END_CODES
    return [judge(f"{label}_begin_record", float(begins), "bool", 1, 1, rule=RULE_BRACKET, samples=len(paged),
                  note=f"first record {first.payload.pagination}: TX={first.payload.readings[0].transaction}"),
            judge(f"{label}_end_record", float(ends), "bool", 1, 1, rule=RULE_BRACKET, samples=len(paged),
                  note=f"last record {last.payload.pagination}: TX={last.payload.readings[-1].transaction}")]


def _judge_one_meter(label: str, recs: list[SignedRecord]) -> Measurement:
    serials = sorted({r.record.payload.signer_id for r in recs if r.record})
    return judge(f"{label}_meter_serials", len(serials), "count", 1, 1, rule=RULE_METER, samples=len(recs),
                 note=", ".join(serials))


def _judge_times_and_flags(inp: CheckInputs, tx: Any, label: str, recs: list[SignedRecord]) -> list[Measurement]:
    slack = inp.tolerances.clock_tolerance_s
    stop = tx.t_stop_mono_s if tx.t_stop_mono_s is not None else inp.t_end
    worst, where = 0.0, ""
    flags: list[str] = []
    order = 0
    last_t = None
    readings = 0
    for rec in _paged(recs) or recs:
        assert rec.record is not None
        for r in rec.record.payload.readings:
            readings += 1
            t = inp.mono_of(r.time)
            out = max(tx.t_start_mono_s - slack - 1.0 - t, t - (stop + slack))  # TM ms; begin may be truncated
            if out > worst:
                worst, where = out, f"{rec.record.payload.pagination} TM {r.time.isoformat()}"
            if last_t is not None and t < last_t - 1e-3:
                order += 1
            last_t = t
            if r.status != "G" or r.error_flags or r.time_status == "U":
                flags.append(f"{rec.record.payload.pagination}: ST={r.status} EF={r.error_flags!r} "
                             f"time status {r.time_status}")
    return [judge(f"{label}_reading_time_outside_s", worst, "s", None, 0.0, rule=RULE_STATUS, samples=readings,
                  note=where or f"all {readings} readings within the transaction (clock tolerance {slack:g} s)"),
            judge(f"{label}_readings_out_of_order", order, "count", None, 0, rule=RULE_STATUS, samples=readings),
            judge(f"{label}_readings_flagged", len(flags), "count", None, 0, rule=RULE_STATUS, samples=readings,
                  note="; ".join(flags[:3]) or "ST=G, no EF, time status set")]


def _same_id(a: str, b: str) -> bool:
    return a.strip().upper() == b.strip().upper()


def _judge_identification(tx: Any, label: str, recs: list[SignedRecord]) -> Measurement:
    named = [r.record.payload for r in recs if r.record and r.record.payload.identified
             and r.record.payload.identification_data]
    if not tx.id_tag:
        return judge(f"{label}_identification_mismatch", 0, "count", None, 0, rule=RULE_IDENTIFICATION,
                     samples=len(recs), note="the transaction names no idTag / idToken: nothing to match")
    if not named:  # OCMF makes the assignment optional (IS false): nothing to compare, not a fault
        return Measurement(f"{label}_identification_mismatch", None, "count", None, 0, Verdict.SKIPPED,
                           note=f"not compared: no record of transaction {tx.transaction_id} assigns its user "
                                "(IS true with an ID); OCMF allows records without one",
                           rule=RULE_IDENTIFICATION, samples=len(recs))
    wrong = [p.identification_data or "" for p in named if not _same_id(p.identification_data or "", tx.id_tag)]
    return judge(f"{label}_identification_mismatch", len(wrong), "count", None, 0, rule=RULE_IDENTIFICATION,
                 samples=len(named), note=(f"ID {wrong[0]!r} for idTag {tx.id_tag!r}" if wrong
                                           else f"{len(named)} records name {tx.id_tag!r}"))


def _energy_readings(recs: list[SignedRecord]) -> list[tuple[SignedRecord, ocmf.Reading]]:
    return [(r, rd) for r in _paged(recs) or recs if r.record for rd in r.record.payload.readings
            if rd.value_wh is not None]


def _judge_unsigned(inp: CheckInputs, tx: Any, label: str, recs: list[SignedRecord]) -> list[Measurement]:
    """Signed begin/end readings against meterStart/meterStop (1.6: whole Wh) or the 2.x register,
    and each 2.x signed value against the plain value beside it."""
    readings = _energy_readings(recs)
    ms: list[Measurement] = []
    whole_wh = isinstance(tx.transaction_id, int)  # 1.6 meterStart/meterStop are integers
    for which, unsigned, pick in (("begin", tx.meter_start_wh, lambda rd: rd.transaction == "B"),
                                  ("end", tx.meter_stop_wh, lambda rd: rd.transaction in ocmf.END_CODES)):
        found = [(rec, rd) for rec, rd in readings if pick(rd)]
        if not found or unsigned is None:
            continue  # the bracket / end-signed measurements judge a missing record
        _, rd = found[0] if which == "begin" else found[-1]
        allowed = max(inp.position.dut.meter_resolution_wh, rd.resolution_wh or 0.0, 1.0 if whole_wh else 0.0)
        ms.append(judge(f"{label}_{which}_signed_minus_unsigned_wh", float((rd.value_wh or 0.0) - unsigned), "Wh",
                        -allowed, allowed, rule=RULE_UNSIGNED, samples=1,
                        note=f"signed {rd.value_wh:.3f} Wh, reported {unsigned:.3f} Wh"))
    beside = [(r, rd) for r, rd in readings if r.value.plain_value is not None]
    if beside:
        diffs = [abs((rd.value_wh or 0.0) - (r.value.plain_value or 0.0)) for r, rd in beside]
        i = max(range(len(diffs)), key=diffs.__getitem__)
        allowed = max(inp.position.dut.meter_resolution_wh, beside[i][1].resolution_wh or 0.0)
        ms.append(judge(f"{label}_signed_vs_plain_value_wh", diffs[i], "Wh", None, allowed, rule=RULE_UNSIGNED,
                        samples=len(beside), note=f"largest of {len(beside)} signed values against their value"))
    return ms


# ---- (c) signed energy against the reference ---------------------------------------------------

@dataclass(frozen=True)
class SignedEnergy:
    t_first: float
    t_last: float
    wh: float
    resolution_wh: float
    readings: int
    time_resolution_s: float  # a reading stamped t was taken in [t, t + this)


def signed_energy(inp: CheckInputs, tx: Any) -> SignedEnergy | None:
    """The energy between the transaction's first and last signed register readings."""
    recs = [r for r in transaction_records(tx) if r.record is not None]
    readings = _energy_readings(recs)
    if len(readings) < 2:
        return None
    (_, a), (_, b) = readings[0], readings[-1]
    return SignedEnergy(inp.mono_of(a.time), inp.mono_of(b.time), (b.value_wh or 0.0) - (a.value_wh or 0.0),
                        max(a.resolution_wh or 0.0, b.resolution_wh or 0.0), len(readings),
                        _time_resolution_s(inp, [rd for _, rd in readings]))


def _time_resolution_s(inp: CheckInputs, readings: list[ocmf.Reading]) -> float:
    """TM has milliseconds (OCMF table 7); a meter whose every TM is a whole second stamps seconds
    (as OCPP timestamps often are): configured, else 1 s then, else 1 ms."""
    if inp.tolerances.timestamp_resolution_s is not None:
        return inp.tolerances.timestamp_resolution_s
    return 1.0 if all(rd.time.microsecond == 0 for rd in readings) else 0.001


def signed_energy_matches_reference(inp: CheckInputs) -> CheckRecord:
    name = "signed_energy_matches_reference"
    if not inp.has("meter_energy_import_wh"):
        return skipped(name, "no reference power meter on this position")
    if (early := _not_signing(name, inp)) is not None:
        return early
    args = EnergyParams.of(inp.params).resolved(inp.position, inp.tolerances)
    mpe = setting(args.energy_tolerance_pct)
    steps = args.min_register_steps
    energy = EnergyTrace.of(inp)
    ms: list[Measurement] = []
    rows: list[dict[str, Any]] = []
    for n, tx in enumerate(inp.transactions, 1):
        label = f"{_label(tx, n)}_signed_energy_error_pct"
        se = signed_energy(inp, tx)
        row: dict[str, Any] = {"transaction_id": tx.transaction_id, "signed_wh": None, "reported_wh": tx.energy_wh,
                               "measured_wh": None}
        rows.append(row)
        if se is None:
            ms.append(failed(label, "%", f"transaction {tx.transaction_id}: fewer than two signed energy readings",
                             RULE_BRACKET))
            continue
        row["signed_wh"] = se.wh
        ref = reference_energy(energy, se.t_first, se.t_last, se.time_resolution_s, not_after=tx.t_stop_mono_s)
        min_wh = steps * max(se.resolution_wh, reference_energy_step_wh(inp.trace))
        if ref is None:
            ms.append(judge(label, None, "%", note="the recorded reference does not reach the signed readings"))
            continue
        row["measured_wh"] = ref.nominal_wh
        if ref.nominal_wh < min_wh:
            ms.append(judge(label, None, "%", note=f"reference energy {ref.nominal_wh:.1f} Wh is below {steps} steps "
                                                   f"of the signed register ({min_wh:g} Wh): lengthen the scenario"))
            continue
        m = judge_energy(label, se.wh, ref, mpe, inp, se.t_last,
                          f"signed {se.wh:.1f} Wh vs reference {ref.nominal_wh:.1f} Wh over "
                          f"{se.t_last - se.t_first:.0f} s ({se.readings} signed readings, "
                          f"{ref.nominal_wh / max(se.resolution_wh, 1e-9):.0f} register steps)",
                          se.readings, covered_share(1, se.t_last - se.t_first, inp))
        m.rule = RULE_SIGNED_ENERGY
        ms.append(m)
    return check_record(name, ms, {"energy_tolerance_pct": mpe, "min_register_steps": steps, "transactions": rows})



CHECKS = {
    "signed_values_verify": CheckDef(signed_values_verify, NoParams, (
        Measures("signed_values", "count", ">= 1 when dut.features declares SignedMeterValues", RULE_END_SIGNED),
        Measures("tx{n}_signatures_invalid", "count", "0", RULE_SIGNATURE),
        Measures("tx{n}_end_signed", "bool", "1", RULE_END_SIGNED),
        Measures("tx{n}_published_keys_not_declared", "count", "0 (dut.meter_public_keys when declared)", RULE_KEY),
    ), physical=False, summary="every signed value verifies against its meter's key"),
    "signed_values_coherent": CheckDef(signed_values_coherent, NoParams, (
        Measures("signed_values", "count", ">= 1 when dut.features declares SignedMeterValues", RULE_END_SIGNED),
        Measures("tx{n}_records", "count", ">= 1 readable OCMF record", RULE_BRACKET),
        Measures("tx{n}_pagination", "count", "records with a transaction context (PG T...)", RULE_PAGINATION),
        Measures("tx{n}_pagination_gap_records", "count", "0", RULE_PAGINATION),
        Measures("tx{n}_pagination_repeats", "count", "0", RULE_PAGINATION),
        Measures("tx{n}_begin_record", "bool", "1", RULE_BRACKET),
        Measures("tx{n}_end_record", "bool", "1", RULE_BRACKET),
        Measures("tx{n}_meter_serials", "count", "1", RULE_METER),
        Measures("tx{n}_reading_time_outside_s", "s", "<= 0 s (± {tolerances.clock_tolerance_s:g} s clock tolerance)",
                 RULE_STATUS),
        Measures("tx{n}_readings_out_of_order", "count", "0", RULE_STATUS),
        Measures("tx{n}_readings_flagged", "count", "0", RULE_STATUS),
        Measures("tx{n}_identification_mismatch", "count", "0", RULE_IDENTIFICATION),
        Measures("tx{n}_{begin_or_end}_signed_minus_unsigned_wh", "Wh", "within the registers' resolution",
                 RULE_UNSIGNED),
        Measures("tx{n}_signed_vs_plain_value_wh", "Wh", "within the registers' resolution", RULE_UNSIGNED),
    ), physical=False, summary="a transaction's signed records make one story"),
    "signed_energy_matches_reference": CheckDef(signed_energy_matches_reference, EnergyParams, (
        Measures("signed_values", "count", ">= 1 when dut.features declares SignedMeterValues", RULE_END_SIGNED),
        Measures("tx{n}_signed_energy_error_pct", "%", ENERGY_LIMIT, RULE_SIGNED_ENERGY),
    ), summary="the signed energy against the reference meter"),
}
