"""The profile state read model (reservations, charging profiles, local list, jobs,
security): the pure fold, and the stored projection on both engines — applied incrementally
by the projection worker, equal to a recomputation from position zero, rebuilt and reported by
``chargelog projections``, shown by ``chargelog profile-state``."""

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
from chargelog.adapters.store import open_store
from chargelog.domain.profile_state import ProfileState
from chargelog.projections.profile_state import ProfileStateProjection, profile_state
from chargelog.projections.rebuild import rebuild
from chargelog.projections.runner import ProjectionWorker

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


async def cli(*args: str) -> str:
    """``chargelog ARGS`` in a subprocess; its stdout (fails on a non-zero exit)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargelog.adapters.cli.main", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def stored_states(settings) -> dict[str, dict]:
    """Every row of the stored profile state read model, as :meth:`ProfileState.dump`."""
    store = open_store(settings)
    try:
        return {key: json.loads(value) for key, _, value in store.load(ProfileStateProjection.name)[1]}
    finally:
        store.close()


async def recomputed(log) -> dict[str, dict]:
    """The profile state of every charge point folded again from position zero (in memory)."""
    fold = ProfileStateProjection()
    await rebuild(log, None, fold.name, fold=fold)
    return {key: state.dump() for key, state in fold.rows.items()}


async def test_stored_projection_matches_a_recomputation_survives_rebuild_and_shows_its_position(log, settings):
    flags = ["--log", settings.log, "--data-dir", str(settings.data_dir), "--topic-prefix", settings.topic_prefix]
    worker = ProjectionWorker(log, settings)
    await worker.start()
    try:
        async with running_gateway(log, settings, worker.registry) as gateway, \
                websockets.connect(url(gateway, CP), subprotocols=["ocpp1.6"]) as ws:
            cp = ScriptedStation(CP, ws)
            task = asyncio.create_task(cp.start())
            await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == CP)
            profile = {"chargingProfileId": 8, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Absolute",
                       "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [
                           {"startPeriod": 0, "limit": 11000.0}]}}
            for action, request in (
                    ("ReserveNow", {"connectorId": 0, "expiryDate": now_iso(600), "idTag": "T1", "reservationId": 3}),
                    ("SendLocalList", {"listVersion": 4, "updateType": "Full",
                                       "localAuthorizationList": [{"idTag": "T1", "idTagInfo": {"status": "Accepted"}}]}),
                    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile}),
                    ("UpdateFirmware", {"location": "https://example.org/fw.bin", "retrieveDate": now_iso()})):
                after = await log.latest(SOURCE)
                cid = await request_command(log, CP, action, request, principal="op")
                assert (await wait_for_outcome(log, cid, after=after, timeout_s=60)).status == "answered"
            await cp.send("FirmwareStatusNotification", status="Downloading")
            await cp.send("StatusNotification", connector_id=1, status="Reserved", error_code="NoError")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await task
        # the worker applies the log incrementally: wait until it has folded everything
        end, runner = await log.latest(SOURCE), worker.profile_states
        async with asyncio.timeout(60):
            await runner.wait_until(lambda: end <= runner.folds[0].position)
    finally:
        await worker.stop()

    live = stored_states(settings)
    assert live[CP]["localList"]["listVersion"] == 4 and live[CP]["jobs"]["jobs"][0]["history"][0]["status"] == "Downloading"
    assert live == await recomputed(log)  # stored incrementally == folded from zero

    # the CLI reads the stored read model
    shown = json.loads(await cli("profile-state", "--charge-point", CP, *flags))
    assert shown == ProfileState.load(live[CP]).view(datetime.now(UTC))  # expiry is 600 s away
    assert shown["reservations"][0]["reservationId"] == 3 and shown["reservations"][0]["status"] == "Accepted"
    assert shown["reservations"][0]["connectorStatus"] == "Reserved"
    assert shown["chargingProfiles"]["installed"][0]["chargingProfile"] == profile

    # rebuilt from position zero by the CLI: the same rows; status shows its position at the end
    await cli("projections", "rebuild", "profile_state", "--no-progress", *flags)
    assert stored_states(settings) == live
    status = {line.split()[0]: line.split() for line in (await cli("projections", "status", *flags)).splitlines()}
    assert status["profile_state"][1:5] == ["source", str(await log.latest(SOURCE)), "0", "0"]

    # what the log gained after the stored position (no worker running) is in the answer too
    cid = "late-cancel"
    await log.append(SOURCE, answered("CancelReservation", {"reservationId": 3}, {"status": "Accepted"}, cid))
    store = open_store(settings)
    try:
        state = await profile_state(log, store, CP)
    finally:
        store.close()
    assert state["reservations"][0]["status"] == "Cancelled"
    assert state == ProfileState.load((await recomputed(log))[CP]).view(datetime.now(UTC))
