"""The in-memory query side: :class:`ProjectionReadModels` implements
:class:`~chargelog.projections.views.ReadModels` over the three projections' rows, joined at
query time with the registry (sites, names, locations, operator maintenance flag, and the
registered connector count, which raises ``total`` when not every connector reported yet).

Views are built once per row version and cached, so ``stations()`` over 10,000 charge points
costs a list copy when nothing changed. Registry joins (specs/websocket-communication-protocol.md
"Station structure"): a site groups charge points; an operator ``maintenance`` flag on the
charge point makes it red (``unavailable``) with 0 available, mobile status ``Offline``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from chargelog.domain.availability import StationAvailability, combine
from chargelog.domain.log import DOMAIN, Position
from chargelog.domain.registry import Registry
from chargelog.domain.ocpp_checks import parse_time

from .health import quarantine_summary
from .sessions import ActiveSessionsProjection, SessionHistoryProjection
from .stations import StationsProjection, new_station
from .views import ChargePointView, ConnectorView, SessionView, SiteView

_EMPTY_REGISTRY = Registry()


class ProjectionReadModels:
    """ReadModels over live projection objects. The runner calls :meth:`notify` after each
    applied batch; :meth:`wait_for` waits on it."""

    def __init__(self, stations: StationsProjection, active: ActiveSessionsProjection,
                 history: SessionHistoryProjection, registry: Callable[[], Registry] | None = None) -> None:
        self.stations_projection = stations
        self.active = active
        self.history = history
        self.registry = registry or (lambda: _EMPTY_REGISTRY)
        self._changed = asyncio.Condition()
        self._views: dict[str, ChargePointView] = {}
        self._list: list[ChargePointView] = []
        self._index: dict[str, int] = {}
        self._session_cache: dict[str, tuple[int, SessionView]] = {}
        self._registry_seen: Registry | None = None
        #: Folds whose quarantine :meth:`quarantined` reports besides these three (the
        #: translator, or a worker's own projections when these read models follow the log).
        self.quarantine_sources: list[Any] = []

    # -- change notification ---------------------------------------------------------------

    async def notify(self) -> None:
        """Wake :meth:`wait_for` callers (the runner calls it after each batch)."""
        async with self._changed:
            self._changed.notify_all()

    def _folds(self) -> tuple[StationsProjection, ActiveSessionsProjection, SessionHistoryProjection]:
        return self.stations_projection, self.active, self.history

    def quarantined(self) -> list[dict[str, Any]]:
        """Records quarantined by these folds and :attr:`quarantine_sources`
        (:func:`chargelog.projections.health.quarantine_summary`)."""
        return quarantine_summary([*self._folds(), *self.quarantine_sources])

    async def positions(self) -> dict[str, Position]:
        return {fold.name: fold.position for fold in self._folds()}

    def reached(self, position: Position) -> bool:
        """True when every projection has folded ``position``."""
        return all(position <= fold.position for fold in self._folds())

    async def wait_for(self, position: Position, stream: str = DOMAIN) -> None:
        """Return once every projection has folded the ``domain`` stream to ``position``.
        Raises ValueError for another stream. Callers bound it with ``asyncio.timeout``."""
        if stream != DOMAIN:
            raise ValueError(f"read models fold the {DOMAIN!r} stream, not {stream!r}")
        async with self._changed:
            await self._changed.wait_for(lambda: self.reached(position))

    # -- stations --------------------------------------------------------------------------

    def _refresh(self) -> Registry:
        """Bring the view cache up to date: rebuild only the charge points whose rows changed
        since the last query (all of them when the registry changed)."""
        registry = self.registry()
        fold = self.stations_projection
        if registry is not self._registry_seen:
            self._registry_seen = registry
            fold.take_touched()
            ids = sorted(set(fold.rows) | set(registry.charge_points))
            self._views = {cp: self._build_view(cp, registry) for cp in ids}
            self._list = [self._views[cp] for cp in ids]
            self._index = {cp: i for i, cp in enumerate(ids)}
            return registry
        touched = fold.take_touched()
        if not touched:
            return registry
        reorder = False
        changed = list(self._list)  # a new list: the one handed out stays as it was
        for cp in touched:
            if cp not in fold.rows and registry.charge_point(cp) is None:
                reorder = reorder or self._views.pop(cp, None) is not None
                continue
            view = self._views[cp] = self._build_view(cp, registry)
            if cp in self._index:
                changed[self._index[cp]] = view
            else:
                reorder = True
        self._list = changed
        if reorder:
            ids = sorted(self._views)
            self._list = [self._views[cp] for cp in ids]
            self._index = {cp: i for i, cp in enumerate(ids)}
        return registry

    def _build_view(self, charge_point_id: str, registry: Registry) -> ChargePointView:
        row = self.stations_projection.rows.get(charge_point_id) or new_station(charge_point_id)
        info = registry.charge_point(charge_point_id)
        site = registry.site_of(charge_point_id)
        values: dict[str, Any] = {k: row[k] for k in ("chargePointId", "online", "lastActivity", "status",
                                                      "availability", "available", "total", "maintenance")}
        values.update({k: row.get(k) for k in ("vendor", "model", "firmwareVersion")})  # BootNotification
        if info is not None and info.connectors:
            values["total"] = max(values["total"], info.connectors)  # Y counts unreported connectors too
        if info is not None and info.maintenance:
            values.update(maintenance=True, availability="unavailable", available=0, status="Offline")
        connectors = [ConnectorView.model_validate(c) for _, c in
                      sorted(row["connectors"].items(), key=lambda item: int(item[0]))]
        return ChargePointView(
            **values, connectors=connectors, siteId=site.siteId if site else (info.siteId if info else None),
            name=(info.name if info and info.name else charge_point_id),
            latitude=site.latitude if site else None, longitude=site.longitude if site else None,
            address=site.address if site else None,
        )

    async def stations(self) -> list[ChargePointView]:
        """Every known charge point, ordered by chargePointId: the same list object while no
        view changed (a new one after a change; never modified once handed out — callers
        must not modify it either), so a map version is recognised by identity."""
        self._refresh()
        return self._list

    async def station(self, charge_point_id: str) -> ChargePointView | None:
        self._refresh()
        return self._views.get(charge_point_id)

    async def sites(self) -> list[SiteView]:
        registry = self._refresh()
        result = []
        for site_id in sorted(registry.sites):
            site = registry.sites[site_id]
            cps = [self._views[cp] for cp in registry.charge_points_at(site_id) if cp in self._views]
            total = combine(StationAvailability(cp.status, cp.availability, cp.available, cp.total,
                                                0 if cp.availability == "unavailable" else cp.total - cp.available,
                                                cp.maintenance) for cp in cps)
            result.append(SiteView(siteId=site_id, name=site.name or site_id, address=site.address,
                                   latitude=site.latitude, longitude=site.longitude, chargePoints=cps,
                                   availability=total.availability, available=total.available, total=total.total))
        return result

    # -- sessions --------------------------------------------------------------------------

    def _session_view(self, fold: ActiveSessionsProjection | SessionHistoryProjection, key: str) -> SessionView:
        version = fold.version.get(key, 0)
        cache_key = f"{fold.name}:{key}"
        cached = self._session_cache.get(cache_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        view = SessionView.model_validate(fold.rows[key])
        if len(self._session_cache) > 2 * (len(self.active.rows) + len(self.history.rows)) + 1000:
            self._session_cache.clear()  # drop views of sessions gone from the rows
        self._session_cache[cache_key] = (version, view)
        return view

    async def session(self, transaction_id: int) -> SessionView | None:
        key = str(transaction_id)
        for fold in (self.active, self.history):
            if key in fold.rows:
                return self._session_view(fold, key)
        return None

    async def active_sessions(self, user_id: str | None = None) -> list[SessionView]:
        keys = self.active.rows if user_id is None else self.active.by_user.get(user_id, ())
        views = [self._session_view(self.active, k) for k in keys]
        return sorted(views, key=lambda v: v.transactionId)

    async def active_session_at(self, charge_point_id: str, connector_id: int) -> SessionView | None:
        key = self.active.by_connector.get((charge_point_id, connector_id))
        return self._session_view(self.active, key) if key is not None else None

    async def session_history(self, user_id: str, limit: int = 50, offset: int = 0) -> list[SessionView]:
        keys = self.history.by_user.get(user_id, set())
        rows = self.history.rows

        def newest_first(key: str) -> tuple[float, int]:
            row = rows[key]
            at = parse_time(row.get("startTime") or row.get("stopTime"))
            return (at.timestamp() if at else 0.0, row["transactionId"])

        ordered = sorted(keys, key=newest_first, reverse=True)[offset: offset + limit]
        return [self._session_view(self.history, k) for k in ordered]
