"""The simulated charger is composed, not stacked: a version-neutral station and one OCPP
adapter per version; the adapters and the feature modules use only the station's public
methods (no `_private` attribute of another object)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.sim import charger_link
from bench.sim.charger import ADAPTERS
from bench.sim.charger_ocpp2x import Ocpp2xAdapter
from bench.sim.charger_ocpp16 import Ocpp16Adapter
from bench.sim.station import Station

SIM = Path(__file__).resolve().parents[2] / "bench" / "sim"
MODULES = sorted([*SIM.glob("charger*.py"), SIM / "station.py", SIM / "device_model.py"])


def _foreign_private_accesses(path: Path) -> list[str]:
    """`x._name` where x is not `self` (nor `super()`, the object's own class chain)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
            continue
        out.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_reaches_into_another_objects_private_attributes(path):
    assert _foreign_private_accesses(path) == []


def test_the_check_sees_a_foreign_private_access(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(station):\n    return station._connectors, self_like._x\n")
    assert len(_foreign_private_accesses(bad)) == 2


def test_one_station_class_and_an_adapter_per_version():
    assert set(ADAPTERS) == {"1.6", "2.0.1", "2.1"}
    assert ADAPTERS["2.0.1"] is ADAPTERS["2.1"] is Ocpp2xAdapter and ADAPTERS["1.6"] is Ocpp16Adapter
    for adapter in (Ocpp16Adapter, Ocpp2xAdapter):  # adapters are not chargers: no Station in their bases
        assert not issubclass(adapter, Station)
    assert set(charger_link.LINKS) == set(ADAPTERS)


def test_adapters_route_with_the_library_decorators():
    for adapter, actions in ((Ocpp16Adapter, {"RemoteStartTransaction", "SetChargingProfile", "Reset"}),
                             (Ocpp2xAdapter, {"RequestStartTransaction", "SetChargingProfile", "GetVariables"})):
        routed = {getattr(m, "_on_action") for m in vars(adapter).values() if hasattr(m, "_on_action")}
        assert actions <= routed
