"""A defect in a projection, over the wire (both engines): ``chargelog serve`` keeps serving
every other station, ``/health`` turns ``degraded`` naming the consumer and the position, the
metric counts it, ``chargelog projections status`` lists it, and after the fix
``chargelog projections retry`` applies it and the map shows what the station said."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from fold_wire_support import DefectServer, RawStation, create_keys, mobile, run_cli, serve_env
from processes import Server

TIMEOUT_S = 60


async def health_when(api_url: str, predicate: Any) -> dict[str, Any]:
    """``/health`` once ``predicate(body)`` holds (polled: the quarantine is reported by a
    different task than the one the frame went through)."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http, asyncio.timeout(TIMEOUT_S):
        while True:
            body = (await http.get("/health")).json()
            if predicate(body):
                return body
            await asyncio.sleep(0.2)


async def station_map(env: dict[str, str], api_url: str) -> dict[str, Any]:
    token = run_cli(env, "token", "--user", "fold-a").strip()
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        listed = await http.get("/api/stations", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    return {s["chargePointId"]: s for s in listed.json()["stations"]}


@pytest.mark.parametrize("engine", ["embedded", "kafka"])
async def test_a_defect_degrades_health_and_retry_applies_it(engine: str, tmp_path: Path):
    env = serve_env(engine, tmp_path)
    server = DefectServer(env, "FW-DEFECT", tmp_path / "launch_with_defect.py").start()
    try:
        create_keys(env)
        client = await mobile(server.ws_url, "fold-a")
        async with RawStation(server.ocpp_url, "FW-DEFECT") as bad, RawStation(server.ocpp_url, "FW-FINE") as fine:
            await bad.status(1, "Faulted")
            await fine.status(1, "Available")
            for station in ("FW-DEFECT", "FW-FINE"):  # the translator and the pushes went on
                await client.push(lambda p, s=station: p["event"] == "connector.status.changed"
                                  and p["data"]["stationId"] == s)
            body = await health_when(server.api_url, lambda b: b.get("quarantined"))
            assert body["status"] == "degraded"
            entry = body["quarantined"][0]
            assert (entry["consumer"], entry["stream"], entry["type"], entry["chargePointId"]) == \
                ("stations", "domain", "connector.status.changed", "FW-DEFECT")
            assert entry["position"] in body["degraded"][0] and "stations" in body["degraded"][0]
            async with httpx.AsyncClient(timeout=30) as http:
                # the client API's /metrics is the service's (the OCPP port's is the gateway
                # process that took the request: serve may run several, docs/deploy.md)
                metrics = (await http.get(f"{server.api_url}/metrics")).text
            assert 'chargelog_projection_quarantined_events_total{consumer="stations"}' in metrics
            stations = await station_map(env, server.api_url)
            assert [c["status"] for c in stations["FW-FINE"]["connectors"]] == ["Available"]
            assert [c["status"] for c in stations["FW-DEFECT"]["connectors"]] == []
        await client.close()
    finally:
        server.stop()

    status = run_cli(env, "projections", "status")
    assert "quarantined: stations at domain" in status and "RuntimeError: injected defect" in status
    assert "stations: 1 released, 0 still quarantined" in run_cli(env, "projections", "retry", "stations")

    fixed = Server(env).start()  # the fix is deployed
    try:
        body = await health_when(fixed.api_url, lambda b: "status" in b)
        assert "quarantined" not in body, body
        stations = await station_map(env, fixed.api_url)
        assert [c["status"] for c in stations["FW-DEFECT"]["connectors"]] == ["Faulted"]
    finally:
        fixed.stop()
