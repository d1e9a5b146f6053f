"""A fleet run against the OCTT central system: ``chargelog simulate`` (its own process,
auto transactions) charges while the operator REST API sends it every central-system
operation of OCPP 1.6 and of the Security Extensions — each is answered, and the fleet keeps
charging (issue "still passes against real stations")."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from octt_support import VALID_TAG, connected, module_csms, now_iso
from test_ocpp_commands import OPERATIONS

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()

#: Requests that must fit the simulated station's state (others: the command tests' table).
FLEET_REQUESTS = {
    # for an idTag the fleet never presents: a StartTransaction with the reserved idTag on any
    # connector (connectorId 0) would use the reservation before CancelReservation (OCPP 1.6 §3.11)
    "ReserveNow": {"connectorId": 0, "expiryDate": now_iso(3600), "idTag": "FLEET-RESERVED", "reservationId": 1},
    "CancelReservation": {"reservationId": 1},
    "ChangeAvailability": {"connectorId": 0, "type": "Operative"},
    "SetChargingProfile": {"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute", "chargingSchedule": {
            "chargingRateUnit": "W", "startSchedule": now_iso(), "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}]}}},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"},
    "ClearChargingProfile": {"id": 5},
    "SendLocalList": {"listVersion": 3, "updateType": "Full",
                      "localAuthorizationList": [{"idTag": VALID_TAG, "idTagInfo": {"status": "Accepted"}}]},
}
#: Sent last: the simulated station reboots on it.
LAST = "Reset"


async def test_fleet_answers_every_operator_operation_while_charging(csms):
    async with connected(csms) as probe:  # the central system is up and answering
        assert probe.id
    url = f"ws://127.0.0.1:{csms.gateway.port}/ocpp"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargelog.adapters.cli.main", "simulate", "--url", url, "--stations", "3",
        "--prefix", "FLEET", "--auto-transactions", "--meter-interval", "1", "--seed", "7", "--id-tag", VALID_TAG,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        for n in (1, 2, 3):  # booted: connector 0 and both connectors reported
            await csms.settled(f"FLEET{n:03d}", "connector.status.changed", 3)
        actions = [a for a in FLEET_REQUESTS if a != LAST] + [a for a in OPERATIONS if a not in FLEET_REQUESTS]
        actions = [a for a in actions if a != LAST] + [LAST]
        outcomes = {}
        for action in actions:
            request = FLEET_REQUESTS.get(action, OPERATIONS[action][0])
            outcomes[action] = await csms.outcome(await csms.command("FLEET001", action, request))
        assert {a: o["status"] for a, o in outcomes.items()} == {a: "answered" for a in actions}
        assert outcomes["ReserveNow"]["response"] == {"status": "Accepted"}
        assert outcomes["CancelReservation"]["response"] == {"status": "Accepted"}
        assert outcomes["GetCompositeSchedule"]["response"]["chargingSchedule"]["chargingSchedulePeriod"] == [
            {"startPeriod": 0, "limit": 7400}]
        state = await csms.profile_state("FLEET001")
        assert state["localList"]["listVersion"] == 3 and state["chargingProfiles"]["installed"] == []
        assert state["reservations"][0]["status"] == "Cancelled"
        for n in (1, 2, 3):  # and the fleet charges on
            await csms.settled(f"FLEET{n:03d}", "transaction.started")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
