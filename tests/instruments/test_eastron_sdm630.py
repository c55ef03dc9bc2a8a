"""Eastron SDM630: exact register reads, against its simulator (TCP and RTU over TCP),
the meter's Modbus rules, and the error paths."""
from __future__ import annotations

import asyncio
import time

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.server import ModbusTcpServer

from bench.sim.instruments.sdm630_sim import float32_words, uint32_words
from bench.sim.plant import Plant
from instruments.roles import InstrumentError
from instruments.transports.modbus import ModbusExceptionError, ModbusTransport, decode

# distinct canned values per input register, so a swapped register shows up
CANNED_INPUT = {
    0x0000: 229.5, 0x0002: 230.5, 0x0004: 231.5,
    0x0006: 10.25, 0x0008: 11.5, 0x000A: 0.0,
    0x000C: 2352.5, 0x000E: 2650.75, 0x0010: 0.0,
    0x0034: 5003.25, 0x0046: 49.98, 0x0048: 1234.5,
}  # fmt: skip


class RecordingContext(ModbusBaseDeviceContext):
    """Records every request; serves CANNED_INPUT, the serial number, and zero elsewhere."""

    def __init__(self, fail_at: int | None = None, serial: int | None = 987654) -> None:
        self.requests: list[tuple[int, int, int]] = []
        self.fail_at = fail_at
        self.serial = serial

    def reset(self) -> None:
        self.requests.clear()

    def getValues(self, func_code, address, count=1):
        self.requests.append((func_code, address, count))
        if address == self.fail_at:
            return ExcCodes.ILLEGAL_ADDRESS
        if func_code == 3:
            if address == 0xFC00 and self.serial is not None:
                return uint32_words(self.serial)
            return ExcCodes.ILLEGAL_ADDRESS
        return [w for a in range(address, address + count, 2) for w in float32_words(CANNED_INPUT.get(a, 0.0))]


@pytest.fixture
async def recording_meter():
    servers = []

    async def start(context: RecordingContext) -> str:
        server = ModbusTcpServer(ModbusServerContext(devices={1: context}, single=False), address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        servers.append(server)
        return f"modbus+tcp://127.0.0.1:{server.transport.sockets[0].getsockname()[1]}?unit=1"

    yield start
    for server in servers:
        listener = server.transport
        await server.shutdown()
        await listener.wait_closed()


# ---- protocol: exact register reads --------------------------------------------------------
async def test_read_uses_three_even_blocks_and_maps_every_value(recording_meter, driver):
    context = RecordingContext()
    meter = await driver("eastron_sdm630", await recording_meter(context))
    reading = await meter.read()

    assert context.requests == [(4, 0x0000, 18), (4, 0x0034, 2), (4, 0x0046, 4)]
    assert reading.voltage_v == [229.5, 230.5, 231.5]
    assert reading.current_a == [10.25, 11.5, 0.0]
    assert reading.power_w == [2352.5, 2650.75, 0.0]
    assert reading.power_total_w == 5003.25
    assert reading.frequency_hz == pytest.approx(49.98, abs=1e-5)  # float32
    assert reading.energy_import_wh == 1234.5 * 1000  # kWh register -> Wh


async def test_identify_reads_a_value_then_the_serial(recording_meter, driver):
    context = RecordingContext()
    meter = await driver("eastron_sdm630", await recording_meter(context))
    identity = await meter.identify()
    assert context.requests == [(4, 0x0000, 2), (3, 0xFC00, 2)]
    assert (identity.vendor, identity.model, identity.serial) == ("Eastron", "SDM630", "987654")


async def test_identify_without_serial_register(recording_meter, driver):
    meter = await driver("eastron_sdm630", await recording_meter(RecordingContext(serial=None)))
    assert (await meter.identify()).serial is None


async def test_exception_response_names_instrument_register_and_code(recording_meter, driver):
    meter = await driver("eastron_sdm630", await recording_meter(RecordingContext(fail_at=0x0034)))
    with pytest.raises(InstrumentError) as err:
        await meter.read()
    assert str(err.value) == (
        "test-eastron_sdm630: read input registers 0x0034 count 2 (FC04, unit 1): "
        "Modbus exception 02 (ILLEGAL DATA ADDRESS)"
    )


# ---- against the simulator ------------------------------------------------------------------
@pytest.mark.parametrize("framing", ["tcp", "rtu-over-tcp"])
async def test_driver_against_simulator_reads_the_plant(plant, sim, driver, framing):
    running = await sim("eastron_sdm630", plant, framing=framing, unit_id=7)
    assert running.address.startswith(f"modbus+{framing}://127.0.0.1:") and running.address.endswith("?unit=7")
    meter = await driver("eastron_sdm630", running.address)
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=16.0)
    plant.set_load(1, enabled=True, setpoint_a=10.0)

    reading = await meter.read()
    assert reading.voltage_v == [230.0, 230.0, 230.0]
    assert reading.current_a == [16.0, 10.0, 0.0]
    assert reading.power_w == [3680.0, 2300.0, 0.0]
    assert reading.power_total_w == 5980.0
    assert reading.frequency_hz == 50.0
    assert (await meter.identify()).serial == "21000123"


async def test_energy_follows_the_plant_clock_exactly(sim, driver, manual_clock):
    clock = manual_clock
    plant = Plant(clock)
    running = await sim("eastron_sdm630", plant)
    meter = await driver("eastron_sdm630", running.address)
    plant.set_contactor(True)
    for phase in range(3):
        plant.set_load(phase, enabled=True, setpoint_a=10.0)  # 6900 W
    start = (await meter.read()).energy_import_wh
    clock.advance(1800.0)  # half an hour of the plant's time, no wall time at all
    end = (await meter.read()).energy_import_wh
    assert start == 0.0
    assert end == pytest.approx(3450.0, rel=1e-6)


async def test_energy_integrates_in_real_time(plant, sim, driver):
    running = await sim("eastron_sdm630", plant)
    meter = await driver("eastron_sdm630", running.address)
    plant.set_contactor(True)
    for phase in range(3):
        plant.set_load(phase, enabled=True, setpoint_a=20.0)  # 13.8 kW
    first = (await meter.read()).energy_import_wh
    t0 = time.monotonic()
    await asyncio.sleep(0.3)
    second = (await meter.read()).energy_import_wh
    elapsed_max = time.monotonic() - t0
    assert 13800 * 0.3 / 3600 * 0.95 < second - first < 13800 * (elapsed_max + 0.05) / 3600
    assert second == pytest.approx(plant.energy_wh(), abs=13800 * 0.05 / 3600)


# ---- the meter's Modbus rules, enforced by the simulator ------------------------------------
@pytest.fixture
async def raw_meter(plant, sim):
    transports = []

    async def connect(framing="tcp", unit_id=1, client_unit=None, timeout_s=2.0) -> ModbusTransport:
        running = await sim("eastron_sdm630", plant, framing=framing, unit_id=unit_id)
        address = running.address.replace(f"unit={unit_id}", f"unit={client_unit or unit_id}")
        transport = ModbusTransport("meter", address, timeout_s=timeout_s, reconnect_attempts=0)
        await transport.open()
        transports.append(transport)
        return transport

    yield connect
    for t in transports:
        await t.close()


@pytest.mark.parametrize(
    ("start", "count", "rule"),
    [(0x0000, 3, "odd count"), (0x0001, 2, "odd start"), (0x0000, 62, "more than 60 registers"),
     (0x0034, 4, "0x0036 is not a register"), (0x0200, 2, "unknown register")],
)  # fmt: skip
async def test_illegal_reads_get_exception_02(raw_meter, start, count, rule):
    meter = await raw_meter()
    with pytest.raises(ModbusExceptionError, match=f"0x{start:04X} count {count}.*exception 02") as err:
        await meter.read_input_registers(start, count)
    assert err.value.exception_code == 2, rule


async def test_largest_legal_block_is_served(raw_meter):
    meter = await raw_meter()
    assert len(await meter.read_input_registers(0x0000, 36)) == 36  # V, I, P, VA, VAr, PF


async def test_measurements_are_not_holding_registers(raw_meter):
    meter = await raw_meter()
    with pytest.raises(ModbusExceptionError, match="FC03.*exception 01") as err:
        await meter.read_holding_registers(0x0000, 2)
    assert err.value.exception_code == 1


async def test_wrong_unit_on_rtu_gets_no_reply(raw_meter):
    meter = await raw_meter(framing="rtu-over-tcp", unit_id=1, client_unit=2, timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(InstrumentError, match=r"meter: read input registers 0x0000 count 2 \(FC04, unit 2\): no reply") as err:
        await meter.read_input_registers(0x0000, 2)
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert not isinstance(err.value, ModbusExceptionError)  # silence, not an exception response


async def test_wrong_unit_on_modbus_tcp_gets_gateway_exception(raw_meter):
    meter = await raw_meter(framing="tcp", unit_id=1, client_unit=2)
    with pytest.raises(ModbusExceptionError) as err:
        await meter.read_input_registers(0x0000, 2)
    assert err.value.exception_code == 0x0B


# ---- link loss ---------------------------------------------------------------------------------
async def test_meter_reconnects_after_the_gateway_restarts(plant, sim, driver):
    running = await sim("eastron_sdm630", plant)
    meter = await driver("eastron_sdm630", running.address)
    await meter.read()
    port = running.port
    await running.close()
    await sim("eastron_sdm630", plant, port=port)  # back on the same port
    plant.set_contactor(True)
    plant.set_load(2, enabled=True, setpoint_a=6.0)
    assert (await meter.read()).current_a == [0.0, 0.0, 6.0]


async def test_meter_gone_for_good_raises_after_bounded_retries(plant, sim, driver):
    running = await sim("eastron_sdm630", plant)
    meter = await driver("eastron_sdm630", running.address)
    await running.close()
    with pytest.raises(InstrumentError, match=r"test-eastron_sdm630: link to .* lost during read input registers 0x0000"):
        await meter.read()


# ---- a stalled meter -----------------------------------------------------------------------------
async def test_a_late_reply_is_never_taken_for_the_next_request(plant, sim):
    # a stalled gateway answers the timed-out request while the next one waits: Modbus TCP matches
    # replies by transaction id, so the next request gets its own registers, not the late ones
    running = await sim("eastron_sdm630", plant)
    transport = ModbusTransport("meter", running.address, timeout_s=0.3)
    await transport.open()
    try:
        running.device.stall(0.5)
        with pytest.raises(InstrumentError, match=r"read input registers 0x0000 count 2 .*no reply within 0.3 s"):
            await transport.read_input_registers(0x0000, 2)  # voltage L1: 230 V, late
        frequency = await transport.read_input_registers(0x0046, 2)  # asked during the stall
        assert decode(frequency, "float32") == [pytest.approx(50.0)]
        assert decode(await transport.read_input_registers(0x0000, 2), "float32") == [pytest.approx(230.0)]
    finally:
        await transport.close()
