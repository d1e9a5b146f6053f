"""The client documents' own example flows, literally, on a fresh install, and the rules they
imply (docs/api.md "Id tags", "Resuming"; docs/dialects.md "Bad input"), over real sockets
on both log engines: the Mobile smoke test (mobile-websocket-api.md section 11), idTag
ownership, getEventsSince on the log's clock, integer units, stop-reason vocabularies,
Heartbeat → ``station.last_seen``, ``/health`` counts, reply ids, and every dialect
answering any text (invalid JSON, nesting ≥ 1,000 deep, lone surrogates) in its own error
form without dropping the connection."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from ocpp.v16 import call

from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import DOMAIN, SOURCE
from chargelog.domain.registry import IdTag, id_tag_upserted
from test_api_support import TIMEOUT_S, api_stack, mobile, now_iso, synced, test_station
from test_dialect_support import ClientError, charging_client, dialect_stack, iso_now, push_client, station_ready, token

SCOPES = ["read:stations", "write:charging"]
DEEP = "[" * 1000 + "]" * 1000
SURROGATE = "\\ud800"  # a lone high surrogate as a JSON escape


async def test_mobile_smoke_test_literally(log, settings):
    """Section 11, message for message, with the document's test key and idTag
    ``MOBILE_TEST_USER`` that nobody registered: the session is the caller's, the tag stays
    unbound; W, Wh and s are whole numbers; the stop reason is OCPP's ``Remote`` (7.3)."""
    async with api_stack(log, settings) as stack:
        stack.apikeys.create("tester", SCOPES, key="test-mobile-key-123")   # 2.4: "create in the DB"
        async with test_station(stack, "fora072", connectors=4) as cp, \
                websockets.connect(stack.ws_url) as ws:
            await station_ready(stack, "fora072", 2)   # the smoke test's precondition: the station is up
            async def send(message: dict) -> None:
                await ws.send(json.dumps(message))

            async def until(predicate) -> dict:
                async def find() -> dict:
                    while True:
                        message = json.loads(await ws.recv())
                        if predicate(message):
                            assert "error" not in message, message
                            return message
                return await asyncio.wait_for(find(), TIMEOUT_S)

            await send({"id": "auth-001", "action": "auth", "params": {"apiKey": "test-mobile-key-123"}})
            assert (await until(lambda m: m.get("id") == "auth-001"))["result"]["status"] == "ok"
            await send({"id": "sub-001", "action": "subscribe", "params": {"events": ["all"]}})
            await until(lambda m: m.get("id") == "sub-001")
            await send({"id": "get-001", "action": "getStations"})
            stations = (await until(lambda m: m.get("id") == "get-001"))["result"]
            assert [s["id"] for s in stations] == ["fora072"]
            await send({"id": "start-001", "action": "startCharging",
                        "params": {"stationId": "fora072", "connectorId": 2, "idTag": "MOBILE_TEST_USER"}})
            pending = await until(lambda m: m.get("id") == "start-001")
            assert pending["result"]["status"] == "pending", pending
            started = await until(lambda m: m.get("event") == "transaction.started")
            assert started["data"]["correlationId"] == pending["result"]["correlationId"]
            assert started["data"]["idTag"] == "MOBILE_TEST_USER" and started["data"]["connectorId"] == 2
            transaction_id = started["data"]["transactionId"]
            assert transaction_id == await cp.started.get()
            await cp.call(call.MeterValues(connector_id=2, transaction_id=transaction_id, meter_value=[{
                "timestamp": now_iso(), "sampledValue": [
                    {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                    {"value": "7.4", "measurand": "Power.Active.Import", "unit": "kW"}]}]))
            meter = await until(lambda m: m.get("event") == "meter.update")
            assert meter["data"]["power"] == 7400 and type(meter["data"]["power"]) is int    # 7.4: "power": 50000
            assert meter["data"]["energy"] == 1500 and type(meter["data"]["energy"]) is int
            await send({"id": "status-001", "action": "getConnectorStatus",
                        "params": {"stationId": "fora072", "connectorId": 2}})
            status = (await until(lambda m: m.get("id") == "status-001"))["result"]
            assert status["transactionId"] == transaction_id and type(status["power"]) is int
            await send({"id": "stop-001", "action": "stopCharging", "params": {"transactionId": transaction_id}})
            assert (await until(lambda m: m.get("id") == "stop-001"))["result"]["status"] == "pending"
            stopped = await until(lambda m: m.get("event") == "transaction.stopped")
            assert stopped["data"]["reason"] == "Remote" and type(stopped["data"]["duration"]) is int
            await send({"id": "ping-001", "action": "ping"})
            assert (await until(lambda m: m.get("id") == "ping-001"))["result"]["pong"] is True
            await synced(stack, stopped)
        # the session belongs to the requesting principal; the tag is bound to nobody
        sessions = await stack.worker.read_models.session_history("tester", 10, 0)
        assert [(s.transactionId, s.idTag) for s in sessions] == [(transaction_id, "MOBILE_TEST_USER")]
        assert stack.worker.registry.lookup("MOBILE_TEST_USER") is None


async def test_id_tag_registered_to_another_user_is_refused(log, settings):
    """accept-all: a tag registered to someone else → 403 (Mobile) / INVALID_REQUEST
    (Charging); the caller's own registered tag works."""
    await log.append(SOURCE, [id_tag_upserted(IdTag(idTag="CARD-ALICE", userId="alice")),
                              id_tag_upserted(IdTag(idTag="CARD-BOB", userId="bob"))])
    async with dialect_stack(log, settings) as stack, test_station(stack, "CP-TAG") as cp:
        await stack.worker.registry.wait_until(lambda r: r.id_tag("CARD-BOB") is not None, TIMEOUT_S)
        await station_ready(stack, "CP-TAG", 1)
        async with mobile(stack, stack.key("bob")) as bob:
            refused = await bob.request("startCharging", {"stationId": "CP-TAG", "connectorId": 1,
                                                          "idTag": "CARD-ALICE"})
            assert refused["error"]["code"] == 403
            own = await bob.request("startCharging", {"stationId": "CP-TAG", "connectorId": 1, "idTag": "CARD-BOB"})
            assert own["result"]["status"] == "pending"
            assert await cp.started.get()
        async with charging_client(stack, token(settings, "bob")) as client:
            with pytest.raises(ClientError) as refused_too:
                await client.start_charging("CP-TAG", 2, "CARD-ALICE")
            assert refused_too.value.code == "INVALID_REQUEST"


async def test_registry_policy_refuses_unknown_tags(log, settings):
    async with dialect_stack(log, settings, id_tag_policy="registry") as stack, test_station(stack, "CP-REG"):
        await station_ready(stack, "CP-REG", 1)  # on the map: the refusal is about the tag, not the station
        async with mobile(stack, stack.key("u1")) as client:
            refused = await client.request("startCharging", {"stationId": "CP-REG", "connectorId": 1,
                                                             "idTag": "MOBILE_TEST_USER"})
            assert refused["error"]["code"] == 403


class AheadStation:
    """StatusNotifications from a charge point whose clock runs 2 minutes ahead."""

    @staticmethod
    def timestamp() -> str:
        from datetime import UTC, datetime, timedelta

        return (datetime.now(UTC) + timedelta(minutes=2)).isoformat().replace("+00:00", "Z")


async def test_events_since_is_on_the_logs_clock(log, settings):
    """A station 2 min ahead: resuming with the last push's ``timestamp`` (the log's clock)
    returns exactly the events after it; ``data.timestamp`` keeps the charge point's time."""
    async with api_stack(log, settings) as stack, mobile(stack, stack.key("u1")) as client:
        await client.result("subscribe", {"events": ["connector.status.changed"]})
        async with test_station(stack, "CP-AHEAD", connectors=1) as cp:
            last = await client.push(lambda m: m.get("event") == "connector.status.changed")
            for status in ("Preparing", "Available"):
                await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status,
                                                      timestamp=AheadStation.timestamp()))
            missed = [await client.push(lambda m: m.get("event") == "connector.status.changed") for _ in range(2)]
        page = await client.result("getEventsSince", {"since": last["timestamp"], "limit": 100,
                                                      "stationId": "CP-AHEAD", "events": ["connector.status.changed"]})
        assert [e["eventId"] for e in page["events"]] == [m["eventId"] for m in missed], (last, missed, page)
        assert [e["timestamp"] for e in page["events"]] == [m["timestamp"] for m in missed]
        assert all(e["data"]["timestamp"] > e["timestamp"] for e in page["events"])   # the station's clock
        assert page["hasMore"] is False


async def test_paging_by_timestamp_or_position_terminates(log, settings):
    """8 events appended at once (often one millisecond), limit 2: passing back the last
    event's timestamp — or the page's position — returns each event exactly once and ends."""
    async with api_stack(log, settings, gateway=False) as stack, mobile(stack, stack.key("u1")) as client:
        marker = Event(type="station.connected", chargePointId="CP-P0", source=Source.SYSTEM,
                       payload={"chargePointId": "CP-P0", "at": iso_now()})
        await log.append(DOMAIN, [marker])
        first = await client.result("getEventsSince", {"since": "0-0", "limit": 1000})
        since = next(e["timestamp"] for e in first["events"] if e["eventId"] == marker.eventId)
        batch = [Event(type="station.connected", chargePointId=f"CP-P{i}", source=Source.SYSTEM,
                       payload={"chargePointId": f"CP-P{i}", "at": iso_now()}) for i in range(1, 9)]
        await log.append(DOMAIN, batch)
        for key in ("timestamp", "position"):
            got, cursor, pages = [], since if key == "timestamp" else first["position"], 0
            while True:
                pages += 1
                assert pages <= 8, got
                page = await client.result("getEventsSince", {"since": cursor, "limit": 2})
                got.extend(e["eventId"] for e in page["events"])
                if not page["hasMore"]:
                    break
                cursor = page["events"][-1]["timestamp"] if key == "timestamp" else page["position"]
            assert sorted(got) == sorted(e.eventId for e in batch), key


async def test_heartbeat_moves_last_activity_and_publishes_last_seen(log, settings):
    """A Heartbeat → ``station.last_seen`` to the station's subscribers and the map's
    ``lastActivity``; a second one at once is throttled (no event)."""
    async with api_stack(log, settings) as stack, mobile(stack, stack.key("u1")) as client:
        await client.result("subscribe", {"events": ["station.last_seen", "connector.status.changed"]})
        async with test_station(stack, "CP-HB", connectors=1) as cp:
            await client.push(lambda m: m.get("event") == "connector.status.changed")
            await cp.call(call.Heartbeat())
            seen = await client.push(lambda m: m.get("event") == "station.last_seen")
            assert seen["data"]["stationId"] == "CP-HB"
            await synced(stack, seen)
            station = next(s for s in await client.result("getStations") if s["id"] == "CP-HB")
            assert station["lastActivity"] == seen["data"]["timestamp"]
            await cp.call(call.Heartbeat())
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
            after = await client.push(lambda m: True)
            assert after["event"] == "connector.status.changed"        # no second last_seen in between


async def test_health_counts_mobile_sockets_and_ids_come_back_as_sent(log, settings):
    async with api_stack(log, settings, gateway=False, api_max_message_bytes=1024) as stack, \
            httpx.AsyncClient(base_url=stack.http_url) as http:
        async with mobile(stack, stack.key("u1")) as client:
            websocket = (await http.get("/health")).json()["websocket"]
            assert (websocket["totalConnections"], websocket["authenticatedConnections"]) == (1, 1)
            await client.send_raw(json.dumps({"id": True, "action": "ping"}))
            assert (await client.push())["id"] is True
            await client.send_raw(json.dumps({"id": "big", "action": "ping", "params": {"pad": "x" * 2000}}))
            too_big = await client.push()
            assert too_big["id"] == "big" and too_big["error"]["code"] == 400
        websocket = (await http.get("/health")).json()["websocket"]
        assert websocket["totalConnections"] == 0


async def test_malformed_first_message_is_answered_in_the_dialects_form(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        async with websockets.connect(stack.ws_url) as ws:
            await ws.send('{"id": "auth-001", "action": "auth", "params": {')
            error = json.loads(await ws.recv())
            assert error["id"] is None and error["error"]["code"] == 400
            await ws.send(json.dumps({"id": "auth-002", "action": "auth", "params": {"apiKey": stack.key("u1")}}))
            assert json.loads(await ws.recv())["result"]["status"] == "ok"
        async with websockets.connect(stack.ws_url) as ws:
            await ws.send('{"id": "1", "type": "auth_request", "timestamp": ')
            error = json.loads(await ws.recv())
            assert error["type"] == "error" and error["error"]["code"] == "INVALID_REQUEST"
            await ws.send(json.dumps({"id": "2", "type": "auth_request", "timestamp": iso_now(),
                                      "data": {"token": token(settings, "u1")}}))
            assert json.loads(await ws.recv())["data"]["success"] is True


@pytest.mark.parametrize("bad", ["{not json", '{"id": "d1", "action": "ping", "params": {"x": ' + DEEP + "}}",
                                 '{"id": "s1", "action": "auth", "params": {"apiKey": "' + SURROGATE + '"}}', DEEP])
async def test_mobile_answers_any_text(log, settings, bad):
    async with api_stack(log, settings, gateway=False) as stack, mobile(stack, stack.key("u1")) as client:
        await client.send_raw(bad)
        assert (await client.push())["error"]["code"] == 400
        assert (await client.result("ping"))["pong"] is True
        async with websockets.connect(stack.ws_url) as ws:   # also as the very first message
            await ws.send(bad)
            assert json.loads(await ws.recv())["error"]["code"] == 400


async def test_charging_api_answers_any_text(log, settings):
    async with dialect_stack(log, settings) as stack, charging_client(stack, token(settings, "u1")) as client:
        for bad in ("{not json", DEEP, '{"id": "x", "type": "heartbeat", "timestamp": "' + iso_now()
                    + '", "data": {"x": ' + DEEP + "}}",
                    '{"id": "a", "type": "auth_request", "timestamp": "' + iso_now() + '", "data": {"token": "'
                    + SURROGATE + '"}}'):
            await client.send_raw(bad)
            error = await client.update(lambda m: m["type"] == "error")
            assert error["error"]["code"] == "INVALID_REQUEST", bad
        beat = await client.send_message("heartbeat", {})
        assert beat["type"] == "heartbeat"


async def test_test_guide_socket_answers_any_text(log, settings):
    async with dialect_stack(log, settings) as stack, push_client(stack, token(settings, "u1")) as ws:
        await ws.of_type("active_session_update")
        for bad in ("{not json", DEEP, '{"action": "list_chargers", "data": {"x": ' + DEEP + "}}",
                    '{"action": "start_charging", "data": {"charger_id": "' + SURROGATE + '"}}'):
            await ws.send(bad)
            error = await ws.next(lambda m: m["type"] == "error")
            assert error["message"] == "Invalid message format", bad
        await ws.send({"action": "list_chargers", "data": {}})
        assert (await ws.response("list_chargers"))["data"]["success"] is True
