"""Central-system-initiated operations as events: ``request_command`` → the CALL arrives at
the station → its answer (or CALLERROR, timeout, offline) is recorded with the command's
correlationId. Remote start/stop with the ``ocpp`` package's ChargePoint as station; every
1.6 operation over a raw socket; the operator REST routes and ``chargelog command``. Both
engines."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
import websockets
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from chargelog.adapters.ocpp.commands import (
    CS_ACTIONS, InvalidCommand, find_outcome, request_command, wait_for_outcome,
)
from chargelog.adapters.ocpp.operator_api import operator_routes
from chargelog.domain.log import SOURCE

from test_ocpp_support import TIMEOUT_S, running_gateway, source_events, station, url, wait_event

OPERATOR = {"kind": "operator", "id": "ops1"}

#: (request, the station's answer) for every central-system-initiated 1.6 operation.
OPERATIONS = {
    "RemoteStartTransaction": ({"idTag": "T1", "connectorId": 1}, {"status": "Accepted"}),
    "RemoteStopTransaction": ({"transactionId": 1}, {"status": "Accepted"}),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
    "ChangeAvailability": ({"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}),
    "ChangeConfiguration": ({"key": "HeartbeatInterval", "value": "60"}, {"status": "Accepted"}),
    "GetConfiguration": ({"key": ["HeartbeatInterval"]},
                         {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}),
    "ClearCache": ({}, {"status": "Accepted"}),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    "DataTransfer": ({"vendorId": "acme", "data": "x"}, {"status": "Accepted", "data": "y"}),
    "TriggerMessage": ({"requestedMessage": "StatusNotification", "connectorId": 1}, {"status": "Accepted"}),
    "GetDiagnostics": ({"location": "ftp://example.com/diag"}, {"fileName": "diag.zip"}),
    "UpdateFirmware": ({"location": "https://example.com/fw.bin", "retrieveDate": "2026-01-01T00:00:00Z"}, {}),
    "SendLocalList": ({"listVersion": 2, "updateType": "Full",
                       "localAuthorizationList": [{"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]},
                      {"status": "Accepted"}),
    "GetLocalListVersion": ({}, {"listVersion": 2}),
    "ReserveNow": ({"connectorId": 1, "expiryDate": "2026-01-01T00:00:00Z", "idTag": "T1", "reservationId": 7},
                   {"status": "Accepted"}),
    "CancelReservation": ({"reservationId": 7}, {"status": "Accepted"}),
    "SetChargingProfile": ({"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}},
        {"status": "Accepted"}),
    "ClearChargingProfile": ({"id": 1}, {"status": "Accepted"}),
    "GetCompositeSchedule": ({"connectorId": 1, "duration": 3600}, {"status": "Accepted", "connectorId": 1,
                             "chargingSchedule": {"chargingRateUnit": "A",
                                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}}),
    # Security Extensions (Security Whitepaper ed. 3)
    "CertificateSigned": ({"certificateChain": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"},
                          {"status": "Accepted"}),
    "InstallCertificate": ({"certificateType": "CentralSystemRootCertificate", "certificate": "PEM"},
                           {"status": "Accepted"}),
    "DeleteCertificate": ({"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a",
                                                   "issuerKeyHash": "b", "serialNumber": "1"}}, {"status": "Accepted"}),
    "GetInstalledCertificateIds": ({"certificateType": "ManufacturerRootCertificate"}, {"status": "NotFound"}),
    "GetLog": ({"logType": "SecurityLog", "requestId": 1, "log": {"remoteLocation": "https://example.com/u"}},
               {"status": "Accepted", "filename": "security.log"}),
    "SignedUpdateFirmware": ({"requestId": 2, "firmware": {"location": "https://example.com/fw.bin",
                                                           "retrieveDateTime": "2026-01-01T00:00:00Z",
                                                           "signingCertificate": "PEM", "signature": "c2ln"}},
                             {"status": "Accepted"}),
    "ExtendedTriggerMessage": ({"requestedMessage": "SignChargePointCertificate"}, {"status": "Accepted"}),
}


def test_operations_table_covers_every_cs_action():
    assert set(OPERATIONS) == CS_ACTIONS and len(CS_ACTIONS) == 19 + 7  # Core profiles + Security Extensions


async def test_remote_start_and_stop_round_trips(log, settings):
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-RS") as cp:
        await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-RS")
        for action, request, seen in (("RemoteStartTransaction", {"idTag": "U1", "connectorId": 2},
                                       {"id_tag": "U1", "connector_id": 2}),
                                      ("RemoteStopTransaction", {"transactionId": 77}, {"transaction_id": 77})):
            after = await log.latest(SOURCE)
            cid = await request_command(log, "CP-RS", action, request, principal=OPERATOR)
            assert await asyncio.wait_for(cp.received.get(), TIMEOUT_S) == (action, seen)
            outcome = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
            assert (outcome.status, outcome.response, outcome.action) == ("answered", {"status": "Accepted"}, action)
    events = [e for e in await source_events(log) if e.correlationId is not None]
    kinds = [(e.type, e.payload.get("direction"), e.payload.get("messageTypeId"), e.payload.get("action"))
             for e in events]
    assert kinds == [(t, d, m, a) for a in ("RemoteStartTransaction", "RemoteStopTransaction") for t, d, m in (
        ("command.requested", None, None), ("ocpp.frame", "out", 2), ("ocpp.frame", "in", 3))]
    assert events[0].principal.id == "ops1"
    assert events[1].causationId == events[0].eventId
    assert len({e.correlationId for e in events[:3]}) == 1


async def test_every_operation_reaches_the_station(log, settings):
    async with running_gateway(log, settings) as gateway:
        async with websockets.connect(url(gateway, "CP-ALL"), subprotocols=["ocpp1.6"]) as ws:
            await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-ALL")
            for action, (request, answer) in OPERATIONS.items():
                after = await log.latest(SOURCE)
                cid = await request_command(log, "CP-ALL", action, request, principal=OPERATOR)
                frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
                assert frame[0] == 2 and frame[2] == action and frame[3] == request
                await ws.send(json.dumps([3, frame[1], answer]))
                outcome = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
                assert (outcome.status, outcome.response) == ("answered", answer), action


async def test_callerror_timeout_invalid_answer_and_offline(log, settings):
    async with running_gateway(log, settings) as gateway:
        async with websockets.connect(url(gateway, "CP-BAD"), subprotocols=["ocpp1.6"]) as ws:
            await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-BAD")
            after = await log.latest(SOURCE)
            cid = await request_command(log, "CP-BAD", "Reset", {"type": "Hard"}, principal=OPERATOR)
            frame = json.loads(await ws.recv())
            await ws.send(json.dumps([4, frame[1], "NotSupported", "no resets here", {}]))
            failed = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
            assert (failed.status, failed.reason, failed.errorCode) == ("failed", "callerror", "NotSupported")

            cid = await request_command(log, "CP-BAD", "ClearCache", {}, principal=OPERATOR, timeout_s=0.2)
            await ws.recv()  # ... and never answer
            timed_out = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
            assert (timed_out.status, timed_out.reason) == ("failed", "timeout")

            cid = await request_command(log, "CP-BAD", "UnlockConnector", {"connectorId": 1}, principal=OPERATOR)
            frame = json.loads(await ws.recv())
            await ws.send(json.dumps([3, frame[1], {"status": "Open sesame"}]))
            invalid = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
            assert (invalid.status, invalid.reason, invalid.errorCode) == (
                "failed", "invalid", "PropertyConstraintViolation")

        cid = await request_command(log, "CP-NOBODY", "Reset", {"type": "Soft"}, principal=OPERATOR)
        offline = await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)
        assert (offline.status, offline.reason) == ("failed", "offline")
    failures = [e for e in await source_events(log) if e.type == "command.failed"]
    assert [e.payload["reason"] for e in failures] == ["callerror", "timeout", "invalid", "offline"]
    assert (await find_outcome(log, cid)).reason == "offline"  # also found later by a log scan


async def test_invalid_commands_are_refused_before_the_log(log, settings):
    with pytest.raises(InvalidCommand) as not_cs:
        await request_command(log, "CP", "Heartbeat", {}, principal=OPERATOR)
    assert not_cs.value.error_code == "NotSupported"
    with pytest.raises(InvalidCommand) as bad:
        await request_command(log, "CP", "Reset", {"type": "Sideways"}, principal=OPERATOR)
    assert bad.value.error_code == "PropertyConstraintViolation"
    assert await source_events(log) == []


async def test_only_the_holding_gateway_executes_and_one_answers_offline(log, settings):
    async with running_gateway(log, settings, gateway_id="gw-a") as a, \
            running_gateway(log, settings, gateway_id="gw-b") as b, station(b, "CP-MULTI") as cp:
        await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-MULTI")
        after = await log.latest(SOURCE)
        cid = await request_command(log, "CP-MULTI", "RemoteStartTransaction", {"idTag": "Z"}, principal=OPERATOR)
        await asyncio.wait_for(cp.received.get(), TIMEOUT_S)
        assert (await wait_for_outcome(log, cid, after=after, timeout_s=TIMEOUT_S)).status == "answered"
        gone = await request_command(log, "CP-GONE", "Reset", {"type": "Soft"}, principal=OPERATOR)
        await wait_event(log, lambda e: e.type == "command.failed" and e.correlationId == gone, after=after)
        # a marker after both: any duplicate answer would have been appended before it is seen
        marker = await request_command(log, "CP-GONE", "ClearCache", {}, principal=OPERATOR)
        await wait_event(log, lambda e: e.type == "command.failed" and e.correlationId == marker, after=after)
        assert a.connected == set() and b.connected == {"CP-MULTI"}
    events = await source_events(log)
    calls = [e for e in events if e.correlationId == cid and e.type == "ocpp.frame" and e.payload["direction"] == "out"]
    assert len(calls) == 1
    assert [e.payload["reason"] for e in events if e.type == "command.failed" and e.correlationId == gone] == ["offline"]


async def test_operator_rest_routes(log, settings):
    def authorize(request):
        if request.headers.get("authorization") != "Bearer admin":
            raise HTTPException(403, "admin scope required")
        return {"userId": "admin-1"}

    operator = operator_routes(log, authorize)
    app = Starlette(routes=operator.routes)
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-REST") as cp, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-REST")
        body = {"chargePointId": "CP-REST", "action": "RemoteStartTransaction", "payload": {"idTag": "A"}}
        assert (await http.post("/api/operator/commands", json=body)).status_code == 403
        admin = {"authorization": "Bearer admin"}
        bad = await http.post("/api/operator/commands", json={**body, "action": "Dance"}, headers=admin)
        assert bad.status_code == 400 and bad.json()["errorCode"] == "NotSupported"
        accepted = await http.post("/api/operator/commands", json=body, headers=admin)
        assert accepted.status_code == 202
        cid = accepted.json()["correlationId"]
        for wait in ("-1", "61", "soon"):
            refused = await http.get(f"/api/operator/commands/{cid}", params={"wait": wait}, headers=admin)
            assert refused.status_code == 400 and refused.json()["errorCode"] == "bad_request"
        # a long poll: answers once the outcome is final (the station answers meanwhile)
        outcome = (await http.get(f"/api/operator/commands/{cid}", params={"wait": 60}, headers=admin,
                                  timeout=90)).json()
        assert (outcome["status"], outcome["response"], outcome["chargePointId"]) == (
            "answered", {"status": "Accepted"}, "CP-REST")
        await asyncio.wait_for(cp.received.get(), TIMEOUT_S)
        assert (await http.get("/api/operator/commands/nope", headers=admin)).status_code == 404
    await operator.stop()  # what the client API's shutdown does
    requested = [e for e in await source_events(log) if e.type == "command.requested"]
    assert requested[0].principal.model_dump() == {"kind": "operator", "id": "admin-1"}


async def test_chargelog_command_cli(log, settings, engine):
    # On the embedded engine the CLI is a second writing process on the same SQLite files.
    flags = ["--log", settings.log, "--data-dir", str(settings.data_dir), "--topic-prefix", settings.topic_prefix]
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-CLI") as cp:
        await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP-CLI")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chargelog.adapters.cli.main", "command", "RemoteStopTransaction",
            "--charge-point", "CP-CLI", "--payload", '{"transactionId": 5}', "--wait", "--operator", "alice",
            "--timeout", "5",
            *flags, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        cid, outcome = out.decode().splitlines()
        assert json.loads(outcome)["status"] == "answered" and json.loads(outcome)["correlationId"] == cid
        assert (await cp.received.get())[0] == "RemoteStopTransaction"
    bad = subprocess.run([sys.executable, "-m", "chargelog.adapters.cli.main", "command", "Reset",
                          "--charge-point", "X", "--payload", '{"type": 1}', *flags], capture_output=True, text=True)
    assert bad.returncode == 2 and "TypeConstraintViolation" not in bad.stdout and "Reset request" in bad.stderr
