"""End to end through the real processes: ``chargelog serve`` as a subprocess, the
fleet from ``chargelog simulate``, clients over real sockets; on both log engines, and on
Kafka with the roles in separate processes. Nothing here is mocked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import websockets

from test_api_support import MobileClient
from processes import Server, chargelog_cmd
from conftest import require_kafka

API_KEY = "test-mobile-key-123"


@pytest.fixture(params=["embedded", "kafka"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    values = {"CHARGELOG_DATA_DIR": str(tmp_path / "data"), "CHARGELOG_JWT_SECRET": "e2e-secret-of-at-least-32-bytes!!",
              "CHARGELOG_HEARTBEAT_INTERVAL_S": "30", "PYTHONUNBUFFERED": "1"}
    if request.param == "kafka":
        values |= {"CHARGELOG_LOG": f"kafka://{require_kafka()}",
                   "CHARGELOG_TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:10]}", "CHARGELOG_PARTITIONS": "4"}
    return values


async def connect_mobile(url: str) -> MobileClient:
    """A Mobile WebSocket API client authenticated with the test API key."""
    client = MobileClient(await websockets.connect(url, max_size=None))
    assert (await client.request("auth", {"apiKey": API_KEY}))["result"]["status"] == "ok"
    return client


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(chargelog_cmd(*args), env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Fleet:
    """``chargelog simulate`` in a subprocess."""

    def __init__(self, env: dict[str, str], url: str, prefix: str, stations: int = 2) -> None:
        self.proc = subprocess.Popen(
            chargelog_cmd("simulate", "--url", url, "--stations", str(stations), "--connectors", "2",
                          "--prefix", prefix, "--meter-interval", "0.2"),
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def cleanup() -> Iterator[list[object]]:
    things: list[object] = []
    yield things
    for thing in reversed(things):
        try:
            thing.stop()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - best effort teardown
            pass


def online(push: dict[str, object], station: str) -> bool:
    data = push["data"]
    return isinstance(data, dict) and data.get("stationId") == station


def assert_per_station_order(pushes: list[dict[str, object]]) -> None:
    """Within one station, a replay delivers events in log order: their positions never go
    backwards on that station's partition (DESIGN.md, "Delivery to clients")."""
    from chargelog.domain.log import Position

    last: dict[object, Position] = {}
    for push in pushes:
        station = push["data"].get("stationId")  # type: ignore[union-attr]
        position = Position.parse(str(push["position"]))
        if station in last:
            assert last[station] <= position, f"out of order for {station}"
        last[station] = position


async def charge_and_check(servers: list[Server], api: Server, gateway_of_station: Server, station: str,
                           env: dict[str, str], tmp_path: Path) -> None:
    """The end-to-end scenario with the mobile dialect; ``gateway_of_station`` is killed
    with SIGKILL and restarted in the middle."""
    run_cli(env, "apikey", "create", "--user", "alice", "--scopes", "read:stations,write:charging",
            "--key", API_KEY)

    # a client that subscribes, remembers its position, and goes away for the whole session
    resumer = await connect_mobile(api.ws_url)
    first = await resumer.result("subscribe", {"events": ["all"]})
    missed_from = first["position"]
    await resumer.close()

    client = await connect_mobile(api.ws_url)
    snapshot = await client.result("subscribe", {"events": ["all"]})
    stations = {s["id"]: s for s in snapshot["snapshot"]["stations"]}
    if not stations.get(station, {}).get("isOnline"):
        await client.push(lambda p: p["event"] in ("station.connected", "connector.status.changed")
                               and online(p, station))
    map_now = {s["id"]: s for s in await client.result("getStations")}
    assert map_now[station]["isOnline"] is True
    printed_map = run_cli(env, "stations", "--url", api.api_url)  # the README's "where to look"
    assert any(line.startswith(station) and " yes " in line for line in printed_map.splitlines())

    started = await client.result("startCharging", {"stationId": station, "connectorId": 1})
    assert started["status"] == "pending"
    correlation_id = started["correlationId"]
    tx_started = await client.push(lambda p: p["event"] == "transaction.started"
                                        and p["data"].get("correlationId") == correlation_id)
    transaction_id = tx_started["data"]["transactionId"]
    charging = await client.push(lambda p: p["event"] == "connector.status.changed"
                                      and p["data"]["transactionId"] == transaction_id)
    assert charging["data"]["status"] == "Charging"
    await client.push(lambda p: p["event"] == "meter.update" and p["data"]["transactionId"] == transaction_id)
    last_position = client.seen[-1]["position"]

    # SIGKILL the process holding the charge point, restart it; nothing acknowledged is lost
    gateway_of_station.kill()
    gateway_of_station.start()
    if gateway_of_station is api:
        await client.close()
        client = await connect_mobile(api.ws_url)
        await client.result("subscribe", {"events": ["all"], "position": last_position})
    await client.push(lambda p: p["event"] == "meter.update" and p["data"]["transactionId"] == transaction_id)

    stopping = await client.result("stopCharging", {"transactionId": transaction_id})
    assert stopping["status"] == "pending"
    tx_stopped = await client.push(lambda p: p["event"] == "transaction.stopped"
                                        and p["data"]["transactionId"] == transaction_id)
    assert tx_stopped["data"]["energy"] > 0
    assert tx_stopped["data"]["cost"] is not None
    sessions = await client.result("getMySessions")
    mine = [s for s in sessions if s["transactionId"] == transaction_id]
    assert mine and mine[0]["status"] == "completed" and mine[0]["energy"] > 0
    seen_by_client = [p["eventId"] for p in client.seen]
    await client.close()

    # the client that was away reconnects with its last position: it gets what it missed
    resumer = await connect_mobile(api.ws_url)
    await resumer.result("subscribe", {"events": ["all"], "position": missed_from})
    # order holds per station (per partition on Kafka), not across stations: wait for the set
    wanted = set(seen_by_client)
    received: set[str] = set()
    while not wanted <= received:
        received.add((await resumer.push(lambda p: "event" in p))["eventId"])
    replayed = [p["eventId"] for p in resumer.seen]
    assert_per_station_order(resumer.seen)
    assert len(replayed) == len(set(replayed)), "duplicates inside one subscription"
    await resumer.close()

    # the auditor's view: the command and the station's answer are on the log
    source = [json.loads(line) for line in run_cli(env, "events", "--stream", "source").splitlines()]
    commands = [e for e in source if e["correlationId"] == correlation_id]
    assert any(e["type"] == "command.requested" for e in commands)
    assert any(e["type"] == "ocpp.frame" and e["payload"]["direction"] == "in"
               and e["payload"]["messageTypeId"] == 3 for e in commands)
    domain = [json.loads(line) for line in run_cli(env, "events", "--stream", "domain",
                                                   "--type", "transaction.started").splitlines()]
    assert any(e["payload"]["transactionId"] == transaction_id for e in domain)


async def test_one_process_charging_survives_sigkill(env: dict[str, str], tmp_path: Path,
                                                     cleanup: list[object]) -> None:
    server = Server(env, log_path=tmp_path / "serve.log").start()
    cleanup.append(server)
    fleet = Fleet(env, server.ocpp_url, "CP")
    cleanup.append(fleet)
    await charge_and_check([server], server, server, "CP001", env, tmp_path)
    assert server.stop() == 0


async def test_kafka_roles_in_separate_processes(tmp_path: Path, cleanup: list[object]) -> None:
    env = {"CHARGELOG_DATA_DIR": str(tmp_path / "data"), "CHARGELOG_JWT_SECRET": "e2e-secret-of-at-least-32-bytes!!",
           "CHARGELOG_LOG": f"kafka://{require_kafka()}", "CHARGELOG_PARTITIONS": "4",
           "CHARGELOG_TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:10]}", "PYTHONUNBUFFERED": "1"}
    servers = [
        Server({**env, "CHARGELOG_DATA_DIR": str(tmp_path / f"{name}")}, roles=[role],
               log_path=tmp_path / f"{name}.log")
        for name, role in [("gw1", "gateway"), ("gw2", "gateway"), ("proj1", "projections"),
                           ("proj2", "projections")]
    ]
    api = Server(env, roles=["api"], log_path=tmp_path / "api.log")
    for server in [*servers, api]:
        server.start()
        cleanup.append(server)
    cleanup.append(Fleet(env, servers[0].ocpp_url, "A"))
    cleanup.append(Fleet(env, servers[1].ocpp_url, "B"))
    await charge_and_check([*servers, api], api, servers[1], "B001", env, tmp_path)


async def test_every_dialect_charges_through_the_real_processes(env: dict[str, str], tmp_path: Path,
                                                                 cleanup: list[object]) -> None:
    """Charging WebSocket API, Communication Protocol REST + push socket, test guide commands:
    each starts and stops a real (simulated) charge point through ``chargelog serve``."""
    import httpx

    server = Server(env, log_path=tmp_path / "serve.log").start()
    cleanup.append(server)
    cleanup.append(Fleet(env, server.ocpp_url, "CP"))
    token = {user: run_cli(env, "token", "--user", user).strip() for user in ("bob", "carol", "dave")}
    ws_base = f"ws://127.0.0.1:{server.api_port}"

    # wait until both stations are on the map (the push socket's charger list says so)
    async with websockets.connect(f"{ws_base}/?token={token['carol']}") as push:
        online_ids: set[str] = set()
        while not {"CP001", "CP002"} <= online_ids:
            message = json.loads(await asyncio.wait_for(push.recv(), 60))
            if message["type"] == "charger_status_update" and message["status"] == "available":
                online_ids.add(message["charger_id"])
            if message["type"] == "charger_list_update":
                for station in message["data"]["chargers"]:
                    online_ids.update(c["charger_id"] for c in station["chargers"] if c["status"] == "available")

        # 1. Charging WebSocket API (charging-websocket-api.md)
        async with websockets.connect(f"{ws_base}/ws") as ws:
            def envelope(kind: str, data: dict[str, object], n: int) -> str:
                return json.dumps({"id": f"msg-{n}", "type": kind, "timestamp": "2026-01-01T00:00:00.000Z",
                                   "data": data})

            async def reply(request_id: str) -> dict[str, object]:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message.get("id") == request_id:
                        return message

            await ws.send(envelope("auth_request", {"token": token["bob"]}, 1))
            assert (await reply("msg-1"))["data"]["success"] is True
            await ws.send(envelope("start_charging_request", {"chargePointId": "CP001", "connectorId": 1}, 2))
            started = await reply("msg-2")
            assert started["type"] == "start_charging_response" and started["data"]["success"] is True
            transaction_id = started["data"]["transactionId"]
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message["type"] == "meter_values_update":
                    break
            await ws.send(envelope("stop_charging_request", {"transactionId": transaction_id}, 3))
            stopped = await reply("msg-3")
            assert stopped["type"] == "stop_charging_response" and stopped["data"]["success"] is True

        # 2. Communication Protocol REST, pushes on the ?token= socket
        async with httpx.AsyncClient(base_url=server.api_url, timeout=60) as http:
            headers = {"Authorization": f"Bearer {token['carol']}"}
            response = await http.post("/api/charging/start", json={"charger_id": "CP001", "connector_id": 2},
                                       headers=headers)
            assert response.status_code == 200, response.text
            session = response.json()["data"]
            assert isinstance(session["transaction_id"], int)
            kinds: set[str] = set()
            while not {"session_started", "meter_value"} <= kinds:
                message = json.loads(await asyncio.wait_for(push.recv(), 60))
                if message["type"] == "session_update" and message["transaction_id"] == session["transaction_id"]:
                    kinds.add(message["event"])
            response = await http.post("/api/charging/stop", json={"charger_id": "CP001"}, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["data"]["status"] == "stopped"

    # 3. the test guide's commands on the same ?token= socket
    async with websockets.connect(f"{ws_base}/?token={token['dave']}") as guide:
        async def command(action: str, data: dict[str, object]) -> dict[str, object]:
            await guide.send(json.dumps({"action": action, "data": data}))
            while True:
                message = json.loads(await asyncio.wait_for(guide.recv(), 60))
                if message["type"] == "response" and message["action"] == action:
                    return message["data"]  # type: ignore[no-any-return]

        assert (await command("start_charging", {"charger_id": "CP002", "connector_id": 1}))["success"] is True
        assert (await command("get_active_session", {}))["has_active_session"] is True
        stopped_guide = await command("stop_charging", {})
        assert stopped_guide["success"] is True and stopped_guide["energy_delivered"] >= 0

    # each user's history holds their own session, and only theirs
    domain = [json.loads(line) for line in run_cli(env, "events", "--stream", "domain",
                                                   "--type", "transaction.stopped").splitlines()]
    assert {e["payload"]["userId"] for e in domain} >= {"bob", "carol", "dave"}
