"""The one envelope every event on the log travels in (../shared/DESIGN.md, "The log is the
system of record").

JSON shape (field names are the wire names; timestamps are ISO 8601 UTC with microseconds)::

    {"eventId": "0190…(UUIDv7)", "type": "ocpp.frame", "chargePointId": "CP001",
     "occurredAt": "…Z", "recordedAt": "…Z", "source": "ocpp",
     "principal": {"kind": "chargePoint", "id": "CP001"} | null,
     "correlationId": str | null, "causationId": str | null,
     "schemaVersion": 1, "payload": {…},
     "chain": {"writer": str, "seq": int, "hash": "<64 hex>"} | null}

``chain`` is filled in by the log engine when the event is written (the tamper-evident hash
chain, :mod:`chargelog.domain.chain`); it is null on events not yet appended, and stays the
last field.

``encode``/``decode`` round-trip exactly. ``decode`` raises :class:`UnknownSchemaVersion`
for a payload version this build does not know, naming the log position it came from.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import uuid6
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Highest payload schema version this build understands, per event type. Types that are
#: not listed are at version 1. Raising a version here is how a payload change ships.
SCHEMA_VERSIONS: dict[str, int] = {}


class Source(StrEnum):
    """Who produced an event (DESIGN.md: ocpp, client, operator, system)."""

    OCPP = "ocpp"
    CLIENT = "client"
    OPERATOR = "operator"
    SYSTEM = "system"


class Principal(BaseModel):
    """The acting identity: ``kind`` is chargePoint, user, apiKey, operator or system; ``id``
    is its identifier (a user id, an API key's id — never the secret itself)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    id: str


class EventDecodeError(ValueError):
    """A record read from the log could not be decoded into an :class:`Event`."""

    def __init__(self, message: str, position: str | None = None) -> None:
        self.position = position
        super().__init__(f"{message} (at log position {position})" if position else message)


class UnknownSchemaVersion(EventDecodeError):
    """The event's ``schemaVersion`` is newer than this build knows for its ``type``."""


def new_event_id() -> str:
    """A fresh, unique, time-ordered event id (UUIDv7, RFC 9562), as a string."""
    return str(uuid6.uuid7())


def derived_event_id(source_event_id: str, index: int = 0) -> str:
    """A deterministic id for the ``index``-th event derived from ``source_event_id``.

    It keeps the source's UUIDv7 timestamp (first 48 bits), so derived ids sort with their
    sources, and fills the rest from SHA-256 of (source id, index): a replay yields the same
    ids. Shape: a UUID string with version 8 (custom, RFC 9562 §5.8).
    """
    src = uuid.UUID(source_event_id).bytes
    digest = hashlib.sha256(src + index.to_bytes(4, "big")).digest()
    raw = bytearray(src[:6] + digest[:10])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 9562 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (microsecond precision)."""
    return datetime.now(UTC)


class ChainLink(BaseModel):
    """An event's link in its chain (:mod:`chargelog.domain.chain`): the ``writer`` whose
    chain it is, its ``seq`` in it (from 1) and ``hash`` (SHA-256, hex)."""

    model_config = ConfigDict(frozen=True)

    writer: str
    seq: int
    hash: str


class Event(BaseModel):
    """One immutable event. ``chargePointId`` is the partition key: all events of one charge
    point are totally ordered on the log. Events that concern no charge point use ``"-"``.

    ``recordedAt`` is set by the log engine at append time; producers may leave it equal to
    ``occurredAt``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    eventId: str = Field(default_factory=new_event_id)
    type: str
    chargePointId: str = "-"
    occurredAt: datetime = Field(default_factory=utcnow)
    recordedAt: datetime = Field(default_factory=utcnow)
    source: Source = Source.SYSTEM
    principal: Principal | None = None
    correlationId: str | None = None
    causationId: str | None = None
    schemaVersion: int = 1
    payload: dict[str, Any] = Field(default_factory=dict)
    chain: ChainLink | None = None  # stays last: domain/chain.py finds it at the end

    def encode(self) -> bytes:
        """UTF-8 JSON bytes of this event."""
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, data: bytes | str, position: str | None = None) -> Event:
        """Parse JSON written by :meth:`encode`.

        Raises :class:`UnknownSchemaVersion` when ``schemaVersion`` exceeds
        ``SCHEMA_VERSIONS.get(type, 1)``, and :class:`EventDecodeError` for anything that is
        not a valid envelope; both name ``position``.
        """
        try:
            event = cls.model_validate_json(data)
        except ValidationError as exc:
            raise EventDecodeError(f"invalid event envelope: {exc.errors()[0]['msg']}", position) from exc
        known = SCHEMA_VERSIONS.get(event.type, 1)
        if event.schemaVersion > known or event.schemaVersion < 1:
            raise UnknownSchemaVersion(
                f"event {event.eventId} of type {event.type!r} has schemaVersion "
                f"{event.schemaVersion}; this build knows versions 1..{known}",
                position,
            )
        return event
