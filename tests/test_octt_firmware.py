"""OCTT OCPP 1.6 CSMS test cases of the Firmware Management profile (TC_044 firmware
update, TC_045 diagnostics; docs/ocpp.md has the table). The job and its status history
are checked on the operator REST API's profile state."""

from __future__ import annotations

import pytest

from octt_support import Csms, ScriptedStation, connected, module_csms, now_iso

pytestmark = pytest.mark.asyncio(loop_scope="module")
csms = module_csms()


async def update_firmware(csms: Csms, cp: ScriptedStation) -> None:
    request = {"location": "https://example.org/fw.bin", "retrieveDate": now_iso(60), "retries": 1,
               "retryInterval": 1}
    outcome = await csms.operate(cp, "UpdateFirmware", request, {})
    assert outcome["status"] == "answered" and outcome["response"] == {}


async def firmware_job(csms: Csms, cp_id: str) -> dict:
    (job,) = [j for j in (await csms.profile_state(cp_id))["jobs"]["jobs"] if j["kind"] == "firmware"]
    return job


async def notify(cp: ScriptedStation, action: str, *statuses: str) -> None:
    for status in statuses:
        assert await cp.send(action, status=status) is not None


async def install(csms: Csms, last: str) -> None:
    async with connected(csms) as cp:
        await update_firmware(csms, cp)
        await notify(cp, "FirmwareStatusNotification", "Downloading", "Downloaded")
        for connector in (0, 1, 2):
            await cp.status(connector, "Unavailable")
        await notify(cp, "FirmwareStatusNotification", "Installing")
        assert (await cp.boot()).status == "Accepted"
        await cp.available_all()
        await notify(cp, "FirmwareStatusNotification", last)
        job = await firmware_job(csms, cp.id)
        assert job["status"] == last
        assert [h["status"] for h in job["history"]] == ["Downloading", "Downloaded", "Installing", last]


async def test_TC_044_1_CSMS_firmware_update_download_and_install(csms):
    await install(csms, "Installed")


async def test_TC_044_2_CSMS_firmware_update_download_failed(csms):
    async with connected(csms) as cp:
        await update_firmware(csms, cp)
        await notify(cp, "FirmwareStatusNotification", "Downloading", "DownloadFailed")
        job = await firmware_job(csms, cp.id)
        assert [h["status"] for h in job["history"]] == ["Downloading", "DownloadFailed"]


async def test_TC_044_3_CSMS_firmware_update_installation_failed(csms):
    await install(csms, "InstallationFailed")


async def diagnostics(csms: Csms, last: str) -> None:
    request = {"location": "ftp://user:pass@example.org/logs", "retries": 1, "retryInterval": 1,
               "startTime": now_iso(-7200), "stopTime": now_iso(-3600)}
    async with connected(csms) as cp:
        outcome = await csms.operate(cp, "GetDiagnostics", request, {"file_name": "diag.log"})
        assert outcome["response"] == {"fileName": "diag.log"}
        await notify(cp, "DiagnosticsStatusNotification", "Uploading", last)
        (job,) = (await csms.profile_state(cp.id))["jobs"]["jobs"]
        assert job["kind"] == "diagnostics" and job["fileName"] == "diag.log" and job["status"] == last
        assert [h["status"] for h in job["history"]] == ["Uploading", last]


async def test_TC_045_1_CSMS_get_diagnostics(csms):
    await diagnostics(csms, "Uploaded")


async def test_TC_045_2_CSMS_get_diagnostics_upload_failed(csms):
    await diagnostics(csms, "UploadFailed")
