"""Mobile WebSocket API errors and limits over real sockets (sections 2.3, 3.3, 5, 10):
every error code with the request's id, the first-message dispatch, auth by API key and JWT
(forged, expired, alg none, revoked, out of scope), the rate limit, the size limit and the
idle timeout. Both log engines."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import websockets

from chargelog.adapters.api.app import create_app
from chargelog.adapters.api.auth import issue_token
from chargelog.domain.log import DOMAIN, SOURCE

from test_api_support import TIMEOUT_S, MobileClient, api_stack, mobile, serve_app

SECRET = "mobile-errors-test-secret-0123456789abcdef"


def code(response: dict) -> int:
    assert "error" in response, response
    return response["error"]["code"]


async def test_auth_by_key_and_jwt_and_refusals(log, settings):
    async with api_stack(log, settings, gateway=False, jwt_secret=SECRET) as stack:
        good = stack.key("u1")
        revoked_record, revoked = stack.apikeys.create("u1", ["read:stations"])
        stack.apikeys.revoke(revoked_record.id)
        now = int(time.time())
        expired = jwt.encode({"userId": "u1", "iat": now - 7200, "exp": now - 3600}, SECRET, "HS256")
        forged = jwt.encode({"userId": "u1", "iat": now, "exp": now + 60}, "x" * 40, "HS256")
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = base64.urlsafe_b64encode(json.dumps({"userId": "u1", "iat": now, "exp": now + 60}).encode())
        alg_none = f"{header}.{body.rstrip(b'=').decode()}."
        async with mobile(stack) as client:
            # before auth: 401 with the request id
            response = await client.request("getStations", request_id="early")
            assert response == {"id": "early", "error": {"code": 401, "message": response["error"]["message"]}}
            for params in ({"apiKey": "wrong"}, {"apiKey": revoked}, {"token": expired}, {"token": forged},
                           {"token": alg_none}, {}):
                response = await client.request("auth", params, request_id="uuid-12345")
                assert response["id"] == "uuid-12345" and code(response) == 401, (params, response)
            assert (await client.request("auth", {"apiKey": "wrong"}))["error"]["message"] == "Invalid apiKey"
            assert code(await client.request("ping")) == 401
            ok = await client.result("auth", {"apiKey": good})
            assert ok["scopes"] == ["read:stations", "write:charging"]
            assert (await client.result("ping"))["pong"] is True
        async with mobile(stack, token=issue_token(stack.settings, "u2", 60)) as client:
            assert await client.result("getStations") == []
        # neither keys nor tokens reach the event log
        texts = [r.event.encode() for stream in (SOURCE, DOMAIN) for r in await log.read(stream)]
        assert not any(good.encode() in t or expired.encode() in t for t in texts)


async def test_scopes_and_error_codes(log, settings):
    async with api_stack(log, settings, gateway=False) as stack:
        reader = stack.key("u1", "read:stations")
        writer = stack.key("u1", "write:charging")
        async with mobile(stack, reader) as client:
            response = await client.request("startCharging", {"stationId": "CP1", "connectorId": 1}, request_id=7)
            assert response["id"] == 7 and code(response) == 403
            assert code(await client.request("stopCharging", {"transactionId": 5})) == 403
            # 400: bad params, unknown action, unknown event type, not a request, invalid position
            assert code(await client.request("getConnectorStatus", {"stationId": "CP1"})) == 400
            assert code(await client.request("getConnectorStatus", {"stationId": "CP1", "connectorId": "x"})) == 400
            assert code(await client.request("fly")) == 400
            assert code(await client.request("subscribe", {"events": ["weather.changed"]})) == 400
            assert code(await client.request("getEventsSince", {"since": "yesterday-ish"})) == 400
            assert code(await client.request("getEventsSince", {})) == 400
            assert code(await client.request("getEventsSince", {"since": "0-0", "limit": 5000})) == 400
            await client.send_raw("{not json")
            raw = await client.push()
            assert raw == {"id": None, "error": {"code": 400, "message": raw["error"]["message"]}}
            # 404: unknown station, connector, subscription, a position beyond the log
            assert code(await client.request("getConnectorStatus", {"stationId": "nope", "connectorId": 1})) == 404
            assert code(await client.request("subscribe", {"stationId": "nope", "events": ["all"]})) == 404
            assert code(await client.request("unsubscribe", {"subscriptionId": "sub-x"})) == 404
            assert code(await client.request("getEventsSince", {"since": "0-999999"})) == 404
            assert code(await client.request("subscribe", {"events": ["all"], "since": "0-999999"})) == 404
            assert code(await client.request("getMySessions", {"limit": 0})) == 400
            assert await client.result("getMySessions") == []
        async with mobile(stack, writer) as client:
            assert code(await client.request("getStations")) == 403
            assert code(await client.request("subscribe", {"events": ["all"]})) == 403
            assert code(await client.request("stopCharging", {"transactionId": 4242})) == 404
            assert code(await client.request("stopCharging", {})) == 400
            assert code(await client.request("startCharging", {"stationId": "nope", "connectorId": 1})) == 404
            assert code(await client.request("startCharging", {"stationId": "nope", "connectorId": 0})) == 400


class BrokenReadModels:
    """Read models whose station map fails (to provoke a 500)."""

    async def stations(self):
        raise RuntimeError("disk on fire")

    async def positions(self):
        return {}


async def test_internal_error_is_500_and_connection_survives(log, settings):
    app = create_app(log, BrokenReadModels(), settings)  # type: ignore[arg-type]
    async with serve_app(app) as port:
        key = app.state.core.apikeys.create("u1", ["read:stations"])[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
            client = MobileClient(ws)
            await client.result("auth", {"apiKey": key})
            response = await client.request("getStations", request_id="s1")
            assert response == {"id": "s1", "error": {"code": 500, "message": "internal error"}}
            assert (await client.result("ping"))["pong"] is True
            await client.close()
        app.state.core.apikeys.close()


async def test_first_message_dispatch(log, settings):
    """A first message no dialect claims is answered (section 3.3 form) and the connection
    stays open for a proper one."""
    async with api_stack(log, settings, gateway=False) as stack:
        async with websockets.connect(stack.ws_url) as ws:
            await ws.send(json.dumps({"id": "h1", "hello": "world"}))
            error = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            assert error["id"] == "h1" and error["error"]["code"] == 400
            await ws.send(json.dumps({"id": "p1", "action": "ping"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            assert reply == {"id": "p1", "error": {"code": 401, "message": reply["error"]["message"]}}


async def test_rate_limit(log, settings):
    async with api_stack(log, settings, gateway=False, api_rate_per_s=0.001, api_rate_burst=3) as stack:
        async with mobile(stack, stack.key("u1")) as client:  # auth is message 1
            assert "result" in await client.request("ping")
            assert "result" in await client.request("ping")
            limited = await client.request("ping", request_id="p4")
            assert limited["id"] == "p4" and code(limited) == 400 and "rate limit" in limited["error"]["message"]


async def test_message_size_limit(log, settings):
    async with api_stack(log, settings, gateway=False, api_max_message_bytes=1024) as stack:
        async with mobile(stack, stack.key("u1")) as client:
            assert "result" in await client.request("ping", {"pad": "x" * 900})
            await client.send_raw(json.dumps({"id": "big", "action": "ping", "params": {"pad": "x" * 2000}}))
            error = await client.push()
            assert code(error) == 400 and "exceeds 1024 bytes" in error["error"]["message"]
            close_code, _ = await asyncio.wait_for(client.closed, TIMEOUT_S)
            assert close_code == 1009


async def test_idle_connection_is_closed(log, settings):
    async with api_stack(log, settings, gateway=False, api_ping_timeout_s=0.3) as stack:
        async with mobile(stack, stack.key("u1")) as client:
            close_code, reason = await asyncio.wait_for(client.closed, TIMEOUT_S)
            assert close_code == 1000 and "no message within" in reason
