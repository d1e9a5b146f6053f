"""Broker faults against a real, private Kafka broker (``infra/kafka.sh`` with its own state
directory and port — never the shared one): ``chargelog serve`` processes under load from
OCPP stations over real sockets while the broker is stopped gracefully or killed with
SIGKILL and started again (../shared/DESIGN.md "Faults of the log … degrade, never
corrupt"; docs/ocpp.md "While the log is down").

What a user checks afterwards: every acknowledged CALL is in the log, every connection has
exactly one end event, no charge point is online once all have disconnected, SIGTERM exits
within its bound (also while the broker is down), stations are acknowledged again after the
broker is back, and a Mobile API client that resumes by position misses nothing. Recovery
*time* is measured by ``bench/fault_bench.py``, not asserted here."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from chargelog.adapters.log.kafka import KafkaLog
from chargelog.domain.log import DOMAIN, Position
from fault_support import Fleet, PrivateBroker, check_log, source_log, wait_health
from processes import Server, chargelog_cmd
from test_api_support import MobileClient

#: The configured shutdown bound (Settings.shutdown_timeout_s, the default) the tests assert.
SHUTDOWN_BOUND_S = 15.0
#: Stations per test: enough to interleave on every partition, few enough for a shared CI box.
STATIONS = 6
#: CALLs every station must have acknowledged before a fault and again after recovery.
CALLS_PER_PHASE = 20
STATUS_CHANGED = "connector.status.changed"
#: Generous bound on waiting for a phase (s): only a hung system reaches it (a phase takes
#: a few seconds; 90 s was once reached on a machine with a load average of 20).
PHASE_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    """A broker of this module only; fails (never skips) when it cannot start."""
    private = PrivateBroker(tmp_path_factory.mktemp("kafka"))
    try:
        private.start()
    except Exception as exc:  # noqa: BLE001 - reported as a failure, not a skip
        pytest.fail(f"cannot start a private Kafka broker with infra/kafka.sh: {exc}")
    try:
        yield private
    finally:
        private.stop()


def _env(broker: PrivateBroker, tmp_path: Path, prefix: str, **extra: str) -> dict[str, str]:
    return {"CHARGELOG_LOG": f"kafka://{broker.bootstrap}", "CHARGELOG_TOPIC_PREFIX": prefix,
            "CHARGELOG_PARTITIONS": "4", "CHARGELOG_DATA_DIR": str(tmp_path / "data"),
            "CHARGELOG_GATEWAY_ID": f"gw-{prefix}", "CHARGELOG_DURABLE_TIMEOUT_S": "3",
            "CHARGELOG_JWT_SECRET": "fault-tests-secret-0123456789-abcdef", **extra}


def _sigterm_within_bound(server: Server) -> float:
    """SIGTERM ``server`` and return how long it took to exit; fails past the bound."""
    assert server.proc is not None
    began = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=SHUTDOWN_BOUND_S)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        pytest.fail(f"SIGTERM: still running after {SHUTDOWN_BOUND_S} s")
    assert code == 0, f"exit code {code}"
    return time.monotonic() - began


async def _outage(broker: PrivateBroker, fault: str, health_port: int) -> dict:
    """Fault the broker, see the gateway report it, start the broker again; returns the
    ``/health`` body seen while degraded."""
    await asyncio.to_thread(broker.fault, fault)
    degraded = await wait_health(health_port, "degraded", PHASE_TIMEOUT_S)
    await asyncio.to_thread(broker.start)
    await wait_health(health_port, "ok", PHASE_TIMEOUT_S)
    return degraded


@pytest.mark.parametrize("fault", ["stop", "kill"])
async def test_gateway_rides_out_a_broker_outage(broker, tmp_path, fault):
    prefix = f"f{uuid.uuid4().hex[:10]}"
    server = Server(_env(broker, tmp_path, prefix), roles=["gateway"], log_path=tmp_path / "serve.log")
    await asyncio.to_thread(server.start)
    fleet = Fleet(server.ocpp_url, STATIONS)
    try:
        fleet.start()
        await fleet.until_each_acked(CALLS_PER_PHASE, PHASE_TIMEOUT_S)
        degraded = await _outage(broker, fault, server.ocpp_port)
        assert "event log unavailable" in degraded["reason"], degraded
        # new upgrades are refused while degraded; once back, every station is acknowledged again
        await fleet.until_each_acked(CALLS_PER_PHASE, PHASE_TIMEOUT_S)
    finally:
        await fleet.stop()
    elapsed = await asyncio.to_thread(_sigterm_within_bound, server)

    check = check_log(await source_log(broker.bootstrap, prefix), [m for s in fleet.stations for m in s.acked])
    output = (tmp_path / "serve.log").read_text()
    assert check.lost == [], f"{len(check.lost)} acknowledged CALLs not in the log"
    assert check.ends == {}, f"connections without exactly one end event: {check.ends}"
    assert check.online == [], f"online after every station disconnected: {check.online}"
    assert check.opened >= STATIONS
    assert "on a new idempotent producer" in output  # the outage outlasted a send: it was replaced
    assert elapsed < SHUTDOWN_BOUND_S


async def test_sigterm_while_the_broker_is_down_exits_and_the_restart_closes_out(broker, tmp_path):
    prefix = f"f{uuid.uuid4().hex[:10]}"
    env = _env(broker, tmp_path, prefix)
    server = Server(env, roles=["gateway"], log_path=tmp_path / "serve.log")
    await asyncio.to_thread(server.start)
    fleet = Fleet(server.ocpp_url, STATIONS)
    try:
        fleet.start()
        await fleet.until_each_acked(5, PHASE_TIMEOUT_S)
        await asyncio.to_thread(broker.stop)
        await wait_health(server.ocpp_port, "degraded", PHASE_TIMEOUT_S)
        await asyncio.to_thread(_sigterm_within_bound, server)
    finally:
        await fleet.stop()
        if broker.home.joinpath("kafka.pid").exists() is False:
            await asyncio.to_thread(broker.start)
    output = (tmp_path / "serve.log").read_text()
    assert "stopped without recording" in output or "not acknowledged" in output, output[-3000:]

    # the same gateway id starts again: it closes out in the log what the last run could not
    again = Server(env, roles=["gateway"], log_path=tmp_path / "serve2.log")
    await asyncio.to_thread(again.start)
    await asyncio.to_thread(_sigterm_within_bound, again)
    check = check_log(await source_log(broker.bootstrap, prefix), [m for s in fleet.stations for m in s.acked])
    assert check.lost == []
    assert check.ends == {}, f"connections without exactly one end event: {check.ends}"
    assert check.online == []


async def _mobile(api_port: int, key: str) -> MobileClient:
    ws = await websockets.connect(f"ws://127.0.0.1:{api_port}/ws", max_size=None)
    client = MobileClient(ws)
    assert (await client.result("auth", {"apiKey": key}))["status"] == "ok"
    return client


async def _domain_ids(bootstrap: str, prefix: str, after: str) -> list[str]:
    """eventIds of connector.status.changed on the domain stream after position ``after``."""
    log = KafkaLog(bootstrap, topic_prefix=prefix)
    await log.start()
    try:
        return [r.event.eventId for r in await log.read(DOMAIN, Position.parse(after), types=[STATUS_CHANGED])]
    finally:
        await log.close()


async def _until_seen(client: MobileClient, ids: list[str]) -> None:
    async with asyncio.timeout(PHASE_TIMEOUT_S):
        while not set(ids) <= {p["eventId"] for p in client.seen}:
            await asyncio.sleep(0.05)  # polling what the client's reader task collected


async def test_projections_and_api_resume_after_a_broker_restart(broker, tmp_path):
    prefix = f"f{uuid.uuid4().hex[:10]}"
    env = _env(broker, tmp_path, prefix)
    key = "fault-test-mobile-key-0001"
    subprocess.run(chargelog_cmd("apikey", "create", "--user", "tester", "--scopes", "read:stations",
                                 "--key", key), env={**os.environ, **env}, check=True, capture_output=True)
    server = Server(env, log_path=tmp_path / "serve.log")  # gateway, api and projections in one process
    await asyncio.to_thread(server.start)
    fleet = Fleet(server.ocpp_url, 2, prefix="CP-M")
    live = await _mobile(server.api_port, key)
    try:
        await live.result("subscribe", {"events": [STATUS_CHANGED]})
        fleet.start()
        await fleet.until_each_acked(CALLS_PER_PHASE, PHASE_TIMEOUT_S)
        before = await live.push(lambda m: m.get("event") == STATUS_CHANGED)
        await _outage(broker, "stop", server.ocpp_port)
        await fleet.until_each_acked(CALLS_PER_PHASE, PHASE_TIMEOUT_S)
    finally:
        await fleet.stop()
    try:
        # the translator, the projections and the API hub all resumed: the live subscription
        # gets every domain event the log holds after the one it had before the outage
        later = await _domain_ids(broker.bootstrap, prefix, before["position"])
        assert len(later) >= CALLS_PER_PHASE, len(later)
        await _until_seen(live, later)
        # a client resuming by position from before the outage gets them all too
        resumed = await _mobile(server.api_port, key)
        try:
            answer = await resumed.result("subscribe", {"events": [STATUS_CHANGED], "since": before["position"]})
            assert answer["position"] == before["position"]
            await _until_seen(resumed, later)
        finally:
            await resumed.close()
    finally:
        await live.close()
        await asyncio.to_thread(_sigterm_within_bound, server)
