"""The Mobile WebSocket API end to end (mobile-websocket-api.md sections 2–9) over real
sockets: a real OCPP gateway, the projection worker, the API under uvicorn, an ``ocpp.v16``
station; both log engines."""

from __future__ import annotations

import re

from ocpp.v16 import call

from test_api_support import api_stack, mobile, now_iso, synced, test_station

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_smoke_scenario_start_monitor_stop(log, settings):
    """Section 11: auth, subscribe all, getStations, startCharging → pending →
    transaction.started (same correlationId), getConnectorStatus, getMySessions,
    stopCharging → transaction.stopped, ping."""
    async with api_stack(log, settings) as stack:
        key = stack.key("MOBILE_USER_1")
        async with mobile(stack) as client:
            auth = await client.request("auth", {"apiKey": key}, request_id="auth-001")
            assert auth["id"] == "auth-001"
            assert auth["result"]["status"] == "ok" and auth["result"]["sessionId"].startswith("sess-")
            assert auth["result"]["scopes"] == ["read:stations", "write:charging"]
            sub = await client.result("subscribe", {"events": ["all"]})
            assert sub["subscriptionId"].startswith("sub-") and sub["snapshot"] == {"stations": []}
            async with test_station(stack, "fora072", connectors=2) as cp:
                connected = await client.push(lambda m: m.get("event") == "station.connected")
                assert connected["data"]["stationId"] == "fora072" and ISO_MS.match(connected["data"]["timestamp"])
                assert connected["eventId"] and connected["position"]
                status = await client.push(lambda m: m.get("event") == "connector.status.changed"
                                           and m["data"]["connectorId"] == 2)
                assert status["data"] == {"stationId": "fora072", "connectorId": 2, "status": "Available",
                                          "transactionId": None, "timestamp": status["data"]["timestamp"]}
                await synced(stack, status)
                stations = await client.result("getStations")
                assert [s["id"] for s in stations] == ["fora072"]
                station = stations[0]
                assert station["isOnline"] is True and station["status"] == "Available"
                assert ISO_MS.match(station["lastActivity"])
                assert [c["id"] for c in station["connectors"]] == [1, 2]
                assert station["connectors"][1] == {"id": 2, "status": "Available", "transactionId": None,
                                                    "errorCode": None, "updatedAt": station["connectors"][1]["updatedAt"]}

                pending = await client.request("startCharging", {"stationId": "fora072", "connectorId": 2,
                                                                 "idTag": "MOBILE_USER_1"})
                assert pending["result"]["status"] == "pending"
                correlation_id = pending["result"]["correlationId"]
                started = await client.push(lambda m: m.get("event") == "transaction.started")
                data = started["data"]
                assert data["correlationId"] == correlation_id
                assert data["stationId"] == "fora072" and data["connectorId"] == 2
                assert data["idTag"] == "MOBILE_USER_1" and ISO_MS.match(data["startTime"])
                assert isinstance(data["transactionId"], int)
                tx = data["transactionId"]
                assert tx == await cp.started.get()
                charging = await client.push(lambda m: m.get("event") == "connector.status.changed"
                                             and m["data"]["status"] == "Charging")
                await cp.call(call.MeterValues(connector_id=2, transaction_id=tx, meter_value=[{
                    "timestamp": now_iso(), "sampledValue": [
                        {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                        {"value": "16", "measurand": "Current.Import", "unit": "A"},
                        {"value": "230", "measurand": "Voltage", "unit": "V"}]}]))
                meter = await client.push(lambda m: m.get("event") == "meter.update")
                assert meter["data"] == {"stationId": "fora072", "connectorId": 2, "transactionId": tx,
                                         "timestamp": meter["data"]["timestamp"], "energy": 1500,
                                         "power": 7200, "current": 16, "voltage": 230}
                assert ISO_MS.match(meter["data"]["timestamp"]) and meter["eventId"] and meter["position"]
                await synced(stack, meter)

                status = await client.result("getConnectorStatus", {"stationId": "fora072", "connectorId": 2})
                assert status["stationId"] == "fora072" and status["connectorId"] == 2
                assert status["status"] == "Charging" and status["transactionId"] == tx
                assert set(status) == {"stationId", "connectorId", "status", "transactionId", "errorCode",
                                       "power", "current", "voltage", "energy", "updatedAt"}
                assert (status["energy"], status["power"], status["current"], status["voltage"]) == (1500, 7200, 16, 230)
                sessions = await client.result("getMySessions")
                assert [(s["transactionId"], s["status"]) for s in sessions] == [(tx, "active")]

                pending = await client.request("stopCharging", {"transactionId": tx})
                stop_correlation = pending["result"]["correlationId"]
                assert pending["result"]["status"] == "pending" and stop_correlation != correlation_id
                stopped = await client.push(lambda m: m.get("event") == "transaction.stopped")
                data = stopped["data"]
                assert data["transactionId"] == tx and data["stationId"] == "fora072" and data["connectorId"] == 2
                assert data["reason"] == "Remote" and data["energy"] == 1500 and ISO_MS.match(data["stopTime"])
                assert isinstance(data["duration"], int | float)
                assert data["correlationId"] == stop_correlation
                await synced(stack, stopped)
                sessions = await client.result("getMySessions")
                assert sessions[0]["transactionId"] == tx and sessions[0]["status"] == "completed"
                assert sessions[0]["energy"] == 1500 and ISO_MS.match(sessions[0]["stopTime"])

                pong = await client.request("ping", request_id="ping-001")
                assert pong["id"] == "ping-001" and pong["result"]["pong"] is True
                assert isinstance(pong["result"]["ts"], int)
            disconnected = await client.push(lambda m: m.get("event") == "station.disconnected")
            assert disconnected["data"]["stationId"] == "fora072"
