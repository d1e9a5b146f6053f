"""The Charging WebSocket API (specs/charging-websocket-api.md) over real sockets: the OCPP
gateway, the projection worker, the API under uvicorn and an ``ocpp.v16`` test station, on
both log engines. The client is the document's own ``ChargingWebSocketClient``
(test_dialect_support.ChargingClient)."""

from __future__ import annotations

import re

import pytest

from chargelog.domain.log import SOURCE
from chargelog.domain.registry import IdTag, id_tag_upserted
from test_dialect_support import (ClientError, dialect_stack, MeterStation, charging_client, domain_event, iso_now, meter_station,
                                  station_ready, token)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_integration_flow_as_documented(log, settings):
    """"Integration Tests" → complete charging workflow, literally: connect, authenticate
    (again), startCharging('CP_TEST', 1, 'TEST_USER') → success + transactionId, status and
    meter updates, stopCharging('CP_TEST', transactionId) → success."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP_TEST") as cp:
        await station_ready(stack, "CP_TEST", 2)
        client_token = token(settings, "TEST_USER")
        async with charging_client(stack, client_token) as client:
            await client.authenticate()                                     # the test authenticates twice
            start = await client.start_charging("CP_TEST", 1, "TEST_USER")
            assert start["type"] == "start_charging_response" and start["id"] == "3"
            assert ISO_MS.match(start["timestamp"]) and "error" not in start
            assert start["data"]["success"] is True and start["data"]["status"] == "Accepted"
            assert start["data"]["connectorId"] == 1 and start["data"]["message"] == "Charging started successfully"
            transaction_id = start["data"]["transactionId"]
            assert isinstance(transaction_id, int) and transaction_id == await cp.started.get()

            charging = await client.update(lambda m: m["type"] == "charging_status_update"
                                           and m["data"]["status"] == "Charging")
            assert charging["data"] == {"chargePointId": "CP_TEST", "connectorId": 1, "status": "Charging",
                                        "transactionId": transaction_id, "timestamp": charging["data"]["timestamp"]}
            assert ISO_MS.match(charging["timestamp"]) and charging["id"]

            await cp.meter(1, transaction_id, 1000 + 15234, power_w=7500, voltage_v=230.1, current_a=32.6, soc=75)
            meter = await client.update(lambda m: m["type"] == "meter_values_update")
            assert meter["data"]["chargePointId"] == "CP_TEST" and meter["data"]["connectorId"] == 1
            assert meter["data"]["transactionId"] == transaction_id
            value = meter["data"]["meterValue"]
            assert value == {"energyImportKWh": 15.234, "powerKw": 7.5, "voltage": 230.1, "current": 32.6,
                             "timestamp": value["timestamp"], "stateOfCharge": 75}
            assert ISO_MS.match(value["timestamp"])

            stop = await client.stop_charging("CP_TEST", transaction_id)
            assert stop["type"] == "stop_charging_response" and "error" not in stop
            assert stop["data"] == {"success": True, "transactionId": transaction_id, "status": "Accepted",
                                    "message": "Charging stopped successfully"}
            available = await client.update(lambda m: m["type"] == "charging_status_update"
                                            and m["data"]["status"] == "Available")
            assert available["data"]["transactionId"] is None


async def test_authentication_and_its_errors(log, settings):
    """auth_request → auth_response (success, userId, sessionId, expiresAt); the Jest tests'
    failure ("Authentication failed"); INVALID_TOKEN, MISSING_PARAMETERS, NOT_AUTHENTICATED,
    re-authentication, a userId that is not the token's; the React hook's raw messages."""
    async with dialect_stack(log, settings) as stack:
        good = token(settings, "user-uuid")
        async with charging_client(stack, good, authenticate=False) as client:
            with pytest.raises(ClientError) as refused:
                await client.start_charging("CP_001", 1, "USER_123")
            assert refused.value.code == "NOT_AUTHENTICATED" and refused.value.reply["type"] == "error"
            assert refused.value.reply["id"] == "1"
            reply = await client.send_message("auth_request", {"token": good, "userId": "user-uuid"})
            assert reply["type"] == "auth_response" and reply["id"] == "2" and "error" not in reply
            data = reply["data"]
            assert data["success"] is True and data["userId"] == "user-uuid"
            assert data["sessionId"].startswith("ws_session_") and ISO_MS.match(data["expiresAt"])
            assert data["message"] == "Authentication successful"
            again = await client.send_message("auth_request", {"token": good})
            assert again["data"]["sessionId"] == data["sessionId"]
            with pytest.raises(ClientError) as missing:
                await client.send_message("auth_request", {})
            assert missing.value.code == "MISSING_PARAMETERS"
            assert missing.value.reply["type"] == "auth_response" and missing.value.reply["data"]["success"] is False
            # a failed re-authentication drops the authentication
            with pytest.raises(ClientError) as dropped:
                await client.start_charging("CP_001", 1, "user-uuid")
            assert dropped.value.code == "NOT_AUTHENTICATED"
            with pytest.raises(ClientError) as mismatch:
                await client.send_message("auth_request", {"token": good, "userId": "someone-else"})
            assert mismatch.value.code == "INVALID_TOKEN"

        for bad in ("invalid-token", token(settings, "u1", ttl_s=-60), good[:-3] + "AAA"):
            invalid = charging_client(stack, bad)
            with pytest.raises(ClientError) as failed:
                async with invalid:
                    pass
            assert str(failed.value).startswith("Authentication failed")           # the Jest expectation
            assert failed.value.code == "INVALID_TOKEN"
            assert failed.value.reply["type"] == "auth_response" and failed.value.reply["data"]["success"] is False

        # the React Native hook: raw auth_request with id '1', reads message.data.success
        async with charging_client(stack, good, authenticate=False) as hook:
            await hook.send_raw({"id": "1", "type": "auth_request", "timestamp": iso_now(), "data": {"token": "nope"}})
            auth = await hook.update(lambda m: m["type"] == "auth_response")
            assert auth["data"]["success"] is False


async def test_expired_token_during_session_is_invalid_token(log, settings):
    """A token still inside the verifier's clock-skew leeway authenticates, but once past its
    exp the session's requests answer INVALID_TOKEN."""
    async with dialect_stack(log, settings) as stack:
        async with charging_client(stack, token(settings, "u-exp", ttl_s=-2)) as client:
            with pytest.raises(ClientError) as expired:
                await client.start_charging("CP_001", 1, "u-exp")
            assert expired.value.code == "INVALID_TOKEN"


async def test_bad_input_of_every_kind(log, settings):
    """INVALID_REQUEST for non-JSON, non-objects, missing id/type/timestamp, a bad timestamp,
    non-object data, unknown and server-only types, wrong field types and a userId that is
    not the caller's; MISSING_PARAMETERS for missing chargePointId / connectorId /
    transactionId; the connection survives all of it."""
    async with dialect_stack(log, settings) as stack:
        async with charging_client(stack, token(settings, "user-1")) as client:
            for raw in ("not json", "[1, 2]", '"text"', "{}", '{"type": "heartbeat", "timestamp": "x", "id": "h"}',
                        '{"id": "a", "timestamp": "2024-01-15T10:30:00.000Z"}',
                        '{"id": "b", "type": "heartbeat"}',
                        '{"id": "c", "type": "start_charging_request", "timestamp": "2024-01-15T10:30:00Z", "data": 5}'):
                await client.send_raw(raw)
                error = await client.update(lambda m: m["type"] == "error")
                assert error["error"]["code"] == "INVALID_REQUEST", raw
                assert ISO_MS.match(error["timestamp"]) and set(error["error"]) == {"code", "message", "details"}
            for type_ in ("no_such_type", "auth_response", "meter_values_update"):
                with pytest.raises(ClientError) as unknown:
                    await client.send_message(type_, {})
                assert unknown.value.code == "INVALID_REQUEST"
            cases = [
                ("start_charging_request", {"connectorId": 1}, "MISSING_PARAMETERS"),
                ("start_charging_request", {"chargePointId": "CP_001"}, "MISSING_PARAMETERS"),
                ("start_charging_request", {}, "MISSING_PARAMETERS"),
                ("start_charging_request", {"chargePointId": 7, "connectorId": 1}, "INVALID_REQUEST"),
                ("start_charging_request", {"chargePointId": "CP_001", "connectorId": "1"}, "INVALID_REQUEST"),
                ("start_charging_request", {"chargePointId": "CP_001", "connectorId": 0}, "INVALID_REQUEST"),
                ("start_charging_request", {"chargePointId": "CP_001", "connectorId": True}, "INVALID_REQUEST"),
                ("start_charging_request", {"chargePointId": "CP_001", "connectorId": 1, "idTag": 5}, "INVALID_REQUEST"),
                ("start_charging_request", {"chargePointId": "CP_001", "connectorId": 1, "userId": "user-2"},
                 "INVALID_REQUEST"),
                ("stop_charging_request", {"chargePointId": "CP_001"}, "MISSING_PARAMETERS"),
                ("stop_charging_request", {"transactionId": "12345"}, "INVALID_REQUEST"),
                ("stop_charging_request", {"transactionId": 1, "reason": 3}, "INVALID_REQUEST"),
                ("stop_charging_request", {"transactionId": 12345}, "TRANSACTION_NOT_FOUND"),
                ("start_charging_request", {"chargePointId": "NO_SUCH_CP", "connectorId": 1}, "CHARGE_POINT_OFFLINE"),
            ]
            for type_, data, code in cases:
                with pytest.raises(ClientError) as refused:
                    await client.send_message(type_, data)
                assert refused.value.code == code, (type_, data)
                assert refused.value.reply["type"] == "error"
            with pytest.raises(ClientError) as no_data:
                await client.send_message("start_charging_request", omit_data=True)
            assert no_data.value.code == "MISSING_PARAMETERS"
            beat = await client.send_message("heartbeat", omit_data=True, message_id="heartbeat-001")
            assert beat["type"] == "heartbeat" and beat["id"] == "heartbeat-001"


async def test_cross_user_refusals_and_gateway_errors(log, settings):
    """Another user's transaction is TRANSACTION_NOT_FOUND (stop, or a chargePointId that does
    not match); another user's idTag INVALID_REQUEST; a charge point that says Rejected →
    GATEWAY_ERROR; one that accepts but never starts → GATEWAY_ERROR (timeout); a known
    charge point that is not connected → CHARGE_POINT_OFFLINE."""
    await log.append(SOURCE, [id_tag_upserted(IdTag(idTag="ALICE-CARD", userId="alice"))])
    async with dialect_stack(log, settings, charging_start_wait_s=2.0) as stack:
        async with meter_station(stack, "CP_001") as cp:
            await station_ready(stack, "CP_001", 2)
            async with charging_client(stack, token(settings, "alice")) as alice, \
                    charging_client(stack, token(settings, "bob")) as bob:
                start = await alice.start_charging("CP_001", 1, "alice")
                tid = start["data"]["transactionId"]
                with pytest.raises(ClientError) as theirs:
                    await bob.stop_charging("CP_001", tid)
                assert theirs.value.code == "TRANSACTION_NOT_FOUND"
                with pytest.raises(ClientError) as wrong_cp:
                    await alice.stop_charging("CP_OTHER", tid)
                assert wrong_cp.value.code == "TRANSACTION_NOT_FOUND"
                with pytest.raises(ClientError) as tag:
                    await bob.start_charging("CP_001", 2, "ALICE-CARD")  # registered to alice
                assert tag.value.code == "INVALID_REQUEST"
                # bob sees no status or meter update of alice's connector
                await cp.meter(1, tid, 3000)
                await alice.update(lambda m: m["type"] == "meter_values_update")
                assert all(m["type"] not in ("meter_values_update", "charging_status_update")
                           for m in [*bob.backlog, *bob.updates._queue])  # noqa: SLF001
                await alice.stop_charging("CP_001", tid)

                cp.answer = "Rejected"
                with pytest.raises(ClientError) as rejected:
                    await alice.start_charging("CP_001", 2, "alice")
                assert rejected.value.code == "GATEWAY_ERROR"
                assert rejected.value.reply["error"]["details"]["status"] == "Rejected"
        # CP_001 is now disconnected: known to the read models, not connected
        await domain_event(stack, lambda e: e.type == "station.disconnected" and e.chargePointId == "CP_001")
        async with charging_client(stack, token(settings, "alice")) as alice:
            with pytest.raises(ClientError) as offline:
                await alice.start_charging("CP_001", 1, "alice")
            assert offline.value.code == "CHARGE_POINT_OFFLINE"


class AcceptOnlyStation(MeterStation):
    """Answers RemoteStartTransaction Accepted and then never starts a transaction."""

    __test__ = False

    async def after_remote_start(self, *args: object, **kwargs: object) -> None:  # no @after: not routed
        return None


async def test_start_that_never_completes_is_a_gateway_timeout(log, settings):
    async with dialect_stack(log, settings, charging_start_wait_s=0.5) as stack:
        async with meter_station(stack, "CP_SLOW", station_class=AcceptOnlyStation):
            await station_ready(stack, "CP_SLOW", 2)
            async with charging_client(stack, token(settings, "carol")) as client:
                with pytest.raises(ClientError) as slow:
                    await client.start_charging("CP_SLOW", 1, "carol")
                assert slow.value.code == "GATEWAY_ERROR" and slow.value.reply["error"]["details"]["status"] == "timeout"


async def test_heartbeats_both_ways_and_session_timeout(log, settings):
    """The server sends heartbeats every charging_heartbeat_interval_s (an echo of one is not
    answered); a silent session is closed after charging_session_timeout_s."""
    async with dialect_stack(log, settings, charging_heartbeat_interval_s=0.2, charging_session_timeout_s=5) as stack:
        async with charging_client(stack, token(settings, "dave")) as client:
            beat = await client.update(lambda m: m["type"] == "heartbeat")
            assert beat["id"].startswith("heartbeat-") and ISO_MS.match(beat["timestamp"]) and "data" not in beat
            await client.send_raw({"id": beat["id"], "type": "heartbeat", "timestamp": iso_now()})
            reply = await client.send_message("heartbeat", omit_data=True)
            assert reply["type"] == "heartbeat"
            code, reason = await client.wait_closed()
            assert (code, reason) == (1000, "Session timeout")
            later = [*client.backlog, *client.updates._queue]  # noqa: SLF001
            assert all(not (m["type"] == "heartbeat" and m["id"] == beat["id"]) for m in later)


async def test_rate_limits(log, settings):
    """Connections per minute per IP, messages per minute per user, authentication attempts
    per minute per IP: the request over the limit gets RATE_LIMIT_EXCEEDED."""
    async with dialect_stack(log, settings, charging_connections_per_min=3, charging_messages_per_min=4,
                         charging_auth_per_min=3) as stack:
        good = token(settings, "erin")
        async with charging_client(stack, good) as first:            # connection 1, auth 1
            for _ in range(4):                                        # messages 1..4 (auth is not counted)
                await first.send_message("heartbeat", omit_data=True)
            with pytest.raises(ClientError) as too_many:
                await first.send_message("heartbeat", omit_data=True)
            assert too_many.value.code == "RATE_LIMIT_EXCEEDED"
            assert too_many.value.reply["error"]["details"]["limit"] == 4
            async with charging_client(stack, good, authenticate=False) as second:   # connection 2
                await second.send_message("heartbeat", omit_data=True)
                with pytest.raises(ClientError):
                    await second.send_message("auth_request", {"token": "bad"})          # auth 2
                with pytest.raises(ClientError):
                    await second.send_message("auth_request", {"token": "bad"})          # auth 3
                with pytest.raises(ClientError) as auth_limited:
                    await second.send_message("auth_request", {"token": good})           # auth 4
                assert auth_limited.value.code == "RATE_LIMIT_EXCEEDED"
                assert auth_limited.value.reply["type"] == "auth_response"
                async with charging_client(stack, good, authenticate=False) as third:  # connection 3
                    await third.send_message("heartbeat", omit_data=True)
                    fourth = charging_client(stack, good, authenticate=False)
                    async with fourth as refused:                                     # connection 4
                        with pytest.raises(ClientError) as conn_limited:
                            await refused.send_message("heartbeat", omit_data=True)
                        assert conn_limited.value.code == "RATE_LIMIT_EXCEEDED"
                        assert await refused.wait_closed() == (1008, "Rate limit exceeded")


async def test_react_native_hook_messages(log, settings):
    """The useChargingWebSocket hook's raw messages: auth_request with id '1' → it reads
    auth_response.data.success; start/stop with Date.now() ids; it sets its status from
    charging_status_update.data.status and its meter from meter_values_update.data.meterValue."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP_001") as cp:
        await station_ready(stack, "CP_001", 2)
        async with charging_client(stack, token(settings, "USER_123"), authenticate=False) as hook:
            await hook.send_raw({"id": "1", "type": "auth_request", "timestamp": iso_now(),
                                 "data": {"token": hook.token}})
            auth = await hook.update(lambda m: m["type"] == "auth_response")
            assert auth["id"] == "1" and auth["data"]["success"] is True
            await hook.send_raw({"id": "1732180000000", "type": "start_charging_request", "timestamp": iso_now(),
                                 "data": {"chargePointId": "CP_001", "connectorId": 1, "idTag": "USER_123"}})
            status = await hook.update(lambda m: m["type"] == "charging_status_update"
                                       and m["data"]["status"] == "Charging")
            started = await hook.update(lambda m: m["type"] == "start_charging_response")
            assert started["id"] == "1732180000000"
            tid = started["data"]["transactionId"]
            assert status["data"]["chargePointId"] == "CP_001"
            await cp.meter(1, tid, 4000, soc=None)
            meter = await hook.update(lambda m: m["type"] == "meter_values_update")
            assert meter["data"]["meterValue"]["energyImportKWh"] == 3.0
            assert meter["data"]["meterValue"]["stateOfCharge"] is None
            await hook.send_raw({"id": "1732180000001", "type": "stop_charging_request", "timestamp": iso_now(),
                                 "data": {"chargePointId": "CP_001", "transactionId": tid}})
            stopped = await hook.update(lambda m: m["type"] == "stop_charging_response")
            assert stopped["id"] == "1732180000001" and stopped["data"]["success"] is True


async def test_oversized_message_is_invalid_request_and_closes(log, settings):
    async with dialect_stack(log, settings, api_max_message_bytes=1000) as stack:
        async with charging_client(stack, token(settings, "big")) as client:
            await client.send_raw({"id": "big-1", "type": "heartbeat", "timestamp": iso_now(), "pad": "x" * 2000})
            error = await client.update(lambda m: m["type"] == "error")  # not parsed: no id to answer with
            assert error["error"]["code"] == "INVALID_REQUEST"
            assert (await client.wait_closed())[0] == 1009


async def test_reconnect_keeps_following_the_running_session(log, settings):
    """"Reconnection Strategy": a client that reconnects and authenticates again receives the
    meter and status updates of its running transaction and can stop it."""
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP_R") as cp:
        await station_ready(stack, "CP_R", 2)
        user_token = token(settings, "rita")
        async with charging_client(stack, user_token) as first:
            tid = (await first.start_charging("CP_R", 2, "rita"))["data"]["transactionId"]
        async with charging_client(stack, user_token) as again:
            await cp.meter(2, tid, 2500)
            meter = await again.update(lambda m: m["type"] == "meter_values_update")
            assert meter["data"]["transactionId"] == tid and meter["data"]["meterValue"]["energyImportKWh"] == 1.5
            await cp.status(2, "SuspendedEV")
            status = await again.update(lambda m: m["type"] == "charging_status_update"
                                        and m["data"]["status"] == "SuspendedEV")
            assert status["data"]["transactionId"] == tid and status["data"]["connectorId"] == 2
            assert (await again.stop_charging("CP_R", tid))["data"]["success"] is True


async def test_artillery_scenario_messages(log, settings):
    """The load test's three literal messages: with its placeholder "test-token" the auth
    fails and both requests are NOT_AUTHENTICATED; with a real token the start succeeds and
    the stop of the hard-coded transaction 12345 is TRANSACTION_NOT_FOUND."""
    script = ['{"id":"1","type":"auth_request","timestamp":"2024-01-15T10:30:00.000Z","data":{"token":"%s"}}',
              '{"id":"2","type":"start_charging_request","timestamp":"2024-01-15T10:30:01.000Z",'
              '"data":{"chargePointId":"CP_001","connectorId":1,"idTag":"USER_123"}}',
              '{"id":"3","type":"stop_charging_request","timestamp":"2024-01-15T10:30:06.000Z",'
              '"data":{"chargePointId":"CP_001","transactionId":12345}}']
    async with dialect_stack(log, settings) as stack, meter_station(stack, "CP_001"):
        await station_ready(stack, "CP_001", 2)
        for auth_token, expected in (("test-token", ("INVALID_TOKEN", "NOT_AUTHENTICATED", "NOT_AUTHENTICATED")),
                                     (token(settings, "USER_123"), (None, None, "TRANSACTION_NOT_FOUND"))):
            async with charging_client(stack, auth_token, authenticate=False) as artillery:
                await artillery.send_raw(script[0] % auth_token)
                auth = await artillery.update(lambda m: m["id"] == "1")
                assert (auth.get("error") or {}).get("code") == expected[0]
                await artillery.send_raw(script[1])
                start = await artillery.update(lambda m: m["id"] == "2")
                assert (start.get("error") or {}).get("code") == expected[1]
                if expected[1] is None:
                    assert start["type"] == "start_charging_response" and start["data"]["success"] is True
                await artillery.send_raw(script[2])
                stop = await artillery.update(lambda m: m["id"] == "3")
                assert stop["type"] == "error" and stop["error"]["code"] == expected[2]
