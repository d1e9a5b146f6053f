"""The request dispatch the WebSocket dialects share (adapters/api/ws/router.py) over real
sockets: a JWT that expires while the connection is open refuses the next request that needs a
caller, in each dialect's own form — Mobile 401 (mobile-websocket-api.md section 5), Charging
``INVALID_TOKEN`` (charging-websocket-api.md "Common Error Codes") — with the request's id,
and signing in again carries on. (The push socket closes 1008 at expiry instead:
test_dialect_comms.) Both log engines."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from test_api_support import mobile
from test_dialect_support import ClientError, charging_client, dialect_stack, token


async def test_an_expired_token_refuses_requests_until_signed_in_again(log, settings):
    async with dialect_stack(log, settings) as stack:
        short = token(settings, "u1", ttl_s=2)
        expires = jwt.decode(short, options={"verify_signature": False})["exp"]
        async with mobile(stack, token=short) as app, charging_client(stack, short) as client:
            assert (await app.result("ping"))["pong"] is True
            # what is tested is the token's own lifetime running out: wait for its exp
            await asyncio.sleep(max(0.0, expires - time.time()) + 0.05)

            late = await app.request("getStations", request_id="late")
            assert late == {"id": "late", "error": {"code": 401, "message": "token expired: send auth again"}}
            assert (await app.request("auth", {"token": token(settings, "u1")}))["result"]["status"] == "ok"
            assert await app.result("getStations") == []

            with pytest.raises(ClientError) as refused:
                await client.start_charging("CP_NONE", 1, "TAG1")
            error = refused.value.reply
            assert error["id"] == "2" and error["type"] == "error" and refused.value.code == "INVALID_TOKEN", error
            assert (await client.send_message("heartbeat", omit_data=True))["type"] == "heartbeat"  # needs no caller
            client.token = token(settings, "u1")
            await client.authenticate()
            with pytest.raises(ClientError) as offline:
                await client.start_charging("CP_NONE", 1, "TAG1")
            assert offline.value.code == "CHARGE_POINT_OFFLINE"  # a core refusal, with its kind
            assert offline.value.reply["error"]["details"] == {"reason": "not_found"}
