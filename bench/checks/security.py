"""The security probes' outcome (OCPP security whitepaper / 2.0.1 A).

`security_probes_pass`: every probe the scenario's steps made (certificates and TLS versions the
DUT must refuse, password changes, downgrade requests) found the DUT doing what is required.
"""
from __future__ import annotations

from bench.checks.base import RULE_SECURITY, CheckInputs, check_record, errored
from bench.checks.declare import CheckDef, Measures, NoParams
from bench.record import CheckRecord, Verdict, judge


def security_probes_pass(inp: CheckInputs) -> CheckRecord:
    """Every security probe of the scenario's steps (TLS certificates and versions the DUT must
    refuse, password changes, downgrade requests) found the DUT doing what is required: one
    measurement per probe, 1 = as required. SKIPPED when no probe applies at the bench's
    security profile (e.g. TLS probes on plain ws)."""
    name = "security_probes_pass"
    probes = inp.expected.security_probes
    params = {"probes": [{"name": p.name, "required": p.required, "applicable": p.applicable, "passed": p.passed,
                          "detail": p.detail} for p in probes]}
    applicable = [p for p in probes if p.applicable]
    if not probes:
        return errored(name, "no security probe in this scenario (add a probe_* or security step)", params)
    if not applicable:
        return CheckRecord(name, Verdict.SKIPPED, message="; ".join(sorted({p.detail for p in probes})), params=params)
    ms = [judge(f"{p.name}_as_required", None if p.passed is None else float(p.passed), "bool", 1.0, 1.0,
                t_mono_s=p.t_mono_s, note=f"must {p.required}: {p.detail}", rule=RULE_SECURITY, samples=1)
          for p in applicable]
    return check_record(name, ms, params)


CHECKS = {
    "security_probes_pass": CheckDef(security_probes_pass, NoParams, (
        Measures("{probe}_as_required", "bool", "1 (the DUT did what its security profile requires)", RULE_SECURITY),
    ), physical=False, summary="every applicable security probe as required"),
}
