"""Operations surface of real ``chargelog serve`` processes, on both log engines: ``/metrics``
on every role's port (API, OCPP gateway, and the ops port of a projections-only process on
Kafka), ``/health`` (alive) and ``/ready`` (log reachable, consumers within the lag bound,
nothing quarantined unseen), JSON logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from chargelog.adapters import metrics
from chargelog.adapters.config import Settings
from chargelog.adapters.ops import Readiness
from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import DOMAIN, EventLog
from conftest import require_kafka
from processes import Server, chargelog_cmd, free_port, wait_for_port

OPERATOR_KEY = "ops-operator-key-0123456789"
DASHBOARD = Path(__file__).parent.parent / "infra" / "grafana" / "chargelog-dashboard.json"


def base_env(tmp_path: Path, engine: str) -> dict[str, str]:
    env = {"CHARGELOG_DATA_DIR": str(tmp_path / "data"), "CHARGELOG_JWT_SECRET": "ops-secret-of-at-least-32-bytes-long!",
           "PYTHONUNBUFFERED": "1"}
    if engine == "kafka":
        env |= {"CHARGELOG_LOG": f"kafka://{require_kafka()}", "CHARGELOG_TOPIC_PREFIX": f"ops{uuid.uuid4().hex[:10]}",
                "CHARGELOG_PARTITIONS": "2"}
    return env


def dashboard_metrics() -> set[str]:
    """The metric families the Grafana dashboard queries (suffixes _bucket, _sum, _count
    removed: the name of the family's ``# TYPE`` line)."""
    exprs = [t["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"] for t in panel["targets"]]
    names = {m for e in exprs for m in re.findall(r"\b((?:chargelog|process|python)_[a-z_]+)", e)}
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric family's samples named ``name`` in exposition text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key[len(name):]] = float(value)
    return out


@pytest.fixture(params=["embedded", "kafka"])
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(tmp_path: Path, engine: str) -> Iterator[Server]:
    env = base_env(tmp_path, engine)
    done = subprocess.run(chargelog_cmd("apikey", "create", "--user", "ops", "--scopes", "admin", "--key", OPERATOR_KEY),
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    server = Server(env, log_path=tmp_path / "serve.log", extra_args=["--simulate", "1", "--log-format", "json", "--log-level", "INFO"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_metrics_ready_and_json_logs_of_one_process(server: Server, tmp_path: Path) -> None:
    api = httpx.Client(base_url=server.api_url, timeout=90)
    headers = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    assert api.get("/health").json()["status"] in ("ok", "healthy")
    assert api.get("/console/api/me", headers={"Authorization": "Bearer not-a-key"}).status_code == 401

    with connect(f"ws://127.0.0.1:{server.api_port}/console/ws") as ws:
        ws.send(json.dumps({"credential": OPERATOR_KEY, "after": None}))
        assert json.loads(ws.recv(timeout=90))["kind"] == "ready"
        started = api.post("/api/operator/commands", headers=headers, json={
            "chargePointId": "CP001", "action": "RemoteStartTransaction", "payload": {"connectorId": 1, "idTag": "OPS"}})
        assert started.status_code == 202
        seen = []
        while not any(e["type"] == "transaction.started" for e in seen):
            seen.append(json.loads(ws.recv(timeout=90)))
        api_metrics = api.get("/metrics").text

    assert samples(api_metrics, "chargelog_log_append_seconds_count")['{engine="%s",stream="source"}' % (
        "kafka" if "CHARGELOG_LOG" in server.env else "embedded")] > 0
    assert sum(samples(api_metrics, "chargelog_log_write_batch_events_count").values()) > 0
    lags = samples(api_metrics, "chargelog_consumer_lag_events")
    assert any("translator" in k for k in lags) and any("api-hub" in k for k in lags), lags
    assert samples(api_metrics, "chargelog_api_hub_subscribers")[""] >= 1
    assert samples(api_metrics, "chargelog_api_push_latency_seconds_count")[""] > 0
    assert samples(api_metrics, "chargelog_command_outcomes_total")[
        '{action="RemoteStartTransaction",outcome="accepted"}'] >= 1
    assert samples(api_metrics, "chargelog_auth_failures_total")['{surface="api"}'] >= 1
    assert "process_resident_memory_bytes" in api_metrics and "python_gc_collections_total" in api_metrics
    assert "chargelog_ocpp_frames_total" in api_metrics  # the gateway runs in this process

    ocpp = httpx.get(f"http://127.0.0.1:{server.ocpp_port}/metrics", timeout=90).text
    assert "chargelog_ocpp_frames_total" in ocpp and "chargelog_log_append_seconds_bucket" in ocpp
    # every family the Grafana dashboard plots is exposed (as the Prometheus # TYPE line)
    missing = {n for n in dashboard_metrics() if f"# TYPE {n} " not in api_metrics}
    assert not missing, missing

    ready = api.get("/ready")
    assert ready.status_code == 200, ready.text
    assert api.post("/ready/acknowledge-quarantine").status_code == 401
    assert api.post("/ready/acknowledge-quarantine", headers=headers).json() == {"acknowledged": {}}
    body = ready.json()
    assert body["ready"] is True and body["log"]["ok"] and body["quarantined"] == {}
    # every projection is a consumer of its own stream, whether the fold runs here or in a child
    assert body["consumers"]["projection.profile_state"]["stream"] == "source", body
    assert body["consumers"]["projection.stations"]["stream"] == "domain", body
    assert httpx.get(f"http://127.0.0.1:{server.ocpp_port}/ready", timeout=90).json()["ready"] is True

    assert server.stop() == 0
    text = (tmp_path / "serve.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON, uvicorn's too
    assert all({"timestamp", "level", "logger", "event", "role"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("websockets") for line in lines)  # the library's lines, same format
    assert any(line.get("chargePointId") == "CP001" and line.get("connectionId") for line in lines)
    assert any(line.get("connectionId", "").startswith("ws-") for line in lines)  # the console's socket
    assert OPERATOR_KEY not in (tmp_path / "serve.log").read_text()


def test_projections_role_serves_metrics_on_its_own_port(tmp_path: Path) -> None:
    env = base_env(tmp_path, "kafka")
    ops_port = free_port()
    projections = Server({**env, "CHARGELOG_OPS_PORT": str(ops_port)}, roles=["projections"],
                         log_path=tmp_path / "projections.log")
    front = Server({**env, "CHARGELOG_DATA_DIR": str(tmp_path / "front")}, roles=["gateway", "api"],
                   log_path=tmp_path / "front.log", extra_args=["--simulate", "1"])
    projections.start()
    try:
        wait_for_port(ops_port, projections.proc)  # type: ignore[arg-type]
        front.start()
        try:
            # the simulated charge point's boot is translated: the translator's gauges exist
            ready = httpx.get(f"http://127.0.0.1:{ops_port}/ready", timeout=90).json()
            assert {"translator.translator", "projection.stations", "projection.profile_state"} <= set(ready["consumers"]), ready
            text = httpx.get(f"http://127.0.0.1:{ops_port}/metrics", timeout=90).text
            assert 'chargelog_consumer_lag_events{consumer="translator.translator",stream="source"}' in text
            assert httpx.get(f"http://127.0.0.1:{ops_port}/health", timeout=90).json()["status"] == "ok"
        finally:
            front.stop()
    finally:
        projections.stop()


class Behind:
    """A consumer that has read nothing of the domain stream."""

    name = "test-consumer"
    stream = DOMAIN
    all_partitions = True

    def positions(self) -> dict[int, int]:
        return {}


async def test_ready_fails_on_lag_and_unseen_quarantine(log: EventLog, settings: Settings) -> None:
    quarantined: list[dict[str, str]] = []
    readiness = Readiness(log, max_lag_events=1, consumers=lambda: [Behind()], quarantined=lambda: quarantined)
    assert (await readiness.check())[0] is True
    await log.append(DOMAIN, [Event(type="station.connected", chargePointId=f"CP{i}", source=Source.SYSTEM,
                                    payload={}) for i in range(3)])
    ok, body = await readiness.check()
    assert not ok and body["consumers"]["test-consumer"]["lag"] == 3
    readiness.max_lag_events = 10
    assert (await readiness.check())[0] is True
    quarantined += [{"consumer": "test-fold", "offset": "1"}, {"consumer": "test-fold", "offset": "2"}]
    ok, body = await readiness.check()
    assert not ok and body["quarantined"] == {"test-fold": 2}
    metrics.acknowledge_quarantine()
    assert (await readiness.check())[0] is True
    quarantined.append({"consumer": "test-fold", "offset": "3"})  # a new one: not ready again
    ok, body = await readiness.check()
    assert not ok and body["quarantined"] == {"test-fold": 1}
    quarantined.clear()  # retried and folded
    assert (await readiness.check())[0] is True
