"""Helpers for the client API tests (no tests here): the whole stack in-process on loopback
(OCPP gateway, projection worker, the Starlette app under uvicorn on port 0), a Mobile API
client over ``websockets``, and an ``ocpp.v16`` station that really starts and stops
transactions when told to remotely."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
import websockets
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from chargelog.adapters.api.apikeys import ApiKeyStore
from chargelog.adapters.api.app import UVICORN_WS_OPTIONS, create_app
from chargelog.adapters.config import Settings
from chargelog.adapters.ocpp.gateway import OcppGateway
from chargelog.domain.log import EventLog, Position
from chargelog.projections.runner import ProjectionWorker

TIMEOUT_S = 60.0


@dataclass
class Stack:
    """A running stack: ``api_url`` (ws://…/ws), ``http_url``, the gateway, the worker, the key
    store, the app."""

    log: EventLog
    settings: Settings
    gateway: OcppGateway | None
    worker: ProjectionWorker
    apikeys: ApiKeyStore
    app: Any
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def key(self, user: str, scopes: str = "read:stations,write:charging") -> str:
        """A fresh API key for ``user``."""
        return self.apikeys.create(user, scopes.split(","))[1]

    def ocpp_url(self, charge_point_id: str) -> str:
        assert self.gateway is not None
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp/{charge_point_id}"


@contextlib.asynccontextmanager
async def serve_app(app: Any, **options: Any) -> AsyncIterator[int]:
    """Run ``app`` under uvicorn on a free loopback port (bound before start-up, so no
    waiting), with ``chargelog serve``'s WebSocket options unless ``options`` (uvicorn
    Config arguments) say otherwise; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, **{"lifespan": "on", **UVICORN_WS_OPTIONS, "log_level": "warning",
                                    "ws_max_size": 16 * 1024 * 1024, "ws_ping_interval": None, **options})
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    task = asyncio.create_task(server.main_loop())
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        await server.shutdown(sockets=[sock])
        sock.close()


@contextlib.asynccontextmanager
async def api_stack(log: EventLog, settings: Settings, *, gateway: bool = True,
                    **overrides: Any) -> AsyncIterator[Stack]:
    """Projection worker + (optionally) OCPP gateway + the client API app on loopback."""
    settings = settings.model_copy(update={"ocpp_port": 0, "ocpp_host": "127.0.0.1",
                                           "command_timeout_s": 5.0, "api_rate_per_s": 10_000.0,
                                           "api_rate_burst": 10_000, **overrides})
    worker = ProjectionWorker(log, settings)
    await worker.start()
    gw = OcppGateway(log, settings) if gateway else None
    if gw is not None:
        await gw.start()
    apikeys = ApiKeyStore(settings.data_dir)
    app = create_app(log, worker.read_models, settings, gateway=gw, apikeys=apikeys,
                     registry=worker.registry)
    try:
        async with serve_app(app) as port:
            yield Stack(log, settings, gw, worker, apikeys, app, port)
    finally:
        # the worker before the gateway: the other order can leave the embedded engine's
        # source subscription of the translator stuck on cancellation (Python 3.11)
        await asyncio.wait_for(worker.stop(), TIMEOUT_S)
        if gw is not None:
            await gw.stop()
        apikeys.close()


class MobileClient:
    """A Mobile WebSocket API client: ``request`` returns the response to one request;
    pushes (``{"event"}``) and unsolicited errors collect in ``pushes``; every push received
    is also kept, in order, in ``seen``."""

    _ids = itertools.count(1)

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pending: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.closed: asyncio.Future[tuple[int | None, str | None]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                future = self.pending.pop(message.get("id"), None) if "event" not in message else None
                if future is not None and not future.done():
                    future.set_result(message)
                else:
                    if "event" in message:
                        self.seen.append(message)
                    await self.pushes.put(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason))

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def request(self, action: str, params: dict[str, Any] | None = None, *,
                      request_id: Any = None) -> dict[str, Any]:
        request_id = request_id if request_id is not None else f"r{next(self._ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        message: dict[str, Any] = {"id": request_id, "action": action}
        if params is not None:
            message["params"] = params
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, TIMEOUT_S)

    async def result(self, action: str, params: dict[str, Any] | None = None) -> Any:
        """The ``result`` of a request that must succeed."""
        response = await self.request(action, params)
        assert "result" in response, response
        return response["result"]

    async def push(self, predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
                   timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The next push matching ``predicate`` (others are dropped)."""
        async def find() -> dict[str, Any]:
            while True:
                message = await self.pushes.get()
                if predicate(message):
                    return message

        return await asyncio.wait_for(find(), timeout_s)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


@contextlib.asynccontextmanager
async def mobile(stack: Stack, key: str | None = None, *, token: str | None = None) -> AsyncIterator[MobileClient]:
    """A connected client, authenticated with ``key`` (or ``token``) when given."""
    async with websockets.connect(stack.ws_url, max_size=None) as ws:
        client = MobileClient(ws)
        try:
            if key is not None or token is not None:
                params = {"apiKey": key} if key is not None else {"token": token}
                response = await client.request("auth", params)
                assert response.get("result", {}).get("status") == "ok", response
            yield client
        finally:
            await client.close()


class TestStation(ChargePoint):
    """A charge point that, on RemoteStartTransaction (answered ``answer``), starts a
    transaction with the given idTag, and on RemoteStopTransaction stops it (reason Remote)."""

    __test__ = False
    answer = "Accepted"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions: dict[int, int] = {}  # connectorId → transactionId
        self.started: asyncio.Queue[int] = asyncio.Queue()
        self.meter_wh = 1000

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any):
        return call_result.RemoteStartTransaction(status=self.answer)

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> None:
        if self.answer != "Accepted":
            return
        connector = connector_id or 1
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Preparing"))
        result = await self.call(call.StartTransaction(connector_id=connector, id_tag=id_tag,
                                                       meter_start=self.meter_wh, timestamp=now_iso()))
        self.transactions[connector] = result.transaction_id
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Charging"))
        await self.started.put(result.transaction_id)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int):
        return call_result.RemoteStopTransaction(status=self.answer)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id: int) -> None:
        if self.answer != "Accepted":
            return
        connector = next((c for c, t in self.transactions.items() if t == transaction_id), 1)
        self.meter_wh += 1500
        await self.call(call.StopTransaction(meter_stop=self.meter_wh, timestamp=now_iso(),
                                             transaction_id=transaction_id, reason="Remote"))
        self.transactions.pop(connector, None)
        await self.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Available"))

    async def boot(self, connectors: int = 2) -> None:
        await self.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="V1"))
        for connector in range(1, connectors + 1):
            await self.call(call.StatusNotification(connector_id=connector, error_code="NoError", status="Available"))


def now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def test_station(stack: Stack, charge_point_id: str, connectors: int = 2, *,
                       station_class: type[TestStation] = TestStation) -> AsyncIterator[TestStation]:
    """A booted :class:`TestStation` (or ``station_class``) connected to the stack's gateway."""
    async with websockets.connect(stack.ocpp_url(charge_point_id), subprotocols=["ocpp1.6"]) as ws:
        cp = station_class(charge_point_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            await cp.boot(connectors)
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


test_station.__test__ = False  # type: ignore[attr-defined]


async def synced(stack: Stack, push: dict[str, Any]) -> None:
    """Wait until the read models have folded the domain stream up to a push's position."""
    position = Position.parse(push["position"])
    await asyncio.wait_for(stack.worker.read_models.wait_for(position), TIMEOUT_S)
