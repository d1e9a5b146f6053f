"""Shared frames on the Mobile API (mobile-websocket-api.md sections 6.1, 7, 8.1): many clients
subscribing to the same map each get the same snapshot under their own request ``id`` and
``subscriptionId``; a push reaches every subscriber as the same text; and the text is the
same whether the server writes pre-built frames (``chargelog serve``'s WebSocket options) or
sends through ASGI (a connection with per-message deflate). Real sockets, both log engines."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import websockets

from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import DOMAIN

from test_api_support import TIMEOUT_S, api_stack, serve_app

#: Charge points on the map: a snapshot above 64 KiB (a frame with a 64-bit length).
MAP_SIZE = 400
CLIENTS = 25


def station_events(count: int) -> list[Event]:
    now = datetime.now(UTC).isoformat()
    events = []
    for i in range(count):
        cp = f"CP-S{i:04d}"
        events.append(Event(type="station.connected", chargePointId=cp, source=Source.SYSTEM,
                            payload={"chargePointId": cp, "at": now}))
        events.append(Event(type="connector.status.changed", chargePointId=cp, source=Source.SYSTEM,
                            payload={"chargePointId": cp, "connectorId": 1, "status": "Available",
                                     "errorCode": "NoError", "timestamp": now}))
    return events


async def call(ws: Any, request_id: Any, action: str, params: dict[str, Any] | None = None) -> str:
    """Send one request; the raw text of its answer (pushes before it are skipped)."""
    await ws.send(json.dumps({"id": request_id, "action": action, **({"params": params} if params else {})}))
    while True:
        text = await asyncio.wait_for(ws.recv(), TIMEOUT_S)
        assert isinstance(text, str)  # a text frame
        if json.loads(text).get("id") == request_id:
            return text


def without_own_ids(text: str) -> str:
    """The answer's text with the parts that are each client's own (id, subscriptionId) cut."""
    return re.sub(r'"subscriptionId":"[^"]*"', "", re.sub(r'^\{"id":[^,]*,', "", text))


async def subscriber(url: str, key: str, request_id: Any, **connect: Any) -> tuple[Any, str]:
    ws = await websockets.connect(url, max_size=None, **connect)
    await call(ws, f"auth-{request_id}", "auth", {"apiKey": key})
    return ws, await call(ws, request_id, "subscribe", {"events": ["all"]})


async def test_many_subscribers_share_one_snapshot_and_one_push_text(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        await log.append(DOMAIN, station_events(MAP_SIZE))
        await stack.worker.read_models.wait_for(await log.latest(DOMAIN))
        key = stack.key("MAP_USER", "read:stations")
        ids: list[Any] = [*range(CLIENTS - 3), "sub-a", "Ünïcode-id", 12.5]
        clients = await asyncio.gather(*(subscriber(stack.ws_url, key, rid, compression=None) for rid in ids))
        try:
            answers = [json.loads(text) for _, text in clients]
            assert [a["id"] for a in answers] == ids  # each its own id, as sent
            assert all(a["result"]["subscriptionId"].startswith("sub-") for a in answers)  # per connection
            assert len({without_own_ids(text) for _, text in clients}) == 1  # the same snapshot text
            snapshot = answers[0]["result"]["snapshot"]["stations"]
            assert sorted(s["id"] for s in snapshot) == [f"CP-S{i:04d}" for i in range(MAP_SIZE)]
            assert len(clients[0][1]) > 65536
            stations = json.loads(await call(clients[0][0], "gs", "getStations"))
            assert stations == {"id": "gs", "result": snapshot}

            # through ASGI (per-message deflate: no pre-built frames) the text is the same
            async with serve_app(stack.app, lifespan="off", ws_per_message_deflate=True) as port:
                ws, text = await subscriber(f"ws://127.0.0.1:{port}/ws", key, 0)
                try:
                    assert ws.protocol.extensions  # deflate negotiated
                    assert without_own_ids(text) == without_own_ids(clients[0][1])
                    clients.append((ws, text))

                    change = Event(type="connector.status.changed", chargePointId="CP-S0007", source=Source.SYSTEM,
                                   payload={"chargePointId": "CP-S0007", "connectorId": 1, "status": "Preparing",
                                            "errorCode": "NoError", "timestamp": datetime.now(UTC).isoformat()})
                    await log.append(DOMAIN, [change])
                    pushes = await asyncio.gather(*(asyncio.wait_for(ws.recv(), TIMEOUT_S) for ws, _ in clients))
                finally:
                    await ws.close()
            assert len(set(pushes)) == 1  # one text, to every subscriber, either way
            push = json.loads(pushes[0])
            assert push["event"] == "connector.status.changed" and push["eventId"] == change.eventId
            assert push["data"]["stationId"] == "CP-S0007" and push["data"]["status"] == "Preparing"
        finally:
            await asyncio.gather(*(ws.close() for ws, _ in clients))
