"""The fold is total and trustworthy (pure scenarios): only CALLs the central system answered
with a CALLRESULT count, every field is checked before it is believed, transactions belong to
their charge point, and command answers mean what OCPP 1.6 says."""

from __future__ import annotations

import pytest

from chargelog.domain.command_outcomes import NO_STATUS, OUTCOMES, command_outcome
from chargelog.domain.model import TranslatorState
from chargelog.domain.trace import Trace
from chargelog.domain.translate import SourceRef, translate, translate_all


def fold(*batches):
    state = TranslatorState()
    return state, translate_all(state, [e for batch in batches for e in batch])


def of_type(events, type_):
    return [e for e in events if e.type == type_]


def kinds(events):
    return [e.payload["kind"] for e in of_type(events, "ocpp.anomaly")]


def test_a_call_answered_with_a_callerror_derives_only_an_anomaly():
    t = Trace("CP1")
    numeric = {"connectorId": 1, "transactionId": 1,
               "meterValue": [{"timestamp": t.now(), "sampledValue": [{"value": 43000}]}]}
    _, events = fold(t.opened(), t.start(1, "T", 0, 1), t.call_error("MeterValues", numeric),
                     t.stop(1, 500))
    assert not of_type(events, "meter.update")
    assert kinds(events) == ["rejected-call"]
    assert of_type(events, "transaction.stopped")[0].payload["energyWh"] == 500


@pytest.mark.parametrize("request_", [
    {"connectorId": 1, "errorCode": ["x"], "status": "Available"},
    {"connectorId": 1, "errorCode": 10**30, "status": "Available"},
    {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "9999-99-99"},
    {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"},
    {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
    {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "x" * 51},
    {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "9999-12-31T23:59:59-01:00"},
])
def test_status_notification_answered_but_invalid_is_an_anomaly(request_):
    t = Trace("CP1")
    _, events = fold(t.opened(), t.call_in("StatusNotification", request_))
    assert not of_type(events, "connector.status.changed")
    assert kinds(events) == ["invalid-payload"]


def test_anomaly_names_its_source_event_and_position():
    t = Trace("CP1")
    state = TranslatorState()
    call, answer = t.call_in("StatusNotification", {"connectorId": 1, "errorCode": "x", "status": "Available"})
    translate(state, call, at=SourceRef(3, 41))
    _, events = translate(state, answer, at=SourceRef(3, 42))
    (anomaly,) = events
    assert anomaly.payload["sourceEventId"] == answer.eventId == anomaly.causationId
    assert (anomaly.payload["sourcePartition"], anomaly.payload["sourceOffset"]) == (3, 42)
    assert anomaly.payload["kind"] == "invalid-payload" and "errorCode" in anomaly.payload["detail"]


def test_invalid_frames_are_anomalies():
    t = Trace("CP1")
    invalid = t._event("ocpp.frame.invalid", {"direction": "in", "raw": "[2,", "reason": "not JSON",
                                              "errorCode": "FormationViolation", "messageId": None})
    _, events = fold(t.opened(), [invalid])
    assert kinds(events) == ["invalid-frame"]


def test_a_stop_for_another_charge_points_transaction_touches_nothing():
    a, b = Trace("CPA"), Trace("CPB")
    state = TranslatorState()
    events = translate_all(state, a.opened() + a.start(1, "T", 1000, 2059) + b.opened() + b.stop(2059, 99999)
                           + b.energy(1, 2059, 5000))
    assert not of_type(events, "transaction.stopped") and not of_type(events, "meter.update")
    assert kinds(events) == ["unknown-transaction", "unknown-transaction"]
    assert list(state.chargePoints["CPA"].transactions) == [2059]


def test_a_start_on_a_busy_connector_supersedes_the_old_transaction():
    t = Trace("CP1")
    state, events = fold(t.opened(), t.start(1, "T", 1000, 1), t.energy(1, 1, 1800), t.start(1, "T", 2000, 2))
    stopped = of_type(events, "transaction.stopped")
    assert [(s.payload["transactionId"], s.payload["reason"], s.payload["energyWh"]) for s in stopped] == \
        [(1, "Superseded", 800)]
    assert kinds(events) == ["superseded-transaction"]
    assert list(state.chargePoints["CP1"].transactions) == [2]
    types = [e.type for e in events]
    assert types.index("transaction.stopped") < types.index("transaction.started", types.index("transaction.stopped"))


def test_energy_is_meter_stop_minus_meter_start_even_below_a_reading():
    t = Trace("CP1")
    _, events = fold(t.opened(), t.start(1, "T", 1000, 1), t.energy(1, 1, 9000), t.stop(1, 6000))
    assert of_type(events, "transaction.stopped")[0].payload["energyWh"] == 5000
    assert of_type(events, "transaction.stopped")[0].payload["meterStop"] == 6000
    assert kinds(events) == ["meter-stop-below-reading"]


def test_meter_stop_below_meter_start_is_zero_energy_and_an_anomaly():
    t = Trace("CP1")
    _, events = fold(t.opened(), t.start(1, "T", 1000, 1), t.stop(1, 10))
    assert of_type(events, "transaction.stopped")[0].payload["energyWh"] == 0
    assert kinds(events) == ["meter-stop-below-start"]


def test_a_vanished_charge_points_transaction_closes_as_stale_by_log_time():
    t = Trace("CP1")
    opened = t.opened() + t.start(1, "T", 0, 1) + t.energy(1, 1, 700)
    gone = t.closed()
    last_seen = gone[0].occurredAt.isoformat()
    t.wait(100)
    early = t.tick(3600)  # not silent long enough yet
    t.wait(3600)
    late = t.tick(3600)
    state, events = fold(opened, gone, early, late)
    (stopped,) = of_type(events, "transaction.stopped")
    assert stopped.causationId == late[0].eventId
    assert stopped.payload["reason"] == "Stale" and stopped.payload["stopTime"] == last_seen
    assert stopped.payload["energyWh"] == 700
    assert not state.chargePoints["CP1"].transactions


def test_a_tick_does_not_close_the_transactions_of_an_online_charge_point():
    t = Trace("CP1")
    source = t.opened() + t.start(1, "T", 0, 1)
    t.wait(10 * 86400)
    _, events = fold(source, t.tick(86400))
    assert not of_type(events, "transaction.stopped")


@pytest.mark.parametrize(("action", "answer", "type_", "outcome"), [
    ("ChangeAvailability", "Scheduled", "command.accepted", "scheduled"),
    ("ChangeAvailability", "Rejected", "command.rejected", "rejected"),
    ("UnlockConnector", "Unlocked", "command.accepted", "accepted"),
    ("UnlockConnector", "UnlockFailed", "command.failed", "failed"),
    ("UnlockConnector", "NotSupported", "command.rejected", "rejected"),
    ("ReserveNow", "Occupied", "command.rejected", "rejected"),
    ("ReserveNow", "Faulted", "command.failed", "failed"),
    ("ReserveNow", "Unavailable", "command.rejected", "rejected"),
    ("ChangeConfiguration", "RebootRequired", "command.accepted", "scheduled"),
    ("SendLocalList", "Failed", "command.failed", "failed"),
])
def test_command_answers_map_to_their_ocpp_outcome(action, answer, type_, outcome):
    t = Trace("CP1")
    _, events = fold(t.opened(), t.command(action, {}, "u1", {"status": answer}, "c1"))
    (result,) = [e for e in events if e.type.startswith("command.")]
    assert (result.type, result.payload["outcome"], result.payload["status"]) == (type_, outcome, answer)
    assert result.payload["reason"] == (None if outcome in ("accepted", "scheduled") else answer)


def test_every_status_enumeration_of_every_operation_is_in_the_table():
    from ocpp.v16 import enums

    statuses = {
        "CancelReservation": enums.CancelReservationStatus, "ChangeAvailability": enums.AvailabilityStatus,
        "ChangeConfiguration": enums.ConfigurationStatus, "ClearCache": enums.ClearCacheStatus,
        "ClearChargingProfile": enums.ClearChargingProfileStatus, "DataTransfer": enums.DataTransferStatus,
        "GetCompositeSchedule": enums.GetCompositeScheduleStatus,
        "RemoteStartTransaction": enums.RemoteStartStopStatus, "RemoteStopTransaction": enums.RemoteStartStopStatus,
        "ReserveNow": enums.ReservationStatus, "Reset": enums.ResetStatus, "SendLocalList": enums.UpdateStatus,
        "SetChargingProfile": enums.ChargingProfileStatus, "TriggerMessage": enums.TriggerMessageStatus,
        "UnlockConnector": enums.UnlockStatus,
        # Security Extensions
        "CertificateSigned": enums.CertificateSignedStatus, "InstallCertificate": enums.CertificateStatus,
        "DeleteCertificate": enums.DeleteCertificateStatus,
        "GetInstalledCertificateIds": enums.GetInstalledCertificateStatus, "GetLog": enums.LogStatus,
        "SignedUpdateFirmware": enums.UpdateFirmwareStatus, "ExtendedTriggerMessage": enums.TriggerMessageStatus,
    }
    for action, enum in statuses.items():
        assert set(OUTCOMES[action]) == {s.value for s in enum}, action
    cs_actions = {"CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
                  "ClearChargingProfile", "DataTransfer", "GetCompositeSchedule", "GetConfiguration",
                  "GetDiagnostics", "GetLocalListVersion", "RemoteStartTransaction", "RemoteStopTransaction",
                  "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile", "TriggerMessage",
                  "UnlockConnector", "UpdateFirmware", "CertificateSigned", "InstallCertificate", "DeleteCertificate",
                  "GetInstalledCertificateIds", "GetLog", "SignedUpdateFirmware", "ExtendedTriggerMessage"}
    assert set(OUTCOMES) | NO_STATUS == cs_actions
    assert command_outcome("GetConfiguration", {"configurationKey": []}) == ("accepted", None)


def test_a_schema_breaking_callresult_derives_only_an_anomaly():
    t = Trace("CP1")
    events = t.command("Reset", {"type": "Soft"}, "u1", {"status": "Accepted"}, "c1")
    broken = events[-1].model_copy(update={"payload": {**events[-1].payload, "schemaError": {
        "errorCode": "PropertyConstraintViolation", "cause": "status", "path": "status"}}})
    _, derived = fold(t.opened(), events[:-1], [broken], t.command_failed("c1", "Reset", "invalid"))
    assert kinds(derived) == ["invalid-callresult"]
    assert [(e.type, e.payload["reason"]) for e in derived if e.type.startswith("command.")] == \
        [("command.failed", "invalid")]
