"""OCTT OCPP 1.6 CSMS test cases of the Remote Trigger profile (TC_054, TC_055;
docs/ocpp.md has the table)."""

from __future__ import annotations

import pytest

from octt_support import connected, module_csms

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()


async def test_TC_054_CSMS_trigger_message(csms):
    async with connected(csms) as cp:
        for request, then in (
                ({"requestedMessage": "MeterValues", "connectorId": 1},
                 cp.send("MeterValues", connector_id=1, meter_value=[{"timestamp": "2026-01-01T00:00:00Z",
                                                                       "sampledValue": [{"value": "10"}]}])),
                ({"requestedMessage": "Heartbeat"}, cp.send("Heartbeat")),
                ({"requestedMessage": "StatusNotification", "connectorId": 1}, cp.status(1, "Available")),
                ({"requestedMessage": "DiagnosticsStatusNotification"},
                 cp.send("DiagnosticsStatusNotification", status="Idle")),
                ({"requestedMessage": "FirmwareStatusNotification"},
                 cp.send("FirmwareStatusNotification", status="Idle"))):
            outcome = await csms.operate(cp, "TriggerMessage", request, {"status": "Accepted"})
            assert outcome["response"] == {"status": "Accepted"}
            assert await then is not None  # the triggered message is answered
        reported = (await csms.profile_state(cp.id))["jobs"]["lastReported"]
        assert reported["firmware"]["status"] == "Idle" and reported["diagnostics"]["status"] == "Idle"


async def test_TC_055_CSMS_trigger_message_rejected(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1},
                                     {"status": "Rejected"})
        assert outcome["status"] == "answered" and outcome["response"] == {"status": "Rejected"}
