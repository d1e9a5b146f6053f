"""Helpers for the Charging/Communication/test-guide dialect tests (no tests here). The stack, the ``ocpp.v16`` test
station and uvicorn-on-port-0 come from ``test_api_support`` (the client-core tests'
harness); this adds:

* :class:`ChargingClient` — the Charging WebSocket API document's own JavaScript client
  (``ChargingWebSocketClient``) transcribed to Python line by line: ids "1", "2", …; a reply is
  matched to its call by ``message.id``; a reply with ``error`` rejects the call with
  ``error.message``; everything else is a real-time update;
* :class:`PushClient` — a WebSocket to ``/?token=`` (or ``/ws?token=``) that collects every
  message, for the Communication Protocol and the test guide;
* :class:`MeterStation` — the test station that also sends MeterValues with energy, power,
  voltage, current and SoC, and status changes on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from chargelog.adapters.api.auth import issue_token
from chargelog.adapters.config import Settings
from chargelog.domain.log import DOMAIN
from test_api_support import TIMEOUT_S, Stack, TestStation, api_stack, test_station


#: Limits high enough for tests that are not about them (a test's many authentications from
#: 127.0.0.1 would otherwise hit the documented 5 per minute).
RELAXED = {"charging_connections_per_min": 10_000, "charging_messages_per_min": 10_000, "charging_auth_per_min": 10_000}


def dialect_stack(log: Any, settings: Settings, **overrides: Any) -> Any:
    """``api_stack`` with :data:`RELAXED` limits unless ``overrides`` set them."""
    return api_stack(log, settings, **{**RELAXED, **overrides})


def token(settings: Settings, user_id: str, ttl_s: float = 3600.0) -> str:
    return issue_token(settings, user_id, ttl_s)


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ClientError(Exception):
    """A call rejected because the reply carried ``error`` (``.reply`` is the message)."""

    def __init__(self, message: str, reply: dict[str, Any]) -> None:
        super().__init__(message)
        self.reply = reply

    @property
    def code(self) -> str:
        return self.reply["error"]["code"]


class AuthenticationFailed(Exception):
    """``authenticate()``'s ``throw new Error('Authentication failed')``."""


class ChargingClient:
    """``ChargingWebSocketClient`` of charging-websocket-api.md, "Examples"."""

    def __init__(self, url: str, token_: str) -> None:
        self.url = url
        self.token = token_
        self.ws: Any = None
        self.message_id = 1
        self.pending_calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.backlog: list[dict[str, Any]] = []
        self.closed: asyncio.Event = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """``new WebSocket(url)`` up to ``onopen`` (without authenticating)."""
        self.ws = await websockets.connect(self.url, max_size=None)
        self.reader = asyncio.create_task(self._read())

    async def connect(self) -> None:
        """``connect()``: open, then ``await this.authenticate()``."""
        await self.open()
        await self.authenticate()

    async def authenticate(self) -> None:
        response = await self.send_message("auth_request", {"token": self.token})
        if not response["data"]["success"]:
            raise AuthenticationFailed("Authentication failed")

    async def start_charging(self, charge_point_id: str, connector_id: int, id_tag: str) -> dict[str, Any]:
        return await self.send_message("start_charging_request", {"chargePointId": charge_point_id,
                                                                   "connectorId": connector_id, "idTag": id_tag})

    async def stop_charging(self, charge_point_id: str, transaction_id: int) -> dict[str, Any]:
        return await self.send_message("stop_charging_request", {"chargePointId": charge_point_id,
                                                                  "transactionId": transaction_id})

    def get_next_message_id(self) -> str:
        mid = str(self.message_id)
        self.message_id += 1
        return mid

    async def send_message(self, type_: str, data: Any = None, *, omit_data: bool = False,
                           message_id: str | None = None) -> dict[str, Any]:
        message_id = message_id or self.get_next_message_id()
        message: dict[str, Any] = {"id": message_id, "type": type_, "timestamp": iso_now()}
        if not omit_data:
            message["data"] = data
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending_calls[message_id] = future
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(future, TIMEOUT_S)

    def handle_message(self, data: str) -> None:
        message = json.loads(data)
        future = self.pending_calls.pop(message.get("id"), None) if isinstance(message.get("id"), str) else None
        if future is not None:
            if message.get("error"):
                future.set_exception(ClientError(message["error"]["message"], message))
            else:
                future.set_result(message)
            return
        self.updates.put_nowait(message)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self.handle_message(data)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send_raw(self, payload: Any) -> None:
        await self.ws.send(payload if isinstance(payload, str | bytes) else json.dumps(payload))

    async def update(self, predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
                     timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The oldest update matching ``predicate``; the others stay for later calls."""
        for i, message in enumerate(self.backlog):
            if predicate(message):
                return self.backlog.pop(i)

        async def find() -> dict[str, Any]:
            while True:
                message = await self.updates.get()
                if predicate(message):
                    return message
                self.backlog.append(message)
        return await asyncio.wait_for(find(), timeout_s)

    async def wait_closed(self) -> tuple[int | None, str | None]:
        await asyncio.wait_for(self.closed.wait(), TIMEOUT_S)
        return self.ws.close_code, self.ws.close_reason

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader


@contextlib.asynccontextmanager
async def charging_client(stack: Stack, token_: str, *, authenticate: bool = True) -> AsyncIterator[ChargingClient]:
    client = ChargingClient(stack.ws_url, token_)
    if authenticate:
        await client.connect()
    else:
        await client.open()
    try:
        yield client
    finally:
        await client.disconnect()


class PushClient:
    """A receive-mostly WebSocket: every message lands in ``messages`` (in order)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                message = json.loads(text)
                self.seen.append(message)
                self.messages.put_nowait(message)
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    async def send(self, payload: Any) -> None:
        await self.ws.send(payload if isinstance(payload, str | bytes) else json.dumps(payload))

    async def next(self, predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
                   timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The next message matching ``predicate`` (others are skipped)."""
        async def find() -> dict[str, Any]:
            while True:
                message = await self.messages.get()
                if predicate(message):
                    return message
        return await asyncio.wait_for(find(), timeout_s)

    async def seen_or_next(self, predicate: Callable[[dict[str, Any]], bool],
                           timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
        """The first message received so far matching ``predicate`` (also one an earlier
        ``next`` skipped: pushes of different domain events may interleave), else the next."""
        for message in self.seen:
            if predicate(message):
                return message
        return await self.next(predicate, timeout_s)

    async def of_type(self, type_: str, **fields: Any) -> dict[str, Any]:
        """The next message of ``type_`` whose top-level ``fields`` match."""
        return await self.next(lambda m: m.get("type") == type_ and all(m.get(k) == v for k, v in fields.items()))

    async def response(self, action: str) -> dict[str, Any]:
        return await self.of_type("response", action=action)

    async def wait_closed(self) -> tuple[int | None, str | None]:
        await asyncio.wait_for(self.closed.wait(), TIMEOUT_S)
        return self.ws.close_code, self.ws.close_reason

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


@contextlib.asynccontextmanager
async def push_client(stack: Stack, token_: str | None, path: str = "/") -> AsyncIterator[PushClient]:
    query = "" if token_ is None else f"?token={token_}"
    async with websockets.connect(f"ws://127.0.0.1:{stack.port}{path}{query}", max_size=None) as ws:
        client = PushClient(ws)
        try:
            yield client
        finally:
            await client.close()


class MeterStation(TestStation):
    """:class:`TestStation` plus MeterValues and StatusNotification on demand; like a real
    charge point it rejects RemoteStopTransaction for a transaction it is not running (or is
    already stopping)."""

    __test__ = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping: set[int] = set()

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> Any:
        if transaction_id not in self.transactions.values() or transaction_id in self.stopping:
            return call_result.RemoteStopTransaction(status="Rejected")
        if self.answer == "Accepted":
            self.stopping.add(transaction_id)
        return call_result.RemoteStopTransaction(status=self.answer)

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id: int) -> None:
        if transaction_id in self.stopping:
            await TestStation.after_remote_stop(self, transaction_id)
            self.stopping.discard(transaction_id)

    async def meter(self, connector_id: int, transaction_id: int, register_wh: float, *, power_w: float = 22000.0,
                    voltage_v: float = 230.0, current_a: float = 95.7, soc: float | None = 50.0,
                    timestamp: str | None = None) -> None:
        values = [
            {"value": str(register_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
            {"value": str(voltage_v), "measurand": "Voltage", "unit": "V"},
            {"value": str(current_a), "measurand": "Current.Import", "unit": "A"},
        ]
        if soc is not None:
            values.append({"value": str(soc), "measurand": "SoC", "unit": "Percent", "location": "EV"})
        self.meter_wh = int(register_wh)  # a later StopTransaction reports meter_wh + 1500
        await self.call(call.MeterValues(connector_id=connector_id, transaction_id=transaction_id,
                                         meter_value=[{"timestamp": timestamp or iso_now(), "sampledValue": values}]))

    async def status(self, connector_id: int, status: str, error_code: str = "NoError", info: str | None = None) -> None:
        await self.call(call.StatusNotification(connector_id=connector_id, error_code=error_code, status=status,
                                                info=info))


def meter_station(stack: Stack, charge_point_id: str, connectors: int = 2, *,
                  station_class: type[MeterStation] = MeterStation) -> Any:
    """A booted :class:`MeterStation` (or ``station_class``) connected to the stack's gateway
    (an async context manager)."""
    return test_station(stack, charge_point_id, connectors, station_class=station_class)


meter_station.__test__ = False  # type: ignore[attr-defined]


async def domain_event(stack: Stack, predicate: Callable[[Any], bool]) -> Any:
    """The first domain-stream record whose event matches ``predicate``, once the read models
    have folded it (event-driven: a catch-up subscription, then ``wait_for``)."""
    async def find() -> Any:
        stream = stack.log.subscribe(DOMAIN)
        try:
            async for record in stream:
                if predicate(record.event):
                    return record
        finally:
            await stream.aclose()
    record = await asyncio.wait_for(find(), TIMEOUT_S)
    await asyncio.wait_for(stack.worker.read_models.wait_for(record.position), TIMEOUT_S)
    return record


async def station_ready(stack: Stack, charge_point_id: str, connector_id: int, status: str = "Available") -> Any:
    """Wait until the read models show ``connector_id`` of ``charge_point_id`` in ``status``
    (the domain event of that StatusNotification, folded)."""
    return await domain_event(stack, lambda e: e.type == "connector.status.changed"
                              and e.chargePointId == charge_point_id and e.payload.get("connectorId") == connector_id
                              and e.payload.get("status") == status)
