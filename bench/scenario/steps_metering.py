"""Steps of the metering method of a calibration lab: load points named after the meter's currents.

A calibration lab tests an energy meter at load points named by its ratings, not by amperes:
Imin and Itr of the meter (MID 2014/32/EU Annex V definitions, `dut.meter_imin_a` /
`meter_itr_a`), 10 % and 100 % of the EV's maximum current (`ev.max_current_a`, the most the
bench's EV draws; NIST HB 44 3.40 N.5.2 tests an EVSE near its maximum and at no more than 10 %
of it). Each point lasts long enough for the DUT's energy register to step at least
`register_steps` times (the German type-examination method: at least 100 steps of the
register's last digit), computed from its resolution and the point's power.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from bench.config import NotBool, PositionConfig, TolerancesConfig
from bench.scenario.steps import StepContext, StepDef, _Args

LoadPointName = Literal["imin", "itr", "imax_10pct", "imax"]
# The EV draws somewhat less than its setpoint (an on-board charger's under-draw, a low mains
# voltage): the point lasts this much longer than the nominal power needs for its register steps.
DURATION_MARGIN = 1.5
# The points at the meter's Imin and Itr open a range of MID Annex V Table 2 (Imin <= I < Itr,
# Itr <= I <= Imax): they are aimed this much above the rated current, so that the load's and the
# reference's own uncertainty keep the measured current inside the range the point tests.
RANGE_ENTRY_MARGIN = 1.02
# Like a lab adjusting its load until the test current flows: the load's own current reading is
# brought to the point (a few rounds, each after the EV's reaction time), within this share.
ADJUST_ROUNDS = 8  # rounds without current (the charger still closing its contactor) count too
ADJUST_WITHIN = 0.01


class LoadPointArgs(_Args):
    """Draw the named load point on `phases` phases and hold it for `register_steps` steps of the
    DUT's register (at least `min_seconds` of steady load: the DUT's whole-second timestamps
    widen an energy comparison by about 1 s over the interval)."""

    point: LoadPointName
    phases: Annotated[Literal[1, 3], NotBool] = 3
    register_steps: int = Field(100, ge=1, le=100_000)
    min_seconds: float = Field(0.0, ge=0, le=24 * 3600)


def load_point_current_a(position: PositionConfig, point: LoadPointName) -> float:
    """The current per phase of a load point, from the config; ValueError naming the key it needs."""
    dut, ev = position.dut, position.ev
    if point == "imax":
        return ev.max_current_a
    if point == "imax_10pct":
        return 0.1 * ev.max_current_a
    value = dut.meter_imin_a if point == "imin" else dut.meter_itr_a
    if value is None:
        raise ValueError(f"load point {point}: positions[{position.name}].dut.meter_{point}_a is not configured "
                         "(the meter's rated current, from its MID certificate or datasheet)")
    return value * RANGE_ENTRY_MARGIN


def settle_s(position: PositionConfig, tolerances: TolerancesConfig) -> float:
    """Time from a load change until the load point is steady and the DUT has sent a register value in it."""
    return (position.dut.reaction_time_s + position.ev.reaction_time_s + tolerances.settle_margin_s
            + 2 * position.dut.meter_sample_interval_s)


def load_point_seconds(position: PositionConfig, tolerances: TolerancesConfig, args: LoadPointArgs) -> float:
    """How long to hold the point: its register steps at the nominal power (with margin), at least
    `min_seconds`, plus the settling time the checks leave out."""
    current = load_point_current_a(position, args.point)
    power_w = current * position.dut.nominal_voltage_v * args.phases
    steps_s = args.register_steps * position.dut.meter_resolution_wh / power_w * 3600.0 * DURATION_MARGIN
    return max(steps_s, args.min_seconds) + settle_s(position, tolerances)


async def load_point(ctx: StepContext, args: LoadPointArgs) -> None:
    seconds = load_point_seconds(ctx.position, ctx.tolerances, args)
    current = load_point_current_a(ctx.position, args.point)
    ev = ctx.need_ev()
    if ev.settings.phases != args.phases:
        await ev.set_phases(args.phases)
        ctx.timeline.note_ev_phases(ctx.now(), args.phases)
    t0 = ctx.now()
    ev.set_behaviour(max_current_a=current)
    ctx.timeline.note_ev_max(t0, current)
    setpoint = await _adjust_load(ctx, current)
    ctx.notes.append(f"load point {args.point}: {current:.3g} A on {args.phases} phase(s) for {seconds:.0f} s "
                     f"(load set to {setpoint:.3g} A)")
    # the point's steady part lasts its full length after the adjustment, whatever that took
    steady_s = seconds - settle_s(ctx.position, ctx.tolerances)
    await ctx.clock.sleep(max(seconds - (ctx.now() - t0), steady_s))


async def _adjust_load(ctx: StepContext, target_a: float) -> float:
    """Bring the smallest phase current the loads read to `target_a` (never above the EV's
    configured maximum): an EV under-draws its setpoint, a calibration lab's load is adjusted until
    the test current flows. The timeline keeps the point's own current: the adjustments are the
    load's fine tuning, and the checks classify each point by the reference meter's reading."""
    ev = ctx.need_ev()
    setpoint = target_a
    most = ctx.position.ev.max_current_a
    for _ in range(ADJUST_ROUNDS):
        await ctx.clock.sleep(ctx.position.ev.reaction_time_s + ctx.tolerances.settle_margin_s)
        drawn = [r.current_a for r in [await load.read() for load in ev.loads] if r.current_a]
        if not drawn:
            continue
        if abs(min(drawn) - target_a) <= ADJUST_WITHIN * target_a:
            break
        wanted = min(most, setpoint * target_a / min(drawn))
        if wanted == setpoint:
            break
        setpoint = wanted
        ev.set_behaviour(max_current_a=setpoint)
    return setpoint


STEPS: dict[str, StepDef] = {"load_point": StepDef(LoadPointArgs, load_point)}
