"""Wire models of the Mobile WebSocket API (mobile-websocket-api.md; section numbers below).
Used to validate ``params`` and to generate the AsyncAPI document. Times are ISO 8601 UTC
with milliseconds (``2025-10-24T16:00:00.000Z``); energy Wh, power W, current A, voltage V,
duration s. ``stationId`` is the OCPP chargePointId.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from ..ws.contract import WireModel, model_name
from ..ws.units import ChargePointErrorCode, ChargePointId, Tenths, TimeMs, Whole
from ..ws.wire import ReplyId

ConnectorStatusValue = Literal["Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE",
                               "Finishing", "Reserved", "Unavailable", "Faulted"]
StationStatusValue = Literal["Available", "Charging", "PartiallyAvailable", "Offline"]
#: Push event types (section 7).
PushType = Literal["connector.status.changed", "transaction.started", "transaction.stopped",
                   "meter.update", "station.connected", "station.disconnected"]
PUSH_TYPES: tuple[str, ...] = PushType.__args__  # type: ignore[attr-defined]
#: Pushed only when named in ``subscribe.events`` (not part of "all", which is section 7's
#: list): ``station.last_seen`` {stationId, timestamp} — a Heartbeat or other sign of life
#: (throttled, docs/contracts.md).
OptInPushType = Literal["station.last_seen"]
OPT_IN_PUSH_TYPES: tuple[str, ...] = OptInPushType.__args__  # type: ignore[attr-defined]


class _Params(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False)


IsoMs = TimeMs | None
#: The OCPP 1.6 StopTransaction Reason (§7.38) as sent; absent means ``Local`` (§6.52).
StopReason = Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) and v else "Local")]
Energy = Annotated[Whole, Field(validation_alias="energyWh")]


# -- requests (section 3.1) -------------------------------------------------------------------

#: A request id: any JSON scalar, echoed exactly as given (3.1 shows strings; ``true`` stays
#: ``true``); a structured id is answered with null.
RequestId = ReplyId | None


class Request(BaseModel):
    """``{"id", "action", "params"}`` (3.1)."""

    id: Any = None
    action: str
    params: dict[str, Any] = Field(default_factory=dict)


class AuthParams(_Params):
    """2.1: ``apiKey``; or a JWT as ``token`` (chargelog extension)."""

    apiKey: str | None = None
    token: str | None = None


class StationConnectorParams(_Params):
    """6.2 getConnectorStatus."""

    stationId: str
    connectorId: int = Field(ge=0)


class StartChargingParams(_Params):
    """6.3 startCharging; ``idTag`` optional (defaults to the caller's own tag)."""

    stationId: str
    connectorId: int = Field(ge=1)
    idTag: str | None = Field(None, max_length=20)


class StopChargingParams(_Params):
    """6.4 stopCharging: ``transactionId``, or ``stationId`` + ``connectorId``."""

    transactionId: int | None = None
    stationId: str | None = None
    connectorId: int | None = Field(None, ge=1)


class MySessionsParams(_Params):
    """6.5 getMySessions (``limit``/``offset``: chargelog extension)."""

    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)


class SubscribeParams(_Params):
    """8.1/8.2; ``since`` (a position or timestamp) resumes from there (chargelog extension)."""

    events: list[str] = Field(default_factory=lambda: ["all"])
    stationId: str | None = None
    since: str | None = None
    position: str | None = None


class UnsubscribeParams(_Params):
    """8.4."""

    subscriptionId: str


class EventsSinceParams(_Params):
    """9: ``since`` = ISO 8601 timestamp or a push's ``position``; ``limit`` 1..1000."""

    since: str | None = None
    position: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    stationId: str | None = None
    events: list[str] | None = None


# -- results ----------------------------------------------------------------------------------

class AuthResult(BaseModel):
    """2.2."""

    status: Literal["ok"] = "ok"
    sessionId: str
    scopes: list[str]


class PongResult(BaseModel):
    """4: ``ts`` in ms since the epoch."""

    pong: bool = True
    ts: int


class ConnectorOut(WireModel):
    """6.1 connector."""

    id: int = Field(validation_alias="connectorId")
    status: str
    transactionId: int | None = None
    errorCode: ChargePointErrorCode = None
    updatedAt: IsoMs = None


class StationOut(WireModel):
    """6.1 station (``name``: the chargePointId when it has none)."""

    id: str = Field(validation_alias="chargePointId")
    name: str
    status: StationStatusValue
    isOnline: bool = Field(validation_alias="online")
    lastActivity: IsoMs = None
    connectors: list[ConnectorOut]


class ConnectorStatusResult(WireModel):
    """6.2 (power W, current A, voltage V, energy Wh — of the caller's own session only)."""

    stationId: str
    connectorId: int
    status: str
    transactionId: int | None = None
    errorCode: ChargePointErrorCode = None
    power: Whole = Field(None, validation_alias="powerW")
    current: Tenths = Field(None, validation_alias="currentA")
    voltage: Tenths = Field(None, validation_alias="voltageV")
    energy: Whole = Field(None, validation_alias="energyWh")
    updatedAt: IsoMs = None


class PendingResult(BaseModel):
    """6.3/6.4 immediate response, sent once ``command.requested`` is durable."""

    status: Literal["pending"] = "pending"
    correlationId: str


class SessionOut(WireModel):
    """6.5 (energy Wh; ``status`` "completed" for a stopped session, "active" otherwise)."""

    transactionId: int
    stationId: ChargePointId
    connectorId: int
    idTag: str | None = None
    startTime: IsoMs = None
    stopTime: IsoMs = None
    energy: Annotated[int, BeforeValidator(round)] = Field(validation_alias="energyWh")
    cost: float | None = None
    status: Annotated[Literal["active", "completed"],
                      BeforeValidator(lambda v: "completed" if v in ("stopped", "completed") else "active")]


class Snapshot(BaseModel):
    stations: list[StationOut]


class SubscribeResult(BaseModel):
    """8.3; ``position``: resume token of the snapshot's moment (chargelog extension)."""

    subscriptionId: str
    snapshot: Snapshot
    position: str


class UnsubscribeResult(BaseModel):
    subscriptionId: str
    status: Literal["ok"] = "ok"


class EventOut(BaseModel):
    """9: one event of getEventsSince; ``timestamp`` is the log's clock (``recordedAt``),
    the one ``since`` is compared with; ``data`` carries the charge point's own times."""

    eventType: PushType | OptInPushType
    stationId: str
    timestamp: str
    data: dict[str, Any]
    eventId: str
    position: str


class EventsSinceResult(BaseModel):
    """9; ``position``: where the next call continues (chargelog extension)."""

    events: list[EventOut]
    hasMore: bool
    position: str


class ErrorBody(BaseModel):
    """3.3 / 5: ``code`` 400, 401, 403, 404, 429 (authentication throttled) or 500. For a command's failure pushed after its
    ``pending``: ``correlationId`` and ``reason`` (rejected, offline, timeout, failed)."""

    code: Literal[400, 401, 403, 404, 429, 500]
    message: str
    correlationId: str | None = None
    reason: str | None = None
    subscriptionId: str | None = None


class ErrorResponse(BaseModel):
    """3.3."""

    id: RequestId
    error: ErrorBody


# -- pushes (section 7) ----------------------------------------------------------------------

class ConnectorStatusChangedData(WireModel):
    """7.1."""

    stationId: ChargePointId
    connectorId: int
    status: ConnectorStatusValue
    transactionId: int | None = None
    timestamp: TimeMs


class TransactionStartedData(WireModel):
    """7.2 / 6.3."""

    transactionId: int
    stationId: ChargePointId
    connectorId: int
    idTag: str | None = None
    startTime: TimeMs
    correlationId: str | None = None


class TransactionStoppedData(WireModel):
    """7.3 / 6.4 (energy Wh, duration s, cost in the tariff's currency; ``reason`` the OCPP
    1.6 Reason itself, as the document's example ``"Remote"``)."""

    transactionId: int
    stationId: ChargePointId
    connectorId: int
    stopTime: TimeMs
    energy: Energy = None
    duration: Whole = Field(None, validation_alias="durationS")
    cost: float | None = None
    reason: StopReason = "Local"
    correlationId: str | None = None


class MeterUpdateData(WireModel):
    """7.4 (energy Wh since start, power W, current A, voltage V)."""

    stationId: ChargePointId
    connectorId: int
    transactionId: int
    timestamp: TimeMs
    energy: Energy = None
    power: Whole = Field(None, validation_alias="powerW")
    current: Tenths = Field(None, validation_alias="currentA")
    voltage: Tenths = Field(None, validation_alias="voltageV")


class StationConnectionData(WireModel):
    """7.5 station.connected / station.disconnected (and the opt-in station.last_seen)."""

    stationId: ChargePointId
    timestamp: TimeMs = Field(validation_alias="at")


PUSH_DATA_MODELS: dict[str, type[BaseModel]] = {
    "connector.status.changed": ConnectorStatusChangedData,
    "transaction.started": TransactionStartedData,
    "transaction.stopped": TransactionStoppedData,
    "meter.update": MeterUpdateData,
    "station.connected": StationConnectionData,
    "station.disconnected": StationConnectionData,
    "station.last_seen": StationConnectionData,
}

#: action → (params model or None, result model) — the AsyncAPI document's operations.
ACTIONS: dict[str, tuple[type[BaseModel] | None, Any]] = {
    "auth": (AuthParams, AuthResult),
    "ping": (None, PongResult),
    "getStations": (None, list[StationOut]),
    "getConnectorStatus": (StationConnectorParams, ConnectorStatusResult),
    "startCharging": (StartChargingParams, PendingResult),
    "stopCharging": (StopChargingParams, PendingResult),
    "getMySessions": (MySessionsParams, list[SessionOut]),
    "subscribe": (SubscribeParams, SubscribeResult),
    "unsubscribe": (UnsubscribeParams, UnsubscribeResult),
    "getEventsSince": (EventsSinceParams, EventsSinceResult),
}


def _request(action: str, params: type[BaseModel] | None) -> type[BaseModel]:
    required = params is not None and any(f.is_required() for f in params.model_fields.values())
    params_field: Any = (params, ...) if required else (params | None if params else dict[str, Any] | None, None)
    return create_model(model_name(action, "Request"), id=(RequestId, None),
                        action=(Literal[action], ...), params=params_field)  # type: ignore[valid-type]


def _push(event: str, data: type[BaseModel]) -> type[BaseModel]:
    """7: ``{"event", "data"}`` plus ``eventId``, ``position`` and ``timestamp`` (the log's
    clock, ``recordedAt``) — resume tokens to pass as ``since`` to subscribe/getEventsSince;
    extra fields clients may ignore. ``data.timestamp`` is the charge point's own time."""
    return create_model(model_name(event, "Push"), event=(Literal[event], ...),  # type: ignore[valid-type]
                        data=(data, ...), eventId=(str, ...), position=(str | None, None), timestamp=(str, ...),
                        __doc__=_push.__doc__)


#: (message id, model, summary) for the AsyncAPI document (:mod:`.contract`).
SEND: tuple[tuple[str, type[BaseModel], str], ...] = tuple(
    (f"{action}.request", _request(action, params), f"{action} (section 2–9)") for action, (params, _) in ACTIONS.items())
RECEIVE: tuple[tuple[str, type[BaseModel], str], ...] = (  # replies {"id", "result"} (3.2)
    *((f"{action}.response", create_model(model_name(action, "Response"), id=(RequestId, ...),
                                          result=(result, ...)), f"{action} result")
      for action, (_, result) in ACTIONS.items()),
    ("error", ErrorResponse, "Section 3.3 error (also a command's failure after pending)."),
    *((f"push.{event}", _push(event, model), f"Section 7 push {event}") for event, model in PUSH_DATA_MODELS.items()),
)
