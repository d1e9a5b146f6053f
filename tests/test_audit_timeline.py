"""``chargelog audit`` and ``GET /api/audit/…`` (adapters/audit/timeline.py, domain/audit.py)
through the whole stack on both engines: a real station charges for alice by remote start
and stop while another user charges on the same charge point's other connector; the
transaction's timeline holds alice's commands, the CALLs sent, the station's frames with
their raw text, the derived domain events — and nothing of the other session; the command's
timeline holds the command, its CALL, the answer and its outcome; the HTTP endpoint pages the
same entries and needs the ``audit`` scope."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from ocpp.v16 import call

from chargelog.adapters.config import Settings
from chargelog.domain.log import EventLog

from processes import chargelog_cmd
from test_api_support import TIMEOUT_S, api_stack, mobile, now_iso, synced, test_station


async def audit_cli(settings: Settings, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *chargelog_cmd("audit", *args[:2], "--log", settings.log, "--data-dir", str(settings.data_dir),
                       "--topic-prefix", settings.topic_prefix, *args[2:]),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode or 0, out.decode()


def kinds(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['stream']}:{e['summary']}" for e in entries]


async def test_a_transactions_whole_story_in_one_command_and_one_http_call(log: EventLog, settings: Settings) -> None:
    async with api_stack(log, settings) as stack:
        async with mobile(stack, stack.key("alice")) as alice, mobile(stack, stack.key("bob")) as bob:
            # subscribed before the station boots, so its connectors' first status is pushed
            await alice.result("subscribe", {"events": ["all"]})
            await bob.result("subscribe", {"events": ["all"]})
            async with test_station(stack, "CP-AUD") as cp:
                status = await alice.push(lambda m: m.get("event") == "connector.status.changed"
                                          and m["data"]["connectorId"] == 2)
                await synced(stack, status)
                start = await alice.result("startCharging", {"stationId": "CP-AUD", "connectorId": 1})
                started = await alice.push(lambda m: m.get("event") == "transaction.started")
                tx = started["data"]["transactionId"]
                await bob.result("startCharging", {"stationId": "CP-AUD", "connectorId": 2})
                other = (await bob.push(lambda m: m.get("event") == "transaction.started"))["data"]["transactionId"]
                for wh, other_wh in ((1500, 9100), (2200, 9900)):
                    for connector, transaction, register in ((1, tx, wh), (2, other, other_wh)):
                        await cp.call(call.MeterValues(connector_id=connector, transaction_id=transaction, meter_value=[
                            {"timestamp": now_iso(), "sampledValue": [
                                {"value": str(register), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
                await alice.result("stopCharging", {"transactionId": tx})
                stopped = await alice.push(lambda m: m.get("event") == "transaction.stopped")
                await synced(stack, stopped)

            code, out = await audit_cli(settings, "transaction", str(tx), "--format", "json")
            assert code == 0
            timeline = json.loads(out)
            entries = timeline["entries"]
            assert timeline["chargePointId"] == "CP-AUD"
            story = kinds(entries)
            expected = ["source:command.requested RemoteStartTransaction", "source:CALL out RemoteStartTransaction",
                        "source:CALLRESULT in RemoteStartTransaction", "source:CALL in StartTransaction",
                        "source:CALLRESULT out StartTransaction", "domain:transaction.started",
                        "source:CALL in MeterValues", "source:command.requested RemoteStopTransaction",
                        "source:CALL out RemoteStopTransaction", "source:CALL in StopTransaction",
                        "domain:transaction.stopped"]
            firsts = [next((i for i, s in enumerate(story) if s.startswith(x)), None) for x in expected]
            assert None not in firsts, list(zip(expected, firsts, strict=True))
            assert firsts == sorted(firsts), story  # in the order it happened
            # log order, and every one with where, who and why
            assert [e["recordedAt"] for e in entries] == sorted(e["recordedAt"] for e in entries)
            assert all(e["position"] and e["link"] and e["eventId"] for e in entries)
            requested = next(e for e in entries if e["type"] == "command.requested")
            assert requested["principal"] == {"kind": "user", "id": "alice"}
            assert requested["correlationId"] == start["correlationId"]
            start_call = next(e for e in entries if e["summary"] == "CALL in StartTransaction")
            assert json.loads(start_call["raw"])[2] == "StartTransaction"
            assert sum(e["summary"] == "CALL in MeterValues" for e in entries) == 2
            assert any(e["type"] == "meter.update" and e["payload"]["energyWh"] == 1200 for e in entries)
            # nothing of bob's session on connector 2
            assert not any(e["payload"].get("transactionId") == other for e in entries)
            assert not any((e["payload"].get("payload") or {}).get("connectorId") == 2 for e in entries
                           if e["type"] == "ocpp.frame")

            code, table = await audit_cli(settings, "transaction", str(tx))
            assert code == 0 and "StartTransaction" in table and "transaction.stopped" in table
            code, out = await audit_cli(settings, "command", start["correlationId"], "--format", "json")
            command = kinds(json.loads(out)["entries"])
            for x in ("source:command.requested RemoteStartTransaction", "source:CALL out RemoteStartTransaction",
                      "source:CALLRESULT in RemoteStartTransaction", "domain:command.accepted",
                      "domain:transaction.started"):
                assert any(s.startswith(x) for s in command), (x, command)
            assert not any("RemoteStopTransaction" in s for s in command)
            code, _ = await audit_cli(settings, "transaction", "999999", "--format", "json")
            assert code == 1

            auditor = {"X-API-Key": stack.key("auditor", "audit")}
            async with httpx.AsyncClient(base_url=stack.http_url, timeout=TIMEOUT_S) as http:
                pages, cursor, requests = [], None, 0
                while True:
                    requests += 1
                    params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
                    response = await http.get(f"/api/audit/transactions/{tx}", params=params, headers=auditor)
                    assert response.status_code == 200, response.text
                    body = response.json()
                    assert body["total"] == len(entries)
                    pages.extend(body["entries"])
                    cursor = body["next"]
                    if cursor is None:
                        break
                assert [e["eventId"] for e in pages] == [e["eventId"] for e in entries]
                assert requests == -(-len(entries) // 10) > 1
                response = await http.get(f"/api/audit/commands/{start['correlationId']}", headers=auditor)
                assert response.status_code == 200 and kinds(response.json()["entries"]) == command
                response = await http.get("/api/audit/charge-points/CP-AUD", headers=auditor,
                                          params={"since": entries[0]["recordedAt"], "limit": "1000"})
                assert response.status_code == 200
                assert {e["eventId"] for e in entries} <= {e["eventId"] for e in response.json()["entries"]}
                assert (await http.get("/api/audit/transactions/999999", headers=auditor)).status_code == 404
                assert (await http.get(f"/api/audit/transactions/{tx}", params={"limit": "0"},
                                       headers=auditor)).status_code == 400
                user = {"X-API-Key": stack.key("carol")}
                assert (await http.get(f"/api/audit/transactions/{tx}", headers=user)).status_code == 403
                assert (await http.get(f"/api/audit/transactions/{tx}")).status_code == 401
