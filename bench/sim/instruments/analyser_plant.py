"""What the simulated analysers and loads see of the Plant: per element (phase)
quantities, an integrator, and the base classes of the analyser and AC load simulators.
The integrator runs on the Plant's energy, so the analyser's energy is exact in any clock."""
from __future__ import annotations

import math

from bench.sim.instruments.scpi_server import EXECUTION_ERROR, ScpiDevice, ScpiError, no_args, number_arg
from bench.sim.plant import Plant

NO_DATA = float("nan")
OVER_RANGE = float("inf")


def apparent_va(plant: Plant, phase: int) -> float:
    return plant.voltage_v(phase) * plant.current_a(phase)


def quantity(plant: Plant, phase: int, function: str) -> float:
    """One measured function on one phase; NaN where the instrument has no data."""
    u, i, p = plant.voltage_v(phase), plant.current_a(phase), plant.power_w(phase)
    s = apparent_va(plant, phase)
    if function == "U":
        return u
    if function == "I":
        return i
    if function == "P":
        return p
    if function == "S":
        return s
    if function == "Q":
        return math.sqrt(max(0.0, s * s - p * p))
    if function == "LAMBDA":
        return p / s if s > 0 else NO_DATA
    if function == "PHI":
        return math.degrees(math.acos(max(-1.0, min(1.0, p / s)))) if s > 0 else NO_DATA
    if function == "FU":
        return plant.settings.frequency_hz if u > 0 else NO_DATA
    if function == "FI":
        return plant.settings.frequency_hz if i > 0 else NO_DATA
    raise KeyError(function)


class Integrator:
    """RESET -> START -> STOP (-> START continues) -> RESET, per phase, in Wh and seconds."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.state = "RESET"
        self._held_wh = [0.0, 0.0, 0.0]
        self._base_wh = [0.0, 0.0, 0.0]
        self._held_s = 0.0
        self._t_start = 0.0

    def start(self) -> None:
        self._base_wh = [self.plant.energy_wh(p) for p in range(3)]
        self._t_start = self.plant.clock.monotonic()
        self.state = "START"

    def stop(self) -> None:
        self._held_wh = [self.energy_wh(p) for p in range(3)]
        self._held_s = self.elapsed_s()
        self.state = "STOP"

    def reset(self) -> None:
        self._held_wh = [0.0, 0.0, 0.0]
        self._held_s = 0.0
        self.state = "RESET"

    def energy_wh(self, phase: int) -> float:
        if self.state != "START":
            return self._held_wh[phase]
        return self._held_wh[phase] + self.plant.energy_wh(phase) - self._base_wh[phase]

    def elapsed_s(self) -> float:
        if self.state != "START":
            return self._held_s
        return self._held_s + self.plant.clock.monotonic() - self._t_start


class AnalyserSim(ScpiDevice):
    """Base of the power analyser simulators: a model from MODELS on the Plant, its *IDN?,
    and the integration commands (START/STOP/RESET, refused out of order with
    INTEGRATION_ERROR). Subclasses add their settings and measurement commands."""

    SUPPORTS_SYST_ERR = False
    DRIVER = ""  # driver name, for the unknown-model error
    MANUFACTURER = ""  # first *IDN? field
    MODELS: dict[str, int] = {}  # model -> number of inputs (channels/elements)
    INTEGRATION_ERROR = EXECUTION_ERROR

    def __init__(self, plant: Plant, *, model: str, serial: str, firmware: str) -> None:
        if model.upper() not in self.MODELS:
            raise ValueError(f"{self.DRIVER} simulator: unknown model {model!r}; known: {', '.join(self.MODELS)}")
        self.plant = plant
        self.model = model.upper()
        self.serial = serial
        self.firmware = firmware
        self.integrator = Integrator(plant)
        super().__init__()
        self.reset()

    def idn(self) -> str:
        return f"{self.MANUFACTURER},{self.model},{self.serial},{self.firmware}"

    def integration_changed(self) -> None:
        """Hook run after the integrator started, stopped or was reset."""

    def _integ_start(self, args: list[str]) -> None:
        no_args(args)
        if self.integrator.state == "START":
            raise ScpiError(self.INTEGRATION_ERROR, "integration is already running")
        self.integrator.start()
        self.integration_changed()

    def _integ_stop(self, args: list[str]) -> None:
        no_args(args)
        if self.integrator.state != "START":
            raise ScpiError(self.INTEGRATION_ERROR, "integration is not running")
        self.integrator.stop()
        self.integration_changed()

    def _integ_reset(self, args: list[str]) -> None:
        no_args(args)
        if self.integrator.state == "START":
            raise ScpiError(self.INTEGRATION_ERROR, "stop integration before resetting it")
        self.integrator.reset()
        self.integration_changed()


class PhaseLoadSim(ScpiDevice):
    """Base of the AC load simulators: one unit bound to one Plant phase (1..3), a model
    from MODELS (with max_current_a, max_power_w), the readings every load answers and
    protection checked before every command. Subclasses add their command set and
    `_check_protection`."""

    DRIVER = ""  # driver name, for the errors of a bad phase or model
    MANUFACTURER = ""  # first *IDN? field
    MODELS: dict = {}

    def __init__(self, plant: Plant, phase: int, *, model: str, serial: str, firmware: str) -> None:
        if not 1 <= phase <= 3:
            raise ValueError(f"{self.DRIVER} simulator: phase must be 1..3, got {phase}")
        if model.upper() not in self.MODELS:
            raise ValueError(f"{self.DRIVER} simulator: unknown model {model!r}; known: {', '.join(self.MODELS)}")
        self.plant = plant
        self.phase = phase
        self.index = phase - 1  # Plant phase index (0 = L1)
        self.model = self.MODELS[model.upper()]
        self.serial = serial
        self.firmware = firmware
        super().__init__()
        self.reset()

    def idn(self) -> str:
        return f"{self.MANUFACTURER},{self.model.name},{self.serial},{self.firmware}"

    def reset(self) -> None:
        self.plant.set_load(self.index, enabled=False, setpoint_a=0.0)

    def before_command(self) -> None:
        self._check_protection()

    def _check_protection(self) -> None:
        raise NotImplementedError

    # ---- shared handlers ----------------------------------------------------------------
    def _apply_current(self, args: list[str]) -> None:
        amps = number_arg(args, 0.0, self.model.max_current_a)
        self.plant.set_load(self.index, setpoint_a=amps)
        self._check_protection()

    def _switch(self, on: bool) -> None:
        self.plant.set_load(self.index, enabled=on)
        self._check_protection()

    def _enabled(self, args: list[str]) -> str:
        return "1" if self.plant.load_enabled[self.index] else "0"

    def _meas_current(self, args: list[str]) -> str:
        return f"{self.plant.current_a(self.index):.4f}"

    def _meas_voltage(self, args: list[str]) -> str:
        return f"{self.plant.load_side_voltage_v(self.index):.3f}"

    def _meas_power(self, args: list[str]) -> str:
        return f"{self.plant.power_w(self.index):.2f}"

    def _meas_freq(self, args: list[str]) -> str:
        live = self.plant.load_side_voltage_v(self.index) > 0
        return f"{self.plant.settings.frequency_hz if live else 0.0:.2f}"
