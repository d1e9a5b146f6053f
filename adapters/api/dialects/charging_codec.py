"""Pure formatting for the Charging WebSocket API (specs/charging-websocket-api.md) — no
sockets: the typed envelope ``{id, type, timestamp, data, error}`` ("Message Protocol"), its
error codes ("Error Handling"), and the two pushes built from domain events.

Reply ids: a reply carries the **request's own id**. The document's JSON examples show
``"msg-001-response"``, but its own clients (``ChargingWebSocketClient.handleMessage``) match a
reply to its call by ``message.id === request id``; with a suffixed id every call would time
out. The clients' code wins (docs/dialects.md).

Timestamps are ISO 8601 UTC with milliseconds and ``Z`` (``"2024-01-15T10:30:00.000Z"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from chargelog.domain.envelope import new_event_id

from ..caller import CoreError
from ..ws import timefmt

NOT_AUTHENTICATED: Final = "NOT_AUTHENTICATED"
INVALID_TOKEN: Final = "INVALID_TOKEN"
MISSING_PARAMETERS: Final = "MISSING_PARAMETERS"
INVALID_REQUEST: Final = "INVALID_REQUEST"
GATEWAY_ERROR: Final = "GATEWAY_ERROR"
CHARGE_POINT_OFFLINE: Final = "CHARGE_POINT_OFFLINE"
TRANSACTION_NOT_FOUND: Final = "TRANSACTION_NOT_FOUND"
RATE_LIMIT_EXCEEDED: Final = "RATE_LIMIT_EXCEEDED"
#: Every code of the document's "Common Error Codes" table.
ERROR_CODES: Final = frozenset({NOT_AUTHENTICATED, INVALID_TOKEN, MISSING_PARAMETERS, INVALID_REQUEST,
                                GATEWAY_ERROR, CHARGE_POINT_OFFLINE, TRANSACTION_NOT_FOUND,
                                RATE_LIMIT_EXCEEDED})


def iso_ms(dt: datetime | str | None = None) -> str:
    """``2024-01-15T10:30:00.000Z``; ``None`` = now; ISO text is normalised."""
    return timefmt.iso_ms(datetime.now(UTC) if dt is None else dt) or ""


def message(type_: str, data: Mapping[str, Any] | None = None, *, id_: str | None = None,
            error: Mapping[str, Any] | None = None, timestamp: str | None = None) -> dict[str, Any]:
    """One envelope: ``id`` (a new UUID when not a reply), ``type``, ``timestamp``, and ``data``
    / ``error`` only when given (the document: ``error`` is "present only for error
    responses" — its client rejects a call whenever ``message.error`` is truthy)."""
    out: dict[str, Any] = {"id": id_ if id_ is not None else new_event_id(), "type": type_,
                           "timestamp": timestamp or iso_ms()}
    if data is not None:
        out["data"] = dict(data)
    if error is not None:
        out["error"] = dict(error)
    return out


def error_body(code: str, text: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"code", "message", "details"}`` (the document's "Error Message Format")."""
    return {"code": code, "message": text, "details": dict(details or {})}


def error_message(code: str, text: str, *, id_: str | None = None,
                  details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"id", "type": "error", "timestamp", "error": {code, message, details}}``; ``id`` is
    the failed request's id (so the client's pending call rejects), or a new one."""
    return message("error", id_=id_, error=error_body(code, text, details))


def auth_success(id_: str, user_id: str, session_id: str, expires_at: datetime | None) -> dict[str, Any]:
    """``auth_response`` for a valid token: ``success``, ``userId``, ``sessionId`` (this
    connection's session, ``ws_session_…``), ``expiresAt`` (the token's ``exp``), ``message``."""
    return message("auth_response", {"success": True, "userId": user_id, "sessionId": session_id,
                                      "expiresAt": iso_ms(expires_at) if expires_at else None,
                                      "message": "Authentication successful"}, id_=id_)


def auth_failure(id_: str, code: str, reason: str) -> dict[str, Any]:
    """``auth_response`` with ``success: false`` (the document's Troubleshooting: "auth_response
    with success: false") **and** an ``error`` (code INVALID_TOKEN, MISSING_PARAMETERS or
    RATE_LIMIT_EXCEEDED): the React hook reads ``data.success``; the class client rejects on
    ``error`` with a message starting "Authentication failed" (its Jest test expects that)."""
    text = f"Authentication failed: {reason}"
    return message("auth_response", {"success": False, "message": text}, id_=id_,
                   error=error_body(code, text))


def start_response(id_: str, transaction_id: int, connector_id: int) -> dict[str, Any]:
    """``start_charging_response`` once the charge point has started the transaction."""
    return message("start_charging_response", {"success": True, "transactionId": transaction_id,
                                                "connectorId": connector_id, "status": "Accepted",
                                                "message": "Charging started successfully"}, id_=id_)


def stop_response(id_: str, transaction_id: int) -> dict[str, Any]:
    """``stop_charging_response`` once the charge point has stopped the transaction."""
    return message("stop_charging_response", {"success": True, "transactionId": transaction_id,
                                               "status": "Accepted",
                                               "message": "Charging stopped successfully"}, id_=id_)


def heartbeat(id_: str | None = None) -> dict[str, Any]:
    """``{"id", "type": "heartbeat", "timestamp"}`` — a reply carries the request's id."""
    return message("heartbeat", id_=id_)


#: Error code per core refusal and request kind ("start" / "stop").
_CODES: dict[tuple[str, str], str] = {
    ("bad_request", "start"): INVALID_REQUEST, ("bad_request", "stop"): INVALID_REQUEST,
    ("unauthorized", "start"): NOT_AUTHENTICATED, ("unauthorized", "stop"): NOT_AUTHENTICATED,
    ("forbidden", "start"): INVALID_REQUEST, ("forbidden", "stop"): TRANSACTION_NOT_FOUND,
    ("not_found", "start"): CHARGE_POINT_OFFLINE, ("not_found", "stop"): TRANSACTION_NOT_FOUND,
    ("offline", "start"): CHARGE_POINT_OFFLINE, ("offline", "stop"): CHARGE_POINT_OFFLINE,
}


def code_for(kind: str, request: str) -> str:
    """The document's code for a core refusal (:class:`CoreError` ``kind``) of a start or stop:
    not_found on a start is an unknown charge point → CHARGE_POINT_OFFLINE ("Charge point not
    connected"); forbidden / not_found on a stop → TRANSACTION_NOT_FOUND (another user's
    transaction is not revealed); offline → CHARGE_POINT_OFFLINE; the charge point's refusal,
    a timeout and anything internal → GATEWAY_ERROR."""
    return _CODES.get((kind, request), GATEWAY_ERROR)


def core_error(id_: str, exc: CoreError, request: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An ``error`` reply for a :class:`CoreError` raised by a start or stop request."""
    extra = {"reason": exc.kind, **(details or {})}
    if exc.correlationId:
        extra["correlationId"] = exc.correlationId
    return error_message(code_for(exc.kind, request), exc.message, id_=id_, details=extra)


def charging_status_update(payload: Mapping[str, Any], transaction_id: int | None) -> dict[str, Any]:
    """``charging_status_update`` from a ``connector.status.changed`` domain payload: the OCPP
    1.6 ChargePointStatus of the connector (§7.7), with the transaction running on it
    (``transactionId``, null when none)."""
    at = iso_ms(payload.get("timestamp")) if payload.get("timestamp") else iso_ms()
    return message("charging_status_update", {
        "chargePointId": payload.get("chargePointId"), "connectorId": payload.get("connectorId"),
        "status": payload.get("status"), "transactionId": transaction_id, "timestamp": at}, timestamp=at)


def meter_values_update(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``meter_values_update`` from a ``meter.update`` domain payload: ``energyImportKWh`` =
    energy imported in this transaction (kWh, from ``energyWh``), ``powerKw`` kW, ``voltage`` V,
    ``current`` A, ``stateOfCharge`` % (null when the charge point reports none)."""
    at = iso_ms(payload.get("timestamp")) if payload.get("timestamp") else iso_ms()
    power = payload.get("powerW")
    soc = payload.get("soc")
    return message("meter_values_update", {
        "chargePointId": payload.get("chargePointId"), "connectorId": payload.get("connectorId"),
        "transactionId": payload.get("transactionId"),
        "meterValue": {
            "energyImportKWh": round(float(payload.get("energyWh") or 0.0) / 1000.0, 3),
            "powerKw": None if power is None else round(power / 1000.0, 2),
            "voltage": payload.get("voltageV"),
            "current": payload.get("currentA"),
            "timestamp": at,
            "stateOfCharge": None if soc is None else (int(soc) if float(soc).is_integer() else soc),
        }}, timestamp=at)
