"""Views and domain events → Mobile WebSocket API JSON (mobile-websocket-api.md sections 6,
7, 9). Pure functions; field names, types and enums are the document's; ``stationId`` is the
OCPP chargePointId. Times: ``2025-10-24T16:00:00.000Z``. Energy (Wh), power (W) and durations
(s) are whole numbers, as in the document's examples.
"""

from __future__ import annotations

import json
from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.log import Record
from chargelog.projections.views import ChargePointView, SessionView

from ..core import ConnectorStatus
from ..ws.frames import SharedJson, TextFrame
from ..ws.memo import FifoMemo, IdentityMemo
from ..ws.timefmt import iso_ms
from . import mobile_models as m


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def station_out(view: ChargePointView) -> dict[str, Any]:
    """Section 6.1 station (status: Available / Charging / PartiallyAvailable / Offline)."""
    return m.StationOut.of(view, name=view.name or view.chargePointId).model_dump()


class StationListEncoder:
    """Section 6.1 station list as JSON text, with each station's text memoised on the view
    object: the read models keep unchanged views as the same objects, so a 10,000-station map
    where a few stations changed costs a few encodings and one join — and the same map
    (the same list object from the read models, or every view the same object: the same
    read-model version) asked again by any number of clients returns the text already built,
    shared. A list passed here must not be modified afterwards (the read models hand out a
    new list after a change)."""

    def __init__(self) -> None:
        self._memo: IdentityMemo[ChargePointView, str] = IdentityMemo(lambda view, _: _json(station_out(view)))
        self._last: tuple[list[ChargePointView], SharedJson] = ([], SharedJson("[]"))

    def encode(self, views: list[ChargePointView]) -> SharedJson:
        last_views, last_text = self._last
        if views is last_views or (len(last_views) == len(views) and all(a is b for a, b in zip(last_views, views))):
            return last_text
        text = self._join(views)
        if len(views) > 1:  # one station's list (a subscribe with stationId) keeps the map's
            self._last = (views, text)
        return text

    def _join(self, views: list[ChargePointView]) -> SharedJson:
        parts = self._memo.get_all(views)
        if len(self._memo) > 2 * len(views) + 1024:  # drop views that are gone
            self._memo.retain(views)
        return SharedJson("[" + ",".join(parts) + "]")


def connector_status_out(status: ConnectorStatus) -> dict[str, Any]:
    """Section 6.2 (meter fields only from the caller's own active session)."""
    c, s = status.connector, status.session
    return m.ConnectorStatusResult.of({
        "stationId": status.chargePointId, "connectorId": c.connectorId, "status": c.status,
        "transactionId": c.transactionId if c.transactionId is not None else (s.transactionId if s else None),
        "errorCode": c.errorCode, "updatedAt": c.updatedAt, **(s.model_dump(include=_METER) if s else {})}).model_dump()


_METER = {"powerW", "currentA", "voltageV", "energyWh"}


def session_out(view: SessionView) -> dict[str, Any]:
    """Section 6.5."""
    return m.SessionOut.of(view).model_dump()


def push_data(event: Event) -> dict[str, Any] | None:
    """The ``data`` of a section 7 push for a domain event, or None for types not pushed.
    ``timestamp`` / ``startTime`` / ``stopTime`` here are the charge point's own times (as
    OCPP reports them; its clock may be off; the event's time when absent) — the log's clock
    is the push's and the getEventsSince event's top-level ``timestamp``."""
    model = m.PUSH_DATA_MODELS.get(event.type)
    if model is None:
        return None
    source = {"chargePointId": event.chargePointId, "correlationId": event.correlationId, **event.payload}
    for key in ("timestamp", "startTime", "stopTime", "at"):
        source[key] = source.get(key) or event.occurredAt
    return model.of(source).model_dump()


class DataEncoder:
    """:func:`push_data` as compact JSON text with its ``stationId`` as JSON, memoised by
    eventId (an event never changes; the last ``size`` are kept): a live push and the
    getEventsSince pages that resume over it encode each event's data once."""

    def __init__(self, size: int = 65_536) -> None:
        self._memo: FifoMemo[str, tuple[str, str] | None] = FifoMemo(size)

    def encode(self, event: Event) -> tuple[str, str] | None:
        """(data JSON, stationId JSON), or None for types not pushed."""
        return self._memo.get_or_build(event.eventId, lambda: _data_json(push_data(event)))


def _data_json(data: dict[str, Any] | None) -> tuple[str, str] | None:
    return None if data is None else (_json(data), _json(data["stationId"]))


DATA = DataEncoder()


class PushEncoder:
    """Section 7 push ``{"event", "data", "eventId", "position", "timestamp"}`` for a record
    (``position`` and ``timestamp`` — the log's clock, ``recordedAt`` — are resume tokens for
    section 9, chargelog extensions) as a :class:`~..ws.frames.TextFrame`, memoised on the
    Record object: a live event is one Record shared by every subscriber that receives it, so
    its text and WebSocket frame are built once and the same bytes go to every socket.
    ``size`` bounds the memo."""

    def __init__(self, size: int = 4096) -> None:
        self._memo: IdentityMemo[Record, TextFrame | None] = IdentityMemo(_push_frame, size)

    def encode(self, record: Record, with_position: bool = True) -> TextFrame | None:
        return self._memo.get(record, with_position)


def _push_frame(record: Record, with_position: bool) -> TextFrame | None:
    data = DATA.encode(record.event)
    event = record.event
    return None if data is None else TextFrame(
        f'{{"event":{_json(event.type)},"data":{data[0]},"eventId":{_json(event.eventId)},'
        f'"position":{_json(str(record.position)) if with_position else "null"},'
        f'"timestamp":{_json(iso_ms(event.recordedAt))}}}')


def events_out(records: list[Record]) -> SharedJson:
    """Section 9: the ``events`` array of getEventsSince as JSON text (records of types not
    pushed are left out), each ``{"eventType", "stationId", "timestamp", "data", "eventId",
    "position"}``. ``timestamp`` is the log's clock (``recordedAt``, the clock ``since`` is
    compared with, so passing it back resumes exactly); the charge point's own time stays in
    ``data`` (``timestamp``, ``startTime``, ``stopTime``)."""
    parts = []
    for record in records:
        data = DATA.encode(record.event)
        if data is None:
            continue
        event = record.event
        parts.append(f'{{"eventType":{_json(event.type)},"stationId":{data[1]},'
                     f'"timestamp":{_json(iso_ms(event.recordedAt))},"data":{data[0]},'
                     f'"eventId":{_json(event.eventId)},"position":{_json(str(record.position))}}}')
    return SharedJson("[" + ",".join(parts) + "]")
