"""The floor for OCPP benchmarks: a bare ``ocpp``-library central system with no persistence.

One process, ``websockets`` server on loopback, one :class:`ocpp.v16.ChargePoint` per
connection answering BootNotification (Accepted, interval 3600 s), Heartbeat (current time),
StatusNotification and MeterValues (empty CALLRESULTs) — the least any OCPP 1.6-J central system does per frame
(OCPP-J 1.6 §4: parse, validate against the action's schema, route, answer). Nothing is
stored. :mod:`bench.side_by_side` measures ``chargelog serve`` as a ratio to this.

Usage::

    python bench/ocpp_floor.py            # prints "listening PORT" then serves until killed
"""

from __future__ import annotations

import asyncio
import datetime
import sys

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus


class FloorChargePoint(ChargePoint):
    """Answers the CALLs the benchmark's stations send; nothing kept."""

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: object) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=_now(), interval=3600, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, connector_id: int, error_code: str, status: str, **_: object) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[object], **_: object) -> call_result.MeterValues:
        return call_result.MeterValues()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


async def _handler(connection: websockets.ServerConnection) -> None:
    charge_point_id = (connection.request.path if connection.request else "/").rstrip("/").rsplit("/", 1)[-1]
    try:
        await FloorChargePoint(charge_point_id, connection).start()
    except websockets.ConnectionClosed:
        pass


async def serve(host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until cancelled; prints ``listening PORT`` (flushed) once bound."""
    async with websockets.serve(_handler, host, port, subprotocols=["ocpp1.6"], compression=None,
                                ping_interval=None, max_queue=4) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {bound}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":  # the default asyncio loop, as ``chargelog serve`` runs
    asyncio.run(serve(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0))
