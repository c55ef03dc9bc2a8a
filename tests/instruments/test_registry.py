"""Driver and simulator registries, address parsing, and every simulator reachable through
the address its registry reports."""
from __future__ import annotations

import pytest

from instruments.registry import DRIVERS, DriverInfo, create_instrument, register_driver
from instruments.roles import AcLoad, EvEmulator, PowerMeter, Ratings
from instruments.sim.registry import SIMULATORS, start_simulator
from instruments.transports.modbus import ModbusAddress
from instruments.transports.scpi import parse_scpi_address

ROLE_CLASSES = {"power_meter": PowerMeter, "ac_load": AcLoad, "ev_emulator": EvEmulator}


def test_driver_entries_match_their_roles():
    assert set(DRIVERS) == {"eastron_sdm630", "chroma_63800", "reference_ev_emulator"}
    for key, info in DRIVERS.items():
        assert info.name == key
        assert issubclass(info.cls, ROLE_CLASSES[info.role])
        assert info.transport in ("modbus", "scpi") and info.description


def test_every_driver_has_a_simulator_of_the_same_name():
    assert set(SIMULATORS) == set(DRIVERS)
    for key, info in SIMULATORS.items():
        assert info.transport == DRIVERS[key].transport


def test_create_instrument_builds_without_connecting():
    load = create_instrument("load_l3", "chroma_63800", "TCPIP::10.0.3.21::5025::SOCKET", Ratings(36, 3600), phase=3)
    assert (load.name, load.address, load.phase, load.ratings.max_current_a) == (
        "load_l3", "TCPIP::10.0.3.21::5025::SOCKET", 3, 36
    )


def test_unknown_driver_names_the_known_ones():
    with pytest.raises(KeyError) as err:
        create_instrument("meter", "eastron_sdm999", "modbus+tcp://127.0.0.1:502?unit=1", None)
    message = str(err.value)
    assert "meter" in message and "eastron_sdm999" in message and "eastron_sdm630" in message


def test_unknown_option_and_bad_address_are_refused():
    with pytest.raises(TypeError, match="takes no options"):
        create_instrument("meter", "eastron_sdm630", "modbus+tcp://127.0.0.1:502?unit=1", None, phase=1)
    with pytest.raises(ValueError, match="not a Modbus address"):
        create_instrument("meter", "eastron_sdm630", "TCPIP::127.0.0.1::502::SOCKET", None)
    with pytest.raises(ValueError, match="not a SCPI socket address"):
        create_instrument("ev", "reference_ev_emulator", "TCPIP::127.0.0.1::INSTR", None)


def test_register_driver_refuses_to_replace_silently():
    info = DRIVERS["reference_ev_emulator"]
    register_driver(info)  # same entry again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_driver(DriverInfo(info.name, info.role, PowerMeter, info.transport, "other"))


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("modbus+tcp://10.0.3.20:502?unit=1", ModbusAddress("10.0.3.20", 502, 1, "tcp")),
        ("modbus+tcp://meter.lab", ModbusAddress("meter.lab", 502, 1, "tcp")),
        ("modbus+rtu-over-tcp://127.0.0.1:4001?unit=17", ModbusAddress("127.0.0.1", 4001, 17, "rtu-over-tcp")),
    ],
)
def test_modbus_address_parsing(address, expected):
    assert ModbusAddress.parse(address) == expected


@pytest.mark.parametrize(
    "address", ["modbus://h:502", "modbus+tcp://h:502?unit=0", "modbus+tcp://h:502?unit=248", "modbus+tcp://h:x"]
)
def test_bad_modbus_addresses(address):
    with pytest.raises(ValueError):
        ModbusAddress.parse(address)


def test_scpi_address_parsing():
    assert parse_scpi_address("TCPIP::127.0.0.1::5025::SOCKET") == ("127.0.0.1", 5025)
    assert parse_scpi_address("tcpip0::bench-load::30000::socket") == ("bench-load", 30000)


@pytest.mark.parametrize(
    ("driver_name", "kwargs", "options"),
    [
        ("eastron_sdm630", {"framing": "rtu-over-tcp", "unit_id": 3}, {}),
        ("chroma_63800", {"phase": 2}, {"phase": 2}),
        ("reference_ev_emulator", {}, {}),
    ],
)
async def test_each_simulator_serves_its_driver_at_the_reported_address(plant, sim, driver, driver_name, kwargs, options):
    running = await sim(driver_name, plant, **kwargs)
    assert running.port > 0 and running.host == "127.0.0.1"
    inst = await driver(driver_name, running.address, **options)
    identity = await inst.identify()
    assert identity.model in ("SDM630", "63804", "REF-EV-EMULATOR")
    await inst.safe_state()


async def test_start_simulator_argument_errors(plant):
    with pytest.raises(KeyError, match="no simulator for driver 'wt310'"):
        await start_simulator("wt310", plant, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="needs phase"):
        await start_simulator("chroma_63800", plant, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="framing"):
        await start_simulator("reference_ev_emulator", plant, "127.0.0.1", 0, framing="rtu-over-tcp")
    with pytest.raises(ValueError, match="model '63805' is not simulated; known: 63802, 63803, 63804"):
        await start_simulator("chroma_63800", plant, "127.0.0.1", 0, phase=1, model="63805")


async def test_rtu_is_an_alias_of_rtu_over_tcp(plant, sim):
    running = await sim("eastron_sdm630", plant, framing="rtu", unit_id=5)
    assert running.address.startswith("modbus+rtu-over-tcp://127.0.0.1:") and running.address.endswith("?unit=5")
