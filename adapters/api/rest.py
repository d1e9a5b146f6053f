"""HTTP routes of the Charging/Communication/test-guide dialects.

* ``POST /api/charging/start`` and ``POST /api/charging/stop``
  (specs/websocket-communication-protocol.md section 1): ``Authorization: Bearer <JWT>``
  (an API key is accepted too), JSON body ``{"charger_id", "connector_id"?}`` /
  ``{"charger_id"?}``; ``200 {"success": true, "data": {…}}`` once the charge point has
  started / stopped the transaction (``Settings.charging_start_wait_s``), else
  ``{"success": false, "error", "message"}`` with 401 (no or bad token), 403, 404 (unknown
  charger, no active session), 409 (charger not available: offline or refused), 422
  (invalid body), 429 (rate limit), 502, 504 (the charger did not answer in time).
* ``GET /api/status`` and ``GET /api/stats`` (specs/charging-websocket-api.md "HTTP
  Endpoints"); ``gatewayConnections`` = charge points connected now.
* :func:`health_fields`: the same document's ``/health`` fields (status "healthy",
  timestamp, version, uptime s, websocket counts), merged into the app's ``/health``.

Every ``/api/…`` response carries ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset``
(``Settings.charging_messages_per_min`` requests per minute per user — per client IP before
authentication or on the unauthenticated routes); over the limit → 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chargelog import __version__
from chargelog.adapters.config import Settings

from .caller import Caller, CoreError
from .core import ClientCore
from .dialects.comms_actions import ActionFailed, command_data, start_session, stop_session
from .ws.state import DialectState, state_for
from .ws.timefmt import iso_ms
from .openapi import Endpoint
from .ratelimit import Decision
from .throttle import Throttled, client_address

#: The version /health and /api/status report: chargelog's one version.
API_VERSION = __version__
API_NAME = "Charging WebSocket API"


# -- OpenAPI models ---------------------------------------------------------------------------

class StartRequest(BaseModel):
    """``POST /api/charging/start`` body."""

    charger_id: str = Field(examples=["CP001"])
    connector_id: int = Field(1, ge=1)


class StopRequest(BaseModel):
    """``POST /api/charging/stop`` body; without ``charger_id`` the user's active session."""

    charger_id: str | None = None


class StartData(BaseModel):
    session_id: int = Field(description="= transaction_id (one session per OCPP transaction)")
    transaction_id: int
    charger_id: str
    connector_id: int
    status: str = Field(examples=["initiated"])
    message_id: str = Field(description="The command's correlationId.")
    message: str


class StopData(BaseModel):
    session_id: int
    transaction_id: int
    charger_id: str
    connector_id: int
    status: str = Field(examples=["stopped"])
    energy_delivered: float = Field(description="kWh")
    duration: int | None = Field(description="s")
    message_id: str
    message: str


class StartResponse(BaseModel):
    success: bool = True
    data: StartData


class StopResponse(BaseModel):
    success: bool = True
    data: StopData


class Failure(BaseModel):
    """``{"success": false, "error": "Charger not available", "message": "…"}``."""

    success: bool = False
    error: str
    message: str
    message_id: str | None = None


class StatusConfig(BaseModel):
    heartbeatInterval: int = Field(description="ms")
    sessionTimeout: int = Field(description="ms")
    gatewayUrl: str


class StatusData(BaseModel):
    api: str
    version: str
    websocketUrl: str
    config: StatusConfig


class ApiStatus(BaseModel):
    success: bool = True
    data: StatusData


class WebsocketStats(BaseModel):
    totalConnections: int
    authenticatedConnections: int
    totalUsers: int
    gatewayConnections: int = Field(description="Charge points connected now.")


class ApiStats(BaseModel):
    success: bool = True
    data: WebsocketStats
    timestamp: str


_BEARER = [{"bearerJwt": []}]
OPENAPI_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("post", "/api/charging/start", "Start charging (Communication Protocol §1); answers once started.",
             {200: StartResponse, 401: Failure, 403: Failure, 404: Failure, 409: Failure, 422: Failure,
              429: Failure, 502: Failure, 504: Failure}, StartRequest, _BEARER, ("communication-protocol",)),
    Endpoint("post", "/api/charging/stop", "Stop the user's charging session (Communication Protocol §1).",
             {200: StopResponse, 401: Failure, 403: Failure, 404: Failure, 409: Failure, 422: Failure,
              429: Failure, 502: Failure, 504: Failure}, StopRequest, _BEARER, ("communication-protocol",)),
    Endpoint("get", "/api/status", "Charging WebSocket API status and configuration.", {200: ApiStatus, 429: Failure},
             tags=("charging-websocket-api",)),
    Endpoint("get", "/api/stats", "Connection statistics.", {200: ApiStats, 429: Failure},
             tags=("charging-websocket-api",)),
)


# -- helpers ----------------------------------------------------------------------------------

def _json(body: dict[str, Any], status: int, decision: Decision | None, **headers: str) -> JSONResponse:
    all_headers = {**(decision.headers() if decision else {}), **headers}
    return JSONResponse(body, status_code=status, headers=all_headers)


def _limited(decision: Decision) -> JSONResponse:
    return _json({"success": False, "error": "Too Many Requests",
                  "message": f"Rate limit of {decision.limit} requests per minute exceeded"}, 429, decision)


async def bearer_caller(core: ClientCore, request: Request) -> Caller:
    """The caller of ``Authorization: Bearer <JWT or API key>``; raises
    :class:`ActionFailed` ``unauthorized``, or :class:`.throttle.Throttled`."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise ActionFailed("unauthorized", "Authorization: Bearer <token> required")
    credential = header[7:].strip()
    address = client_address(request)
    try:
        if credential.count(".") == 2:
            return await core.authenticate_jwt(credential, address)
        return await core.authenticate_api_key(credential, address)
    except Throttled:
        raise
    except CoreError as exc:
        raise ActionFailed("unauthorized", exc.message) from None


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body counts as ``{}``); raises
    :class:`ActionFailed` ``malformed`` (HTTP 400: not JSON, not UTF-8, nested too deeply,
    not an object)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deeply
        raise ActionFailed("malformed", "body must be a JSON object (UTF-8, nested at most a few hundred deep)") from None
    if not isinstance(body, dict):
        raise ActionFailed("malformed", "body must be a JSON object")
    return body


def ws_url(request: Request, path: str = "/ws") -> str:
    scheme = "wss" if request.url.scheme in ("https", "wss") else "ws"
    return f"{scheme}://{request.url.netloc}{path}"


def gateway_url(settings: Settings, request: Request) -> str:
    """``Settings.gateway_public_url``, else ``ws://<this host>:<ocpp_port><ocpp_path_prefix>``."""
    if settings.gateway_public_url:
        return settings.gateway_public_url
    host = settings.ocpp_host if settings.ocpp_host not in ("0.0.0.0", "::", "") else request.url.hostname
    scheme = "wss" if settings.tls_cert else "ws"
    return f"{scheme}://{host}:{settings.ocpp_port}{settings.ocpp_path_prefix}"


async def websocket_stats(core: ClientCore, state: DialectState) -> dict[str, int]:
    """totalConnections, authenticatedConnections, totalUsers, gatewayConnections."""
    return {**state.stats(), "gatewayConnections": await core.connected_charge_points()}


async def health_fields(core: ClientCore, settings: Settings, core_status: str) -> dict[str, Any]:
    """The Charging WebSocket API's ``/health`` fields: ``status`` ("healthy" when the app's
    own status is "ok", else that status), ``timestamp``, ``version``, ``uptime`` (s),
    ``websocket`` counts."""
    state = state_for(core, settings)
    try:
        stats = await websocket_stats(core, state)
    except Exception:  # noqa: BLE001 - health reports, never fails
        stats = {**state.stats(), "gatewayConnections": 0}
    return {"status": "healthy" if core_status == "ok" else core_status, "timestamp": iso_ms(datetime.now(UTC)),
            "version": API_VERSION, "uptime": round(state.uptime_s, 3), "websocket": stats}


# -- routes -----------------------------------------------------------------------------------

def rest_routes(core: ClientCore, settings: Settings) -> list[Route]:
    """``/api/charging/start``, ``/api/charging/stop``, ``/api/status``, ``/api/stats``."""
    state = state_for(core, settings)
    limiter = state.limits.messages
    wait_s = settings.charging_start_wait_s

    async def charging(request: Request, starting: bool) -> JSONResponse:
        try:
            caller = await bearer_caller(core, request)
        except Throttled as exc:
            return _json({"success": False, "error": "Too Many Requests", "message": exc.message}, 429, None,
                         **{"Retry-After": str(exc.retry_after_s)})
        except ActionFailed as exc:
            decision = limiter.hit(f"ip:{client_address(request)}")
            if not decision.allowed:
                return _limited(decision)
            return _json(exc.body(), exc.status, decision, **{"WWW-Authenticate": "Bearer"})
        decision = limiter.hit(f"user:{caller.userId}")
        if not decision.allowed:
            return _limited(decision)
        try:
            body = await json_body(request)
            params = command_data(body, charger_required=starting)
            if starting:
                data = await start_session(core, caller, params.charger_id or "", params.connector_id, wait_s)
            else:
                data = await stop_session(core, caller, params.charger_id, wait_s)
        except ActionFailed as exc:
            return _json(exc.body(), exc.status, decision)
        except CoreError as exc:
            failed = ActionFailed(exc.kind, exc.message, exc.correlationId)
            return _json(failed.body(), failed.status, decision)
        data.pop("success", None)
        return _json({"success": True, "data": data}, 200, decision)

    async def start(request: Request) -> JSONResponse:
        return await charging(request, True)

    async def stop(request: Request) -> JSONResponse:
        return await charging(request, False)

    async def status(request: Request) -> JSONResponse:
        decision = limiter.hit(f"ip:{client_address(request)}")
        if not decision.allowed:
            return _limited(decision)
        return _json({"success": True, "data": {
            "api": API_NAME, "version": API_VERSION, "websocketUrl": ws_url(request),
            "config": {"heartbeatInterval": int(settings.charging_heartbeat_interval_s * 1000),
                       "sessionTimeout": int(settings.charging_session_timeout_s * 1000),
                       "gatewayUrl": gateway_url(settings, request)}}}, 200, decision)

    async def stats(request: Request) -> JSONResponse:
        decision = limiter.hit(f"ip:{client_address(request)}")
        if not decision.allowed:
            return _limited(decision)
        return _json({"success": True, "data": await websocket_stats(core, state),
                      "timestamp": iso_ms(datetime.now(UTC))}, 200, decision)

    return [Route("/api/charging/start", start, methods=["POST"]),
            Route("/api/charging/stop", stop, methods=["POST"]),
            Route("/api/status", status, methods=["GET"]),
            Route("/api/stats", stats, methods=["GET"])]
