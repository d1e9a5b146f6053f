"""Secure by default and a first hour that works, through the real ``chargelog`` processes:
the generated JWT secret (data dir, mode 0600) that ``serve`` and the CLI share, refused
short secrets, the loopback default and ``--insecure``, the startup banner, one-line errors
for busy ports, ``--version``, quiet broken pipes, header timeouts on both ports, and no
credential in the logs of a DEBUG run (every secret used is grepped for)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import websockets
from websockets.exceptions import InvalidStatus

import chargelog
from processes import Server, chargelog_cmd, free_port

REPO = Path(__file__).resolve().parent.parent


def cli(env: dict[str, str], *args: str, input_: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(chargelog_cmd(*args), env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120, input=input_)


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A fresh data directory and no configured secret (whatever the caller's environment has)."""
    os.environ.pop("CHARGELOG_JWT_SECRET", None)
    return {"CHARGELOG_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1", **extra}


def closes_without_answer(port: int, partial: bytes) -> bool:
    """Send a request head that never ends; True when the server closes the connection
    (within 60 s, a bound for a hung test, not a timing claim)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(partial)
        try:
            return sock.recv(1024) == b""
        except ConnectionResetError:
            return True


def test_first_start_generates_a_secret_that_the_cli_shares(tmp_path: Path):
    env = clean_env(tmp_path, CHARGELOG_HTTP_HEADER_TIMEOUT_S="1")
    server = Server(env, log_path=tmp_path / "serve.log").start()
    try:
        secret = tmp_path / "data" / "jwt-secret"
        assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text().strip()) >= 43
        token = cli(env, "token", "--user", "demo").stdout.strip()
        r = httpx.get(f"{server.api_url}/api/stations", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        health = httpx.get(f"{server.api_url}/health").json()
        assert health["version"] == chargelog.__version__
        # `chargelog stations` finds the server by the same settings (CHARGELOG_API_PORT)
        listing = cli({**env, "CHARGELOG_API_PORT": str(server.api_port)}, "stations")
        assert listing.returncode == 0 and "(0 charge points" in listing.stdout, listing.stderr
        wrong_port = cli({**env, "CHARGELOG_API_PORT": str(free_port())}, "stations")
        assert wrong_port.returncode == 2 and "is `chargelog serve` running?" in wrong_port.stderr
        assert len(wrong_port.stderr.strip().splitlines()) == 1
        # header timeouts on both ports
        assert closes_without_answer(server.api_port, b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert closes_without_answer(server.ocpp_port, b"GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\n")
        # a closed pipe ends quietly
        piped = subprocess.run(["bash", "-c", " ".join(chargelog_cmd("events", "--stream", "source")) + " | head -c 10"],
                               env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
        assert piped.returncode == 0 and "Traceback" not in piped.stderr, piped.stderr
        for command in (("token", "--user", "x"), ("apikey", "list"), ("--version",)):  # the reader left at once
            closed = subprocess.run(["bash", "-c", " ".join(chargelog_cmd(*command)) + " | true"],
                                    env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
            assert closed.stderr == "", closed.stderr
    finally:
        server.stop()
    banner = (tmp_path / "serve.log").read_text()
    assert f"ws://127.0.0.1:{server.ocpp_port}/ocpp/{{chargePointId}}" in banner
    assert f"http://127.0.0.1:{server.api_port}/health" in banner and f"ws://127.0.0.1:{server.api_port}/ws" in banner
    assert str((tmp_path / "data").resolve()) in banner and str(secret.resolve()) in banner
    # a restart keeps the secret: the token issued before still works
    server = Server(env).start()
    try:
        r = httpx.get(f"{server.api_url}/api/stations", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        server.stop()


def test_short_configured_secrets_are_refused(tmp_path: Path):
    env = clean_env(tmp_path, CHARGELOG_JWT_SECRET="change-me-dev-secret")
    for args in (["serve", "--api-port", str(free_port()), "--ocpp-port", str(free_port())], ["token", "--user", "u"]):
        done = cli(env, *args)
        assert done.returncode == 2 and "at least 32 bytes" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_non_loopback_bind_needs_authentication_or_insecure(tmp_path: Path):
    env = clean_env(tmp_path)
    ports = ["--api-port", str(free_port()), "--ocpp-port", str(free_port())]
    refused = cli(env, "serve", "--host", "0.0.0.0", *ports)
    assert refused.returncode == 2 and "--insecure" in refused.stderr, refused.stderr
    insecure = Server(env, extra_args=["--host", "0.0.0.0", "--insecure"], log_path=tmp_path / "insecure.log").start()
    insecure.stop()
    text = (tmp_path / "insecure.log").read_text()
    assert "warning: listening on 0.0.0.0 without charge point authentication" in text
    assert "warning: listening on 0.0.0.0 with the generated JWT secret" in text
    configured = {**env, "CHARGELOG_JWT_SECRET": "s" * 40, "CHARGELOG_BASIC_AUTH": "true"}
    quiet = Server(configured, extra_args=["--host", "0.0.0.0"], log_path=tmp_path / "quiet.log").start()
    quiet.stop()
    assert "warning" not in (tmp_path / "quiet.log").read_text()


def test_busy_ports_are_one_line_errors_and_version(tmp_path: Path):
    env = clean_env(tmp_path)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        for flag, other, name in (("--api-port", "--ocpp-port", "API"), ("--ocpp-port", "--api-port", "OCPP")):
            done = cli(env, "serve", flag, port, other, str(free_port()))
            hint = f"cannot listen on 127.0.0.1:{port} (Address already in use); choose another with {flag} or " \
                   f"CHARGELOG_{name}_PORT"
            assert done.returncode == 2 and hint in done.stderr, done.stderr
            assert [line for line in done.stderr.splitlines() if "Traceback" in line] == []
            assert done.stderr.strip().splitlines()[-1].startswith("chargelog: error:"), done.stderr
    version = cli(env, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"chargelog {chargelog.__version__}"


def test_compose_requires_a_secret():
    values = re.findall(r"^\s+CHARGELOG_JWT_SECRET:\s*(.+)$", (REPO / "infra" / "docker-compose.yml").read_text(), re.M)
    assert values and all(v.startswith("${CHARGELOG_JWT_SECRET:?") for v in values), values  # no default: required


async def test_no_credential_in_a_debug_run_s_logs(tmp_path: Path):
    secret = "debug-run-secret-" + "q" * 32
    env = clean_env(tmp_path, CHARGELOG_JWT_SECRET=secret)
    password, wrong = "station-password-4711", "guessed-password-0815"
    api_key = "debug-run-api-key-2342"
    assert cli(env, "registry", "set-password", "--charge-point", "CP-R", "--password", password).returncode == 0
    assert cli(env, "apikey", "create", "--user", "tester", "--scopes", "read:stations,write:charging",
               "--key", api_key).returncode == 0
    token = cli(env, "token", "--user", "user-7").stdout.strip()
    server = Server(env, extra_args=["--log-level", "DEBUG"], log_path=tmp_path / "debug.log").start()
    try:
        async def traffic() -> None:
            ocpp = f"ws://127.0.0.1:{server.ocpp_port}/ocpp/CP-R"
            for pw in (password, wrong):
                auth = {"Authorization": "Basic " + base64.b64encode(f"CP-R:{pw}".encode()).decode()}
                try:
                    async with websockets.connect(ocpp, subprotocols=["ocpp1.6"], additional_headers=auth) as ws:
                        await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
                        await ws.recv()
                except InvalidStatus:
                    assert pw == wrong
            async with httpx.AsyncClient(base_url=server.api_url) as http:
                assert (await http.get("/api/stations", headers={"Authorization": f"Bearer {token}"})).status_code == 200
                assert (await http.get("/api/stations", headers={"X-API-Key": api_key})).status_code == 200
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(json.dumps({"id": "1", "action": "auth", "params": {"apiKey": api_key}}))
                assert "result" in json.loads(await ws.recv())
            async with websockets.connect(server.ws_url) as ws:
                await ws.send(json.dumps({"id": "a", "type": "auth_request", "timestamp": "2026-01-01T00:00:00.000Z",
                                          "data": {"token": token}}))
                assert json.loads(await ws.recv())["data"]["success"] is True
            async with websockets.connect(f"ws://127.0.0.1:{server.api_port}/?token={token}") as ws:
                assert json.loads(await ws.recv())["type"] == "connected"

        await asyncio.wait_for(traffic(), 60)
    finally:
        server.stop()
    logged = (tmp_path / "debug.log").read_text()
    assert "debug" in logged.lower() and "websockets" in logged  # a real DEBUG run of the libraries
    for credential in (secret, token, api_key, password, wrong, *token.split("."),
                       base64.b64encode(f"CP-R:{password}".encode()).decode(),
                       base64.b64encode(f"CP-R:{wrong}".encode()).decode()):
        assert credential not in logged, f"{credential[:12]}… is in the log"


def test_the_demo_s_own_simulated_charge_points_are_not_capped(tmp_path: Path):
    env = clean_env(tmp_path)  # default caps: 20 unregistered ids per address per hour
    server = Server(env, extra_args=["--simulate", "25"]).start()
    try:
        token = cli(env, "token", "--user", "demo").stdout.strip()
        for _ in range(600):  # polling the server's state until the fleet has booted
            body = httpx.get(f"{server.api_url}/api/stations", headers={"Authorization": f"Bearer {token}"}).json()
            if sum(s["online"] for s in body["stations"]) == 25:
                break
            time.sleep(0.1)
        assert sum(s["online"] for s in body["stations"]) == 25, body
    finally:
        server.stop()
