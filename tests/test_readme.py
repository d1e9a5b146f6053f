"""Every example of README.md works verbatim on the demo: the test starts the README's own
``chargelog serve --simulate N`` command (from its first ``console`` block) in a fresh
directory, then runs every ``bash`` block with bash and sends every ``json`` block, one
message at a time, over a WebSocket to the URL the README names just before it — in README
order, exactly as written. Only the ports change (the README's 8082 and 9000 become free
ports, given to the server as ``CHARGELOG_API_PORT`` / ``CHARGELOG_OCPP_PORT``, which every CLI
command reads too), and ``<JWT>`` / ``<transactionId>`` are replaced as the README tells the
reader to. A block fails the test when a command exits non-zero, prints a JSON object with
``"success": false`` or an ``"error"``, or a WebSocket message is answered with an error, so
the test fails as soon as the README drifts from what the server does.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets

from processes import free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
README_API_PORT, README_OCPP_PORT = "8082", "9000"
TIMEOUT_S = 60.0
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
_WS_URL = re.compile(r"ws://127\.0\.0\.1:8082/[^\s`\"]*")


@dataclass
class Block:
    lang: str
    text: str
    url: str | None  # the last ws:// URL the README names before the block


def readme_blocks() -> list[Block]:
    text = README.read_text()
    blocks = []
    for match in _BLOCK.finditer(text):
        urls = _WS_URL.findall(text[:match.start()])
        blocks.append(Block(match[1], match[2], urls[-1] if urls else None))
    return blocks


def json_objects(text: str) -> Iterator[Any]:
    """Every JSON object in ``text`` (outputs of several commands, concatenated or not)."""
    decoder = json.JSONDecoder()
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except ValueError:
            index = text.find("{", index + 1)
            continue
        yield value
        index = text.find("{", end)


def assert_no_failure(value: Any, where: str) -> None:
    if isinstance(value, dict):
        assert value.get("success") is not False and "error" not in value, f"{where}: {value}"
    assert_rounded(value, where)


def assert_rounded(value: Any, where: str) -> None:
    """No float noise in what a user reads (Wh whole, kW/kWh at most 3 decimals, …)."""
    if isinstance(value, float):
        assert round(value, 3) == value, f"{where}: unrounded number {value!r}"
    elif isinstance(value, dict):
        for item in value.values():
            assert_rounded(item, where)
    elif isinstance(value, list):
        for item in value:
            assert_rounded(item, where)


class Demo:
    """The README's server and a shell like the reader's: cwd a fresh directory, ``chargelog``
    on PATH (this checkout's sources)."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.api_port, self.ocpp_port = free_port(), free_port()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "chargelog"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m chargelog "$@"\n')
        wrapper.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(REPO),
                    "CHARGELOG_API_PORT": str(self.api_port), "CHARGELOG_OCPP_PORT": str(self.ocpp_port),
                    "PYTHONUNBUFFERED": "1"}
        for name in ("CHARGELOG_JWT_SECRET", "CHARGELOG_DATA_DIR", "CHARGELOG_LOG", "CHARGELOG_CONFIG"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen[bytes] | None = None

    def ports(self, text: str) -> str:
        return (text.replace(f":{README_API_PORT}", f":{self.api_port}")
                .replace(f":{README_OCPP_PORT}", f":{self.ocpp_port}"))

    def start(self, command: str) -> None:
        self.proc = subprocess.Popen(shlex.split(command), cwd=self.cwd, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.cwd / "serve.log", "wb"))
        wait_for_port(self.api_port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def shell(self, script: str) -> str:
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", self.ports(script)], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout


async def wait_for_stations(demo: Demo, count: int) -> None:
    """Until ``chargelog stations`` lists ``count`` charge points online, free, with the
    vendor, model and firmware their BootNotification stated."""
    for _ in range(600):
        out = await asyncio.to_thread(demo.shell, "chargelog stations --json")
        stations = json.loads(out)["stations"]
        if len(stations) == count and all(s["online"] and s["available"] == s["total"] > 0 and s["vendor"]
                                          and s["model"] and s["firmwareVersion"] for s in stations):
            return
        await asyncio.sleep(0.1)  # polling the server's state, not ordering our own tasks
    raise AssertionError(f"{count} charge points did not come online: {out}")


async def receive(ws: Any, match: Any) -> dict[str, Any]:
    """The next message ``match(message)`` accepts (others are skipped)."""
    async def find() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if match(message):
                return message
    return await asyncio.wait_for(find(), TIMEOUT_S)


async def mobile_session(demo: Demo, url: str, lines: list[str]) -> None:
    async with websockets.connect(demo.ports(url), max_size=None) as ws:
        for line in lines:
            request = json.loads(line)
            await ws.send(line)
            response = await receive(ws, lambda m, rid=request["id"]: "event" not in m and m.get("id") == rid)
            assert "error" not in response, f"{line}\n→ {response}"
            assert_rounded(response, line)
            if request["action"] == "startCharging":  # the README: the push follows
                cid = response["result"]["correlationId"]
                await receive(ws, lambda m: m.get("event") == "transaction.started"
                              and m.get("data", {}).get("correlationId", m.get("correlationId")) == cid)


async def charging_session(demo: Demo, url: str, lines: list[str], jwt: str) -> None:
    transaction_id: int | None = None
    async with websockets.connect(demo.ports(url), max_size=None) as ws:
        for line in lines:
            line = line.replace("<JWT>", jwt)
            if "<transactionId>" in line:
                assert transaction_id is not None, "no start_charging_response before <transactionId>"
                line = line.replace("<transactionId>", str(transaction_id))
            request = json.loads(line)
            await ws.send(line)
            response = await receive(ws, lambda m, rid=request["id"]: m.get("id") == rid)
            assert "error" not in response and response["data"].get("success") is not False, f"{line}\n→ {response}"
            assert_rounded(response, line)
            if response["type"] == "start_charging_response":
                transaction_id = response["data"]["transactionId"]


async def guide_session(demo: Demo, url: str, lines: list[str], jwt: str) -> None:
    async with websockets.connect(demo.ports(url).replace("<JWT>", jwt), max_size=None) as ws:
        for line in lines:
            action = json.loads(line)["action"]
            await ws.send(line)
            response = await receive(ws, lambda m, a=action: m.get("type") == "response" and m.get("action") == a)
            assert response["data"].get("success") is not False, f"{line}\n→ {response}"
            assert_rounded(response, line)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path)
    yield running
    running.stop()


async def test_every_readme_example_works_verbatim_on_the_demo(demo: Demo):
    blocks = readme_blocks()
    first_run = next(b for b in blocks if b.lang == "console" and "chargelog serve --simulate" in b.text)
    serve = next(line for line in first_run.text.splitlines() if line.startswith("chargelog serve --simulate"))
    stations = int(serve.split("--simulate")[1].split()[0])
    demo.start(serve)
    await wait_for_stations(demo, stations)
    ran = {"bash": 0, "json": 0}
    for block in blocks:
        if block.lang == "bash":
            out = await asyncio.to_thread(demo.shell, block.text)
            for value in json_objects(out):
                assert_no_failure(value, block.text)
        elif block.lang == "json":
            lines = [line for line in block.text.splitlines() if line.strip()]
            assert block.url is not None, f"no ws:// URL named before {lines[0]}"
            first = json.loads(lines[0].replace("<JWT>", "x"))
            if "?token=" in block.url:
                jwt = (await asyncio.to_thread(demo.shell, "chargelog token --user 123")).strip()
                await guide_session(demo, block.url, lines, jwt)
            elif "type" in first:
                jwt = (await asyncio.to_thread(demo.shell, "chargelog token --user user-42")).strip()
                await charging_session(demo, block.url, lines, jwt)
            else:
                await mobile_session(demo, block.url, lines)
        else:
            continue
        ran[block.lang] += 1
    assert ran["bash"] >= 5 and ran["json"] >= 3, ran
    # the README's first claim: the map, with every simulated charge point free again
    await wait_for_stations(demo, stations)
    log = (demo.cwd / "serve.log").read_text()
    assert "Traceback" not in log, log
