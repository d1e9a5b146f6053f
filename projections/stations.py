"""The station map projection: one row per charge point (online/offline, lastActivity, both
status vocabularies, ``X/Y``, maintenance, connectors with their status and transaction).

Row shape (JSON-native; times are ISO 8601 text)::

    {"chargePointId", "online", "lastActivity", "status", "availability", "available",
     "total", "maintenance", "chargePointStatus" (connectorId 0), "vendor", "model",
     "firmwareVersion" (of the last Accepted BootNotification; absent before one),
     "connectors": {"1": {"connectorId", "status", "errorCode", "info", "updatedAt",
                          "transactionId"}, …}}

Every connector a row holds passes :class:`~chargelog.projections.views.ConnectorView` (an
event whose values it refuses raises before the row changes: the runner quarantines it).
Sites, names and locations are not folded here: they come from the registry at query time
(:mod:`chargelog.projections.query`).
"""

from __future__ import annotations

from typing import Any

from chargelog.domain.envelope import Event

from .base import RowFold
from .views import ConnectorView

STATION_TYPES = frozenset({
    "station.connected", "station.disconnected", "connector.status.changed", "station.status.changed",
    "station.last_seen", "transaction.started", "transaction.stopped", "meter.update", "station.booted",
})


def new_station(charge_point_id: str) -> dict[str, Any]:
    return {"chargePointId": charge_point_id, "online": False, "lastActivity": None, "status": "Offline",
            "availability": "unavailable", "available": 0, "total": 0, "maintenance": False,
            "chargePointStatus": None, "connectors": {}}


class StationsProjection(RowFold):
    """Station map rows by chargePointId (docs/contracts.md ``ChargePointView``)."""

    name = "stations"
    types = STATION_TYPES

    def apply(self, event: Event) -> None:
        if event.type not in STATION_TYPES:
            return
        key = event.chargePointId
        p = event.payload
        if event.type == "connector.status.changed" and p.get("connectorId") != 0:
            # a domain event written before the fold checked its fields may hold values the
            # view refuses: raise before changing anything (the runner quarantines it)
            ConnectorView.model_validate({"connectorId": p.get("connectorId"), "status": p.get("status"),
                                          "errorCode": p.get("errorCode"), "info": p.get("info"),
                                          "updatedAt": p.get("timestamp")})
        row = self.rows.get(key)
        if row is None:
            row = new_station(key)
            self.put(key, row)
        row["lastActivity"] = event.occurredAt.isoformat()
        match event.type:
            case "station.connected":
                row["online"] = True
            case "station.disconnected":
                row["online"] = False
            case "station.booted":
                row.update({k: p.get(k) for k in ("vendor", "model", "firmwareVersion")})
            case "station.status.changed":
                for field in ("status", "availability", "available", "total", "maintenance"):
                    if field in p:
                        row[field] = p[field]
            case "connector.status.changed":
                connector_id = p.get("connectorId")
                if connector_id == 0:
                    row["chargePointStatus"] = p.get("status")
                elif isinstance(connector_id, int):
                    connector = self._connector(row, connector_id)
                    connector.update(status=p.get("status"), errorCode=p.get("errorCode"), info=p.get("info"),
                                     updatedAt=p.get("timestamp"))
            case "transaction.started":
                if isinstance(p.get("connectorId"), int):
                    self._connector(row, p["connectorId"])["transactionId"] = p.get("transactionId")
            case "transaction.stopped":
                for connector in row["connectors"].values():
                    if connector.get("transactionId") == p.get("transactionId"):
                        connector["transactionId"] = None
        self.touch(key)

    def save(self, event: Event) -> dict[str, Any] | None:
        """A copy of the charge point's row (two levels: it is small) to undo a failed apply."""
        row = self.rows.get(event.chargePointId)
        if row is None:
            return None
        return {**row, "connectors": {k: dict(v) for k, v in row["connectors"].items()}}

    def restore(self, event: Event, saved: dict[str, Any] | None) -> None:
        if saved is None:
            self.delete(event.chargePointId)
        else:
            row = self.rows[event.chargePointId]
            row.clear()
            row.update(saved)

    @staticmethod
    def _connector(row: dict[str, Any], connector_id: int) -> dict[str, Any]:
        connectors = row["connectors"]
        key = str(connector_id)
        if key not in connectors:
            connectors[key] = {"connectorId": connector_id, "status": "Unknown", "errorCode": None, "info": None,
                               "updatedAt": None, "transactionId": None}
        return connectors[key]
