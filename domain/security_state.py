"""Security state of one charge point (OCPP 1.6 Security Whitepaper ed. 3): security events
it reported, certificate signing requests and the certificates the central system sent
back, and the certificates it said it has installed. Pure: no I/O.

* SecurityEventNotification.req (§3.3, answered) → ``events`` (type, timestamp, techInfo);
* SignCertificate.req (§4.1.2, answered) → ``signingRequests`` with the answer's status and
  what the central system decided (``certificate``: serial number, subject, validity — on
  the CALLRESULT event's ``decision``);
* CertificateSigned.req answered → ``certificatesSent`` (status Accepted / Rejected);
* InstallCertificate.req answered → ``installAttempts``; GetInstalledCertificateIds answered
  ``Accepted`` → ``installed[certificateType]`` = the reported certificateHashData;
  DeleteCertificate answered ``Accepted`` → that hash leaves ``installed``;
* ChangeConfiguration ``SecurityProfile`` answered ``Accepted`` (whitepaper §2.3: the
  station moves to that profile at its next connection) → ``securityProfile``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SECURITY_REQUESTS = frozenset({"InstallCertificate", "DeleteCertificate", "GetInstalledCertificateIds",
                               "CertificateSigned"})
SECURITY_REPORTS = frozenset({"SecurityEventNotification", "SignCertificate"})
#: Security events kept per charge point (the log keeps them all).
EVENTS_KEPT = 1000


class SecurityState:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.signing: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.install_attempts: list[dict[str, Any]] = []
        self.installed: dict[str, list[dict[str, Any]]] = {}
        self.profile: dict[str, Any] | None = None

    def reported(self, action: str, payload: dict[str, Any], answer: dict[str, Any], decision: dict[str, Any],
                 at: datetime) -> None:
        if action == "SecurityEventNotification":
            self.events.append({"type": payload.get("type"), "timestamp": payload.get("timestamp"),
                                "techInfo": payload.get("techInfo"), "recordedAt": at.isoformat()})
            del self.events[:-EVENTS_KEPT]
        elif action == "SignCertificate":
            self.signing.append({"status": answer.get("status"), "at": at.isoformat(),
                                 "certificate": decision.get("certificate"), "reason": decision.get("reason")})

    def answered(self, action: str, request: dict[str, Any], answer: dict[str, Any], at: datetime) -> None:
        status = answer.get("status")
        if action == "CertificateSigned":
            self.sent.append({"status": status, "at": at.isoformat()})
        elif action == "InstallCertificate":
            self.install_attempts.append({"certificateType": request.get("certificateType"), "status": status,
                                          "at": at.isoformat()})
        elif action == "GetInstalledCertificateIds" and status in ("Accepted", "NotFound"):
            self.installed[str(request.get("certificateType"))] = list(answer.get("certificateHashData") or [])
        elif action == "DeleteCertificate" and status == "Accepted":
            gone = request.get("certificateHashData")
            for kind, hashes in self.installed.items():
                self.installed[kind] = [h for h in hashes if h != gone]

    def profile_changed(self, value: Any, at: datetime) -> None:
        self.profile = {"securityProfile": value, "at": at.isoformat()}

    def dump(self) -> dict[str, Any]:
        """The fold's state, JSON-native (:meth:`load` inverts it)."""
        return {"events": self.events, "signing": self.signing, "sent": self.sent,
                "installAttempts": self.install_attempts, "installed": self.installed, "profile": self.profile}

    @classmethod
    def load(cls, data: dict[str, Any]) -> SecurityState:
        state = cls()
        state.events, state.signing, state.sent = data["events"], data["signing"], data["sent"]
        state.install_attempts, state.installed, state.profile = (data["installAttempts"], data["installed"],
                                                                  data["profile"])
        return state

    def view(self) -> dict[str, Any]:
        return {"events": list(reversed(self.events)), "signingRequests": self.signing,
                "securityProfile": self.profile,
                "certificatesSent": self.sent, "installAttempts": self.install_attempts,
                "installed": self.installed}
