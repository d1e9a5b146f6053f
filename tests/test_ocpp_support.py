"""Helpers shared by the OCPP gateway tests (no tests here): a gateway factory, a station
built on ``ocpp.v16.ChargePoint``, raw-frame exchange and waiting on log events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action

from chargelog.adapters.config import Settings
from chargelog.adapters.ocpp.gateway import OcppGateway
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, START, EventLog, Position

TIMEOUT_S = 20


def gateway_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"ocpp_port": 0, "ocpp_host": "127.0.0.1", **overrides})


@contextlib.asynccontextmanager
async def running_gateway(log: EventLog, settings: Settings, registry: Any = None,
                          **overrides: Any) -> AsyncIterator[OcppGateway]:
    gateway = OcppGateway(log, gateway_settings(settings, **overrides), registry)
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


def url(gateway: OcppGateway, charge_point_id: str, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{gateway.port}/ocpp/{charge_point_id}"


class Station(ChargePoint):
    """A charge point answering RemoteStart/RemoteStop with ``answer`` (default Accepted)."""

    answer = "Accepted"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, **kw: Any) -> call_result.RemoteStartTransaction:
        await self.received.put(("RemoteStartTransaction", {"id_tag": id_tag, **kw}))
        return call_result.RemoteStartTransaction(status=self.answer)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        await self.received.put(("RemoteStopTransaction", {"transaction_id": transaction_id}))
        return call_result.RemoteStopTransaction(status=self.answer)


@contextlib.asynccontextmanager
async def station(gateway: OcppGateway, charge_point_id: str, **connect: Any) -> AsyncIterator[Station]:
    async with websockets.connect(url(gateway, charge_point_id), subprotocols=["ocpp1.6"], **connect) as ws:
        cp = Station(charge_point_id, ws, response_timeout=TIMEOUT_S)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task


async def exchange(ws: Any, frame: str | list[Any]) -> list[Any]:
    """Send one raw frame, return the parsed answer."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))


async def wait_event(log: EventLog, predicate: Callable[[Event], bool], *,
                     after: Position = START, timeout: float = TIMEOUT_S) -> Event:
    """The first source event after ``after`` matching ``predicate`` (fails on timeout)."""
    async def find() -> Event:
        async with contextlib.aclosing(log.subscribe(SOURCE, after)) as records:
            async for record in records:
                if predicate(record.event):
                    return record.event
        raise AssertionError("subscription ended")

    return await asyncio.wait_for(find(), timeout)


async def source_events(log: EventLog, charge_point_id: str | None = None) -> list[Event]:
    events = [r.event for r in await log.read(SOURCE)]
    return [e for e in events if charge_point_id is None or e.chargePointId == charge_point_id]


def frames(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == "ocpp.frame"]
