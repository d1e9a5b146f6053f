"""The client API's HTTP side over real sockets: ``/health`` (liveness, log engine state,
projection positions), ``/openapi.json`` and ``/asyncapi.json`` (served, and equal to the
checked-in docs/ copies: tests/test_api_contracts.py), the operator routes behind the admin
scope. Both log engines."""

from __future__ import annotations


import httpx

from test_api_support import api_stack

async def test_health_and_documents(log, settings, engine):
    async with api_stack(log, settings, gateway=False) as stack:
        async with httpx.AsyncClient(base_url=stack.http_url) as http:
            health = await http.get("/health")
            assert health.status_code == 200
            body = health.json()
            assert body["status"] in ("ok", "healthy")
            assert body["log"]["engine"] == engine and body["log"]["ok"] is True
            assert set(body["log"]["positions"]) == {"source", "domain"}
            assert body["api"]["hubRunning"] is True and "mobile" in body["api"]["dialects"]
            assert isinstance(body["projections"], dict)
            openapi = (await http.get("/openapi.json")).json()
            assert openapi["openapi"].startswith("3.1") and "/health" in openapi["paths"]
            assert "Health" in openapi["components"]["schemas"]
            asyncapi = (await http.get("/asyncapi.json")).json()
            assert asyncapi["asyncapi"] == "3.0.0" and asyncapi["channels"]["mobileWs"]["address"] == "/ws"
            messages = asyncapi["components"]["messages"]
            for event in ("connector.status.changed", "transaction.started", "transaction.stopped",
                          "meter.update", "station.connected", "station.disconnected"):
                assert f"mobile.push.{event}" in messages
            for action in ("auth", "ping", "getStations", "getConnectorStatus", "startCharging", "stopCharging",
                           "getMySessions", "subscribe", "unsubscribe", "getEventsSince"):
                assert f"mobile.{action}.request" in messages


async def test_operator_routes_need_admin(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        user_key = stack.key("u1")
        admin_key = stack.key("ops", "admin")
        body = {"chargePointId": "CP-OP", "action": "Reset", "payload": {"type": "Soft"}}
        async with httpx.AsyncClient(base_url=stack.http_url) as http:
            assert (await http.post("/api/operator/commands", json=body)).status_code == 401
            assert (await http.post("/api/operator/commands", json=body,
                                    headers={"X-API-Key": "nope"})).status_code == 401
            assert (await http.post("/api/operator/commands", json=body,
                                    headers={"X-API-Key": user_key})).status_code == 403
            accepted = await http.post("/api/operator/commands", json=body,
                                       headers={"Authorization": f"Bearer {admin_key}"})
            assert accepted.status_code == 202, accepted.text
            assert accepted.json()["correlationId"]
