"""Steps of long runs: marking memory at session boundaries (see bench/memory.py)."""
from __future__ import annotations

from bench.memory import MemoryMark
from bench.scenario.steps import NoArgs, StepContext, StepDef

MARKS = "memory_marks"


def marks_of(ctx: StepContext) -> list[MemoryMark]:
    return ctx.state(MARKS, list)


async def memory_mark(ctx: StepContext, _args: NoArgs) -> None:
    """Mark the charger's and the bench's memory now (the `memory_flat` check fits the marks)."""
    if ctx.memory is None:
        raise RuntimeError("memory_mark: this position has no memory probe")
    marks_of(ctx).append(ctx.memory.mark(ctx.now()))


STEPS: dict[str, StepDef] = {"memory_mark": StepDef(NoArgs, memory_mark)}
