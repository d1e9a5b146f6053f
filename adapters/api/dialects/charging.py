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
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket

from chargelog.domain.log import Record

from ..caller import Caller, CoreError
from ..ws.base import ApiContext, Dialect
from ..ws.session import Session
from ..ws.state import state_for
from ..ws.wire import BadMessage, loads, peek_id
from . import charging_codec as codec
from . import charging_models as models

logger = logging.getLogger(__name__)

#: Domain event types this dialect pushes from.
PUSH_TYPES = ("connector.status.changed", "meter.update", "transaction.started", "transaction.stopped")

ConnectorKey = tuple[str, int]


class Refusal(Exception):
    """A request answered with an ``error`` (code, message, details)."""

    def __init__(self, code: str, text: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.code, self.text, self.details = code, text, details


def parse(model: type[BaseModel], value: Any, required: tuple[str, ...] = ()) -> Any:
    """``value`` validated by ``model``. Raises :class:`Refusal`: MISSING_PARAMETERS (with
    ``details.missing``) when a ``required`` field is absent, null or empty, else
    INVALID_REQUEST naming the first problem."""
    missing = [f for f in required if value.get(f) in (None, "")]
    if missing:
        raise Refusal(models.MISSING_PARAMETERS, f"Missing required parameters: {', '.join(missing)}",
                      {"missing": missing})
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Refusal(models.INVALID_REQUEST, f"{first['loc'][0] if first['loc'] else 'message'}: {first['msg']}") from None


class ChargingSession(Session):
    """One Charging WebSocket API connection on the session engine; :attr:`routes` is the
    routing table (message type → handler, and whether it needs authentication)."""

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
        self.routes: dict[str, tuple[Callable[[Any, dict[str, Any]], Awaitable[None]], bool]] = {
            "heartbeat": (self.heartbeat, False), "auth_request": (self.authenticate, False),
            "start_charging_request": (self.start, True), "stop_charging_request": (self.stop, True)}

    async def send_error(self, code: str, text: str, reply_id: Any = None, details: dict[str, Any] | None = None) -> None:
        await self.sender.send(codec.error_message(code, text, id_=reply_id, details=details))

    async def refuse(self, request_id: Any, text: str) -> None:
        await self.send_error(models.INVALID_REQUEST, text, request_id)

    async def run(self, first: str | None) -> None:
        verdict = self.state.limits.connections.hit(self.address)
        if not verdict.allowed:
            await self.send_error(models.RATE_LIMIT_EXCEEDED, "Too many connections from this address", peek_id(first),
                                  {"limit": verdict.limit, "retryAfter": verdict.retry_after_s})
            await self.sender.close(1008, "Rate limit exceeded")
            await self.end()
            return
        self.spawn(self._heartbeats())
        await self.serve(self.handle, first=first)

    async def _heartbeats(self) -> None:
        interval = self.settings.charging_heartbeat_interval_s
        while not self.sender.closed:
            await asyncio.sleep(interval)
            beat = codec.heartbeat(f"heartbeat-{uuid.uuid4().hex[:12]}")
            self.server_heartbeats.append(beat["id"])
            await self.sender.send(beat)

    # -- requests -------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Parse and route one client message (see the module docstring)."""
        reply_id = None
        try:
            try:
                msg = loads(text)
            except BadMessage as exc:
                raise Refusal(models.INVALID_REQUEST, f"Message is not valid JSON: {exc}") from None
            if not isinstance(msg, dict):
                raise Refusal(models.INVALID_REQUEST, "Message must be a JSON object")
            mid = msg.get("id")
            reply_id = mid if isinstance(mid, str | int) and not isinstance(mid, bool) else None
            envelope = parse(models.RequestEnvelope, msg)
            if self.caller is not None:
                verdict = self.state.limits.messages.hit(f"user:{self.caller.userId}")
                if not verdict.allowed:
                    raise Refusal(models.RATE_LIMIT_EXCEEDED, "Too many messages; slow down",
                                  {"limit": verdict.limit, "retryAfter": verdict.retry_after_s})
            handler, needs_auth = self.routes.get(envelope.type, (None, False))
            if handler is None:
                raise Refusal(models.INVALID_REQUEST, f"Unknown message type {envelope.type!r}",
                              {"type": envelope.type, "supported": list(self.routes)})
            if not needs_auth:
                await handler(reply_id, envelope.data or {})
                return
            if self.caller is None:
                raise Refusal(models.NOT_AUTHENTICATED, "Client not authenticated: send auth_request first")
            if self.expires_at is not None and datetime.now(UTC) >= self.expires_at:
                raise Refusal(models.INVALID_TOKEN, "Token expired: authenticate again with a fresh token")
        except Refusal as exc:
            await self.send_error(exc.code, exc.text, reply_id, exc.details)
            return
        self.spawn(self._guarded(handler, reply_id, envelope.data or {}, self.caller))

    async def heartbeat(self, reply_id: Any, _: dict[str, Any]) -> None:
        """Answer a client heartbeat with its id; a client's echo of ours (same id, or id +
        "-response") is not answered."""
        if not (isinstance(reply_id, str) and reply_id.removesuffix("-response") in self.server_heartbeats):
            await self.sender.send(codec.heartbeat(reply_id))

    async def _guarded(self, handler: Any, reply_id: Any, data: dict[str, Any], caller: Caller) -> None:
        try:
            await handler(reply_id, data, caller)
        except Refusal as exc:
            await self.send_error(exc.code, exc.text, reply_id, exc.details)
        except CoreError as exc:
            await self.sender.send(codec.core_error(reply_id, exc, "start" if handler == self.start else "stop"))
        except Exception as exc:  # noqa: BLE001 - reported to the client, the connection lives on
            logger.exception("charging request failed")
            await self.send_error(models.GATEWAY_ERROR, f"Internal error: {type(exc).__name__}", reply_id)

    async def authenticate(self, reply_id: Any, data: dict[str, Any]) -> None:
        """``auth_request``: the token's caller owns the connection and gets the pushes; a
        refusal signs the connection out (except when attempts are throttled)."""
        if not self.state.limits.auth.hit(self.address).allowed:
            await self.sender.send(codec.auth_failure(reply_id, models.RATE_LIMIT_EXCEEDED,
                                                      "too many authentication attempts; retry later"))
            return
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
            self._drop_auth()
            await self.sender.send(codec.auth_failure(reply_id, exc.code, exc.text))
            return
        if previous is None or previous.userId != caller.userId or "pushes" not in self.subscriptions:
            await self._start_pushes(caller)
        await self.sender.send(codec.auth_success(reply_id, caller.userId, self.session_id, self.expires_at))

    def _drop_auth(self) -> None:
        self.sign_out()
        self.unsubscribe("pushes")
        self.interest.clear()
        self.transactions.clear()

    @staticmethod
    def _own(user_id: str | None, caller: Caller) -> None:
        if user_id not in (None, caller.userId):
            raise Refusal(models.INVALID_REQUEST, "userId does not match the authenticated user")

    async def start(self, reply_id: Any, data: dict[str, Any], caller: Caller) -> None:
        p = parse(models.StartChargingRequestData, data, ("chargePointId", "connectorId"))
        self._own(p.userId, caller)
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
            await self.sender.send(codec.start_response(reply_id, outcome.session.transactionId, p.connectorId))
            return
        await self.sender.send(self._failure(reply_id, outcome.status, outcome.reason, command.correlationId,
                                             "Charging could not be started"))

    async def stop(self, reply_id: Any, data: dict[str, Any], caller: Caller) -> None:
        p = parse(models.StopChargingRequestData, data, ("transactionId",))
        self._own(p.userId, caller)
        tid, cp = p.transactionId, p.chargePointId
        session = await self.core.active_session(caller, tid)
        if session is None or session.status != "active" or (cp is not None and session.chargePointId != cp):
            raise Refusal(models.TRANSACTION_NOT_FOUND, f"No active transaction {tid}" + (f" on {cp}" if cp else ""),
                          {"transactionId": tid, "chargePointId": cp})
        command = await self.core.stop_charging(caller, transaction_id=tid)
        outcome = await command.outcome(self.settings.charging_start_wait_s)
        if outcome.status == "stopped":
            await self.sender.send(codec.stop_response(reply_id, tid))
            return
        await self.sender.send(self._failure(reply_id, outcome.status, outcome.reason, command.correlationId,
                                             "Charging could not be stopped"))

    @staticmethod
    def _failure(reply_id: Any, status: str, reason: str | None, correlation_id: str, what: str) -> dict[str, Any]:
        """The error for a command outcome other than started/stopped: offline →
        CHARGE_POINT_OFFLINE; rejected (the charge point said Rejected), timeout, failed →
        GATEWAY_ERROR with ``details.status``."""
        code = models.CHARGE_POINT_OFFLINE if status == "offline" else models.GATEWAY_ERROR
        text = {"offline": f"{what}: charge point not connected",
                "rejected": f"{what}: the charge point rejected the request",
                "timeout": f"{what}: no answer from the charge point in time"}.get(status, f"{what}: {reason or status}")
        details = {"status": "Rejected" if status == "rejected" else status, "reason": reason,
                   "correlationId": correlation_id}
        return codec.error_message(code, text, id_=reply_id, details=details)

    # -- pushes ---------------------------------------------------------------------------

    async def _start_pushes(self, caller: Caller) -> None:
        self.unsubscribe("pushes")
        self.interest.clear()
        self.transactions.clear()
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
