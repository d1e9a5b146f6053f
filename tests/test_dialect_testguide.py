"""The test guide's commands (specs/websocket-charging-flow-test-guide.md) on the ``?token=``
socket over real sockets, both log engines: the "Complete Test Script" and the wscat session
run literally, every action, the documented error forms, cross-user attempts."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from test_dialect_support import dialect_stack, domain_event, meter_station, push_client, station_ready, token

ISO_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUIDISH = re.compile(r"^corr-[0-9a-f-]{36}$")


async def test_complete_test_script(log, settings):
    """The guide's "Complete Test Script": on open send start_charging {CP001, 1}; on its
    response wait 5 seconds and send stop_charging {CP001}; on that response close. Every
    message received is checked for the documented shape."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP001") as cp:
        await station_ready(stack, "CP001", 2)
        async with push_client(stack, token(settings, "guide-user")) as ws:
            await ws.send(json.dumps({"action": "start_charging", "data": {"charger_id": "CP001", "connector_id": 1}}))
            received: list[dict] = []
            while True:
                message = await ws.next()
                received.append(message)
                assert ISO_S.match(message["timestamp"]), message
                if message["type"] == "response" and message["action"] == "start_charging":
                    start = message
                    await asyncio.sleep(5)  # the script's setTimeout(…, 5000): part of the flow, not a sync
                    await ws.send(json.dumps({"action": "stop_charging", "data": {"charger_id": "CP001"}}))
                if message["type"] == "response" and message["action"] == "stop_charging":
                    stop = message
                    break
            assert received[0]["type"] == "connected"                     # "Expected Flow" step 1
            tid = await cp.started.get()
            assert start["data"] == {"success": True, "session_id": tid, "transaction_id": tid, "charger_id": "CP001",
                                     "connector_id": 1, "status": "initiated", "message_id": start["data"]["message_id"],
                                     "message": "Charging session started"}
            assert UUIDISH.match(start["data"]["message_id"])
            data = stop["data"]
            assert data["success"] is True and data["session_id"] == tid and data["transaction_id"] == tid
            assert UUIDISH.match(data["message_id"]) and data["message_id"] != start["data"]["message_id"]
            assert data["energy_delivered"] == 1.5 and isinstance(data["duration"], int) and data["duration"] >= 5
            assert {m["type"] for m in received} >= {"connected", "charger_list_update", "active_session_update",
                                                     "session_update", "response"}


async def test_wscat_session_and_every_action(log, settings):
    """The wscat lines (start then stop with charger_id), stop without charger_id (the user's
    active session), get_charger_status, get_active_session with and without a session,
    list_chargers — also on /ws?token=."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP001", connectors=2):
        await station_ready(stack, "CP001", 2)
        async with push_client(stack, token(settings, "w1"), path="/ws") as ws:
            await ws.send('{"action":"get_active_session","data":{}}')
            none = await ws.response("get_active_session")
            assert none["data"] == {"success": True, "has_active_session": False, "session": None}
            await ws.send('{"action":"start_charging","data":{"charger_id":"CP001","connector_id":1}}')
            tid = (await ws.response("start_charging"))["data"]["transaction_id"]
            await ws.send('{"action":"get_active_session","data":{}}')
            active = await ws.response("get_active_session")
            assert active["data"]["has_active_session"] is True
            session = active["data"]["session"]
            assert session["session_id"] == tid and session["charger_id"] == "CP001" and session["status"] == "active"
            assert session["connector_id"] == 1 and session["station_id"] == "CP001"
            await station_ready(stack, "CP001", 1, "Charging")
            await ws.send({"action": "get_charger_status", "data": {"charger_id": "CP001"}})
            status = (await ws.response("get_charger_status"))["data"]
            assert status["success"] is True and status["charger_id"] == "CP001" and status["online"] is True
            assert status["status"] == "available" and status["display"] == "1/2"
            assert status["connector_status"] == [{"connector_id": 1, "status": "Charging"},
                                                  {"connector_id": 2, "status": "Available"}]
            assert status["total_connectors"] == 2 and status["connectors_in_use"] == 1
            await ws.send({"action": "list_chargers", "data": {}})
            chargers = (await ws.response("list_chargers"))["data"]
            assert chargers["success"] is True
            assert chargers["chargers"][0]["chargers"][0]["charger_id"] == "CP001"
            await ws.send('{"action":"stop_charging","data":{}}')                  # no charger_id: the active one
            stopped = (await ws.response("stop_charging"))["data"]
            assert stopped["success"] is True and stopped["transaction_id"] == tid
            await domain_event(stack, lambda e: e.type == "connector.status.changed"   # busy until Available
                               and e.payload.get("connectorId") == 1 and e.payload.get("status") == "Available"
                               and e.payload.get("previousStatus") == "Charging")
            await ws.send('{"action":"start_charging","data":{"charger_id":"CP001"}}')   # connector_id default 1
            second = (await ws.response("start_charging"))["data"]
            assert second.get("connector_id") == 1, second
            await ws.send('{"action":"stop_charging","data":{"charger_id":"CP001"}}')
            assert (await ws.response("stop_charging"))["data"]["transaction_id"] == second["transaction_id"]


async def test_error_forms_and_cross_user(log, settings):
    """{"type": "error"} for malformed messages; {"type": "response", data: {success: false,
    error}} for an unknown action, missing or bad fields, an unknown charger, nothing to stop,
    another user's session, a refused start and an offline charger."""
    async with dialect_stack(log, settings) as stack:
        async with meter_station(stack, "CP001", connectors=2) as cp:
            await station_ready(stack, "CP001", 2)
            async with push_client(stack, token(settings, "alice")) as alice, \
                    push_client(stack, token(settings, "bob")) as bob:
                await alice.send("{oops")
                assert (await alice.of_type("error"))["message"] == "Invalid message format"
                await alice.send({"action": "fly_to_moon", "data": {}})
                unknown = await alice.response("fly_to_moon")
                assert unknown["data"]["success"] is False and unknown["data"]["error"] == "Unknown action: fly_to_moon"
                cases = [("start_charging", {}, "Invalid request"),
                         ("start_charging", {"charger_id": 7}, "Invalid request"),
                         ("start_charging", {"charger_id": "CP001", "connector_id": -1}, "Invalid request"),
                         ("start_charging", {"charger_id": "NOPE"}, "Charger not found"),
                         ("get_charger_status", {}, "Invalid request"),
                         ("get_charger_status", {"charger_id": "NOPE"}, "Charger not found"),
                         ("stop_charging", {}, "No active session"),
                         ("stop_charging", {"charger_id": "CP001"}, "No active session")]
                for action, data, error in cases:
                    await alice.send({"action": action, "data": data})
                    reply = await alice.response(action)
                    assert reply["data"]["success"] is False and reply["data"]["error"] == error, (action, data)
                    assert reply["data"]["message"]
                await alice.send({"action": "start_charging", "data": {"charger_id": "CP001", "connector_id": 1}})
                tid = (await alice.response("start_charging"))["data"]["transaction_id"]
                await bob.send({"action": "stop_charging", "data": {"charger_id": "CP001"}})
                assert (await bob.response("stop_charging"))["data"]["error"] == "No active session"
                await bob.send({"action": "get_active_session", "data": {}})
                assert (await bob.response("get_active_session"))["data"]["has_active_session"] is False
                assert not any(m["type"] == "session_update" for m in bob.seen)
                cp.answer = "Rejected"
                await alice.send({"action": "start_charging", "data": {"charger_id": "CP001", "connector_id": 2}})
                refused = await alice.response("start_charging")
                assert refused["data"] == {"success": False, "error": "Charger not available",
                                           "message": "The requested charger is currently unavailable",
                                           "message_id": refused["data"]["message_id"]}
                cp.answer = "Accepted"
                await alice.send({"action": "stop_charging", "data": {"charger_id": "CP001"}})
                assert (await alice.response("stop_charging"))["data"]["transaction_id"] == tid
        await domain_event(stack, lambda e: e.type == "station.disconnected" and e.chargePointId == "CP001")
        async with push_client(stack, token(settings, "alice")) as alice:
            await alice.send({"action": "start_charging", "data": {"charger_id": "CP001"}})
            offline = await alice.response("start_charging")
            assert offline["data"]["success"] is False and offline["data"]["error"] == "Charger not available"


@pytest.mark.parametrize("engine", ["embedded"], indirect=True)
async def test_command_rate_limit(log, settings):
    """More than charging_messages_per_min commands per minute per user → {"type": "error",
    "message": "Rate limit exceeded"}."""
    async with dialect_stack(log, settings, charging_messages_per_min=2) as stack:
        async with push_client(stack, token(settings, "r")) as ws:
            for _ in range(2):
                await ws.send({"action": "list_chargers", "data": {}})
                await ws.response("list_chargers")
            await ws.send({"action": "list_chargers", "data": {}})
            assert (await ws.of_type("error"))["message"] == "Rate limit exceeded"


async def test_browser_console_snippet(log, settings):
    """"Using Browser Console": start on open, and 5 s after *every* message received a
    stop_charging {CP001}. The session is stopped; the extra stops are answered too (success
    for the same transaction while it is still being stopped, else "No active session") and
    the socket stays usable. Bounded here to the stops scheduled before the first stop's
    response (the snippet itself never ends)."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP001") as cp:
        await station_ready(stack, "CP001", 2)
        async with push_client(stack, token(settings, "browser")) as ws:
            timers: list[asyncio.Task] = []

            async def later() -> None:
                await asyncio.sleep(5)  # the snippet's setTimeout(…, 5000)
                await ws.send(json.dumps({"action": "stop_charging", "data": {"charger_id": "CP001"}}))

            await ws.send(json.dumps({"action": "start_charging", "data": {"charger_id": "CP001", "connector_id": 1}}))
            stops: list[dict] = []
            while not stops:
                message = await ws.next()
                if message["type"] == "response" and message["action"] == "stop_charging":
                    stops.append(message)
                else:
                    timers.append(asyncio.create_task(later()))
            await asyncio.gather(*timers)
            tid = await cp.started.get()
            for _ in range(len(timers) - 1):
                stops.append(await ws.response("stop_charging"))
            assert any(s["data"]["success"] and s["data"]["transaction_id"] == tid for s in stops)
            assert all(s["data"]["success"] or s["data"]["error"] == "No active session" for s in stops)
            await ws.send({"action": "get_active_session", "data": {}})
            assert (await ws.response("get_active_session"))["data"]["has_active_session"] is False
