"""The Mobile WebSocket API dialect at ``/ws`` (mobile-websocket-api.md, message for message).

A connection whose first message is ``{"action": …}`` (normally ``auth``). Requests
``{"id", "action", "params"}`` are answered ``{"id", "result"}`` or ``{"id", "error": {"code",
"message", "correlationId"}}`` (section 3) in the order received; pushes ``{"event", "data",
"eventId", "position"}`` (section 7) come from subscriptions and from the caller's own
commands. Error codes (section 5): 400 bad request (also: rate limit, oversized message,
unknown action), 401 not authenticated / invalid key or token, 403 missing scope or another
user's resource, 404 unknown station/connector/transaction/subscription or a position the
log no longer holds, 500 internal. A command that fails after ``pending`` is pushed as an
error with its request ``id`` and ``correlationId``, ``reason`` rejected (403), offline
(404), timeout or failed (500). Limits: section 10 (see :mod:`.base`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.domain.envelope import Event
from chargelog.domain.log import PositionNotAvailable, Record

from ..caller import Caller, CoreError
from ..commands import Command
from . import mobile_codec as codec
from . import mobile_models as m
from ..ws.base import ApiContext, Dialect
from ..ws.session import Session
from ..ws.wire import BadMessage, loads, peek_id, reply_id

logger = logging.getLogger(__name__)

#: CoreError kind / command outcome → section 5 code.
CODES: dict[str, int] = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "rate_limited": 429,
                         "internal": 500, "rejected": 403, "offline": 404, "timeout": 500, "failed": 500}
#: Event ids remembered per connection to drop duplicates (subscription + command outcome).
DEDUP_WINDOW = 4096

ENCODER = codec.PushEncoder()
STATIONS = codec.StationListEncoder()


class _Subscription:
    def __init__(self, sub_id: str, accept: Callable[[Event], bool], task: asyncio.Task[None] | None = None):
        self.id = sub_id
        self.accept = accept
        self.task = task


class MobileConnection(Session):
    """One client connection on the session engine: authentication, subscriptions, commands
    in flight; :attr:`handlers` is the routing table (action → handler)."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext) -> None:
        super().__init__(websocket, ctx, "mobile")
        self.caller: Caller | None = None
        self.session_id: str | None = None
        self.subscriptions: dict[str, _Subscription] = {}
        self._sent: set[str] = set()
        self._sent_order: deque[str] = deque()
        self._sub_counter = 0
        self.handlers: dict[str, Callable[[Any, dict[str, Any]], Awaitable[Any]]] = {
            "ping": self.ping, "getStations": self.get_stations,
            "getConnectorStatus": self.get_connector_status, "startCharging": self.start_charging,
            "stopCharging": self.stop_charging, "getMySessions": self.get_my_sessions,
            "subscribe": self.subscribe, "unsubscribe": self.unsubscribe,
            "getEventsSince": self.get_events_since,
        }

    async def send_error(self, request_id: Any, kind: str, message: str, **extra: Any) -> None:
        error = {"code": CODES.get(kind, 500), "message": message}
        error.update({k: v for k, v in extra.items() if v is not None})
        await self.sender.send({"id": request_id, "error": error})

    async def push(self, record: Record, with_position: bool = True) -> None:
        """Send a section 7 push once per eventId per connection."""
        event_id = record.event.eventId
        if event_id in self._sent:
            return
        text = ENCODER.encode(record, with_position)
        if text is None:
            return
        self._sent.add(event_id)
        self._sent_order.append(event_id)
        if len(self._sent_order) > DEDUP_WINDOW:
            self._sent.discard(self._sent_order.popleft())
        await self.sender.send(text)

    async def refuse(self, request_id: Any, text: str) -> None:
        await self.send_error(request_id, "bad_request", text)

    async def run(self, first: str | None) -> None:
        await self.serve(self.handle_text, first=first)

    async def handle_text(self, text: str) -> None:
        if not self.receiver.allow():
            await self.send_error(peek_id(text), "bad_request",
                                  f"rate limit exceeded: {self.ctx.limits.rate_per_s:g} messages/s")
            return
        try:
            raw = loads(text)
        except BadMessage as exc:
            await self.send_error(exc.request_id, "bad_request", f"not a request {{id, action, params}}: {exc}")
            return
        try:
            request = m.Request.model_validate(raw)
        except ValidationError:
            await self.send_error(reply_id(raw), "bad_request", "not a request {id, action, params}")
            return
        request.id = reply_id(raw)
        logger.debug("[WS-API:%s] id=%s", request.action, request.id)
        try:
            if request.action == "auth":
                result = await self.auth(request.params)
            else:
                handler = self.handlers.get(request.action)
                if handler is None:
                    raise CoreError("bad_request", f"unknown action {request.action!r}")
                if self.caller is None:
                    raise CoreError("unauthorized", "not authenticated: send auth first")
                result = await handler(request.id, request.params)
        except CoreError as exc:
            await self.send_error(request.id, exc.kind, exc.message, correlationId=exc.correlationId)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            await self.send_error(request.id, "bad_request", f"params.{where}: {first['msg']}")
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception:
            logger.exception("mobile action %s failed", request.action)
            await self.send_error(request.id, "internal", "internal error")
        else:
            if isinstance(result, codec.RawJson):
                await self.sender.send(f'{{"id":{json.dumps(request.id)},"result":{result}}}')
            else:
                await self.sender.send({"id": request.id, "result": result})

    # -- actions --------------------------------------------------------------------------

    async def auth(self, params: dict[str, Any]) -> dict[str, Any]:
        """2.1/2.2: ``apiKey`` (or ``token``, a JWT) → sessionId and scopes."""
        p = m.AuthParams.model_validate(params)
        if p.apiKey:
            caller = await self.verify(api_key=p.apiKey)
        elif p.token:
            caller = await self.verify(token=p.token)
        else:
            raise CoreError("unauthorized", "Invalid apiKey")
        self.caller = caller
        self.authenticated(caller.userId)
        self.session_id = f"sess-{int(time.time() * 1000)}-{id(self) % 100000:05d}"
        return {"status": "ok", "sessionId": self.session_id, "scopes": sorted(caller.scopes)}

    async def ping(self, _id: Any, _params: dict[str, Any]) -> dict[str, Any]:
        return {"pong": True, "ts": int(time.time() * 1000)}

    async def get_stations(self, _id: Any, _params: dict[str, Any]) -> codec.RawJson:
        return STATIONS.encode(await self.core.stations(self._caller))

    async def get_connector_status(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        p = m.StationConnectorParams.model_validate(params)
        return codec.connector_status_out(await self.core.connector_status(self._caller, p.stationId, p.connectorId))

    async def start_charging(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        p = m.StartChargingParams.model_validate(params)
        command = await self.core.start_charging(self._caller, p.stationId, p.connectorId, p.idTag)
        return self._follow(request_id, command)

    async def stop_charging(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        p = m.StopChargingParams.model_validate(params)
        command = await self.core.stop_charging(self._caller, p.transactionId, p.stationId, p.connectorId)
        return self._follow(request_id, command)

    def _follow(self, request_id: Any, command: Command) -> dict[str, Any]:
        """Answer pending now; push the outcome when it comes (6.3/6.4)."""
        self.spawn(self._deliver_outcome(request_id, command))
        return {"status": "pending", "correlationId": command.correlationId}

    async def _deliver_outcome(self, request_id: Any, command: Command) -> None:
        try:
            outcome = await command.outcome()
            if outcome.status in ("started", "stopped") and outcome.record is not None:
                record = outcome.record
                if any(s.accept(record.event) for s in self.subscriptions.values()):
                    return  # a subscription delivers it, with its own resume position
                await self.push(record, with_position=not self.subscriptions)
            elif outcome.status != "accepted":
                await self.send_error(request_id, outcome.status,
                                      f"{command.kind} {outcome.status}: {outcome.reason or outcome.status}",
                                      correlationId=command.correlationId, reason=outcome.status)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            command.close()

    async def get_my_sessions(self, _id: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
        p = m.MySessionsParams.model_validate(params)
        return [codec.session_out(s) for s in await self.core.my_sessions(self._caller, p.limit, p.offset)]

    @staticmethod
    def _types(events: list[str] | None) -> tuple[str, ...]:
        if not events or "all" in events:
            return m.PUSH_TYPES
        known = (*m.PUSH_TYPES, *m.OPT_IN_PUSH_TYPES)
        unknown = set(events) - set(known)
        if unknown:
            raise CoreError("bad_request", f"unknown events {sorted(unknown)}; known: all, {', '.join(known)}")
        return tuple(events)

    async def subscribe(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        """8.1–8.3: snapshot now, then pushes; ``since`` replays from a position/timestamp."""
        p = m.SubscribeParams.model_validate(params)
        types = self._types(p.events)
        caller = self._caller
        since = p.position or p.since
        after = await self.core.resolve_position(since) if since else None
        start = after if after is not None else await self.core.snapshot_position()  # before the snapshot
        if p.stationId is not None:
            stations = [await self.core.station(caller, p.stationId)]
        else:
            stations = await self.core.stations(caller)
        position = start
        iterator = self.core.subscribe(caller, station_id=p.stationId, types=types, after=position)
        self._sub_counter += 1
        sub_id = f"sub-{int(time.time() * 1000)}-{self._sub_counter:03d}"
        type_set = frozenset(types)
        subscription = _Subscription(sub_id, lambda e: e.type in type_set and (
            p.stationId is None or e.chargePointId == p.stationId))
        self.subscriptions[sub_id] = subscription
        result = {"subscriptionId": sub_id, "snapshot": {"stations": [codec.station_out(s) for s in stations]},
                  "position": str(position)}
        # the pump starts after the result is sent (handle_text sends it before the next await here)
        subscription.task = self.spawn(self._pump(sub_id, iterator))
        return result

    async def _pump(self, sub_id: str, iterator: AsyncIterator[Record]) -> None:
        await asyncio.sleep(0)  # let the subscribe result go out first

        async def gone(exc: PositionNotAvailable) -> None:
            await self.send_error(None, "not_found", str(exc), subscriptionId=sub_id)

        await self.follow(iterator, self.push, on_gone=gone)

    async def unsubscribe(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        p = m.UnsubscribeParams.model_validate(params)
        subscription = self.subscriptions.pop(p.subscriptionId, None)
        if subscription is None:
            raise CoreError("not_found", f"subscription {p.subscriptionId!r} not found")
        if subscription.task is not None:
            subscription.task.cancel()
        return {"subscriptionId": p.subscriptionId, "status": "ok"}

    async def get_events_since(self, _id: Any, params: dict[str, Any]) -> dict[str, Any]:
        """9: events after ``since`` (timestamp or position), read from the log."""
        p = m.EventsSinceParams.model_validate(params)
        since = p.position or p.since
        if not since:
            raise CoreError("bad_request", "since (a timestamp or a position) is required")
        records, has_more, position = await self.core.events_since(
            self._caller, since, p.limit, station_id=p.stationId, types=self._types(p.events))
        events = [e for e in (codec.event_out(r) for r in records) if e is not None]
        return {"events": events, "hasMore": has_more, "position": str(position)}

    @property
    def _caller(self) -> Caller:
        assert self.caller is not None
        return self.caller


def _claims(message: Any) -> bool:
    return isinstance(message, dict) and isinstance(message.get("action"), str) and "type" not in message


DIALECT = Dialect("mobile", MobileConnection, claims=_claims, contract=dict(
    channel="mobileWs", address="/ws", title="Mobile WebSocket API (mobile-websocket-api.md)",
    description='First message {"action": "auth", …}. Limits: 10 messages/s, 1 MB per message, closed after 60 s '
                "without a message.", prefix="Mobile", send=m.SEND, receive=m.RECEIVE))

__all__ = ["DIALECT", "MobileConnection"]
