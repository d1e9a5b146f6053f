"""Commands and user isolation through the whole stack (real gateway + ocpp.v16 station):
a refusal, an offline station and a timeout each come back as an error push with the
command's correlationId; one user cannot stop, read or watch another's session, nor start
on another's idTag; ``command.requested`` is durable before ``pending`` and carries the user,
never the key. Both log engines."""

from __future__ import annotations

import asyncio
import contextlib

from ocpp.routing import on
from ocpp.v16.enums import Action

from chargelog.domain.log import SOURCE
from chargelog.domain.registry import IdTag, id_tag_upserted

from test_api_support import TIMEOUT_S, TestStation, api_stack, mobile, synced, test_station


async def test_refused_offline_and_timeout_are_error_pushes(log, settings):
    async with api_stack(log, settings, command_timeout_s=1.0) as stack:
        key = stack.key("u1")
        async with mobile(stack, key) as client:
            await client.result("subscribe", {"events": ["all"]})
            async with test_station(stack, "CP-REF") as cp:
                status = await client.push(lambda m: m.get("event") == "connector.status.changed"
                                           and m["data"]["connectorId"] == 2)
                await synced(stack, status)
                cp.answer = "Rejected"
                pending = await client.request("startCharging", {"stationId": "CP-REF", "connectorId": 1},
                                               request_id="start-1")
                correlation_id = pending["result"]["correlationId"]
                error = await client.push(lambda m: "error" in m)
                assert error["id"] == "start-1"
                assert error["error"]["code"] == 403 and error["error"]["reason"] == "rejected"
                assert error["error"]["correlationId"] == correlation_id

                # a station that never answers: the gateway times the CALL out
                never = asyncio.Event()

                @on(Action.remote_start_transaction)
                async def silent(**_):
                    await never.wait()

                cp.route_map[Action.remote_start_transaction]["_on_action"] = silent
                pending = await client.request("startCharging", {"stationId": "CP-REF", "connectorId": 1},
                                               request_id="start-2")
                error = await client.push(lambda m: "error" in m)
                assert error["id"] == "start-2" and error["error"]["reason"] == "timeout"
                assert error["error"]["code"] == 500
                assert error["error"]["correlationId"] == pending["result"]["correlationId"]
                never.set()
            gone = await client.push(lambda m: m.get("event") == "station.disconnected")
            await synced(stack, gone)
            pending = await client.request("startCharging", {"stationId": "CP-REF", "connectorId": 1},
                                           request_id="start-3")
            error = await client.push(lambda m: "error" in m)
            assert error["id"] == "start-3" and error["error"]["reason"] == "offline"
            assert error["error"]["code"] == 404
            assert error["error"]["correlationId"] == pending["result"]["correlationId"]


async def test_user_isolation(log, settings):
    await log.append(SOURCE, [id_tag_upserted(IdTag(idTag="ALICE-RFID", userId="alice"))])
    async with api_stack(log, settings) as stack:
        alice_key, bob_key = stack.key("alice"), stack.key("bob")
        async with mobile(stack, alice_key) as alice, mobile(stack, bob_key) as bob:
            await bob.result("subscribe", {"events": ["all"]})
            async with test_station(stack, "CP-ISO") as cp:
                status = await bob.push(lambda m: m.get("event") == "connector.status.changed"
                                        and m["data"]["connectorId"] == 2)
                await synced(stack, status)
                # bob may not start on alice's (registered) tag
                refused = await bob.request("startCharging", {"stationId": "CP-ISO", "connectorId": 1,
                                                              "idTag": "ALICE-RFID"})
                assert refused["error"]["code"] == 403
                pending = await alice.result("startCharging", {"stationId": "CP-ISO", "connectorId": 1})
                started = await alice.push(lambda m: m.get("event") == "transaction.started")
                assert started["data"]["correlationId"] == pending["correlationId"]
                assert started["data"]["idTag"] == "ALICE-RFID"  # her registered tag is her default
                tx = started["data"]["transactionId"]
                # bob sees the public connector change but not alice's transaction
                charging = await bob.push(lambda m: m.get("event") == "connector.status.changed"
                                          and m["data"]["status"] == "Charging")
                await synced(stack, charging)
                assert (await bob.request("stopCharging", {"transactionId": tx}))["error"]["code"] == 403
                by_place = await bob.request("stopCharging", {"stationId": "CP-ISO", "connectorId": 1})
                assert by_place["error"]["code"] == 403
                assert await bob.result("getMySessions") == []
                status = await bob.result("getConnectorStatus", {"stationId": "CP-ISO", "connectorId": 1})
                assert status["status"] == "Charging" and status["energy"] is None and status["power"] is None
                mine = await alice.result("getConnectorStatus", {"stationId": "CP-ISO", "connectorId": 1})
                assert mine["energy"] == 0 and mine["transactionId"] == tx
                history = await bob.result("getEventsSince", {"since": "0-0", "limit": 1000})
                assert not any(e["eventType"].startswith("transaction.") for e in history["events"])
                assert any(e["eventType"] == "connector.status.changed" for e in history["events"])
                own = await alice.result("getEventsSince", {"since": "0-0", "limit": 1000})
                assert [e["data"]["transactionId"] for e in own["events"]
                        if e["eventType"] == "transaction.started"] == [tx]
                # alice stops her own by station + connector
                await alice.result("stopCharging", {"stationId": "CP-ISO", "connectorId": 1})
                stopped = await alice.push(lambda m: m.get("event") == "transaction.stopped")
                assert stopped["data"]["transactionId"] == tx
                available = await bob.push(lambda m: m.get("event") == "connector.status.changed"
                                           and m["data"]["status"] == "Available" and m["data"]["connectorId"] == 1)
            assert available
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    leaked = bob.pushes.get_nowait()
                    assert not leaked.get("event", "").startswith(("transaction.", "meter.")), leaked
        # the command is in the log with the user as principal, never the key
        requested = [r.event for r in await log.read(SOURCE) if r.event.type == "command.requested"]
        assert {(e.principal.kind, e.principal.id) for e in requested} == {("user", "alice")}
        assert all(alice_key not in e.encode().decode() for e in requested)


async def test_pending_only_after_command_is_durable(log, settings):
    async with api_stack(log, settings) as stack:
        async with mobile(stack, stack.key("u1")) as client, test_station(stack, "CP-DUR", connectors=1):
            sub = await client.result("subscribe", {"events": ["connector.status.changed", "transaction.started"]})
            if not any(st["id"] == "CP-DUR" and st["connectors"] for st in sub["snapshot"]["stations"]):
                status = await client.push(lambda m: m.get("event") == "connector.status.changed"
                                           and m["data"]["stationId"] == "CP-DUR")
                await synced(stack, status)  # else the snapshot (read models) already has it
            pending = await client.result("startCharging", {"stationId": "CP-DUR", "connectorId": 1})
            requested = [r.event for r in await log.read(SOURCE)
                         if r.event.type == "command.requested" and r.event.correlationId == pending["correlationId"]]
            assert len(requested) == 1
            assert requested[0].payload["action"] == "RemoteStartTransaction"
            assert requested[0].payload["request"] == {"connectorId": 1, "idTag": "u1"}
            started = await client.push(lambda m: m.get("event") == "transaction.started", timeout_s=TIMEOUT_S)
            assert started["data"]["correlationId"] == pending["correlationId"]


__all__ = ["TestStation"]


async def test_registry_id_tag_is_used_and_guarded(log, settings):
    from datetime import UTC, datetime

    from chargelog.domain.envelope import Event, Source
    from chargelog.domain.log import DOMAIN
    from chargelog.domain.registry import IDTAG_UPSERTED, registry_event

    await log.append(SOURCE, [registry_event(IDTAG_UPSERTED, {"idTag": "RFID-ALICE", "userId": "alice"})])
    now = datetime.now(UTC).isoformat()
    await log.append(DOMAIN, [
        Event(type="station.connected", chargePointId="CP-TAG", source=Source.SYSTEM,
              payload={"chargePointId": "CP-TAG", "at": now}),
        Event(type="connector.status.changed", chargePointId="CP-TAG", source=Source.SYSTEM,
              payload={"chargePointId": "CP-TAG", "connectorId": 1, "status": "Available", "timestamp": now})])
    async with api_stack(log, settings, gateway=False) as stack:
        await asyncio.wait_for(stack.worker.read_models.wait_for(await log.latest(DOMAIN)), TIMEOUT_S)
        async with mobile(stack, stack.key("alice")) as alice, mobile(stack, stack.key("bob")) as bob:
            pending = await alice.result("startCharging", {"stationId": "CP-TAG", "connectorId": 1})
            explicit = await alice.result("startCharging", {"stationId": "CP-TAG", "connectorId": 1,
                                                            "idTag": "RFID-ALICE"})
            refused = await bob.request("startCharging", {"stationId": "CP-TAG", "connectorId": 1,
                                                          "idTag": "RFID-ALICE"})
            assert refused["error"]["code"] == 403
        requested = {r.event.correlationId: r.event.payload["request"] for r in await log.read(SOURCE)
                     if r.event.type == "command.requested"}
        assert requested == {pending["correlationId"]: {"connectorId": 1, "idTag": "RFID-ALICE"},
                             explicit["correlationId"]: {"connectorId": 1, "idTag": "RFID-ALICE"}}
