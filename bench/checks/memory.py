"""A soak's memory (bench policy): the charger's (virtual lab) and the bench's memory stay flat.

`memory_flat`: the growth per hour of the memory marks the scenario's memory_mark steps took.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from bench.checks.base import CheckInputs, check_record, errored
from bench.checks.declare import CheckDef, CheckParams, Measures, NonNegative, from_config, setting
from bench.record import CheckRecord, Measurement, Verdict, judge

RULE_MEMORY = "bench policy: tolerances.memory_growth_kib_per_h (a soak's memory stays flat)"


class MemoryFlatParams(CheckParams):
    growth_kib_per_h: NonNegative | None = None
    DEFAULTS: ClassVar = {"growth_kib_per_h": from_config("tolerances.memory_growth_kib_per_h")}


def memory_flat(inp: CheckInputs) -> CheckRecord:
    """The charger's (virtual lab) and the bench's memory, marked at each session boundary, grow
    no faster than the policy allows: the slope of a least-squares line through the marks after
    the first (tracing starts there: the first interval is warm-up). The evidence log the bench
    keeps on purpose is reported, not judged; a real charger's memory is not observable."""
    name = "memory_flat"
    marks = inp.memory_marks[1:]
    if len(marks) < 2 or marks[-1].t_mono_s - marks[0].t_mono_s <= 0:
        return errored(name, f"{len(inp.memory_marks)} memory marks: a soak needs at least 3 "
                            "(memory_mark steps; the first interval is warm-up)")
    limit = float(setting(MemoryFlatParams.of(inp.params).resolved(inp.position, inp.tolerances).growth_kib_per_h))
    t_h = np.array([m.t_mono_s for m in marks]) / 3600.0
    span_h = float(t_h[-1] - t_h[0])
    share = min(1.0, span_h * 3600.0 / inp.duration_s)

    def growth(label: str, kib: np.ndarray, low: float | None, high: float | None, note: str,
               verdict: Verdict | None = None) -> Measurement:
        slope = float(np.polyfit(t_h, kib, 1)[0])
        text = f"{note}: {kib[0]:.0f} -> {kib[-1]:.0f} KiB over {span_h:.2f} h ({len(marks)} marks)"
        if verdict is not None:
            return Measurement(label, round(slope, 1), "KiB/h", low, high, verdict, note=text,
                               samples=len(marks), coverage=share)
        return judge(label, round(slope, 1), "KiB/h", low, high, note=text, rule=RULE_MEMORY,
                     samples=len(marks), coverage=share)

    ms = [growth("bench_growth_kib_per_h", np.array([m.bench_bytes for m in marks]) / 1024, None, limit,
                 "the bench outside its evidence")]
    if all(m.dut_bytes is not None for m in marks):
        ms.append(growth("charger_growth_kib_per_h", np.array([m.dut_bytes or 0 for m in marks]) / 1024, None,
                         limit, "the simulated charger"))
    else:
        ms.append(Measurement("charger_growth_kib_per_h", None, "KiB/h", None, limit, Verdict.SKIPPED,
                              note="not measured: a real charger's memory is not visible over OCPP"))
    ms.append(growth("evidence_log_growth_kib_per_h", np.array([m.evidence_bytes for m in marks]) / 1024, None,
                     None, "reported, not judged: the DUT's messages and the scenario's samples the bench keeps",
                     verdict=Verdict.SKIPPED))
    return check_record(name, ms, {"growth_kib_per_h": limit})



CHECKS = {
    "memory_flat": CheckDef(memory_flat, MemoryFlatParams, (
        Measures("bench_growth_kib_per_h", "KiB/h", "<= {growth_kib_per_h:g} KiB/h", RULE_MEMORY),
        Measures("charger_growth_kib_per_h", "KiB/h", "<= {growth_kib_per_h:g} KiB/h (virtual lab only)",
                 RULE_MEMORY),
        Measures("evidence_log_growth_kib_per_h", "KiB/h", "none: reported, not judged", RULE_MEMORY),
    ), physical=False, summary="the charger's and the bench's memory stay flat"),
}
