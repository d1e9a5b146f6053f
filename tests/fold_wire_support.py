"""Helpers for the over-the-wire fold tests: a raw OCPP 1.6-J station on a real socket, a
``chargelog serve`` environment per engine with a registry of id tags, and the CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

from conftest import require_kafka
from processes import Server, chargelog_cmd, wait_for_port
from test_api_support import MobileClient

TIMEOUT_S = 60
REGISTRY = """
[[idTags]]
idTag = "TAG-FA"
userId = "fold-a"

[[idTags]]
idTag = "TAG-FB"
userId = "fold-b"
"""
KEYS = {"fold-a": "fold-key-a-0123456789", "fold-b": "fold-key-b-0123456789"}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def serve_env(engine: str, tmp: Path, **extra: str) -> dict[str, str]:
    """Environment of ``chargelog serve`` and the CLI for ``engine``: a private data dir (and
    Kafka topic prefix), the id-tag registry, and ``extra`` settings."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "registry.toml").write_text(REGISTRY)
    env = {"CHARGELOG_DATA_DIR": str(tmp / "data"), "CHARGELOG_JWT_SECRET": "fold-secret-of-at-least-32-bytes!!",
           "CHARGELOG_REGISTRY_FILE": str(tmp / "registry.toml"), "PYTHONUNBUFFERED": "1", **extra}
    if engine == "kafka":
        env |= {"CHARGELOG_LOG": f"kafka://{require_kafka()}",
                "CHARGELOG_TOPIC_PREFIX": f"fold{uuid.uuid4().hex[:10]}", "CHARGELOG_PARTITIONS": "4"}
    return env


def run_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(chargelog_cmd(*args), env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def create_keys(env: dict[str, str]) -> None:
    for user, key in KEYS.items():
        run_cli(env, "apikey", "create", "--user", user, "--scopes", "read:stations,write:charging", "--key", key)


def domain_events(env: dict[str, str], charge_point_id: str, *types: str, stream: str = "domain") -> list[dict[str, Any]]:
    """``chargelog events`` (JSON Lines) of one charge point, as an analyst reads them."""
    args = ["events", "--stream", stream, "--charge-point", charge_point_id]
    if types:
        args += ["--type", *types]
    return [json.loads(line) for line in run_cli(env, *args).splitlines() if line.strip()]


async def mobile(api_ws_url: str, user: str) -> MobileClient:
    """A Mobile WebSocket API client of ``user``, subscribed to every event."""
    client = MobileClient(await websockets.connect(api_ws_url, max_size=None))
    assert (await client.request("auth", {"apiKey": KEYS[user]}))["result"]["status"] == "ok"
    await client.result("subscribe", {"events": ["all"]})
    return client


class RawStation:
    """A charge point speaking raw OCPP-J 1.6 frames: ``await call(action, payload)`` returns
    the central system's answer (a list); ``answer_next_call`` answers a CALL it receives."""

    _ids = itertools.count(1)

    def __init__(self, ocpp_url: str, charge_point_id: str) -> None:
        self.url = f"{ocpp_url}/{charge_point_id}"
        self.id = charge_point_id
        self.ws: Any = None

    async def __aenter__(self) -> RawStation:
        self.ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def send(self, text: str) -> list[Any]:
        """Send one frame (text) and return the answer with its UniqueId."""
        message_id = json.loads(text)[1]
        await self.ws.send(text)
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame[0] in (3, 4) and frame[1] == message_id:
                    return frame

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        return await self.send(json.dumps([2, f"{self.id}-{next(self._ids)}", action, payload]))

    async def boot(self) -> None:
        answer = await self.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
        assert answer[0] == 3

    async def status(self, connector_id: int, status: str) -> None:
        answer = await self.call("StatusNotification", {"connectorId": connector_id, "errorCode": "NoError",
                                                        "status": status, "timestamp": now()})
        assert answer[0] == 3, answer

    async def start(self, connector_id: int, id_tag: str, meter_start: int) -> int:
        answer = await self.call("StartTransaction", {"connectorId": connector_id, "idTag": id_tag,
                                                      "meterStart": meter_start, "timestamp": now()})
        assert answer[0] == 3, answer
        return int(answer[2]["transactionId"])

    async def meter(self, connector_id: int, transaction_id: int, register_wh: Any) -> list[Any]:
        return await self.call("MeterValues", {"connectorId": connector_id, "transactionId": transaction_id,
                                               "meterValue": [{"timestamp": now(), "sampledValue": [
                                                   {"value": register_wh, "measurand": "Energy.Active.Import.Register",
                                                    "unit": "Wh"}]}]})

    async def stop(self, transaction_id: int, meter_stop: int) -> list[Any]:
        return await self.call("StopTransaction", {"transactionId": transaction_id, "meterStop": meter_stop,
                                                   "timestamp": now()})

    async def answer_next_call(self, payload: dict[str, Any]) -> list[Any]:
        """Wait for the central system's next CALL and answer it with CALLRESULT ``payload``."""
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame[0] == 2:
                    await self.ws.send(json.dumps([3, frame[1], payload]))
                    return frame


DEFECT = '''
import os, runpy, sys
sys.path.insert(0, os.getcwd())  # the sources under test, as `python -m chargelog` would find them
from chargelog.projections.stations import StationsProjection

_apply = StationsProjection.apply


def apply(self, event):
    if event.chargePointId == {station!r} and event.type == "connector.status.changed":
        raise RuntimeError("injected defect")
    _apply(self, event)


StationsProjection.apply = apply
sys.argv[0] = "chargelog"
runpy.run_module("chargelog", run_name="__main__", alter_sys=True)
'''


class DefectServer(Server):
    """``chargelog serve`` whose station-map projection has a defect: it raises on the
    connector changes of one station (installed by a launcher script, not by the product)."""

    def __init__(self, env: dict[str, str], station: str, script: Path) -> None:
        super().__init__(env)
        script.write_text(DEFECT.format(station=station))
        self.script = script

    def start(self) -> DefectServer:
        self.proc = subprocess.Popen(
            [sys.executable, str(self.script), "serve", "--host", "127.0.0.1", "--ocpp-port", str(self.ocpp_port),
             "--api-port", str(self.api_port), "--log-level", "WARNING"],
            env={**os.environ, **self.env}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.ocpp_port, self.proc)
        wait_for_port(self.api_port, self.proc)
        return self
