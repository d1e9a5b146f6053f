"""Operator REST endpoints for OCPP commands, as Starlette routes
that the client API mounts (admin scope is checked by the ``authorize`` it passes in).

* ``POST /api/operator/commands`` — body ``{"chargePointId", "action", "payload",
  "timeoutSeconds"?}`` → 202 ``{"correlationId"}`` once ``command.requested`` is durable;
  400 ``{"error", "errorCode"}`` for an action that is not a central-system 1.6 operation or
  a payload that breaks its schema.
* ``GET /api/operator/commands/{correlationId}[?wait=S]`` → 200 :class:`~.commands.CommandOutcome`
  JSON (``status`` pending / sent / answered / failed, ``response``, ``reason``…); 404 if
  no such command. ``wait`` (seconds, 0–60, default 0): a long poll — answer once the
  outcome is final (answered / failed) or ``S`` s have passed, whichever is first; 400 when
  it is not a number in that range.
* ``GET /api/operator/charge-points/{chargePointId}/profile-state`` → 200 the charge
  point's reservations, charging profiles, composite schedules, local list, firmware /
  diagnostics / log jobs and security events (:mod:`chargelog.projections.profile_state`:
  the stored read model, caught up with the log's end); ``?at=ISO-8601`` evaluates reservation expiry at that time
  instead of now (400 when it is not an aware date-time).

``authorize(request)`` (plain or async) returns the caller or raises (e.g. Starlette's
``HTTPException(401/403)``); the caller's ``userId`` (or ``id``) becomes the command's
principal ``{"kind": "operator", "id": …}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chargelog.adapters.api.openapi import Endpoint
from chargelog.domain.envelope import Principal
from chargelog.domain.log import SOURCE, EventLog, Position
from chargelog.projections.profile_state import profile_state
from chargelog.projections.store import ReadModelStore

from .commands import REQUESTED, CommandOutcome, InvalidCommand, find_outcome, request_command
from .ports import maybe_await
from .sealing import Sealer
from .tasks import cancel_and_wait

#: Outcomes kept in memory by one API process (older ones are found by a log scan).
KEEP = 10000
#: Longest long poll of ``GET /api/operator/commands/{id}?wait=`` (s).
MAX_WAIT_S = 60.0


class CommandTracker:
    """Follows ``source`` from where it was started and folds the outcome of every command
    requested since (bounded to :data:`KEEP`)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.outcomes: OrderedDict[str, CommandOutcome] = OrderedDict()
        self.position: Position | None = None
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def ensure_started(self) -> None:
        async with self._lock:
            if self._task is None or self._task.done():
                after = await self.log.latest(SOURCE)
                self.position = after
                self._task = asyncio.create_task(self._follow(after), name="operator-command-tracker")

    async def _follow(self, after: Any) -> None:
        async with contextlib.aclosing(self.log.subscribe(SOURCE, after)) as records:
            async for record in records:
                event = record.event
                if event.type == REQUESTED and event.correlationId:
                    self.outcomes[event.correlationId] = CommandOutcome(event.correlationId)
                    while len(self.outcomes) > KEEP:
                        self.outcomes.popitem(last=False)
                outcome = self.outcomes.get(event.correlationId or "")
                if outcome is not None:
                    outcome.apply(event)
                self.position = record.position
                async with self._advanced:
                    self._advanced.notify_all()

    async def caught_up(self, timeout_s: float = 5.0) -> None:
        """Wait (at most ``timeout_s`` s) until everything in the log now has been folded."""
        target = await self.log.latest(SOURCE)
        await self._until(lambda: self.position is not None and target <= self.position, timeout_s)

    async def finished(self, correlation_id: str, timeout_s: float) -> None:
        """Wait (at most ``timeout_s`` s) until the tracked outcome of ``correlation_id`` is
        final; returns at once for a command this tracker does not follow."""
        def done() -> bool:
            outcome = self.outcomes.get(correlation_id)
            return outcome is None or outcome.final
        await self._until(done, timeout_s)

    async def _until(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``predicate()`` holds after a record was folded, at most ``timeout_s`` s."""
        async with self._advanced:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait_for(predicate), timeout_s)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)


def _caller_id(caller: Any) -> str:
    for name in ("userId", "id", "keyId"):
        value = caller.get(name) if isinstance(caller, dict) else getattr(caller, name, None)
        if value:
            return str(value)
    return "operator"


@dataclass(frozen=True)
class OperatorRoutes:
    """The operator routes (``routes``, to mount) and ``stop()``, which the app awaits at
    shutdown: it stops the command tracker's subscription and closes the read-model store."""

    routes: list[Route]
    stop: Callable[[], Awaitable[None]]


def operator_routes(log: EventLog, authorize: Callable[[Request], Any], sealer: Sealer | None = None,
                    store: Callable[[], ReadModelStore] | None = None) -> OperatorRoutes:
    """The routes above; mount them in the client API's Starlette app and await ``stop()``
    at its shutdown. ``sealer`` seals credentials in requests (ChangeConfiguration
    AuthorizationKey, :mod:`.sealing`); without it such a request is refused (400
    SecurityError). ``store`` opens the read-model store holding the profile state (on the
    first request; None: folded from the log alone)."""
    tracker = CommandTracker(log)
    opened: list[ReadModelStore] = []
    opening = asyncio.Lock()

    async def read_models() -> ReadModelStore | None:
        async with opening:
            if store is not None and not opened:
                opened.append(await asyncio.to_thread(store))
        return opened[0] if opened else None

    async def post_command(request: Request) -> JSONResponse:
        caller = await maybe_await(authorize(request))
        await tracker.ensure_started()
        try:
            body = await request.json()
            cp, action, payload = body["chargePointId"], body["action"], body.get("payload", {})
            timeout = body.get("timeoutSeconds")
            if not isinstance(cp, str) or not isinstance(action, str) or not isinstance(payload, dict):
                raise TypeError
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError):  # not JSON / UTF-8 / too deep
            return JSONResponse({"error": "body must be {chargePointId: str, action: str, payload: object}",
                                 "errorCode": "bad_request"}, 400)
        try:
            cid = await request_command(log, cp, action, payload, timeout_s=timeout, sealer=sealer,
                                        principal=Principal(kind="operator", id=_caller_id(caller)))
        except InvalidCommand as exc:
            return JSONResponse({"error": str(exc), "errorCode": exc.error_code}, 400)
        return JSONResponse({"correlationId": cid}, 202,
                            headers={"Location": f"/api/operator/commands/{cid}"})

    async def get_command(request: Request) -> JSONResponse:
        await maybe_await(authorize(request))
        await tracker.ensure_started()
        cid = request.path_params["correlation_id"]
        try:
            wait = float(request.query_params.get("wait", 0))
            if not 0 <= wait <= MAX_WAIT_S:
                raise ValueError
        except ValueError:
            return JSONResponse({"error": f"wait must be a number of seconds from 0 to {MAX_WAIT_S:g}",
                                 "errorCode": "bad_request"}, 400)
        await tracker.caught_up()
        if wait:
            await tracker.finished(cid, wait)
        outcome = tracker.outcomes.get(cid) or await find_outcome(log, cid)
        if outcome is None:
            return JSONResponse({"error": f"no command {cid}", "errorCode": "not_found"}, 404)
        return JSONResponse(outcome.to_json())

    async def get_profile_state(request: Request) -> JSONResponse:
        await maybe_await(authorize(request))
        at = request.query_params.get("at")
        try:
            now = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
            if now is not None and now.tzinfo is None:
                raise ValueError
        except ValueError:
            return JSONResponse({"error": "at must be an ISO 8601 date-time with offset", "errorCode": "bad_request"},
                                400)
        return JSONResponse(await profile_state(log, await read_models(), request.path_params["charge_point_id"],
                                                now))

    async def stop() -> None:
        await tracker.stop()
        async with opening:
            while opened:
                await asyncio.to_thread(opened.pop().close)

    routes = [Route("/api/operator/commands", post_command, methods=["POST"]),
              Route("/api/operator/commands/{correlation_id}", get_command, methods=["GET"]),
              Route("/api/operator/charge-points/{charge_point_id}/profile-state", get_profile_state,
                    methods=["GET"])]
    return OperatorRoutes(routes, stop)


# -- OpenAPI (docs/openapi.json) --------------------------------------------------------------

class OperatorCommand(BaseModel):
    """``POST /api/operator/commands`` body: a central-system OCPP 1.6 operation (e.g.
    ``Reset``) and its payload; ``timeoutSeconds`` (s) overrides the command timeout."""

    chargePointId: str
    action: str
    payload: dict[str, Any] = {}
    timeoutSeconds: float | None = None


class OperatorCommandAccepted(BaseModel):
    """202: ``command.requested`` is durable; follow it at ``Location``."""

    correlationId: str


class OperatorCommandOutcome(BaseModel):
    """200: :class:`~.commands.CommandOutcome` as JSON."""

    correlationId: str
    chargePointId: str | None = None
    action: str | None = None
    request: dict[str, Any] | None = None
    status: str
    response: dict[str, Any] | None = None
    reason: str | None = None
    errorCode: str | None = None
    detail: str | None = None
    outcome: str | None = None


class ProfileStateView(BaseModel):
    """200: the charge point's profile state (docs/ocpp.md "Profile state")."""

    chargePointId: str
    reservations: list[dict[str, Any]]
    chargingProfiles: dict[str, Any]
    localList: dict[str, Any]
    jobs: dict[str, Any]
    security: dict[str, Any]


class OperatorError(BaseModel):
    """400 / 404 body."""

    error: str
    errorCode: str


_SECURITY = [{"bearerJwt": []}, {"apiKey": []}]
OPENAPI_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("post", "/api/operator/commands", "Send an OCPP 1.6 command to a charge point (admin scope).",
             {202: OperatorCommandAccepted, 400: OperatorError, 401: None, 403: None}, OperatorCommand,
             _SECURITY, ("operator",)),
    Endpoint("get", "/api/operator/commands/{correlation_id}", "What became of a command; ?wait=S (0-60 s) "
             "answers once it is final or S s have passed (admin scope).",
             {200: OperatorCommandOutcome, 400: OperatorError, 401: None, 403: None, 404: OperatorError},
             security=_SECURITY,
             tags=("operator",)),
    Endpoint("get", "/api/operator/charge-points/{charge_point_id}/profile-state",
             "Reservations, charging profiles, local list, jobs and security state of a charge point: the "
             "stored read model, caught up with the log; ?at=ISO-8601 evaluates reservation expiry then "
             "(admin scope).",
             {200: ProfileStateView, 400: OperatorError, 401: None, 403: None}, security=_SECURITY,
             tags=("operator",)),
)
