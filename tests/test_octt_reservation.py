"""OCTT OCPP 1.6 CSMS test cases of the Reservation profile (TC_046–TC_053; docs/ocpp.md has
the table). Each reservation — its status, expiry, use by idTag / parentIdTag, the
connector's ``Reserved`` status tied to it — is checked on the operator REST API's profile
state, rebuilt from the log."""

from __future__ import annotations

import pytest

from octt_support import CHILD_TAG, PARENT_TAG, SIBLING_TAG, VALID_TAG, Csms, ScriptedStation, connected, module_csms, now_iso

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()


def reserve_request(connector_id: int = 1, id_tag: str = VALID_TAG, reservation_id: int = 1,
                    expiry_s: float = 300, **extra: str) -> dict:
    return {"connectorId": connector_id, "expiryDate": now_iso(expiry_s), "idTag": id_tag,
            "reservationId": reservation_id, **extra}


async def reserve(csms: Csms, cp: ScriptedStation, answer: str = "Accepted", **request: object) -> dict:
    outcome = await csms.operate(cp, "ReserveNow", reserve_request(**request), {"status": answer})  # type: ignore[arg-type]
    assert outcome["response"] == {"status": answer}
    (reservation,) = (await csms.profile_state(cp.id))["reservations"]
    return reservation


async def test_TC_046_CSMS_reservation_of_a_connector_transaction(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp)
        assert reservation["status"] == "Accepted" and reservation["active"] and reservation["idTag"] == VALID_TAG
        await cp.status(1, "Reserved")
        assert (await csms.profile_state(cp.id))["reservations"][0]["connectorStatus"] == "Reserved"
        await csms.settled(cp.id, "connector.status.changed", 4)  # on the map: the connector is Reserved
        station = await csms.worker.read_models.station(cp.id)
        assert station.connectors[0].status == "Reserved" and station.availability == "available"
        tx = await cp.charging(1, VALID_TAG, reservation_id=1)
        (reservation,) = (await csms.profile_state(cp.id))["reservations"]
        assert reservation["status"] == "Used" and reservation["transactionId"] == tx
        assert not reservation["active"] and reservation["connectorStatus"] == "Charging"


async def test_TC_047_CSMS_reservation_of_a_connector_expire(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp, expiry_s=60)
        assert reservation["status"] == "Accepted"
        await cp.status(1, "Reserved")
        await cp.status(1, "Available", timestamp=now_iso(61))  # the charge point ended it at expiry
        # neither used nor cancelled: as of its expiryDate it is Expired
        (reservation,) = (await csms.profile_state(cp.id, at=now_iso(61)))["reservations"]
        assert reservation["status"] == "Expired" and not reservation["active"]
        assert reservation["transactionId"] is None and reservation["connectorStatus"] == "Available"


async def test_TC_048_1_CSMS_reservation_of_a_connector_faulted(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp, "Faulted")
        assert reservation["status"] == "Faulted" and not reservation["active"]


async def test_TC_048_2_CSMS_reservation_of_a_connector_occupied(csms):
    async with connected(csms) as cp:
        await cp.status(1, "Preparing")
        reservation = await reserve(csms, cp, "Occupied")
        assert reservation["status"] == "Occupied" and not reservation["active"]


async def test_TC_048_3_CSMS_reservation_of_a_connector_unavailable(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"},
                                     {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
        await cp.status(1, "Unavailable")
        reservation = await reserve(csms, cp, "Unavailable")
        assert reservation["status"] == "Unavailable" and not reservation["active"]


async def test_TC_048_4_CSMS_reservation_of_a_connector_rejected(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp, "Rejected")
        assert reservation["status"] == "Rejected" and not reservation["active"]


async def test_TC_049_CSMS_reservation_of_a_charge_point_transaction(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp, connector_id=0)
        assert reservation["connectorId"] == 0 and reservation["active"]
        await cp.status(1, "Reserved")
        assert (await csms.profile_state(cp.id))["reservations"][0]["connectorStatus"] == "Reserved"
        tx = await cp.charging(2, VALID_TAG)  # any connector ends a connector-0 reservation
        (reservation,) = (await csms.profile_state(cp.id))["reservations"]
        assert reservation["status"] == "Used" and reservation["transactionId"] == tx


async def test_TC_051_CSMS_cancel_reservation(csms):
    async with connected(csms) as cp:
        await reserve(csms, cp)
        await cp.status(1, "Reserved")
        outcome = await csms.operate(cp, "CancelReservation", {"reservationId": 1}, {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
        await cp.status(1, "Available")
        (reservation,) = (await csms.profile_state(cp.id))["reservations"]
        assert reservation["status"] == "Cancelled" and not reservation["active"]
        assert reservation["connectorStatus"] == "Available"


async def test_TC_052_CSMS_cancel_reservation_rejected(csms):
    async with connected(csms) as cp:
        await reserve(csms, cp)
        await cp.status(1, "Reserved")
        outcome = await csms.operate(cp, "CancelReservation", {"reservationId": 1}, {"status": "Rejected"})
        assert outcome["response"] == {"status": "Rejected"}
        (reservation,) = (await csms.profile_state(cp.id))["reservations"]
        assert reservation["status"] == "Accepted" and reservation["active"]


async def test_TC_053_CSMS_use_a_reserved_connector_with_parent_id_tag(csms):
    async with connected(csms) as cp:
        reservation = await reserve(csms, cp, id_tag=CHILD_TAG, parentIdTag=PARENT_TAG)
        assert reservation["idTag"] == CHILD_TAG and reservation["parentIdTag"] == PARENT_TAG
        await cp.status(1, "Reserved")
        # another tag of the same group (its parentIdTag is the reservation's) uses it
        started = await cp.start_transaction(1, SIBLING_TAG)
        assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": PARENT_TAG}
        (reservation,) = (await csms.profile_state(cp.id))["reservations"]
        assert reservation["status"] == "Used" and reservation["transactionId"] == started.transaction_id
