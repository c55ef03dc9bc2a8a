"""lab_config.yaml validation: bad input names the file, the key and the reason."""
from pathlib import Path

import pytest
import yaml

from bench.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "lab_config.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.fixture
def default_data() -> dict:
    return yaml.safe_load((ROOT / "lab_config.yaml").read_text())


def test_default_config_is_valid_and_describes_the_virtual_lab():
    cfg = load_config(ROOT / "lab_config.yaml")
    assert cfg.virtual_lab.enabled
    pos = cfg.positions[0]
    assert {i.role for i in pos.instruments.values()} == {"power_meter", "ac_load", "ev_emulator"}
    assert pos.dut.meter_mpe_pct == 2.0


def test_unknown_key_is_named(tmp_path, default_data):
    default_data["positions"][0]["dut"]["rated_curent_a"] = 16
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, default_data))
    assert "lab_config.yaml: positions[0].dut.rated_curent_a: unknown key" in str(exc.value)


def test_wrong_type_is_named(tmp_path, default_data):
    default_data["positions"][0]["dut"]["rated_current_a"] = "thirty-two"
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, default_data))
    assert "positions[0].dut.rated_current_a" in str(exc.value)
    assert "number" in str(exc.value)


def test_missing_instrument_address_is_named(tmp_path, default_data):
    del default_data["positions"][0]["instruments"]["meter"]["address"]
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, default_data))
    assert "positions[0].instruments.meter.address: required key is missing" in str(exc.value)


def test_unknown_driver_and_bad_address(tmp_path, default_data):
    default_data["positions"][0]["instruments"]["meter"]["driver"] = "acme_9000"
    default_data["positions"][0]["instruments"]["ev"]["address"] = "10.0.0.1:5025"
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, default_data))
    text = str(exc.value)
    assert "instruments.meter.driver: unknown driver 'acme_9000'" in text
    assert "instruments.ev" in text and "not a VISA address" in text


def test_loads_need_distinct_phases(tmp_path, default_data):
    default_data["positions"][0]["instruments"]["load_l2"]["phase"] = 1
    with pytest.raises(ConfigError, match="two ac_load instruments on the same phase"):
        load_config(_write(tmp_path, default_data))


def test_port_zero_only_for_the_virtual_lab(tmp_path, default_data):
    default_data["virtual_lab"]["enabled"] = False
    default_data["positions"][0]["instruments"]["meter"]["address"] = "modbus+tcp://127.0.0.1:0?unit=1"
    with pytest.raises(ConfigError, match="port 0 is only allowed"):
        load_config(_write(tmp_path, default_data))


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "lab_config.yaml"
    bad.write_text("bench: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_simulated_charger_features(tmp_path, default_data):
    assert load_config(ROOT / "lab_config.yaml").virtual_lab.charger.features == "full"
    default_data["virtual_lab"]["charger"]["features"] = "minimal"
    assert load_config(_write(tmp_path, default_data)).virtual_lab.charger.features == "minimal"
    default_data["virtual_lab"]["charger"]["features"] = "tiny"
    with pytest.raises(ConfigError) as exc:
        load_config(_write(tmp_path, default_data))
    assert "virtual_lab.charger.features" in str(exc.value)


def test_dut_features_are_validated_and_named(tmp_path, default_data):
    dut = default_data["positions"][0]["dut"]
    dut["features"] = {"unsupported": ["SmartCharging"], "file_transfer": ["ftp"]}
    cfg = load_config(_write(tmp_path, default_data))
    assert cfg.positions[0].dut.features.unsupported == ["SmartCharging"]
    dut["features"] = {"unsupported": ["SmartCharging"], "supported": ["SmartCharging"]}
    with pytest.raises(ConfigError, match="positions\\[0\\].dut.features.*both supported and unsupported"):
        load_config(_write(tmp_path, default_data))
    dut["features"] = {"unsupported": ["Teleport"]}
    with pytest.raises(ConfigError, match="positions\\[0\\].dut.features.unsupported"):
        load_config(_write(tmp_path, default_data))


def test_time_warp_only_on_the_virtual_lab(tmp_path, default_data):
    default_data["virtual_lab"]["speed"] = 4
    assert load_config(_write(tmp_path, default_data)).virtual_lab.speed == 4
    default_data["virtual_lab"]["speed"] = "max"
    assert load_config(_write(tmp_path, default_data)).virtual_lab.speed == "max"
    default_data["virtual_lab"]["speed"] = "fast"
    with pytest.raises(ConfigError, match="virtual_lab.speed"):
        load_config(_write(tmp_path, default_data))
    default_data["virtual_lab"]["speed"] = 4
    default_data["virtual_lab"]["enabled"] = False
    with pytest.raises(ConfigError, match="virtual_lab.*only the virtual lab runs faster"):
        load_config(_write(tmp_path, default_data))


def test_run_refuses_a_speed_on_a_real_bench(tmp_path, default_data):
    from bench.cli import main

    default_data["virtual_lab"]["enabled"] = False
    path = _write(tmp_path, default_data)
    assert main(["run", "--config", str(path), "--speed", "3", "--out", str(tmp_path / "results")]) == 2
    assert not (tmp_path / "results").exists()  # refused before anything ran


def test_dates_stay_text_until_the_model_reads_them_and_yaml12_numbers(tmp_path):
    text = (ROOT / "lab_config.yaml").read_text().replace("sampling_rate_hz: 10", "sampling_rate_hz: 1e1")
    path = tmp_path / "lab_config.yaml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.bench.sampling_rate_hz == 10.0  # 1e1 is a number (YAML 1.2), not the text "1e1"
    assert cfg.positions[0].instruments["meter"].calibration_due.isoformat() == "2027-06-30"


def test_a_value_used_twice_loads_as_safe_dump_writes_it(tmp_path, default_data):
    shared = {"max_current_a": 40, "max_power_w": 4000}
    for name in ("load_l1", "load_l2", "load_l3"):
        default_data["positions"][0]["instruments"][name]["ratings"] = shared
    path = _write(tmp_path, default_data)
    assert "*id001" in path.read_text()  # safe_dump wrote an alias: a few are fine
    assert load_config(path).positions[0].instruments["load_l3"].ratings.max_current_a == 40


def test_ratings_may_narrow_the_model_never_widen_it(tmp_path, default_data):
    load = default_data["positions"][0]["instruments"]["load_l1"]
    load.update(model="63803", ratings={"max_current_a": 30})
    assert load_config(_write(tmp_path, default_data)).positions[0].instruments["load_l1"].max_current_a() == 30
    load["ratings"] = {"max_current_a": 40}
    with pytest.raises(ConfigError, match=r"instruments.load_l1.ratings: max_current_a 40 A is above what a 63803"):
        load_config(_write(tmp_path, default_data))


def test_preflight_refuses_a_taken_csms_port_and_an_unknown_host(tmp_path, default_data):
    import socket

    from bench.config import preflight

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        default_data["bench"]["csms"]["port"] = taken.getsockname()[1]
        default_data["virtual_lab"]["enabled"] = False
        default_data["positions"][0]["instruments"]["ev"]["address"] = "TCPIP::no-such-host.invalid::5025::SOCKET"
        path = _write(tmp_path, default_data)
        with pytest.raises(ConfigError) as exc:
            preflight(load_config(path), path)
    text = str(exc.value)
    assert f"bench.csms.port: port {default_data['bench']['csms']['port']} on 127.0.0.1 is already in use" in text
    assert "positions[0].instruments.ev.address: host 'no-such-host.invalid' does not resolve" in text
    default_data["bench"]["csms"]["port"] = 0  # a free port: bound and released again
    default_data["positions"][0]["instruments"]["ev"]["address"] = "TCPIP::127.0.0.1::5025::SOCKET"
    path = _write(tmp_path, default_data)
    preflight(load_config(path), path)


@pytest.mark.parametrize("option", [["--speed", "nan"], ["--dut-wait", "nan"], ["--dut-wait", "inf"]])
def test_run_refuses_options_that_are_not_finite(tmp_path, option):
    from bench.cli import main

    assert main(["run", "--out", str(tmp_path / "results"), *option]) == 2
    assert not (tmp_path / "results").exists()
