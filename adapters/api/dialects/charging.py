"""The Charging WebSocket API at ``/ws`` (specs/charging-websocket-api.md): a connection whose
first message is a typed envelope ``{"id", "type", "timestamp", "data"}`` — normally
``auth_request``. :attr:`ChargingSession.routes` routes ``auth_request``,
``start_charging_request``, ``stop_charging_request`` and ``heartbeat``; pushes
``charging_status_update`` / ``meter_values_update`` follow the user's connectors
(:meth:`ChargingSession.push_for`); every failure is an ``error`` with the request's id.
Message shapes: :mod:`.charging_models`; formatting: :mod:`.charging_codec`; the choices
where the document contradicts itself, error codes and limits: docs/dialects.md
("Charging WebSocket API").
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from typing import Any

from starlette.websockets import WebSocket

from chargelog.domain.log import Record

from ..caller import Caller, CoreError
from ..ws.base import ApiContext, Dialect
from ..ws.router import Refusal, Request, RoutedSession, route
from ..ws.state import state_for
from ..ws.wire import peek_id
from . import charging_codec as codec
from . import charging_models as models


#: Domain event types this dialect pushes from.
PUSH_TYPES = ("connector.status.changed", "meter.update", "transaction.started", "transaction.stopped")

ConnectorKey = tuple[str, int]

#: The document's error code per dispatcher reason ("Common Error Codes").
CODES: dict[str, str] = {"malformed": models.INVALID_REQUEST, "oversized": models.INVALID_REQUEST,
                         "invalid": models.INVALID_REQUEST, "unknown": models.INVALID_REQUEST,
                         "missing": models.MISSING_PARAMETERS, "throttled": models.RATE_LIMIT_EXCEEDED,
                         "unauthenticated": models.NOT_AUTHENTICATED, "expired": models.INVALID_TOKEN,
                         "internal": models.GATEWAY_ERROR}
#: Its wording per dispatcher reason ({text}: the refusal's own, {name}: the message type).
TEXTS: dict[str, str] = {"malformed": "Message is not valid JSON: {text}", "unknown": "Unknown message type {name!r}",
                         "unauthenticated": "Client not authenticated: send auth_request first",
                         "expired": "Token expired: authenticate again with a fresh token"}


class ChargingSession(RoutedSession):
    """One Charging WebSocket API connection on the session engine; the routing table is the
    ``@route`` handlers below ("Message Types")."""

    idle_reason = "Session timeout"

    def __init__(self, websocket: WebSocket, ctx: ApiContext) -> None:
        super().__init__(websocket, ctx, "charging", state_for(ctx.core, ctx.settings).charging_receive)
        self.session_id = f"ws_session_{uuid.uuid4().hex[:12]}"
        self.server_heartbeats: deque[str] = deque(maxlen=16)
        # connectors whose status the user follows; the user's own transaction per connector;
        # connectors with a start in flight
        self.interest: set[ConnectorKey] = set()
        self.transactions: dict[ConnectorKey, int] = {}
        self.pending: set[ConnectorKey] = set()

    def envelope(self, message: Any) -> tuple[str, Any]:
        if not isinstance(message, dict):
            raise Refusal(models.INVALID_REQUEST, "Message must be a JSON object")
        envelope = models.RequestEnvelope.model_validate(message)
        return envelope.type, envelope.data or {}

    def error(self, request: Request, refusal: Refusal) -> dict[str, Any]:
        """``error`` with the request's id: :data:`CODES` per dispatcher reason, the
        document's own codes as raised, a core refusal of a start or stop by
        :func:`.charging_codec.code_for` (``details.reason`` its kind)."""
        reason, text, details = refusal.reason, refusal.text, refusal.details
        if reason in TEXTS:
            text = TEXTS[reason].format(text=text, name=request.name)
        if reason in CODES:
            code = CODES[reason]
        elif reason in models.ERROR_CODES:
            code = reason
        else:
            code, details = codec.code_for(reason, request.name.split("_")[0]), {"reason": reason, **details}
        return codec.error_message(code, text, id_=request.id, details=details)

    async def run(self, first: str | None) -> None:
        verdict = self.state.limits.connections.hit(self.address)
        if not verdict.allowed:
            await self.send_refusal(Request(peek_id(first)), Refusal(
                models.RATE_LIMIT_EXCEEDED, "Too many connections from this address",
                {"limit": verdict.limit, "retryAfter": verdict.retry_after_s}))
            await self.sender.close(1008, "Rate limit exceeded")
            await self.end()
            return
        self.spawn(self._heartbeats())
        await self.serve(self.dispatch, first=first)

    async def _heartbeats(self) -> None:
        interval = self.settings.charging_heartbeat_interval_s
        while not self.sender.closed:
            await asyncio.sleep(interval)
            beat = codec.heartbeat(f"heartbeat-{uuid.uuid4().hex[:12]}")
            self.server_heartbeats.append(beat["id"])
            await self.sender.send(beat)

    # -- requests ("Message Types") --------------------------------------------------------

    @route("heartbeat", auth=False)
    async def heartbeat(self, request: Request, _: Any) -> dict[str, Any] | None:
        """Answer a client heartbeat with its id; a client's echo of ours (same id, or id +
        "-response") is not answered."""
        echo = isinstance(request.id, str) and request.id.removesuffix("-response") in self.server_heartbeats
        return None if echo else codec.heartbeat(request.id)

    @route("auth_request", auth=False)
    async def authenticate(self, request: Request, data: dict[str, Any]) -> dict[str, Any]:
        """``auth_request``: the token's caller owns the connection and gets the pushes; a
        refusal signs the connection out (except when attempts are throttled)."""
        if not self.state.limits.auth.hit(self.address).allowed:
            return codec.auth_failure(request.id, models.RATE_LIMIT_EXCEEDED,
                                      "too many authentication attempts; retry later")
        previous, token = self.caller, data.get("token")
        try:
            if not isinstance(token, str) or not token:
                raise Refusal(models.MISSING_PARAMETERS, "token is required")
            try:
                caller = await self.verify(token=token)
            except CoreError as exc:
                code = models.RATE_LIMIT_EXCEEDED if exc.kind == "rate_limited" else models.INVALID_TOKEN
                raise Refusal(code, exc.message) from None
            if data.get("userId") not in (None, caller.userId):
                raise Refusal(models.INVALID_TOKEN, "userId does not match the token")
        except Refusal as exc:
            self.sign_out()
            self._stop_pushes()
            return codec.auth_failure(request.id, exc.reason, exc.text)
        if previous is None or previous.userId != caller.userId or "pushes" not in self.subscriptions:
            await self._start_pushes(caller)
        return codec.auth_success(request.id, caller.userId, self.session_id, self.expires_at)

    @staticmethod
    def _own(user_id: str | None, request: Request) -> Caller:
        """The request's caller; a ``userId`` naming someone else is refused."""
        if user_id not in (None, request.user.userId):
            raise Refusal(models.INVALID_REQUEST, "userId does not match the authenticated user")
        return request.user

    @route("start_charging_request", models.StartChargingRequestData, required=("chargePointId", "connectorId"),
           background=True)
    async def start(self, request: Request, p: models.StartChargingRequestData) -> dict[str, Any]:
        caller = self._own(p.userId, request)
        key = (p.chargePointId, p.connectorId)
        self.interest.add(key)
        self.pending.add(key)
        started = False
        try:
            command = await self.core.start_charging(caller, p.chargePointId, p.connectorId, p.idTag)
            outcome = await command.outcome(self.settings.charging_start_wait_s)
            started = outcome.status == "started" and outcome.session is not None
        finally:
            self.pending.discard(key)
            if not started and key not in self.transactions:
                self.interest.discard(key)  # nothing of the user's runs there
        if started:
            assert outcome.session is not None
            self.transactions[key] = outcome.session.transactionId
            return codec.start_response(request.id, outcome.session.transactionId, p.connectorId)
        raise self._failure(outcome.status, outcome.reason, command.correlationId, "Charging could not be started")

    @route("stop_charging_request", models.StopChargingRequestData, required=("transactionId",), background=True)
    async def stop(self, request: Request, p: models.StopChargingRequestData) -> dict[str, Any]:
        caller = self._own(p.userId, request)
        tid, cp = p.transactionId, p.chargePointId
        session = await self.core.active_session(caller, tid)
        if session is None or session.status != "active" or (cp is not None and session.chargePointId != cp):
            raise Refusal(models.TRANSACTION_NOT_FOUND, f"No active transaction {tid}" + (f" on {cp}" if cp else ""),
                          {"transactionId": tid, "chargePointId": cp})
        command = await self.core.stop_charging(caller, transaction_id=tid)
        outcome = await command.outcome(self.settings.charging_start_wait_s)
        if outcome.status == "stopped":
            return codec.stop_response(request.id, tid)
        raise self._failure(outcome.status, outcome.reason, command.correlationId, "Charging could not be stopped")

    @staticmethod
    def _failure(status: str, reason: str | None, correlation_id: str, what: str) -> Refusal:
        """The refusal for a command outcome other than started/stopped: offline →
        CHARGE_POINT_OFFLINE; rejected (the charge point said Rejected), timeout, failed →
        GATEWAY_ERROR with ``details.status``."""
        code = models.CHARGE_POINT_OFFLINE if status == "offline" else models.GATEWAY_ERROR
        text = {"offline": f"{what}: charge point not connected",
                "rejected": f"{what}: the charge point rejected the request",
                "timeout": f"{what}: no answer from the charge point in time"}.get(status, f"{what}: {reason or status}")
        details = {"status": "Rejected" if status == "rejected" else status, "reason": reason,
                   "correlationId": correlation_id}
        return Refusal(code, text, details)

    # -- pushes ---------------------------------------------------------------------------

    def _stop_pushes(self) -> None:
        self.unsubscribe("pushes")
        self.interest.clear()
        self.transactions.clear()

    async def _start_pushes(self, caller: Caller) -> None:
        self._stop_pushes()
        after = await self.core.snapshot_position()  # before reading the sessions: no gap
        for session in await self.core.my_sessions(caller, limit=50):
            if session.status == "active":
                key = (session.chargePointId, session.connectorId)
                self.interest.add(key)
                self.transactions[key] = session.transactionId
        self.subscribe("pushes", self.core.subscribe(caller, types=PUSH_TYPES, after=after),
                       lambda record: self._push(record, caller))

    async def _push(self, record: Record, caller: Caller) -> bool:
        message = self.push_for(record.event.type, record.event.payload, caller)
        return message is None or await self.sender.send(message)

    def push_for(self, type_: str, payload: dict[str, Any], caller: Caller) -> dict[str, Any] | None:
        """The push (or None) for one domain event, updating which connectors are followed."""
        key = (payload.get("chargePointId"), payload.get("connectorId"))
        if type_ == "transaction.started":
            if payload.get("userId") in (None, caller.userId):
                self.transactions[key] = payload.get("transactionId")
                self.interest.add(key)
            return None
        if type_ == "transaction.stopped":
            if self.transactions.get(key) == payload.get("transactionId"):
                del self.transactions[key]
            return None
        if type_ == "meter.update":
            return codec.meter_values_update(payload)
        if type_ == "connector.status.changed" and key in self.interest:
            message = codec.charging_status_update(payload, self.transactions.get(key))
            if payload.get("status") == "Available" and key not in self.pending and key not in self.transactions:
                self.interest.discard(key)
            return message
        return None


def _claims(message: Any) -> bool:
    return isinstance(message, dict) and isinstance(message.get("type"), str) and "action" not in message


DIALECT = Dialect("charging", ChargingSession, claims=_claims, contract=dict(
    channel="chargingWs", address="/ws", title="Charging WebSocket API (charging-websocket-api.md)",
    description='First message {"type": "auth_request", …}. Limits: 10 connections/min per IP, 100 messages/min per '
                "user, 5 authentication attempts/min per IP.", prefix="Charging",
    send=models.SEND, receive=models.RECEIVE))
