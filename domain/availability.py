"""The charge point / site availability model.

Two vocabularies, both derived from the OCPP 1.6 ChargePointStatus of each connector
(OCPP 1.6 §7.7) and whether the charge point is online:

* communication protocol (specs/websocket-communication-protocol.md, "Charging Station Status
  Model" and "Charger Status Values"): ``available`` (green, shows ``X/Y`` = available / total
  connectors) when at least one connector is Available; ``in_use`` (blue) when none is
  Available and at least one is in use; ``unavailable`` (red) when the station is under
  maintenance or all connectors are unavailable. Offline counts as unavailable (0 available).
* mobile (specs/mobile-websocket-api.md §6.1 "Station Status Values"): ``Offline`` when not
  connected; ``Available`` when all connectors are Available; ``Charging`` when at least one
  connector is charging (Charging, SuspendedEV, SuspendedEVSE) or, with none Available, in
  use; ``PartiallyAvailable`` when some are Available; a connected station with no usable
  connector at all (maintenance) is reported ``Offline``, the only mobile value that says
  "cannot be used" (documented choice, docs/projections.md).

Maintenance: connectorId 0 (the charge point itself) is Unavailable or Faulted, or every
connector is Unavailable/Faulted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

AVAILABLE_STATUSES = frozenset({"Available"})
IN_USE_STATUSES = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"})
CHARGING_STATUSES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
UNAVAILABLE_STATUSES = frozenset({"Unavailable", "Faulted"})


@dataclass(frozen=True)
class StationAvailability:
    """``status`` mobile vocabulary, ``availability`` communication-protocol vocabulary,
    ``available``/``total`` connectors (the ``X/Y``), ``inUse``, ``maintenance``."""

    status: str
    availability: str
    available: int
    total: int
    inUse: int
    maintenance: bool

    @property
    def display(self) -> str | None:
        """``"X/Y"`` when green, else None (no number on blue/red icons)."""
        return f"{self.available}/{self.total}" if self.availability == "available" else None


def station_availability(online: bool, charge_point_status: str | None,
                         connector_statuses: Iterable[str]) -> StationAvailability:
    """The availability of one charge point from its connectorId-0 status
    (``charge_point_status``, None when never reported) and its connectors' (≥ 1) statuses."""
    statuses = list(connector_statuses)
    total = len(statuses)
    available = sum(1 for s in statuses if s in AVAILABLE_STATUSES) if online else 0
    in_use = sum(1 for s in statuses if s in IN_USE_STATUSES) if online else 0
    charging = any(s in CHARGING_STATUSES for s in statuses) if online else False
    maintenance = (charge_point_status in UNAVAILABLE_STATUSES
                   or (total > 0 and all(s in UNAVAILABLE_STATUSES for s in statuses)))
    if maintenance:
        available = in_use = 0
        charging = False
    if not online or maintenance:
        availability = "unavailable"
    elif available:
        availability = "available"
    elif in_use:
        availability = "in_use"
    else:
        availability = "unavailable"
    if not online or availability == "unavailable":
        status = "Offline"
    elif available == total:
        status = "Available"
    elif charging or not available:
        status = "Charging"
    else:
        status = "PartiallyAvailable"
    return StationAvailability(status, availability, available, total, in_use, maintenance)


def combine(parts: Iterable[StationAvailability]) -> StationAvailability:
    """A site's availability from its charge points' (websocket-communication-protocol.md,
    "Station Structure": a station of CP001 + CP002 with 3 of 4 connectors free is green
    ``3/4``). Maintenance only when every charge point is under maintenance."""
    items = list(parts)
    total = sum(p.total for p in items)
    available = sum(p.available for p in items)
    in_use = sum(p.inUse for p in items)
    maintenance = bool(items) and all(p.maintenance for p in items)
    if available:
        availability = "available"
    elif in_use:
        availability = "in_use"
    else:
        availability = "unavailable"
    if availability == "unavailable":
        status = "Offline"
    elif available == total:
        status = "Available"
    elif any(p.status == "Charging" for p in items) or not available:
        status = "Charging"
    else:
        status = "PartiallyAvailable"
    return StationAvailability(status, availability, available, total, in_use, maintenance)
