"""Driver and simulator registries, address parsing, and every simulator reachable through
the address its registry reports."""
from __future__ import annotations

import pytest

import sys
import textwrap

from instruments.registry import (
    DRIVERS,
    DriverInfo,
    check_model,
    create_instrument,
    discover_drivers,
    model_matches,
    open_and_identify,
    register_driver,
)
from instruments.roles import AcLoad, EvEmulator, Identity, InstrumentError, PowerMeter, Ratings
from bench.sim.instruments.registry import SIMULATORS, start_simulator
from instruments.transports.modbus import ModbusAddress
from instruments.transports.scpi import parse_scpi_address, parse_visa_address, with_port

ROLE_CLASSES = {"power_meter": PowerMeter, "ac_load": AcLoad, "ev_emulator": EvEmulator}
SHIPPED = {"eastron_sdm630", "janitza_umg604", "carlo_gavazzi_em24", "siemens_pac2200", "yokogawa_wt300",
           "hioki_pw3335", "chroma_63800", "itech_it8615", "reference_ev_emulator"}


def test_driver_entries_match_their_roles():
    assert SHIPPED <= set(DRIVERS)
    for key, info in DRIVERS.items():
        assert info.name == key
        assert issubclass(info.cls, ROLE_CLASSES[info.role])
        assert info.transport in ("modbus", "scpi") and info.description and info.models


def test_a_lab_adds_its_vendor_emulator_in_one_file(tmp_path, monkeypatch):
    """One module that declares DRIVER is all a lab writes; discovery registers it."""
    package = tmp_path / "lab_drivers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "acme_ev.py").write_text(textwrap.dedent('''
        from instruments.driver_info import DriverInfo
        from instruments.drivers.reference_ev_emulator import ReferenceEvEmulator

        class AcmeEv(ReferenceEvEmulator):
            COMMANDS = {**ReferenceEvEmulator.COMMANDS, "set_cp_state": "EV:CP {state}"}
            IDN_VENDOR = "ACME"

        DRIVER = DriverInfo("acme_ev", "ev_emulator", AcmeEv, "scpi", "ACME EV emulator", ("EVX-1",))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("instruments.registry.DRIVERS", dict(DRIVERS))  # leave the real registry as it was
    from instruments import registry

    assert registry.discover_drivers("lab_drivers") == ["acme_ev"]
    ev = registry.create_instrument("ev", "acme_ev", "TCPIP::10.0.3.30::5025::SOCKET")
    assert type(ev).__name__ == "AcmeEv" and ev.COMMANDS["set_cp_state"] == "EV:CP {state}"
    assert "acme_ev" not in DRIVERS
    sys.modules.pop("lab_drivers.acme_ev", None)
    sys.modules.pop("lab_drivers", None)


def test_discovery_finds_every_shipped_driver_module():
    assert set(discover_drivers()) == set()  # already registered at import: nothing new
    assert SHIPPED <= set(DRIVERS)


@pytest.mark.parametrize(("expected", "found", "ok"), [
    ("63804", "63804", True), ("UMG 604", "UMG604", True), ("wt333", "WT333", True), ("WT333", "WT333-D-HE", True),
    ("63803", "63804", False), ("WT33", "WT333", False), ("IT8615", "IT8616", False),
])
def test_model_matching(expected, found, ok):
    assert model_matches(expected, found) is ok


def test_check_model_names_expected_and_found():
    load = create_instrument("load_l1", "chroma_63800", "TCPIP::10.0.3.21::2101::SOCKET", phase=1, model="63804")
    check_model(load, Identity("Chroma", "63804"))
    with pytest.raises(InstrumentError) as err:
        check_model(load, Identity("Chroma", "63803", serial="638030001"))
    assert str(err.value) == ("load_l1: expected model '63804' at TCPIP::10.0.3.21::2101::SOCKET, "
                              "found Chroma '63803' (serial 638030001)")
    check_model(create_instrument("m", "eastron_sdm630", "modbus+tcp://h:502"), Identity("Eastron", "SDM630"))


async def test_open_and_identify_refuses_the_wrong_model(plant, sim):
    running = await sim("chroma_63800", plant, phase=1, model="63803")
    load = create_instrument("load_l1", "chroma_63800", running.address, phase=1, model="63804")
    try:
        with pytest.raises(InstrumentError, match="expected model '63804' .* found Chroma '63803'"):
            await open_and_identify(load)
    finally:
        await load.close()


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
        ("modbus+tcp://127.0.0.1:0?unit=2", ModbusAddress("127.0.0.1", 0, 2, "tcp")),  # port 0: any free port
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


@pytest.mark.parametrize(("address", "kind", "host", "port", "moved"), [
    ("TCPIP::10.0.3.22::5025::SOCKET", "socket", "10.0.3.22", 5025, "TCPIP::10.0.3.22::9::SOCKET"),
    ("TCPIP::10.0.3.22::INSTR", "vxi11", "10.0.3.22", None, "TCPIP::10.0.3.22,9::INSTR"),
    ("TCPIP0::10.0.3.22::inst0::INSTR", "vxi11", "10.0.3.22", None, "TCPIP::10.0.3.22,9::INSTR"),
    ("TCPIP::127.0.0.1,5555::INSTR", "vxi11", "127.0.0.1", 5555, "TCPIP::127.0.0.1,9::INSTR"),
    ("TCPIP::wt.lab::hislip0::INSTR", "hislip", "wt.lab", 4880, "TCPIP::wt.lab::hislip0,9::INSTR"),
])
def test_visa_address_parsing(address, kind, host, port, moved):
    visa = parse_visa_address(address)
    assert (visa.kind, visa.host, visa.port) == (kind, host, port)
    assert with_port(address, 9) == moved


@pytest.mark.parametrize("address", ["TCPIP::h::5025", "GPIB0::12::INSTR", "TCPIP::h,1::hislip0,2::INSTR"])
def test_bad_visa_addresses(address):
    with pytest.raises(ValueError):
        parse_visa_address(address)


@pytest.mark.parametrize("driver_name", sorted(SHIPPED))
async def test_each_simulator_serves_its_driver_at_the_reported_address(plant, sim, driver, driver_name):
    info = SIMULATORS[driver_name]
    options = {"phase": 2} if DRIVERS[driver_name].role == "ac_load" else {}
    framing = {"modbus": "rtu-over-tcp", "scpi": info.framings[-1]}[info.transport]
    running = await sim(driver_name, plant, framing=framing, unit_id=3, **options)
    assert running.port > 0 and running.host == "127.0.0.1"
    inst = await driver(driver_name, running.address, model=info.models[0], **options)
    identity = await open_and_identify_again(inst)
    assert model_matches(info.models[0], identity.model)
    assert set(info.models) <= set(DRIVERS[driver_name].models)  # every simulated model is a driver model
    await inst.read()
    await inst.safe_state()


async def open_and_identify_again(inst):
    identity = await inst.identify()
    check_model(inst, identity)
    return identity


async def test_start_simulator_argument_errors(plant):
    with pytest.raises(KeyError, match="no simulator for driver 'wt310'"):
        await start_simulator("wt310", plant, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="needs phase"):
        await start_simulator("itech_it8615", plant, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="framing"):
        await start_simulator("chroma_63800", plant, "127.0.0.1", 0, phase=1, framing="vxi11")
    with pytest.raises(ValueError, match="model 'WT500' is not simulated"):
        await start_simulator("yokogawa_wt300", plant, "127.0.0.1", 0, model="WT500")
    with pytest.raises(ValueError, match="needs phase"):
        await start_simulator("chroma_63800", plant, "127.0.0.1", 0)
    with pytest.raises(ValueError, match="framing"):
        await start_simulator("reference_ev_emulator", plant, "127.0.0.1", 0, framing="rtu-over-tcp")
    with pytest.raises(ValueError, match="model '63805' is not simulated; known: 63802, 63803, 63804"):
        await start_simulator("chroma_63800", plant, "127.0.0.1", 0, phase=1, model="63805")


async def test_rtu_is_an_alias_of_rtu_over_tcp(plant, sim):
    running = await sim("eastron_sdm630", plant, framing="rtu", unit_id=5)
    assert running.address.startswith("modbus+rtu-over-tcp://127.0.0.1:") and running.address.endswith("?unit=5")
