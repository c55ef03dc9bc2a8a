"""The sampler tells a scenario's judge when its trace reaches a given time, and samples each
instrument on its own: a stalled one costs only its own columns, a lost one stops sampling."""
from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from bench.acquisition import PositionInstruments, Sampler
from bench.clock import MAX, WarpClock
from bench.sim.instruments.registry import start_simulator
from bench.sim.plant import Plant
from bench.trace import Trace
from instruments.registry import create_instrument
from instruments.roles import AcLoadReading, EvEmulatorReading, LinkLost, PowerMeterReading


class _VirtualOnlyClock(WarpClock):
    """Time moves only when the whole loop waits: a busy machine cannot stretch a read past its
    timeout (at MAX, real time counts too, and a process descheduled for 0.2 s looks stalled)."""

    def monotonic(self) -> float:
        return 1000.0 + self._jumped_s


def _run(coro_fn, clock: WarpClock | None = None):
    """Fake instruments run on virtual time alone; real sockets and threads need real time too."""
    clock = clock or _VirtualOnlyClock(MAX)
    with asyncio.Runner(loop_factory=clock.new_loop) as runner:
        return runner.run(coro_fn(clock))


def test_covered_waits_for_a_row_at_or_after_the_time(tmp_path):
    async def main(clock):
        sampler = Sampler(clock, PositionInstruments(), Trace(tmp_path / "t.csv"), rate_hz=10.0)
        sampler.start()
        t = clock.monotonic() + 0.35
        assert await sampler.covered(t)
        last = sampler.trace.columns(t - 1.0, t + 1.0)["t_mono_s"][-1]
        await sampler.stop()
        return t, last

    t, last = _run(main)
    assert t <= last < t + 0.1 + 1e-9  # the first row at or after it: one period at most


def test_covered_is_false_once_the_sampler_stopped(tmp_path):
    async def main(clock):
        sampler = Sampler(clock, PositionInstruments(), Trace(tmp_path / "t.csv"), rate_hz=10.0)
        sampler.start()
        waiting = asyncio.ensure_future(sampler.covered(clock.monotonic() + 60.0))
        await asyncio.sleep(0.2)
        await sampler.stop()
        return await waiting

    assert _run(main) is False


# ---- each instrument on its own: a stalled one costs only its own columns ----------------------
class FakeInstrument:
    """Answers `reading` at once, or not at all while `answer` is cleared (its read waits)."""

    def __init__(self, name: str, reading) -> None:
        self.name = name
        self.reading = reading
        self.reads = 0
        self.answer = asyncio.Event()
        self.answer.set()

    async def read(self):
        self.reads += 1
        await self.answer.wait()
        return self.reading


def _fakes():
    meter = FakeInstrument("meter", PowerMeterReading([230.0] * 3, [10.0] * 3, [2300.0] * 3, 6900.0, 12.5, 50.0))
    ev = FakeInstrument("ev", EvEmulatorReading("C", 26.7, 16.0, 6.0))
    loads = [FakeInstrument(f"load_l{p}", AcLoadReading(10.0, 2300.0, 230.0, True)) for p in (1, 2, 3)]
    return meter, ev, loads


def test_a_stalled_instrument_costs_its_columns_only_and_is_reported_at_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bench.acquisition")

    async def main(clock):
        meter, ev, loads = _fakes()
        sampler = Sampler(clock, PositionInstruments(meter, loads, ev), Trace(tmp_path / "t.csv"), rate_hz=10.0,
                          read_timeout_s=0.2)
        sampler.start()
        await clock.sleep(1.0)
        t_stall = clock.monotonic()
        meter.answer.clear()  # the meter stops answering for 2 s
        reads_before = meter.reads
        await clock.sleep(2.0)
        reads_during = meter.reads - reads_before
        meter.answer.set()
        await clock.sleep(1.0)
        await sampler.stop()
        return sampler, t_stall, reads_during

    sampler, t_stall, reads_during = _run(main)
    rows = sampler.trace.columns()
    t = rows["t_mono_s"]
    during = (t > t_stall + 0.1) & (t < t_stall + 2.0)
    assert during.sum() >= 18  # the others keep 10 Hz through the stall
    for column in ("ev_pwm_duty_pct", "load_current_l1_a", "load_current_l3_a"):
        assert not np.isnan(rows[column][during]).any()
    assert np.isnan(rows["meter_voltage_l1_v"][during]).all()  # its columns are empty while it is stalled
    assert not np.isnan(rows["meter_voltage_l1_v"][t > t_stall + 2.2]).any()  # and filled again after
    assert reads_during == 1  # no second read while the first is in flight
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("meter: stalled, no answer within 0.2 s")
    assert sampler.stats.stalls == 1 and sampler.stats.errors == 1  # counted (read_errors in the record)
    assert sampler.stats.instruments["meter"].stalls == 1
    assert sampler.stats.instruments["meter"].rows_without == np.isnan(rows["meter_voltage_l1_v"]).sum()
    assert sampler.stats.instruments["ev"].failed == 0
    assert sampler.stats.achieved_hz == 10.0


def test_a_lost_link_stops_the_sampler_at_once_and_keeps_the_other_columns(tmp_path):
    async def main(clock):
        meter, ev, loads = _fakes()

        async def gone():
            raise LinkLost("meter: link to modbus+tcp://10.0.3.20:502?unit=1 lost during read; 3 reconnect "
                           "attempts failed")

        sampler = Sampler(clock, PositionInstruments(meter, loads, ev), Trace(tmp_path / "t.csv"), rate_hz=10.0)
        sampler.start()
        await clock.sleep(0.5)
        meter.read = gone
        t_lost = clock.monotonic()
        assert sampler.task is not None
        await sampler.task
        t_end = clock.monotonic()
        await sampler.stop()
        return sampler, t_lost, t_end

    sampler, t_lost, t_end = _run(main)
    assert sampler.lost is not None and sampler.lost.startswith("meter lost after 1 failed reads: meter: link to")
    assert t_end - t_lost <= 0.1 + 1e-6  # the next tick's read
    last = {c: v[-1] for c, v in sampler.trace.columns().items()}
    assert np.isnan(last["meter_voltage_l1_v"]) and last["ev_pwm_duty_pct"] == 26.7  # the row it was lost in


# ---- the same over the wire: a stalled SCPI meter in the virtual lab ---------------------------
async def _open_position(clock, plant, meter_timeout_s: float = 0.4):
    """A WT333 meter (SCPI over a raw socket), the reference EV emulator and three Chroma loads, each
    against its simulator on a free port: (simulators, meter, ev, loads)."""
    sims = [await start_simulator("yokogawa_wt300", plant, "127.0.0.1", 0, model="WT333"),
            await start_simulator("reference_ev_emulator", plant, "127.0.0.1", 0)]
    sims += [await start_simulator("chroma_63800", plant, "127.0.0.1", 0, phase=p) for p in (1, 2, 3)]
    meter = create_instrument("meter", "yokogawa_wt300", sims[0].address)
    ev = create_instrument("ev", "reference_ev_emulator", sims[1].address)
    loads = [create_instrument(f"load_l{p}", "chroma_63800", s.address, phase=p) for p, s in zip((1, 2, 3), sims[2:])]
    meter.transport.timeout_s = meter_timeout_s  # the meter's own timeout, above the sampler's read timeout
    for inst in (meter, ev, *loads):
        await inst.open()
    return sims, meter, ev, loads


def test_a_stalled_scpi_meter_is_sampled_around_and_back_in_step_after(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bench.acquisition")

    async def main(clock):
        plant = Plant(clock)
        sims, meter, ev, loads = await _open_position(clock, plant)
        try:
            sampler = Sampler(clock, PositionInstruments(meter, loads, ev), Trace(tmp_path / "t.csv"), rate_hz=10.0,
                              read_timeout_s=0.2)
            sampler.start()
            await clock.sleep(0.5)
            t_stall = clock.monotonic()
            sims[0].device.stall(1.0)  # longer than its timeout: the reply comes late, then the link resyncs
            await clock.sleep(2.5)
            await sampler.stop()
            # the next commands get their own answers: no late reply, no queued error
            after = (await meter.identify(), await meter.transport.query("*ESR?"),
                     await meter.transport.query(":STATUS:ERROR?"), meter.transport.out_of_step)
            await loads[0].set_enabled(False)  # a load's *ESR? check: 0
            return sampler, t_stall, after
        finally:
            for inst in (meter, ev, *loads):
                await inst.close()
            for running in sims:
                await running.close()

    sampler, t_stall, (identity, esr, error, out_of_step) = _run(main, WarpClock(MAX))
    rows = sampler.trace.columns()
    t = rows["t_mono_s"]
    # rows requested in the stall whose read timeout (0.2 s) ran out before it ended (1.0 s): a row
    # requested later may take the answer that comes just after the stall (stamped at its request)
    during = (t > t_stall + 0.1) & (t < t_stall + 1.0 - 0.2)
    assert during.sum() >= 6  # the EV and the loads keep their rate (10 Hz, 7 rows here)
    for column in ("ev_pwm_duty_pct", "load_current_l1_a", "load_current_l2_a", "load_current_l3_a"):
        assert not np.isnan(rows[column][during]).any()
    assert np.isnan(rows["meter_voltage_l1_v"][during]).all()
    assert rows["meter_voltage_l1_v"][t > t_stall + 2.0] == pytest.approx(230.0)  # read again, in step
    assert any(r.getMessage().startswith("meter: stalled") for r in caplog.records if r.levelno == logging.WARNING)
    assert sampler.stats.stalls == 1 and sampler.stats.instruments["meter"].stalls == 1
    assert sampler.stats.errors >= 1 and sampler.stats.instruments["ev"].failed == 0
    assert (identity.model, esr, error, out_of_step) == ("WT333", "0", '0,"No error"', False)


# ---- on time: how late each row was requested after its tick ---------------------------------
def test_lateness_histogram_quantiles_are_bin_upper_edges():
    from bench.acquisition import LatenessHistogram

    h = LatenessHistogram()
    assert h.quantile_ms(0.99) is None
    for late_s in [0.0001] * 98 + [0.003, 0.5]:  # 0.5 s lies past the last bin: kept as the max
        h.add(late_s)
    assert h.quantile_ms(0.5) == pytest.approx(0.11)  # 0.1 ms sits in the 0.10-0.11 ms bin
    assert h.quantile_ms(0.99) == pytest.approx(3.01)
    assert h.quantile_ms(1.0) == pytest.approx(500.0)


def test_real_time_sampler_states_its_lateness_and_the_ticks_it_skipped(tmp_path):
    """On real time a ticker thread wakes the loop at each tick; a loop blocked for 60 ms makes
    the next row late by about that much and skips the ticks it hid, and both are stated."""
    import threading
    import time

    from bench.clock import RealClock

    async def main():
        clock = RealClock()
        meter = FakeInstrument("meter", PowerMeterReading([230.0] * 3, [10.0] * 3, [2300.0] * 3, 6900.0, 1.0, 50.0))
        sampler = Sampler(clock, PositionInstruments(meter=meter), Trace(tmp_path / "t.csv"), rate_hz=100.0)
        sampler.start()
        await asyncio.sleep(0.3)
        time.sleep(0.06)  # the process is busy elsewhere: no tick can be kept meanwhile
        await asyncio.sleep(0.3)
        await sampler.stop()
        return sampler

    sampler = asyncio.run(main())
    stats = sampler.stats
    assert stats.late_p50_ms is not None and stats.late_p99_ms is not None and stats.late_max_ms is not None
    assert stats.late_p50_ms <= stats.late_p99_ms <= stats.late_max_ms
    assert 40.0 <= stats.late_max_ms < 200.0  # the blocked stretch, seen by the row after it
    assert stats.skipped_ticks >= 4  # 60 ms at 10 ms a tick
    assert stats.samples + stats.skipped_ticks >= 55  # every tick of 0.6 s is a row or a skipped tick
    assert not [t for t in threading.enumerate() if t.name == "sampler-ticker"]  # the ticker ended
