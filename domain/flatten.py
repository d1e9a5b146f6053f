"""Events as flat, typed rows for analysts' tools (``chargelog export``; docs/analytics.md).

One column set per stream: the envelope's fields, then one column per payload field that an
event type carries (names in snake_case with their unit: ``energy_wh``, ``power_w``,
``duration_s``…; see :data:`DOMAIN_FIELDS` and :data:`SOURCE_FIELDS`), left null for types
without it, then ``payload_json`` (the payload's exact JSON text, for anything not flattened)
and ``position`` (the resume token just past the event). Frames keep their exact text in
``raw``. Column kinds: ``str``, ``int``, ``float``, ``bool``, ``time`` (ISO 8601 text in rows;
the writer stores UTC timestamps). Values of the wrong JSON kind (a station's text where a
number belongs) become null: a row never fails. Pure.
"""

from __future__ import annotations

from typing import Any

#: Envelope columns, first in every row: (column, kind).
ENVELOPE: tuple[tuple[str, str], ...] = (
    ("position", "str"), ("partition", "int"), ("offset", "int"), ("event_id", "str"), ("type", "str"),
    ("charge_point_id", "str"), ("occurred_at", "time"), ("recorded_at", "time"), ("source", "str"),
    ("principal_kind", "str"), ("principal_id", "str"), ("correlation_id", "str"), ("causation_id", "str"),
)

#: Domain payload field → (column, kind) (docs/contracts.md, "Domain events").
DOMAIN_FIELDS: dict[str, tuple[str, str]] = {
    "transactionId": ("transaction_id", "int"), "connectorId": ("connector_id", "int"),
    "idTag": ("id_tag", "str"), "userId": ("user_id", "str"),
    "meterStart": ("meter_start_wh", "float"), "meterStop": ("meter_stop_wh", "float"),
    "energyWh": ("energy_wh", "float"), "powerW": ("power_w", "float"), "currentA": ("current_a", "float"),
    "voltageV": ("voltage_v", "float"), "soc": ("soc_percent", "float"), "durationS": ("duration_s", "float"),
    "cost": ("cost", "float"), "currency": ("currency", "str"), "context": ("reading_context", "str"),
    "startTime": ("start_time", "time"), "stopTime": ("stop_time", "time"), "timestamp": ("measured_at", "time"),
    "at": ("at", "time"), "reason": ("reason", "str"), "known": ("known", "bool"),
    "status": ("status", "str"), "previousStatus": ("previous_status", "str"), "errorCode": ("error_code", "str"),
    "info": ("info", "str"), "vendorId": ("vendor_id", "str"), "vendorErrorCode": ("vendor_error_code", "str"),
    "availability": ("availability", "str"), "available": ("connectors_available", "int"),
    "total": ("connectors_total", "int"), "inUse": ("connectors_in_use", "int"),
    "maintenance": ("maintenance", "bool"), "action": ("action", "str"), "detail": ("detail", "str"),
}

#: Source payload field → (column, kind) (docs/contracts.md, "Source events").
SOURCE_FIELDS: dict[str, tuple[str, str]] = {
    "direction": ("direction", "str"), "messageTypeId": ("message_type_id", "int"),
    "messageId": ("message_id", "str"), "action": ("action", "str"), "errorCode": ("error_code", "str"),
    "errorDescription": ("error_description", "str"), "raw": ("raw", "str"), "reason": ("reason", "str"),
    "remoteAddress": ("remote_address", "str"), "gatewayId": ("gateway_id", "str"),
    "connectionId": ("connection_id", "str"), "code": ("close_code", "int"), "closedBy": ("closed_by", "str"),
    "timeoutSeconds": ("timeout_s", "float"), "kind": ("anomaly_kind", "str"), "detail": ("detail", "str"),
}

#: OCPP 1.6 payload field (inside an ``ocpp.frame``'s ``payload``) → (column, kind).
OCPP_FIELDS: dict[str, tuple[str, str]] = {
    "connectorId": ("connector_id", "int"), "transactionId": ("transaction_id", "int"),
    "idTag": ("id_tag", "str"), "meterStart": ("meter_start_wh", "float"), "meterStop": ("meter_stop_wh", "float"),
    "status": ("ocpp_status", "str"), "errorCode": ("status_error_code", "str"),
    "vendorErrorCode": ("vendor_error_code", "str"), "chargePointVendor": ("charge_point_vendor", "str"),
    "chargePointModel": ("charge_point_model", "str"), "firmwareVersion": ("firmware_version", "str"),
    "timestamp": ("ocpp_timestamp", "time"), "reason": ("stop_reason", "str"),
}

_TAIL: tuple[tuple[str, str], ...] = (("payload_json", "str"),)


def _columns(*maps: dict[str, tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    for mapping in maps:
        for column, kind in mapping.values():
            seen.setdefault(column, kind)
    return ENVELOPE + tuple(seen.items()) + _TAIL


#: Every column of a stream's rows, in order: (column, kind).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "domain": _columns(DOMAIN_FIELDS),
    "source": _columns(SOURCE_FIELDS, OCPP_FIELDS),
}


def _typed(value: Any, kind: str) -> Any:
    """``value`` if it is of ``kind``'s JSON kind, else None (bools are not numbers)."""
    if value is None or kind == "str" and isinstance(value, str):
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if kind == "int":
            return value if isinstance(value, int) and -2**63 <= value < 2**63 else None
        return float(value)
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "time":
        return value if isinstance(value, str) else None
    return str(value) if isinstance(value, int | float | bool) else None


def _put(row: dict[str, Any], payload: dict[str, Any], fields: dict[str, tuple[str, str]]) -> None:
    for key, value in payload.items():
        spec = fields.get(key)
        if spec is not None:
            typed = _typed(value, spec[1])
            if typed is not None:
                row[spec[0]] = typed


def flatten(stream: str, envelope: dict[str, Any], payload_json: str, position: str, partition: int,
            offset: int) -> dict[str, Any]:
    """The row of one event: ``envelope`` is its parsed JSON (fields as in domain/envelope.py),
    ``payload_json`` its payload's JSON text; columns absent from the row are null. Streams
    other than source use the domain columns."""
    principal = envelope.get("principal") or {}
    row: dict[str, Any] = {
        "position": position, "partition": partition, "offset": offset, "event_id": envelope.get("eventId"),
        "type": envelope.get("type"), "charge_point_id": envelope.get("chargePointId"),
        "occurred_at": envelope.get("occurredAt"), "recorded_at": envelope.get("recordedAt"),
        "source": envelope.get("source"), "principal_kind": principal.get("kind"),
        "principal_id": principal.get("id"), "correlation_id": envelope.get("correlationId"),
        "causation_id": envelope.get("causationId"), "payload_json": payload_json,
    }
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return row
    if stream == "source":
        _put(row, payload, SOURCE_FIELDS)
        inner = payload.get("payload")
        if envelope.get("type") == "ocpp.frame" and isinstance(inner, dict):
            _put(row, inner, OCPP_FIELDS)
    else:
        _put(row, payload, DOMAIN_FIELDS)
    return row


def payload_bytes(stored: bytes) -> bytes:
    """The exact JSON text of the ``payload`` of stored envelope bytes, without parsing them:
    from the first top-level ``,"payload":`` (no earlier field can hold that text unescaped:
    strings escape their quotes and ``principal`` has no such key) to the ``chain`` field
    after it (or the closing brace)."""
    start = stored.find(b',"payload":')
    if start < 0:
        return b"{}"
    end = stored.rfind(b',"chain":')
    return stored[start + 11:end if end > start else -1]


def payload_text(stored: bytes) -> str:
    """:func:`payload_bytes` as text."""
    return payload_bytes(stored).decode()
