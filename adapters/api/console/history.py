"""What the web console shows of one charge point's or one transaction's past, read from the
log itself (DESIGN.md: the log is the system of record; docs/contracts.md for the event
types): recent OCPP frames in and out, connection history, anomalies, and a transaction's
timeline (its domain events and the OCPP frames that caused them).

Every item is a plain JSON dict: ``{"stream", "type", "eventId", "recordedAt" (ISO 8601),
"occurredAt", "correlationId", "payload"}``; ``raw`` OCPP text is dropped from frames sent to
the browser only when larger than :data:`MAX_RAW_CHARS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, SOURCE, EventLog, Record
from chargelog.projections.views import SessionView

#: How far back "recent" frames and connection changes reach (s).
RECENT_WINDOW_S = 30 * 60
#: Most items of each list on a charge point's page.
RECENT_LIMIT = 200
#: Source events read per charge point page (the window's first ones, then the newest kept).
SCAN_LIMIT = 20_000
#: Longest ``raw`` OCPP text sent to the browser (characters).
MAX_RAW_CHARS = 4000
#: Frames before a transaction's start and after its stop that belong to it (the remote
#: start, Authorize, the last StatusNotification) are within this margin (s).
TIMELINE_MARGIN_S = 120

FRAME_TYPES = ("ocpp.frame", "ocpp.frame.invalid")
CONNECTION_TYPES = ("ocpp.connection.opened", "ocpp.connection.closed", "ocpp.connection.replaced",
                    "ocpp.connection.offline")
ANOMALY_TYPES = ("ocpp.anomaly", "ocpp.frame.invalid")


def item(stream: str, event: Event) -> dict[str, Any]:
    """One event as the console's JSON item (see the module docstring)."""
    payload = dict(event.payload)
    raw = payload.get("raw")
    if isinstance(raw, str) and len(raw) > MAX_RAW_CHARS:
        payload["raw"] = raw[:MAX_RAW_CHARS] + "…"
    return {"stream": stream, "type": event.type, "eventId": event.eventId,
            "chargePointId": event.chargePointId,
            "recordedAt": event.recordedAt.isoformat() if event.recordedAt else None,
            "occurredAt": event.occurredAt.isoformat() if event.occurredAt else None,
            "correlationId": event.correlationId, "payload": payload}


async def _window(log: EventLog, stream: str, charge_point_id: str, since: datetime,
                  until: datetime | None = None, types: tuple[str, ...] = ()) -> list[Record]:
    """The charge point's records of ``stream`` recorded from ``since`` (to ``until``), the
    first :data:`SCAN_LIMIT` of them."""
    after = await log.position_at(stream, since)
    end = await log.position_at(stream, until) if until is not None else None
    return await log.read(stream, after, limit=SCAN_LIMIT, until=end, types=types,
                          charge_point_id=charge_point_id)


async def charge_point_history(log: EventLog, charge_point_id: str, *,
                               window_s: float = RECENT_WINDOW_S) -> dict[str, list[dict[str, Any]]]:
    """``{"frames", "connections", "anomalies"}`` of the last ``window_s`` s, newest first,
    at most :data:`RECENT_LIMIT` each."""
    since = datetime.now(UTC) - timedelta(seconds=window_s)
    records = await _window(log, SOURCE, charge_point_id, since,
                            types=tuple(dict.fromkeys(FRAME_TYPES + CONNECTION_TYPES + ANOMALY_TYPES)))
    out: dict[str, list[dict[str, Any]]] = {"frames": [], "connections": [], "anomalies": []}
    for record in reversed(records):
        event = record.event
        for key, types in (("frames", FRAME_TYPES), ("connections", CONNECTION_TYPES),
                           ("anomalies", ANOMALY_TYPES)):
            if event.type in types and len(out[key]) < RECENT_LIMIT:
                out[key].append(item(SOURCE, event))
    return out


def _mentions(payload: dict[str, Any], transaction_id: int) -> bool:
    """Does an OCPP payload (or a frame's ``decision``) name ``transaction_id``?"""
    inner = payload.get("payload")
    decision = payload.get("decision")
    return any(isinstance(d, dict) and d.get("transactionId") == transaction_id
               for d in (inner, decision, payload))


def _exchange(event: Event) -> tuple[str, str] | None:
    """(messageId, direction of the CALL) of an OCPP frame: a CALL and its CALLRESULT or
    CALLERROR share it (OCPP-J 1.6 §4: the answer echoes the CALL's UniqueId)."""
    payload = event.payload
    message_id, direction, kind = payload.get("messageId"), payload.get("direction"), payload.get("messageTypeId")
    if event.type != "ocpp.frame" or not isinstance(message_id, str) or kind not in (2, 3, 4):
        return None
    call_direction = direction if kind == 2 else {"in": "out", "out": "in"}.get(str(direction), "")
    return message_id, call_direction


async def transaction_timeline(log: EventLog, session: SessionView) -> list[dict[str, Any]]:
    """A transaction's audit timeline, oldest first: its domain events (``transactionId`` or
    the remote start's ``correlationId``) and the source events — OCPP frames both ways,
    commands — that name its transactionId or correlationId, plus the answers to those CALLs.
    Reads the charge point's events between ``startTime`` − :data:`TIMELINE_MARGIN_S` and
    ``stopTime`` + the margin (or now)."""
    tx = session.transactionId
    start = (session.startTime or datetime.now(UTC)) - timedelta(seconds=TIMELINE_MARGIN_S)
    stop = session.stopTime + timedelta(seconds=TIMELINE_MARGIN_S) if session.stopTime else None
    correlation = session.correlationId
    entries: list[tuple[datetime, dict[str, Any]]] = []
    for record in await _window(log, DOMAIN, session.chargePointId, start, stop):
        event = record.event
        if event.payload.get("transactionId") == tx or (correlation and event.correlationId == correlation):
            if event.type == "connector.status.changed" and event.payload.get("transactionId") != tx:
                continue
            entries.append((event.recordedAt, item(DOMAIN, event)))
    frames = [record.event for record in await _window(log, SOURCE, session.chargePointId, start, stop)]
    exchanges = {key for event in frames if (key := _exchange(event)) is not None and (
        _mentions(event.payload, tx) or (correlation is not None and event.correlationId == correlation))}
    for event in frames:
        if (_mentions(event.payload, tx) or (correlation is not None and event.correlationId == correlation)
                or _exchange(event) in exchanges):
            entries.append((event.recordedAt, item(SOURCE, event)))
    entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in entries]
