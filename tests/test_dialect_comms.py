"""The WebSocket Communication Protocol (specs/websocket-communication-protocol.md) over real
sockets and HTTP: REST start/stop with a Bearer JWT, the receive-only push socket at
``/?token=`` and ``/ws?token=``, its four "Complete Flow Examples" run literally, every push
type, the 1008 close reasons, errors and cross-user isolation; both log engines. Plus the
Charging WebSocket API's HTTP endpoints (/health, /api/status, /api/stats) and headers."""

from __future__ import annotations

import chargelog
import asyncio
import json
import re

import httpx
import pytest
import websockets

from chargelog.domain.log import SOURCE
from chargelog.domain.registry import (ChargePointInfo, IdTag, Site, Tariff, charge_point_upserted, id_tag_upserted,
                                       site_upserted, tariff_upserted)
from test_dialect_support import (charging_client, dialect_stack, domain_event, meter_station, push_client,
                                  station_ready, token)

ISO_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
METER_FIELDS = {"charger_id", "connector_id", "station_id", "station_name", "station_address", "charge_percentage",
                "time_remaining", "time_remaining_display", "energy_consumed", "energy_consumed_unit", "cost",
                "cost_currency", "charging_duration", "charging_duration_display", "output_power", "output_power_unit",
                "energy_delivered", "power", "voltage", "current", "meter_value", "timestamp"}


async def register_station_a(log) -> None:
    """The document's "Station A": CP001 + CP002 at one site, with a location, a tariff in
    EGP, and user 123's RFID tag."""
    await log.append(SOURCE, [
        tariff_upserted(Tariff(tariffId="egp", pricePerKwh=7.5, currency="EGP")),
        site_upserted(Site(siteId="STATION001", name="Cillout Mansoura", address="15 Tahrir Street, Downtown, Cairo",
                           latitude=30.0444, longitude=31.2357, chargePointIds=("CP001", "CP002"), tariffId="egp")),
        charge_point_upserted(ChargePointInfo(chargePointId="CP001", siteId="STATION001", name="CP001")),
        charge_point_upserted(ChargePointInfo(chargePointId="CP002", siteId="STATION001", name="CP002")),
        id_tag_upserted(IdTag(idTag="RFID123", userId="123")),
    ])


def bearer(settings, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(settings, user)}", "Content-Type": "application/json"}


async def test_four_flow_examples_literally(log, settings):
    """Section 5: (1) start over REST → session_started pushed; (2) meter values → the rich
    meter_value push; (3) a connector status change → charger_status_update for the map;
    (4) stop over REST → session_stopped pushed. Plus the accompanying active_session_update
    and notification pushes."""
    await register_station_a(log)
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP001", connectors=4) as cp:
        await station_ready(stack, "CP001", 4)
        async with push_client(stack, token(settings, "123")) as ws, \
                httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            connected = await ws.next()
            assert connected == {"type": "connected", "timestamp": connected["timestamp"], "userId": 123}
            assert ISO_S.match(connected["timestamp"])
            listing = await ws.next()
            assert listing["type"] == "charger_list_update" and listing["action"] == "update"
            station = listing["data"]["chargers"][0]
            assert station["station_id"] == "STATION001" and station["station_name"] == "Cillout Mansoura"
            assert station["location"] == {"latitude": 30.0444, "longitude": 31.2357,
                                           "address": "15 Tahrir Street, Downtown, Cairo"}
            assert station["chargers"][0] == {"charger_id": "CP001", "total_connectors": 4, "available_connectors": 4,
                                              "status": "available", "display": "4/4"}
            assert [c["charger_id"] for c in station["chargers"]] == ["CP001", "CP002"]
            assert station["display"] == "4/4" and station["station_status"] == "available"
            nothing = await ws.next()
            assert nothing == {"type": "active_session_update", "has_active_session": False, "data": None,
                               "timestamp": nothing["timestamp"]}

            # Example 1: start charging
            response = await http.post("/api/charging/start", headers=bearer(settings, "123"),
                                        json={"charger_id": "CP001", "connector_id": 1})
            assert response.status_code == 200, response.text
            body = response.json()
            tid = body["data"]["transaction_id"]
            assert body == {"success": True, "data": {
                "session_id": tid, "transaction_id": tid, "charger_id": "CP001", "connector_id": 1,
                "status": "initiated", "message_id": body["data"]["message_id"], "message": "Charging session started"}}
            assert int(response.headers["X-RateLimit-Limit"]) >= 1 and "X-RateLimit-Remaining" in response.headers
            started = await ws.of_type("session_update", event="session_started")
            assert started == {"type": "session_update", "session_id": tid, "transaction_id": tid,
                               "event": "session_started",
                               "data": {"charger_id": "CP001", "connector_id": 1, "id_tag": "RFID123",
                                        "meter_start": 1000, "start_time": started["data"]["start_time"]},
                               "timestamp": started["timestamp"]}
            assert ISO_S.match(started["data"]["start_time"])
            active = await ws.of_type("active_session_update")
            assert active["has_active_session"] is True
            assert active["data"] == {"session_id": tid, "transaction_id": tid, "charger_id": "CP001",
                                      "connector_id": 1, "station_id": "STATION001",
                                      "start_time": started["data"]["start_time"], "energy_delivered": 0.0,
                                      "duration": active["data"]["duration"], "status": "active"}
            note = await ws.of_type("notification")
            assert note["title"] == "Charging Started" and note["data"] == {"session_id": tid, "charger_id": "CP001"}

            # Example 3: the connector went Preparing → Charging: the map is updated
            status = await ws.seen_or_next(lambda m: m["type"] == "charger_status_update"
                                           and m["data"]["connector_status"][0]["status"] == "Charging")
            assert status["station_id"] == "STATION001" and status["charger_id"] == "CP001"
            assert status["status"] == "available"
            assert {k: v for k, v in status["data"].items() if k != "timestamp"} == {
                "total_connectors": 4, "available_connectors": 3, "connectors_in_use": 1, "connectors_unavailable": 0,
                "display": "3/4",
                "connector_status": [{"connector_id": 1, "status": "Charging"}, {"connector_id": 2, "status": "Available"},
                                     {"connector_id": 3, "status": "Available"}, {"connector_id": 4, "status": "Available"}],
                "station_status": "Available", "is_under_maintenance": False}

            # Example 2: meter values (two samples: the second has a time-remaining estimate)
            await cp.meter(1, tid, 1000 + 17000, soc=20, power_w=22000)
            first = await ws.of_type("session_update", event="meter_value")
            assert set(first["data"]) == METER_FIELDS
            assert first["data"]["time_remaining"] is None and first["data"]["charge_percentage"] == 20
            await cp.meter(1, tid, 1000 + 42500, soc=50, power_w=22000, voltage_v=230, current_a=95.7)
            meter = await ws.of_type("session_update", event="meter_value")
            d = meter["data"]
            assert meter["session_id"] == tid and meter["transaction_id"] == tid
            assert set(d) == METER_FIELDS
            assert d["charger_id"] == "CP001" and d["connector_id"] == 1 and d["station_id"] == "STATION001"
            assert d["station_name"] == "Cillout Mansoura" and d["station_address"] == "15 Tahrir Street, Downtown, Cairo"
            assert d["charge_percentage"] == 50
            assert d["energy_consumed"] == 42.5 and d["energy_delivered"] == 42.5 and d["energy_consumed_unit"] == "kWh"
            assert d["output_power"] == 22.0 and d["power"] == 22.0 and d["output_power_unit"] == "kW"
            assert d["voltage"] == 230 and d["current"] == 95.7 and d["meter_value"] == 43500
            assert d["cost"] == pytest.approx(42.5 * 7.5) and d["cost_currency"] == "EGP"
            # 25.5 kWh for 30 % → 850 Wh/%; 50 % to go = 42.5 kWh at 22 kW
            assert d["time_remaining"] == round(42500 / 22000 * 3600)
            assert d["time_remaining_display"] == "1hr 55min"
            assert isinstance(d["charging_duration"], int) and d["charging_duration_display"]
            assert ISO_S.match(d["timestamp"]) and meter["timestamp"] == d["timestamp"]

            # Example 4: stop charging
            response = await http.post("/api/charging/stop", headers=bearer(settings, "123"), json={"charger_id": "CP001"})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["success"] is True
            assert body["data"] == {"session_id": tid, "transaction_id": tid, "charger_id": "CP001", "connector_id": 1,
                                    "status": "stopped", "energy_delivered": 44.0,
                                    "duration": body["data"]["duration"], "message_id": body["data"]["message_id"],
                                    "message": "Charging session stopped"}
            assert isinstance(body["data"]["duration"], int)
            stopped = await ws.of_type("session_update", event="session_stopped")
            assert stopped["session_id"] == tid and stopped["transaction_id"] == tid
            sd = stopped["data"]
            assert sd["charger_id"] == "CP001" and sd["connector_id"] == 1 and sd["meter_stop"] == 45000
            assert sd["energy_delivered"] == 44.0 and sd["stop_reason"] == "RemoteStop" and ISO_S.match(sd["stop_time"])
            assert isinstance(sd["duration"], int)
            after = await ws.of_type("active_session_update")
            assert after["has_active_session"] is False and after["data"] is None
            note = await ws.of_type("notification")
            assert note["title"] == "Charging Stopped" and note["data"]["session_id"] == tid


async def test_map_status_rules_and_charger_updates(log, settings):
    """Green X/Y, blue (all in use) and red (maintenance: all Unavailable) with no number;
    charger_update status_changed / connector_status_changed / error / maintenance_mode; a
    charger that connects later arrives as charger_list_update; offline is red."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CPX", connectors=2) as cp:
        await station_ready(stack, "CPX", 2)
        async with push_client(stack, token(settings, "u-map"), path="/ws") as ws:
            await ws.of_type("active_session_update")
            await cp.status(1, "Charging")
            # (pushes of the boot's status changes may arrive first: duplicates of the snapshot are allowed)
            changed = await ws.next(lambda m: m["type"] == "charger_update" and m["event"] == "status_changed"
                                    and m["data"]["status"] == "Charging")
            assert changed["charger_id"] == "CPX"
            assert {k: changed["data"][k] for k in ("status", "previous_status", "connector_id")} == {
                "status": "Charging", "previous_status": "Available", "connector_id": 1}
            occupied = await ws.next(lambda m: m["type"] == "charger_update" and m["event"] == "connector_status_changed"
                                     and m["data"]["status"] == "Occupied")
            assert {k: occupied["data"][k] for k in ("connector_id", "status", "previous_status", "error_code")} == {
                "connector_id": 1, "status": "Occupied", "previous_status": "Available", "error_code": None}
            green = await ws.next(lambda m: m["type"] == "charger_status_update" and m["data"]["display"] == "1/2")
            assert green["status"] == "available" and green["data"]["display"] == "1/2"
            await cp.status(2, "Charging")
            blue = await ws.next(lambda m: m["type"] == "charger_status_update" and m["status"] == "in_use")
            assert blue["data"]["display"] is None and blue["data"]["station_status"] == "In Use"
            assert blue["data"]["connectors_in_use"] == 2 and blue["data"]["available_connectors"] == 0
            await cp.status(1, "Unavailable")
            await cp.status(2, "Faulted", error_code="GroundFailure", info="RCD tripped")
            error = await ws.of_type("charger_update", event="error")
            assert error["data"]["error_code"] == "GroundFailure" and error["data"]["connector_id"] == 2
            maintenance = await ws.of_type("charger_update", event="maintenance_mode")
            assert maintenance["data"]["is_under_maintenance"] is True
            red = await ws.next(lambda m: m["type"] == "charger_status_update" and m["status"] == "unavailable")
            assert red["data"]["display"] is None and red["data"]["is_under_maintenance"] is True
            assert red["data"]["connectors_unavailable"] == 2 and red["data"]["maintenance_reason"]
            assert red["data"]["station_status"] == "Unavailable"

            async with meter_station(stack, "CPY", connectors=1):
                listing = await ws.next(lambda m: m["type"] == "charger_list_update"
                                        and any(c["charger_id"] == "CPY" for s in m["data"]["chargers"]
                                                for c in s["chargers"]))
                assert listing["action"] == "update"
            offline = await ws.next(lambda m: m["type"] == "charger_status_update" and m["charger_id"] == "CPY"
                                    and m["status"] == "unavailable")
            assert offline["data"]["is_under_maintenance"] is False and offline["data"]["available_connectors"] == 0


async def test_handshake_close_codes_and_bad_messages(log, settings):
    """1008 "Authentication required" (no or empty token), "Invalid authentication token"
    (forged, expired, garbage), "Server at capacity"; a message that is not a command →
    {"type": "error", "message": "Invalid message format"} and the socket stays open."""
    async with dialect_stack(log, settings, comms_max_connections=2) as stack:
        for path, query in (("/", ""), ("/", "?token="), ("/ws", "?token=")):
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}{path}{query}") as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (1008, "Authentication required")
        for bad in ("garbage", token(settings, "u", ttl_s=-60), token(settings, "u")[:-4] + "AAAA"):
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}/?token={bad}") as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()
                assert (ws.close_code, ws.close_reason) == (1008, "Invalid authentication token")
        async with push_client(stack, token(settings, "a")) as first, push_client(stack, token(settings, "b")) as second:
            await first.of_type("active_session_update")
            await second.of_type("active_session_update")
            async with websockets.connect(f"ws://127.0.0.1:{stack.port}/?token={token(settings, 'c')}") as third:
                with pytest.raises(websockets.ConnectionClosed):
                    await third.recv()
                assert (third.close_code, third.close_reason) == (1008, "Server at capacity")
            for raw in ("not json", "[]", "{}", '{"action": 5}', '{"action": "list_chargers", "data": []}', '"x"'):
                await first.send(raw)
                error = await first.of_type("error")
                assert error == {"type": "error", "message": "Invalid message format", "timestamp": error["timestamp"]}
            await first.send({"action": "list_chargers", "data": {}})
            assert (await first.response("list_chargers"))["data"]["success"] is True


async def test_rest_errors_and_cross_user(log, settings):
    """401 without or with a bad token; 400 for bodies that are not a JSON object, 422 for invalid ones; 404 for an unknown charger and
    for stopping with no active session (also another user's session); 409 when the charger
    is refused or offline; session_error pushed for a refused start; another user's pushes
    never arrive."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP9", connectors=2) as cp:
        await station_ready(stack, "CP9", 2)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http, \
                push_client(stack, token(settings, "bob")) as bob_ws:
            await bob_ws.of_type("active_session_update")
            r = await http.post("/api/charging/start", json={"charger_id": "CP9"})
            assert r.status_code == 401 and r.json() == {"success": False, "error": "Unauthenticated",
                                                          "message": "A valid bearer token is required"}
            assert r.headers["WWW-Authenticate"] == "Bearer" and "X-RateLimit-Limit" in r.headers
            r = await http.post("/api/charging/start", json={"charger_id": "CP9"},
                                headers={"Authorization": "Bearer not.a.jwt"})
            assert r.status_code == 401
            alice = bearer(settings, "alice")
            for body, status in ((b"{not json", 400), (b"[1]", 400), (b"{}", 422), (b'{"charger_id": 5}', 422),
                                 (b'{"charger_id": "CP9", "connector_id": "1"}', 422),
                                 (b'{"charger_id": "CP9", "connector_id": 0}', 422),
                                 (b'{"charger_id": "NOPE"}', 404)):
                r = await http.post("/api/charging/start", content=body, headers=alice)
                assert r.status_code == status, (body, r.text)
                assert r.json()["success"] is False and r.json()["error"] and r.json()["message"]
            r = await http.post("/api/charging/stop", json={}, headers=alice)
            assert r.status_code == 404 and r.json()["error"] == "No active session"

            r = await http.post("/api/charging/start", json={"charger_id": "CP9"}, headers=alice)
            assert r.status_code == 200
            tid = r.json()["data"]["transaction_id"]
            assert r.json()["data"]["connector_id"] == 1                       # default connector
            r = await http.post("/api/charging/stop", json={"charger_id": "CP9"}, headers=bearer(settings, "bob"))
            assert r.status_code == 404                                        # not bob's session
            r = await http.post("/api/charging/stop", json={"charger_id": None}, headers=alice)
            assert r.status_code == 200 and r.json()["data"]["transaction_id"] == tid
            assert not any(m["type"] in ("session_update", "active_session_update", "notification")
                           and (m.get("transaction_id") == tid or (m.get("data") or {}).get("session_id") == tid)
                           for m in bob_ws.seen)

            cp.answer = "Rejected"
            async with push_client(stack, token(settings, "alice")) as alice_ws:
                await alice_ws.of_type("active_session_update")
                r = await http.post("/api/charging/start", json={"charger_id": "CP9", "connector_id": 2}, headers=alice)
                assert r.status_code == 409 and r.json()["error"] == "Charger not available"
                assert r.json()["message"] == "The requested charger is currently unavailable"
                error = await alice_ws.of_type("session_update", event="session_error")
                assert error["session_id"] is None and error["data"]["charger_id"] == "CP9"
                assert error["data"]["error"] == "rejected"
                note = await alice_ws.of_type("notification")
                assert note["title"] == "Charging Failed"
    # CP9 disconnected: known but offline → 409 "Charger not available"
    async with dialect_stack(log, settings) as stack:
        await domain_event(stack, lambda e: e.type == "station.disconnected" and e.chargePointId == "CP9")
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.post("/api/charging/start", json={"charger_id": "CP9"}, headers=bearer(settings, "alice"))
            assert r.status_code == 409 and r.json()["error"] == "Charger not available"


async def test_http_status_stats_health_and_rate_limit_headers(log, settings):
    """/health (status "healthy", timestamp, version, uptime, websocket counts merged with the
    core's health), /api/status, /api/stats (gatewayConnections = connected charge points);
    X-RateLimit-* headers; the request over the limit → 429 with Retry-After."""
    async with dialect_stack(log, settings, charging_messages_per_min=6) as stack, \
            meter_station(stack, "CPH", connectors=1):
        await station_ready(stack, "CPH", 1)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http, \
                charging_client(stack, token(settings, "u1")), charging_client(stack, token(settings, "u1")), \
                charging_client(stack, token(settings, "u2"), authenticate=False) as anonymous, \
                push_client(stack, token(settings, "u3")) as push:
            await push.of_type("active_session_update")
            await anonymous.send_message("heartbeat", omit_data=True)
            health = (await http.get("/health")).json()
            assert health["status"] == "healthy" and ISO_MS.match(health["timestamp"])
            assert health["version"] == chargelog.__version__ and isinstance(health["uptime"], float)
            assert health["websocket"] == {"totalConnections": 4, "authenticatedConnections": 3, "totalUsers": 2,
                                           "gatewayConnections": 1}
            assert "log" in health and "projections" in health                      # the core's own fields
            r = await http.get("/api/status")
            assert r.status_code == 200
            status = r.json()
            assert status == {"success": True, "data": {
                "api": "Charging WebSocket API", "version": chargelog.__version__, "websocketUrl": f"ws://127.0.0.1:{stack.port}/ws",
                "config": {"heartbeatInterval": 30000, "sessionTimeout": 3600000,
                           "gatewayUrl": status["data"]["config"]["gatewayUrl"]}}}
            assert status["data"]["config"]["gatewayUrl"].startswith("ws://")
            assert r.headers["X-RateLimit-Limit"] == "6" and r.headers["X-RateLimit-Remaining"] == "5"
            assert int(r.headers["X-RateLimit-Reset"]) > 0
            r = await http.get("/api/stats")
            stats = r.json()
            assert stats["success"] is True and ISO_MS.match(stats["timestamp"])
            assert stats["data"] == health["websocket"]
            for _ in range(4):
                assert (await http.get("/api/stats")).status_code == 200
            limited = await http.get("/api/stats")
            assert limited.status_code == 429 and limited.json()["success"] is False
            assert limited.headers["X-RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) >= 1
        await asyncio.sleep(0)


async def test_token_expiry_and_oversized_message_close_the_socket(log, settings):
    """A token that expires while connected closes the socket 1008 "Invalid authentication
    token"; a message above api_max_message_bytes gets "Invalid message format" and close 1009."""
    async with dialect_stack(log, settings, api_max_message_bytes=1000) as stack:
        async with push_client(stack, token(settings, "short", ttl_s=1)) as ws:
            assert (await ws.next())["type"] == "connected"
            assert await ws.wait_closed() == (1008, "Invalid authentication token")
        async with push_client(stack, token(settings, "big")) as ws:
            await ws.of_type("active_session_update")
            await ws.send(json.dumps({"action": "list_chargers", "data": {"pad": "x" * 2000}}))
            assert (await ws.of_type("error"))["message"] == "Invalid message format"
            assert (await ws.wait_closed())[0] == 1009


async def test_rest_start_without_transaction_times_out_504(log, settings):
    """The charge point accepts RemoteStartTransaction but never starts: 504 "Charger not
    responding" after charging_start_wait_s, with the command's message_id."""
    from test_dialect_charging import AcceptOnlyStation

    async with dialect_stack(log, settings, charging_start_wait_s=0.5) as stack, \
            meter_station(stack, "CPT", station_class=AcceptOnlyStation):
        await station_ready(stack, "CPT", 2)
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.post("/api/charging/start", json={"charger_id": "CPT"}, headers=bearer(settings, "tim"))
            assert r.status_code == 504
            assert r.json() == {"success": False, "error": "Charger not responding",
                                "message": "The charger did not respond in time", "message_id": r.json()["message_id"]}
            assert r.json()["message_id"].startswith("corr-")


@pytest.mark.parametrize("engine", ["embedded"], indirect=True)
async def test_cors_for_configured_origins(log, settings):
    """charging-websocket-api.md "Security": CORS for the configured frontend origins only;
    the rate-limit headers are readable by the browser."""
    async with dialect_stack(log, settings, cors_origins=["https://app.example"]) as stack:
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            preflight = await http.options("/api/charging/start", headers={
                "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == "https://app.example"
            r = await http.get("/api/status", headers={"Origin": "https://app.example"})
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            assert "X-RateLimit-Remaining" in r.headers["access-control-expose-headers"]
            other = await http.get("/api/status", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
