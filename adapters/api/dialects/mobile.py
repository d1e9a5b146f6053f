"""The Mobile WebSocket API dialect at ``/ws`` (mobile-websocket-api.md, message for message):
a connection whose first message is ``{"action": …}`` (normally ``auth``). Requests
``{"id", "action", "params"}`` are answered ``{"id", "result"}`` or ``{"id", "error": {"code",
"message", "correlationId"}}`` (section 3) in the order received; pushes (section 7) come
from subscriptions and from the caller's own commands. Error codes (section 5, :data:`CODES`):
400 bad request (also rate limit, oversized message, unknown action), 401, 403 (missing scope,
another user's resource), 404, 429 (authentication throttled), 500. A command that fails after
``pending`` is pushed as an error with its request ``id``, ``correlationId`` and ``reason``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.domain.log import PositionNotAvailable, Record

from ..caller import Caller, CoreError
from ..commands import Command
from ..ws.base import ApiContext, Dialect
from ..ws.frames import Parts
from ..ws.session import Session
from ..ws.wire import BadMessage, loads, peek_id, reply_id
from . import mobile_codec as codec
from . import mobile_models as m

logger = logging.getLogger(__name__)

#: CoreError kind / command outcome → section 5 code.
CODES: dict[str, int] = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "rate_limited": 429,
                         "internal": 500, "rejected": 403, "offline": 404, "timeout": 500, "failed": 500}

ENCODER = codec.PushEncoder()
STATIONS = codec.StationListEncoder()


class MobileConnection(Session):
    """One client connection on the session engine: authentication, subscriptions, commands
    in flight; :attr:`handlers` is the routing table (action → handler of its params model
    from :data:`.mobile_models.ACTIONS`)."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext) -> None:
        super().__init__(websocket, ctx, "mobile")
        self._sub_counter = 0
        self.handlers: dict[str, Callable[[Any, Any], Awaitable[Any]]] = {
            "auth": self.auth, "ping": self.ping, "getStations": self.get_stations,
            "getConnectorStatus": self.get_connector_status, "startCharging": self.start_charging,
            "stopCharging": self.stop_charging, "getMySessions": self.get_my_sessions,
            "subscribe": self.subscribe_events, "unsubscribe": self.unsubscribe_events,
            "getEventsSince": self.get_events_since}

    async def send_error(self, request_id: Any, kind: str, message: str, **extra: Any) -> None:
        error = {"code": CODES.get(kind, 500), "message": message}
        error.update({k: v for k, v in extra.items() if v is not None})
        await self.sender.send({"id": request_id, "error": error})

    async def push(self, record: Record, with_position: bool = True) -> None:
        """Send a section 7 push once per eventId per connection."""
        frame = ENCODER.encode(record, with_position)
        if frame is not None and self.first_delivery(record.event.eventId):
            await self.sender.send(frame)

    async def refuse(self, request_id: Any, text: str) -> None:
        await self.send_error(request_id, "bad_request", text)

    async def run(self, first: str | None) -> None:
        await self.serve(self.handle_text, first=first)

    async def handle_text(self, text: str) -> None:
        if not self.receiver.allow():
            await self.refuse(peek_id(text), f"rate limit exceeded: {self.ctx.limits.rate_per_s:g} messages/s")
            return
        try:
            raw = loads(text)
            request = m.Request.model_validate(raw)
        except (BadMessage, ValidationError) as exc:
            rid = exc.request_id if isinstance(exc, BadMessage) else reply_id(raw)
            await self.refuse(rid, "not a request {id, action, params}" + (f": {exc}" if isinstance(exc, BadMessage) else ""))
            return
        request.id = reply_id(raw)
        try:
            handler = self.handlers.get(request.action)
            if handler is None:
                raise CoreError("bad_request", f"unknown action {request.action!r}")
            if self.caller is None and request.action != "auth":
                raise CoreError("unauthorized", "not authenticated: send auth first")
            model = m.ACTIONS[request.action][0]
            result = await handler(request.id, model.model_validate(request.params) if model else request.params)
        except CoreError as exc:
            await self.send_error(request.id, exc.kind, exc.message, correlationId=exc.correlationId)
        except ValidationError as exc:
            first = exc.errors()[0]
            await self.refuse(request.id, f"params.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception:
            logger.exception("mobile action %s failed", request.action)
            await self.send_error(request.id, "internal", "internal error")
        else:
            if isinstance(result, Parts):  # pre-encoded pieces (a shared snapshot): only the id is added here
                await self.sender.send(Parts((f'{{"id":{json.dumps(request.id)},"result":', *result, "}")))
            else:
                await self.sender.send({"id": request.id, "result": result})

    # -- actions (sections 2–9) -----------------------------------------------------------

    async def auth(self, _id: Any, p: m.AuthParams) -> dict[str, Any]:
        """2.1/2.2: ``apiKey`` (or ``token``, a JWT) → sessionId and scopes."""
        if not (p.apiKey or p.token):
            raise CoreError("unauthorized", "Invalid apiKey")
        caller = await self.verify(api_key=p.apiKey, token=p.token)
        session_id = f"sess-{int(time.time() * 1000)}-{id(self) % 100000:05d}"
        return {"status": "ok", "sessionId": session_id, "scopes": sorted(caller.scopes)}

    async def ping(self, _id: Any, _params: Any) -> dict[str, Any]:
        return {"pong": True, "ts": int(time.time() * 1000)}

    async def get_stations(self, _id: Any, _params: Any) -> Parts:
        return Parts((STATIONS.encode(await self.core.stations(self._caller)),))

    async def get_connector_status(self, _id: Any, p: m.StationConnectorParams) -> dict[str, Any]:
        return codec.connector_status_out(await self.core.connector_status(self._caller, p.stationId, p.connectorId))

    async def start_charging(self, request_id: Any, p: m.StartChargingParams) -> dict[str, Any]:
        return self._follow(request_id, await self.core.start_charging(self._caller, p.stationId, p.connectorId, p.idTag))

    async def stop_charging(self, request_id: Any, p: m.StopChargingParams) -> dict[str, Any]:
        return self._follow(request_id, await self.core.stop_charging(self._caller, p.transactionId, p.stationId,
                                                                      p.connectorId))

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

    async def get_my_sessions(self, _id: Any, p: m.MySessionsParams) -> list[dict[str, Any]]:
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

    async def subscribe_events(self, _id: Any, p: m.SubscribeParams) -> Parts:
        """8.1–8.3: snapshot now, then pushes; ``since`` replays from a position/timestamp.
        The snapshot's text is shared by every client asking for the same map version."""
        types = self._types(p.events)
        caller = self._caller
        since = p.position or p.since
        after = await self.core.resolve_position(since) if since else None
        start = after if after is not None else await self.core.snapshot_position()  # before the snapshot
        if p.stationId is not None:
            stations = [await self.core.station(caller, p.stationId)]
        else:
            stations = await self.core.stations(caller)
        self._sub_counter += 1
        sub_id = f"sub-{int(time.time() * 1000)}-{self._sub_counter:03d}"
        type_set = frozenset(types)

        async def gone(exc: PositionNotAvailable) -> None:
            await self.send_error(None, "not_found", str(exc), subscriptionId=sub_id)

        self.subscribe(sub_id, self.core.subscribe(caller, station_id=p.stationId, types=types, after=start),
                       self.push, on_gone=gone,
                       accept=lambda e: e.type in type_set and (p.stationId is None or e.chargePointId == p.stationId))
        return Parts((f'{{"subscriptionId":{json.dumps(sub_id)},"snapshot":{{"stations":', STATIONS.encode(stations),
                      f'}},"position":{json.dumps(str(start))}}}'))

    async def unsubscribe_events(self, _id: Any, p: m.UnsubscribeParams) -> dict[str, Any]:
        if not self.unsubscribe(p.subscriptionId):
            raise CoreError("not_found", f"subscription {p.subscriptionId!r} not found")
        return {"subscriptionId": p.subscriptionId, "status": "ok"}

    async def get_events_since(self, _id: Any, p: m.EventsSinceParams) -> Parts:
        """9: events after ``since`` (timestamp or position), read from the log."""
        since = p.position or p.since
        if not since:
            raise CoreError("bad_request", "since (a timestamp or a position) is required")
        records, has_more, position = await self.core.events_since(
            self._caller, since, p.limit, station_id=p.stationId, types=self._types(p.events))
        return Parts(('{"events":', codec.events_out(records),
                      f',"hasMore":{json.dumps(has_more)},"position":{json.dumps(str(position))}}}'))

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
