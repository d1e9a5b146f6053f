"""What the web console shows of one charge point's recent past, read from the log itself
(DESIGN.md: the log is the system of record; docs/contracts.md for the event types): OCPP
frames in and out, connection history, anomalies. (A transaction's timeline is the audit
one: :mod:`chargelog.adapters.audit.timeline`.)

Every item is a plain JSON dict: ``{"stream", "type", "eventId", "recordedAt" (ISO 8601),
"occurredAt", "correlationId", "payload"}``; ``raw`` OCPP text is dropped from frames sent to
the browser only when larger than :data:`MAX_RAW_CHARS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, EventLog, Record

#: How far back "recent" frames and connection changes reach (s).
RECENT_WINDOW_S = 30 * 60
#: Most items of each list on a charge point's page.
RECENT_LIMIT = 200
#: Source events read per charge point page (the window's first ones, then the newest kept).
SCAN_LIMIT = 20_000
#: Longest ``raw`` OCPP text sent to the browser (characters).
MAX_RAW_CHARS = 4000

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
