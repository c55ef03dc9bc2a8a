"""The OCPP 2.0.1/2.1 device model of the simulated charging station.

Components and variables are data (`default_variables`): what the bench's
scenarios and the 2.x use cases need (SampledDataCtrlr, AlignedDataCtrlr,
SmartChargingCtrlr, TxCtrlr, AuthCtrlr, SecurityCtrlr, OCPPCommCtrlr,
DeviceDataCtrlr, DisplayMessageCtrlr, ChargingStation, EVSE, Connector),
with the standard names of part 2, appendix 3. Only the Actual attribute is
modelled. GetVariables/SetVariables/GetBaseReport answer from here; the
charger reads its settings from here too, so a SetVariables takes effect the
way it would on a real station.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench.sim.charger_meter import SUPPORTED_MEASURANDS

MEMBER_TYPES = ("MemberList", "SequenceList")
TX_START_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
TX_STOP_POINTS = ("EVConnected", "Authorized", "PowerPathClosed", "EnergyTransfer")
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
SUPPORTED_MESSAGE_FORMATS = "ASCII,UTF8"
SUPPORTED_PRIORITIES = "AlwaysFront,InFront,NormalCycle"


@dataclass
class Variable:
    component: str
    name: str
    value: str
    mutability: str = "ReadWrite"  # ReadOnly | ReadWrite | WriteOnly
    data_type: str = "string"  # string, decimal, integer, dateTime, boolean, OptionList, SequenceList, MemberList
    values_list: str | None = None  # the allowed values of an OptionList / MemberList / SequenceList
    instance: str | None = None
    evse: int | None = None
    connector: int | None = None
    unit: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    check: Callable[[str], bool] | None = field(default=None, repr=False)  # an extra rule (e.g. passwordString)
    summary: bool = False  # part of SummaryInventory (availability and problems)

    @property
    def key(self) -> tuple[str, int | None, str, str | None]:
        return (self.component, self.evse, self.name, self.instance)

    def accepts(self, value: str) -> bool:
        """Is `value` valid for this variable's data type, limits and list?"""
        if self.data_type == "integer":
            try:
                number: float = int(value)
            except ValueError:
                return False
            return self._in_limits(number)
        if self.data_type == "decimal":
            try:
                number = float(value)
            except ValueError:
                return False
            return self._in_limits(number)
        if self.data_type == "boolean":
            return value in ("true", "false")
        allowed = self.values_list.split(",") if self.values_list else None
        if self.data_type == "OptionList":
            return allowed is None or value in allowed
        if self.data_type in MEMBER_TYPES:
            members = [m.strip() for m in value.split(",") if m.strip()]
            if self.data_type == "SequenceList" and not members:
                return False
            return allowed is None or all(m in allowed for m in members)
        return self.check(value) if self.check else True

    def _in_limits(self, number: float) -> bool:
        return (self.min_limit is None or number >= self.min_limit) and (
            self.max_limit is None or number <= self.max_limit)

    def report_data(self) -> dict:
        """ReportDataType (wire camelCase) of this variable."""
        component: dict = {"name": self.component}
        if self.evse is not None:
            component["evse"] = {"id": self.evse, **({"connectorId": self.connector} if self.connector else {})}
        variable: dict = {"name": self.name, **({"instance": self.instance} if self.instance else {})}
        attribute: dict = {"type": "Actual", "mutability": self.mutability, "persistent": True, "constant": False}
        if self.mutability != "WriteOnly":
            attribute["value"] = self.value
        characteristics: dict = {"dataType": self.data_type, "supportsMonitoring": False}
        for key, value in (("unit", self.unit), ("minLimit", self.min_limit), ("maxLimit", self.max_limit),
                           ("valuesList", self.values_list)):
            if value is not None:
                characteristics[key] = value
        return {"component": component, "variable": variable, "variableAttribute": [attribute],
                "variableCharacteristics": characteristics}


class DeviceModel:
    def __init__(self, variables: list[Variable]) -> None:
        self._vars = {v.key: v for v in variables}
        self._components = {v.component for v in variables}

    def find(self, component: str, name: str, instance: str | None = None, evse: int | None = None) -> Variable | None:
        return self._vars.get((component, evse, name, instance))

    def value(self, component: str, name: str, instance: str | None = None) -> str:
        var = self.find(component, name, instance)
        if var is None:
            raise KeyError(f"{component}.{name} is not in the device model")
        return var.value

    def number(self, component: str, name: str) -> float:
        return float(self.value(component, name))

    def flag(self, component: str, name: str) -> bool:
        return self.value(component, name) == "true"

    def members(self, component: str, name: str) -> list[str]:
        return [m.strip() for m in self.value(component, name).split(",") if m.strip()]

    def put(self, component: str, name: str, value: str, instance: str | None = None) -> None:
        """Set a value from the station itself (no mutability check)."""
        var = self.find(component, name, instance)
        if var is None:
            raise KeyError(f"{component}.{name} is not in the device model")
        var.value = value

    def _lookup(self, address: dict) -> tuple[str, Variable | None]:
        component = address.get("component", {})
        variable = address.get("variable", {})
        if component.get("name") not in self._components:
            return "UnknownComponent", None
        evse = (component.get("evse") or {}).get("id")
        var = self.find(component["name"], variable.get("name", ""), variable.get("instance"), evse)
        return ("Accepted", var) if var is not None else ("UnknownVariable", None)

    def get_variable(self, data: dict) -> dict:
        """One GetVariableResultType for a GetVariableDataType (wire camelCase)."""
        status, var = self._lookup(data)
        result = {"attributeStatus": status, "component": data["component"], "variable": data["variable"]}
        if data.get("attributeType", "Actual") != "Actual" and var is not None:
            status = "NotSupportedAttributeType"
        elif var is not None and var.mutability == "WriteOnly":
            status = "Rejected"
        result["attributeStatus"] = status
        if status == "Accepted" and var is not None:
            result["attributeType"] = "Actual"
            result["attributeValue"] = var.value
        return result

    def set_variable(self, data: dict) -> tuple[dict, Variable | None]:
        """One SetVariableResultType for a SetVariableDataType, and the variable it changed (None:
        nothing changed)."""
        status, var = self._lookup(data)
        changed = None
        if var is not None:
            if data.get("attributeType", "Actual") != "Actual":
                status = "NotSupportedAttributeType"
            elif var.mutability == "ReadOnly" or not var.accepts(data["attributeValue"]):
                status = "Rejected"
            else:
                var.value = data["attributeValue"]
                changed = var
        return {"attributeType": "Actual", "attributeStatus": status, "component": data["component"],
                "variable": data["variable"]}, changed

    def report(self, report_base: str) -> list[dict]:
        """ReportDataType items of a GetBaseReport (ConfigurationInventory: what can be set)."""
        chosen = list(self._vars.values())
        if report_base == "ConfigurationInventory":
            chosen = [v for v in chosen if v.mutability != "ReadOnly"]
        elif report_base == "SummaryInventory":
            chosen = [v for v in chosen if v.summary]
        return [v.report_data() for v in chosen]


def default_variables(*, charge_point_id: str, vendor: str, model: str, evses: int, phases: int,
                      rated_current_a: float, voltage_v: float, sample_interval_s: float, sampled_data: str,
                      security_profile: int, password_check: Callable[[str], bool]) -> list[Variable]:
    measurands = ",".join(SUPPORTED_MEASURANDS)
    energy = "Energy.Active.Import.Register"
    v = Variable
    out = [
        v("ChargingStation", "Model", model, "ReadOnly"),
        v("ChargingStation", "VendorName", vendor, "ReadOnly"),
        v("ChargingStation", "AvailabilityState", "Available", "ReadOnly", "OptionList",
          "Available,Occupied,Reserved,Unavailable,Faulted", summary=True),
        v("ChargingStation", "Available", "true", "ReadOnly", "boolean", summary=True),
        v("ChargingStation", "SupplyPhases", str(phases), "ReadOnly", "integer"),
        v("OCPPCommCtrlr", "HeartbeatInterval", "60", data_type="integer", unit="s", min_limit=0),
        v("OCPPCommCtrlr", "NetworkConfigurationPriority", "1", data_type="SequenceList", values_list="1,2"),
        v("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "3", data_type="integer", min_limit=1),
        v("OCPPCommCtrlr", "OfflineThreshold", "60", data_type="integer", unit="s", min_limit=0),
        v("OCPPCommCtrlr", "MessageTimeout", "30", data_type="integer", instance="Default", unit="s"),
        v("OCPPCommCtrlr", "MessageAttempts", "3", data_type="integer", instance="TransactionEvent", min_limit=1),
        v("OCPPCommCtrlr", "MessageAttemptInterval", "10", data_type="integer", instance="TransactionEvent"),
        v("OCPPCommCtrlr", "ResetRetries", "2", data_type="integer"),
        v("SampledDataCtrlr", "Enabled", "true", data_type="boolean"),
        v("SampledDataCtrlr", "TxStartedMeasurands", energy, data_type="MemberList", values_list=measurands),
        v("SampledDataCtrlr", "TxUpdatedMeasurands", sampled_data, data_type="MemberList", values_list=measurands),
        v("SampledDataCtrlr", "TxUpdatedInterval", _num(sample_interval_s), data_type="integer", unit="s",
          min_limit=0),
        v("SampledDataCtrlr", "TxEndedMeasurands", energy, data_type="MemberList", values_list=measurands),
        v("SampledDataCtrlr", "TxEndedInterval", "0", data_type="integer", unit="s", min_limit=0),
        v("SampledDataCtrlr", "RegisterValuesWithoutPhases", "true", "ReadOnly", "boolean"),
        v("AlignedDataCtrlr", "Enabled", "true", data_type="boolean"),
        v("AlignedDataCtrlr", "Measurands", energy, data_type="MemberList", values_list=measurands),
        v("AlignedDataCtrlr", "Interval", "0", data_type="integer", unit="s", min_limit=0),
        v("AlignedDataCtrlr", "TxEndedMeasurands", energy, data_type="MemberList", values_list=measurands),
        v("AlignedDataCtrlr", "TxEndedInterval", "0", data_type="integer", unit="s", min_limit=0),
        v("SmartChargingCtrlr", "Enabled", "true", data_type="boolean"),
        v("SmartChargingCtrlr", "Available", "true", "ReadOnly", "boolean"),
        v("SmartChargingCtrlr", "Entries", "0", "ReadOnly", "integer", instance="ChargingProfiles", max_limit=10),
        v("SmartChargingCtrlr", "LimitChangeSignificance", "1", data_type="decimal", min_limit=0),
        v("SmartChargingCtrlr", "PeriodsPerSchedule", "24", "ReadOnly", "integer"),
        v("SmartChargingCtrlr", "ProfileStackLevel", "10", "ReadOnly", "integer"),
        v("SmartChargingCtrlr", "RateUnit", "A,W", "ReadOnly", "MemberList", values_list="A,W"),
        v("SmartChargingCtrlr", "ACPhaseSwitchingSupported", "false", "ReadOnly", "boolean"),
        v("SmartChargingCtrlr", "ExternalControlSignalsEnabled", "false", data_type="boolean"),
        v("TxCtrlr", "EVConnectionTimeOut", "60", data_type="integer", unit="s", min_limit=0),
        v("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "ReadOnly", "boolean"),
        v("TxCtrlr", "StopTxOnInvalidId", "true", data_type="boolean"),
        v("TxCtrlr", "TxBeforeAcceptedEnabled", "false", "ReadOnly", "boolean"),
        v("TxCtrlr", "TxStartPoint", "PowerPathClosed", data_type="MemberList",
          values_list=",".join(TX_START_POINTS)),
        v("TxCtrlr", "TxStopPoint", "EVConnected,Authorized", data_type="MemberList",
          values_list=",".join(TX_STOP_POINTS)),
        v("AuthCtrlr", "Enabled", "true", data_type="boolean"),
        v("AuthCtrlr", "AuthorizeRemoteStart", "false", data_type="boolean"),
        v("AuthCtrlr", "LocalAuthorizeOffline", "true", data_type="boolean"),
        v("AuthCtrlr", "LocalPreAuthorize", "false", data_type="boolean"),
        v("SecurityCtrlr", "SecurityProfile", str(security_profile), "ReadOnly", "integer"),
        v("SecurityCtrlr", "Identity", charge_point_id, "ReadOnly"),
        v("SecurityCtrlr", "OrganizationName", "evbench"),
        v("SecurityCtrlr", "BasicAuthPassword", "", "WriteOnly", check=password_check),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "ReadOnly", "integer", instance="GetReport"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "ReadOnly", "integer", instance="GetVariables"),
        v("DeviceDataCtrlr", "ItemsPerMessage", "20", "ReadOnly", "integer", instance="SetVariables"),
        v("DisplayMessageCtrlr", "Enabled", "true", data_type="boolean"),
        v("DisplayMessageCtrlr", "Available", "true", "ReadOnly", "boolean"),
        v("DisplayMessageCtrlr", "DisplayMessages", "0", "ReadOnly", "integer", max_limit=10),
        v("DisplayMessageCtrlr", "SupportedFormats", SUPPORTED_MESSAGE_FORMATS, "ReadOnly", "MemberList"),
        v("DisplayMessageCtrlr", "SupportedPriorities", SUPPORTED_PRIORITIES, "ReadOnly", "MemberList"),
    ]
    for evse in range(1, evses + 1):
        out += [
            v("EVSE", "AvailabilityState", "Available", "ReadOnly", "OptionList",
              "Available,Occupied,Reserved,Unavailable,Faulted", evse=evse, summary=True),
            v("EVSE", "Available", "true", "ReadOnly", "boolean", evse=evse, summary=True),
            v("EVSE", "Power", _num(rated_current_a * voltage_v * phases), "ReadOnly", "decimal", evse=evse,
              unit="W", max_limit=rated_current_a * voltage_v * phases),
            v("EVSE", "SupplyPhases", str(phases), "ReadOnly", "integer", evse=evse),
            v("Connector", "AvailabilityState", "Available", "ReadOnly", "OptionList",
              "Available,Occupied,Reserved,Unavailable,Faulted", evse=evse, connector=1, summary=True),
            v("Connector", "ConnectorType", "cType2", "ReadOnly", evse=evse, connector=1),
        ]
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
