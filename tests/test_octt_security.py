"""OCTT OCPP 1.6 CSMS test cases of the Security Extensions (Security Whitepaper ed. 3;
TC_073–TC_087; docs/ocpp.md has the table), against one central system that serves wss://
(profile 2) with Basic auth (profile 1 credentials) and accepts client certificates issued
by chargelog's CA (profile 3, ``tls_client_auth = "optional"``).

The security state — signing requests, certificates sent and installed, security events,
log and signed firmware jobs — is checked on the operator REST API's profile state."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import websockets

from chargelog.domain.log import DOMAIN, SOURCE

from octt_support import VALID_TAG, Csms, ScriptedStation, client_tls, connected, module_csms, now_iso, set_password
from pki_support import Pki, csr_for, make_pki

pytestmark = pytest.mark.asyncio(loop_scope="module")

PKI: dict[str, Pki] = {}
PASSWORD = "0123456789abcdef0123456789abcdef"


def tls_settings(directory: Path) -> dict[str, Any]:
    pki = PKI["pki"] = make_pki(directory)
    cert, key = pki.issue("127.0.0.1", server=True)
    return {"tls_cert": cert, "tls_key": key, "tls_client_ca": pki.ca_cert_path, "tls_client_auth": "optional",
            "ca_cert": pki.ca_cert_path, "ca_key": pki.ca_key_path, "basic_auth": True}


csms = module_csms(tls_settings)


def basic(cp_id: str, password: str = PASSWORD) -> dict[str, Any]:
    """Connect options of a profile 2 station: wss:// trusting the CA, Basic auth."""
    token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
    return {"ssl": client_tls(str(PKI["pki"].ca_cert_path)), "additional_headers": {"Authorization": f"Basic {token}"}}


def certified(cert: Path | str, key: Path | str) -> dict[str, Any]:
    """Connect options of a profile 3 station: wss:// with its client certificate."""
    return {"ssl": client_tls(str(PKI["pki"].ca_cert_path), str(cert), str(key))}


async def profile2_station(csms: Csms) -> str:
    cp_id = f"OCTT-{uuid.uuid4().hex[:8]}"
    await set_password(csms, cp_id, PASSWORD)
    return cp_id


def profile3_certificate(cp_id: str) -> dict[str, Any]:
    return certified(*PKI["pki"].issue(cp_id))


async def refused(csms: Csms, cp_id: str, **connect: Any) -> int:
    with pytest.raises(websockets.InvalidStatus) as error:
        async with websockets.connect(csms.url(cp_id), subprotocols=["ocpp1.6"], **connect):
            pass
    return error.value.response.status_code


async def security(csms: Csms, cp_id: str) -> dict[str, Any]:
    return (await csms.profile_state(cp_id))["security"]


# -- TC_073 / TC_083 / TC_085 / TC_086: passwords and profile 2 ------------------------------------

async def test_TC_073_CSMS_update_charge_point_password_for_http_basic_authentication(csms):
    cp_id = await profile2_station(csms)
    new_password = "1023456789abcdef0123456789abcdef"
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        outcome = await csms.operate(cp, "ChangeConfiguration", {"key": "AuthorizationKey", "value": new_password},
                                     {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
    set_events = [e for e in await csms.events("-") if e.type == "registry.chargepoint.password.set"
                  and e.payload["chargePointId"] == cp_id]
    assert len(set_events) == 2
    # no credential in any log: the command and the CALL frame carry it redacted (sealed)
    logged = [r.event for r in await csms.log.read(SOURCE)] + [r.event for r in await csms.log.read(DOMAIN)]
    assert not [e.type for e in logged if new_password in e.model_dump_json()]
    (call,) = [e for e in await csms.events(cp_id) if e.type == "ocpp.frame" and e.payload["messageTypeId"] == 2
               and e.payload["action"] == "ChangeConfiguration"]
    assert call.payload["payload"]["value"] == "<redacted>" and call.payload["redacted"] == ["value"]
    await csms.registry.wait_until(lambda r: r.verify_password(cp_id, new_password) is True, 20)
    assert await refused(csms, cp_id, **basic(cp_id)) == 401  # the old password no longer works
    async with connected(csms, cp_id, **basic(cp_id, new_password)) as cp:
        assert cp.id == cp_id


async def test_TC_083_CSMS_upgrade_charge_point_security_profile_accepted(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        outcome = await csms.operate(cp, "ChangeConfiguration", {"key": "SecurityProfile", "value": "3"},
                                     {"status": "Accepted"})
        assert outcome["response"] == {"status": "Accepted"}
        assert (await security(csms, cp_id))["securityProfile"]["securityProfile"] == "3"
        assert (await csms.operate(cp, "Reset", {"type": "Hard"}))["response"] == {"status": "Accepted"}
    await csms.registry.wait_until(lambda r: r.charge_point(cp_id).securityProfile == 3, 20)
    async with connected(csms, cp_id, **profile3_certificate(cp_id)) as cp:  # on profile 3 now
        assert (await cp.boot()).status == "Accepted"
    # back to the old profile (password, no certificate): refused, no downgrade
    assert await refused(csms, cp_id, **basic(cp_id)) == 403


async def test_TC_085_CSMS_basic_authentication_valid_username_password_combination(csms):
    cp_id = await profile2_station(csms)
    assert await refused(csms, cp_id, ssl=client_tls(str(PKI["pki"].ca_cert_path))) == 401
    assert await refused(csms, cp_id, **basic(cp_id, "wrong-password-0123456789")) == 401
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        assert cp.id == cp_id


async def test_TC_086_CSMS_tls_server_side_certificate_valid_certificate(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        assert cp._connection.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    (opened,) = [e for e in await csms.events(cp_id) if e.type == "ocpp.connection.opened"]
    assert opened.payload["auth"] == "basic-ok"


# -- TC_074 / TC_077 / TC_087: profile 3, certificates signed by chargelog's CA --------------------

async def sign_certificate(csms: Csms, cp: ScriptedStation, answer: str) -> tuple[str, bytes]:
    """ExtendedTriggerMessage SignChargePointCertificate → SignCertificate → CertificateSigned
    (answered ``answer``); returns (certificateChain, the CSR's key)."""
    outcome = await csms.operate(cp, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert outcome["response"] == {"status": "Accepted"}
    csr, key = csr_for(cp.id)
    cp.script["CertificateSigned"] = {"status": answer}
    assert (await cp.send("SignCertificate", csr=csr)).status == "Accepted"
    chain = (await cp.next_call("CertificateSigned"))["certificateChain"]
    assert chain.count("BEGIN CERTIFICATE") == 2
    return chain, key


async def test_TC_074_CSMS_update_charge_point_certificate_by_request_of_central_system(csms, tmp_path):
    cp_id = f"OCTT-{uuid.uuid4().hex[:8]}"
    async with connected(csms, cp_id, **profile3_certificate(cp_id)) as cp:
        chain, key = await sign_certificate(csms, cp, "Accepted")
        state = await security(csms, cp_id)
        (signing,) = state["signingRequests"]
        assert signing["status"] == "Accepted" and f"CN={cp_id}" in signing["certificate"]["subject"]
    # the new certificate (with the CSR's key) opens the next connection
    (tmp_path / "new.pem").write_text(chain)
    (tmp_path / "new-key.pem").write_bytes(key)
    async with connected(csms, cp_id, **certified(tmp_path / "new.pem", tmp_path / "new-key.pem")) as cp:
        # the station on the certificate chargelog's CA issued: it charges and reports security events
        tx = await cp.charging(1, VALID_TAG)
        await cp.stop_transaction(tx, meter_stop=700, id_tag=VALID_TAG)
        assert await cp.send("SecurityEventNotification", type="ReconfigurationOfSecurityParameters",
                             timestamp=now_iso(), tech_info="new certificate in use") is not None
        (stopped,) = await csms.settled(cp_id, "transaction.stopped")
        assert stopped.payload["energyWh"] == 700
    state = await security(csms, cp_id)
    assert [s["status"] for s in state["certificatesSent"]] == ["Accepted"]
    assert state["events"][0]["type"] == "ReconfigurationOfSecurityParameters"
    opened = [e for e in await csms.events(cp_id) if e.type == "ocpp.connection.opened"]
    assert [e.payload["auth"] for e in opened] == ["tls-client-cert", "tls-client-cert"]


async def test_TC_077_CSMS_invalid_charge_point_certificate_security_event(csms):
    cp_id = f"OCTT-{uuid.uuid4().hex[:8]}"
    async with connected(csms, cp_id, **profile3_certificate(cp_id)) as cp:
        await sign_certificate(csms, cp, "Rejected")
        assert await cp.send("SecurityEventNotification", type="InvalidChargePointCertificate",
                             timestamp=now_iso(), tech_info=None) is not None
        state = await security(csms, cp_id)
        assert [s["status"] for s in state["certificatesSent"]] == ["Rejected"]
        assert state["events"][0]["type"] == "InvalidChargePointCertificate"


async def test_TC_087_CSMS_tls_client_side_certificate_valid_certificate(csms):
    cp_id = f"OCTT-{uuid.uuid4().hex[:8]}"
    async with connected(csms, cp_id, **profile3_certificate(cp_id)) as cp:
        tx = await cp.charging(1, VALID_TAG)
        await cp.stop_transaction(tx, meter_stop=1500, id_tag=VALID_TAG)
        assert await cp.send("SecurityEventNotification", type="StartupOfTheDevice", timestamp=now_iso(),
                             tech_info="profile 3") is not None
        (stopped,) = await csms.settled(cp_id, "transaction.stopped")
        assert stopped.payload["energyWh"] == 1500
        (event,) = (await security(csms, cp_id))["events"]
        assert event["type"] == "StartupOfTheDevice" and event["techInfo"] == "profile 3"
    (opened,) = [e for e in await csms.events(cp_id) if e.type == "ocpp.connection.opened"]
    assert opened.payload["auth"] == "tls-client-cert"
    # a certificate of another charge point is refused for this URL
    assert await refused(csms, "OCTT-OTHER", **profile3_certificate(cp_id)) == 403


# -- TC_075 / TC_076 / TC_078: certificate management ----------------------------------------------

def hash_data(algorithm: str, serial: str) -> dict[str, str]:
    return {"hashAlgorithm": algorithm, "issuerNameHash": f"name-{algorithm}", "issuerKeyHash": f"key-{algorithm}",
            "serialNumber": serial}


def snake(data: dict[str, str]) -> dict[str, str]:
    return {"hash_algorithm": data["hashAlgorithm"], "issuer_name_hash": data["issuerNameHash"],
            "issuer_key_hash": data["issuerKeyHash"], "serial_number": data["serialNumber"]}


async def install(csms: Csms, cp: ScriptedStation, kind: str, answer: str = "Accepted") -> None:
    pem = PKI["pki"].ca_cert_path.read_text()
    outcome = await csms.operate(cp, "InstallCertificate", {"certificateType": kind, "certificate": pem},
                                 {"status": answer})
    assert outcome["response"] == {"status": answer}


async def installed_ids(csms: Csms, cp: ScriptedStation, kind: str, hashes: list[dict[str, str]]) -> None:
    answer = {"status": "Accepted", "certificate_hash_data": [snake(h) for h in hashes]} if hashes \
        else {"status": "NotFound"}
    outcome = await csms.operate(cp, "GetInstalledCertificateIds", {"certificateType": kind}, answer)
    assert outcome["response"]["status"] == answer["status"]
    assert (await security(csms, cp.id))["installed"][kind] == hashes


async def install_root(csms: Csms, kind: str) -> None:
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        await install(csms, cp, kind)
        await installed_ids(csms, cp, kind, [hash_data("SHA256", "01")])
        (attempt,) = (await security(csms, cp_id))["installAttempts"]
        assert (attempt["certificateType"], attempt["status"]) == (kind, "Accepted")


async def test_TC_075_1_CSMS_install_manufacturer_root_certificate(csms):
    await install_root(csms, "ManufacturerRootCertificate")


async def test_TC_075_2_CSMS_install_central_system_root_certificate(csms):
    await install_root(csms, "CentralSystemRootCertificate")


async def test_TC_076_CSMS_delete_a_specific_certificate_from_the_charge_point(csms):
    kind = "CentralSystemRootCertificate"
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        for algorithm in ("SHA256", "SHA384", "SHA512"):
            await install(csms, cp, kind)
            data = hash_data(algorithm, f"serial-{algorithm}")
            await installed_ids(csms, cp, kind, [data])
            outcome = await csms.operate(cp, "DeleteCertificate", {"certificateHashData": data}, {"status": "Accepted"})
            assert outcome["response"] == {"status": "Accepted"}
            assert (await security(csms, cp_id))["installed"][kind] == []
            await installed_ids(csms, cp, kind, [])


async def test_TC_078_CSMS_invalid_central_system_certificate_security_event(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        await install(csms, cp, "CentralSystemRootCertificate", "Rejected")
        assert await cp.send("SecurityEventNotification", type="InvalidCentralSystemCertificate",
                             timestamp=now_iso(), tech_info="certificate rejected") is not None
        state = await security(csms, cp_id)
        assert state["installAttempts"][0]["status"] == "Rejected"
        assert state["events"][0]["type"] == "InvalidCentralSystemCertificate"


# -- TC_079 / TC_080 / TC_081: security log, signed firmware ---------------------------------------

async def only_job(csms: Csms, cp_id: str) -> dict[str, Any]:
    (job,) = (await csms.profile_state(cp_id))["jobs"]["jobs"]
    return job


async def test_TC_079_CSMS_get_security_log(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        request = {"logType": "SecurityLog", "requestId": 1, "retries": 1, "retryInterval": 60,
                   "log": {"remoteLocation": "https://example.com/security-log/upload"}}
        outcome = await csms.operate(cp, "GetLog", request, {"status": "Accepted", "filename": "security.log"})
        assert outcome["response"] == {"status": "Accepted", "filename": "security.log"}
        for status in ("Uploading", "Uploaded"):
            assert await cp.send("LogStatusNotification", status=status, request_id=1) is not None
        job = await only_job(csms, cp_id)
        assert job["kind"] == "log" and job["fileName"] == "security.log"
        assert [h["status"] for h in job["history"]] == ["Uploading", "Uploaded"]


async def signed_update(csms: Csms, cp: ScriptedStation, statuses: tuple[str, ...]) -> dict[str, Any]:
    request = {"requestId": 1, "retries": 1, "retryInterval": 60, "firmware": {
        "location": "https://example.com/fw/secure.bin", "retrieveDateTime": now_iso(120),
        "installDateTime": now_iso(420), "signingCertificate": PKI["pki"].ca_cert_path.read_text(),
        "signature": base64.b64encode(b"signature").decode()}}
    outcome = await csms.operate(cp, "SignedUpdateFirmware", request, {"status": "Accepted"})
    assert outcome["response"] == {"status": "Accepted"}
    for status in statuses:
        assert await cp.send("SignedFirmwareStatusNotification", status=status, request_id=1) is not None
    return await only_job(csms, cp.id)


async def test_TC_080_CSMS_secure_firmware_update(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        steps = ("Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting")
        await signed_update(csms, cp, steps)
        assert (await cp.boot()).status == "Accepted"
        assert await cp.send("SecurityEventNotification", type="FirmwareUpdated", timestamp=now_iso(),
                             tech_info=None) is not None
        await cp.status(0, "Available")
        assert await cp.send("SignedFirmwareStatusNotification", status="Installed", request_id=1) is not None
        job = await only_job(csms, cp_id)
        assert job["kind"] == "signedFirmware" and job["status"] == "Installed"
        assert [h["status"] for h in job["history"]] == [*steps, "Installed"]
        assert (await security(csms, cp_id))["events"][0]["type"] == "FirmwareUpdated"


async def test_TC_081_CSMS_secure_firmware_update_invalid_signature(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        job = await signed_update(csms, cp, ("Downloading", "Downloaded", "InvalidSignature"))
        assert job["status"] == "InvalidSignature"


async def test_sign_certificate_refuses_a_bad_csr_or_another_charge_points_name(csms):
    cp_id = await profile2_station(csms)
    async with connected(csms, cp_id, **basic(cp_id)) as cp:
        assert (await cp.send("SignCertificate", csr="-----BEGIN CERTIFICATE REQUEST-----\nnope")).status == "Rejected"
        assert (await cp.send("SignCertificate", csr=csr_for("SOMEONE-ELSE")[0])).status == "Rejected"
        reasons = [s["reason"] for s in (await security(csms, cp_id))["signingRequests"]]
        assert "not a usable PEM" in reasons[0] and "is not the chargePointId" in reasons[1]
        assert not [e for e in await csms.events(cp_id) if e.type == "command.requested"]
