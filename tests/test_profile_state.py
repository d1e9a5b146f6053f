"""The profile state read model (reservations, charging profiles, local list, jobs,
security): the pure fold, and its rebuild from the log on both engines as the operator CLI
shows it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import websockets

from chargelog.adapters.ocpp.commands import request_command, wait_for_outcome
from chargelog.domain.envelope import Event, Source
from chargelog.domain.log import SOURCE
from chargelog.domain.profile_state import ProfileState
from chargelog.projections.profile_state import profile_state

from octt_support import ScriptedStation, now_iso
from test_ocpp_support import running_gateway, url, wait_event

CP = "CP-PS"


def frame(direction: str, kind: int, payload: dict, **fields: object) -> Event:
    return Event(type="ocpp.frame", chargePointId=CP, source=Source.OCPP, correlationId=fields.pop("cid", None),
                 payload={"direction": direction, "messageTypeId": kind, "payload": payload, **fields})


def answered(action: str, request: dict, answer: dict, cid: str) -> list[Event]:
    return [Event(type="command.requested", chargePointId=CP, source=Source.OPERATOR, correlationId=cid,
                  payload={"action": action, "request": request}),
            frame("in", 3, answer, cid=cid, messageId=cid)]


def test_fold_is_total_and_only_agreed_answers_count():
    state = ProfileState(CP)
    junk = [Event(type="ocpp.frame", chargePointId=CP, source=Source.OCPP, payload={"payload": "x"}),
            Event(type="command.requested", chargePointId=CP, source=Source.OPERATOR, correlationId="c0",
                  payload={"action": "ReserveNow", "request": 5}),
            frame("in", 3, {"status": "Accepted"}, cid="unknown"),
            Event(type="command.requested", chargePointId="OTHER", source=Source.OPERATOR, correlationId="c9",
                  payload={"action": "ReserveNow", "request": {"reservationId": 9}})]
    request = {"connectorId": 1, "expiryDate": now_iso(60), "idTag": "T", "reservationId": 7}
    events = [*junk, *answered("ReserveNow", request, {"status": "Accepted"}, "c1"),
              # a CALLERROR to the CancelReservation: nothing is cancelled
              Event(type="command.requested", chargePointId=CP, source=Source.OPERATOR, correlationId="c2",
                    payload={"action": "CancelReservation", "request": {"reservationId": 7}}),
              Event(type="command.failed", chargePointId=CP, source=Source.OCPP, correlationId="c2",
                    payload={"reason": "callerror"}),
              frame("in", 3, {"status": "Accepted"}, cid="c2")]
    for event in events:
        state.apply(event)
    now = datetime.now(UTC)
    (reservation,) = state.view(now)["reservations"]
    assert reservation["status"] == "Accepted" and reservation["reservationId"] == 7
    assert state.view(now + timedelta(seconds=61))["reservations"][0]["status"] == "Expired"


def test_charge_point_calls_count_only_when_answered_with_a_callresult():
    state = ProfileState(CP)
    state.apply(frame("in", 2, {"type": "StartupOfTheDevice", "timestamp": now_iso()}, action="SecurityEventNotification",
                      messageId="m1"))
    state.apply(frame("out", 4, {}, messageId="m1"))  # refused: nothing recorded
    state.apply(frame("in", 2, {"type": "TamperDetectionActivated", "timestamp": now_iso()},
                      action="SecurityEventNotification", messageId="m2"))
    state.apply(frame("out", 3, {}, messageId="m2"))
    assert [e["type"] for e in state.view(datetime.now(UTC))["security"]["events"]] == ["TamperDetectionActivated"]


async def test_profile_state_is_rebuilt_from_the_log_and_shown_by_the_cli(log, settings):
    flags = ["--log", settings.log, "--data-dir", str(settings.data_dir), "--topic-prefix", settings.topic_prefix]
    async with running_gateway(log, settings) as gateway, \
            websockets.connect(url(gateway, CP), subprotocols=["ocpp1.6"]) as ws:
        cp = ScriptedStation(CP, ws)
        task = asyncio.create_task(cp.start())
        await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == CP)
        for action, request in (
                ("ReserveNow", {"connectorId": 0, "expiryDate": now_iso(600), "idTag": "T1", "reservationId": 3}),
                ("SendLocalList", {"listVersion": 4, "updateType": "Full",
                                   "localAuthorizationList": [{"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]}),
                ("UpdateFirmware", {"location": "https://example.org/fw.bin", "retrieveDate": now_iso()})):
            after = await log.latest(SOURCE)
            cid = await request_command(log, CP, action, request, principal="op")
            assert (await wait_for_outcome(log, cid, after=after, timeout_s=20)).status == "answered"
        await cp.send("FirmwareStatusNotification", status="Downloading")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await task
    state = await profile_state(log, CP)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargelog.adapters.cli.main", "profile-state", "--charge-point", CP, *flags,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    shown = json.loads(out)
    assert shown["reservations"][0]["reservationId"] == 3 and shown["reservations"][0]["status"] == "Accepted"
    assert shown["localList"]["listVersion"] == 4
    assert [h["status"] for h in shown["jobs"]["jobs"][0]["history"]] == ["Downloading"]
    assert shown["localList"] == state["localList"] and shown["jobs"] == state["jobs"]
