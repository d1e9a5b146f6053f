"""The fold from source events (what was said) to domain events (what it meant).

``translate(state, event, directory)`` is deterministic and does no I/O: it updates ``state``
in place, returns it, and returns the domain events (docs/contracts.md, "Domain events") with
``eventId = derived_event_id(source eventId, i)``, ``causationId`` = the source eventId,
``chargePointId`` and ``occurredAt`` of the source, ``principal`` = the owning user where
there is one, envelope ``correlationId`` = the payload's.

OCPP 1.6-J rules applied (OCPP 1.6 edition 2 section numbers):

* StartTransaction (§4.8, §6.45/6.46): the transaction exists once the central system's
  CALLRESULT (direction out, same messageId) assigns ``transactionId``; ``startTime`` is the
  request's ``timestamp`` even when old (recorded offline, §4.8 "offline" note).
* A RemoteStartTransaction (§5.11) accepted by the charge point is matched to the next
  StartTransaction on that charge point with the same idTag (and connectorId when given).
* MeterValues (§4.7): converted by :mod:`chargelog.domain.meter`; energy since start =
  Energy.Active.Import.Register − meterStart, never decreasing; samples for a stopped or an
  unknown transaction are dropped (e.g. a late MeterValues after its StopTransaction).
* StopTransaction (§4.10): energy = max(energy so far, meterStop − meterStart); duration from
  the start and stop timestamps; cost from the tariff in force at start
  (:meth:`chargelog.domain.registry.Tariff.cost`). A StopTransaction for a transaction never
  seen still yields ``transaction.stopped`` with what is known (``connectorId``/``energyWh``
  None unless ``transactionData`` carries a Transaction.Begin register).
* StatusNotification (§4.9) on connectorId 0 is the charge point's own status; every change of
  (status, errorCode, info) yields ``connector.status.changed``; any change of the station
  availability (:mod:`chargelog.domain.availability`) yields ``station.status.changed``.
* Commands: the charge point's CALLRESULT to a command's CALL yields ``command.accepted``
  (``status`` "Accepted"/"Unlocked" or no status) or ``command.rejected`` (reason = status);
  a CALLERROR yields ``command.failed`` (reason "callerror"); a ``command.failed`` source
  event yields ``command.timed_out`` (reason "timeout") or ``command.failed``. One outcome per
  correlationId.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from .availability import station_availability
from .envelope import Event, Principal, derived_event_id
from .meter import read_meter_value
from .registry import Registry, Tariff
from .model import (
    ChargePointState,
    CommandState,
    ConnectorState,
    PendingCall,
    RemoteStart,
    TransactionState,
    TranslatorState,
    remember,
)

CALL, CALLRESULT, CALLERROR = 2, 3, 4
ACCEPTED_STATUSES = frozenset({"Accepted", "Unlocked"})
PENDING_LIMIT = 256
#: Least time between two ``station.last_seen`` of one charge point (s), except that the first
#: Heartbeat of a connection always yields one.
LAST_SEEN_INTERVAL_S = 60.0


class Directory(Protocol):
    """What the fold looks up in the registries (``chargelog.domain.registry``): the user owning
    an idTag and the tariff of a charge point. Either may return None."""

    def user_for_id_tag(self, id_tag: str) -> str | None: ...

    def tariff_for(self, charge_point_id: str) -> Tariff | None: ...


class RegistryDirectory:
    """A :class:`Directory` over the current :class:`~chargelog.domain.registry.Registry`
    (``current()`` is called per lookup, so a live registry's changes apply at once)."""

    def __init__(self, current: Callable[[], Registry]) -> None:
        self.current = current

    def user_for_id_tag(self, id_tag: str) -> str | None:
        tag = self.current().id_tag(id_tag)
        return tag.userId if tag else None

    def tariff_for(self, charge_point_id: str) -> Tariff | None:
        return self.current().tariff_for(charge_point_id)


_EMPTY = Registry()
NO_DIRECTORY: Directory = RegistryDirectory(lambda: _EMPTY)


def parse_time(text: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive = UTC), or None."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, str) and text:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def seconds_between(start: Any, stop: Any) -> float | None:
    """Seconds from ``start`` to ``stop`` (ISO texts), ≥ 0, or None when either is missing."""
    a, b = parse_time(start), parse_time(stop)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class _Out:
    """Collects the domain events derived from one source event."""

    def __init__(self, source: Event) -> None:
        self.source = source
        self.events: list[Event] = []

    def emit(self, type_: str, payload: dict[str, Any], user_id: str | None = None,
             correlation_id: str | None = None) -> None:
        src = self.source
        self.events.append(Event(
            eventId=derived_event_id(src.eventId, len(self.events)),
            type=type_,
            chargePointId=src.chargePointId,
            occurredAt=src.occurredAt,
            recordedAt=src.recordedAt,
            source=src.source,
            principal=Principal(kind="user", id=user_id) if user_id else None,
            correlationId=correlation_id,
            causationId=src.eventId,
            payload=payload,
        ))


def translate(state: TranslatorState, event: Event,
              directory: Directory = NO_DIRECTORY) -> tuple[TranslatorState, list[Event]]:
    """Fold one source event into ``state``; return ``(state, domain events)``. Never raises for
    malformed OCPP payloads (they yield nothing); ``registry.*`` and unknown types yield
    nothing."""
    if event.chargePointId == "-" or event.type.startswith("registry."):
        return state, []
    out = _Out(event)
    cp = state.charge_point(event.chargePointId)
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(cp, event, out, directory)
        _station_status(cp, event, out)
    return state, out.events


def translate_all(state: TranslatorState, events: Iterable[Event],
                  directory: Directory = NO_DIRECTORY) -> list[Event]:
    """Fold many source events; the domain events of all of them, in order."""
    result: list[Event] = []
    for event in events:
        result.extend(translate(state, event, directory)[1])
    return result


# -- connection ------------------------------------------------------------------------------


def _connected(cp: ChargePointState, event: Event, out: _Out) -> None:
    if not cp.online:
        cp.online = True
        out.emit("station.connected", {"chargePointId": event.chargePointId, "at": event.occurredAt.isoformat()})


def _last_seen(cp: ChargePointState, event: Event, out: _Out, heartbeat: bool) -> None:
    """``station.last_seen`` {chargePointId, at}: the charge point is alive (OCPP 1.6 §4.6
    Heartbeat; ocpp-websocket-service.md ``charger.lastSeen``). Throttled: on the first
    Heartbeat of a connection, then for any incoming frame at most once per
    :data:`LAST_SEEN_INTERVAL_S` (event time)."""
    last = cp.lastSeenAt
    if (last is None and heartbeat) or (
            last is not None and (event.occurredAt - last).total_seconds() >= LAST_SEEN_INTERVAL_S):
        cp.lastSeenAt = event.occurredAt
        out.emit("station.last_seen", {"chargePointId": event.chargePointId, "at": event.occurredAt.isoformat()})


def _disconnected(cp: ChargePointState, event: Event, out: _Out, reason: str) -> None:
    cp.lastSeenAt = None
    if cp.online:
        cp.online = False
        out.emit("station.disconnected", {"chargePointId": event.chargePointId,
                                          "at": event.occurredAt.isoformat(), "reason": reason})


def _on_opened(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    _connected(cp, event, out)


def _on_closed(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    _disconnected(cp, event, out, "closed")


def _on_offline(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    _disconnected(cp, event, out, "offline")


# -- frames ----------------------------------------------------------------------------------


def _on_frame(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    p = event.payload
    kind, message_id = p.get("messageTypeId"), str(p.get("messageId"))
    body = p.get("payload") if isinstance(p.get("payload"), dict) else {}
    if p.get("direction") == "in":
        _connected(cp, event, out)
        _last_seen(cp, event, out, heartbeat=kind == CALL and p.get("action") == "Heartbeat")
        if kind == CALL:
            action = p.get("action")
            if action == "StartTransaction":
                cp.callsIn[message_id] = PendingCall(action=action, payload=body)
                _trim(cp.callsIn)
            elif action == "StatusNotification":
                _status_notification(cp, event, body, out)
            elif action == "MeterValues":
                _meter_values(cp, event, body, out)
            elif action == "StopTransaction":
                _stop_transaction(cp, event, body, out, directory)
        elif kind in (CALLRESULT, CALLERROR):
            call = cp.callsOut.pop(message_id, None)
            if call is not None:
                _command_answer(cp, event, call, kind, body, out)
    elif p.get("direction") == "out":
        if kind == CALL:
            cp.callsOut[message_id] = PendingCall(action=str(p.get("action")), payload=body,
                                                  correlationId=event.correlationId)
            _trim(cp.callsOut)
        elif kind in (CALLRESULT, CALLERROR):
            call = cp.callsIn.pop(message_id, None)
            if call is not None and kind == CALLRESULT and call.action == "StartTransaction":
                _start_transaction(cp, event, call.payload, body, out, directory)


def _trim(calls: dict[str, PendingCall]) -> None:
    while len(calls) > PENDING_LIMIT:
        del calls[next(iter(calls))]


def _status_notification(cp: ChargePointState, event: Event, body: dict[str, Any], out: _Out) -> None:
    connector_id = _int(body.get("connectorId"))
    status = body.get("status")
    if connector_id is None or connector_id < 0 or not isinstance(status, str):
        return
    connector = cp.connectors.get(connector_id)
    previous = connector.status if connector else None
    error_code, info = body.get("errorCode"), body.get("info")
    if connector is not None and (previous, connector.errorCode, connector.info) == (status, error_code, info):
        return
    cp.connectors[connector_id] = ConnectorState(status=status, errorCode=error_code, info=info,
                                                 timestamp=body.get("timestamp"))
    out.emit("connector.status.changed", {
        "chargePointId": event.chargePointId, "connectorId": connector_id, "status": status,
        "previousStatus": previous, "errorCode": error_code, "info": info,
        "vendorId": body.get("vendorId"), "vendorErrorCode": body.get("vendorErrorCode"),
        "transactionId": next((tx.transactionId for tx in cp.transactions.values()
                               if tx.connectorId == connector_id), None),
        "timestamp": body.get("timestamp") or event.occurredAt.isoformat(),
    })


def _start_transaction(cp: ChargePointState, event: Event, request: dict[str, Any],
                       response: dict[str, Any], out: _Out, directory: Directory) -> None:
    transaction_id = _int(response.get("transactionId"))
    connector_id = _int(request.get("connectorId"))
    if transaction_id is None or connector_id is None or transaction_id in cp.transactions \
            or transaction_id in cp.stopped:
        return
    id_tag = request.get("idTag")
    remote = _match_remote_start(cp, connector_id, id_tag)
    user_id = (directory.user_for_id_tag(id_tag) if isinstance(id_tag, str) else None) \
        or (remote.userId if remote else None)
    tx = TransactionState(
        transactionId=transaction_id, connectorId=connector_id, idTag=id_tag, userId=user_id,
        meterStart=_int(request.get("meterStart")) or 0,
        startTime=request.get("timestamp") or event.occurredAt.isoformat(),
        correlationId=remote.correlationId if remote else None,
        tariff=directory.tariff_for(event.chargePointId),
    )
    cp.transactions[transaction_id] = tx
    out.emit("transaction.started", {
        "transactionId": transaction_id, "chargePointId": event.chargePointId,
        "connectorId": connector_id, "idTag": id_tag, "userId": user_id,
        "meterStart": tx.meterStart, "startTime": tx.startTime, "correlationId": tx.correlationId,
    }, user_id, tx.correlationId)


def _match_remote_start(cp: ChargePointState, connector_id: int, id_tag: Any) -> RemoteStart | None:
    for i, remote in enumerate(cp.remoteStarts):
        if remote.idTag == id_tag and remote.connectorId in (None, connector_id):
            return cp.remoteStarts.pop(i)
    return None


def _active_for(cp: ChargePointState, body: dict[str, Any]) -> TransactionState | None:
    transaction_id = _int(body.get("transactionId"))
    if transaction_id is not None:
        return cp.transactions.get(transaction_id)
    connector_id = _int(body.get("connectorId"))
    matches = [tx for tx in cp.transactions.values() if tx.connectorId == connector_id]
    return matches[-1] if matches else None


def _meter_values(cp: ChargePointState, event: Event, body: dict[str, Any], out: _Out) -> None:
    tx = _active_for(cp, body)
    values = body.get("meterValue")
    if tx is None or not isinstance(values, list):
        return
    for meter_value in values:
        if not isinstance(meter_value, dict):
            continue
        sample = read_meter_value(meter_value)
        if sample.energyRegisterWh is None and sample.powerW is None and sample.currentA is None \
                and sample.voltageV is None and sample.soc is None:
            continue
        if sample.energyRegisterWh is not None:
            tx.energyWh = max(tx.energyWh, sample.energyRegisterWh - tx.meterStart)
        timestamp = sample.timestamp or event.occurredAt.isoformat()
        duration = seconds_between(tx.startTime, timestamp) or 0.0
        cost, currency = _cost(tx, duration)
        out.emit("meter.update", {
            "transactionId": tx.transactionId, "chargePointId": event.chargePointId,
            "connectorId": tx.connectorId, "userId": tx.userId, "energyWh": tx.energyWh,
            "powerW": sample.powerW, "currentA": sample.currentA, "voltageV": sample.voltageV,
            "soc": sample.soc, "timestamp": timestamp, "durationS": duration, "cost": cost,
            "currency": currency, "context": sample.context,
        }, tx.userId, tx.correlationId)


def _cost(tx: TransactionState, duration_s: float) -> tuple[float | None, str | None]:
    if tx.tariff is None:
        return None, None
    return tx.tariff.cost(tx.energyWh, duration_s), tx.tariff.currency


def _begin_register(transaction_data: Any) -> float | None:
    """The Energy register of a Transaction.Begin sample in StopTransaction.transactionData."""
    if not isinstance(transaction_data, list):
        return None
    for meter_value in transaction_data:
        if isinstance(meter_value, dict):
            sample = read_meter_value(meter_value)
            if sample.context == "Transaction.Begin" and sample.energyRegisterWh is not None:
                return sample.energyRegisterWh
    return None


def _stop_transaction(cp: ChargePointState, event: Event, body: dict[str, Any], out: _Out,
                      directory: Directory) -> None:
    transaction_id = _int(body.get("transactionId"))
    if transaction_id is None or transaction_id in cp.stopped:
        return
    meter_stop = _int(body.get("meterStop"))
    stop_time = body.get("timestamp") or event.occurredAt.isoformat()
    reason = body.get("reason") or "Local"  # OCPP 1.6 §6.48: absent reason means Local
    tx = cp.transactions.pop(transaction_id, None)
    remember(cp.stopped, transaction_id)
    if tx is not None:
        if meter_stop is not None:
            tx.energyWh = max(tx.energyWh, float(meter_stop - tx.meterStart))
        duration = seconds_between(tx.startTime, stop_time) or 0.0
        cost, currency = _cost(tx, duration)
        user_id, connector_id, energy = tx.userId, tx.connectorId, tx.energyWh
        correlation_id = tx.stopCorrelationId or tx.correlationId
    else:
        id_tag = body.get("idTag")
        user_id = directory.user_for_id_tag(id_tag) if isinstance(id_tag, str) else None
        begin = _begin_register(body.get("transactionData"))
        energy = max(float(meter_stop) - begin, 0.0) if begin is not None and meter_stop is not None else None
        connector_id, duration, cost, currency, correlation_id = None, None, None, None, None
    out.emit("transaction.stopped", {
        "transactionId": transaction_id, "chargePointId": event.chargePointId,
        "connectorId": connector_id, "userId": user_id, "meterStop": meter_stop,
        "energyWh": energy, "durationS": duration, "cost": cost, "currency": currency,
        "reason": reason, "stopTime": stop_time, "correlationId": correlation_id,
        "known": tx is not None,
    }, user_id, correlation_id)


# -- commands --------------------------------------------------------------------------------


def _user_of(event: Event) -> str | None:
    return event.principal.id if event.principal and event.principal.kind == "user" else None


def _on_command_requested(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    if event.correlationId is None or event.correlationId in cp.finishedCommands:
        return
    request = event.payload.get("request")
    cp.commands[event.correlationId] = CommandState(
        action=str(event.payload.get("action")), request=request if isinstance(request, dict) else {},
        userId=_user_of(event))
    while len(cp.commands) > PENDING_LIMIT:
        del cp.commands[next(iter(cp.commands))]


def _outcome(cp: ChargePointState, event: Event, out: _Out, correlation_id: str | None, type_: str,
             action: str | None, reason: str | None, **extra: Any) -> CommandState | None:
    if correlation_id is None or correlation_id in cp.finishedCommands:
        return None
    command = cp.commands.pop(correlation_id, None)
    remember(cp.finishedCommands, correlation_id)
    for message_id, call in list(cp.callsOut.items()):
        if call.correlationId == correlation_id:
            del cp.callsOut[message_id]
    user_id = command.userId if command else _user_of(event)
    out.emit(type_, {"correlationId": correlation_id, "action": action or (command.action if command else None),
                     "chargePointId": event.chargePointId, "reason": reason, "userId": user_id, **extra},
             user_id, correlation_id)
    return command


def _command_answer(cp: ChargePointState, event: Event, call: PendingCall, kind: int,
                    body: dict[str, Any], out: _Out) -> None:
    correlation_id = call.correlationId or event.correlationId
    if kind == CALLERROR:
        _outcome(cp, event, out, correlation_id, "command.failed", call.action, "callerror",
                 errorCode=event.payload.get("errorCode"))
        return
    status = body.get("status")
    accepted = status is None or status in ACCEPTED_STATUSES
    command = _outcome(cp, event, out, correlation_id, "command.accepted" if accepted else "command.rejected",
                       call.action, None if accepted else str(status))
    if not accepted or correlation_id is None:
        return
    if call.action == "RemoteStartTransaction":
        id_tag = call.payload.get("idTag")
        remember(cp.remoteStarts, RemoteStart(correlationId=correlation_id, idTag=id_tag,
                                              connectorId=_int(call.payload.get("connectorId")),
                                              userId=command.userId if command else None), 8)
    elif call.action == "RemoteStopTransaction":
        tx = cp.transactions.get(_int(call.payload.get("transactionId")) or -1)
        if tx is not None:
            tx.stopCorrelationId = correlation_id


def _on_command_failed(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    reason = event.payload.get("reason")
    type_ = "command.timed_out" if reason == "timeout" else "command.failed"
    _outcome(cp, event, out, event.correlationId, type_, event.payload.get("action"), reason,
             errorCode=event.payload.get("errorCode"), detail=event.payload.get("detail"))


# -- station availability --------------------------------------------------------------------


def _station_status(cp: ChargePointState, event: Event, out: _Out) -> None:
    own = cp.connectors.get(0)
    statuses = [c.status for cid, c in sorted(cp.connectors.items()) if cid >= 1 and c.status]
    a = station_availability(cp.online, own.status if own else None, statuses)
    snapshot = [a.status, a.availability, a.available, a.total, a.maintenance]
    if snapshot == cp.availability:
        return
    first = cp.availability is None
    cp.availability = snapshot
    if first and not cp.online and not cp.connectors:
        return  # nothing known yet: no news
    out.emit("station.status.changed", {
        "chargePointId": event.chargePointId, "status": a.status, "availability": a.availability,
        "available": a.available, "total": a.total, "inUse": a.inUse, "maintenance": a.maintenance,
    })


_HANDLERS = {
    "ocpp.connection.opened": _on_opened,
    "ocpp.connection.replaced": _on_opened,
    "ocpp.connection.closed": _on_closed,
    "ocpp.connection.offline": _on_offline,
    "ocpp.frame": _on_frame,
    "command.requested": _on_command_requested,
    "command.failed": _on_command_failed,
}
