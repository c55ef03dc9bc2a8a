"""Steps of the eichrecht block: signed meter values (OCMF), enabled and their public key read.

The judging is in bench/checks/eichrecht.py; a step here only asks the DUT to sign and notes where it
published its meter's public key (timeline.meter_public_keys, handed to the checks).
- 1.6 has no standard setting: the OCMF specification's "Best Practice - Additional OCPP
  Configuration Keys" (SAFE e.V.) recommends `MeterValuesSignatureContexts` and
  `StopTransactionSignatureContexts` (the ReadingContexts to sign); a charger without them may
  sign on its own. The public key is a configuration key `MeterPublicKey<connector>`.
- 2.0.1 / 2.1: `SampledDataCtrlr.SignReadings` and `AlignedDataCtrlr.SignReadings` (part 2
  2.7.3, 2.7.14; a station that cannot sign SHALL NOT report them) and
  `OCPPCommCtrlr.PublicKeyWithSignedMeterValue` (2.7.17: Never, OncePerTransaction,
  EveryMeterValue) for the key in the signedMeterValue.
"""
from __future__ import annotations

from typing import Literal

from bench.scenario.steps import NotSupportedByDut, StepContext, StepDef, StepFailed, _Args

CONTEXTS_16 = {"MeterValuesSignatureContexts": "Sample.Periodic,Sample.Clock",
               "StopTransactionSignatureContexts": "Transaction.Begin,Transaction.End"}
PUBLIC_KEY_PREFIX_16 = "MeterPublicKey"
SIGN_READINGS_2X = (("SampledDataCtrlr", "SignReadings"), ("AlignedDataCtrlr", "SignReadings"))
PUBLIC_KEY_WITH_VALUE_2X = ("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue")
ABSENT = ("UnknownComponent", "UnknownVariable", "NotSupportedAttributeType")


class SignedValuesArgs(_Args):
    # 2.x: how often the DUT sends its public key with the signed values (None: leave as it is)
    public_key_with_values: Literal["Never", "OncePerTransaction", "EveryMeterValue"] | None = "OncePerTransaction"


async def enable_signed_meter_values(ctx: StepContext, args: SignedValuesArgs) -> None:
    declared = "SignedMeterValues" in (ctx.position.dut.features.supported or [])
    if ctx.ocpp_version == "1.6":
        await _enable_16(ctx)
    else:
        await _enable_2x(ctx, args, declared)


async def _enable_16(ctx: StepContext) -> None:
    for key, value in CONTEXTS_16.items():
        status = await ctx.dut.change_configuration(key, value)
        if status not in ("Accepted", "RebootRequired"):
            ctx.notes.append(f"{key}={value}: {status} (an optional key of the OCMF best practice: the DUT may "
                             "sign without it)")
    answer = await ctx.dut.get_configuration(None)
    keys = {str(k["key"]): str(k["value"]) for k in answer.get("configurationKey", [])
            if str(k.get("key", "")).startswith(PUBLIC_KEY_PREFIX_16) and k.get("value")}
    ctx.timeline.meter_public_keys.update(keys)
    if not keys:
        ctx.notes.append(f"no {PUBLIC_KEY_PREFIX_16}<connector> configuration key with a value: signed values "
                         "are verified against dut.meter_public_keys only")


async def _enable_2x(ctx: StepContext, args: SignedValuesArgs, declared: bool) -> None:
    results = await ctx.dut.set_variables([(ref, "true") for ref in SIGN_READINGS_2X])
    sampled = results[0].get("attributeStatus")
    if sampled in ABSENT:
        why = (f"SampledDataCtrlr.SignReadings: {sampled} (OCPP 2.0.1 part 2 2.7.3: a charging station that "
               "does not support signed meter values does not report it)")
        if declared:
            raise StepFailed(f"{why}, although lab_config.yaml declares SignedMeterValues supported")
        raise NotSupportedByDut(why)
    if sampled not in ("Accepted", "RebootRequired"):
        raise StepFailed(f"SetVariables SampledDataCtrlr.SignReadings=true: {sampled}; the variable is ReadWrite "
                         "(OCPP 2.0.1 part 2 2.7.3)")
    aligned = results[1].get("attributeStatus")
    if aligned not in ("Accepted", "RebootRequired"):
        ctx.notes.append(f"AlignedDataCtrlr.SignReadings: {aligned} (optional)")
    if args.public_key_with_values is not None:
        (answer,) = await ctx.dut.set_variables([(PUBLIC_KEY_WITH_VALUE_2X, args.public_key_with_values)])
        if answer.get("attributeStatus") not in ("Accepted", "RebootRequired"):
            ctx.notes.append(f"OCPPCommCtrlr.PublicKeyWithSignedMeterValue={args.public_key_with_values}: "
                             f"{answer.get('attributeStatus')} (optional, 2.0.1 part 2 2.7.17): signed values are "
                             "verified against the keys the DUT sends, or dut.meter_public_keys")


STEPS: dict[str, StepDef] = {
    "enable_signed_meter_values": StepDef(SignedValuesArgs, enable_signed_meter_values),
}
