"""Janitza UMG 604, Carlo Gavazzi EM24 and Siemens PAC2200: exact register exchanges against a
recording server, each driver against its simulator over TCP and RTU-over-TCP, and each
simulator's device rules."""
from __future__ import annotations

import time

import pytest
from pymodbus import ModbusDeviceIdentification
from pymodbus.constants import ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.datastore.context import ModbusBaseDeviceContext
from pymodbus.server import ModbusTcpServer

from bench.sim.instruments.modbus_meter_sim import float32_words, float64_words, int16_words, int32_words
from bench.sim.plant import Plant
from instruments.roles import InstrumentError
from instruments.transports.modbus import ModbusExceptionError, ModbusTransport


class RecordingImage(ModbusBaseDeviceContext):
    """Serves a fixed register image per function code and records every request."""

    def __init__(self, images: dict[int, dict[int, int]]) -> None:
        self.images = images
        self.requests: list[tuple[int, int, int]] = []

    def reset(self) -> None:
        self.requests.clear()

    def getValues(self, func_code, address, count=1):
        self.requests.append((func_code, address, count))
        image = self.images.get(func_code, {})
        if any(a not in image for a in range(address, address + count)):
            return ExcCodes.ILLEGAL_ADDRESS
        return [image[a] for a in range(address, address + count)]


def image(values: dict[int, list[int]], fill: range | None = None) -> dict[int, int]:
    """Register -> word from {first register: words}; `fill` adds zero words for gaps."""
    out = {a: 0 for a in fill} if fill else {}
    for first, words in values.items():
        out.update(zip(range(first, first + len(words)), words))
    return out


@pytest.fixture
async def recording_server():
    servers = []

    async def start(context: ModbusBaseDeviceContext, identity: ModbusDeviceIdentification | None = None) -> str:
        server = ModbusTcpServer(ModbusServerContext(devices={1: context}, single=False), identity=identity,
                                 address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        servers.append(server)
        return f"modbus+tcp://127.0.0.1:{server.transport.sockets[0].getsockname()[1]}?unit=1"

    yield start
    for server in servers:
        listener = server.transport
        await server.shutdown()
        await listener.wait_closed()


# ---- Janitza UMG 604: protocol -----------------------------------------------------------------
JANITZA_VALUES = {19000: 229.5, 19002: 230.5, 19004: 231.5, 19012: 10.25, 19014: 11.5, 19016: 0.0,
                  19020: 2352.5, 19022: 2650.75, 19024: 0.0, 19026: 5003.25, 19050: 49.98, 19068: 123456.5}


async def test_janitza_reads_two_fc03_blocks_with_addresses_as_written(recording_server, driver):
    words = image({a: float32_words(v) for a, v in JANITZA_VALUES.items()},
                  fill=range(19000, 19070))
    context = RecordingImage({3: words})
    meter = await driver("janitza_umg604", await recording_server(context))
    reading = await meter.read()
    assert context.requests == [(3, 19000, 28), (3, 19050, 20)]
    assert float32_words(229.5) == [0x4365, 0x8000]  # high word first on the wire
    assert reading.voltage_v == [229.5, 230.5, 231.5]
    assert reading.current_a == [10.25, 11.5, 0.0]
    assert reading.power_w == [2352.5, 2650.75, 0.0]
    assert reading.power_total_w == 5003.25
    assert reading.frequency_hz == pytest.approx(49.98, abs=1e-5)
    assert reading.energy_import_wh == 123456.5  # Wh register, no scaling


async def test_janitza_identity_is_its_layout(recording_server, driver):
    words = image({19050: float32_words(50.0)})
    context = RecordingImage({3: words})
    meter = await driver("janitza_umg604", await recording_server(context))
    identity = await meter.identify()
    assert context.requests == [(3, 19050, 2)]
    assert (identity.vendor, identity.model) == ("Janitza", "UMG604")


async def test_janitza_layout_check_rejects_another_meter(recording_server, driver):
    context = RecordingImage({3: image({19050: float32_words(230.0)})})  # a voltage where Hz should be
    meter = await driver("janitza_umg604", await recording_server(context))
    with pytest.raises(InstrumentError, match=r"register 19050 \(frequency\) reads 230: not the register layout"):
        await meter.identify()


async def test_nan_register_reads_null_never_a_number(recording_server, driver):
    values = {**JANITZA_VALUES, 19068: float("nan")}
    context = RecordingImage({3: image({a: float32_words(v) for a, v in values.items()}, fill=range(19000, 19070))})
    meter = await driver("janitza_umg604", await recording_server(context))
    assert (await meter.read()).energy_import_wh is None


# ---- Carlo Gavazzi EM24: protocol ---------------------------------------------------------------
async def test_em24_int32_low_word_first_with_scaling(recording_server, driver):
    inputs = {
        0x00: [0x0901, 0x0000],  # 2305 -> 230.5 V, low word first, spelled out
        0x02: int32_words(2315, "little"), 0x04: int32_words(2295, "little"),
        0x0C: int32_words(16_020, "little"), 0x0E: int32_words(7_500, "little"), 0x10: int32_words(0, "little"),
        0x12: int32_words(36_926, "little"), 0x14: int32_words(17_363, "little"), 0x16: int32_words(0, "little"),
        0x28: int32_words(54_289, "little"), 0x37: int16_words(500),
        0x42: int32_words(123_456, "little"),  # 12345.6 kWh, past 65535 counts: both words matter
    }
    context = RecordingImage({4: image(inputs, fill=range(0x00, 0x44)), 3: image({0x0B: int16_words(1648)})})
    meter = await driver("carlo_gavazzi_em24", await recording_server(context))
    identity = await meter.identify()
    reading = await meter.read()
    assert context.requests == [(3, 0x0B, 1), (4, 0x00, 0x18), (4, 0x28, 2), (4, 0x32, 6), (4, 0x42, 2)]
    assert (identity.vendor, identity.model) == ("Carlo Gavazzi", "EM24")
    assert reading.voltage_v == pytest.approx([230.5, 231.5, 229.5])
    assert reading.current_a == pytest.approx([16.02, 7.5, 0.0])
    assert reading.power_w == pytest.approx([3692.6, 1736.3, 0.0])
    assert reading.power_total_w == pytest.approx(5428.9)
    assert reading.frequency_hz == pytest.approx(50.0)
    assert reading.energy_import_wh == pytest.approx(12_345_600.0)  # 0.1 kWh counts -> Wh


async def test_em24_identity_rejects_another_id_code(recording_server, driver):
    context = RecordingImage({3: image({0x0B: int16_words(340)})})
    meter = await driver("carlo_gavazzi_em24", await recording_server(context))
    with pytest.raises(InstrumentError, match=r"identification code \(holding 0x000B\) is 340: not an EM24"):
        await meter.identify()


# ---- Siemens PAC2200: protocol ------------------------------------------------------------------
PAC_IDENTITY = {"VendorName": "Siemens", "ProductCode": "7KM2200-2EA30-1JA1", "MajorMinorRevision": "V3.2",
                "ProductName": "SENTRON PAC2200", "ModelName": "PAC2200"}


async def test_pac2200_float32_blocks_float64_energy_and_device_identification(recording_server, driver):
    holding = image({1: float32_words(229.5), 3: float32_words(230.5), 5: float32_words(231.5),
                     13: float32_words(16.0), 15: float32_words(8.0), 17: float32_words(0.0),
                     25: float32_words(3672.0), 27: float32_words(1844.0), 29: float32_words(0.0),
                     55: float32_words(50.0), 65: float32_words(5516.0),
                     801: float64_words(9_876_543.21)}, fill=range(1, 67))
    context = RecordingImage({3: holding})
    meter = await driver("siemens_pac2200", await recording_server(context, ModbusDeviceIdentification(
        info_name=PAC_IDENTITY)))
    identity = await meter.identify()
    reading = await meter.read()
    assert context.requests == [(3, 1, 30), (3, 55, 12), (3, 801, 4)]  # identity is FC43, no register read
    assert (identity.vendor, identity.model, identity.firmware) == ("Siemens", "PAC2200", "V3.2")
    assert reading.voltage_v == [229.5, 230.5, 231.5]
    assert reading.current_a == [16.0, 8.0, 0.0]
    assert reading.power_total_w == 5516.0
    assert reading.energy_import_wh == 9_876_543.21  # float64 keeps the Wh exact


async def test_pac2200_identity_rejects_another_product(recording_server, driver):
    other = dict(PAC_IDENTITY, ProductCode="7KM3200-0AB01", ProductName="SENTRON PAC3200", ModelName="PAC3200")
    meter = await driver("siemens_pac2200", await recording_server(RecordingImage({}),
                                                                   ModbusDeviceIdentification(info_name=other)))
    with pytest.raises(InstrumentError, match="not a Siemens PAC2200"):
        await meter.identify()


# ---- every driver against its simulator, both framings ----------------------------------------------
METERS = ["janitza_umg604", "carlo_gavazzi_em24", "siemens_pac2200"]


@pytest.mark.parametrize("framing", ["tcp", "rtu-over-tcp"])
@pytest.mark.parametrize("name", METERS)
async def test_driver_against_simulator_reads_the_plant(plant, sim, driver, name, framing):
    running = await sim(name, plant, framing=framing, unit_id=9)
    assert running.address.startswith(f"modbus+{framing}://127.0.0.1:") and running.address.endswith("?unit=9")
    meter = await driver(name, running.address)
    plant.set_contactor(True)
    plant.set_load(0, enabled=True, setpoint_a=16.0)
    plant.set_load(1, enabled=True, setpoint_a=10.0)
    identity = await meter.identify()
    reading = await meter.read()
    assert identity.model in ("UMG604", "EM24", "PAC2200")
    assert reading.voltage_v == pytest.approx([230.0, 230.0, 230.0])
    assert reading.current_a == pytest.approx([16.0, 10.0, 0.0])
    assert reading.power_w == pytest.approx([3680.0, 2300.0, 0.0])
    assert reading.power_total_w == pytest.approx(5980.0)
    assert reading.frequency_hz == pytest.approx(50.0)
    assert reading.energy_import_wh is not None and reading.energy_import_wh >= 0.0


@pytest.mark.parametrize(("name", "resolution_wh"), [("janitza_umg604", 0.01), ("siemens_pac2200", 1e-6),
                                                     ("carlo_gavazzi_em24", 100.0)])
async def test_energy_follows_the_plant_clock_at_the_register_resolution(sim, driver, manual_clock, name,
                                                                          resolution_wh):
    plant = Plant(manual_clock)
    meter = await driver(name, (await sim(name, plant)).address)
    plant.set_contactor(True)
    for phase in range(3):
        plant.set_load(phase, enabled=True, setpoint_a=10.0)  # 6900 W
    start = (await meter.read()).energy_import_wh
    manual_clock.advance(1800.0)  # 3450 Wh of the plant's time, no wall time at all
    end = (await meter.read()).energy_import_wh
    assert start == 0.0
    assert end - start == pytest.approx(3450.0, abs=resolution_wh)  # the EM24 counts 100 Wh steps


# ---- the simulators enforce their meter's rules -------------------------------------------------------
@pytest.fixture
async def raw(plant, sim):
    transports = []

    async def connect(name: str, framing="tcp", unit_id=1, client_unit=None, timeout_s=2.0) -> ModbusTransport:
        running = await sim(name, plant, framing=framing, unit_id=unit_id)
        address = running.address.replace(f"unit={unit_id}", f"unit={client_unit or unit_id}")
        transport = ModbusTransport("meter", address, timeout_s=timeout_s, reconnect_attempts=0)
        await transport.open()
        transports.append(transport)
        return transport

    yield connect
    for t in transports:
        await t.close()


async def test_janitza_table_is_mirrored_word_swapped(raw, plant):
    meter = await raw("janitza_umg604")
    normal = await meter.read_holding_registers(19000, 2)
    swapped = await meter.read_holding_registers(19000 + 32768, 2)
    assert normal == float32_words(230.0) and swapped == normal[::-1]
    assert await meter.read_input_registers(19000, 2) == normal  # FC04 reads the same table


@pytest.mark.parametrize(("start", "count"), [(18998, 4), (19076, 4), (20000, 2)])
async def test_janitza_reads_outside_the_table_get_exception_02(raw, start, count):
    meter = await raw("janitza_umg604")
    with pytest.raises(ModbusExceptionError) as err:
        await meter.read_holding_registers(start, count)
    assert err.value.exception_code == 2


async def test_janitza_refreshes_every_200_ms(manual_clock, sim):
    plant = Plant(manual_clock)
    running = await sim("janitza_umg604", plant)
    meter = ModbusTransport("meter", running.address)
    await meter.open()
    try:
        manual_clock.t = 1000.05  # inside a 200 ms slot
        assert (await meter.read_holding_registers(19012, 2)) == float32_words(0.0)
        plant.set_contactor(True)
        plant.set_load(0, enabled=True, setpoint_a=12.0)
        manual_clock.advance(0.1)  # same slot: the old value
        assert (await meter.read_holding_registers(19012, 2)) == float32_words(0.0)
        manual_clock.advance(0.1)  # next slot: refreshed
        assert (await meter.read_holding_registers(19012, 2)) == float32_words(12.0)
    finally:
        await meter.close()


async def test_em24_rules(raw):
    meter = await raw("carlo_gavazzi_em24")
    assert await meter.read_holding_registers(0x0B, 1) == [1648]
    for read, code in [(lambda: meter.read_input_registers(0x18, 2), 2),  # VA per phase: not simulated
                       (lambda: meter.read_input_registers(0x26, 4), 2),  # runs into 0x28 from a gap
                       (lambda: meter.read_holding_registers(0x00, 2), 2)]:  # measurements are input registers
        with pytest.raises(ModbusExceptionError) as err:
            await read()
        assert err.value.exception_code == code
    assert await meter.read_input_registers(0x01, 1) == [0]  # the high word of 2300 (230.0 V) on its own


@pytest.mark.parametrize(("start", "count", "why"), [(2, 2, "starts inside a value"), (1, 3, "ends inside a value"),
                                                     (801, 2, "half a float64"), (31, 2, "not in the list")])
async def test_pac2200_partial_values_get_exception_02(raw, start, count, why):
    meter = await raw("siemens_pac2200")
    with pytest.raises(ModbusExceptionError) as err:
        await meter.read_holding_registers(start, count)
    assert err.value.exception_code == 2, why


async def test_pac2200_measurements_are_holding_registers(raw):
    meter = await raw("siemens_pac2200")
    with pytest.raises(ModbusExceptionError) as err:
        await meter.read_input_registers(1, 2)
    assert err.value.exception_code == 1


@pytest.mark.parametrize("name", METERS)
async def test_wrong_unit_on_rtu_is_silence(raw, name):
    meter = await raw(name, framing="rtu-over-tcp", unit_id=4, client_unit=5, timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(InstrumentError, match=r"\(FC03, unit 5\): no reply within 0.3 s") as err:
        await meter.read_holding_registers(0x0B if name == "carlo_gavazzi_em24" else 19000 if "janitza" in name
                                           else 1, 1 if name == "carlo_gavazzi_em24" else 2)
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert not isinstance(err.value, ModbusExceptionError)


@pytest.mark.parametrize("name", METERS)
async def test_wrong_unit_on_modbus_tcp_is_a_gateway_exception(raw, name):
    meter = await raw(name, unit_id=4, client_unit=5)
    with pytest.raises(ModbusExceptionError) as err:
        await meter.read_input_registers(0, 2)
    assert err.value.exception_code == 0x0B


async def test_meter_reconnects_after_the_gateway_restarts(plant, sim, driver):
    running = await sim("janitza_umg604", plant)
    meter = await driver("janitza_umg604", running.address)
    await meter.read()
    port = running.port
    await running.close()
    await sim("janitza_umg604", plant, port=port)
    plant.set_contactor(True)
    plant.set_load(1, enabled=True, setpoint_a=7.0)
    assert (await meter.read()).current_a == pytest.approx([0.0, 7.0, 0.0])
