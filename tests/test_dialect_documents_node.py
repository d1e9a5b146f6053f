"""charging-websocket-api.md's own JavaScript client, run in Node (≥ 20) with the ``ws``
package against the real stack (OCPP gateway, projection worker, API under uvicorn, an
``ocpp.v16`` station; both log engines): the document's "Usage" example —
``connect()``, ``startCharging('CP_001', 1, 'USER_123')``, ``stopCharging('CP_001', …)`` —
on a fresh install, where ``USER_123`` is registered to nobody (default id-tag policy
accept-all). The client class is tests/js/charging_client.js, copied verbatim; ``ws`` is
installed into tests/js/node_modules from the npm registry on first use. A missing ``node``
or ``npm`` fails the test."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from test_dialect_support import dialect_stack, meter_station, station_ready, token

JS = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_client() -> Path:
    """tests/js with its ``ws`` dependency installed (idempotent: ``npm install`` only when
    node_modules/ws is missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are required (Node 20+, e.g. apt-get install nodejs npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= 20, f"Node 20+ required, found {version}"
    if not (JS / "node_modules" / "ws" / "package.json").is_file():
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=JS, check=True, timeout=300)
    return JS


async def run_node(directory: Path, *args: str) -> list[dict]:
    process = await asyncio.create_subprocess_exec("node", "charging_example.js", *args, cwd=directory,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    assert process.returncode == 0, (lines, stderr.decode())
    return lines


async def test_documented_javascript_client_starts_and_stops(log, settings, node_client):
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP_001") as cp:
        await station_ready(stack, "CP_001", 1)
        lines = await run_node(node_client, stack.ws_url, token(settings, "user-uuid"))
        assert [line["step"] for line in lines] == ["connected", "started", "stopped"], lines
        started, stopped = lines[1]["response"], lines[2]["response"]
        assert started["type"] == "start_charging_response" and started["id"] == "2"
        assert started["data"]["success"] is True and started["data"]["status"] == "Accepted"
        transaction_id = started["data"]["transactionId"]
        assert isinstance(transaction_id, int) and transaction_id == await cp.started.get()
        assert stopped["type"] == "stop_charging_response" and stopped["id"] == "3"
        assert stopped["data"] == {"success": True, "transactionId": transaction_id, "status": "Accepted",
                                   "message": "Charging stopped successfully"}
        # the session is the caller's; USER_123 stays registered to nobody
        sessions = await stack.app.state.core.read_models.session_history("user-uuid", 10, 0)
        assert [(s.transactionId, s.idTag) for s in sessions] == [(transaction_id, "USER_123")]
        assert stack.worker.registry.lookup("USER_123") is None
