"""One charge point's connection: every frame both ways becomes an event, a CALL is
answered only after its event and the answer's are durable, and commands are sent as CALLs.

Built on ``ocpp.v16.ChargePoint``: its ``@on(Action…)`` route map, its call/result
dataclasses and its ``camelCase``↔``snake_case`` conversion; parsing, validation error codes
and the durable acknowledgement are ours (OCPP-J 1.6 §4, docs/contracts.md):

* incoming CALL → ``[ocpp.frame in CALL, ocpp.frame out CALLRESULT|CALLERROR, extra…]`` in
  ONE ``log.append`` batch (extra: e.g. ``ocpp.anomaly``), then the answer is sent;
* incoming CALLRESULT/CALLERROR → its frame event (with the command's ``correlationId``),
  plus ``command.failed`` for a CALLERROR or a schema-breaking result;
* unparsable frame → ``ocpp.frame.invalid`` (+ the CALLERROR frame we answer with, when a
  UniqueId is recoverable); the connection stays up.

Frames of one connection are handled in arrival order (OCPP-J 1.6 §4.1.1: one CALL at a
time); connections run concurrently and their appends are group-committed by the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import Call, CallError, CallResult
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from chargelog.adapters import logs
from chargelog.domain.envelope import Event, Source
from chargelog.domain.registry import Registry

from .commands import CS_ACTIONS, command_failed_event
from .effects import accepted_answer_effects
from .sealing import SealError, Sealer
from .frames import (InvalidFrame, RawText, charge_point_principal, frame_event,
                     invalid_frame_event, receive)
from .validation import error_code_16, validate

if TYPE_CHECKING:
    from .gateway import OcppGateway

logger = logging.getLogger("chargelog.ocpp")

#: How many answers to timed-out CALLs are still matched to their command.
_LATE_KEEP = 256


_SNAKE: dict[str, str] = {}


def _snake_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its top-level keys in snake_case (the ``ocpp`` package's conversion;
    nested values stay as sent: handlers read only top-level fields)."""
    out = {}
    for key, value in payload.items():
        snake = _SNAKE.get(key)
        if snake is None:
            snake = _SNAKE[key] = next(iter(camel_to_snake_case({key: None})))
        out[snake] = value
    return out


async def received_messages(websocket: Any) -> AsyncIterator[bytes]:
    """Each message of ``websocket`` as bytes, text frames NOT decoded: a text frame that is
    not UTF-8 is then a frame we record and answer (:func:`.frames.receive`) instead of one
    the WebSocket library fails the connection for (1007). Ends on a normal close; raises
    ``ConnectionClosedError`` on an abnormal one (as iterating the connection does)."""
    while True:
        try:
            yield await websocket.recv(decode=False)
        except ConnectionClosedOK:
            return


@dataclass
class _Awaiting:
    action: str
    correlation_id: str | None
    future: asyncio.Future[CallResult | CallError]
    request: dict[str, Any] | None = None


class OcppConnection(ChargePoint):
    """A connected charge point. ``id``: chargePointId; ``connection_id``: unique per
    connection; ``last_frame_at``: monotonic time (s) of the last frame received."""

    def __init__(self, charge_point_id: str, websocket: Any, gateway: OcppGateway, *,
                 remote_address: str, auth: str) -> None:
        super().__init__(charge_point_id, websocket, response_timeout=gateway.settings.command_timeout_s)
        self.gateway = gateway
        self.connection_id = str(uuid.uuid4())
        self.remote_address = remote_address
        self.auth = auth
        self.last_frame_at = time.monotonic()
        self.opened_seen = False  # our ocpp.connection.opened came back on the follower
        self.ended_by: str | None = None  # "replaced" | "offline" once another event ends it
        self.opened_recorded = False  # ocpp.connection.opened is (or may become) durable
        self.finished = False  # the gateway's handler for this connection has returned
        self._awaiting: dict[str, _Awaiting] = {}
        self._late: dict[str, _Awaiting] = {}
        self._extra: list[Event] = []
        self._decision: dict[str, Any] = {}

    # -- helpers for handlers -----------------------------------------------------------

    def add_event(self, event: Event) -> None:
        """Append ``event`` in the same batch as the CALL being answered (after it)."""
        self._extra.append(event)

    def decide(self, **decision: Any) -> None:
        """Record on the CALLRESULT's event what was decided beyond the OCPP payload."""
        self._decision.update(decision)

    def anomaly(self, kind: str, action: str, message_id: str, detail: str) -> None:
        """An ``ocpp.anomaly`` event in the current batch (e.g. kind "unknown-transaction")."""
        self.add_event(Event(type="ocpp.anomaly", chargePointId=self.id, source=Source.OCPP,
                             principal=charge_point_principal(self.id),
                             payload={"kind": kind, "action": action, "messageId": message_id,
                                      "detail": detail}))

    async def _send(self, message: str) -> None:
        await self._connection.send(message)

    # -- incoming -----------------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Record and handle one frame from the charge point (see module docstring);
        ``raw_msg``: the message as received (bytes: undecoded, see :func:`.frames.receive`)."""
        self.last_frame_at = received = time.monotonic()
        frame, raw = receive(raw_msg, self.gateway.settings.max_frame_bytes)
        if isinstance(frame, InvalidFrame):
            await self._answer_invalid(raw, frame)
        elif isinstance(frame, Call):
            await self._handle_call(frame, raw.text)  # type: ignore[call-arg]
            self.gateway.metrics.ack_seconds.observe(time.monotonic() - received)
        else:
            await self._handle_response(frame, raw.text)  # type: ignore[arg-type]

    async def _answer_invalid(self, raw: RawText, invalid: InvalidFrame) -> None:
        events = [invalid_frame_event(self.id, "in", raw, invalid)]
        reply = None
        if invalid.answerable and invalid.message_id is not None:
            error = CallError(invalid.message_id, invalid.error_code, invalid.reason, {})
            reply = error.to_json()
            events.append(frame_event(self.id, "out", error, reply))
        await self.gateway.append(events)
        self.gateway.metrics.frame("in", None)
        if reply is not None:
            self.gateway.metrics.frame("out", 4)
            await self._send(reply)

    def _route(self, action: str) -> Any:
        """The ``@on`` handler for ``action``; raises the 1.6 error for an action without one:
        NotImplemented when the action is not an OCPP 1.6 action ("not known by receiver"),
        NotSupported when it is one but not a central system's to answer ("recognized but
        not supported"), OCPP-J 1.6 §4.2.3."""
        handlers = self.route_map.get(action)
        if handlers is not None and "_on_action" in handlers:
            return handlers["_on_action"]
        try:
            Action(action)
        except ValueError:
            raise OcppNotImplemented(description=f"Action {action!r} is not known by the central system",
                                     details={"cause": f"{action} is not an OCPP 1.6 action"}) from None
        detail = ("it is initiated by the central system" if action in CS_ACTIONS
                  else "this central system does not support it")
        raise NotSupportedError(description=f"Action {action} is recognized but not supported",
                                details={"cause": detail})

    async def _handle_call(self, msg: Call, raw: str) -> None:  # type: ignore[override]
        self._extra, self._decision = [], {}
        try:
            handler = self._route(msg.action)
            validate(2, msg.action, msg.payload)
            result = await handler(**_snake_keys(msg.payload), call_unique_id=msg.unique_id)
            payload = snake_to_camel_case(remove_nones(serialize_as_dict(result)))
            validate(3, msg.action, payload)
            answer: CallResult | CallError = msg.create_call_result(payload)
        except OCPPError as exc:
            answer = CallError(msg.unique_id, error_code_16(exc), exc.description, exc.details)
            self._extra, self._decision = [], {}
        except Exception as exc:  # noqa: BLE001 - the charge point gets InternalError, the log the frame
            logger.exception("%s: handling %s failed", self.id, msg.action)
            answer = CallError(msg.unique_id, "InternalError", f"{type(exc).__name__}", {})
            self._extra, self._decision = [], {}
        text = answer.to_json()
        events = [frame_event(self.id, "in", msg, raw),
                  frame_event(self.id, "out", answer, text, action=msg.action, decision=self._decision),
                  *self._extra]
        await self.gateway.append(events)  # acknowledge after durable
        self.gateway.metrics.frame("in", 2)
        self.gateway.metrics.frame("out", answer.message_type_id)
        await self._send(text)

    async def _handle_response(self, msg: CallResult | CallError, text: str) -> None:
        waiting = self._awaiting.pop(msg.unique_id, None) or self._late.pop(msg.unique_id, None)
        action = waiting.action if waiting else None
        correlation = waiting.correlation_id if waiting else None
        extra: list[Event] = []
        schema_error = None
        if isinstance(msg, CallError):
            extra.append(command_failed_event(self.id, correlation, action, "callerror",
                                              error_code=msg.error_code, detail=msg.error_description))
        elif action is not None:
            try:
                validate(3, action, msg.payload)
            except OCPPError as exc:
                schema_error = {"errorCode": error_code_16(exc), "cause": exc.details.get("cause", ""),
                                "path": exc.details.get("path", "")}
                extra.append(command_failed_event(
                    self.id, correlation, action, "invalid", error_code=schema_error["errorCode"],
                    detail=f"CALLRESULT breaks the 1.6 schema: {schema_error['cause']}"))
        else:
            extra.append(self._unexpected_answer(msg))
        if waiting is not None and schema_error is None and isinstance(msg, CallResult):
            current = getattr(self.gateway.registry, "current", None)
            extra.extend(await accepted_answer_effects(self.id, waiting.action, waiting.request or {}, msg.payload,
                                                       current if isinstance(current, Registry) else None))
        events = [frame_event(self.id, "in", msg, text, action=action, correlation_id=correlation,
                              schema_error=schema_error), *extra]
        await self.gateway.append(events)
        self.gateway.metrics.frame("in", msg.message_type_id)
        if waiting is not None:
            outcome = "callerror" if isinstance(msg, CallError) else "invalid" if schema_error else "answered"
            self.gateway.metrics.commands.labels(outcome).inc()
        if waiting is not None and not waiting.future.done():
            waiting.future.set_result(msg)

    def _unexpected_answer(self, msg: CallResult | CallError) -> Event:
        return Event(type="ocpp.anomaly", chargePointId=self.id, source=Source.OCPP,
                     principal=charge_point_principal(self.id),
                     payload={"kind": "unexpected-answer", "action": None, "messageId": msg.unique_id,
                              "detail": "answer to a CALL this gateway did not send or no longer waits for"})

    # -- outgoing: commands --------------------------------------------------------------

    async def execute(self, command: Event) -> None:
        """Send the CALL a ``command.requested`` event asks for and record its outcome
        (module docstring of :mod:`chargelog.adapters.ocpp.commands`). One CALL at a time
        per connection (OCPP-J 1.6 §4.1.1); never raises."""
        action = command.payload.get("action", "")
        logged = request = command.payload.get("request", {})
        cid = command.correlationId
        logs.bind(chargePointId=command.chargePointId, correlationId=cid)  # this command's own task
        timeout = command.payload.get("timeoutSeconds") or self.gateway.settings.command_timeout_s
        fail = self._failer(cid, action, command.eventId)
        try:
            if action not in CS_ACTIONS:
                raise NotSupportedError(details={"cause": f"{action!r} is not a central-system operation"})
            if isinstance(command.payload.get("sealed"), dict):
                request = Sealer.of(self.gateway.settings).open_request(request, command.payload["sealed"])
            validate(2, action, request)
        except SealError as exc:
            await self.gateway.append([fail("invalid", error_code="SecurityError", detail=str(exc))])
            self.gateway.metrics.commands.labels("invalid").inc()
            return
        except OCPPError as exc:
            await self.gateway.append([fail("invalid", error_code=error_code_16(exc),
                                            detail=str(exc.details.get("cause", exc.description)))])
            self.gateway.metrics.commands.labels("invalid").inc()
            return
        async with self._call_lock:
            message_id = str(uuid.uuid4())
            call = Call(message_id, action, request)
            text = call.to_json()
            waiting = _Awaiting(action, cid, asyncio.get_running_loop().create_future(), request)
            self._awaiting[message_id] = waiting
            await self.gateway.append([self._call_event(call, text, logged, cid, command.eventId)])
            self.gateway.metrics.frame("out", 2)
            try:
                await self._send(text)
                await asyncio.wait_for(asyncio.shield(waiting.future), timeout)
            except ConnectionClosed:
                self._awaiting.pop(message_id, None)
                await self.gateway.append([fail("offline", detail="connection closed before the answer")])
                self.gateway.metrics.commands.labels("offline").inc()
            except TimeoutError:
                self._awaiting.pop(message_id, None)
                self._late[message_id] = waiting
                while len(self._late) > _LATE_KEEP:
                    self._late.pop(next(iter(self._late)))
                await self.gateway.append([fail("timeout", detail=f"no answer within {timeout} s")])
                self.gateway.metrics.commands.labels("timeout").inc()

    def _call_event(self, call: Call, text: str, logged: dict[str, Any], cid: str | None, causation_id: str) -> Event:
        """The CALL's ``ocpp.frame``; a request with sealed credentials is recorded as
        ``logged`` (redacted, :mod:`.sealing`)."""
        if logged is call.payload:
            return frame_event(self.id, "out", call, text, correlation_id=cid, causation_id=causation_id)
        shown = Call(call.unique_id, call.action, logged)
        event = frame_event(self.id, "out", shown, shown.to_json(), correlation_id=cid, causation_id=causation_id)
        redacted = sorted(k for k in logged if logged[k] != call.payload.get(k))
        return event.model_copy(update={"payload": {**event.payload, "redacted": redacted}})

    def _failer(self, correlation_id: str | None, action: str, causation_id: str) -> Any:
        def fail(reason: str, **kw: Any) -> Event:
            return command_failed_event(self.id, correlation_id, action, reason,
                                        causation_id=causation_id, **kw)
        return fail

    def connection_lost(self) -> None:
        """Fail every CALL still waiting for an answer (the connection is gone)."""
        for waiting in self._awaiting.values():
            if not waiting.future.done():
                waiting.future.set_exception(ConnectionClosed(None, None))
        self._awaiting.clear()
