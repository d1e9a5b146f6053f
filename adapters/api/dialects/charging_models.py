"""Wire models of the Charging WebSocket API (charging-websocket-api.md, "Message Structure"
and "Message Types"): the envelope ``{id, type, timestamp, data?, error?}`` and each type's
``data``. The AsyncAPI document is generated from them (:mod:`.contract`); the codec's
output is checked against them (tests/test_dialect_charging_codec.py). Times ISO 8601 UTC
with ms; energy kWh, power kW, voltage V, current A, state of charge %.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from chargelog.domain.envelope import new_event_id

from ..ws.contract import WireModel, model_name
from ..ws.timefmt import iso_ms
from ..ws.units import Kw, TimeMs, kwh
from ..ws.wire import ReplyId

NOT_AUTHENTICATED: Final = "NOT_AUTHENTICATED"
INVALID_TOKEN: Final = "INVALID_TOKEN"
MISSING_PARAMETERS: Final = "MISSING_PARAMETERS"
INVALID_REQUEST: Final = "INVALID_REQUEST"
GATEWAY_ERROR: Final = "GATEWAY_ERROR"
CHARGE_POINT_OFFLINE: Final = "CHARGE_POINT_OFFLINE"
TRANSACTION_NOT_FOUND: Final = "TRANSACTION_NOT_FOUND"
RATE_LIMIT_EXCEEDED: Final = "RATE_LIMIT_EXCEEDED"
#: Every code of the document's "Common Error Codes" table.
ErrorCode = Literal["CHARGE_POINT_OFFLINE", "GATEWAY_ERROR", "INVALID_REQUEST", "INVALID_TOKEN", "MISSING_PARAMETERS",
                    "NOT_AUTHENTICATED", "RATE_LIMIT_EXCEEDED", "TRANSACTION_NOT_FOUND"]
ERROR_CODES: Final = frozenset(ErrorCode.__args__)  # type: ignore[attr-defined]


class _Wire(WireModel):
    model_config = ConfigDict(extra="forbid")


class _Request(BaseModel):
    """What a client sends: types exact (``"1"`` is no connectorId, ``true`` no integer),
    unknown fields ignored."""

    model_config = ConfigDict(strict=True)


def _iso(value: str) -> str:
    datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError: not ISO 8601
    return value


class RequestEnvelope(_Request):
    """Every client message ("Message Structure"): ``type``, ``id`` (a non-empty string or
    an integer) and ``timestamp`` (ISO 8601) required; ``data`` an optional object."""

    type: str = Field(min_length=1)
    id: Annotated[str, Field(min_length=1)] | int
    timestamp: Annotated[str, AfterValidator(_iso)]
    data: dict[str, Any] | None = None


class AuthRequestData(_Request):
    """``auth_request``: the JWT; ``userId`` optional (must be the token's)."""

    token: str
    userId: str | None = None


class StartChargingRequestData(_Request):
    """``start_charging_request``: ``idTag`` optional (default: the user's own tag)."""

    chargePointId: str
    connectorId: int = Field(ge=1)
    idTag: str | None = Field(None, max_length=20)
    userId: str | None = None


class StopChargingRequestData(_Request):
    """``stop_charging_request``: ``reason`` accepted and ignored (OCPP 1.6
    RemoteStopTransaction has none)."""

    transactionId: int
    chargePointId: str | None = None
    userId: str | None = None
    reason: str | None = None


class AuthResponseData(_Wire):
    """``auth_response`` of a valid token: ``sessionId`` this connection's (``ws_session_…``),
    ``expiresAt`` the token's ``exp``."""

    success: Literal[True] = True
    userId: str
    sessionId: str = Field(examples=["ws_session_abc123"])
    expiresAt: TimeMs | None = None
    message: str = "Authentication successful"


class AuthFailureData(_Wire):
    """``auth_response`` of a refused token (plus the envelope's ``error``)."""

    success: Literal[False] = False
    message: str


class StartChargingResponseData(_Wire):
    success: Literal[True] = True
    transactionId: int
    connectorId: int
    status: Literal["Accepted"] = "Accepted"
    message: str = "Charging started successfully"


class StopChargingResponseData(_Wire):
    success: Literal[True] = True
    transactionId: int
    status: Literal["Accepted"] = "Accepted"
    message: str = "Charging stopped successfully"


class ChargingStatusUpdateData(_Wire):
    """A connector the user charges on: OCPP 1.6 ChargePointStatus, the user's transaction."""

    chargePointId: str
    connectorId: int
    status: str
    transactionId: int | None = None
    timestamp: TimeMs


class MeterValue(_Wire):
    """kWh imported in this transaction, kW, V, A, % (null without SoC)."""

    energyImportKWh: Annotated[float, BeforeValidator(kwh)] = Field(validation_alias="energyWh")
    powerKw: Kw = Field(None, validation_alias="powerW")
    voltage: float | None = Field(None, validation_alias="voltageV")
    current: float | None = Field(None, validation_alias="currentA")
    timestamp: TimeMs
    stateOfCharge: Annotated[int | float | None, BeforeValidator(
        lambda v: int(v) if v is not None and float(v).is_integer() else v)] = Field(None, validation_alias="soc")


class MeterValuesUpdateData(_Wire):
    chargePointId: str
    connectorId: int
    transactionId: int | None = None
    meterValue: MeterValue


class ErrorBody(_Wire):
    """``error``: ``details`` e.g. ``{"missing": [...]}`` or ``{"status": "Rejected"}``."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ServerEnvelope(_Wire):
    """What the server sends: ``id`` the request's on a reply (a new UUID otherwise),
    ``timestamp`` now unless given; ``data`` / ``error`` only where the type has them (the
    document: ``error`` is "present only for error responses" — its client rejects a call
    whenever ``message.error`` is truthy)."""

    id: Annotated[ReplyId, BeforeValidator(lambda v: new_event_id() if v is None else v)] = Field(
        None, validate_default=True)  # any scalar a first message carried is echoed as given
    type: str
    timestamp: TimeMs = Field(default_factory=lambda: iso_ms(datetime.now(UTC)))


def _typed(type_: str, data: type[BaseModel] | None, *, error: bool = False, name: str = "",
           base: type[BaseModel] = ServerEnvelope) -> Any:
    """The envelope model of one message type (``data`` model; ``error`` present)."""
    fields: dict[str, Any] = {"type": (Literal[type_], type_ if base is ServerEnvelope else ...)}
    if data is not None:
        fields["data"] = (data, ...)
    if error:
        fields["error"] = (ErrorBody, ...)
    return create_model(name or model_name(type_, "Message"), __base__=base, **fields)


AuthRequest = _typed("auth_request", AuthRequestData, base=RequestEnvelope)
StartChargingRequest = _typed("start_charging_request", StartChargingRequestData, base=RequestEnvelope)
StopChargingRequest = _typed("stop_charging_request", StopChargingRequestData, base=RequestEnvelope)
ClientHeartbeat = _typed("heartbeat", None, base=RequestEnvelope)
Heartbeat = _typed("heartbeat", None, name="ServerHeartbeatMessage")
AuthResponse = _typed("auth_response", AuthResponseData)
AuthFailure = _typed("auth_response", AuthFailureData, error=True, name="AuthResponseFailureMessage")
StartChargingResponse = _typed("start_charging_response", StartChargingResponseData)
StopChargingResponse = _typed("stop_charging_response", StopChargingResponseData)
ChargingStatusUpdate = _typed("charging_status_update", ChargingStatusUpdateData)
MeterValuesUpdate = _typed("meter_values_update", MeterValuesUpdateData)
Error = _typed("error", None, error=True)

#: (message id, model, summary) the client sends.
SEND: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("auth_request", AuthRequest, "JWT authentication (also re-authentication on the same connection)."),
    ("start_charging_request", StartChargingRequest, "Start; answered once the charge point started the transaction."),
    ("stop_charging_request", StopChargingRequest, "Stop a transaction of the user."),
    ("heartbeat.client", ClientHeartbeat, "Client heartbeat (answered with the same id)."),
)
#: (message id, model, summary) the server sends.
RECEIVE: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("auth_response", AuthResponse, "Reply to auth_request (same id)."),
    ("auth_response.failure", AuthFailure, "INVALID_TOKEN, MISSING_PARAMETERS or RATE_LIMIT_EXCEEDED."),
    ("start_charging_response", StartChargingResponse, "Same id as the request."),
    ("stop_charging_response", StopChargingResponse, "Same id as the request."),
    ("charging_status_update", ChargingStatusUpdate, "Connectors the user charges on."),
    ("meter_values_update", MeterValuesUpdate, "kWh, kW, V, A, SoC % of the user's transactions."),
    ("heartbeat.server", Heartbeat, "Server heartbeat (every 30 s) and reply to the client's."),
    ("error", Error, "Any failure; id = the request's id."),
)
