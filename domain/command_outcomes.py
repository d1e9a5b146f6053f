"""What a charge point's answer to a central-system-initiated OCPP 1.6 operation means.

Each operation of OCPP 1.6 §5 ("Operations initiated by Central System") answers with a status
enumeration (§7) or, for the operations without one, with data. :data:`OUTCOMES` maps every
status to one of four outcomes:

* ``accepted`` — the charge point did it (or will at once);
* ``scheduled`` — accepted, effective later (ChangeAvailability ``Scheduled``, §5.2: "after
  the running transaction(s)"; ChangeConfiguration ``RebootRequired``, §5.3: after a reboot);
* ``rejected`` — the charge point refused (or cannot: ``NotSupported``, ``Occupied``, …);
* ``failed`` — the charge point tried and failed (UnlockConnector ``UnlockFailed`` §5.18,
  ReserveNow ``Faulted`` §5.13, SendLocalList ``Failed`` §5.15).

A status not in the table (a station speaking outside 1.6) is ``rejected``; an answer with no
``status`` field (the operations whose ``.conf`` has none) is ``accepted``.
"""

from __future__ import annotations

from typing import Any, Literal

Outcome = Literal["accepted", "scheduled", "rejected", "failed"]

#: action → {status → (outcome, OCPP 1.6 clause)}. Statuses per the §7 enumeration each
#: ``.conf`` names (edition 2 numbering).
OUTCOMES: dict[str, dict[str, tuple[Outcome, str]]] = {
    "CancelReservation": {  # §5.1, §7.5 CancelReservationStatus
        "Accepted": ("accepted", "§5.1"), "Rejected": ("rejected", "§5.1")},
    "ChangeAvailability": {  # §5.2, §7.2 AvailabilityStatus
        "Accepted": ("accepted", "§5.2"), "Rejected": ("rejected", "§5.2"),
        "Scheduled": ("scheduled", "§5.2: effective when the running transactions have finished")},
    "ChangeConfiguration": {  # §5.3, §7.10 ConfigurationStatus
        "Accepted": ("accepted", "§5.3"), "Rejected": ("rejected", "§5.3"),
        "RebootRequired": ("scheduled", "§5.3: effective after a reboot"),
        "NotSupported": ("rejected", "§5.3: unknown key")},
    "ClearCache": {  # §5.4, §7.8 ClearCacheStatus
        "Accepted": ("accepted", "§5.4"), "Rejected": ("rejected", "§5.4")},
    "ClearChargingProfile": {  # §5.5, §7.9 ClearChargingProfileStatus
        "Accepted": ("accepted", "§5.5"), "Unknown": ("rejected", "§5.5: no matching profile")},
    "DataTransfer": {  # §5.6, §7.17 DataTransferStatus
        "Accepted": ("accepted", "§5.6"), "Rejected": ("rejected", "§5.6"),
        "UnknownMessageId": ("rejected", "§5.6"), "UnknownVendorId": ("rejected", "§5.6")},
    "GetCompositeSchedule": {  # §5.7, §7.16 GetCompositeScheduleStatus
        "Accepted": ("accepted", "§5.7"), "Rejected": ("rejected", "§5.7")},
    "RemoteStartTransaction": {  # §5.11, §7.38 RemoteStartStopStatus
        "Accepted": ("accepted", "§5.11"), "Rejected": ("rejected", "§5.11")},
    "RemoteStopTransaction": {  # §5.12, §7.38 RemoteStartStopStatus
        "Accepted": ("accepted", "§5.12"), "Rejected": ("rejected", "§5.12")},
    "ReserveNow": {  # §5.13, §7.39 ReservationStatus
        "Accepted": ("accepted", "§5.13"), "Faulted": ("failed", "§5.13: connector faulted"),
        "Occupied": ("rejected", "§5.13: connector occupied"), "Rejected": ("rejected", "§5.13"),
        "Unavailable": ("rejected", "§5.13: connector unavailable")},
    "Reset": {  # §5.14, §7.41 ResetStatus
        "Accepted": ("accepted", "§5.14"), "Rejected": ("rejected", "§5.14")},
    "SendLocalList": {  # §5.15, §7.45 UpdateStatus
        "Accepted": ("accepted", "§5.15"), "Failed": ("failed", "§5.15: update failed"),
        "NotSupported": ("rejected", "§5.15"), "VersionMismatch": ("rejected", "§5.15")},
    "SetChargingProfile": {  # §5.16, §7.11 ChargingProfileStatus
        "Accepted": ("accepted", "§5.16"), "Rejected": ("rejected", "§5.16"),
        "NotSupported": ("rejected", "§5.16")},
    "TriggerMessage": {  # §5.17, §7.44 TriggerMessageStatus
        "Accepted": ("accepted", "§5.17"), "Rejected": ("rejected", "§5.17"),
        "NotImplemented": ("rejected", "§5.17")},
    "UnlockConnector": {  # §5.18, §7.46 UnlockStatus
        "Unlocked": ("accepted", "§5.18"), "UnlockFailed": ("failed", "§5.18: unlock failed"),
        "NotSupported": ("rejected", "§5.18: no connector lock")},
    # Security Extensions (Security Whitepaper ed. 3, §4-§5 and its enumerations)
    "CertificateSigned": {"Accepted": ("accepted", "SW §4.1"), "Rejected": ("rejected", "SW §4.1")},
    "InstallCertificate": {"Accepted": ("accepted", "SW §4.2"), "Rejected": ("rejected", "SW §4.2"),
                           "Failed": ("failed", "SW §4.2: installation failed")},
    "DeleteCertificate": {"Accepted": ("accepted", "SW §4.3"), "Failed": ("failed", "SW §4.3: deletion failed"),
                          "NotFound": ("rejected", "SW §4.3: no such certificate")},
    "GetInstalledCertificateIds": {"Accepted": ("accepted", "SW §4.4"),
                                   "NotFound": ("accepted", "SW §4.4: none of that type installed")},
    "GetLog": {"Accepted": ("accepted", "SW §5.1"), "Rejected": ("rejected", "SW §5.1"),
               "AcceptedCanceled": ("accepted", "SW §5.1: an ongoing upload was cancelled")},
    "SignedUpdateFirmware": {"Accepted": ("accepted", "SW §5.3"), "Rejected": ("rejected", "SW §5.3"),
                             "AcceptedCanceled": ("accepted", "SW §5.3: an ongoing update was cancelled"),
                             "InvalidCertificate": ("rejected", "SW §5.3: signing certificate invalid"),
                             "RevokedCertificate": ("rejected", "SW §5.3: signing certificate revoked")},
    "ExtendedTriggerMessage": {"Accepted": ("accepted", "SW §5.5"), "Rejected": ("rejected", "SW §5.5"),
                               "NotImplemented": ("rejected", "SW §5.5")},
}

#: Operations whose ``.conf`` carries no status: answering at all means accepted
#: (GetConfiguration §5.8, GetDiagnostics §5.9, GetLocalListVersion §5.10, UpdateFirmware §5.19).
NO_STATUS = frozenset({"GetConfiguration", "GetDiagnostics", "GetLocalListVersion", "UpdateFirmware"})


def command_outcome(action: str | None, response: dict[str, Any]) -> tuple[Outcome, str | None]:
    """``(outcome, status)`` of a charge point's CALLRESULT ``response`` to ``action``:
    ``status`` is the response's status text (None when it has none). Never raises."""
    status = response.get("status")
    if status is None:
        return "accepted", None
    status_text = str(status)
    table = OUTCOMES.get(action or "")
    if table is not None and status_text in table:
        return table[status_text][0], status_text
    return ("accepted", status_text) if status_text in ("Accepted", "Unlocked") else ("rejected", status_text)
