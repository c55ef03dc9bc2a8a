"""Which driver implements which role: the names `lab_config.yaml` uses in `driver:`.

Drivers are found, not listed: every module in `instruments/drivers/` that declares
`DRIVER = DriverInfo(...)` is registered under `DRIVER.name`. A lab adds its own
model (e.g. its vendor's EV emulator) in one file:
- drop `instruments/drivers/<vendor_model>.py` (recipe in
  `instruments/drivers/reference_ev_emulator.py`), or
- keep it in the lab's own package and announce it through the entry point group
  `evbench.drivers` (`<name> = "lab_pkg.module"`, the module declares `DRIVER`), or
- call `register_driver(DriverInfo(...))` from the lab's own code.
Nothing else in the bench changes; `bench instruments list` shows it.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType

from instruments.driver_info import DriverInfo, Role, Transport
from instruments.roles import Identity, Instrument, InstrumentError, Ratings

__all__ = ["DRIVERS", "DriverInfo", "Role", "Transport", "create_instrument", "register_driver",
           "discover_drivers", "check_model", "model_matches", "open_and_identify", "ENTRY_POINT_GROUP"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "evbench.drivers"
DRIVERS: dict[str, DriverInfo] = {}


def register_driver(info: DriverInfo) -> None:
    """Add a lab's own driver; refuses to silently replace an existing name."""
    if info.name in DRIVERS and DRIVERS[info.name] != info:
        raise ValueError(f"driver {info.name!r} is already registered ({DRIVERS[info.name].cls.__name__})")
    DRIVERS[info.name] = info


def _register_module(module: ModuleType) -> None:
    info = getattr(module, "DRIVER", None)
    if isinstance(info, DriverInfo):
        register_driver(info)


def discover_drivers(package: str = "instruments.drivers") -> list[str]:
    """Import every module of `package` and register the `DRIVER` each declares."""
    found = []
    pkg = importlib.import_module(package)
    for module_info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        before = set(DRIVERS)
        _register_module(module)
        found += sorted(set(DRIVERS) - before)
    return found


def _discover_entry_points() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            _register_module(importlib.import_module(ep.value.split(":")[0]))
        except Exception as exc:  # one broken plug-in must not take the bench down
            log.error("driver plug-in %s (%s) could not be loaded: %s", ep.name, ep.value, exc)


discover_drivers()
_discover_entry_points()


def create_instrument(name: str, driver: str, address: str, ratings: Ratings | None = None, *,
                      model: str | None = None, **options) -> Instrument:
    """Build (not open) the instrument `name` with the driver named in the config.
    `model` is the model the config expects there: `check_model()` compares it with
    what the instrument reports."""
    info = DRIVERS.get(driver)
    if info is None:
        raise KeyError(f"instrument {name!r}: unknown driver {driver!r}; known drivers: {', '.join(sorted(DRIVERS))}")
    instrument = info.cls(name, address, ratings, **options)
    instrument.expected_model = model
    return instrument


def _normal(model: str) -> str:
    return "".join(c for c in model.upper() if c.isalnum())


def model_matches(expected: str, found: str) -> bool:
    """`63804` matches `63804`; `UMG 604` matches `UMG604`; `WT333` matches `WT333E`-style
    variants only where the instrument reports a longer name starting with the expected one
    followed by a separator (`WT333-D-HE`)."""
    if _normal(expected) == _normal(found):
        return True
    head = found.upper().strip()
    exp = expected.upper().strip()
    return head.startswith(exp) and not head[len(exp)].isalnum()


def check_model(instrument: Instrument, identity: Identity) -> None:
    """Raise InstrumentError naming expected and found when the instrument is not the
    model the config says sits at that address."""
    expected = getattr(instrument, "expected_model", None)
    if expected and not model_matches(expected, identity.model):
        raise InstrumentError(
            f"{instrument.name}: expected model {expected!r} at {instrument.address}, "
            f"found {identity.vendor} {identity.model!r}"
            + (f" (serial {identity.serial})" if identity.serial else "")
        )


async def open_and_identify(instrument: Instrument) -> Identity:
    """Open, read the identity and check it against the configured model. The caller
    closes the instrument on every path (also when this raises)."""
    await instrument.open()
    identity = await instrument.identify()
    check_model(instrument, identity)
    return identity
