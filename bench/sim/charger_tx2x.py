"""The OCPP 2.0.1 / 2.1 transaction flow of the simulated charger (used by `charger_ocpp2x`).

Transactions are TransactionEvent Started/Updated/Ended with a seqNo per transaction, started
and ended by TxCtrlr.TxStartPoint/TxStopPoint (events EVConnected, Authorized,
PowerPathClosed, EnergyTransfer: a transaction starts when one of the start points becomes
true and ends when one of the stop points stops being true). The defaults (PowerPathClosed;
EVConnected,Authorized) start and end a transaction where a 1.6 charger sends
StartTransaction/StopTransaction, so one scenario means the same on every version. The
charging state (Charging, SuspendedEVSE, ...) goes in TransactionEvent. It works on the
station's public methods and the adapter's device model.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.clock import iso_utc
from instruments.iec61851 import MIN_AC_CURRENT_A, CpState
from bench.sim import faults as F
from bench.sim.charger_meter import meter_value
from bench.sim.charger_signing import Signing
from bench.sim.device_model import DeviceModel
from bench.sim.station import Connector, Station, Transaction
from bench.smart_charging import ProfileStore201

log = logging.getLogger(__name__)

# The 1.6 settings the station reads -> device-model variables.
SETTINGS: dict[str, tuple[str, str]] = {
    "HeartbeatInterval": ("OCPPCommCtrlr", "HeartbeatInterval"),
    "MeterValueSampleInterval": ("SampledDataCtrlr", "TxUpdatedInterval"),
    "MeterValuesSampledData": ("SampledDataCtrlr", "TxUpdatedMeasurands"),
    "StopTxnSampledData": ("SampledDataCtrlr", "TxEndedMeasurands"),
    "ClockAlignedDataInterval": ("AlignedDataCtrlr", "Interval"),
    "MeterValuesAlignedData": ("AlignedDataCtrlr", "Measurands"),
    "ConnectionTimeOut": ("TxCtrlr", "EVConnectionTimeOut"),
}
# Why a transaction ended -> the triggerReason of its Ended event.
STOP_TRIGGERS = {"Remote": "RemoteStop", "Local": "StopAuthorized", "EVDisconnected": "EVCommunicationLost",
                 "DeAuthorized": "Deauthorized", "ImmediateReset": "ResetCommand", "Reboot": "ResetCommand",
                 "StoppedByEV": "ChargingStateChanged", "Other": "AbnormalCondition"}
# 1.6 stop reasons the station uses -> 2.x ReasonEnumType
REASONS_16 = {"HardReset": "ImmediateReset", "SoftReset": "Reboot", "UnlockCommand": "Other"}
LOCAL_TOKEN_TYPE = "ISO14443"  # an RFID card at the charger


def v2x_meter_value(value_16: dict) -> dict:
    """A MeterValue built for 1.6 (values as strings, `unit`, `format`) -> MeterValueType of 2.x."""
    sampled = []
    for sv in value_16["sampledValue"]:
        out = {"value": float(sv["value"]), "unitOfMeasure": {"unit": sv["unit"]}}
        for key in ("context", "measurand", "phase", "location"):
            if key in sv:
                out[key] = sv[key]
        sampled.append(out)
    return {"timestamp": value_16["timestamp"], "sampledValue": sampled}


@dataclass
class TxFlow:
    """What a connector's 2.x transaction flow remembers between ticks."""

    seq_no: int = 0
    remote_start_id: int | None = None
    token_type: str = LOCAL_TOKEN_TYPE
    auth_trigger: str = "Authorized"  # or RemoteStart: how the current authorization came
    stop_reason: str | None = None  # set when authorization is withdrawn (Remote, Local, ...)
    conditions: dict[str, bool] = field(default_factory=dict)  # start/stop point conditions at the last tick
    charging_state: str | None = None
    energy_seen: bool = False


class Transactions2x:
    """The connectors' transaction flows on `station`, configured by `model`; `messages` is the
    version's `ocpp` call module (TransactionEvent)."""

    def __init__(self, station: Station, model: DeviceModel, messages: Any) -> None:
        self.station = station
        self.model = model
        self.CALL = messages
        self.flows = {i: TxFlow() for i in station.connectors}
        cfg = station.config
        self.signing = Signing(cfg.serial, cfg.connectors, cfg.faults)

    def token(self, tag: str, token_type: str = LOCAL_TOKEN_TYPE) -> dict:
        return {"idToken": tag, "type": token_type}

    def setting_members(self, key: str) -> list[str]:
        return self.model.members(*SETTINGS[key])

    def can_authorize(self, conn: Connector) -> bool:
        """Free for a new authorization: no driver yet (a transaction may run without one when
        TxStartPoint has EVConnected)."""
        return (conn.operative and conn.authorized_tag is None
                and self.station.cp_state(conn) not in (CpState.E, CpState.F))

    def grant(self, conn: Connector, tag: str, profile: dict | None) -> None:
        self.station.authorize(conn, tag, profile)
        tx = conn.transaction
        if tx is not None and not tx.id_tag:  # a transaction without a driver gets one
            tx.id_tag = tag
            self.post_event(conn, "Updated", self.flows[conn.connector_id].auth_trigger, id_token=True)

    def deauthorize(self, conn: Connector, reason: str) -> None:
        """Authorization withdrawn (remote stop, local stop, invalid id): the transaction ends now
        if a stop point needs the authorization, else energy stops and it ends at unplug."""
        flow = self.flows[conn.connector_id]
        flow.stop_reason = reason
        conn.end_session()
        stop_points = set(self.model.members("TxCtrlr", "TxStopPoint"))
        if conn.transaction and stop_points & {"Authorized", "PowerPathClosed"}:
            self.station.end_transaction_logged(conn, reason)
        elif conn.transaction:  # the new charging state goes with the event that caused it
            flow.charging_state = self.charging_state(conn, self.station.cp_state(conn))
            self.post_event(conn, "Updated", STOP_TRIGGERS.get(reason, "Deauthorized"))
        self.station.limits_changed()

    # ---- transactions: TxStartPoint / TxStopPoint ------------------------------------------------
    def power_path_closed(self, conn: Connector, cp: CpState) -> bool:
        return conn.authorized_tag is not None and cp.is_connected and conn.operative

    def conditions(self, conn: Connector, cp: CpState) -> dict[str, bool]:
        connected, authorized = cp.is_connected, conn.authorized_tag is not None
        plant = self.station.plant
        return {"EVConnected": connected, "Authorized": authorized,
                "PowerPathClosed": connected and authorized and conn.operative,
                "EnergyTransfer": plant.contactor_closed and cp.is_charging and conn.connector_id == 1}

    def session_transitions(self, conn: Connector, cp: CpState, now: float) -> None:
        flow = self.flows[conn.connector_id]
        was, now_cond = flow.conditions, self.conditions(conn, cp)
        flow.conditions = now_cond
        if conn.transaction is not None:
            flow.energy_seen |= now_cond["EnergyTransfer"]
            self._check_stop_points(conn, flow, now_cond)
        elif conn.operative and cp not in (CpState.E, CpState.F):
            rose = [p for p in self.model.members("TxCtrlr", "TxStartPoint") if now_cond.get(p) and not was.get(p)]
            if rose:
                self._begin_transaction(conn, self._start_trigger(flow, was, now_cond))
        if self.station.connection_timed_out(conn, now):
            conn.end_session()  # EVConnectionTimeOut: the driver never plugged in
        if cp is CpState.A:
            conn.finishing = False

    def _start_trigger(self, flow: TxFlow, was: dict[str, bool], now: dict[str, bool]) -> str:
        if now["Authorized"] and not was.get("Authorized"):
            return flow.auth_trigger  # the driver's (or the CSMS's) action came last
        if now["EVConnected"] and not was.get("EVConnected"):
            return "CablePluggedIn"
        return "ChargingStateChanged"

    def _check_stop_points(self, conn: Connector, flow: TxFlow, cond: dict[str, bool]) -> None:
        broken = [p for p in self.model.members("TxCtrlr", "TxStopPoint")
                  if not cond.get(p, True) and (p != "EnergyTransfer" or flow.energy_seen)]
        if not cond["EVConnected"] and self.model.flag("TxCtrlr", "StopTxOnEVSideDisconnect"):
            broken.append("EVConnected")
        if not broken:
            return
        if not cond["EVConnected"]:
            reason = "EVDisconnected"
        elif broken == ["EnergyTransfer"]:
            reason = "StoppedByEV"
        else:
            reason = flow.stop_reason or "DeAuthorized"
        self.station.end_transaction_logged(conn, reason)

    def _begin_transaction(self, conn: Connector, trigger: str) -> None:
        st = self.station
        now = st.clock.utcnow()
        reading = st.read(conn)
        flow = self.flows[conn.connector_id]
        begin = meter_value(reading, timestamp=now, context="Transaction.Begin",
                            measurands=self.setting_members("StopTxnSampledData"),
                            resolution_wh=st.config.meter_resolution_wh)
        tx_id = str(uuid.uuid4())
        conn.transaction = Transaction(
            transaction_id=tx_id, id_tag=conn.authorized_tag or "",
            meter_start_wh=int(round(reading.energy_wh)), started_utc=now,
            last_sample_mono=st.clock.monotonic(), begin_value=begin)
        conn.finishing = False
        flow.seq_no, flow.energy_seen, flow.stop_reason = 0, False, None
        flow.charging_state = self.charging_state(conn, st.cp_state(conn))
        profile, conn.pending_profile = conn.pending_profile, None
        if profile is not None:
            store = st.store
            assert isinstance(store, ProfileStore201)  # make_store() of a 2.x version
            ok, why = store.install(conn.connector_id, profile, active_transaction_id=tx_id,
                                    source="RequestStartTransaction")
            if not ok:
                log.warning("%s: RequestStartTransaction profile not installed: %s", st.config.charge_point_id, why)
        st.limits_changed()
        started = meter_value(reading, timestamp=now, context="Transaction.Begin",
                              measurands=self.model.members("SampledDataCtrlr", "TxStartedMeasurands"),
                              resolution_wh=st.config.meter_resolution_wh)
        signed = self.signed(conn, conn.transaction, v2x_meter_value(started), reading.energy_wh, now,
                             "Transaction.Begin") if started["sampledValue"] else None
        future = self.post_event(conn, "Started", trigger, id_token=bool(conn.authorized_tag),
                                 meter=[signed] if signed else None)
        future.add_done_callback(lambda f: self._check_authorization(conn, tx_id, f))

    def _check_authorization(self, conn: Connector, tx_id: str, answer: Any) -> None:
        """TransactionEventResponse.idTokenInfo not Accepted: stop (TxCtrlr.StopTxOnInvalidId)."""
        if answer.cancelled() or answer.exception() is not None or answer.result() is None:
            return
        info = answer.result().id_token_info
        tx = conn.transaction
        if (info and info.get("status") != "Accepted" and tx is not None and tx.transaction_id == tx_id
                and self.model.flag("TxCtrlr", "StopTxOnInvalidId")):
            self.deauthorize(conn, "DeAuthorized")

    def end_transaction(self, conn: Connector, reason: str) -> asyncio.Future | None:
        st = self.station
        tx = conn.transaction
        if tx is None:
            return None
        reason = REASONS_16.get(reason, reason)
        flow = self.flows[conn.connector_id]
        conn.end_session()
        cp = st.cp_state(conn)
        st.drive_outputs(conn, cp)  # power path open before the final reading
        now = st.clock.utcnow()
        reading = st.read(conn)
        end = meter_value(reading, timestamp=now, context="Transaction.End",
                          measurands=self.setting_members("StopTxnSampledData"),
                          resolution_wh=st.config.meter_resolution_wh)
        meter = [v2x_meter_value(tx.begin_value),
                 self.signed(conn, tx, v2x_meter_value(end), reading.energy_wh, now, "Transaction.End")
                 ] if end["sampledValue"] else None
        flow.charging_state = self.charging_state(conn, cp)
        future = self.post_event(conn, "Ended", STOP_TRIGGERS.get(reason, "AbnormalCondition"), meter=meter,
                                 stopped_reason=reason, id_token=reason == "Local")
        conn.transaction = None
        conn.finishing = cp.is_connected
        st.transaction_ended(conn)
        return future

    def signed(self, conn: Connector, tx: Transaction, value: dict, energy_wh: float, now: datetime,
               context: str) -> dict:
        """The 2.x MeterValue with its signed record when SignReadings is set (SampledDataCtrlr, for
        clock-aligned values AlignedDataCtrlr: 2.0.1 part 2 2.7.3, 2.7.14)."""
        ctrlr = "AlignedDataCtrlr" if context == "Sample.Clock" else "SampledDataCtrlr"
        if self.model.find(ctrlr, "SignReadings") is None or not self.model.flag(ctrlr, "SignReadings"):
            return value  # no signing meter, or not asked to sign
        record = self.signing.record(conn.connector_id, energy_wh=energy_wh, time=now, context=context,
                                     resolution_wh=self.station.config.meter_resolution_wh,
                                     id_tag=tx.id_tag or conn.authorized_tag or "")
        return self.signing.add_2x(value, record, conn.connector_id, tx.transaction_id,
                                   self.model.value("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue"), energy_wh)

    def post_event(self, conn: Connector, event_type: str, trigger: str, *, id_token: bool = False,
                   meter: list[dict] | None = None, stopped_reason: str | None = None) -> asyncio.Future:
        """Queue a TransactionEvent of the connector's transaction (durable: kept over a lost
        connection, sent with offline=true when it happened offline)."""
        st = self.station
        tx = conn.transaction
        assert tx is not None
        flow = self.flows[conn.connector_id]
        info: dict[str, Any] = {"transactionId": tx.transaction_id}
        if flow.charging_state:
            info["chargingState"] = flow.charging_state
        if stopped_reason:
            info["stoppedReason"] = stopped_reason
        if flow.remote_start_id is not None and (event_type == "Started" or trigger == "RemoteStart"):
            info["remoteStartId"] = flow.remote_start_id  # lets the CSMS match its RequestStartTransaction
        extra: dict[str, Any] = {}
        if not st.online:
            extra["offline"] = True
        if id_token and tx.id_tag:
            extra["id_token"] = self.token(tx.id_tag, flow.token_type)
        if meter:
            extra["meter_value"] = meter
        if event_type == "Started" and tx.id_tag and (
                reservation_id := st.reservations.take(conn.connector_id, tx.id_tag)) is not None:
            extra["reservation_id"] = reservation_id
        payload = self.CALL.TransactionEvent(
            event_type=event_type, timestamp=iso_utc(st.clock.utcnow()), trigger_reason=trigger,
            seq_no=flow.seq_no, transaction_info=info, evse={"id": conn.connector_id, "connectorId": 1}, **extra)
        flow.seq_no += 1
        return st.enqueue(payload, durable=True)

    def charging_state(self, conn: Connector, cp: CpState) -> str:
        faults = self.station.faults
        if not cp.is_connected:
            return "Idle"
        if conn.authorized_tag is None or not conn.operative:
            return "EVConnected"
        if conn.applied_limit_a < MIN_AC_CURRENT_A:
            return F.reported_status("SuspendedEVSE", faults)
        tx = conn.transaction
        if not cp.is_charging and tx is not None:
            conn.suspended_in = tx.transaction_id
        suspended_before = tx is not None and conn.suspended_in == tx.transaction_id
        if cp.is_charging:
            return F.status_while_transaction("Charging", suspended_before, faults)
        return F.reported_status("SuspendedEV", faults)

    def update_charging_state(self, conn: Connector, cp: CpState) -> None:
        """A running transaction's charging state changed: TransactionEvent Updated."""
        if conn.transaction is not None:
            flow = self.flows[conn.connector_id]
            state = self.charging_state(conn, cp)
            if state != flow.charging_state:
                flow.charging_state = state
                self.post_event(conn, "Updated", "ChargingStateChanged")
