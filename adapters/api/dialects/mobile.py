"""The Mobile WebSocket API dialect at ``/ws`` (mobile-websocket-api.md, message for message):
a connection whose first message is ``{"action": …}`` (normally ``auth``). Requests
``{"id", "action", "params"}`` are answered ``{"id", "result"}`` or ``{"id", "error": {"code",
"message", "correlationId"}}`` (section 3) in the order received; pushes (section 7) come
from subscriptions and from the caller's own commands. Error codes (section 5, :data:`CODES`):
400 bad request (also rate limit, oversized message, unknown action), 401 (not signed in, bad
credentials, a JWT past its ``exp``), 403 (missing scope,
another user's resource), 404, 429 (authentication throttled), 500. A command that fails after
``pending`` is pushed as an error with its request ``id``, ``correlationId`` and ``reason``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.domain.log import PositionNotAvailable, Record

from ..caller import CoreError
from ..commands import Command
from ..ws.base import ApiContext, Dialect
from ..ws.frames import Parts
from ..ws.router import Handler, Refusal, Request, RoutedSession, route
from . import mobile_codec as codec
from . import mobile_models as m

#: Refusal reason (dispatcher, CoreError kind, command outcome) → section 5 code; any other 400.
CODES: dict[str, int] = {"unauthenticated": 401, "expired": 401, "unauthorized": 401, "forbidden": 403,
                         "not_found": 404, "rate_limited": 429, "internal": 500, "rejected": 403, "offline": 404,
                         "timeout": 500, "failed": 500}
#: Section 5 wording per dispatcher reason ({text}: the refusal's own, {name}: the action).
TEXTS: dict[str, str] = {"malformed": "not a request {{id, action, params}}: {text}", "unknown": "unknown action {name!r}",
                         "unauthenticated": "not authenticated: send auth first",
                         "expired": "token expired: send auth again", "invalid": "params.{text}",
                         "internal": "internal error"}

ENCODER = codec.PushEncoder()
STATIONS = codec.StationListEncoder()


def action(name: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    """:func:`~..ws.router.route` with the params model of :data:`.mobile_models.ACTIONS`."""
    return route(name, m.ACTIONS[name][0], auth=auth)


class MobileConnection(RoutedSession):
    """One client connection on the session engine: authentication, subscriptions, commands
    in flight; the routing table is the ``@action`` handlers below (section 2–9)."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext) -> None:
        super().__init__(websocket, ctx, "mobile")
        self._sub_counter = 0

    def envelope(self, message: Any) -> tuple[str, Any]:
        try:
            request = m.Request.model_validate(message)
        except ValidationError:
            raise Refusal("bad_request", "not a request {id, action, params}") from None
        return request.action, request.params

    def reply(self, request: Request, result: Any) -> Any:
        if isinstance(result, Parts):  # pre-encoded pieces (a shared snapshot): only the id is added here
            return Parts((f'{{"id":{json.dumps(request.id)},"result":', *result, "}"))
        return {"id": request.id, "result": result.model_dump() if isinstance(result, BaseModel) else result}

    def error(self, request: Request, refusal: Refusal) -> dict[str, Any]:
        """``{"id", "error": {"code", "message"}}`` + ``correlationId``, ``reason``,
        ``subscriptionId`` when the refusal has them (3.3, 5)."""
        text = TEXTS.get(refusal.reason, "{text}").format(text=refusal.text, name=request.name)
        body = {"code": CODES.get(refusal.reason, 400), "message": text}
        body.update({k: refusal.details[k] for k in ("correlationId", "reason", "subscriptionId")
                     if refusal.details.get(k) is not None})
        return {"id": request.id, "error": body}

    def throttle(self) -> Refusal | None:
        """Section 10: ``api_rate_per_s`` messages per connection."""
        return None if self.receiver.allow() else Refusal(
            "throttled", f"rate limit exceeded: {self.ctx.limits.rate_per_s:g} messages/s")

    async def push(self, record: Record, with_position: bool = True) -> None:
        """Send a section 7 push once per eventId per connection."""
        frame = ENCODER.encode(record, with_position)
        if frame is not None and self.first_delivery(record.event.eventId):
            await self.sender.send(frame)

    async def run(self, first: str | None) -> None:
        await self.serve(self.dispatch, first=first)

    # -- actions (sections 2–9) -----------------------------------------------------------

    @action("auth", auth=False)
    async def auth(self, request: Request, p: m.AuthParams) -> m.AuthResult:
        """2.1/2.2: ``apiKey`` (or ``token``, a JWT) → sessionId and scopes."""
        if not (p.apiKey or p.token):
            raise CoreError("unauthorized", "Invalid apiKey")
        caller = await self.verify(api_key=p.apiKey, token=p.token)
        session_id = f"sess-{int(time.time() * 1000)}-{id(self) % 100000:05d}"
        return m.AuthResult(sessionId=session_id, scopes=sorted(caller.scopes))

    @action("ping")
    async def ping(self, request: Request, _params: Any) -> m.PongResult:
        return m.PongResult(ts=int(time.time() * 1000))

    @action("getStations")
    async def get_stations(self, request: Request, _params: Any) -> Parts:
        return Parts((STATIONS.encode(await self.core.stations(request.user)),))

    @action("getConnectorStatus")
    async def get_connector_status(self, request: Request, p: m.StationConnectorParams) -> dict[str, Any]:
        return codec.connector_status_out(await self.core.connector_status(request.user, p.stationId, p.connectorId))

    @action("startCharging")
    async def start_charging(self, request: Request, p: m.StartChargingParams) -> m.PendingResult:
        return self._follow(request.id, await self.core.start_charging(request.user, p.stationId, p.connectorId, p.idTag))

    @action("stopCharging")
    async def stop_charging(self, request: Request, p: m.StopChargingParams) -> m.PendingResult:
        return self._follow(request.id, await self.core.stop_charging(request.user, p.transactionId, p.stationId,
                                                                      p.connectorId))

    def _follow(self, request_id: Any, command: Command) -> m.PendingResult:
        """Answer pending now; push the outcome when it comes (6.3/6.4)."""
        self.spawn(self._deliver_outcome(request_id, command))
        return m.PendingResult(correlationId=command.correlationId)

    async def _deliver_outcome(self, request_id: Any, command: Command) -> None:
        try:
            outcome = await command.outcome()
            if outcome.status in ("started", "stopped") and outcome.record is not None:
                record = outcome.record
                if any(s.accept(record.event) for s in self.subscriptions.values()):
                    return  # a subscription delivers it, with its own resume position
                await self.push(record, with_position=not self.subscriptions)
            elif outcome.status != "accepted":
                await self.send_refusal(Request(request_id), Refusal(
                    outcome.status, f"{command.kind} {outcome.status}: {outcome.reason or outcome.status}",
                    {"correlationId": command.correlationId, "reason": outcome.status}))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            command.close()

    @action("getMySessions")
    async def get_my_sessions(self, request: Request, p: m.MySessionsParams) -> list[dict[str, Any]]:
        return [codec.session_out(s) for s in await self.core.my_sessions(request.user, p.limit, p.offset)]

    @staticmethod
    def _types(events: list[str] | None) -> tuple[str, ...]:
        if not events or "all" in events:
            return m.PUSH_TYPES
        known = (*m.PUSH_TYPES, *m.OPT_IN_PUSH_TYPES)
        unknown = set(events) - set(known)
        if unknown:
            raise CoreError("bad_request", f"unknown events {sorted(unknown)}; known: all, {', '.join(known)}")
        return tuple(events)

    @action("subscribe")
    async def subscribe_events(self, request: Request, p: m.SubscribeParams) -> Parts:
        """8.1–8.3: snapshot now, then pushes; ``since`` replays from a position/timestamp.
        The snapshot's text is shared by every client asking for the same map version."""
        types = self._types(p.events)
        caller = request.user
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
            await self.send_refusal(Request(), Refusal("not_found", str(exc), {"subscriptionId": sub_id}))

        self.subscribe(sub_id, self.core.subscribe(caller, station_id=p.stationId, types=types, after=start),
                       self.push, on_gone=gone,
                       accept=lambda e: e.type in type_set and (p.stationId is None or e.chargePointId == p.stationId))
        return Parts((f'{{"subscriptionId":{json.dumps(sub_id)},"snapshot":{{"stations":', STATIONS.encode(stations),
                      f'}},"position":{json.dumps(str(start))}}}'))

    @action("unsubscribe")
    async def unsubscribe_events(self, request: Request, p: m.UnsubscribeParams) -> m.UnsubscribeResult:
        if not self.unsubscribe(p.subscriptionId):
            raise CoreError("not_found", f"subscription {p.subscriptionId!r} not found")
        return m.UnsubscribeResult(subscriptionId=p.subscriptionId)

    @action("getEventsSince")
    async def get_events_since(self, request: Request, p: m.EventsSinceParams) -> Parts:
        """9: events after ``since`` (timestamp or position), read from the log."""
        since = p.position or p.since
        if not since:
            raise CoreError("bad_request", "since (a timestamp or a position) is required")
        records, has_more, position = await self.core.events_since(
            request.user, since, p.limit, station_id=p.stationId, types=self._types(p.events))
        return Parts(('{"events":', codec.events_out(records),
                      f',"hasMore":{json.dumps(has_more)},"position":{json.dumps(str(position))}}}'))


def _claims(message: Any) -> bool:
    return isinstance(message, dict) and isinstance(message.get("action"), str) and "type" not in message


DIALECT = Dialect("mobile", MobileConnection, claims=_claims, contract=dict(
    channel="mobileWs", address="/ws", title="Mobile WebSocket API (mobile-websocket-api.md)",
    description='First message {"action": "auth", …}. Limits: 10 messages/s, 1 MB per message, closed after 60 s '
                "without a message.", prefix="Mobile", send=m.SEND, receive=m.RECEIVE))

__all__ = ["DIALECT", "MobileConnection"]
