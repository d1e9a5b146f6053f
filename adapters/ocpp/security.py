"""The central system's answers to the charge-point-initiated messages of the OCPP 1.6
Security Extensions (Security Whitepaper ed. 3, "Improved security for OCPP 1.6-J"), as
``@on(Action…)`` handlers mixed into the connection. Schemas: the ``ocpp`` package's 1.6
JSON schemas of these messages.

* SecurityEventNotification (§3.3) → ``{}``; the event is in the frame (read model:
  ``security.events`` of :mod:`chargelog.domain.profile_state`).
* SignCertificate (§4.1.2) → ``Accepted`` when a CA is configured (``ca_cert``/``ca_key``) and
  the CSR checks out (:mod:`.certificates`), else ``Rejected`` (``decision.reason`` says
  why). On Accepted the signed chain is issued at once and a ``command.requested``
  CertificateSigned (principal system) is appended in the same batch: the gateway holding
  the connection sends it like any command, after the SignCertificate.conf.
* LogStatusNotification (§5.2), SignedFirmwareStatusNotification (§5.4) → ``{}``; the
  statuses fold into the job's history (:mod:`chargelog.domain.jobs`).
"""

from __future__ import annotations

import uuid
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, GenericStatus

from chargelog.domain.envelope import Principal

from .certificates import CsrRejected, load_ca, sign_csr
from .commands import command_requested_event

SYSTEM = Principal(kind="system", id="certificate-authority")


class SecurityExtensions:
    """Mixin for :class:`~.handlers.CentralSystemConnection` (uses ``gateway``, ``id``,
    ``decide``, ``add_event``)."""

    gateway: Any
    id: str

    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type: str, timestamp: str, call_unique_id: str,  # noqa: A002
                                             **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr: str, call_unique_id: str) -> call_result.SignCertificate:
        settings = self.gateway.settings
        if settings.ca_cert is None or settings.ca_key is None:
            self.decide(reason="no certificate authority configured (ca_cert, ca_key)")  # type: ignore[attr-defined]
            return call_result.SignCertificate(status=GenericStatus.rejected)
        try:
            ca = load_ca(settings.ca_cert, settings.ca_key, settings.ca_validity_days)
        except (OSError, ValueError, TypeError) as exc:
            self.decide(reason=f"certificate authority unavailable: {type(exc).__name__}")  # type: ignore[attr-defined]
            return call_result.SignCertificate(status=GenericStatus.rejected)
        try:
            chain, certificate = sign_csr(ca, csr, self.id)
        except CsrRejected as exc:
            self.decide(reason=str(exc))  # type: ignore[attr-defined]
            return call_result.SignCertificate(status=GenericStatus.rejected)
        self.decide(certificate=certificate)  # type: ignore[attr-defined]
        self.add_event(command_requested_event(  # type: ignore[attr-defined]
            self.id, "CertificateSigned", {"certificateChain": chain}, principal=SYSTEM,
            correlation_id=str(uuid.uuid4())))
        return call_result.SignCertificate(status=GenericStatus.accepted)

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status: str, call_unique_id: str,
                                         **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(
            self, status: str, call_unique_id: str, **_: Any) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()
