"""Starlette routes of the web console (see the package docstring for shapes and errors)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.adapters import logs
from chargelog.adapters.audit.timeline import entry_json, transaction_timeline
from chargelog.adapters.config import Settings
from chargelog.domain.log import DOMAIN, InvalidPosition, Position, PositionNotAvailable

from ..caller import ADMIN, AUDIT, Caller, CoreError
from ..openapi import Endpoint
from ..core import ClientCore
from ..hub import HubStopped, follow
from .history import charge_point_history, item

logger = logging.getLogger(__name__)

_CONSOLE_AUTH = [{"bearerJwt": []}, {"apiKey": []}]
#: The console's HTTP routes for docs/openapi.json (shapes: the package docstring).
OPENAPI_ENDPOINTS = (
    Endpoint("get", "/", "Redirects to the web console (307 → /console).", {307: None}, tags=("console",)),
    Endpoint("get", "/console", "The web console's HTML shell (public: it holds no data).", {200: None},
             tags=("console",)),
    Endpoint("get", "/console/", "Redirects to /console.", {307: None}, tags=("console",)),
    Endpoint("get", "/console/api/me", "The signed-in operator or auditor: userId, scopes, role, tile URL.",
             {200: None, 401: None, 403: None}, security=_CONSOLE_AUTH, tags=("console",)),
    Endpoint("get", "/console/api/stations", "The station map and the resume position it is complete up to.",
             {200: None, 401: None, 403: None}, security=_CONSOLE_AUTH, tags=("console",)),
    Endpoint("get", "/console/api/sessions", "Active sessions (energy Wh, power W).",
             {200: None, 401: None, 403: None}, security=_CONSOLE_AUTH, tags=("console",)),
    Endpoint("get", "/console/api/chargepoints/{charge_point_id}",
             "A charge point's recent frames in and out, connection history and anomalies.",
             {200: None, 401: None, 403: None, 404: None}, security=_CONSOLE_AUTH, tags=("console",)),
    Endpoint("get", "/console/api/transactions/{transaction_id}", "A transaction's audit timeline.",
             {200: None, 401: None, 403: None, 404: None}, security=_CONSOLE_AUTH, tags=("console",)),
)
STATIC = Path(__file__).parent / "static"
#: Seconds a console socket may take to send its first message.
AUTH_TIMEOUT_S = 10.0


def role_of(caller: Caller) -> str | None:
    """``operator`` (admin scope), ``auditor`` (audit scope) or None (no console access)."""
    if caller.is_admin:
        return "operator"
    return "auditor" if AUDIT in caller.scopes else None


async def credential_caller(core: ClientCore, credential: str) -> Caller:
    """The caller of a JWT (three dot-separated parts) or an API key; CoreError(unauthorized)."""
    if credential.count(".") == 2:
        return await core.authenticate_jwt(credential)
    return await core.authenticate_api_key(credential)


def console_routes(core: ClientCore, settings: Settings) -> list[BaseRoute]:
    """The console's routes, for the client API's app (a ``ROUTE_PROVIDERS`` entry)."""
    from ..app import authenticate_http

    async def caller_of(request: Request) -> Caller:
        caller = await authenticate_http(core, request)
        if role_of(caller) is None:
            raise HTTPException(403, f"scope {ADMIN} or {AUDIT} required")
        return caller

    async def shell(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def me(request: Request) -> JSONResponse:
        caller = await caller_of(request)
        return JSONResponse({"userId": caller.userId, "scopes": sorted(caller.scopes), "role": role_of(caller),
                             "tileUrl": settings.console_tile_url,
                             "tileAttribution": settings.console_tile_attribution})

    async def stations(request: Request) -> JSONResponse:
        await caller_of(request)
        position = await core.snapshot_position()  # before the snapshot: no gap to the pushes
        sites = await core.read_models.sites()
        charge_points = await core.read_models.stations()
        return JSONResponse({"sites": [s.model_dump(mode="json", exclude={"chargePoints"}) for s in sites],
                             "stations": [c.model_dump(mode="json") for c in charge_points],
                             "position": str(position)})

    async def sessions(request: Request) -> JSONResponse:
        await caller_of(request)
        active = await core.read_models.active_sessions()
        return JSONResponse({"sessions": [s.model_dump(mode="json") for s in active]})

    async def charge_point(request: Request) -> JSONResponse:
        await caller_of(request)
        charge_point_id = request.path_params["charge_point_id"]
        view = await core.read_models.station(charge_point_id)
        if view is None:
            raise HTTPException(404, f"charge point {charge_point_id!r} not found")
        active = [s for s in await core.read_models.active_sessions() if s.chargePointId == charge_point_id]
        return JSONResponse({"station": view.model_dump(mode="json"),
                             "sessions": [s.model_dump(mode="json") for s in active],
                             **await charge_point_history(core.log, charge_point_id)})

    async def transaction(request: Request) -> JSONResponse:
        await caller_of(request)
        try:
            transaction_id = int(request.path_params["transaction_id"])
        except ValueError:
            raise HTTPException(400, "transactionId must be an integer") from None
        session = await core.read_models.session(transaction_id)
        if session is None:
            raise HTTPException(404, f"transaction {transaction_id} not found")
        timeline = await transaction_timeline(core.log, transaction_id)
        return JSONResponse({"session": session.model_dump(mode="json"),
                             "timeline": [entry_json(e) for e in timeline.entries] if timeline else []})

    async def stream(websocket: WebSocket) -> None:
        logs.bind(connectionId=f"ws-{uuid.uuid4().hex[:12]}")
        await websocket.accept()
        try:
            hello = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT_S))
            caller = await credential_caller(core, str(hello["credential"]))
            after_text = hello.get("after")
            after = Position.parse(after_text) if after_text else None
        except (TimeoutError, WebSocketDisconnect):
            return
        except CoreError:
            await websocket.close(4401, "invalid credentials")
            return
        except (ValueError, KeyError, TypeError, InvalidPosition):
            await websocket.close(4400, 'first message must be {"credential": str, "after": position|null}')
            return
        if role_of(caller) is None:
            await websocket.close(4403, f"scope {ADMIN} or {AUDIT} required")
            return
        logger.info("console connection of %s (%s)", caller.userId, role_of(caller))
        if after is not None:
            try:
                await core.log.read(DOMAIN, after, limit=1)
            except PositionNotAvailable:
                await websocket.close(4410, "position not available: reload the station map")
                return
        await websocket.send_text(json.dumps({"kind": "ready", "position": str(after or core.live_position)}))
        sender = asyncio.create_task(_push(websocket, core, after))
        receiver = asyncio.create_task(_drain(websocket))
        try:  # until the browser goes away or the stream ends
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    return [
        Route("/", lambda _: RedirectResponse("/console"), methods=["GET"]),
        Route("/console", shell, methods=["GET"]),
        Route("/console/", lambda _: RedirectResponse("/console"), methods=["GET"]),
        Route("/console/api/me", me, methods=["GET"]),
        Route("/console/api/stations", stations, methods=["GET"]),
        Route("/console/api/sessions", sessions, methods=["GET"]),
        Route("/console/api/chargepoints/{charge_point_id}", charge_point, methods=["GET"]),
        Route("/console/api/transactions/{transaction_id}", transaction, methods=["GET"]),
        WebSocketRoute("/console/ws", stream),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    ]


async def _push(websocket: WebSocket, core: ClientCore, after: Position | None) -> None:
    """Every domain event after ``after`` (catch-up, then live) as a console message."""
    try:
        async with contextlib.aclosing(follow(core.hub, after, lambda _: True)) as records:
            async for record in records:
                message: dict[str, Any] = {"kind": "event", "position": str(record.position),
                                           **item(DOMAIN, record.event)}
                await websocket.send_text(json.dumps(message))
    except PositionNotAvailable:
        await websocket.close(4410, "position not available: reload the station map")
    except HubStopped:
        await websocket.close(1011, "the API is stopping")
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the browser sends, so a close from its side is seen."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
