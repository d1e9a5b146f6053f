"""The fold from source events (what was said) to domain events (what it meant).

``translate(state, event, directory, at)`` is deterministic and does no I/O: it updates
``state`` in place, returns it, and returns the domain events (docs/contracts.md, "Domain
events") with ``eventId = derived_event_id(source eventId, i)``, ``causationId`` = the source
eventId, ``chargePointId`` and ``occurredAt`` of the source, ``principal`` = the owning user
where there is one, envelope ``correlationId`` = the payload's. It is total over well-formed
envelopes: whatever a payload holds, it derives state or an ``ocpp.anomaly`` domain event
saying why not (``kind``, the source event and its log position ``at``). An exception out of
it is a defect (the runner quarantines that one event).

OCPP 1.6-J rules applied (OCPP 1.6 edition 2 section numbers):

* Only what the central system accepted counts: a charge point's CALL derives state when the
  central system's CALLRESULT to it (direction out, same messageId, appended in the same batch)
  is folded; a CALL answered with a CALLERROR derives only an anomaly (``rejected-call``). Every
  field is checked (:mod:`chargelog.domain.ocpp_checks`) before it is believed
  (``invalid-payload`` otherwise).
* StartTransaction (§4.8, §6.45/6.46): the transaction exists once the CALLRESULT assigns
  ``transactionId``; ``startTime`` is the request's ``timestamp`` even when old. A start on a
  connector that still has an active transaction closes the old one first
  (``transaction.stopped`` reason ``Superseded`` + anomaly ``superseded-transaction``).
* A RemoteStartTransaction (§5.11) accepted by the charge point is matched to the next
  StartTransaction on that charge point with the same idTag (and connectorId when given).
* MeterValues (§4.7): converted by :mod:`chargelog.domain.meter`; energy since start =
  Energy.Active.Import.Register − meterStart, never decreasing while the transaction runs.
  MeterValues naming a transaction this charge point does not have yield an anomaly
  (``unknown-transaction`` / ``stopped-transaction``) and touch no session.
* StopTransaction (§4.10, §6.49): energy = meterStop − meterStart (meterStop is the register at
  the stop, §6.49), ≥ 0; a meterStop below an earlier reading keeps meterStop and records
  ``meter-stop-below-reading``. A stop naming a transaction this charge point does not have
  (never started here, or another charge point's) yields ``unknown-transaction`` and no
  ``transaction.stopped``: a charge point's frames touch only its own sessions.
* Stale transactions: a ``system.tick`` source event for a charge point that is offline and
  whose last event is ``staleAfterSeconds`` (in the tick) or more before the tick closes its
  active transactions (``transaction.stopped`` reason ``Stale``, ``stopTime`` = the last event
  of the charge point). Log time only, so a replay gives the same result.
* StatusNotification (§4.9) on connectorId 0 is the charge point's own status; every change of
  (status, errorCode, info) yields ``connector.status.changed``; any change of the station
  availability (:mod:`chargelog.domain.availability`) yields ``station.status.changed``.
* Commands: the charge point's CALLRESULT to a command's CALL is mapped by
  :mod:`chargelog.domain.command_outcomes` (accepted/scheduled → ``command.accepted``,
  rejected → ``command.rejected``, failed → ``command.failed``, reason = status); a CALLERROR
  yields ``command.failed`` (reason "callerror"); a CALLRESULT that breaks its schema
  (``schemaError``, refused by the gateway) only an anomaly (``invalid-callresult``: the
  gateway's ``command.failed`` gives the outcome); a ``command.failed`` source event yields
  ``command.timed_out`` (reason "timeout") or ``command.failed``. One outcome per
  correlationId.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from .availability import station_availability
from .command_outcomes import command_outcome
from .envelope import Event, Principal, derived_event_id
from .meter import read_meter_value
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
from .ocpp_checks import (
    MeterValuesReq,
    StartTransactionConf,
    StartTransactionReq,
    BootNotificationReq,
    StatusNotificationReq,
    StopTransactionReq,
    check,
    parse_time,
)
from .registry import Registry, Tariff

CALL, CALLRESULT, CALLERROR = 2, 3, 4
PENDING_LIMIT = 256
#: Least time between two ``station.last_seen`` of one charge point (s), except that the first
#: Heartbeat of a connection always yields one.
LAST_SEEN_INTERVAL_S = 60.0
#: The source event type that lets log time pass for one charge point (appended by the
#: projection worker's stale sweep; payload ``staleAfterSeconds``).
TICK = "system.tick"
ANOMALY = "ocpp.anomaly"

__all__ = ["ANOMALY", "NO_DIRECTORY", "TICK", "Directory", "RegistryDirectory", "SourceRef", "parse_time",
           "seconds_between", "translate", "translate_all"]


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


@dataclass(frozen=True)
class SourceRef:
    """Where a source event is on the log: ``partition`` and ``offset`` of stream ``source``."""

    partition: int
    offset: int


def seconds_between(start: Any, stop: Any) -> float | None:
    """Seconds from ``start`` to ``stop`` (ISO texts), ≥ 0, or None when either is missing."""
    a, b = parse_time(start), parse_time(stop)
    if a is None or b is None:
        return None
    return max((b - a).total_seconds(), 0.0)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


class _Out:
    """Collects the domain events derived from one source event."""

    def __init__(self, source: Event, at: SourceRef | None) -> None:
        self.source = source
        self.at = at
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

    def anomaly(self, kind: str, action: str | None, message_id: str | None, detail: str) -> None:
        """An ``ocpp.anomaly`` domain event: why this source event derived (some) nothing."""
        self.emit(ANOMALY, {
            "chargePointId": self.source.chargePointId, "kind": kind, "action": action,
            "messageId": message_id, "detail": detail[:500], "sourceEventId": self.source.eventId,
            "sourceType": self.source.type,
            "sourcePartition": self.at.partition if self.at else None,
            "sourceOffset": self.at.offset if self.at else None,
        })


def translate(state: TranslatorState, event: Event, directory: Directory = NO_DIRECTORY,
              at: SourceRef | None = None) -> tuple[TranslatorState, list[Event]]:
    """Fold one source event (at log position ``at``, when known) into ``state``; return
    ``(state, domain events)``. Bad input yields anomalies, never an exception; ``registry.*``
    and unknown types yield nothing."""
    if event.chargePointId == "-" or event.type.startswith("registry."):
        return state, []
    out = _Out(event, at)
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


def _seen(cp: ChargePointState, event: Event) -> None:
    cp.lastSeenAt = event.occurredAt.isoformat()


def _connected(cp: ChargePointState, event: Event, out: _Out) -> None:
    _seen(cp, event)
    if not cp.online:
        cp.online = True
        out.emit("station.connected", {"chargePointId": event.chargePointId, "at": event.occurredAt.isoformat()})


def _last_seen(cp: ChargePointState, event: Event, out: _Out, heartbeat: bool) -> None:
    """``station.last_seen`` {chargePointId, at}: the charge point is alive (OCPP 1.6 §4.6
    Heartbeat; ocpp-websocket-service.md ``charger.lastSeen``). Throttled: on the first
    Heartbeat of a connection, then for any incoming frame at most once per
    :data:`LAST_SEEN_INTERVAL_S` (event time)."""
    last = cp.lastSeenPublishedAt
    if (last is None and heartbeat) or (
            last is not None and (event.occurredAt - last).total_seconds() >= LAST_SEEN_INTERVAL_S):
        cp.lastSeenPublishedAt = event.occurredAt
        out.emit("station.last_seen", {"chargePointId": event.chargePointId, "at": event.occurredAt.isoformat()})


def _disconnected(cp: ChargePointState, event: Event, out: _Out, reason: str) -> None:
    _seen(cp, event)
    cp.lastSeenPublishedAt = None
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


def _on_invalid_frame(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    if event.payload.get("direction") == "in":
        _connected(cp, event, out)
    message_id = event.payload.get("messageId")
    out.anomaly("invalid-frame", None, str(message_id) if message_id is not None else None,
                str(event.payload.get("reason") or "frame could not be decoded"))


# -- frames ----------------------------------------------------------------------------------


def _on_frame(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    p = event.payload
    kind, message_id = p.get("messageTypeId"), str(p.get("messageId"))
    body = p.get("payload") if isinstance(p.get("payload"), dict) else {}
    if p.get("direction") == "in":
        _connected(cp, event, out)
        _last_seen(cp, event, out, heartbeat=kind == CALL and p.get("action") == "Heartbeat")
        if kind == CALL:
            action = str(p.get("action"))
            cp.callsIn[message_id] = PendingCall(action=action, payload=body if action in _ANSWERED else {})
            _trim(cp.callsIn)
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
            if call is None:
                return
            if kind == CALLERROR:
                out.anomaly("rejected-call", call.action, message_id,
                            f"answered with CALLERROR {p.get('errorCode')}: {p.get('errorDescription') or ''}")
                return
            answered = _ANSWERED.get(call.action)
            if answered is not None:
                answered(cp, event, call.payload, body, out, directory)


M = TypeVar("M", bound=BaseModel)


def _believed(model: type[M], request: dict[str, Any], action: str, out: _Out) -> M | None:
    """``request`` parsed by ``model`` (:mod:`.ocpp_checks`), or None after recording an
    ``invalid-payload`` anomaly naming the first violation."""
    parsed = check(model, request)
    if isinstance(parsed, str):
        out.anomaly("invalid-payload", action, None, parsed)
        return None
    return parsed


def _trim(calls: dict[str, PendingCall]) -> None:
    while len(calls) > PENDING_LIMIT:
        del calls[next(iter(calls))]


def _boot_notification(cp: ChargePointState, event: Event, request: dict[str, Any],
                       response: dict[str, Any], out: _Out, directory: Directory) -> None:
    """An Accepted BootNotification (OCPP 1.6 §4.2) → ``station.booted`` with the identity
    the charge point stated: vendor, model, firmwareVersion, serialNumber."""
    if response.get("status") != "Accepted":
        return  # Pending / Rejected: not (yet) accepted, derives nothing
    req = _believed(BootNotificationReq, request, "BootNotification", out)
    if req is None:
        return
    out.emit("station.booted", {
        "chargePointId": event.chargePointId, "vendor": req.chargePointVendor, "model": req.chargePointModel,
        "firmwareVersion": req.firmwareVersion, "serialNumber": req.chargePointSerialNumber,
    })


def _status_notification(cp: ChargePointState, event: Event, request: dict[str, Any],
                         response: dict[str, Any], out: _Out, directory: Directory) -> None:
    req = _believed(StatusNotificationReq, request, "StatusNotification", out)
    if req is None:
        return
    connector_id, status, error_code, info = req.connectorId, req.status, req.errorCode, req.info
    connector = cp.connectors.get(connector_id)
    previous = connector.status if connector else None
    if connector is not None and (previous, connector.errorCode, connector.info) == (status, error_code, info):
        return
    cp.connectors[connector_id] = ConnectorState(status=status, errorCode=error_code, info=info,
                                                 timestamp=req.timestamp)
    out.emit("connector.status.changed", {
        "chargePointId": event.chargePointId, "connectorId": connector_id, "status": status,
        "previousStatus": previous, "errorCode": error_code, "info": info,
        "vendorId": req.vendorId, "vendorErrorCode": req.vendorErrorCode,
        "transactionId": next((tx.transactionId for tx in cp.transactions.values()
                               if tx.connectorId == connector_id), None),
        "timestamp": req.timestamp or event.occurredAt.isoformat(),
    })


def _start_transaction(cp: ChargePointState, event: Event, request: dict[str, Any],
                       response: dict[str, Any], out: _Out, directory: Directory) -> None:
    req, conf = check(StartTransactionReq, request), check(StartTransactionConf, response)
    if isinstance(req, str) or isinstance(conf, str):
        out.anomaly("invalid-payload", "StartTransaction", None, req if isinstance(req, str) else f"answer {conf}")
        return
    transaction_id, connector_id, id_tag = conf.transactionId, req.connectorId, req.idTag
    if transaction_id in cp.transactions or transaction_id in cp.stopped:
        return  # a retried StartTransaction got the same transactionId back: already known
    for old in [tx for tx in cp.transactions.values() if tx.connectorId == connector_id]:
        out.anomaly("superseded-transaction", "StartTransaction", None,
                    f"transaction {old.transactionId} on connector {connector_id} was still active "
                    f"when transaction {transaction_id} started; closed as Superseded")
        _close(cp, event, old, out, reason="Superseded", stop_time=req.timestamp)
    remote = _match_remote_start(cp, connector_id, id_tag)
    user_id = directory.user_for_id_tag(id_tag) or (remote.userId if remote else None)
    tx = TransactionState(
        transactionId=transaction_id, connectorId=connector_id, idTag=id_tag, userId=user_id,
        meterStart=req.meterStart, startTime=req.timestamp,
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


def _meter_values(cp: ChargePointState, event: Event, request: dict[str, Any],
                  response: dict[str, Any], out: _Out, directory: Directory) -> None:
    req = _believed(MeterValuesReq, request, "MeterValues", out)
    if req is None:
        return
    if req.transactionId is not None:
        tx = cp.transactions.get(req.transactionId)
        if tx is None:
            kind = "stopped-transaction" if req.transactionId in cp.stopped else "unknown-transaction"
            out.anomaly(kind, "MeterValues", None,
                        f"transactionId {req.transactionId} is not an active transaction of this charge point")
            return
    else:
        matches = [t for t in cp.transactions.values() if t.connectorId == req.connectorId]
        if not matches:
            return  # meter values outside a transaction (e.g. clock-aligned): no session
        tx = matches[-1]
    for meter_value in request["meterValue"]:
        sample = read_meter_value(meter_value)
        if sample.energyRegisterWh is None and sample.powerW is None and sample.currentA is None \
                and sample.voltageV is None and sample.soc is None:
            continue
        if sample.energyRegisterWh is not None:
            tx.energyWh = max(tx.energyWh, round(sample.energyRegisterWh - tx.meterStart, 3))  # Wh, no float noise
        timestamp = sample.timestamp or event.occurredAt.isoformat()
        duration = seconds_between(tx.startTime, timestamp) or 0.0
        cost, currency = _cost(tx, tx.energyWh, duration)
        out.emit("meter.update", {
            "transactionId": tx.transactionId, "chargePointId": event.chargePointId,
            "connectorId": tx.connectorId, "userId": tx.userId, "energyWh": tx.energyWh,
            "powerW": sample.powerW, "currentA": sample.currentA, "voltageV": sample.voltageV,
            "soc": sample.soc, "timestamp": timestamp, "durationS": duration, "cost": cost,
            "currency": currency, "context": sample.context,
        }, tx.userId, tx.correlationId)


def _cost(tx: TransactionState, energy_wh: float, duration_s: float) -> tuple[float | None, str | None]:
    if tx.tariff is None:
        return None, None
    return tx.tariff.cost(energy_wh, duration_s), tx.tariff.currency


def _stop_transaction(cp: ChargePointState, event: Event, request: dict[str, Any],
                      response: dict[str, Any], out: _Out, directory: Directory) -> None:
    req = _believed(StopTransactionReq, request, "StopTransaction", out)
    if req is None:
        return
    transaction_id = req.transactionId
    if transaction_id in cp.stopped:
        return  # a retried StopTransaction: already stopped
    tx = cp.transactions.get(transaction_id)
    if tx is None:
        out.anomaly("unknown-transaction", "StopTransaction", None,
                    f"transactionId {transaction_id} is not a transaction of this charge point; no session touched")
        return
    energy = float(req.meterStop - tx.meterStart)
    if energy < 0:
        out.anomaly("meter-stop-below-start", "StopTransaction", None,
                    f"meterStop {req.meterStop} Wh < meterStart {tx.meterStart} Wh; energy 0")
        energy = 0.0
    elif energy < tx.energyWh:
        out.anomaly("meter-stop-below-reading", "StopTransaction", None,
                    f"meterStop {req.meterStop} Wh is below an earlier reading "
                    f"({tx.meterStart + tx.energyWh:g} Wh); energy from meterStop")
    _close(cp, event, tx, out, reason=req.reason or "Local",  # §6.49: absent reason = Local
           stop_time=req.timestamp, meter_stop=req.meterStop, energy_wh=energy)


def _close(cp: ChargePointState, event: Event, tx: TransactionState, out: _Out, *, reason: str,
           stop_time: str | None, meter_stop: int | None = None, energy_wh: float | None = None) -> None:
    """End ``tx``: one ``transaction.stopped``. ``energy_wh`` None = the energy metered so far
    (Wh); ``stop_time`` None = the source event's time."""
    cp.transactions.pop(tx.transactionId, None)
    remember(cp.stopped, tx.transactionId)
    stop_time = stop_time or event.occurredAt.isoformat()
    energy = tx.energyWh if energy_wh is None else energy_wh
    duration = seconds_between(tx.startTime, stop_time) or 0.0
    cost, currency = _cost(tx, energy, duration)
    correlation_id = tx.stopCorrelationId or tx.correlationId
    out.emit("transaction.stopped", {
        "transactionId": tx.transactionId, "chargePointId": event.chargePointId,
        "connectorId": tx.connectorId, "userId": tx.userId, "meterStop": meter_stop,
        "energyWh": energy, "durationS": duration, "cost": cost, "currency": currency,
        "reason": reason, "stopTime": stop_time, "correlationId": correlation_id, "known": True,
    }, tx.userId, correlation_id)


_ANSWERED: dict[str, Callable[[ChargePointState, Event, dict[str, Any], dict[str, Any], _Out, Directory], None]] = {
    "BootNotification": _boot_notification,
    "StatusNotification": _status_notification,
    "StartTransaction": _start_transaction,
    "MeterValues": _meter_values,
    "StopTransaction": _stop_transaction,
}


# -- stale transactions ----------------------------------------------------------------------


def _on_tick(cp: ChargePointState, event: Event, out: _Out, directory: Directory) -> None:
    after = event.payload.get("staleAfterSeconds")
    if cp.online or not cp.transactions or isinstance(after, bool) or not isinstance(after, int | float) \
            or after <= 0:
        return
    last = parse_time(cp.lastSeenAt)
    if last is None or (event.occurredAt - last).total_seconds() < after:
        return
    for tx in list(cp.transactions.values()):
        out.anomaly("stale-transaction", None, None,
                    f"no frame for {after:g} s since the charge point went offline at {cp.lastSeenAt}; "
                    f"transaction {tx.transactionId} closed as Stale")
        _close(cp, event, tx, out, reason="Stale", stop_time=cp.lastSeenAt)


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


_OUTCOME_TYPES = {"accepted": "command.accepted", "scheduled": "command.accepted",
                  "rejected": "command.rejected", "failed": "command.failed"}


def _command_answer(cp: ChargePointState, event: Event, call: PendingCall, kind: int,
                    body: dict[str, Any], out: _Out) -> None:
    correlation_id = call.correlationId or event.correlationId
    message_id = str(event.payload.get("messageId"))
    if kind == CALLERROR:
        _outcome(cp, event, out, correlation_id, "command.failed", call.action, "callerror",
                 errorCode=event.payload.get("errorCode"), outcome="failed")
        return
    schema_error = event.payload.get("schemaError")
    if schema_error:
        out.anomaly("invalid-callresult", call.action, message_id,
                    f"CALLRESULT breaks the 1.6 schema: {schema_error}")
        return
    outcome, status = command_outcome(call.action, body)
    accepted = outcome in ("accepted", "scheduled")
    command = _outcome(cp, event, out, correlation_id, _OUTCOME_TYPES[outcome], call.action,
                       None if accepted else status, outcome=outcome, status=status)
    if not accepted or correlation_id is None:
        return
    if call.action == "RemoteStartTransaction":
        id_tag = call.payload.get("idTag")
        remember(cp.remoteStarts, RemoteStart(correlationId=correlation_id,
                                              idTag=id_tag if isinstance(id_tag, str) else None,
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
    "ocpp.frame.invalid": _on_invalid_frame,
    TICK: _on_tick,
    "command.requested": _on_command_requested,
    "command.failed": _on_command_failed,
}
