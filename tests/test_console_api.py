"""The web console's HTTP routes and push socket over real loopback sockets, on both log
engines: who may use them (admin = operator, audit = auditor, nobody else), the charge point
page read from the log, and the push stream's resume by position."""

from __future__ import annotations

import json
from typing import Any

import httpx
import websockets
from ocpp.v16 import call

from test_api_support import api_stack, test_station


async def next_event(ws: Any, predicate: Any = lambda e: True) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.recv())
        if message["kind"] == "event" and predicate(message):
            return message


async def test_scopes_charge_point_page_and_resume_by_position(log, settings) -> None:
    async with api_stack(log, settings) as stack:
        operator, auditor, user = stack.key("ops", "admin"), stack.key("aud", "audit"), stack.key("u1")
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=20) as http:
            assert (await http.get("/console")).headers["content-type"].startswith("text/html")
            assert (await http.get("/console/api/me")).status_code == 401
            assert (await http.get("/console/api/me", headers={"Authorization": f"Bearer {user}"})).status_code == 403
            me = (await http.get("/console/api/me", headers={"Authorization": f"Bearer {auditor}"})).json()
            assert me["role"] == "auditor"
            refused = await http.post("/api/operator/commands", headers={"Authorization": f"Bearer {auditor}"},
                                      json={"chargePointId": "CON1", "action": "Reset", "payload": {"type": "Soft"}})
            assert refused.status_code == 403  # auditors read, never command
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}/console/ws") as ws:
                await ws.send(json.dumps({"credential": user, "after": None}))
                try:
                    await ws.recv()
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == 4403

            headers = {"Authorization": f"Bearer {operator}"}
            snapshot = (await http.get("/console/api/stations", headers=headers)).json()
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}/console/ws") as ws:
                await ws.send(json.dumps({"credential": operator, "after": snapshot["position"]}))
                assert json.loads(await ws.recv())["kind"] == "ready"
                async with test_station(stack, "CON1") as cp:
                    first = await next_event(ws, lambda e: e["chargePointId"] == "CON1")
                    await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
                    preparing = await next_event(ws, lambda e: e["type"] == "connector.status.changed"
                                                 and e["payload"]["status"] == "Preparing")
                    page = (await http.get("/console/api/chargepoints/CON1", headers=headers)).json()
            assert any(f["payload"].get("action") == "BootNotification" for f in page["frames"])
            assert page["connections"][0]["type"] == "ocpp.connection.opened"
            assert page["station"]["chargePointId"] == "CON1"

            # resume after the first event: everything after it again, in order, from the log
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}/console/ws") as ws:
                await ws.send(json.dumps({"credential": operator, "after": first["position"]}))
                assert json.loads(await ws.recv())["kind"] == "ready"
                replayed = await next_event(ws, lambda e: e["chargePointId"] == "CON1")
                assert replayed["eventId"] != first["eventId"]
                seen = [replayed]
                while seen[-1]["eventId"] != preparing["eventId"]:
                    seen.append(await next_event(ws))
            assert first["eventId"] not in {e["eventId"] for e in seen}
