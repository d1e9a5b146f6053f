"""OCTT OCPP 1.6 CSMS test cases of the Smart Charging profile (TC_056, TC_057, TC_059,
TC_066, TC_067; docs/ocpp.md has the table). The profiles installed per connector /
purpose / stack level, ClearChargingProfile's filters and the composite schedule as
reported are checked on the operator REST API's profile state."""

from __future__ import annotations

import pytest

from octt_support import VALID_TAG, Csms, ScriptedStation, connected, module_csms, now_iso

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()


def profile(profile_id: int, purpose: str, limit_w: float, *, stack_level: int = 0, **extra: object) -> dict:
    return {"chargingProfileId": profile_id, "stackLevel": stack_level, "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Absolute", **extra,
            "chargingSchedule": {"chargingRateUnit": "W", "duration": 900, "startSchedule": now_iso(),
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_w}]}}


async def set_profile(csms: Csms, cp: ScriptedStation, connector_id: int, body: dict) -> None:
    outcome = await csms.operate(cp, "SetChargingProfile", {"connectorId": connector_id, "csChargingProfiles": body},
                                 {"status": "Accepted"})
    assert outcome["response"] == {"status": "Accepted"}


async def installed(csms: Csms, cp_id: str) -> list[tuple[int, int, str]]:
    """(connectorId, chargingProfileId, purpose) of every installed profile."""
    state = await csms.profile_state(cp_id)
    return [(p["connectorId"], p["chargingProfile"]["chargingProfileId"], p["chargingProfile"]["chargingProfilePurpose"])
            for p in state["chargingProfiles"]["installed"]]


async def test_TC_056_CSMS_central_smart_charging_tx_default_profile(csms):
    async with connected(csms) as cp:
        await set_profile(csms, cp, 1, profile(1, "TxDefaultProfile", 6000.0, validFrom=now_iso(60),
                                                validTo=now_iso(7200)))
        assert await installed(csms, cp.id) == [(1, 1, "TxDefaultProfile")]
        # same purpose and stack level on the connector: replaced (OCPP 1.6 §5.16.2)
        await set_profile(csms, cp, 1, profile(2, "TxDefaultProfile", 5000.0))
        assert await installed(csms, cp.id) == [(1, 2, "TxDefaultProfile")]


async def test_TC_057_CSMS_central_smart_charging_tx_profile(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        await set_profile(csms, cp, 1, profile(3, "TxProfile", 6000.0, transactionId=tx))
        assert await installed(csms, cp.id) == [(1, 3, "TxProfile")]
        await cp.stop_transaction(tx, id_tag=VALID_TAG)
        assert await installed(csms, cp.id) == []  # a TxProfile ends with its transaction


async def test_TC_059_CSMS_remote_start_transaction_with_charging_profile(csms):
    async with connected(csms) as cp:
        body = profile(4, "TxProfile", 6000.0)
        outcome = await csms.operate(cp, "RemoteStartTransaction",
                                     {"connectorId": 1, "idTag": VALID_TAG, "chargingProfile": body})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        tx = await cp.charging()
        (entry,) = (await csms.profile_state(cp.id))["chargingProfiles"]["installed"]
        assert entry["via"] == "RemoteStartTransaction" and entry["chargingProfile"]["transactionId"] == tx


async def test_TC_066_CSMS_get_composite_schedule(csms):
    schedule = {"chargingRateUnit": "W", "duration": 300, "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.0}]}
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "GetCompositeSchedule",
                                     {"connectorId": 1, "duration": 300, "chargingRateUnit": "W"},
                                     {"status": "Accepted", "connector_id": 1, "schedule_start": now_iso(),
                                      "charging_schedule": schedule})
        assert outcome["response"]["status"] == "Accepted"
        (composite,) = (await csms.profile_state(cp.id))["chargingProfiles"]["compositeSchedules"]
        assert composite["connectorId"] == 1 and composite["chargingSchedule"] == schedule


async def test_TC_067_CSMS_clear_charging_profile(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        await set_profile(csms, cp, 0, profile(10, "ChargePointMaxProfile", 7000.0))
        await set_profile(csms, cp, 1, profile(11, "TxDefaultProfile", 9000.0))
        await set_profile(csms, cp, 1, profile(12, "TxProfile", 11000.0, transactionId=tx))
        clear = {"id": 10}
        assert (await csms.operate(cp, "ClearChargingProfile", clear))["response"] == {"status": "Accepted"}
        assert await installed(csms, cp.id) == [(1, 11, "TxDefaultProfile"), (1, 12, "TxProfile")]
        clear = {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0}
        assert (await csms.operate(cp, "ClearChargingProfile", clear))["response"] == {"status": "Accepted"}
        assert await installed(csms, cp.id) == [(1, 12, "TxProfile")]
        # Unknown: the charge point had nothing matching; the state keeps what it has
        assert (await csms.operate(cp, "ClearChargingProfile", {"id": 99}, {"status": "Unknown"}))["status"] == "answered"
        assert (await csms.operate(cp, "ClearChargingProfile", {}, {"status": "Accepted"}))["response"] == {"status": "Accepted"}
        assert await installed(csms, cp.id) == []
