"""An auditor's timeline: which events of one charge point belong to one transaction, one
command, or a time range, and by which link (docs/audit.md). Pure: the caller reads the
candidates (that charge point's events of both streams) from the log.

Links, applied until nothing more is found (a closure):

* ``transactionId`` — the event names the transaction (domain payloads; an OCPP frame's
  ``transactionId``, also in a CALLRESULT to StartTransaction, the ``decision`` the central
  system recorded, or a command's ``request``) — transaction timelines only;
* ``correlationId`` — the event carries the correlationId of a command in the timeline (the
  command, the CALL that executes it, the station's answer, the outcome events: contracts.md);
* ``causationId`` — a domain event derived from an event in the timeline, or the source event
  that an event in the timeline was derived from;
* ``messageId`` — the other half of an OCPP exchange in the timeline (a CALL and its
  CALLRESULT/CALLERROR, OCPP-J §4: same messageId, initiated by the same side, within
  :data:`EXCHANGE_WINDOW`), and an ``ocpp.anomaly`` naming that messageId;
* ``during`` — a connection event, an invalid frame or an anomaly of the charge point recorded
  between the first and last source event of the timeline (what happened to the link while
  it ran), and by ``causationId`` the domain events derived from those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .envelope import Event

#: How far apart a CALL and its answer may be for the messageId link (OCPP-J message ids are
#: unique only per connection and sender, and stations reuse them).
EXCHANGE_WINDOW = timedelta(minutes=10)
#: Source event types that join a timeline by the ``during`` link (the domain events derived
#: from them, e.g. ``station.disconnected``, follow by ``causationId``).
DURING_TYPES = frozenset({
    "ocpp.connection.opened", "ocpp.connection.closed", "ocpp.connection.replaced", "ocpp.connection.offline",
    "ocpp.frame.invalid", "ocpp.anomaly",
})
#: OCPP-J message type ids (OCPP-J 1.6 §4.1).
CALL, CALLRESULT, CALLERROR = 2, 3, 4
_KIND = {CALL: "CALL", CALLRESULT: "CALLRESULT", CALLERROR: "CALLERROR"}


@dataclass(frozen=True)
class Candidate:
    """An event as read: its ``stream``, ``partition`` and ``offset``."""

    stream: str
    partition: int
    offset: int
    event: Event

    @property
    def position(self) -> str:
        """The resume token just past it on its partition, as ``chargelog events`` prints."""
        return f"{self.partition}-{self.offset + 1}"


@dataclass(frozen=True)
class Entry:
    """One line of a timeline: the event where it is, the ``link`` kind that brought it in
    (see module doc, or ``"chargePointId"`` for a charge point's timeline) and the linking
    value (``via``), and a one-line ``summary``."""

    candidate: Candidate
    link: str
    via: str
    summary: str


def summary(event: Event) -> str:
    """One line: for OCPP frames ``"CALL in StartTransaction"`` / ``"CALLRESULT out
    StartTransaction"``; for commands their action; otherwise the type and the payload's most
    telling fields."""
    p = event.payload
    if event.type == "ocpp.frame":
        text = f"{_KIND.get(p.get('messageTypeId'), '?')} {p.get('direction', '?')} {p.get('action') or ''}".strip()
        if p.get("messageTypeId") == CALLERROR:
            text += f" {p.get('errorCode')}"
        return text
    if event.type.startswith("command."):
        return f"{event.type} {p.get('action') or ''} {p.get('reason') or ''}".strip()
    fields = ("connectorId", "status", "energyWh", "powerW", "reason", "kind", "code")
    details = " ".join(f"{k}={p[k]}" for k in fields if p.get(k) not in (None, ""))
    return f"{event.type} {details}".strip()


def _transaction_ids(event: Event) -> set[Any]:
    p = event.payload
    found = {p.get("transactionId")}
    for inner in ("payload", "decision", "request"):
        body = p.get(inner)
        if isinstance(body, dict):
            found.add(body.get("transactionId"))
    found.discard(None)
    return found


def _exchange(event: Event) -> tuple[str, str] | None:
    """(messageId, side that sent the CALL) of an OCPP frame or anomaly."""
    p = event.payload
    message_id = p.get("messageId")
    if not isinstance(message_id, str):
        return None
    if event.type == "ocpp.anomaly":
        return message_id, "*"
    if event.type != "ocpp.frame":
        return None
    direction = p.get("direction")
    initiator = direction if p.get("messageTypeId") == CALL else ("out" if direction == "in" else "in")
    return message_id, str(initiator)


def _order(c: Candidate) -> tuple[datetime, int, int, int]:
    return c.event.recordedAt, 0 if c.stream == "source" else 1, c.partition, c.offset


def in_log_order(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Both streams merged by ``recordedAt`` (source before domain at the same instant), then
    by partition and offset: the order the log recorded them."""
    return sorted(candidates, key=_order)


class _Closure:
    def __init__(self, transaction_id: int | None) -> None:
        self.transaction_id = transaction_id
        self.correlations: set[str] = set()
        self.event_ids: set[str] = set()
        self.causes: set[str] = set()
        self.exchanges: dict[tuple[str, str], list[datetime]] = {}

    def link(self, event: Event) -> tuple[str, str] | None:
        if self.transaction_id is not None and self.transaction_id in _transaction_ids(event):
            return "transactionId", str(self.transaction_id)
        if event.correlationId is not None and event.correlationId in self.correlations:
            return "correlationId", event.correlationId
        if event.causationId is not None and event.causationId in self.event_ids:
            return "causationId", event.causationId
        if event.eventId in self.causes:
            return "causationId", event.eventId
        exchange = _exchange(event)
        if exchange is not None:
            for key in (exchange, (exchange[0], "*")) if exchange[1] != "*" else \
                    [k for k in self.exchanges if k[0] == exchange[0]]:
                times = self.exchanges.get(key, ())
                if any(abs(event.recordedAt - t) <= EXCHANGE_WINDOW for t in times):
                    return "messageId", exchange[0]
        return None

    def add(self, event: Event) -> None:
        self.event_ids.add(event.eventId)
        if event.causationId is not None:
            self.causes.add(event.causationId)
        if event.correlationId is not None and (event.type.startswith("command.") or self.transaction_id is not None):
            self.correlations.add(event.correlationId)
        exchange = _exchange(event)
        if exchange is not None and exchange[1] != "*":
            self.exchanges.setdefault(exchange, []).append(event.recordedAt)


def related(candidates: Sequence[Candidate], *, transaction_id: int | None = None,
            correlation_id: str | None = None) -> list[Entry]:
    """The timeline of one transaction (``transaction_id``) or one command
    (``correlation_id``) among ``candidates`` (one charge point's events of both streams), in
    log order, each with the link that brought it in."""
    ordered = in_log_order(candidates)
    closure = _Closure(transaction_id)
    if correlation_id is not None:
        closure.correlations.add(correlation_id)
    found: dict[int, tuple[str, str]] = {}
    changed = True
    while changed:
        changed = False
        for index, c in enumerate(ordered):
            if index in found:
                continue
            link = closure.link(c.event)
            if link is not None:
                found[index] = link
                closure.add(c.event)
                changed = True
    said = [ordered[i].event.recordedAt for i in found if ordered[i].stream == "source"]
    if said:
        first, last = min(said), max(said)
        window = f"{first.isoformat()}/{last.isoformat()}"
        during = {c.event.eventId for index, c in enumerate(ordered) if index not in found
                  and c.stream == "source" and c.event.type in DURING_TYPES and first <= c.event.recordedAt <= last}
        for index, c in enumerate(ordered):
            if c.event.eventId in during:
                found[index] = ("during", window)
            elif index not in found and c.event.causationId in during:
                found[index] = ("causationId", c.event.causationId or "")
    return [Entry(ordered[i], *found[i], summary(ordered[i].event)) for i in sorted(found)]


def charge_point_timeline(candidates: Sequence[Candidate]) -> list[Entry]:
    """Every candidate (one charge point's events in a time range) in log order."""
    return [Entry(c, "chargePointId", c.event.chargePointId, summary(c.event)) for c in in_log_order(candidates)]
