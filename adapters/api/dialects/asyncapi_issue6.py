"""AsyncAPI 3.0 fragments of the Charging WebSocket API and of the Communication Protocol's
push socket with the test guide's commands. Payload schemas are inferred from messages the
codecs themselves produce (:mod:`.charging_codec`, :mod:`.comms_codec`) for sample inputs, so
the document cannot drift from the wire; each message carries its sample as an example."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chargelog.projections.views import ChargePointView, ConnectorView, SessionView, SiteView

from . import charging_codec as ch
from . import comms_codec as cc

T = datetime(2025, 1, 29, 12, 0, tzinfo=UTC)


def schema_of(value: Any) -> dict[str, Any]:
    """A JSON Schema describing ``value``'s shape (objects list every key as required)."""
    if value is None:
        return {"type": ["null", "string", "number", "integer", "boolean", "object"]}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        return {"type": "array", "items": schema_of(value[0]) if value else {}}
    if isinstance(value, dict):
        return {"type": "object", "required": list(value), "properties": {k: schema_of(v) for k, v in value.items()}}
    return {}


def _message(name: str, summary: str, sample: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "summary": summary, "payload": schema_of(sample), "examples": [{"payload": sample}]}


def _fragment(channel: str, address: str, title: str, description: str,
              send: dict[str, dict[str, Any]], receive: dict[str, dict[str, Any]]) -> dict[str, Any]:
    messages = {**send, **receive}

    def refs(names: list[str]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names]

    operations = {f"{channel}Receive": {"action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                                        "messages": refs(list(receive))}}
    if send:
        operations[f"{channel}Send"] = {"action": "send", "channel": {"$ref": f"#/channels/{channel}"},
                                        "messages": refs(list(send))}
    return {"channels": {channel: {"address": address, "title": title, "description": description,
                                   "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in messages}}},
            "operations": operations, "components": {"messages": messages, "schemas": {}}}


def charging_asyncapi() -> dict[str, Any]:
    """The ``/ws`` Charging WebSocket API (charging-websocket-api.md)."""
    stamp = "2024-01-15T10:30:00.000Z"

    def req(type_: str, data: dict[str, Any] | None, id_: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": id_, "type": type_, "timestamp": stamp}
        if data is not None:
            out["data"] = data
        return out

    meter = {"transactionId": 12345, "chargePointId": "CP_001", "connectorId": 1, "energyWh": 15234.0,
             "powerW": 7500.0, "voltageV": 230.1, "currentA": 32.6, "soc": 75.0, "timestamp": stamp}
    send = {
        "charging.auth_request": _message("auth_request", "JWT authentication (also re-authentication).",
                                          req("auth_request", {"token": "eyJ…", "userId": "user-uuid"}, "msg-001")),
        "charging.start_charging_request": _message(
            "start_charging_request", "Start; answered once the charge point started the transaction.",
            req("start_charging_request", {"chargePointId": "CP_001", "connectorId": 1, "idTag": "USER_123"}, "msg-002")),
        "charging.stop_charging_request": _message(
            "stop_charging_request", "Stop a transaction of the user.",
            req("stop_charging_request", {"chargePointId": "CP_001", "transactionId": 12345, "reason": "UserStop"},
                "msg-003")),
        "charging.heartbeat.client": _message("heartbeat", "Client heartbeat (answered with the same id).",
                                              req("heartbeat", None, "heartbeat-001")),
    }
    receive = {
        "charging.auth_response": _message("auth_response", "Reply to auth_request (same id); on failure "
                                           "success=false plus error.",
                                           ch.auth_success("msg-001", "user-uuid", "ws_session_abc123", T)),
        "charging.auth_response.failure": _message("auth_response (failure)", "INVALID_TOKEN, MISSING_PARAMETERS "
                                                   "or RATE_LIMIT_EXCEEDED.",
                                                   ch.auth_failure("msg-001", ch.INVALID_TOKEN, "token expired")),
        "charging.start_charging_response": _message("start_charging_response", "Same id as the request.",
                                                     ch.start_response("msg-002", 12345, 1)),
        "charging.stop_charging_response": _message("stop_charging_response", "Same id as the request.",
                                                    ch.stop_response("msg-003", 12345)),
        "charging.charging_status_update": _message(
            "charging_status_update", "Connector status of connectors the user charges on.",
            ch.charging_status_update({"chargePointId": "CP_001", "connectorId": 1, "status": "Charging",
                                       "timestamp": stamp}, 12345)),
        "charging.meter_values_update": _message("meter_values_update", "kWh, kW, V, A, SoC %.",
                                                 ch.meter_values_update(meter)),
        "charging.heartbeat.server": _message("heartbeat", "Server heartbeat / reply.", ch.heartbeat("heartbeat-001")),
        "charging.error": _message("error", f"Codes: {', '.join(sorted(ch.ERROR_CODES))}; id = the request's id.",
                                   ch.error_message(ch.MISSING_PARAMETERS, "Missing required parameters: connectorId",
                                                    id_="msg-002", details={"missing": ["connectorId"]})),
    }
    return _fragment("chargingWs", "/ws", "Charging WebSocket API (charging-websocket-api.md)",
                     'First message {"type": "auth_request", …}. Limits: 10 connections/min per IP, 100 '
                     "messages/min per user, 5 authentication attempts/min per IP.", send, receive)


def comms_asyncapi() -> dict[str, Any]:
    """The ``/?token=`` (and ``/ws?token=``) push socket of websocket-communication-protocol.md with
    the commands of websocket-charging-flow-test-guide.md."""
    cp = ChargePointView(chargePointId="CP001", siteId="STATION001", online=True, availability="available",
                         available=3, total=4,
                         connectors=[ConnectorView(connectorId=i, status=s) for i, s in
                                     enumerate(["Available", "Available", "Available", "Charging"], 1)])
    site = SiteView(siteId="STATION001", name="Main Street Station", address="123 Main Street", latitude=40.7128,
                    longitude=-74.006, chargePoints=[cp], availability="available", available=3, total=4)
    session = SessionView(transactionId=789, chargePointId="CP001", connectorId=1, startTime=T, meterStart=1000,
                          energyWh=42500, cost=315.0, currency="EGP")
    station = cc.StationInfo("STATION001", "Cillout Mansoura", "15 Tahrir Street, Downtown, Cairo")
    started = {"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "idTag": "RFID123",
               "meterStart": 1000, "startTime": T.isoformat()}
    meter = {"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "energyWh": 42500.0, "powerW": 22000.0,
             "voltageV": 230.0, "currentA": 95.7, "soc": 50.0, "timestamp": "2025-01-29T14:15:00Z"}
    stopped = {"transactionId": 789, "chargePointId": "CP001", "connectorId": 1, "meterStop": 15500, "energyWh": 14500,
               "durationS": 3600, "cost": 101.5, "currency": "EGP", "reason": "Remote", "stopTime": "2025-01-29T13:00:00Z"}
    status_change = {"chargePointId": "CP001", "connectorId": 1, "status": "Faulted", "previousStatus": "Available",
                     "errorCode": "GroundFailure", "timestamp": "2025-01-29T12:00:00Z"}
    updates = cc.charger_updates(status_change)
    stations = cc.stations_list([site], [cp])
    receive = {
        "comms.connected": _message("connected", "First message after the handshake.",
                                    {"type": "connected", "timestamp": "2025-01-29T12:00:00Z", "userId": 123}),
        "comms.session_started": _message("session_update session_started", "", cc.session_started(started)),
        "comms.meter_value": _message("session_update meter_value", "Every documented field; kWh, kW, V, A, Wh, s.",
                                      cc.meter_value(meter, session=session, station=station,
                                                     first_soc=cc.SocSample(20.0, 17000.0))),
        "comms.session_stopped": _message("session_update session_stopped", "", cc.session_stopped(stopped)),
        "comms.session_error": _message("session_update session_error", "A command of the user failed.",
                                        cc.session_error("command.rejected", {"chargePointId": "CP001",
                                                                              "action": "RemoteStartTransaction",
                                                                              "correlationId": "corr-1"}, T)),
        "comms.charger_status_update": _message("charger_status_update", "available (X/Y) / in_use / unavailable.",
                                                cc.charger_status_update(cp, "STATION001", T)),
        "comms.charger_update.status_changed": _message("charger_update status_changed", "", updates[0]),
        "comms.charger_update.connector_status_changed": _message("charger_update connector_status_changed", "",
                                                                  updates[1]),
        "comms.charger_update.error": _message("charger_update error", "", updates[2]),
        "comms.charger_update.maintenance_mode": _message("charger_update maintenance_mode", "",
                                                          cc.maintenance_mode(cp, T)),
        "comms.charger_list_update": _message("charger_list_update", "Sites with location and chargers.",
                                              cc.charger_list_update(stations)),
        "comms.active_session_update": _message("active_session_update", "With or without (data null) a session.",
                                                cc.active_session_update(cc.active_session_data(session, "STATION001",
                                                                                                T))),
        "comms.notification": _message("notification", "", cc.notification("Charging Started",
                                                                            "Your charging session has started",
                                                                            {"session_id": 789, "charger_id": "CP001"}, T)),
        "comms.error": _message("error", "Invalid message format / rate limit.", cc.error("Invalid message format")),
        "testguide.response": _message("response", "Reply to a test-guide command.",
                                       {"type": "response", "action": "start_charging",
                                        "data": {"success": True, "session_id": 789, "transaction_id": 789,
                                                 "charger_id": "CP001", "connector_id": 1, "status": "initiated",
                                                 "message_id": "corr-…", "message": "Charging session started"},
                                        "timestamp": "2025-01-29T12:00:00Z"}),
        "testguide.response.failure": _message("response (failure)", "",
                                               {"type": "response", "action": "start_charging",
                                                "data": {"success": False, "error": "Charger not available",
                                                         "message": "The requested charger is currently unavailable"},
                                                "timestamp": "2025-01-29T12:00:00Z"}),
    }
    send = {f"testguide.{a}": _message(a, "Test guide command.", {"action": a, "data": d}) for a, d in (
        ("start_charging", {"charger_id": "CP001", "connector_id": 1}), ("stop_charging", {"charger_id": "CP001"}),
        ("get_charger_status", {"charger_id": "CP001"}), ("get_active_session", {}), ("list_chargers", {}))}
    return _fragment("commsWs", "/?token={jwt}", "Communication Protocol push socket + test guide commands",
                     "Also at /ws?token={jwt}. Close 1008: 'Authentication required', 'Invalid authentication "
                     "token', 'Server at capacity'.", send, receive)
