"""Charging profiles installed on one charge point, as the central system knows them from
what the charge point accepted, and the composite schedules it reported. Pure: no I/O.

Rules (OCPP 1.6 §3.13 Smart Charging, §5.16 SetChargingProfile, §5.5 ClearChargingProfile,
§5.7 GetCompositeSchedule, §5.11 RemoteStartTransaction):

* SetChargingProfile answered ``Accepted`` installs ``csChargingProfiles`` on ``connectorId``
  (0 = the whole charge point); it replaces a profile with the same ``chargingProfileId``,
  or with the same ``stackLevel`` and ``chargingProfilePurpose`` on that connector (§5.16.2);
* a RemoteStartTransaction with a ``chargingProfile`` (purpose TxProfile) answered
  ``Accepted`` installs it on the requested connector; the next transaction started there
  binds it (``transactionId``);
* a TxProfile ends with its transaction (StopTransaction, §3.13.3);
* ClearChargingProfile answered ``Accepted`` removes the profile with ``id``, else every
  profile matching all of the given ``connectorId``, ``chargingProfilePurpose`` and
  ``stackLevel`` (none given: all); answered ``Unknown`` removes nothing;
* GetCompositeSchedule answers are kept per connectorId as reported (``status``,
  ``scheduleStart``, ``chargingSchedule`` with limits in A or W).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ChargingProfiles:
    """The fold; ``view()`` is what operators see."""

    def __init__(self) -> None:
        self.installed: list[dict[str, Any]] = []  # {connectorId, chargingProfile, installedAt, via}
        self.composite: dict[int, dict[str, Any]] = {}

    def install(self, connector_id: int, profile: Any, at: datetime, via: str) -> None:
        if not isinstance(profile, dict):
            return
        pid, purpose, level = (profile.get("chargingProfileId"), profile.get("chargingProfilePurpose"),
                               profile.get("stackLevel"))
        self.installed = [p for p in self.installed if not (
            p["chargingProfile"].get("chargingProfileId") == pid
            or (p["connectorId"] == connector_id and p["chargingProfile"].get("chargingProfilePurpose") == purpose
                and p["chargingProfile"].get("stackLevel") == level))]
        self.installed.append({"connectorId": connector_id, "chargingProfile": profile,
                               "installedAt": at.isoformat(), "via": via})

    def clear(self, request: dict[str, Any]) -> int:
        """Apply an accepted ClearChargingProfile.req; returns how many profiles it removed."""
        if request.get("id") is not None:
            def matches(p: dict[str, Any]) -> bool:
                return p["chargingProfile"].get("chargingProfileId") == request["id"]
        else:
            def matches(p: dict[str, Any]) -> bool:
                profile = p["chargingProfile"]
                return all((request.get("connectorId") is None or p["connectorId"] == request["connectorId"],
                            request.get("chargingProfilePurpose") is None
                            or profile.get("chargingProfilePurpose") == request["chargingProfilePurpose"],
                            request.get("stackLevel") is None or profile.get("stackLevel") == request["stackLevel"]))
        before = len(self.installed)
        self.installed = [p for p in self.installed if not matches(p)]
        return before - len(self.installed)

    def transaction_started(self, connector_id: int, transaction_id: int | None) -> None:
        """Bind the TxProfile a remote start installed on this connector."""
        for p in self.installed:
            profile = p["chargingProfile"]
            if (p["connectorId"] == connector_id and profile.get("chargingProfilePurpose") == "TxProfile"
                    and profile.get("transactionId") is None and transaction_id is not None):
                p["chargingProfile"] = {**profile, "transactionId": transaction_id}

    def transaction_stopped(self, transaction_id: int) -> None:
        self.installed = [p for p in self.installed if not (
            p["chargingProfile"].get("chargingProfilePurpose") == "TxProfile"
            and p["chargingProfile"].get("transactionId") == transaction_id)]

    def composite_reported(self, request: dict[str, Any], answer: dict[str, Any], at: datetime) -> None:
        connector = request.get("connectorId")
        if isinstance(connector, int):
            self.composite[connector] = {**answer, "duration": request.get("duration"),
                                         "reportedAt": at.isoformat()}

    def dump(self) -> dict[str, Any]:
        """The fold's state, JSON-native (:meth:`load` inverts it)."""
        return {"installed": self.installed, "composite": {str(c): s for c, s in self.composite.items()}}

    @classmethod
    def load(cls, data: dict[str, Any]) -> ChargingProfiles:
        state = cls()
        state.installed = data["installed"]
        state.composite = {int(c): s for c, s in data["composite"].items()}
        return state

    def view(self) -> dict[str, Any]:
        key = (lambda p: (p["connectorId"], str(p["chargingProfile"].get("chargingProfilePurpose")),
                          p["chargingProfile"].get("stackLevel", 0)))
        return {"installed": sorted(self.installed, key=key),
                "compositeSchedules": [self.composite[c] | {"connectorId": c} for c in sorted(self.composite)]}
