"""Wire models of the Charging WebSocket API (charging-websocket-api.md, "Message Structure"
and "Message Types"): the envelope ``{id, type, timestamp, data?, error?}`` and each type's
``data``. The AsyncAPI document is generated from them (:mod:`.contract`); the codec's
output is checked against them (tests/test_dialect_charging_codec.py). Times ISO 8601 UTC
with ms; energy kWh, power kW, voltage V, current A, state of charge %.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

from .charging_codec import ERROR_CODES

ErrorCode = Literal[tuple(sorted(ERROR_CODES))]  # type: ignore[valid-type]
#: A request id: the document's clients send strings ("msg-001", "1"); replies carry it back.
MessageId = str | int


class _Wire(BaseModel):
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
    """``auth_response``: ``expiresAt`` is the token's ``exp``; on failure only ``success:
    false`` and ``message`` (plus the envelope's ``error``)."""

    success: bool
    message: str
    userId: str | None = None
    sessionId: str | None = Field(None, examples=["ws_session_abc123"])
    expiresAt: str | None = None


class StartChargingResponseData(_Wire):
    success: Literal[True] = True
    transactionId: int
    connectorId: int
    status: Literal["Accepted"] = "Accepted"
    message: str


class StopChargingResponseData(_Wire):
    success: Literal[True] = True
    transactionId: int
    status: Literal["Accepted"] = "Accepted"
    message: str


class ChargingStatusUpdateData(_Wire):
    """A connector the user charges on: OCPP 1.6 ChargePointStatus, the user's transaction."""

    chargePointId: str
    connectorId: int
    status: str
    transactionId: int | None = None
    timestamp: str


class MeterValue(_Wire):
    """kWh imported in this transaction, kW, V, A, % (null without SoC)."""

    energyImportKWh: float
    powerKw: float | None = None
    voltage: float | None = None
    current: float | None = None
    timestamp: str
    stateOfCharge: int | None = None


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


class Envelope(_Wire):
    """Every message: ``id`` (the request's on replies), ``type``, ``timestamp``."""

    id: MessageId
    type: str
    timestamp: str


def _typed(type_: str, data: type[BaseModel] | None, *, error: bool = False,
           error_only: bool = False) -> type[BaseModel]:
    """The envelope model of one message type (``data`` model; ``error`` present)."""
    fields: dict[str, Any] = {"type": (Literal[type_], ...)}
    if data is not None:
        fields["data"] = (data, ...)
    if error or error_only:
        fields["error"] = (ErrorBody, ...)
    name = "".join(part.title() for part in type_.split("_")) + ("Failure" if error and data else "") + "Message"
    return create_model(name, __base__=Envelope, **fields)


AuthRequest = _typed("auth_request", AuthRequestData)
StartChargingRequest = _typed("start_charging_request", StartChargingRequestData)
StopChargingRequest = _typed("stop_charging_request", StopChargingRequestData)
Heartbeat = _typed("heartbeat", None)
AuthResponse = _typed("auth_response", AuthResponseData)
AuthFailure = _typed("auth_response", AuthResponseData, error=True)
StartChargingResponse = _typed("start_charging_response", StartChargingResponseData)
StopChargingResponse = _typed("stop_charging_response", StopChargingResponseData)
ChargingStatusUpdate = _typed("charging_status_update", ChargingStatusUpdateData)
MeterValuesUpdate = _typed("meter_values_update", MeterValuesUpdateData)
Error = _typed("error", None, error_only=True)

#: (message id, model, summary) the client sends.
SEND: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("auth_request", AuthRequest, "JWT authentication (also re-authentication on the same connection)."),
    ("start_charging_request", StartChargingRequest, "Start; answered once the charge point started the transaction."),
    ("stop_charging_request", StopChargingRequest, "Stop a transaction of the user."),
    ("heartbeat.client", Heartbeat, "Client heartbeat (answered with the same id)."),
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
