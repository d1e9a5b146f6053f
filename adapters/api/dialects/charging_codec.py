"""Pure formatting for the Charging WebSocket API (specs/charging-websocket-api.md) — no
sockets: the typed envelope ``{id, type, timestamp, data, error}`` ("Message Protocol"), its
error codes ("Error Handling"), and the two pushes built from domain events — each message
built through its model in :mod:`.charging_models`.

Reply ids: a reply carries the **request's own id**. The document's JSON examples show
``"msg-001-response"``, but its own clients (``ChargingWebSocketClient.handleMessage``) match a
reply to its call by ``message.id === request id``; with a suffixed id every call would time
out. The clients' code wins (docs/dialects.md).

Timestamps are ISO 8601 UTC with milliseconds and ``Z`` (``"2024-01-15T10:30:00.000Z"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..ws.timefmt import iso_ms
from . import charging_models as m
from .charging_models import (CHARGE_POINT_OFFLINE, GATEWAY_ERROR, INVALID_REQUEST, NOT_AUTHENTICATED,
                              TRANSACTION_NOT_FOUND)


def error_message(code: str, text: str, *, id_: str | None = None,
                  details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"id", "type": "error", "timestamp", "error": {code, message, details}}`` (the
    document's "Error Message Format"); ``id`` is the failed request's id (so the client's
    pending call rejects), or a new one."""
    return m.Error(id=id_, error=m.ErrorBody(code=code, message=text, details=dict(details or {}))).model_dump()


def auth_success(id_: str, user_id: str, session_id: str, expires_at: datetime | None) -> dict[str, Any]:
    """``auth_response`` for a valid token: ``success``, ``userId``, ``sessionId`` (this
    connection's session, ``ws_session_…``), ``expiresAt`` (the token's ``exp``), ``message``."""
    return m.AuthResponse(id=id_, data=m.AuthResponseData(userId=user_id, sessionId=session_id,
                                                          expiresAt=expires_at)).model_dump()


def auth_failure(id_: str, code: str, reason: str) -> dict[str, Any]:
    """``auth_response`` with ``success: false`` (the document's Troubleshooting: "auth_response
    with success: false") **and** an ``error`` (code INVALID_TOKEN, MISSING_PARAMETERS or
    RATE_LIMIT_EXCEEDED): the React hook reads ``data.success``; the class client rejects on
    ``error`` with a message starting "Authentication failed" (its Jest test expects that)."""
    text = f"Authentication failed: {reason}"
    return m.AuthFailure(id=id_, data=m.AuthFailureData(message=text),
                         error=m.ErrorBody(code=code, message=text)).model_dump()


def start_response(id_: str, transaction_id: int, connector_id: int) -> dict[str, Any]:
    """``start_charging_response`` once the charge point has started the transaction."""
    return m.StartChargingResponse(id=id_, data=m.StartChargingResponseData(
        transactionId=transaction_id, connectorId=connector_id)).model_dump()


def stop_response(id_: str, transaction_id: int) -> dict[str, Any]:
    """``stop_charging_response`` once the charge point has stopped the transaction."""
    return m.StopChargingResponse(id=id_, data=m.StopChargingResponseData(transactionId=transaction_id)).model_dump()


def heartbeat(id_: str | None = None) -> dict[str, Any]:
    """``{"id", "type": "heartbeat", "timestamp"}`` — a reply carries the request's id."""
    return m.Heartbeat(id=id_).model_dump()


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


def charging_status_update(payload: Mapping[str, Any], transaction_id: int | None) -> dict[str, Any]:
    """``charging_status_update`` from a ``connector.status.changed`` domain payload: the OCPP
    1.6 ChargePointStatus of the connector (§7.7), with the transaction running on it
    (``transactionId``, null when none)."""
    at = iso_ms(payload.get("timestamp") or datetime.now(UTC))
    data = m.ChargingStatusUpdateData.of(payload, transactionId=transaction_id, timestamp=at)
    return m.ChargingStatusUpdate(data=data, timestamp=at).model_dump()


def meter_values_update(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``meter_values_update`` from a ``meter.update`` domain payload: ``energyImportKWh`` =
    energy imported in this transaction (kWh, from ``energyWh``), ``powerKw`` kW, ``voltage`` V,
    ``current`` A, ``stateOfCharge`` % (null when the charge point reports none)."""
    at = iso_ms(payload.get("timestamp") or datetime.now(UTC))
    data = m.MeterValuesUpdateData.of(payload, meterValue=m.MeterValue.of(payload, timestamp=at))
    return m.MeterValuesUpdate(data=data, timestamp=at).model_dump()
