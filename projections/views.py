"""Read-model views and the :class:`ReadModels` query protocol (docs/contracts.md, "Read
models"). The client API core codes against these; the projections implement them.

Units: energy Wh, power W, current A, voltage V, state of charge %, durations s. Times are
aware UTC datetimes. Station vocabularies: ``status`` is the mobile one
(specs/mobile-websocket-api.md: Available / Charging / PartiallyAvailable / Offline);
``availability`` is the communication-protocol one (specs/websocket-communication-protocol.md,
"Station structure": available = green with ``X/Y`` free connectors, in_use = blue,
unavailable = red / maintenance).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from chargelog.domain.log import Position

StationStatus = Literal["Available", "Charging", "PartiallyAvailable", "Offline"]
Availability = Literal["available", "in_use", "unavailable"]
SessionStatus = Literal["active", "stopped"]


class ConnectorView(BaseModel):
    """One connector (``connectorId`` ≥ 1) with its last OCPP 1.6 ChargePointStatus
    (e.g. "Available", "Preparing", "Charging", "Unavailable", "Faulted")."""

    model_config = ConfigDict(frozen=True)

    connectorId: int
    status: str = "Unknown"
    errorCode: str | None = None
    info: str | None = None
    updatedAt: datetime | None = None
    transactionId: int | None = None


class ChargePointView(BaseModel):
    """A charge point on the station map. ``available``/``total`` are the ``X/Y`` connector
    counts; ``maintenance`` is true when the charge point (connectorId 0) or every connector
    is Unavailable/Faulted."""

    model_config = ConfigDict(frozen=True)

    chargePointId: str
    siteId: str | None = None
    name: str = ""
    vendor: str | None = None
    model: str | None = None
    firmwareVersion: str | None = None
    online: bool = False
    lastActivity: datetime | None = None
    status: StationStatus = "Offline"
    availability: Availability = "unavailable"
    maintenance: bool = False
    available: int = 0
    total: int = 0
    connectors: list[ConnectorView] = []
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None


class SiteView(BaseModel):
    """A physical station grouping charge points (websocket-communication-protocol.md,
    "Station structure"); ``available``/``total`` sum over its charge points' connectors."""

    model_config = ConfigDict(frozen=True)

    siteId: str
    name: str = ""
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    chargePoints: list[ChargePointView] = []
    availability: Availability = "unavailable"
    available: int = 0
    total: int = 0


class SessionView(BaseModel):
    """A charging session (an OCPP transaction), active or stopped. ``energyWh`` is energy
    delivered since start (Wh), ``powerW`` W, ``currentA`` A, ``voltageV`` V, ``soc`` %,
    ``durationS`` s, ``cost`` in ``currency`` from the tariff."""

    model_config = ConfigDict(frozen=True)

    transactionId: int
    chargePointId: str
    connectorId: int
    idTag: str | None = None
    userId: str | None = None
    status: SessionStatus = "active"
    startTime: datetime | None = None
    stopTime: datetime | None = None
    meterStart: int | None = None
    meterStop: int | None = None
    energyWh: float = 0.0
    powerW: float | None = None
    currentA: float | None = None
    voltageV: float | None = None
    soc: float | None = None
    cost: float | None = None
    currency: str | None = None
    durationS: float | None = None
    reason: str | None = None
    correlationId: str | None = None
    lastMeterAt: datetime | None = None


@runtime_checkable
class ReadModels(Protocol):
    """The query side every client dialect uses (docs/contracts.md, "Read models")."""

    async def stations(self) -> list[ChargePointView]:
        """Every known charge point, ordered by chargePointId."""
        ...

    async def station(self, charge_point_id: str) -> ChargePointView | None:
        """One charge point, or None when unknown."""
        ...

    async def sites(self) -> list[SiteView]:
        """Every site with its charge points, ordered by siteId."""
        ...

    async def session(self, transaction_id: int) -> SessionView | None:
        """A session, active or stopped, or None when unknown."""
        ...

    async def active_sessions(self, user_id: str | None = None) -> list[SessionView]:
        """Active sessions, all or of one user."""
        ...

    async def active_session_at(self, charge_point_id: str, connector_id: int) -> SessionView | None:
        """The active session on one connector, or None."""
        ...

    async def session_history(self, user_id: str, limit: int = 50, offset: int = 0) -> list[SessionView]:
        """One user's sessions (active and stopped), newest first."""
        ...

    async def positions(self) -> dict[str, Position]:
        """The position each projection has reached, by projection name."""
        ...

    async def wait_for(self, position: Position, stream: str = "domain") -> None:
        """Return once the read models have folded ``stream`` at least up to ``position``."""
        ...
