"""The client API's Starlette application: ``/ws`` (every WebSocket dialect,
chosen per connection — :mod:`.ws.base`), ``/health``, ``/openapi.json``,
``/asyncapi.json``, the routes of :data:`ROUTE_PROVIDERS` that are installed, the operator
routes (admin scope) when ``chargelog.adapters.ocpp.operator_api`` is installed, and
``extra_routes``.

Run it with uvicorn (``chargelog serve``; default port 8082). The lifespan starts the core's
tail of the domain stream before the first connection is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import importlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.adapters import logs, metrics
from chargelog.adapters.config import Settings
from chargelog.domain.envelope import Principal
from chargelog.domain.log import DOMAIN, SOURCE, EventLog
from chargelog.projections.views import ReadModels

from .apikeys import ApiKeyStore
from .asyncapi import asyncapi_document
from .caller import ADMIN, Caller, CoreError
from .core import ClientCore
from .dialects import ApiContext, Dialect, load_dialects
from .dialects import charging_codec
from .dialects.charging_models import INVALID_REQUEST
from .ws import wire
from .ws.base import IdleTimeout, LimitPolicy, MessageTooLarge
from .ws.frames import WebSocketFrames
from .openapi import Endpoint, openapi_document
from .throttle import Throttled, client_address

logger = logging.getLogger(__name__)

#: Optional modules that contribute OpenAPI endpoints as ``OPENAPI_ENDPOINTS``.
ENDPOINT_MODULES = ("chargelog.adapters.api.rest", "chargelog.adapters.api.stations_http",
                    "chargelog.adapters.api.audit_http", "chargelog.adapters.ocpp.operator_api",
                    "chargelog.adapters.api.console.routes")
#: Optional (module, function) pairs that contribute routes: ``function(core, settings) ->
#: list[BaseRoute]`` (the Communication Protocol's REST endpoints and the ``/?token=`` push socket).
ROUTE_PROVIDERS = (("chargelog.adapters.api.rest", "rest_routes"),
                   ("chargelog.adapters.api.stations_http", "station_routes"),
                   ("chargelog.adapters.api.audit_http", "audit_routes"),
                   ("chargelog.adapters.api.dialects.comms", "comms_routes"),
                   ("chargelog.adapters.api.console", "console_routes"))
#: uvicorn's WebSocket options for this app (``chargelog serve`` and the tests' servers):
#: the sans-I/O ``websockets`` protocol, whose connections take pre-built frames
#: (:mod:`.ws.frames`), without per-message deflate (a compressed frame is built per socket).
UVICORN_WS_OPTIONS: dict[str, Any] = {"ws": "websockets-sansio", "ws_per_message_deflate": False}
#: How long /health waits for the log (s).
HEALTH_TIMEOUT_S = 3.0


def _optional(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise


def _quarantined(read_models: Any) -> list[dict[str, Any]]:
    """Records the folds of this process quarantined (a defect: /health is then degraded)."""
    report = getattr(read_models, "quarantined", None)
    if report is None:
        return []
    try:
        return list(report())
    except Exception:  # noqa: BLE001 - health reports, never fails
        logger.exception("reading the quarantine failed")
        return []


def known_endpoints() -> list[Endpoint]:
    """The OpenAPI endpoints contributed by the optional modules that are installed."""
    endpoints: list[Endpoint] = []
    for name in ENDPOINT_MODULES:
        module = _optional(name)
        endpoints.extend(getattr(module, "OPENAPI_ENDPOINTS", ()) if module else ())
    return endpoints


def http_authorizer(core: ClientCore, scope: str = ADMIN) -> Callable[[Request], Awaitable[Principal]]:
    """An ``authorize(request) -> Principal`` for HTTP routes: ``Authorization: Bearer <JWT or
    API key>`` or ``X-API-Key``; raises ``HTTPException`` 401 (no/invalid credentials) or 403
    (without ``scope``). The principal is ``operator``/userId (never the secret)."""

    async def authorize(request: Request) -> Principal:
        caller = await authenticate_http(core, request)
        if not caller.has(scope):
            raise HTTPException(403, f"scope {scope} required")
        return Principal(kind="operator", id=caller.userId)

    return authorize


async def authenticate_http(core: ClientCore, request: Request) -> Caller:
    """The caller of an HTTP request (Bearer JWT, Bearer API key or X-API-Key); raises
    ``HTTPException`` 401, or 429 with ``Retry-After`` when the address or the claimed user
    has too many failed attempts (:mod:`.throttle`)."""
    header = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key")
    address = client_address(request)
    try:
        if header.lower().startswith("bearer "):
            credential = header[7:].strip()
            if credential.count(".") == 2:
                return await core.authenticate_jwt(credential, address)
            return await core.authenticate_api_key(credential, address)
        if key:
            return await core.authenticate_api_key(key, address)
    except Throttled as exc:
        raise HTTPException(429, exc.message, headers={"Retry-After": str(exc.retry_after_s)}) from None
    except CoreError as exc:
        raise HTTPException(401, exc.message, headers={"WWW-Authenticate": "Bearer"}) from None
    raise HTTPException(401, "credentials required", headers={"WWW-Authenticate": "Bearer"})


def error_body(status: int, message: str) -> dict[str, Any]:
    """The JSON error body of every HTTP route: ``{"success": false, "error": <HTTP reason
    phrase>, "message": <what went wrong / what to do>}`` (the Communication Protocol's
    failure shape, specs/websocket-communication-protocol.md section 1)."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"success": False, "error": phrase, "message": message}


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code, headers=exc.headers)


async def _bad_body(_: Request, exc: Exception) -> JSONResponse:
    """A body no parser can take (not UTF-8, nested too deep): 400, never 500."""
    reason = "body is not UTF-8" if isinstance(exc, UnicodeDecodeError) else "body is nested too deeply"
    return JSONResponse(error_body(400, reason), 400)


async def _internal(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error in an HTTP route: %s", type(exc).__name__, exc_info=exc)
    return JSONResponse(error_body(500, "internal error"), 500)


#: Exception handlers of the app: every HTTP error is JSON (:func:`error_body`).
EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
    HTTPException: _http_error, UnicodeDecodeError: _bad_body, RecursionError: _bad_body, Exception: _internal,
}


async def dispatch_websocket(websocket: WebSocket, ctx: ApiContext, dialects: Sequence[Dialect]) -> None:
    """Give the connection to the first dialect that claims its handshake, else its first
    message (:mod:`.ws.base`). A first message no dialect claims (not JSON, nested too
    deep, no ``action``/``type``) is answered in the error form of the dialect it looks
    like (:func:`first_message_error`) and the connection waits for the next one (until the
    idle timeout)."""
    logs.bind(connectionId=f"ws-{uuid.uuid4().hex[:12]}")  # every line of this connection's task
    async def serve(dialect: Dialect, first_text: str | None) -> None:
        logger.info("client connection: %s", dialect.name)
        with metrics.API_CONNECTIONS.labels(dialect.name).track_inprogress():
            await dialect.serve(websocket, ctx, first_text)

    for dialect in dialects:
        if dialect.claims_handshake(websocket):
            await serve(dialect, None)
            return
    await websocket.accept()
    limits = ctx.limits.connection()
    while True:
        try:
            text = await limits.receive_text(websocket)
        except WebSocketDisconnect:
            return
        except IdleTimeout as exc:
            await websocket.close(1000, str(exc))
            return
        except MessageTooLarge as exc:
            await websocket.send_text(json.dumps(first_message_error(exc.text, str(exc))))
            await websocket.close(1009, "message too large")
            return
        try:
            message = wire.loads(text)
        except wire.BadMessage as exc:
            message, problem = None, str(exc)
        else:
            problem = 'first message must be {"action": "auth", …} or {"type": "auth_request", …}'
        for dialect in dialects:
            if dialect.claims(message):
                await serve(dialect, text)
                return
        await websocket.send_text(json.dumps(first_message_error(text, problem)))


def first_message_error(text: str | bytes, problem: str) -> dict[str, Any]:
    """The error for an unclaimed first message, in the form of the dialect it resembles: the
    Charging WebSocket API's ``{"type": "error", "error": {"code": "INVALID_REQUEST"}}`` when
    the text mentions ``"type"`` (and not ``"action"``), else the Mobile API's ``{"id",
    "error": {"code": 400}}`` (charging-websocket-api.md "Error Handling";
    mobile-websocket-api.md section 3.3)."""
    raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
    request_id = wire.peek_id(raw)
    if '"type"' in raw and '"action"' not in raw:
        return charging_codec.error_message(INVALID_REQUEST, problem, id_=request_id)
    return {"id": request_id, "error": {"code": 400, "message": problem}}


def create_app(log: EventLog, read_models: ReadModels, settings: Settings, *, gateway: Any = None,
               extra_routes: Sequence[BaseRoute] = (), apikeys: ApiKeyStore | None = None,
               registry: Any = None, dialects: Sequence[Dialect] | None = None) -> Starlette:
    """The app. ``apikeys`` defaults to ``{data_dir}/apikeys.sqlite``; ``registry`` (a
    LiveRegistry; default: the gateway's) supplies users' id tags; ``dialects`` defaults to every installed one."""
    if registry is None:  # the gateway's LiveRegistry, when this process runs one
        registry = getattr(gateway, "registry", None)
    core = ClientCore(log, read_models, settings, apikeys=apikeys, registry=registry)
    ctx = ApiContext(core, settings, LimitPolicy(settings))
    served = list(dialects) if dialects is not None else load_dialects()
    # the Charging WebSocket API's /health fields, when installed
    rest = _optional("chargelog.adapters.api.rest")

    async def ws(websocket: WebSocket) -> None:
        await dispatch_websocket(websocket, ctx, served)

    async def health(_: Request) -> JSONResponse:
        engine = "kafka" if settings.is_kafka else "embedded"
        log_state: dict[str, Any] = {"engine": engine, "ok": True, "positions": {}}
        try:
            for stream in (SOURCE, DOMAIN):
                position = await asyncio.wait_for(log.latest(stream), HEALTH_TIMEOUT_S)
                log_state["positions"][stream] = str(position)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            log_state.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        unavailable = getattr(log, "unavailable", None)  # appends waiting for the broker
        if unavailable:
            log_state.update(ok=False, error=f"appends not acknowledged: {unavailable}")
        projections: dict[str, str] = {}
        with contextlib.suppress(Exception):
            projections = {k: str(v) for k, v in (await read_models.positions()).items()}
        api = {"hubRunning": core.hub.running, "hubPosition": str(core.hub.position),
               "dialects": [d.name for d in served]}
        quarantined = _quarantined(read_models)
        healthy = log_state["ok"] and core.hub.running and not quarantined
        body: dict[str, Any] = {"status": "ok" if healthy else "degraded",
                                "log": log_state, "projections": projections, "api": api}
        if quarantined:
            body["quarantined"] = quarantined
            body["degraded"] = [f"{q['consumer']} quarantined {q['type']} at {q['stream']} {q['position']}: "
                                f"{q['error']}" for q in quarantined]
        if gateway is not None:
            body["gateway"] = {"connected": len(getattr(gateway, "connected", ()))}
        if rest is not None:
            body.update(await rest.health_fields(core, settings, body["status"]))
        # liveness: the process answers (200) even when the log is away; /ready says 503 then
        return JSONResponse(body)

    async def openapi(_: Request) -> JSONResponse:
        return JSONResponse(openapi_document(known_endpoints()))

    async def asyncapi(_: Request) -> JSONResponse:
        return JSONResponse(asyncapi_document(served))

    routes: list[BaseRoute] = [
        Route("/health", health), Route("/openapi.json", openapi), Route("/asyncapi.json", asyncapi),
        WebSocketRoute("/ws", ws),
    ]
    for module_name, function in ROUTE_PROVIDERS:
        module = _optional(module_name)
        if module is not None and hasattr(module, function):
            routes.extend(getattr(module, function)(core, settings))
    stops: list[Callable[[], Awaitable[None]]] = []  # awaited at shutdown, before the core's
    operator_api = _optional("chargelog.adapters.ocpp.operator_api")
    if operator_api is not None:
        from chargelog.adapters.ocpp.sealing import Sealer

        from chargelog.adapters.store import open_store

        operator = operator_api.operator_routes(log, http_authorizer(core, ADMIN), Sealer.of(settings),
                                                lambda: open_store(settings))
        routes.extend(operator.routes)
        stops.append(operator.stop)
    routes.extend(extra_routes)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await core.start()
        try:
            yield
        finally:
            for stop in stops:
                await stop()
            await core.stop()

    # CORS for browser clients (charging-websocket-api.md, "Security": configurable origins)
    # first: the frame writer needs the server's own ``send`` (.ws.frames)
    middleware = [Middleware(WebSocketFrames)]
    middleware += [Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"],
                             allow_headers=["*"], expose_headers=["X-RateLimit-Limit", "X-RateLimit-Remaining",
                                                                  "X-RateLimit-Reset", "Retry-After"])
                  ] if settings.cors_origins else []
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
    app.state.core = core
    app.state.api = ctx
    return app
