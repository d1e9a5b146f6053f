"""A minimal OCPP 1.6 central system for the simulator's tests: the ocpp library's
``ChargePoint`` on the server side over ``websockets.serve`` on a free loopback port. It
records every CALL it receives and answers the charge-point-initiated messages."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response


@dataclass(frozen=True)
class Received:
    """One CALL from a charge point: ``payload`` as sent (camelCase)."""

    chargePointId: str
    action: str
    payload: dict[str, Any]


class _ServerSide(ChargePoint):
    def __init__(self, cp_id: str, connection: ServerConnection, cs: CentralSystem) -> None:
        super().__init__(cp_id, connection, response_timeout=10)
        self.cs = cs

    async def route_message(self, raw_msg: str) -> None:
        msg = json.loads(raw_msg)
        if msg[0] == 2:
            self.cs.record(Received(self.id, msg[2], msg[3]))
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(current_time=datetime.now(UTC).isoformat(),
                                            interval=self.cs.heartbeat_interval_s, status=self.cs.boot_status)

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.heartbeat)
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": self.cs.id_tag_status(id_tag)})

    @on(Action.start_transaction)
    def on_start(self, id_tag: str, **_: Any) -> Any:
        self.cs.next_transaction_id += 1
        return call_result.StartTransaction(transaction_id=self.cs.next_transaction_id,
                                            id_tag_info={"status": self.cs.id_tag_status(id_tag)})

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> Any:
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()


class CentralSystem:
    """``async with CentralSystem() as cs``: ``cs.url`` is ``ws://127.0.0.1:PORT/ocpp``;
    ``await cs.expect(action, …)`` returns the next unconsumed matching CALL (10 s timeout);
    ``cs.cps[chargePointId]`` sends CALLs to a connected station (``await cs.call(...)``)."""

    def __init__(self, heartbeat_interval_s: int = 300, password: str | None = None,
                 boot_status: str = "Accepted", blocked_id_tags: frozenset[str] = frozenset()) -> None:
        self.heartbeat_interval_s = heartbeat_interval_s
        self.password = password
        self.boot_status = boot_status
        self.blocked = blocked_id_tags
        self.next_transaction_id = 0
        self.received: list[Received] = []
        self.consumed: set[int] = set()
        self.cps: dict[str, _ServerSide] = {}
        self.connections: dict[str, ServerConnection] = {}
        self.subprotocols: list[str | None] = []
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    def id_tag_status(self, id_tag: str) -> str:
        return "Blocked" if id_tag in self.blocked else "Accepted"

    def record(self, message: Received) -> None:
        self.received.append(message)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def expect(self, action: str, cp: str | None = None,
                     where: Callable[[dict[str, Any]], bool] | None = None, timeout_s: float = 10) -> Received:
        def find() -> int | None:
            for i, m in enumerate(self.received):
                if i not in self.consumed and m.action == action and cp in (None, m.chargePointId) \
                        and (where is None or where(m.payload)):
                    return i
            return None

        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: find() is not None)
            index = find()
            assert index is not None
            self.consumed.add(index)
            return self.received[index]

    async def call(self, cp: str, payload: Any) -> Any:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: cp in self.cps)
        return await self.cps[cp].call(payload, suppress=False)

    def _check_auth(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.password is None:
            return None
        cp_id = request.path.rsplit("/", 1)[-1]
        expected = "Basic " + base64.b64encode(f"{cp_id}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorized\n")
        return None

    async def _handler(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        cp_id = connection.request.path.rsplit("/", 1)[-1]
        self.subprotocols.append(connection.subprotocol)
        cp = _ServerSide(cp_id, connection, self)
        self.cps[cp_id] = cp
        self.connections[cp_id] = connection
        await self._notify()
        try:
            await cp.start()
        except Exception:  # noqa: BLE001 - the charge point went away
            pass

    async def __aenter__(self) -> CentralSystem:
        self._server = await serve(self._handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"],
                                   process_request=self._check_auth)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ocpp"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
