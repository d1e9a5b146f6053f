"""Firmware, diagnostics and log upload jobs of one charge point, with the status history
the charge point reported. Pure: no I/O.

A job starts when the charge point answers the request (OCPP 1.6 §5.19 UpdateFirmware,
§5.9 GetDiagnostics; Security Whitepaper ed. 3 §5 SignedUpdateFirmware, GetLog — those two
only when answered ``Accepted``). Status notifications append to the job's ``history``:
FirmwareStatusNotification (§4.5) and DiagnosticsStatusNotification (§4.4) to the newest
job of their kind; SignedFirmwareStatusNotification and LogStatusNotification to the job
with their ``requestId``. A notification with no job (e.g. ``Idle`` after a
TriggerMessage, §5.17) is kept as that kind's ``lastReported`` only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Notification action → the job kind it reports on.
NOTIFICATION_KIND = {"FirmwareStatusNotification": "firmware", "DiagnosticsStatusNotification": "diagnostics",
                     "SignedFirmwareStatusNotification": "signedFirmware", "LogStatusNotification": "log"}
#: Request action → job kind (and whether its answer must be Accepted).
REQUEST_KIND = {"UpdateFirmware": ("firmware", False), "GetDiagnostics": ("diagnostics", False),
                "SignedUpdateFirmware": ("signedFirmware", True), "GetLog": ("log", True)}


class Jobs:
    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.last_reported: dict[str, dict[str, Any]] = {}

    def requested(self, action: str, request: dict[str, Any], answer: dict[str, Any], at: datetime,
                  correlation_id: str | None) -> None:
        kind, needs_accept = REQUEST_KIND[action]
        if needs_accept and answer.get("status") != "Accepted":
            return
        self.jobs.append({"jobId": correlation_id, "kind": kind, "requestId": request.get("requestId"),
                          "request": request, "answer": answer, "requestedAt": at.isoformat(),
                          "fileName": answer.get("fileName") or answer.get("filename"),
                          "status": "Requested", "history": []})

    def reported(self, action: str, payload: dict[str, Any], at: datetime) -> None:
        kind = NOTIFICATION_KIND[action]
        status = payload.get("status")
        self.last_reported[kind] = {"status": status, "at": at.isoformat()}
        candidates = [j for j in self.jobs if j["kind"] == kind]
        if "requestId" in payload:
            candidates = [j for j in candidates if j["requestId"] == payload["requestId"]]
        if candidates:
            job = candidates[-1]
            job["status"] = status
            job["history"].append({"status": status, "at": at.isoformat()})

    def dump(self) -> dict[str, Any]:
        """The fold's state, JSON-native (:meth:`load` inverts it)."""
        return {"jobs": self.jobs, "lastReported": self.last_reported}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Jobs:
        state = cls()
        state.jobs, state.last_reported = data["jobs"], data["lastReported"]
        return state

    def view(self) -> dict[str, Any]:
        return {"jobs": list(reversed(self.jobs)), "lastReported": self.last_reported}
