"""The local authorization list of one charge point as the central system sent it
(SendLocalList) and as the charge point reported its version (GetLocalListVersion). Pure.

Rules (OCPP 1.6 §3.5 Local Authorization List, §5.15 SendLocalList, §5.10
GetLocalListVersion): a SendLocalList answered ``Accepted`` sets ``listVersion``; ``Full``
replaces the entries with ``localAuthorizationList``, ``Differential`` updates them (an
entry without ``idTagInfo`` is removed). Other answers (Failed, NotSupported,
VersionMismatch) change nothing but are kept as ``lastUpdate``. GetLocalListVersion's
answer is ``reportedVersion`` (-1: not supported, 0: no list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class LocalList:
    def __init__(self) -> None:
        self.list_version: int | None = None
        self.entries: dict[str, dict[str, Any] | None] = {}
        self.last_update: dict[str, Any] | None = None
        self.reported: dict[str, Any] | None = None

    def sent(self, request: dict[str, Any], answer: str, at: datetime) -> None:
        self.last_update = {"listVersion": request.get("listVersion"), "updateType": request.get("updateType"),
                            "status": answer, "at": at.isoformat(),
                            "entries": len(request.get("localAuthorizationList") or [])}
        if answer != "Accepted":
            return
        items = [i for i in request.get("localAuthorizationList") or [] if isinstance(i, dict) and "idTag" in i]
        if request.get("updateType") == "Full":
            self.entries = {}
        for item in items:
            if item.get("idTagInfo") is None:
                self.entries.pop(item["idTag"], None)
            else:
                self.entries[item["idTag"]] = item["idTagInfo"]
        self.list_version = request.get("listVersion")

    def version_reported(self, version: Any, at: datetime) -> None:
        self.reported = {"listVersion": version, "at": at.isoformat()}

    def dump(self) -> dict[str, Any]:
        """The fold's state, JSON-native (:meth:`load` inverts it)."""
        return {"listVersion": self.list_version, "entries": self.entries, "lastUpdate": self.last_update,
                "reported": self.reported}

    @classmethod
    def load(cls, data: dict[str, Any]) -> LocalList:
        state = cls()
        state.list_version, state.entries = data["listVersion"], data["entries"]
        state.last_update, state.reported = data["lastUpdate"], data["reported"]
        return state

    def view(self) -> dict[str, Any]:
        return {"listVersion": self.list_version,
                "entries": [{"idTag": tag, "idTagInfo": info} for tag, info in sorted(self.entries.items())],
                "lastUpdate": self.last_update,
                "reportedVersion": self.reported["listVersion"] if self.reported else None,
                "reportedAt": self.reported["at"] if self.reported else None}
