"""Session projections: active sessions (by charge point/connector and by user) and every
user's session history. Rows are keyed by ``str(transactionId)`` and shaped like
``SessionView`` (docs/contracts.md; times ISO 8601 text, energy Wh, power W, duration s).

``transaction.started`` opens a session; ``meter.update`` refreshes its live values (energy,
power, current, voltage, SoC, cost, duration); ``transaction.stopped`` closes it (the active
projection drops it, the history keeps it with status "stopped"). A stop for a session never
started yields a stopped row with what the stop event knows.

Every row passes :class:`~chargelog.projections.views.SessionView` before it is stored (checked
on a copy for ``transaction.*``, by type for ``meter.update``): an event with values the view
refuses raises before the row changes, and the runner quarantines it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from chargelog.domain.envelope import Event

from .base import RowFold
from .views import SessionView

SESSION_TYPES = frozenset({"transaction.started", "meter.update", "transaction.stopped"})
_DATETIME = TypeAdapter(datetime)
_METER_FIELDS = ("energyWh", "powerW", "currentA", "voltageV", "soc", "cost", "currency", "durationS")


def checked_row(event: Event, row: dict[str, Any] | None) -> dict[str, Any] | None:
    """:func:`session_row` on a copy of ``row``, checked against ``SessionView``; raises
    ValueError (pydantic ValidationError) when the result would not be a valid view."""
    if event.type == "meter.update":
        p = event.payload
        for name in _METER_FIELDS:
            value = p.get(name)
            if value is not None and name != "currency" and (isinstance(value, bool)
                                                             or not isinstance(value, int | float)):
                raise ValueError(f"meter.update {name} is not a number: {value!r}")
        if p.get("timestamp") is not None:
            _DATETIME.validate_python(p["timestamp"])
        return session_row(event, dict(row) if row is not None else None)
    new = session_row(event, dict(row) if row is not None else None)
    if new is not None:
        SessionView.model_validate(new)
    return new


def foreign(event: Event, row: dict[str, Any] | None) -> bool:
    """True when ``row`` is a session of another charge point than ``event``'s: a charge
    point's events never touch another's sessions."""
    return row is not None and row.get("chargePointId") != event.chargePointId


def session_row(event: Event, row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The session row after ``event`` (``row`` None = not seen yet); None when the event
    neither opens nor concerns a known session. Mutates and returns ``row`` when given."""
    p = event.payload
    if event.type == "transaction.started":
        if row is not None:
            return row
        return {"transactionId": p["transactionId"], "chargePointId": p["chargePointId"],
                "connectorId": p.get("connectorId"), "idTag": p.get("idTag"), "userId": p.get("userId"),
                "status": "active", "startTime": p.get("startTime"), "stopTime": None,
                "meterStart": p.get("meterStart"), "meterStop": None, "energyWh": 0.0, "powerW": None,
                "currentA": None, "voltageV": None, "soc": None, "cost": None, "currency": None,
                "durationS": None, "reason": None, "correlationId": p.get("correlationId"), "lastMeterAt": None}
    if event.type == "meter.update":
        if row is None or row["status"] != "active":
            return None
        for field in _METER_FIELDS:
            if p.get(field) is not None:
                row[field] = p[field]
        row["lastMeterAt"] = p.get("timestamp")
        return row
    if event.type == "transaction.stopped":
        if row is None:
            row = {"transactionId": p["transactionId"], "chargePointId": p["chargePointId"],
                   "connectorId": p.get("connectorId") or 0, "idTag": None, "userId": p.get("userId"),
                   "startTime": None, "meterStart": None, "energyWh": 0.0, "powerW": None, "currentA": None,
                   "voltageV": None, "soc": None, "correlationId": None, "lastMeterAt": None}
        row.update(status="stopped", stopTime=p.get("stopTime"), meterStop=p.get("meterStop"),
                   reason=p.get("reason"), powerW=None, currentA=None)
        for field in ("energyWh", "cost", "currency", "durationS"):
            if p.get(field) is not None:
                row[field] = p[field]
        row.setdefault("cost", None), row.setdefault("currency", None), row.setdefault("durationS", None)
        if p.get("correlationId"):
            row["correlationId"] = p["correlationId"]
        return row
    return None


class ActiveSessionsProjection(RowFold):
    """Active sessions; indexes ``by_connector`` ((chargePointId, connectorId) → key) and
    ``by_user`` (userId → keys)."""

    name = "active_sessions"
    types = SESSION_TYPES

    def __init__(self) -> None:
        super().__init__()
        self.by_connector: dict[tuple[str, int], str] = {}
        #: every active key per connector, oldest first (a charge point may start a second
        #: transaction on a connector whose first was never stopped, e.g. after a reboot)
        self._slot_keys: dict[tuple[str, int], dict[str, None]] = {}
        self.by_user: dict[str, set[str]] = {}

    def apply(self, event: Event) -> None:
        if event.type not in SESSION_TYPES:
            return
        key = str(event.payload.get("transactionId"))
        row = self.rows.get(key)
        if foreign(event, row):
            return
        if event.type == "transaction.stopped":
            self.delete(key)
            return
        new = checked_row(event, row)
        if new is None:
            return
        if row is None:
            self.put(key, new)
        else:
            row.update(new)  # same session: the indexed fields stay
            self.touch(key)

    def indexed(self, key: str, row: dict[str, Any]) -> None:
        slot = (row["chargePointId"], row["connectorId"])
        self.by_connector[slot] = key
        self._slot_keys.setdefault(slot, {})[key] = None
        if row.get("userId"):
            self.by_user.setdefault(row["userId"], set()).add(key)

    def unindexed(self, key: str, row: dict[str, Any]) -> None:
        slot = (row["chargePointId"], row["connectorId"])
        keys_here = self._slot_keys.get(slot, {})
        keys_here.pop(key, None)
        if self.by_connector.get(slot) == key:
            if keys_here:
                self.by_connector[slot] = next(reversed(keys_here))  # the newest still active
            else:
                del self.by_connector[slot]
        if not keys_here:
            self._slot_keys.pop(slot, None)
        if row.get("userId"):
            keys = self.by_user.get(row["userId"])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_user[row["userId"]]


class SessionHistoryProjection(RowFold):
    """Every session (active and stopped); index ``by_user`` (userId → keys)."""

    name = "session_history"
    types = SESSION_TYPES

    def __init__(self) -> None:
        super().__init__()
        self.by_user: dict[str, set[str]] = {}

    def apply(self, event: Event) -> None:
        if event.type not in SESSION_TYPES:
            return
        key = str(event.payload.get("transactionId"))
        row = self.rows.get(key)
        if foreign(event, row) or (row is not None and row["status"] == "stopped" and event.type != "meter.update"):
            return  # another charge point's session, or a stopped session: final
        new = checked_row(event, row)
        if new is None:
            return
        if row is None:
            self.put(key, new)
        else:
            row.update(new)  # same session: the indexed fields stay
            self.touch(key)

    def indexed(self, key: str, row: dict[str, Any]) -> None:
        if row.get("userId"):
            self.by_user.setdefault(row["userId"], set()).add(key)

    def unindexed(self, key: str, row: dict[str, Any]) -> None:
        keys = self.by_user.get(row.get("userId") or "")
        if keys is not None:
            keys.discard(key)
