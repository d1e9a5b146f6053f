"""OCTT OCPP 1.6 CSMS test cases of the Core profile (and Data Transfer, subprotocol
negotiation), one test per case, named after it (OCA Compliancy Test Tool — Test Case
Document, System Under Test: Central System; the table is in docs/ocpp.md).

Each test plays the OCTT: a scripted charge point over a real WebSocket, the operator REST
API for CSMS-initiated steps; it asserts the Central System side of the case — its answers,
the station map and sessions read models, the events in the log.
"""

from __future__ import annotations

import pytest
import websockets

from octt_support import BLOCKED_TAG, EXPIRED_TAG, VALID_TAG, Csms, connected, module_csms, now_iso

pytestmark = pytest.mark.asyncio(loop_scope="module")


csms = module_csms()


async def connector_status(csms: Csms, cp_id: str, connector_id: int, count: int = 1) -> str:
    """The connector's status on the station map once ``count`` status changes are folded."""
    await csms.settled(cp_id, "connector.status.changed", count)
    station = await csms.worker.read_models.station(cp_id)
    assert station is not None
    return next(c.status for c in station.connectors if c.connectorId == connector_id)


# -- 3.1 cold boot ---------------------------------------------------------------------------

async def test_TC_001_CSMS_cold_boot_charge_point(csms):
    async with connected(csms, boot=False) as cp:
        boot = await cp.boot()
        assert boot.status == "Accepted" and boot.interval > 0 and boot.current_time
        await cp.available_all()
        assert (await cp.send("Heartbeat")).current_time
        await csms.settled(cp.id, "connector.status.changed", 3)
        station = await csms.worker.read_models.station(cp.id)
        assert station is not None and station.online and station.status == "Available"
        assert [c.status for c in station.connectors] == ["Available", "Available"]


# -- 3.2 charging sessions -------------------------------------------------------------------

async def test_TC_003_CSMS_regular_charging_session_plugin_first(csms):
    async with connected(csms) as cp:
        await cp.status(1, "Preparing")
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        started = await cp.start_transaction(1, VALID_TAG)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await csms.settled(cp.id, "transaction.started")
        session = await csms.worker.read_models.active_session_at(cp.id, 1)
        assert session is not None and session.transactionId == started.transaction_id
        assert session.idTag == VALID_TAG and session.status == "active"


async def test_TC_004_1_CSMS_regular_charging_session_identification_first(csms):
    async with connected(csms) as cp:
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        started = await cp.start_transaction(1, VALID_TAG)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await csms.settled(cp.id, "transaction.started")
        assert (await csms.worker.read_models.session(started.transaction_id)).status == "active"


async def test_TC_004_2_CSMS_regular_charging_session_identification_first_connection_timeout(csms):
    async with connected(csms) as cp:
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available", timestamp=now_iso(5))
        assert await connector_status(csms, cp.id, 1, 5) == "Available"
        assert await csms.worker.read_models.active_session_at(cp.id, 1) is None


async def test_TC_005_1_CSMS_ev_side_disconnected(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        await cp.status(1, "SuspendedEV")
        stopped = await cp.stop_transaction(tx, id_tag=VALID_TAG, reason="EVDisconnected")
        assert stopped.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Finishing")
        await cp.status(1, "Available")
        (event,) = await csms.settled(cp.id, "transaction.stopped")
        assert event.payload["reason"] == "EVDisconnected" and event.payload["transactionId"] == tx
        assert (await csms.worker.read_models.session(tx)).status == "stopped"


# -- 3.3 cache -------------------------------------------------------------------------------

async def test_TC_007_CSMS_regular_start_charging_session_cached_id(csms):
    async with connected(csms) as cp:
        await cp.status(1, "Preparing")
        started = await cp.start_transaction(1, VALID_TAG)  # no Authorize: the id was cached
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await csms.settled(cp.id, "transaction.started")


async def test_TC_061_CSMS_clear_authorization_data_in_authorization_cache(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "ClearCache", {}, {"status": "Accepted"})
        assert outcome["status"] == "answered" and outcome["response"] == {"status": "Accepted"}


# -- 3.4 remote actions ----------------------------------------------------------------------

async def test_TC_010_CSMS_remote_start_charging_session_cable_plugged_in_first(csms):
    async with connected(csms) as cp:
        await cp.status(1, "Preparing")
        outcome = await csms.operate(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": VALID_TAG})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        started = await cp.start_transaction(1, VALID_TAG)
        assert started.id_tag_info["status"] == "Accepted"
        await cp.status(1, "Charging")
        await csms.settled(cp.id, "transaction.started")
        assert (await csms.worker.read_models.active_session_at(cp.id, 1)).transactionId == started.transaction_id


async def test_TC_011_1_CSMS_remote_start_charging_session_remote_start_first(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": VALID_TAG})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        started = await cp.start_transaction(1, VALID_TAG)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging")
        await csms.settled(cp.id, "transaction.started")


async def test_TC_011_2_CSMS_remote_start_charging_session_time_out(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": VALID_TAG})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Available", timestamp=now_iso(5))  # ConnectionTimeOut: no cable
        assert await connector_status(csms, cp.id, 1, 5) == "Available"
        assert await csms.worker.read_models.active_session_at(cp.id, 1) is None


async def test_TC_012_CSMS_remote_stop_charging_session(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        outcome = await csms.operate(cp, "RemoteStopTransaction", {"transactionId": tx})
        assert outcome["response"] == {"status": "Accepted"}
        await cp.stop_transaction(tx, id_tag=VALID_TAG, reason="Remote")
        await cp.status(1, "Finishing")
        await cp.status(1, "Available")
        (event,) = await csms.settled(cp.id, "transaction.stopped")
        assert event.payload["reason"] == "Remote"
        assert (await csms.worker.read_models.session(tx)).status == "stopped"


# -- 3.5 reset -------------------------------------------------------------------------------

async def reset_and_reboot(csms: Csms, kind: str) -> None:
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "Reset", {"type": kind}, {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await cp.boot()).status == "Accepted"
        await cp.available_all()
        sent = [e.payload["request"] for e in await csms.events(cp.id) if e.type == "command.requested"]
        assert sent == [{"type": kind}]


async def test_TC_013_CSMS_hard_reset_without_transaction(csms):
    await reset_and_reboot(csms, "Hard")


async def test_TC_014_CSMS_soft_reset_without_transaction(csms):
    await reset_and_reboot(csms, "Soft")


# -- 3.6 unlock connector --------------------------------------------------------------------

async def unlock(csms: Csms, answer: str, connector_id: int = 1) -> None:
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "UnlockConnector", {"connectorId": connector_id}, {"status": answer})
        assert outcome["status"] == "answered" and outcome["response"] == {"status": answer}


async def test_TC_017_1_CSMS_unlock_connector_no_charging_session_not_fixed_cable(csms):
    await unlock(csms, "Unlocked")


async def test_TC_017_2_CSMS_unlock_connector_no_charging_session_fixed_cable(csms):
    await unlock(csms, "NotSupported")


async def test_TC_018_1_CSMS_unlock_connector_with_charging_session(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        outcome = await csms.operate(cp, "UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"})
        assert outcome["response"] == {"status": "Unlocked"}
        await cp.status(1, "Finishing")
        await cp.stop_transaction(tx, id_tag=VALID_TAG, reason="UnlockCommand")
        await cp.status(1, "Available")
        (event,) = await csms.settled(cp.id, "transaction.stopped")
        assert event.payload["reason"] == "UnlockCommand"


# -- 3.7 configuration -----------------------------------------------------------------------

async def test_TC_019_1_CSMS_retrieve_all_configuration_keys(csms):
    keys = [{"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,SmartCharging"}]
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "GetConfiguration", {}, {"configuration_key": keys, "unknown_key": []})
        assert outcome["response"]["configurationKey"] == keys


async def test_TC_019_2_CSMS_retrieve_specific_configuration_key(csms):
    key = {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,FirmwareManagement"}
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "GetConfiguration", {"key": ["SupportedFeatureProfiles"]},
                                     {"configuration_key": [key]})
        assert outcome["response"]["configurationKey"] == [key]


async def change_configuration(csms: Csms, key: str, value: str, answer: str) -> None:
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "ChangeConfiguration", {"key": key, "value": value}, {"status": answer})
        assert outcome["response"] == {"status": answer}


async def test_TC_021_CSMS_change_set_configuration(csms):
    await change_configuration(csms, "MeterValueSampleInterval", "60", "Accepted")


# -- 3.8 authorization non-happy flow --------------------------------------------------------

async def authorize(csms: Csms, id_tag: str) -> str:
    async with connected(csms) as cp:
        return (await cp.send("Authorize", id_tag=id_tag)).id_tag_info["status"]


async def test_TC_023_1_CSMS_start_charging_session_authorize_invalid(csms):
    assert await authorize(csms, "OCTT-UNKNOWN") == "Invalid"


async def test_TC_023_2_CSMS_start_charging_session_authorize_expired(csms):
    assert await authorize(csms, EXPIRED_TAG) == "Expired"


async def test_TC_023_3_CSMS_start_charging_session_authorize_blocked(csms):
    assert await authorize(csms, BLOCKED_TAG) == "Blocked"


async def test_TC_024_CSMS_start_charging_session_lock_failure(csms):
    async with connected(csms) as cp:
        assert (await cp.send("Authorize", id_tag=VALID_TAG)).id_tag_info["status"] == "Accepted"
        await cp.status(1, "Preparing")
        await cp.status(1, "Faulted", "ConnectorLockFailure")
        assert await connector_status(csms, cp.id, 1, 5) == "Faulted"
        station = await csms.worker.read_models.station(cp.id)
        assert station.connectors[0].errorCode == "ConnectorLockFailure"


# -- 3.9 remote actions non-happy flow -------------------------------------------------------

async def test_TC_026_CSMS_remote_start_charging_session_rejected(csms):
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "RemoteStartTransaction", {"connectorId": 1, "idTag": VALID_TAG},
                                     {"status": "Rejected"})
        assert outcome["status"] == "answered" and outcome["response"] == {"status": "Rejected"}
        (event,) = await csms.settled(cp.id, "command.rejected")
        assert event.payload["action"] == "RemoteStartTransaction"


async def test_TC_028_CSMS_remote_stop_transaction_rejected(csms):
    async with connected(csms) as cp:
        await cp.charging()
        outcome = await csms.operate(cp, "RemoteStopTransaction", {"transactionId": 987654}, {"status": "Rejected"})
        assert outcome["response"] == {"status": "Rejected"}


# -- 3.10 unlock non-happy flow --------------------------------------------------------------

async def test_TC_030_CSMS_unlock_connector_unlock_failure(csms):
    await unlock(csms, "UnlockFailed")


async def test_TC_031_CSMS_unlock_connector_unknown_connector(csms):
    await unlock(csms, "NotSupported", connector_id=9)


# -- 3.11 power failure ----------------------------------------------------------------------

async def test_TC_032_1_CSMS_power_failure_boot_stop_transactions(csms):
    async with connected(csms) as cp:
        tx = await cp.charging()
        cp_id = cp.id
    async with connected(csms, cp_id, boot=False) as cp:  # power back: a new connection
        assert (await cp.boot()).status == "Accepted"
        await cp.status(0, "Available")
        await cp.status(1, "Finishing")
        await cp.status(2, "Available")
        stopped = await cp.stop_transaction(tx, id_tag=VALID_TAG, reason="PowerLoss")
        assert stopped.id_tag_info["status"] == "Accepted"
        (event,) = await csms.settled(cp_id, "transaction.stopped")
        assert event.payload["reason"] == "PowerLoss" and event.payload["known"] is True


# -- 3.12 offline behaviour ------------------------------------------------------------------

async def test_TC_037_1_CSMS_offline_start_transaction_valid_id_tag(csms):
    async with connected(csms) as cp:
        earlier = now_iso(-4 * 3600)
        started = await cp.start_transaction(1, VALID_TAG, timestamp=earlier)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0
        await cp.status(1, "Charging", timestamp=earlier)
        await csms.settled(cp.id, "transaction.started")
        session = await csms.worker.read_models.session(started.transaction_id)
        assert session.startTime.isoformat().replace("+00:00", "Z") == earlier


async def test_TC_037_3_CSMS_offline_start_transaction_invalid_id_tag_stop_on_invalid_true(csms):
    async with connected(csms) as cp:
        earlier = now_iso(-4 * 3600)
        started = await cp.start_transaction(1, "OCTT-UNKNOWN", timestamp=earlier)
        assert started.transaction_id > 0 and started.id_tag_info["status"] == "Invalid"
        await cp.status(1, "Charging", timestamp=earlier)
        await cp.stop_transaction(started.transaction_id, id_tag="OCTT-UNKNOWN", reason="DeAuthorized")
        await cp.status(1, "Finishing")
        (event,) = await csms.settled(cp.id, "transaction.stopped")
        assert event.payload["reason"] == "DeAuthorized"


async def test_TC_039_CSMS_offline_transaction(csms):
    async with connected(csms) as cp:
        # both times from one clock reading: the round trip between them may take seconds
        start, stop = now_iso(-4 * 3600), now_iso(-3 * 3600)
        started = await cp.start_transaction(1, VALID_TAG, timestamp=start)
        assert started.id_tag_info["status"] == "Accepted"
        await cp.stop_transaction(started.transaction_id, meter_stop=2000, id_tag=VALID_TAG, reason="Local",
                                  timestamp=stop)
        (event,) = await csms.settled(cp.id, "transaction.stopped")
        assert event.payload["energyWh"] == 2000 and event.payload["durationS"] == 3600


# -- 3.13 configuration keys non-happy flow --------------------------------------------------

async def test_TC_040_1_CSMS_configuration_keys_not_supported(csms):
    await change_configuration(csms, "OcttUnknownKey", "123", "NotSupported")


async def test_TC_040_2_CSMS_configuration_keys_invalid_value(csms):
    await change_configuration(csms, "MeterValueSampleInterval", "INVALID_VALUE", "Rejected")


# -- data transfer, subprotocol ----------------------------------------------------------------

async def test_TC_064_CSMS_data_transfer_to_central_system(csms):
    async with connected(csms) as cp:
        answer = await cp.send("DataTransfer", vendor_id="octt-vendor", message_id="test", data="payload")
        assert answer.status in ("Rejected", "UnknownMessageId", "UnknownVendorId")


async def test_TC_088_CSMS_websocket_subprotocol_negotiation(csms):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(csms.url("OCTT-NOPROTO"), subprotocols=["ocpp0.1"]):
            pass
    assert refused.value.response.status_code == 400
    async with connected(csms, subprotocols=["ocpp0.1", "ocpp1.6"], boot=False) as cp:
        assert cp._connection.subprotocol == "ocpp1.6"
        assert (await cp.boot()).status == "Accepted"


async def test_security_messages_without_a_configured_ca(csms):
    """No CA configured: SignCertificate is refused (with the reason on the log); the other
    Security Extensions messages are answered as they would be with one."""
    async with connected(csms) as cp:
        assert (await cp.send("SignCertificate", csr="-----BEGIN CERTIFICATE REQUEST-----")).status == "Rejected"
        assert await cp.send("SecurityEventNotification", type="StartupOfTheDevice", timestamp=now_iso(),
                             tech_info=None) is not None
        (answer,) = [e for e in await csms.events(cp.id) if e.type == "ocpp.frame"
                     and e.payload["direction"] == "out" and e.payload["action"] == "SignCertificate"]
        assert answer.payload["decision"]["reason"].startswith("no certificate authority configured")
