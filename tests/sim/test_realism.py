"""Real signals: every knob of `virtual_lab.realism`, swept to its stated edge, shows up where
it happens physically (plant, reference meter on the wire, simulated charger), stays inside
its band, and is not zero. `realism: ideal` turns every one of them off."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.clock import parse_iso
from bench.config import ConfigError, LabConfig, load_config
from bench.sim.charger_meter import ChargerMeter
from bench.sim.lab import VirtualLab as BenchVirtualLab
from bench.sim.matrix import free_port_config
from bench.sim.plant import Plant, PlantSettings
from bench.sim.realism import MEASURING_CYCLE_S, Realism, RealismSettings, SensedPlant, TruncatedClock
from bench.testing.clock import ManualClock
from instruments.iec61851 import CpState, current_to_duty_pct
from instruments.registry import create_instrument

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock_speed() -> float:
    return 4.0  # charger timing below is in clock seconds; the test clock runs 4x real time


def default_data() -> dict:
    return yaml.safe_load((ROOT / "lab_config.yaml").read_text())


# ---- configuration ------------------------------------------------------------------------

def test_the_shipped_config_has_realism_on_with_the_stated_defaults():
    cfg = load_config(ROOT / "lab_config.yaml")
    knobs = cfg.virtual_lab.realism_on
    assert knobs is not None
    assert (knobs.current_noise_pct, knobs.ev_underdraw_a, knobs.mains_v, knobs.pwm_jitter_pct,
            knobs.timestamp_resolution_s, knobs.seed) == (1.0, (0.3, 0.8), (225.0, 235.0), 0.3, 1.0, 1)
    # the charger's reaction defaults to [0.2 s, the DUT's allowed time]
    assert knobs.reaction_range_s(cfg.positions[0].dut) == (0.2, cfg.positions[0].dut.reaction_time_s)


def test_realism_ideal_turns_it_off_and_a_missing_key_means_on():
    data = default_data()
    data["virtual_lab"]["realism"] = "ideal"
    assert LabConfig.model_validate(data).virtual_lab.realism_on is None
    del data["virtual_lab"]["realism"]
    assert LabConfig.model_validate(data).virtual_lab.realism_on is not None


@pytest.mark.parametrize("knobs, message", [
    ({"reaction_time_s": [0.2, 3.5]}, "beyond the reaction time 3.0 s allowed"),
    ({"pwm_jitter_pct": 0.6}, "less than or equal to 0.5"),
    ({"mains_v": [240, 230]}, "min 240.0 is above max 230.0"),
    ({"ev_underdraw_a": [-0.1, 0.5]}, "must not be negative"),
    ({"current_noise_pct": 1, "noise": 2}, "unknown key"),
])
def test_bad_realism_is_refused_with_the_key_and_the_reason(tmp_path, knobs, message):
    data = default_data()
    data["virtual_lab"]["realism"] = knobs
    path = tmp_path / "lab_config.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "virtual_lab" in str(exc.value) and message in str(exc.value)


# ---- plant: mains and the car's under-draw ---------------------------------------------------

EDGES = RealismSettings(current_noise_pct=5.0, reaction_time_s=(0.5, 1.5), ev_underdraw_a=(0.0, 2.0),
                        mains_v=(207.0, 253.0), pwm_jitter_pct=0.5, timestamp_resolution_s=1.0, seed=11)


def realism_plant(settings: RealismSettings = EDGES) -> tuple[ManualClock, Plant]:
    clock = ManualClock()
    plant = Plant(clock, PlantSettings(phases=3), realism=Realism(settings, clock))
    plant.set_contactor(True)
    for p in range(3):
        plant.set_load(p, enabled=True, setpoint_a=16.0)
    return clock, plant


def sample(clock: ManualClock, read, seconds: float, step_s: float) -> np.ndarray:
    out = []
    for _ in range(round(seconds / step_s)):
        clock.t += step_s
        out.append(read())
    return np.array(out)


def test_mains_voltage_wanders_per_phase_inside_its_band():
    lo, hi = EDGES.mains_v  # IEC 60038: 230 V +-10 %
    clock, plant = realism_plant()
    for p in range(3):
        clock.t = 0.0
        v = sample(clock, lambda p=p: plant.voltage_v(p), 3600, 1.0)
        assert v.min() >= lo and v.max() <= hi
        assert v.max() - v.min() > 0.3 * (hi - lo), "the voltage should wander over a good part of its band"
        assert np.abs(np.diff(v)).max() < 1.0, "slowly: no jumps from one second to the next"
    clock.t = 100.0
    assert len({round(plant.voltage_v(p), 6) for p in range(3)}) == 3, "each phase wanders on its own"


def test_the_car_draws_less_than_its_setpoint_inside_the_underdraw_band():
    lo, hi = EDGES.ev_underdraw_a
    clock, plant = realism_plant()
    under = 16.0 - sample(clock, lambda: plant.current_a(0), 1800, 0.5)
    assert under.min() >= lo - 1e-9 and under.max() <= hi + 1e-9
    assert under.max() - under.min() > 0.3 * (hi - lo)
    assert np.abs(np.diff(under)).max() < 0.1, "slowly varying"
    plant.set_load(0, enabled=False)
    assert plant.current_a(0) == 0.0, "a load that is off draws nothing, under-draw or not"


def test_a_fraction_of_an_ampere_draws_a_share_less_not_nothing():
    """A load set to a meter's Imin (0.25 A) under-draws at most UNDERDRAW_MAX_SHARE of it; from
    4 x the under-draw band's top up the band applies unchanged (every point of 6 A and more)."""
    from bench.sim.plant import UNDERDRAW_MAX_SHARE

    clock, plant = realism_plant()
    plant.set_load(0, setpoint_a=0.25)
    drawn = sample(clock, lambda: plant.current_a(0), 600, 1.0)
    assert drawn.min() >= 0.25 * (1 - UNDERDRAW_MAX_SHARE) - 1e-9 and drawn.max() <= 0.25
    assert UNDERDRAW_MAX_SHARE * 6.0 >= 0.8  # the default band (0.3..0.8 A) is never capped at 6 A and more


def test_energy_integrates_the_real_voltage_and_current():
    clock, plant = realism_plant()
    e0 = plant.energy_wh()
    fine_dt = 0.01
    t = np.arange(0.0, 600.0, fine_dt) + fine_dt / 2
    expected = sum(float((plant._power_at(p, t)).sum()) for p in range(3)) * fine_dt / 3600.0
    clock.t = 600.0  # one read after 10 minutes: the plant integrates in steps itself
    got = plant.energy_wh() - e0
    assert got == pytest.approx(expected, rel=1e-6)
    nominal = 3 * 16.0 * 230.0 * 600.0 / 3600.0
    assert abs(got - nominal) / nominal > 1e-3, "real voltage and under-draw, not the nominal values"


def test_the_charger_meter_counts_the_real_energy_and_reports_its_own_noise():
    clock, plant = realism_plant()
    meter = ChargerMeter(plant, initial_register_wh=0.0, noise=plant.realism.charger_noise)
    e0 = plant.energy_wh()
    clock.t = 300.0
    assert meter.register_wh() == pytest.approx(plant.energy_wh() - e0)  # the same real energy, no noise
    errors = []
    for _ in range(400):
        clock.t += 0.1
        reading = meter.read()
        errors += [reading.currents_a[p] / plant.current_a(p) - 1 for p in range(3)]
        assert reading.voltages_v == tuple(plant.voltage_v(p) for p in range(3))
    errors = np.array(errors)
    assert np.abs(errors).max() <= EDGES.current_noise_pct / 100 + 1e-12
    assert errors.std() > EDGES.current_noise_pct / 100 / 6  # not zero: about a third of the band


def test_the_two_meters_have_independent_noise_and_a_seed_reproduces_both(manual_clock):
    clock = manual_clock
    a, b = Realism(EDGES, clock), Realism(EDGES, clock)
    ref, chg, again = [], [], []
    for _ in range(500):
        clock.t += MEASURING_CYCLE_S
        ref.append(a.reference_noise.factor(0))
        chg.append(a.charger_noise.factor(0))
        again.append(b.reference_noise.factor(0))
    assert ref == again  # same seed, same signals
    assert abs(np.corrcoef(ref, chg)[0, 1]) < 0.2
    other = Realism(RealismSettings(seed=EDGES.seed + 1, current_noise_pct=5.0), clock)
    assert other.reference_noise.factor(0) != a.reference_noise.factor(0)


def test_reaction_and_jitter_draws_stay_inside_their_edges(manual_clock):
    r = Realism(EDGES, manual_clock)
    reactions = np.array([r.reaction_time_s() for _ in range(2000)])
    assert reactions.min() >= 0.5 and reactions.max() <= 1.5
    assert reactions.min() < 0.55 and reactions.max() > 1.45  # the whole range is used
    duty = current_to_duty_pct(16.0)
    jitter = np.array([r.jittered_duty_pct(duty) for _ in range(2000)]) - duty
    assert np.abs(jitter).max() <= 0.5 and jitter.std() > 0.2


def test_charger_timestamps_are_truncated_to_the_resolution(manual_clock):
    clock = manual_clock  # 2031-01-01 UTC at 0 s
    clock.t = 12.75
    assert TruncatedClock(clock, 1.0).utcnow() == datetime(2031, 1, 1, 0, 0, 12, tzinfo=timezone.utc)
    assert TruncatedClock(clock, 5.0).utcnow() == datetime(2031, 1, 1, 0, 0, 10, tzinfo=timezone.utc)
    assert TruncatedClock(clock, 1.0).monotonic() == 12.75


def test_sensed_plant_is_the_plant_with_the_meters_noise():
    clock, plant = realism_plant()
    seen = SensedPlant(plant, plant.realism.reference_noise)
    clock.t = 5.0
    assert seen.voltage_v(1) == plant.voltage_v(1) and seen.energy_wh() == plant.energy_wh()
    assert seen.current_a(1) != plant.current_a(1)
    assert seen.power_w(1) / plant.power_w(1) == pytest.approx(seen.current_a(1) / plant.current_a(1))


# ---- the reference meter, over the real wire -------------------------------------------------

def lab_config(tmp_path: Path, realism) -> LabConfig:
    path = free_port_config(ROOT / "lab_config.yaml", tmp_path)
    data = yaml.safe_load(path.read_text())
    data["virtual_lab"]["realism"] = realism
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


@pytest.mark.parametrize("realism", ["ideal", {"current_noise_pct": 5.0, "mains_v": [207, 253]}])
async def test_the_reference_meter_reads_the_plant_with_its_own_noise(tmp_path, clock, realism):
    config = lab_config(tmp_path, realism)
    lab = BenchVirtualLab(clock, config, csms_url="ws://127.0.0.1:9")
    try:
        bound = await lab.start_instruments()
        plant = lab.positions["pos1"].plant
        plant.set_contactor(True)
        for p in range(3):
            plant.set_load(p, enabled=True, setpoint_a=16.0)
        ins = bound.positions[0].instruments["meter"]
        meter = create_instrument("meter", ins.driver, ins.address)
        await meter.open()
        try:
            errors, volts = [], []
            for _ in range(25):
                reading = await meter.read()
                errors += [reading.current_a[p] / plant.current_a(p) - 1 for p in range(3)]
                volts += reading.voltage_v
                await asyncio.sleep(2 * MEASURING_CYCLE_S / clock.factor)  # a new measuring cycle
        finally:
            await meter.close()
    finally:
        await lab.stop()
    errors = np.array(errors)
    if realism == "ideal":
        assert plant.realism is None
        assert np.abs(errors).max() < 1e-6 and set(np.round(volts, 3)) == {230.0}
    else:
        assert np.abs(errors).max() <= 0.05 + 1e-4  # the band (plus float32 and the current's slow drift)
        assert errors.std() > 0.05 / 6
        assert min(volts) >= 207.0 and max(volts) <= 253.0 and len(set(volts)) > 1


# ---- the simulated charger ------------------------------------------------------------------

CHARGER_EDGES = RealismSettings(current_noise_pct=5.0, reaction_time_s=(0.5, 1.5), ev_underdraw_a=(0.3, 0.8),
                                mains_v=(225.0, 235.0), pwm_jitter_pct=0.5, timestamp_resolution_s=1.0, seed=5)


async def test_the_charger_reacts_jitters_stamps_and_meters_as_configured(lab):
    # an ideal plant (exact current), a realistic charger: its own effects alone are measured
    realism = Realism(CHARGER_EDGES, lab.clock)
    charger = await lab.charger(realism=realism, meter_sample_interval_s=1.0)
    await lab.start_charging(charger, amps=10.0)
    plant, clock = lab.plant, lab.clock

    # PWM jitter: each update inside +-0.5 % of the nominal duty, and really jittering
    nominal = current_to_duty_pct(32.0)
    await lab.wait_until(lambda: abs(plant.pwm_duty_pct - nominal) <= 0.5, timeout=3)
    duties = []
    for _ in range(60):
        duties.append(plant.pwm_duty_pct)
        await asyncio.sleep(0.06 / clock.factor)
    jitter = np.array(duties) - nominal
    assert np.abs(jitter).max() <= 0.5 + 1e-9 and len(set(duties)) > 10

    # reaction per change: inside [0.5, 1.5] s (+ the charger's 50 ms tick and our polling), drawn anew
    delays = []
    for limit in (16.0, 10.0, 20.0, 8.0, 25.0, 12.0):
        target = current_to_duty_pct(limit)
        assert await lab.set_profile(lab.tx_profile(limit)) == "Accepted"
        t0 = clock.monotonic()
        await lab.wait_until(lambda: abs(plant.pwm_duty_pct - target) <= 0.5, timeout=3)
        delays.append(clock.monotonic() - t0)
    assert min(delays) >= 0.5 - 0.05 and max(delays) <= 1.5 + 0.05, delays  # + our polling of the plant
    assert max(delays) - min(delays) > 0.1, f"one fixed reaction time, not drawn per change: {delays}"

    # whole-second timestamps and a noisy own meter (the plant draws exactly 10 A per phase)
    mark = lab.csms.mark()
    await lab.wait_until(lambda: len(lab.csms.of("MeterValues", mark)) >= 6, timeout=5)
    currents = []
    for frame in lab.csms.of("MeterValues", mark):
        for mv in frame.payload["meterValue"]:
            assert parse_iso(mv["timestamp"]).microsecond == 0, mv["timestamp"]
            currents += [float(sv["value"]) for sv in mv["sampledValue"] if sv["measurand"] == "Current.Import"]
    for frame in lab.csms.of("StatusNotification") + lab.csms.of("StartTransaction"):
        assert parse_iso(frame.payload["timestamp"]).microsecond == 0
    errors = np.array(currents) / 10.0 - 1
    assert np.abs(errors).max() <= 0.05 + 0.0005  # the band, plus the 0.01 A of the reported value
    assert errors.std() > 0.05 / 6
    assert plant.ev_cp_state is CpState.C
