"""Wire models of the Communication Protocol's push socket (websocket-communication-protocol.md
sections 3–4) and of the test guide's commands on it (websocket-charging-flow-test-guide.md).
The codec builds every message through them (:class:`~..ws.contract.WireModel`: a field reads
the domain payload's or read model's camelCase name — ``connector_id`` ← ``connectorId`` —
unless it names another source, and converts by its annotated type); the AsyncAPI document is
generated from them (:mod:`.contract`). Times ISO 8601 UTC with seconds (``…Z``); energy kWh,
power kW, voltage V, current A, ``meter_value`` Wh, durations s, percentages %.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (AliasGenerator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, create_model,
                      field_validator)
from pydantic.alias_generators import to_camel

from ..ws.contract import WireModel, model_name
from ..ws.timefmt import now_s
from ..ws.units import ChargePointErrorCode, ChargePointId, Kw, Kwh, TimeS, Whole

Availability = Literal["available", "in_use", "unavailable"]

#: OCPP 1.6 StopTransaction Reason (§7.38; absent means ``Local``, §6.52) → ``stop_reason`` as
#: the document's example spells it (OCPP 2.0.1 TriggerReason words); any other as sent.
STOP_REASONS = {"Remote": "RemoteStop", "Local": "LocalStop"}

Now = Annotated[str, Field(default_factory=now_s)]


class _Wire(WireModel):
    model_config = ConfigDict(extra="forbid", alias_generator=AliasGenerator(validation_alias=to_camel))


class Connected(_Wire):
    """First message: ``userId`` a number when the token's userId is all digits."""

    type: Literal["connected"] = "connected"
    timestamp: Now
    userId: int | str


class SessionStartedData(_Wire):
    charger_id: ChargePointId
    connector_id: int | None = None
    id_tag: str | None = None
    meter_start: int | None = None
    start_time: TimeS = None


class MeterValueData(_Wire):
    """Section 3.2 "Field Descriptions": every field."""

    charger_id: ChargePointId
    connector_id: int | None = None
    station_id: str
    station_name: str | None
    station_address: str | None
    charge_percentage: Whole = Field(None, validation_alias="soc")
    time_remaining: int | None = None
    time_remaining_display: str | None = None
    energy_consumed: Kwh = Field(None, validation_alias="energyWh")
    energy_consumed_unit: Literal["kWh"] = "kWh"
    cost: float | None = None
    cost_currency: str | None = Field(None, validation_alias="currency")
    charging_duration: int | None = None
    charging_duration_display: str | None = None
    output_power: Kw = Field(None, validation_alias="powerW")
    output_power_unit: Literal["kW"] = "kW"
    energy_delivered: Kwh = Field(None, validation_alias="energyWh")
    power: Kw = Field(None, validation_alias="powerW")
    voltage: float | None = Field(None, validation_alias="voltageV")
    current: float | None = Field(None, validation_alias="currentA")
    meter_value: int | None = None
    timestamp: TimeS = None


class SessionStoppedData(_Wire):
    """``stop_reason`` in the document's vocabulary (:data:`STOP_REASONS`: ``Remote`` →
    ``RemoteStop``, ``Local`` or none → ``LocalStop``; any other OCPP 1.6 Reason as sent)."""

    charger_id: ChargePointId
    connector_id: int | None = None
    meter_stop: int | None = None
    energy_delivered: Kwh = Field(None, validation_alias="energyWh")
    duration: Whole = Field(None, validation_alias="durationS")
    cost: float | None = None
    cost_currency: str | None = Field(None, validation_alias="currency")
    stop_time: TimeS = None
    stop_reason: Annotated[str, BeforeValidator(lambda r: STOP_REASONS.get(r or "Local", r))] = Field(
        "LocalStop", validation_alias="reason")


class SessionErrorData(_Wire):
    charger_id: str | None = Field(None, validation_alias="chargePointId")
    connector_id: int | None = None
    action: str | None = None
    error: str
    reason: str | None = None
    message_id: str | None = Field(None, validation_alias="correlationId")
    message: str


def _event_message(type_: str, event: str, data: type[BaseModel], **ids: Any) -> type[BaseModel]:
    """``{type, <ids>, event, data, timestamp}``: a ``session_update`` or ``charger_update``."""
    return create_model(model_name(event, type_), __base__=_Wire,
                        type=(Literal[type_], type_), **ids,  # type: ignore[valid-type]
                        event=(Literal[event], event), data=(data, ...), timestamp=(str | None, ...))


def _session_update(event: str, data: type[BaseModel]) -> type[BaseModel]:
    return _event_message("session_update", event, data, session_id=(int | None, ...),
                          transaction_id=(int | None, ...))


def _charger_update(event: str, data: type[BaseModel]) -> type[BaseModel]:
    return _event_message("charger_update", event, data, charger_id=(str, ...))


class ConnectorState(_Wire):
    connector_id: int
    status: str


class ChargerStatusData(_Wire):
    """Counts over one charge point's connectors; ``display`` "X/Y" only when available;
    ``maintenance_reason`` only under maintenance."""

    total_connectors: int
    available_connectors: int
    connectors_in_use: int
    connectors_unavailable: int
    display: str | None
    connector_status: list[ConnectorState] = Field(validation_alias="connectors")
    station_status: Literal["Available", "In Use", "Unavailable"]
    is_under_maintenance: bool = Field(validation_alias="maintenance")
    maintenance_reason: str | None = Field(None, exclude_if=lambda reason: reason is None)
    timestamp: str


class ChargerStatusUpdate(_Wire):
    type: Literal["charger_status_update"] = "charger_status_update"
    station_id: str
    charger_id: ChargePointId
    status: Availability = Field(validation_alias="availability")
    data: ChargerStatusData
    timestamp: str


class StatusChangedData(_Wire):
    status: str
    previous_status: str | None = None
    connector_id: int | None = None
    timestamp: TimeS


class ConnectorStatusChangedData(_Wire):
    """Occupancy: Available / Occupied / Reserved / Unavailable / Faulted."""

    connector_id: int | None = None
    status: str
    previous_status: str | None
    error_code: ChargePointErrorCode = None
    timestamp: TimeS


class ChargerErrorData(_Wire):
    connector_id: int | None = None
    error_code: str
    info: str | None = None
    vendor_error_code: str | None = None
    timestamp: TimeS


class MaintenanceModeData(_Wire):
    is_under_maintenance: bool = Field(validation_alias="maintenance")
    maintenance_reason: str | None = Field(None, exclude_if=lambda reason: reason is None)
    timestamp: TimeS


class Location(_Wire):
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None


class ChargerSummary(_Wire):
    charger_id: ChargePointId
    total_connectors: int = Field(validation_alias="total")
    available_connectors: int = Field(validation_alias="available")
    status: Availability = Field(validation_alias="availability")
    display: str | None = None


class StationEntry(_Wire):
    station_id: str
    station_name: str
    location: Location
    chargers: list[ChargerSummary]
    station_status: Availability = Field(validation_alias="availability")
    total_connectors: int = Field(validation_alias="total")
    available_connectors: int = Field(validation_alias="available")
    display: str | None = None


class ChargerListData(_Wire):
    chargers: list[StationEntry]
    timestamp: str


class ChargerListUpdate(_Wire):
    type: Literal["charger_list_update"] = "charger_list_update"
    action: Literal["update"] = "update"
    data: ChargerListData
    timestamp: str


class ActiveSession(_Wire):
    """``energy_delivered`` kWh, ``duration`` s since start."""

    session_id: int = Field(validation_alias="transactionId")
    transaction_id: int
    charger_id: ChargePointId
    connector_id: int
    station_id: str
    start_time: TimeS = None
    energy_delivered: Kwh = Field(None, validation_alias="energyWh")
    duration: int
    status: str


class ActiveSessionUpdate(_Wire):
    type: Literal["active_session_update"] = "active_session_update"
    has_active_session: bool
    data: ActiveSession | None
    timestamp: Now


class Notification(_Wire):
    type: Literal["notification"] = "notification"
    title: str
    message: str
    data: dict[str, Any]
    timestamp: str | None


class Error(_Wire):
    """"Invalid message format", "Rate limit exceeded"."""

    type: Literal["error"] = "error"
    message: str
    timestamp: Now


class Command(BaseModel):
    """A test-guide command ``{action, data?}``; ``data`` per action (:class:`ChargerCommandData`)."""

    model_config = ConfigDict(strict=True)

    action: str = Field(min_length=1)
    data: dict[str, Any] | None = None


class ChargerCommandData(BaseModel):
    """``start_charging`` {charger_id, connector_id = 1}; ``stop_charging`` {charger_id?};
    ``get_charger_status`` {charger_id} — also the REST bodies. Types exact; null or ``""``
    count as absent (the document's ``stopCharging(chargerId = null)``)."""

    model_config = ConfigDict(strict=True)

    charger_id: str | None = None
    connector_id: int = Field(1, ge=1)

    @field_validator("charger_id", "connector_id", mode="before")
    @classmethod
    def _absent(cls, value: Any, info: ValidationInfo) -> Any:
        return (None if info.field_name == "charger_id" else 1) if value is None or value == "" else value


class Response(_Wire):
    """A test-guide response: ``data.success`` and the action's fields, or ``{success:
    false, error, message}`` (the REST error vocabulary)."""

    type: Literal["response"] = "response"
    action: str
    data: dict[str, Any]
    timestamp: Now


SessionStarted = _session_update("session_started", SessionStartedData)
MeterValue = _session_update("meter_value", MeterValueData)
SessionStopped = _session_update("session_stopped", SessionStoppedData)
SessionError = _session_update("session_error", SessionErrorData)
StatusChanged = _charger_update("status_changed", StatusChangedData)
ConnectorStatusChanged = _charger_update("connector_status_changed", ConnectorStatusChangedData)
ChargerError = _charger_update("error", ChargerErrorData)
MaintenanceMode = _charger_update("maintenance_mode", MaintenanceModeData)

#: (message id, model, summary) the client sends (the test guide's commands).
SEND: tuple[tuple[str, type[BaseModel], str], ...] = tuple(
    (f"testguide.{action}", Command, summary) for action, summary in (
        ("start_charging", "{charger_id, connector_id = 1}; answered once the charge point started."),
        ("stop_charging", "{charger_id?} (absent: the user's active session)."),
        ("get_charger_status", "{charger_id}."), ("get_active_session", "{}."), ("list_chargers", "{}.")))
#: (message id, model, summary) the server sends.
RECEIVE: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("connected", Connected, "First message after the handshake."),
    ("charger_list_update", ChargerListUpdate, "Sites with location and chargers (on connect, new chargers)."),
    ("active_session_update", ActiveSessionUpdate, "With or without (data null) a session."),
    ("session_started", SessionStarted, "transaction.started of the user."),
    ("meter_value", MeterValue, "Every documented field; kWh, kW, V, A, Wh, s."),
    ("session_stopped", SessionStopped, "transaction.stopped of the user."),
    ("session_error", SessionError, "A command of the user failed."),
    ("charger_status_update", ChargerStatusUpdate, "available (X/Y) / in_use / unavailable per charge point."),
    ("charger_update.status_changed", StatusChanged, "OCPP 1.6 ChargePointStatus of a connector."),
    ("charger_update.connector_status_changed", ConnectorStatusChanged, "Occupancy changed."),
    ("charger_update.error", ChargerError, "A charge point reported an error code."),
    ("charger_update.maintenance_mode", MaintenanceMode, "Maintenance started or ended."),
    ("notification", Notification, "Charging Started / Stopped / Failed."),
    ("error", Error, "Invalid message format / rate limit."),
    ("testguide.response", Response, "Reply to a test-guide command."),
)
