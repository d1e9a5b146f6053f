"""Reservations of one charge point, as the central system knows them from what it sent
(ReserveNow / CancelReservation and their answers) and what the charge point reported
(StartTransaction, StatusNotification). Pure: no I/O.

Rules (OCPP 1.6 §3.11 Reservation, §5.13 ReserveNow, §5.2 CancelReservation, §6.46):

* a ReserveNow answered ``Accepted`` is a reservation, ``status`` "Accepted"; any other answer
  (Faulted, Occupied, Rejected, Unavailable) is kept with that status and never reserves;
  a ReserveNow with the ``reservationId`` of an existing reservation replaces it (§5.13);
* CancelReservation answered ``Accepted`` → "Cancelled" (``Rejected``: no such reservation
  on the charge point, nothing changes);
* a StartTransaction with the ``reservationId``, or for the reserved idTag or its
  parentIdTag on the reserved connector (any connector when connectorId 0) → "Used", with
  the ``transactionId`` the central system assigned (§3.11);
* an "Accepted" reservation whose ``expiryDate`` is past is "Expired" (evaluated at query
  time against the caller's ``now``);
* ``connectorStatus``: the reserved connector's last reported status (``Reserved`` on the
  map while the charge point holds it; for connectorId 0, "Reserved" when any is).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel

#: Answers to ReserveNow.req that do not reserve (OCPP 1.6 §7.38 ReservationStatus).
NOT_RESERVED = frozenset({"Faulted", "Occupied", "Rejected", "Unavailable"})


class Reservation(BaseModel):
    reservationId: int
    connectorId: int
    idTag: str
    parentIdTag: str | None = None
    expiryDate: AwareDatetime | None = None
    status: str  # Accepted | Faulted | Occupied | Rejected | Unavailable | Cancelled | Used
    transactionId: int | None = None
    requestedAt: AwareDatetime | None = None
    endedAt: AwareDatetime | None = None
    correlationId: str | None = None


def _datetime(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


class Reservations:
    """The fold; ``view(now)`` is what operators see."""

    def __init__(self) -> None:
        self.by_id: dict[int, Reservation] = {}
        self.connector_status: dict[int, str] = {}

    def reserve(self, request: dict[str, Any], answer: str, at: datetime, correlation_id: str | None) -> None:
        """A ReserveNow.req and the status the charge point answered."""
        reservation_id = request.get("reservationId")
        if not isinstance(reservation_id, int):
            return
        expiry = _datetime(request.get("expiryDate"))
        self.by_id[reservation_id] = Reservation(
            reservationId=reservation_id, connectorId=int(request.get("connectorId", 0)),
            idTag=str(request.get("idTag", "")), parentIdTag=request.get("parentIdTag"),
            expiryDate=expiry if expiry is not None and expiry.tzinfo else None, status=answer,
            requestedAt=at, correlationId=correlation_id)

    def cancel(self, reservation_id: Any, answer: str, at: datetime) -> None:
        reservation = self.by_id.get(reservation_id) if isinstance(reservation_id, int) else None
        if answer == "Accepted" and reservation is not None and reservation.status == "Accepted":
            reservation.status, reservation.endedAt = "Cancelled", at

    def transaction_started(self, connector_id: int, id_tag: str, parent_id_tag: str | None,
                            reservation_id: Any, transaction_id: int | None, at: datetime) -> None:
        """A StartTransaction the central system answered: the reservation it uses, if any."""
        for reservation in self.by_id.values():
            if reservation.status != "Accepted" or (reservation.expiryDate is not None and reservation.expiryDate <= at):
                continue
            by_id = reservation_id == reservation.reservationId
            on_connector = reservation.connectorId in (0, connector_id)
            for_tag = id_tag == reservation.idTag or (parent_id_tag is not None and parent_id_tag in (
                reservation.idTag, reservation.parentIdTag))
            if by_id or (on_connector and for_tag):
                reservation.status, reservation.transactionId, reservation.endedAt = "Used", transaction_id, at
                return

    def status_reported(self, connector_id: int, status: str) -> None:
        self.connector_status[connector_id] = status

    def dump(self) -> dict[str, Any]:
        """The fold's state, JSON-native (:meth:`load` inverts it)."""
        return {"reservations": [r.model_dump(mode="json") for r in self.by_id.values()],
                "connectorStatus": {str(c): s for c, s in self.connector_status.items()}}

    @classmethod
    def load(cls, data: dict[str, Any]) -> Reservations:
        state = cls()
        for item in data["reservations"]:
            reservation = Reservation.model_validate(item)
            state.by_id[reservation.reservationId] = reservation
        state.connector_status = {int(c): s for c, s in data["connectorStatus"].items()}
        return state

    def view(self, now: datetime) -> list[dict[str, Any]]:
        """Every reservation, newest first, with ``status`` as of ``now`` and ``active``."""
        out = []
        for reservation in sorted(self.by_id.values(), key=lambda r: r.requestedAt or now, reverse=True):
            data = reservation.model_dump(mode="json")
            if reservation.status == "Accepted" and reservation.expiryDate is not None and reservation.expiryDate <= now:
                data["status"] = "Expired"
            data["active"] = data["status"] == "Accepted"
            data["connectorStatus"] = self._connector_status(reservation.connectorId)
            out.append(data)
        return out

    def _connector_status(self, connector_id: int) -> str | None:
        if connector_id != 0:
            return self.connector_status.get(connector_id)
        if "Reserved" in (s for c, s in self.connector_status.items() if c != 0):
            return "Reserved"
        return self.connector_status.get(0)
