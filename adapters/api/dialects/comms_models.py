"""Wire models of the Communication Protocol's push socket (websocket-communication-protocol.md
sections 3–4) and of the test guide's commands on it (websocket-charging-flow-test-guide.md).
The AsyncAPI document is generated from them (:mod:`.contract`); the codec's output is checked
against them (tests/test_dialect_comms_codec.py). Times ISO 8601 UTC with seconds (``…Z``);
energy kWh, power kW, voltage V, current A, ``meter_value`` Wh, durations s, percentages %.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

Availability = Literal["available", "in_use", "unavailable"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connected(_Wire):
    """First message: ``userId`` a number when the token's userId is all digits."""

    type: Literal["connected"]
    timestamp: str
    userId: int | str


class SessionStartedData(_Wire):
    charger_id: str
    connector_id: int | None
    id_tag: str | None
    meter_start: int | None
    start_time: str | None


class MeterValueData(_Wire):
    """Section 3.2 "Field Descriptions": every field."""

    charger_id: str
    connector_id: int | None
    station_id: str
    station_name: str | None
    station_address: str | None
    charge_percentage: int | None
    time_remaining: int | None
    time_remaining_display: str | None
    energy_consumed: float | None
    energy_consumed_unit: Literal["kWh"]
    cost: float | None
    cost_currency: str | None
    charging_duration: int | None
    charging_duration_display: str | None
    output_power: float | None
    output_power_unit: Literal["kW"]
    energy_delivered: float | None
    power: float | None
    voltage: float | None
    current: float | None
    meter_value: int | None
    timestamp: str | None


class SessionStoppedData(_Wire):
    """``stop_reason`` in the document's vocabulary (``RemoteStop``, ``LocalStop``; OCPP 1.6 Reason otherwise)."""

    charger_id: str
    connector_id: int | None
    meter_stop: int | None
    energy_delivered: float | None
    duration: int | None
    cost: float | None
    cost_currency: str | None
    stop_time: str | None
    stop_reason: str


class SessionErrorData(_Wire):
    charger_id: str | None
    connector_id: int | None
    action: str | None
    error: str
    reason: str | None
    message_id: str | None
    message: str


def _event_message(type_: str, event: str, data: type[BaseModel], **ids: Any) -> type[BaseModel]:
    """``{type, <ids>, event, data, timestamp}``: a ``session_update`` or ``charger_update``."""
    name = "".join(p.title() for p in event.split("_")) + "".join(p.title() for p in type_.split("_"))
    return create_model(name, __base__=_Wire, type=(Literal[type_], ...), **ids,  # type: ignore[valid-type]
                        event=(Literal[event], ...), data=(data, ...), timestamp=(str | None, ...))


def _session_update(event: str, data: type[BaseModel]) -> type[BaseModel]:
    return _event_message("session_update", event, data, session_id=(int | None, ...),
                          transaction_id=(int | None, ...))


def _charger_update(event: str, data: type[BaseModel]) -> type[BaseModel]:
    return _event_message("charger_update", event, data, charger_id=(str, ...))


class ConnectorState(_Wire):
    connector_id: int
    status: str


class ChargerStatusData(_Wire):
    """Counts over one charge point's connectors; ``display`` "X/Y" only when available."""

    total_connectors: int
    available_connectors: int
    connectors_in_use: int
    connectors_unavailable: int
    display: str | None
    connector_status: list[ConnectorState]
    station_status: Literal["Available", "In Use", "Unavailable"]
    is_under_maintenance: bool
    maintenance_reason: str | None = None
    timestamp: str


class ChargerStatusUpdate(_Wire):
    type: Literal["charger_status_update"]
    station_id: str
    charger_id: str
    status: Availability
    data: ChargerStatusData
    timestamp: str


class StatusChangedData(_Wire):
    status: str
    previous_status: str | None
    connector_id: int | None
    timestamp: str | None


class ConnectorStatusChangedData(_Wire):
    """Occupancy: Available / Occupied / Reserved / Unavailable / Faulted."""

    connector_id: int | None
    status: str
    previous_status: str | None
    error_code: str | None
    timestamp: str | None


class ChargerErrorData(_Wire):
    connector_id: int | None
    error_code: str
    info: str | None
    vendor_error_code: str | None
    timestamp: str | None


class MaintenanceModeData(_Wire):
    is_under_maintenance: bool
    maintenance_reason: str | None = None
    timestamp: str | None


class Location(_Wire):
    latitude: float | None
    longitude: float | None
    address: str | None


class ChargerSummary(_Wire):
    charger_id: str
    total_connectors: int
    available_connectors: int
    status: Availability
    display: str | None


class StationEntry(_Wire):
    station_id: str
    station_name: str
    location: Location
    chargers: list[ChargerSummary]
    station_status: Availability
    total_connectors: int
    available_connectors: int
    display: str | None


class ChargerListData(_Wire):
    chargers: list[StationEntry]
    timestamp: str


class ChargerListUpdate(_Wire):
    type: Literal["charger_list_update"]
    action: Literal["update"]
    data: ChargerListData
    timestamp: str


class ActiveSession(_Wire):
    """``energy_delivered`` kWh, ``duration`` s since start."""

    session_id: int
    transaction_id: int
    charger_id: str
    connector_id: int
    station_id: str
    start_time: str | None
    energy_delivered: float | None
    duration: int
    status: str


class ActiveSessionUpdate(_Wire):
    type: Literal["active_session_update"]
    has_active_session: bool
    data: ActiveSession | None
    timestamp: str


class Notification(_Wire):
    type: Literal["notification"]
    title: str
    message: str
    data: dict[str, Any]
    timestamp: str | None


class Error(_Wire):
    """"Invalid message format", "Rate limit exceeded"."""

    type: Literal["error"]
    message: str
    timestamp: str


class Command(_Wire):
    """A test-guide command; ``data`` per action (see :data:`COMMAND_DATA`)."""

    action: str
    data: dict[str, Any] = {}


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

    type: Literal["response"]
    action: str
    data: dict[str, Any]
    timestamp: str


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
