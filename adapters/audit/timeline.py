"""The audit timelines over the log (``chargelog audit``, ``GET /api/audit/…``): find the
charge point a transaction or command concerns, read its events of both streams from a
little before, and keep the related ones (:mod:`chargelog.domain.audit`).

JSON shape of an entry: :class:`AuditEntry` (:func:`entry_json`).
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from chargelog.domain.audit import Candidate, Entry, charge_point_timeline, related
from chargelog.domain.envelope import Event, Principal
from chargelog.domain.log import DOMAIN, SOURCE, START, EventLog, Position

TXIDS = "txids"
#: How long before a transaction's start a timeline begins (the remote start command, the
#: connector becoming Preparing).
BEFORE_START = timedelta(minutes=10)
#: How long before a command's request a timeline begins (s), and how far around the time in
#: a UUIDv7 correlationId the request is looked for.
BEFORE_COMMAND = timedelta(minutes=1)
AROUND_ID_TIME = timedelta(minutes=10)


@dataclass(frozen=True)
class Timeline:
    """``subject`` (e.g. ``"transaction 5"``), the ``chargePointId`` and the ``entries``."""

    subject: str
    chargePointId: str
    entries: list[Entry]


async def _candidates(log: EventLog, charge_point_id: str, since: datetime | None,
                      until: datetime | None) -> list[Candidate]:
    found: list[Candidate] = []
    for stream in (SOURCE, DOMAIN):
        after = await log.position_at(stream, since) if since is not None else START
        end = await log.position_at(stream, until) if until is not None else await log.latest(stream)
        scan = log.scan(stream, after, until=end, charge_point_id=charge_point_id)
        async with contextlib.aclosing(scan):
            found.extend([Candidate(stream, r.partition, r.offset, r.event) async for r in scan])
    return found


async def _first(log: EventLog, stream: str, types: list[str], after: Position, until: Position | None,
                 match: Any) -> Event | None:
    scan = log.scan(stream, after, until=until, types=types)
    async with contextlib.aclosing(scan):
        async for record in scan:
            if match(record.event):
                return record.event
    return None


async def transaction_timeline(log: EventLog, transaction_id: int) -> Timeline | None:
    """Transaction ``transaction_id``'s timeline, or None when the log does not know it. Found
    through the ``txids`` stream (its offset + 1 is the id), else the domain stream's
    ``transaction.started``."""
    start: Event | None = None
    if transaction_id >= 1 and (await log.latest(TXIDS)).get(0) >= transaction_id:
        allocated = await log.read(TXIDS, Position({0: transaction_id - 1}), limit=1)
        start = allocated[0].event if allocated else None
        charge_point_id = start.payload.get("chargePointId") if start else None
    if start is None:
        start = await _first(log, DOMAIN, ["transaction.started"], START, None,
                             lambda e: e.payload.get("transactionId") == transaction_id)
        charge_point_id = start.chargePointId if start else None
    if start is None or not isinstance(charge_point_id, str):
        return None
    candidates = await _candidates(log, charge_point_id, start.recordedAt - BEFORE_START, None)
    return Timeline(f"transaction {transaction_id}", charge_point_id,
                    related(candidates, transaction_id=transaction_id))


def _uuid7_time(text: str) -> datetime | None:
    """The timestamp in a UUIDv7 (RFC 9562 §5.7), or None for any other string."""
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


async def command_timeline(log: EventLog, correlation_id: str) -> Timeline | None:
    """Command ``correlation_id``'s timeline, or None when no ``command.requested`` (nor
    ``command.failed``) carries it. A UUIDv7 id narrows the search to the time it names."""
    types = ["command.requested", "command.failed"]
    moment = _uuid7_time(correlation_id)
    found = None
    if moment is not None:
        after = await log.position_at(SOURCE, moment - AROUND_ID_TIME)
        until = await log.position_at(SOURCE, moment + AROUND_ID_TIME)
        found = await _first(log, SOURCE, types, after, until, lambda e: e.correlationId == correlation_id)
    if found is None:
        found = await _first(log, SOURCE, types, START, None, lambda e: e.correlationId == correlation_id)
    if found is None:
        return None
    candidates = await _candidates(log, found.chargePointId, found.recordedAt - BEFORE_COMMAND, None)
    return Timeline(f"command {correlation_id}", found.chargePointId,
                    related(candidates, correlation_id=correlation_id))


async def charge_point_range(log: EventLog, charge_point_id: str, since: datetime | None,
                             until: datetime | None) -> Timeline:
    """Every event of ``charge_point_id`` recorded in [``since``, ``until``), both streams."""
    candidates = await _candidates(log, charge_point_id, since, until)
    return Timeline(f"charge point {charge_point_id}", charge_point_id, charge_point_timeline(candidates))


class AuditEntry(BaseModel):
    """One event of an audit timeline (docs/audit.md): where it is (``stream``, ``position``
    = resume token just past it, ``partition``, ``offset``), the envelope's fields, the
    ``link`` that relates it (transactionId, correlationId, causationId, messageId, during,
    chargePointId) with its value ``via``, a one-line ``summary``, the OCPP frame's exact text
    ``raw`` (frames only) and the ``payload``."""

    stream: str
    position: str
    partition: int
    offset: int
    eventId: str
    type: str
    chargePointId: str
    occurredAt: datetime
    recordedAt: datetime
    source: str
    principal: Principal | None
    correlationId: str | None
    causationId: str | None
    link: str
    via: str
    summary: str
    raw: str | None
    payload: dict[str, Any]


def entry_json(entry: Entry) -> dict[str, Any]:
    """The JSON shape of one entry (:class:`AuditEntry`)."""
    c, event = entry.candidate, entry.candidate.event
    raw = event.payload.get("raw") if event.type.startswith("ocpp.frame") else None
    return AuditEntry(
        stream=c.stream, position=c.position, partition=c.partition, offset=c.offset, eventId=event.eventId,
        type=event.type, chargePointId=event.chargePointId, occurredAt=event.occurredAt,
        recordedAt=event.recordedAt, source=event.source.value, principal=event.principal,
        correlationId=event.correlationId, causationId=event.causationId, link=entry.link, via=entry.via,
        summary=entry.summary, raw=raw if isinstance(raw, str) else None, payload=event.payload,
    ).model_dump(mode="json")
