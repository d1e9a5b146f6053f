"""Pure formatting for the WebSocket Communication Protocol's push messages
(specs/websocket-communication-protocol.md section 4): domain events and read-model views in,
JSON-ready dicts out, built through the wire models of :mod:`.comms_models` (they rename and
convert the fields; this module computes what no single source field gives). Units (its "Field Descriptions"): energy kWh, power kW, voltage V,
current A, ``meter_value`` Wh (the register), durations and ``time_remaining`` s (integers),
``charge_percentage`` % (integer); timestamps ISO 8601 UTC with whole seconds and ``Z``.
``session_id`` = ``transaction_id`` = the OCPP transactionId; ``station_id`` the charge
point's site (or the chargePointId without one); ``charger_id`` the chargePointId.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from chargelog.domain.availability import IN_USE_STATUSES
from chargelog.projections.views import ChargePointView, SessionView, SiteView

from ..ws.timefmt import iso_s as iso
from ..ws.timefmt import now_s as now_iso
from ..ws.timefmt import parse_time
from . import comms_models as cm

#: OCPP 1.6 ChargePointStatus (§7.7) → the connector occupancy vocabulary the document's
#: ``connector_status_changed`` example uses ("Occupied": OCPP 2.0.1 ConnectorStatusEnumType).
OCCUPANCY = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}

#: ``data.station_status`` per ``status`` (the document's three examples).
STATION_STATUS = {"available": "Available", "in_use": "In Use", "unavailable": "Unavailable"}


def public_user_id(user_id: str) -> int | str:
    """The ``userId`` of ``connected``: a number when the id is all digits (the document's
    example ``"userId": 123``), the string otherwise."""
    return int(user_id) if user_id.isdigit() and len(user_id) < 16 else user_id


def display_duration(seconds: float | None) -> str | None:
    """Human-readable duration as in the document: ``"20 min"`` under an hour, ``"2hr 15min"``
    from an hour on (``"2hr"`` on the hour), ``"< 1 min"`` under a minute; None for None."""
    if seconds is None:
        return None
    total_min = int(max(seconds, 0) // 60)
    if total_min == 0:
        return "< 1 min"
    hours, minutes = divmod(total_min, 60)
    if hours == 0:
        return f"{minutes} min"
    return f"{hours}hr {minutes}min" if minutes else f"{hours}hr"


@dataclass(frozen=True)
class SocSample:
    """The first state-of-charge reading seen for a transaction: ``soc`` %, ``energyWh``
    delivered by then (Wh since start)."""

    soc: float
    energyWh: float


def time_remaining_s(soc: float | None, energy_wh: float, power_w: float | None,
                     first: SocSample | None, target_soc: float = 100.0) -> int | None:
    """Estimated seconds until the battery reaches ``target_soc`` % (default full), at the
    current charging power — what a driver reads as "time remaining".

    The battery's energy per percent is learnt from this session: (energy now − energy at the
    first SoC reading) / (SoC now − first SoC) Wh per %; the energy still needed is that
    × (target − SoC now); divided by the current power (W) it gives hours → seconds.
    0 when SoC ≥ target. None when it cannot be known: no SoC reported, SoC has not risen since
    the first reading, or no positive power.
    """
    if soc is None:
        return None
    if soc >= target_soc:
        return 0
    if first is None or power_w is None or power_w <= 0:
        return None
    d_soc = soc - first.soc
    d_wh = energy_wh - first.energyWh
    if d_soc <= 0 or d_wh <= 0:
        return None
    remaining_wh = d_wh / d_soc * (target_soc - soc)
    return int(round(remaining_wh / power_w * 3600.0))


@dataclass(frozen=True)
class StationInfo:  # field names as on the wire
    """Where a charge point is: ``station_id`` (site id, or the chargePointId without a site),
    ``station_name``, ``station_address``."""

    station_id: str
    station_name: str
    station_address: str | None


def station_info(charge_point: ChargePointView | None, site: SiteView | None,
                 charge_point_id: str) -> StationInfo:
    """The station of a charge point: its site's id, name and address when it has a site,
    else the charge point's own (name falls back to the chargePointId)."""
    if site is not None:
        return StationInfo(site.siteId, site.name or site.siteId,
                           site.address or (charge_point.address if charge_point else None))
    if charge_point is not None:
        return StationInfo(charge_point.siteId or charge_point.chargePointId,
                           charge_point.name or charge_point.chargePointId, charge_point.address)
    return StationInfo(charge_point_id, charge_point_id, None)


# -- session_update -----------------------------------------------------------------------

def _session_update(model: type[Any], payload: Mapping[str, Any], data: Any, at: str | None) -> dict[str, Any]:
    tid = payload.get("transactionId")
    return model(session_id=tid, transaction_id=tid, data=data, timestamp=at or now_iso()).model_dump()


def session_started(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``session_update`` / ``session_started`` from a ``transaction.started`` domain payload
    (document section 3.2 "Example: Session Started"); ``meter_start`` Wh."""
    data = cm.SessionStartedData.of(payload)
    return _session_update(cm.SessionStarted, payload, data, data.start_time)


def meter_value(payload: Mapping[str, Any], *, session: SessionView | None, station: StationInfo,
                first_soc: SocSample | None) -> dict[str, Any]:
    """``session_update`` / ``meter_value`` with every field of the document's "Field
    Descriptions" from a ``meter.update`` domain payload (``energyWh`` since start, ``powerW``,
    ``currentA``, ``voltageV``, ``soc``, ``timestamp``) and the session read model
    (``meterStart`` Wh, ``startTime``, ``cost``/``currency``).

    ``meter_value`` is the register: meterStart + energy (Wh, integer). ``charging_duration``
    is the event's ``durationS`` (meter reading time − startTime, s). ``cost`` /
    ``cost_currency`` are the event's running cost from the tariff (else the session's; None
    when no tariff applies). ``time_remaining`` see :func:`time_remaining_s`.
    """
    energy_wh = float(payload.get("energyWh") or 0.0)
    at = parse_time(payload.get("timestamp"))
    start = session.startTime if session else None
    if payload.get("durationS") is not None:
        duration: int | None = int(round(payload["durationS"]))
    elif at and start:
        duration = int(max((at - start).total_seconds(), 0))
    else:
        duration = int(session.durationS) if session and session.durationS is not None else None
    remaining = time_remaining_s(payload.get("soc"), energy_wh, payload.get("powerW"), first_soc)
    stamp = iso(at) or now_iso()
    data = cm.MeterValueData.of(
        {**payload, **asdict(station), "cost": payload.get("cost") if payload.get("cost") is not None else
         (session.cost if session else None), "currency": payload.get("currency") or (session.currency if session else None)},
        time_remaining=remaining, time_remaining_display=display_duration(remaining), charging_duration=duration,
        charging_duration_display=display_duration(duration), timestamp=stamp,
        meter_value=int(round((session.meterStart if session and session.meterStart else 0) + energy_wh)))
    return _session_update(cm.MeterValue, payload, data, stamp)


def session_stopped(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``session_update`` / ``session_stopped`` from a ``transaction.stopped`` domain payload
    (section 3.2 "Example: Session Stopped"): ``meter_stop`` Wh, ``energy_delivered`` kWh,
    ``duration`` s, ``stop_reason`` the OCPP 1.6 Reason (§7.38) in the document's vocabulary
    (:data:`.comms_models.STOP_REASONS`: ``Remote`` → ``"RemoteStop"``)."""
    data = cm.SessionStoppedData.of(payload)
    return _session_update(cm.SessionStopped, payload, data, data.stop_time)


def session_error(event_type: str, payload: Mapping[str, Any], at: datetime | None) -> dict[str, Any]:
    """``session_update`` / ``session_error`` for a command of the user that did not succeed
    (``command.rejected`` / ``command.failed`` / ``command.timed_out``). ``session_id`` and
    ``transaction_id`` are null when no session exists (a start that never began)."""
    kind = event_type.rsplit(".", 1)[-1]
    data = cm.SessionErrorData.of({**payload, "error": kind, "message": command_failure_message(
        payload.get("action"), kind, payload.get("reason"))})
    return _session_update(cm.SessionError, payload, data, iso(at))


def command_failure_message(action: str | None, kind: str, reason: str | None) -> str:
    """One sentence for a user: what failed and why."""
    what = {"RemoteStartTransaction": "Starting the charging session",
            "RemoteStopTransaction": "Stopping the charging session"}.get(action or "", "The request")
    why = {"rejected": "was refused by the charger", "timed_out": "timed out",
           "failed": "failed"}.get(kind, kind)
    return f"{what} {why}" + (f" ({reason})" if reason else "")


# -- active_session_update --------------------------------------------------------------------

def active_session_data(session: SessionView, station_id: str, now: datetime | None = None) -> cm.ActiveSession:
    """The ``data`` of an ``active_session_update`` (section 4.8): ``energy_delivered`` kWh,
    ``duration`` s since the session started (to ``now``)."""
    now = now or datetime.now(UTC)
    duration = int(max((now - session.startTime).total_seconds(), 0)) if session.startTime else 0
    return cm.ActiveSession.of(session, station_id=station_id, duration=duration)


def active_session_update(data: cm.ActiveSession | None) -> dict[str, Any]:
    """``active_session_update`` with ``has_active_session`` and ``data`` (null without)."""
    return cm.ActiveSessionUpdate(has_active_session=data is not None, data=data).model_dump()


# -- stations ---------------------------------------------------------------------------------

def connector_counts(cp: ChargePointView) -> dict[str, int]:
    """The X/Y counts of the read model (``available``/``total``), with the in-use connectors
    (OCPP 1.6 Preparing, Charging, SuspendedEV/EVSE, Finishing, Reserved) counted when the
    charge point is online and not under maintenance; every other connector is unavailable —
    as the ``charger_status_update`` fields (``available_connectors`` + ``connectors_in_use`` +
    ``connectors_unavailable`` = ``total_connectors`` ≥ 1)."""
    total = cp.total or len(cp.connectors)
    in_use = sum(1 for c in cp.connectors if c.status in IN_USE_STATUSES) if cp.online and not cp.maintenance else 0
    in_use = min(in_use, total - cp.available)
    return {"total_connectors": total, "available_connectors": cp.available, "connectors_in_use": in_use,
            "connectors_unavailable": total - cp.available - in_use}


def display(availability: str, available: int, total: int) -> str | None:
    """The map label: ``"X/Y"`` on a green (available) icon, null on blue and red."""
    return f"{available}/{total}" if availability == "available" else None


def maintenance_reason(cp: ChargePointView) -> str | None:
    """Why a charge point is under maintenance: the first Unavailable/Faulted connector's
    ``info`` or error code, else "Charger unavailable"; None when it is not."""
    if not cp.maintenance:
        return None
    for c in cp.connectors:
        if c.status in ("Unavailable", "Faulted"):
            if c.info:
                return c.info
            if c.errorCode and c.errorCode != "NoError":
                return c.errorCode
    return "Charger unavailable"


def charger_status_update(cp: ChargePointView, station_id: str, at: datetime | str | None = None) -> dict[str, Any]:
    """``charger_status_update`` (sections 3.3 and 4.6) for one charge point: ``status`` is
    available / in_use / unavailable (green / blue / red), ``data.display`` ``"X/Y"`` only when
    available, counts over the charge point's connectors, ``is_under_maintenance`` and, when
    true, ``maintenance_reason``. An offline charge point is ``unavailable`` (not maintenance)."""
    counts = connector_counts(cp)
    stamp = iso(at) if at else now_iso()
    data = cm.ChargerStatusData(
        **counts, display=display(cp.availability, counts["available_connectors"], counts["total_connectors"]),
        connector_status=cp.connectors, station_status=STATION_STATUS.get(cp.availability, "Unavailable"),
        is_under_maintenance=cp.maintenance, maintenance_reason=maintenance_reason(cp), timestamp=stamp)
    return cm.ChargerStatusUpdate.of(cp, station_id=station_id, data=data, timestamp=stamp).model_dump()


def stations_list(sites: Iterable[SiteView], charge_points: Iterable[ChargePointView]) -> list[cm.StationEntry]:
    """Every station of a ``charger_list_update`` (section 4.7): each site with its charge
    points (site-level X/Y from the read model), then each charge point that belongs to no site
    as a station of its own."""
    out = [cm.StationEntry.of(s, station_id=s.siteId, station_name=s.name or s.siteId, location=cm.Location.of(s),
                              chargers=[_charger(cp) for cp in s.chargePoints],
                              display=display(s.availability, s.available, s.total)) for s in sites]
    in_sites = {cp.chargePointId for s in sites for cp in s.chargePoints}
    out.extend(cm.StationEntry.of(cp, station_id=cp.siteId or cp.chargePointId, location=cm.Location.of(cp),
                                  station_name=cp.name or cp.chargePointId, chargers=[_charger(cp)],
                                  display=display(cp.availability, cp.available, cp.total))
               for cp in charge_points if cp.chargePointId not in in_sites)
    return out


def _charger(cp: ChargePointView) -> cm.ChargerSummary:
    return cm.ChargerSummary.of(cp, display=display(cp.availability, cp.available, cp.total))


def charger_list_update(stations: list[cm.StationEntry]) -> dict[str, Any]:
    """``charger_list_update`` (section 4.7) with ``data.chargers`` = the stations."""
    stamp = now_iso()
    return cm.ChargerListUpdate(data=cm.ChargerListData(chargers=stations, timestamp=stamp),
                                timestamp=stamp).model_dump()


# -- charger_update ---------------------------------------------------------------------------

def charger_updates(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``charger_update`` messages (section 3.3 "Charger Events") for one
    ``connector.status.changed`` domain payload, in this order:

    * ``status_changed`` — always: the OCPP 1.6 ChargePointStatus (``status``,
      ``previous_status``, ``connector_id``; connector 0 is the charge point itself);
    * ``connector_status_changed`` — for a connector ≥ 1 whose occupancy changed (Available /
      Occupied / Reserved / Unavailable / Faulted, see :data:`OCCUPANCY`), with ``error_code``
      (null for NoError);
    * ``error`` — when the charge point reports an errorCode other than NoError.
    """
    at = iso(payload.get("timestamp")) or now_iso()
    status, previous = payload.get("status"), payload.get("previousStatus")
    messages = [(cm.StatusChanged, cm.StatusChangedData.of(payload, timestamp=at))]
    new_occ, old_occ = OCCUPANCY.get(status or "", status), OCCUPANCY.get(previous or "", previous)
    if payload.get("connectorId") and new_occ != old_occ:
        messages.append((cm.ConnectorStatusChanged, cm.ConnectorStatusChangedData.of(
            payload, status=new_occ, previous_status=old_occ, timestamp=at)))
    if payload.get("errorCode") not in (None, "NoError"):
        messages.append((cm.ChargerError, cm.ChargerErrorData.of(payload, timestamp=at)))
    return [model(charger_id=payload.get("chargePointId"), data=data, timestamp=at).model_dump()
            for model, data in messages]


def maintenance_mode(cp: ChargePointView, at: datetime | str | None = None) -> dict[str, Any]:
    """``charger_update`` / ``maintenance_mode`` when a charge point enters or leaves
    maintenance (``is_under_maintenance``)."""
    stamp = iso(at) if at else now_iso()
    data = cm.MaintenanceModeData.of(cp, maintenance_reason=maintenance_reason(cp), timestamp=stamp)
    return cm.MaintenanceMode(charger_id=cp.chargePointId, data=data, timestamp=stamp).model_dump()


# -- notification / error ---------------------------------------------------------------------

def notification(title: str, message: str, data: dict[str, Any] | None = None,
                 at: datetime | str | None = None) -> dict[str, Any]:
    """``notification`` (sections 3.1 and 4.3)."""
    return cm.Notification(title=title, message=message, data=data or {},
                           timestamp=(iso(at) if at else None) or now_iso()).model_dump()


def response(action: str, data: dict[str, Any]) -> dict[str, Any]:
    """A test-guide command's answer ``{"type": "response", "action", "data", "timestamp"}``."""
    return cm.Response(action=action, data=data).model_dump()


def error(message: str) -> dict[str, Any]:
    """``error`` (section 4.9): ``{"type": "error", "message", "timestamp"}``."""
    return cm.Error(message=message).model_dump()
