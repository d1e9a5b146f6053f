"""The fold is total and trustworthy, over the wire: raw OCPP 1.6-J stations against
``chargelog serve`` (both engines), checked the way a user does — mobile pushes and
``getMySessions``, ``/api/stations``, ``/api/stats``, ``/health``, ``chargelog events`` and the
operator's ``chargelog command --wait``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from fold_wire_support import RawStation, create_keys, mobile, run_cli, serve_env
from processes import Server

STALE_AFTER_S = 2


@pytest.fixture(scope="module", params=["embedded", "kafka"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    env = serve_env(request.param, tmp_path_factory.mktemp(f"fold-{request.param}"),
                    CHARGELOG_TRANSACTION_STALE_AFTER_S=str(STALE_AFTER_S))
    server = Server(env).start()
    try:
        create_keys(env)
        yield server, env
    finally:
        server.stop()


def follow(env: dict[str, str], charge_point_id: str, type_: str, count: int = 1,
           stream: str = "domain") -> list[dict]:
    """The first ``count`` events of ``type_`` of one charge point, waiting until they exist."""
    out = run_cli(env, "events", "--stream", stream, "--charge-point", charge_point_id, "--type", type_,
                  "--follow", "--limit", str(count))
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def pushed(client, event: str, transaction_id: int) -> dict:
    """The next ``event`` push about ``transaction_id``."""
    return await client.push(lambda p: p["event"] == event and p["data"].get("transactionId") == transaction_id)


async def test_hostile_frames_halt_nothing_and_break_no_read_model(served):
    server, env = served
    client = await mobile(server.ws_url, "fold-a")
    async with RawStation(server.ocpp_url, "FW-HOSTILE") as station:
        await station.boot()
        for raw in ('[2,"h1","StatusNotification",{"connectorId":1,"errorCode":["x"],"status":"Available"}]',
                    '[2,"h2","StatusNotification",{"connectorId":1,"errorCode":' + str(10**30) + ',"status":"Available"}]',
                    '[2,"h3","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available",'
                    '"timestamp":"9999-99-99"}]'):
            answer = await station.send(raw)
            assert answer[0] in (3, 4)  # answered, connection kept
        await station.status(1, "Charging")
        push = await client.push(lambda p: p["event"] == "connector.status.changed"
                                 and p["data"]["stationId"] == "FW-HOSTILE")
        assert push["data"]["status"] == "Charging"  # the hostile frames derived nothing before it
    # the fold went on for everyone, and every read model still answers
    async with RawStation(server.ocpp_url, "FW-AFTER") as other:
        await other.status(1, "Available")
        await client.push(lambda p: p["event"] == "connector.status.changed" and p["data"]["stationId"] == "FW-AFTER")
    stations = {s["id"]: s for s in await client.result("getStations")}
    assert {"FW-HOSTILE", "FW-AFTER"} <= set(stations)
    token = run_cli(env, "token", "--user", "fold-a").strip()
    async with httpx.AsyncClient(base_url=server.api_url, timeout=30) as http:
        listed = await http.get("/api/stations", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        hostile = next(s for s in listed.json()["stations"] if s["chargePointId"] == "FW-HOSTILE")
        assert [c["status"] for c in hostile["connectors"]] == ["Charging"]
        assert (await http.get("/api/stats")).status_code == 200
        health = await http.get("/health")
        assert health.status_code == 200 and "quarantined" not in health.json()
    anomalies = follow(env, "FW-HOSTILE", "ocpp.anomaly", 3)
    assert all(a["payload"]["kind"] in ("rejected-call", "invalid-payload") for a in anomalies)
    assert all(a["payload"]["sourceOffset"] is not None for a in anomalies)
    await client.close()


async def test_a_call_answered_with_a_callerror_changes_no_session(served):
    server, _ = served
    client = await mobile(server.ws_url, "fold-a")
    async with RawStation(server.ocpp_url, "FW-CALLERROR") as station:
        tx = await station.start(1, "TAG-FA", 1000)
        answer = await station.meter(1, tx, 43000)  # numeric value: the 1.6 schema wants a string
        assert answer[0] == 4 and answer[2] == "TypeConstraintViolation"
        assert (await station.stop(tx, 1500))[0] == 3
        stopped = await pushed(client, "transaction.stopped", tx)
    assert stopped["data"]["energy"] == pytest.approx(500)  # Wh: meterStop − meterStart, not 43 kWh
    sessions = {s["transactionId"]: s for s in await client.result("getMySessions")}
    assert sessions[tx]["energy"] == pytest.approx(500)
    await client.close()


async def test_a_station_cannot_stop_or_meter_another_stations_session(served):
    server, env = served
    owner = await mobile(server.ws_url, "fold-a")
    async with RawStation(server.ocpp_url, "FW-OWNER") as a, RawStation(server.ocpp_url, "FW-PROBE") as b:
        tx = await a.start(1, "TAG-FA", 1000)
        await pushed(owner, "transaction.started", tx)
        stop = await b.stop(tx, 99999)
        assert stop[0] == 3  # a valid CALLRESULT: the station does not retry forever
        assert (await b.meter(1, tx, "88888"))[0] == 3
        assert (await a.meter(1, tx, "2000"))[0] == 3
        update = await pushed(owner, "meter.update", tx)
        assert update["data"]["energy"] == pytest.approx(1000) and update["data"]["stationId"] == "FW-OWNER"
        sessions = {s["transactionId"]: s for s in await owner.result("getMySessions")}
        assert sessions[tx]["status"] == "active" and sessions[tx]["stationId"] == "FW-OWNER"
        assert not [p for p in owner.seen if p["event"] == "transaction.stopped"
                    and p["data"]["transactionId"] == tx]
        assert (await a.stop(tx, 3000))[0] == 3
        stopped = await pushed(owner, "transaction.stopped", tx)
        assert stopped["data"]["energy"] == pytest.approx(2000) and stopped["data"]["stationId"] == "FW-OWNER"
    foreign = follow(env, "FW-PROBE", "ocpp.anomaly", 2, stream="source")
    assert {a["payload"]["kind"] for a in foreign} == {"foreign-transaction"}
    derived = follow(env, "FW-PROBE", "ocpp.anomaly", 2)
    assert {a["payload"]["kind"] for a in derived} == {"unknown-transaction"}
    await owner.close()


async def test_a_start_on_a_busy_connector_supersedes_the_lost_transaction(served):
    server, _ = served
    client = await mobile(server.ws_url, "fold-a")
    async with RawStation(server.ocpp_url, "FW-SUPERSEDE") as station:
        first = await station.start(1, "TAG-FA", 1000)
        await station.meter(1, first, "1400")
        second = await station.start(1, "TAG-FA", 1500)  # the StopTransaction of `first` was lost
        stopped = await pushed(client, "transaction.stopped", first)
        assert stopped["data"]["reason"] == "Superseded" and stopped["data"]["energy"] == pytest.approx(400)
        sessions = {s["transactionId"]: s for s in await client.result("getMySessions")}
        assert sessions[first]["status"] == "completed" and sessions[second]["status"] == "active"
        await station.stop(second, 1500)


async def test_energy_is_meter_stop_minus_meter_start(served):
    server, env = served
    client = await mobile(server.ws_url, "fold-b")
    async with RawStation(server.ocpp_url, "FW-ENERGY") as station:
        tx = await station.start(1, "TAG-FB", 1000)
        await station.meter(1, tx, "9000")
        await station.stop(tx, 6000)
        stopped = await pushed(client, "transaction.stopped", tx)
    assert stopped["data"]["energy"] == pytest.approx(5000)
    assert follow(env, "FW-ENERGY", "ocpp.anomaly")[0]["payload"]["kind"] == "meter-stop-below-reading"


async def test_a_vanished_stations_transaction_closes_as_stale(served):
    server, _ = served
    client = await mobile(server.ws_url, "fold-b")
    async with RawStation(server.ocpp_url, "FW-STALE") as station:
        tx = await station.start(1, "TAG-FB", 0)
        await station.meter(1, tx, "700")
    # the station is gone; after STALE_AFTER_S of silence the transaction closes by an event
    stopped = await pushed(client, "transaction.stopped", tx)
    assert stopped["data"]["reason"] == "Stale" and stopped["data"]["energy"] == pytest.approx(700)
    await client.close()


@pytest.mark.parametrize(("action", "payload", "status", "outcome", "domain_type"), [
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, "Scheduled", "scheduled", "command.accepted"),
    ("UnlockConnector", {"connectorId": 1}, "UnlockFailed", "failed", "command.failed"),
])
async def test_command_outcomes_follow_ocpp_16(served, action, payload, status, outcome, domain_type):
    server, env = served
    station_id = f"FW-CMD-{action}"
    async with RawStation(server.ocpp_url, station_id) as station:
        await station.boot()
        command = asyncio.create_task(asyncio.to_thread(
            run_cli, env, "command", action, "--charge-point", station_id, "--payload", json.dumps(payload),
            "--wait"))
        call = await station.answer_next_call({"status": status})
        assert call[2] == action
        printed = json.loads((await command).strip().splitlines()[-1])
    assert (printed["status"], printed["outcome"]) == ("answered", outcome)
    (derived,) = follow(env, station_id, domain_type)
    assert (derived["payload"]["outcome"], derived["payload"]["status"]) == (outcome, status)


async def test_health_stays_ok_after_all_of_it(served):
    server, _ = served
    async with httpx.AsyncClient(base_url=server.api_url, timeout=30) as http:
        health = await http.get("/health")
    assert health.status_code == 200 and "degraded" not in health.json(), health.json()
