"""Pure formatting of the Charging WebSocket API envelope (adapters/api/dialects/charging_codec.py)
against specs/charging-websocket-api.md, "Message Protocol", "Message Types", "Error Handling"."""

from __future__ import annotations

import re

from chargelog.adapters.api.dialects import charging_codec as ch
from chargelog.adapters.api.dialects import charging_models as chm

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_envelope_has_required_fields_and_no_error_unless_failed() -> None:
    msg = ch.heartbeat("heartbeat-001")
    assert msg["id"] == "heartbeat-001" and msg["type"] == "heartbeat" and ISO_MS.match(msg["timestamp"])
    assert "error" not in msg and "data" not in msg


def test_auth_response_success_and_failure() -> None:
    ok = ch.auth_success("1", "user-uuid", "ws_session_abc", None)
    assert ok["id"] == "1" and ok["type"] == "auth_response" and "error" not in ok
    assert ok["data"]["success"] is True and ok["data"]["userId"] == "user-uuid"
    assert ok["data"]["sessionId"] == "ws_session_abc" and ok["data"]["message"] == "Authentication successful"
    bad = ch.auth_failure("1", chm.INVALID_TOKEN, "token expired")
    assert bad["type"] == "auth_response" and bad["data"]["success"] is False
    assert bad["error"]["code"] == "INVALID_TOKEN" and bad["error"]["message"].startswith("Authentication failed")


def test_start_and_stop_responses() -> None:
    start = ch.start_response("msg-002", 12345, 1)
    assert start["id"] == "msg-002" and start["type"] == "start_charging_response"
    assert start["data"] == {"success": True, "transactionId": 12345, "connectorId": 1, "status": "Accepted",
                             "message": "Charging started successfully"}
    stop = ch.stop_response("msg-003", 12345)
    assert stop["data"] == {"success": True, "transactionId": 12345, "status": "Accepted",
                            "message": "Charging stopped successfully"}


def test_error_message_format_and_code_mapping() -> None:
    err = ch.error_message(chm.MISSING_PARAMETERS, "chargePointId is required", id_="7", details={"field": "x"})
    assert err["type"] == "error" and err["id"] == "7"
    assert err["error"] == {"code": "MISSING_PARAMETERS", "message": "chargePointId is required",
                            "details": {"field": "x"}}
    assert ch.code_for("offline", "start") == "CHARGE_POINT_OFFLINE"
    assert ch.code_for("not_found", "start") == "CHARGE_POINT_OFFLINE"
    assert ch.code_for("not_found", "stop") == "TRANSACTION_NOT_FOUND"
    assert ch.code_for("forbidden", "stop") == "TRANSACTION_NOT_FOUND"
    assert ch.code_for("rejected", "start") == "GATEWAY_ERROR"
    assert ch.code_for("timeout", "stop") == "GATEWAY_ERROR"
    assert chm.ERROR_CODES == {"NOT_AUTHENTICATED", "INVALID_TOKEN", "MISSING_PARAMETERS", "INVALID_REQUEST",
                              "GATEWAY_ERROR", "CHARGE_POINT_OFFLINE", "TRANSACTION_NOT_FOUND",
                              "RATE_LIMIT_EXCEEDED"}


def test_meter_values_update_units() -> None:
    msg = ch.meter_values_update({"transactionId": 12345, "chargePointId": "CP_1", "connectorId": 1,
                                  "energyWh": 15234.0, "powerW": 7500.0, "voltageV": 230.1, "currentA": 32.6,
                                  "soc": 75.0, "timestamp": "2024-01-15T10:31:00Z"})
    assert msg["type"] == "meter_values_update" and msg["timestamp"] == "2024-01-15T10:31:00.000Z"
    assert msg["data"] == {"chargePointId": "CP_1", "connectorId": 1, "transactionId": 12345,
                           "meterValue": {"energyImportKWh": 15.234, "powerKw": 7.5, "voltage": 230.1,
                                          "current": 32.6, "timestamp": "2024-01-15T10:31:00.000Z",
                                          "stateOfCharge": 75}}


def test_charging_status_update_shape() -> None:
    msg = ch.charging_status_update({"chargePointId": "CP_1", "connectorId": 1, "status": "Charging",
                                     "timestamp": "2024-01-15T10:31:00Z"}, 12345)
    assert msg["type"] == "charging_status_update"
    assert msg["data"] == {"chargePointId": "CP_1", "connectorId": 1, "status": "Charging", "transactionId": 12345,
                           "timestamp": "2024-01-15T10:31:00.000Z"}
