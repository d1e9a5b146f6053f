"""OCTT OCPP 1.6 CSMS test cases of the Local Auth List Management profile (TC_042, TC_043;
docs/ocpp.md has the table). The local list the central system sent, and the version the
charge point reported, are checked on the operator REST API's profile state."""

from __future__ import annotations

import pytest

from chargelog.adapters.api.auth import issue_token

from octt_support import VALID_TAG, Csms, connected, module_csms

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()

FULL_LIST = {"listVersion": 1, "updateType": "Full",
             "localAuthorizationList": [{"idTag": VALID_TAG, "idTagInfo": {"status": "Accepted"}}]}


async def get_version(csms: Csms, reported: int) -> None:
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "GetLocalListVersion", {}, {"list_version": reported})
        assert outcome["response"] == {"listVersion": reported}
        assert (await csms.profile_state(cp.id))["localList"]["reportedVersion"] == reported


async def test_TC_042_1_CSMS_get_local_list_version_not_supported(csms):
    await get_version(csms, -1)


async def test_TC_042_2_CSMS_get_local_list_version_empty(csms):
    await get_version(csms, 0)


async def send_full_list(csms: Csms, answer: str) -> dict:
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "SendLocalList", FULL_LIST, {"status": answer})
        assert outcome["response"] == {"status": answer}
        return (await csms.profile_state(cp.id))["localList"]


async def test_TC_043_1_CSMS_send_local_authorization_list_not_supported(csms):
    local = await send_full_list(csms, "NotSupported")
    assert local["listVersion"] is None and local["entries"] == []
    assert local["lastUpdate"]["status"] == "NotSupported"


async def test_TC_043_3_CSMS_send_local_authorization_list_failed(csms):
    local = await send_full_list(csms, "Failed")
    assert local["listVersion"] is None and local["lastUpdate"]["status"] == "Failed"


async def test_TC_043_4_CSMS_send_local_authorization_list_full(csms):
    local = await send_full_list(csms, "Accepted")
    assert local["listVersion"] == 1
    assert local["entries"] == [{"idTag": VALID_TAG, "idTagInfo": {"status": "Accepted"}}]


async def test_TC_043_5_CSMS_send_local_authorization_list_differential(csms):
    async with connected(csms) as cp:
        await csms.operate(cp, "SendLocalList", FULL_LIST, {"status": "Accepted"})
        outcome = await csms.operate(cp, "GetLocalListVersion", {}, {"list_version": 1})
        assert outcome["response"] == {"listVersion": 1}
        differential = {"listVersion": 2, "updateType": "Differential", "localAuthorizationList": [
            {"idTag": "OCTT-NEW", "idTagInfo": {"status": "Accepted"}}, {"idTag": VALID_TAG}]}
        outcome = await csms.operate(cp, "SendLocalList", differential, {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
        local = (await csms.profile_state(cp.id))["localList"]
        assert local["listVersion"] == 2 and local["reportedVersion"] == 1
        assert local["entries"] == [{"idTag": "OCTT-NEW", "idTagInfo": {"status": "Accepted"}}]


async def test_profile_state_needs_the_admin_scope(csms):
    path = "/api/operator/charge-points/CP1/profile-state"
    user = issue_token(csms.settings, "someone", scopes=["read:stations"])
    assert (await csms.http.get(path, headers={"Authorization": ""})).status_code == 401
    assert (await csms.http.get(path, headers={"Authorization": f"Bearer {user}"})).status_code == 403
    assert (await csms.http.get(path, params={"at": "yesterday"})).status_code == 400
