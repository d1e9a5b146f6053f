"""What the translator remembers per charge point between source events (the state of the fold in
:mod:`chargelog.domain.translate`). Pydantic models so the state round-trips through JSON
(the translator worker stores it with its source position).

Bounds: the lists of recently stopped transactions, finished commands and pending remote
starts are capped (``RECENT``) so the state of a long-lived charge point stays small.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .registry import Tariff

#: How many recently stopped transactions / finished commands a charge point remembers.
RECENT = 32


class ConnectorState(BaseModel):
    """Last StatusNotification of one connector (OCPP 1.6 §4.9); ``status`` None = never
    reported. connectorId 0 is the charge point itself."""

    status: str | None = None
    errorCode: str | None = None
    info: str | None = None
    timestamp: str | None = None


class TransactionState(BaseModel):
    """An active transaction: ``meterStart`` Wh register at start, ``energyWh`` delivered so far
    (never decreases), ``startTime`` ISO 8601 text as the charge point sent it, ``tariff`` the
    one in force at start (it prices the whole session)."""

    transactionId: int
    connectorId: int
    idTag: str | None = None
    userId: str | None = None
    meterStart: int = 0
    startTime: str | None = None
    correlationId: str | None = None
    energyWh: float = 0.0
    tariff: Tariff | None = None
    stopCorrelationId: str | None = None


class PendingCall(BaseModel):
    """A CALL awaiting its answer, by messageId: inbound (StartTransaction, answered by our
    CALLRESULT) or outbound (a command, answered by the charge point)."""

    action: str
    payload: dict[str, Any] = Field(default_factory=dict)
    correlationId: str | None = None


class CommandState(BaseModel):
    """A requested command (``command.requested``) awaiting its outcome."""

    action: str
    request: dict[str, Any] = Field(default_factory=dict)
    userId: str | None = None


class RemoteStart(BaseModel):
    """An accepted RemoteStartTransaction awaiting the StartTransaction it causes
    (``connectorId`` None = any connector)."""

    correlationId: str
    idTag: str | None = None
    connectorId: int | None = None
    userId: str | None = None


class ChargePointState(BaseModel):
    """Everything the fold knows of one charge point."""

    online: bool = False
    connectors: dict[int, ConnectorState] = Field(default_factory=dict)
    transactions: dict[int, TransactionState] = Field(default_factory=dict)
    stopped: list[int] = Field(default_factory=list)
    callsIn: dict[str, PendingCall] = Field(default_factory=dict)
    callsOut: dict[str, PendingCall] = Field(default_factory=dict)
    commands: dict[str, CommandState] = Field(default_factory=dict)
    finishedCommands: list[str] = Field(default_factory=list)
    remoteStarts: list[RemoteStart] = Field(default_factory=list)
    #: ``occurredAt`` (ISO 8601) of the charge point's last frame or connection event: the
    #: log time the stale-transaction rule counts from.
    lastSeenAt: str | None = None
    #: Last emitted station availability: [status, availability, available, total, maintenance].
    availability: list[Any] | None = None
    #: When the last ``station.last_seen`` of this connection was emitted (None: none yet).
    lastSeenPublishedAt: datetime | None = None


class TranslatorState(BaseModel):
    """The fold's whole state: one :class:`ChargePointState` per chargePointId."""

    chargePoints: dict[str, ChargePointState] = Field(default_factory=dict)

    def charge_point(self, charge_point_id: str) -> ChargePointState:
        """The state of ``charge_point_id``, created empty on first use."""
        cp = self.chargePoints.get(charge_point_id)
        if cp is None:
            cp = self.chargePoints[charge_point_id] = ChargePointState()
        return cp


def remember(items: list[Any], item: Any, limit: int = RECENT) -> None:
    """Append ``item`` to a bounded recent list (oldest dropped)."""
    items.append(item)
    del items[:-limit]
