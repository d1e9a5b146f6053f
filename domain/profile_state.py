"""The state behind the OCPP 1.6 feature profiles for one charge point — reservations,
charging profiles and composite schedules, the local authorization list, firmware /
diagnostics / log jobs, security events and certificates — folded from that charge point's
``source`` events. Pure: no I/O; the read side is
:func:`chargelog.projections.profile_state.profile_state`.

Only what the central system and the charge point agreed on counts (DESIGN.md: a CALL
answered with a CALLERROR derives nothing):

* a central-system operation counts when the charge point's CALLRESULT to it arrives
  (``command.requested`` gives the request; the ``ocpp.frame`` in, messageTypeId 3, with the
  same ``correlationId`` gives the answer; a CALLERROR, a schema-breaking answer or
  ``command.failed`` drops it);
* a charge-point message counts when the central system answered it with a CALLRESULT
  (the ``ocpp.frame`` out, messageTypeId 3, with the CALL's ``messageId``, in the same batch).

Input order: one charge point's events in log order (its partition). Events of other
charge points, and anything malformed, are ignored: the fold is total.

The fold's whole state (including requests and CALLs still awaiting their answer) is
JSON-native through :meth:`ProfileState.dump` / :meth:`ProfileState.load`, so the stored
read model (:mod:`chargelog.projections.profile_state`) keeps it per charge point and goes on
folding from where it stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .charging_profiles import ChargingProfiles
from .envelope import Event
from .jobs import NOTIFICATION_KIND, REQUEST_KIND, Jobs
from .local_list import LocalList
from .reservations import Reservations
from .security_state import SECURITY_REPORTS, SECURITY_REQUESTS, SecurityState

#: The ``source`` event types the fold reads.
TYPES = ("command.requested", "command.failed", "ocpp.frame")
#: Unanswered requests / CALLs remembered (older ones are dropped: they timed out).
_PENDING_MAX = 1024
#: The charge-point CALLs whose answered payload the fold reads (others are not remembered).
REPORTED_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "StatusNotification",
                              *NOTIFICATION_KIND, *SECURITY_REPORTS})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ProfileState:
    """Fold with :meth:`apply`; :meth:`view` is the operators' JSON; :meth:`dump` /
    :meth:`load` its stored form."""

    def __init__(self, charge_point_id: str) -> None:
        self.charge_point_id = charge_point_id
        self.reservations = Reservations()
        self.profiles = ChargingProfiles()
        self.local_list = LocalList()
        self.jobs = Jobs()
        self.security = SecurityState()
        self._requests: dict[str, tuple[str, dict[str, Any]]] = {}
        self._calls: dict[str, dict[str, Any]] = {}

    def apply(self, event: Event) -> bool:
        """Fold ``event``; True when it changed the state (False: not this charge point's,
        or nothing the fold keeps)."""
        if event.chargePointId != self.charge_point_id:
            return False
        p = event.payload
        cid = event.correlationId
        if event.type == "command.requested" and cid and isinstance(p.get("request"), dict):
            self._requests[cid] = (str(p.get("action")), p["request"])
            _bound(self._requests)
            return True
        if event.type == "command.failed" and cid:
            return self._requests.pop(cid, None) is not None
        if event.type == "ocpp.frame":
            return self._frame(p, cid, event.occurredAt)
        return False

    def _frame(self, p: dict[str, Any], cid: str | None, at: datetime) -> bool:
        direction, kind, payload = p.get("direction"), p.get("messageTypeId"), p.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        if direction == "in" and kind == 3 and cid in self._requests:
            action, request = self._requests.pop(cid)  # type: ignore[arg-type]
            if not p.get("schemaError"):
                self._answered(action, request, payload, at, cid)
            return True
        if direction == "in" and kind == 2 and isinstance(p.get("messageId"), str) \
                and p.get("action") in REPORTED_ACTIONS:
            self._calls[p["messageId"]] = p
            _bound(self._calls)
            return True
        if direction == "out" and kind in (3, 4):
            call = self._calls.pop(str(p.get("messageId")), None)
            if call is not None and kind == 3 and isinstance(call.get("payload"), dict):
                self._reported(str(call.get("action")), call["payload"], payload, p.get("decision") or {}, at)
            return call is not None
        return False

    def _answered(self, action: str, request: dict[str, Any], answer: dict[str, Any], at: datetime,
                  cid: str | None) -> None:
        """A central-system operation the charge point answered with ``answer``."""
        status = answer.get("status")
        if action == "ReserveNow":
            self.reservations.reserve(request, str(status), at, cid)
        elif action == "CancelReservation":
            self.reservations.cancel(request.get("reservationId"), str(status), at)
        elif action == "SetChargingProfile" and status == "Accepted":
            self.profiles.install(_int(request.get("connectorId")) or 0, request.get("csChargingProfiles"), at,
                                  action)
        elif action == "RemoteStartTransaction" and status == "Accepted" and "chargingProfile" in request:
            self.profiles.install(_int(request.get("connectorId")) or 0, request["chargingProfile"], at, action)
        elif action == "ClearChargingProfile" and status == "Accepted":
            self.profiles.clear(request)
        elif action == "GetCompositeSchedule":
            self.profiles.composite_reported(request, answer, at)
        elif action == "SendLocalList":
            self.local_list.sent(request, str(status), at)
        elif action == "GetLocalListVersion":
            self.local_list.version_reported(answer.get("listVersion"), at)
        elif action in REQUEST_KIND:
            self.jobs.requested(action, request, answer, at, cid)
        elif action in SECURITY_REQUESTS:
            self.security.answered(action, request, answer, at)
        elif action == "ChangeConfiguration" and request.get("key") == "SecurityProfile" and status == "Accepted":
            self.security.profile_changed(request.get("value"), at)

    def _reported(self, action: str, payload: dict[str, Any], answer: dict[str, Any], decision: dict[str, Any],
                  at: datetime) -> None:
        """A charge-point message the central system answered with ``answer``."""
        if action == "StartTransaction":
            connector = _int(payload.get("connectorId")) or 0
            transaction_id = _int(decision.get("transactionId")) or _int(answer.get("transactionId"))
            info = answer.get("idTagInfo") if isinstance(answer.get("idTagInfo"), dict) else {}
            self.reservations.transaction_started(connector, str(payload.get("idTag")), info.get("parentIdTag"),
                                                  payload.get("reservationId"), transaction_id, at)
            self.profiles.transaction_started(connector, transaction_id)
        elif action == "StopTransaction" and _int(payload.get("transactionId")) is not None:
            self.profiles.transaction_stopped(payload["transactionId"])
        elif action == "StatusNotification" and _int(payload.get("connectorId")) is not None:
            self.reservations.status_reported(payload["connectorId"], str(payload.get("status")))
        elif action in NOTIFICATION_KIND:
            self.jobs.reported(action, payload, at)
        elif action in SECURITY_REPORTS:
            self.security.reported(action, payload, answer, decision, at)

    def dump(self) -> dict[str, Any]:
        """The whole state, JSON-native: ``{chargePointId, reservations, chargingProfiles,
        localList, jobs, security, requests, calls}`` (the last two: answers still awaited)."""
        return {"chargePointId": self.charge_point_id, "reservations": self.reservations.dump(),
                "chargingProfiles": self.profiles.dump(), "localList": self.local_list.dump(),
                "jobs": self.jobs.dump(), "security": self.security.dump(),
                "requests": {cid: [action, request] for cid, (action, request) in self._requests.items()},
                "calls": self._calls}

    @classmethod
    def load(cls, data: dict[str, Any]) -> ProfileState:
        """Inverse of :meth:`dump`. Raises KeyError / ValueError on another shape."""
        state = cls(data["chargePointId"])
        state.reservations = Reservations.load(data["reservations"])
        state.profiles = ChargingProfiles.load(data["chargingProfiles"])
        state.local_list = LocalList.load(data["localList"])
        state.jobs = Jobs.load(data["jobs"])
        state.security = SecurityState.load(data["security"])
        state._requests = {cid: (action, request) for cid, (action, request) in data["requests"].items()}
        state._calls = data["calls"]
        return state

    def view(self, now: datetime) -> dict[str, Any]:
        """``{chargePointId, reservations, chargingProfiles, localList, jobs, security}``;
        reservation statuses as of ``now`` (aware)."""
        return {"chargePointId": self.charge_point_id, "reservations": self.reservations.view(now),
                "chargingProfiles": self.profiles.view(), "localList": self.local_list.view(),
                "jobs": self.jobs.view(), "security": self.security.view()}


def _bound(pending: dict[str, Any]) -> None:
    while len(pending) > _PENDING_MAX:
        pending.pop(next(iter(pending)))
