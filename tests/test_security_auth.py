"""Secure by default, over real sockets: forged tokens refused on every surface, failed
authentications throttled on every surface (HTTP 429 + Retry-After, each WebSocket dialect's
own error form, OCPP handshake 429), charge points that cannot be impersonated (a stored
password is always required; pinning; capped unregistered ids, recorded), and HTTP routes
that answer bad bodies with 400 JSON. Both log engines."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import jwt
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chargelog.adapters.api.auth import issue_token
from chargelog.adapters.ocpp.ports import MemoryRegistry

from test_api_support import Stack, mobile
from test_dialect_support import ClientError, charging_client, dialect_stack, meter_station, push_client, station_ready
from test_ocpp_support import exchange, running_gateway, source_events, url

#: Tests whose outcome does not depend on the log engine run on one; the tests that read
#: recorded refusals back from the log run on both.
ONE_ENGINE = pytest.mark.parametrize("engine", ["embedded"], indirect=True)

#: Secrets published somewhere (this project's old defaults, its README and compose file,
#: common placeholders): a token signed with any of them must be refused.
WELL_KNOWN_SECRETS = ("chargelog-development-secret-change-me", "change-me-dev-secret", "a-long-random-secret",
                      "secret", "changeme", "your-256-bit-secret")


def forged(secret: str, user: str = "mallory", scopes: tuple[str, ...] = ("admin",)) -> str:
    now = int(time.time())
    return jwt.encode({"userId": user, "scopes": list(scopes), "iat": now, "exp": now + 600}, secret, algorithm="HS256")


def unsigned(user: str = "mallory") -> str:
    now = int(time.time())
    return jwt.encode({"userId": user, "scopes": ["admin"], "iat": now, "exp": now + 600}, None, algorithm="none")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def ocpp_status(gateway: Any, cp: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of an OCPP handshake as ``cp`` (101 when it opened)."""
    try:
        async with websockets.connect(url(gateway, cp), subprotocols=["ocpp1.6"], additional_headers=headers or {}):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def http_surfaces(stack: Stack, bearer: str) -> list[httpx.Response]:
    """One request with ``Authorization: Bearer <bearer>`` to each HTTP route that checks it."""
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
        return [await http.get("/api/stations", headers=headers),
                await http.post("/api/operator/commands", headers=headers,
                                json={"chargePointId": "CP1", "action": "Reset", "payload": {"type": "Hard"}}),
                await http.post("/api/charging/start", headers=headers, json={"charger_id": "CP1"})]


@ONE_ENGINE
async def test_generated_secret_and_forged_tokens_refused_on_every_surface(log, settings):
    async with dialect_stack(log, settings, auth_failures_per_address=10_000, auth_failures_per_principal=10_000) as stack:
        secret_file = stack.settings.data_dir / "jwt-secret"
        assert secret_file.stat().st_mode & 0o777 == 0o600
        assert len(secret_file.read_text().strip()) >= 43  # 32 random bytes, base64
        genuine = issue_token(stack.settings, "alice", 60)  # what `chargelog token` signs
        assert [r.status_code for r in await http_surfaces(stack, genuine)][0] == 200
        for token in [forged(s) for s in WELL_KNOWN_SECRETS] + [unsigned()]:
            responses = await http_surfaces(stack, token)
            assert [r.status_code for r in responses] == [401, 401, 401], token
            assert all(r.json()["success"] is False for r in responses)  # JSON on every route
            async with mobile(stack) as client:
                assert (await client.request("auth", {"token": token}))["error"]["code"] == 401
            async with charging_client(stack, token, authenticate=False) as client:
                with pytest.raises(ClientError) as refused:
                    await client.send_message("auth_request", {"token": token})
                assert refused.value.code == "INVALID_TOKEN"
            async with push_client(stack, token) as push:
                assert await push.wait_closed() == (1008, "Invalid authentication token")


@ONE_ENGINE
async def test_failed_authentication_is_throttled_on_every_http_and_websocket_surface(log, settings):
    async with dialect_stack(log, settings, auth_failures_per_address=3, auth_failures_per_principal=1000) as stack:
        wrong = forged("not-the-secret-but-long-enough-0123456789", user="bob")
        for _ in range(3):
            async with mobile(stack) as client:
                assert (await client.request("auth", {"apiKey": "wrong-key"}))["error"]["code"] == 401
        # the address is now throttled everywhere, even with right credentials
        good = issue_token(stack.settings, "alice", 60)
        for response in await http_surfaces(stack, good):
            assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
            assert response.json()["success"] is False
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.get("/api/stations", headers={"X-API-Key": stack.key("alice")})
            assert r.status_code == 429 and "Retry-After" in r.headers
        async with mobile(stack) as client:
            error = (await client.request("auth", {"token": good}))["error"]
            assert error["code"] == 429 and "too many failed authentication attempts" in error["message"]
        async with charging_client(stack, wrong, authenticate=False) as client:
            with pytest.raises(ClientError) as refused:
                await client.send_message("auth_request", {"token": good})
            assert refused.value.code == "RATE_LIMIT_EXCEEDED" and refused.value.reply["data"]["success"] is False
        async with push_client(stack, good) as push:
            code, reason = await push.wait_closed()
            assert code == 1008 and "too many failed authentication attempts" in reason


@ONE_ENGINE
async def test_failed_authentication_is_throttled_per_principal_across_addresses(log, settings):
    async with dialect_stack(log, settings, auth_failures_per_address=1000, auth_failures_per_principal=2) as stack:
        for source in ("127.0.0.2", "127.0.0.3"):  # two addresses guessing for one user
            transport = httpx.AsyncHTTPTransport(local_address=source)
            async with httpx.AsyncClient(base_url=stack.http_url, transport=transport, timeout=30) as http:
                r = await http.get("/api/stations", headers={"Authorization": f"Bearer {forged('guess-' * 8, 'bob')}"})
                assert r.status_code == 401
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.get("/api/stations", headers={"Authorization": f"Bearer {forged('guess-' * 8, 'bob')}"})
            assert r.status_code == 429
            # other users from the same addresses are not affected
            r = await http.get("/api/stations", headers={"Authorization": f"Bearer {issue_token(stack.settings, 'carol', 60)}"})
            assert r.status_code == 200


@ONE_ENGINE
async def test_bad_bodies_get_400_json_on_every_post_route(log, settings):
    deep = b"[" * 100_000 + b"]" * 100_000
    async with dialect_stack(log, settings) as stack:
        admin = {"Authorization": f"Bearer {issue_token(stack.settings, 'op', 60, ['admin'])}"}
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            for path in ("/api/charging/start", "/api/charging/stop", "/api/operator/commands"):
                for body in (deep, b'{"charger_id": "\xff\xfe"}', b"\xff\xfe\xfd", b"{" * 5000):
                    r = await http.post(path, content=body, headers={**admin, "Content-Type": "application/json"})
                    assert r.status_code == 400, (path, body[:10], r.text)
                    assert isinstance(r.json(), dict)
            r = await http.get("/no/such/route")
            assert r.status_code == 404 and r.json()["success"] is False
            r = await http.get("/api/stations", headers={"Authorization": "Bearer not.a.jwt"})
            assert r.status_code == 401 and r.json() == {"success": False, "error": "Unauthorized",
                                                         "message": "invalid token: DecodeError"}


async def test_a_charge_point_with_a_password_cannot_be_impersonated(log, settings):
    registry = MemoryRegistry()
    registry.set_password("CP001", "installer-secret-1")
    async with running_gateway(log, settings, registry) as gateway:  # basic_auth off
        assert await ocpp_status(gateway, "CP001") == 401
        assert await ocpp_status(gateway, "CP001", basic("CP001", "guess")) == 401
        async with websockets.connect(url(gateway, "CP001"), subprotocols=["ocpp1.6"],
                                      additional_headers=basic("CP001", "installer-secret-1")) as ws:
            assert (await exchange(ws, [2, "1", "Heartbeat", {}]))[0] == 3
            assert await ocpp_status(gateway, "CP001") == 401  # the genuine connection stays
            assert (await exchange(ws, [2, "2", "Heartbeat", {}]))[0] == 3
    events = await source_events(log, "CP001")
    assert [e.type for e in events if e.type.startswith("ocpp.connection")] == [
        "ocpp.connection.refused", "ocpp.connection.refused", "ocpp.connection.opened",
        "ocpp.connection.refused", "ocpp.connection.closed"]
    assert not any("installer-secret-1" in e.model_dump_json() for e in events)


async def test_basic_auth_failures_are_throttled(log, settings):
    registry = MemoryRegistry()
    registry.set_password("CP-T", "right-password")
    async with running_gateway(log, settings, registry, basic_auth=True, auth_failures_per_principal=3) as gateway:
        for headers in (basic("CP-T", "wrong"), basic("CP-T", "wrong"), {}):  # no credentials count too
            assert await ocpp_status(gateway, "CP-T", headers) == 401
        try:
            async with websockets.connect(url(gateway, "CP-T"), subprotocols=["ocpp1.6"],
                                          additional_headers=basic("CP-T", "right-password")):
                raise AssertionError("a throttled charge point was let in")
        except InvalidStatus as exc:
            assert exc.response.status_code == 429 and int(exc.response.headers["Retry-After"]) >= 1


async def test_pinning_keeps_the_first_password(log, settings):
    async with running_gateway(log, settings, MemoryRegistry(), charge_point_pinning=True) as gateway:
        assert await ocpp_status(gateway, "CP-NEW") == 401  # pinning needs credentials
        assert await ocpp_status(gateway, "CP-NEW", basic("CP-NEW", "first-password")) == 101
        assert await ocpp_status(gateway, "CP-NEW", basic("CP-NEW", "other-password")) == 401
        assert await ocpp_status(gateway, "CP-NEW", basic("CP-NEW", "first-password")) == 101
    pinned = [e for e in await source_events(log) if e.type == "registry.chargepoint.password.set"]
    assert len(pinned) == 1 and pinned[0].payload["chargePointId"] == "CP-NEW"
    assert "first-password" not in pinned[0].model_dump_json()


async def test_unregistered_charge_points_are_capped_per_address_and_recorded(log, settings):
    registry = MemoryRegistry(charge_points={"CP-KNOWN"})
    async with running_gateway(log, settings, registry, unknown_charge_points_per_address_per_hour=3) as gateway:
        statuses = [await ocpp_status(gateway, f"X{n}") for n in range(5)]
        assert statuses == [101, 101, 101, 429, 429]
        assert await ocpp_status(gateway, "X1") == 101  # one already seen reconnects
        assert await ocpp_status(gateway, "CP-KNOWN") == 101  # registered ones are not capped
    refused = [e for e in await source_events(log) if e.type == "ocpp.connection.refused"]
    assert sorted((e.chargePointId, e.payload["status"]) for e in refused) == [("X3", 429), ("X4", 429)]
    assert all(e.payload["remoteAddress"] == "127.0.0.1" for e in refused)


@ONE_ENGINE
async def test_unregistered_charge_points_connected_at_once_are_capped(log, settings):
    async with running_gateway(log, settings, MemoryRegistry(), unknown_charge_points_max=2) as gateway:
        async with websockets.connect(url(gateway, "U1"), subprotocols=["ocpp1.6"]), \
                websockets.connect(url(gateway, "U2"), subprotocols=["ocpp1.6"]):
            assert await ocpp_status(gateway, "U3") == 503
        assert await ocpp_status(gateway, "U3") == 101


def test_short_configured_secret_is_refused():
    from pydantic import ValidationError

    from chargelog.adapters.config import Settings

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(jwt_secret="change-me-dev-secret")
    assert Settings(jwt_secret="x" * 32).jwt_secret == "x" * 32
    json.dumps(Settings().model_dump(mode="json"))  # no secret generated by merely loading settings


@ONE_ENGINE
async def test_a_start_on_a_busy_connector_names_the_free_ones(log, settings):
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CPB", connectors=2):
        async with mobile(stack, stack.key("u1")) as client:
            await client.result("subscribe", {"events": ["all"]})
            started = await client.result("startCharging", {"stationId": "CPB", "connectorId": 1})
            await client.push(lambda m: m.get("event") == "transaction.started"
                              and m["data"].get("correlationId") == started["correlationId"])
            await station_ready(stack, "CPB", 1, "Charging")
            error = (await client.request("startCharging", {"stationId": "CPB", "connectorId": 1}))["error"]
            assert error["message"] == "connector 1 of CPB is Charging; free connectors: 2"
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.post("/api/charging/start", json={"charger_id": "CPB", "connector_id": 1},
                                headers={"Authorization": f"Bearer {issue_token(stack.settings, 'u1', 60)}"})
            assert r.status_code == 409 and r.json() == {
                "success": False, "error": "Charger not available",
                "message": "connector 1 of CPB is Charging; free connectors: 2"}


@ONE_ENGINE
async def test_credentials_with_lone_surrogates_are_refused_not_crashed(log, settings):
    async with dialect_stack(log, settings) as stack:
        async with mobile(stack) as client:  # json.dumps sends \\ud800 escapes: valid JSON, lone surrogates
            for params in ({"apiKey": "key-\ud800"}, {"token": "eyJ\udc00.e30.x"}):
                await client.send_raw(json.dumps({"id": "s", "action": "auth", "params": params}))
                refused = await client.push(lambda m: "error" in m)  # 400 (bad message) or 401, never 500
                assert refused["error"]["code"] in (400, 401), refused
            assert (await client.request("ping"))["error"]["code"] == 401  # the connection lives on
        async with httpx.AsyncClient(base_url=stack.http_url, timeout=30) as http:
            r = await http.get("/api/stations", headers={"X-API-Key": "key-\xff".encode("latin-1")})  # non-ASCII bytes
            assert r.status_code == 401 and r.json()["success"] is False
