"""The projections and their query side, folded directly from translated traces (no log):
station map joined with the registry, sessions by user/connector, history order and paging,
wait_for, and a property test: any interleaving of frames leaves the read models consistent."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_domain_properties import op, source_events

from chargelog.domain.log import Position, Record
from chargelog.domain.model import TranslatorState
from chargelog.domain.registry import ChargePointInfo, IdTag, Registry, Site, Tariff
from chargelog.domain.trace import Trace
from chargelog.domain.translate import RegistryDirectory, translate_all
from chargelog.projections.query import ProjectionReadModels
from chargelog.projections.runner import projection_folds

REGISTRY = Registry(
    sites={"S1": Site(siteId="S1", name="Mall", latitude=1.0, longitude=2.0, chargePointIds=("CP1", "CP2", "CP9"))},
    charge_points={"CP2": ChargePointInfo(chargePointId="CP2", maintenance=True),
                   "CP9": ChargePointInfo(chargePointId="CP9", name="Never seen", connectors=2)},
    id_tags={"T1": IdTag(idTag="T1", userId="alice")},
    tariffs={"default": Tariff(tariffId="default", pricePerKwh=0.5)},
)


def read_models(*traces):
    events = translate_all(TranslatorState(), [e for t in traces for e in t], RegistryDirectory(lambda: REGISTRY))
    folds = projection_folds()
    rm = ProjectionReadModels(*folds, registry=lambda: REGISTRY)
    for offset, event in enumerate(events):
        record = Record(event, 0, offset, Position({0: offset + 1}))
        for fold in folds:
            fold.offer(record)
    return rm, len(events)


def cp_trace(cp: str, sessions: list[tuple[int, int]]) -> list:
    t = Trace(cp)
    out = t.opened() + t.status(1, "Available") + t.status(2, "Available")
    for tx, stop in sessions:
        out += t.start(1, "T1", 0, tx) + t.status(1, "Charging") + t.energy(1, tx, 2000, power_w=11000)
        if stop:
            out += t.stop(tx, stop) + t.status(1, "Available")
    return out


async def test_station_map_joins_registry_and_lists_registered_charge_points():
    rm, _ = read_models(cp_trace("CP1", [(1, 0)]), cp_trace("CP2", []))
    stations = await rm.stations()
    assert [s.chargePointId for s in stations] == ["CP1", "CP2", "CP9"]
    cp1, cp2, cp9 = stations
    assert (cp1.status, cp1.availability, cp1.available, cp1.total) == ("Charging", "available", 1, 2)
    assert [c.transactionId for c in cp1.connectors] == [1, None]
    assert cp2.maintenance and cp2.availability == "unavailable" and cp2.available == 0  # operator flag
    assert not cp9.online and cp9.status == "Offline" and cp9.name == "Never seen"
    assert (cp9.available, cp9.total) == (0, 2)  # registered connector count
    [site] = await rm.sites()
    assert (site.siteId, site.available, site.total, site.availability) == ("S1", 1, 6, "available")  # Y counts every connector
    assert await rm.station("nope") is None
    assert await rm.stations() is stations and stations[0] is cp1  # the same version: the same list and views
    t = Trace("CP2")
    for offset, event in enumerate(translate_all(TranslatorState(), t.opened() + t.status(1, "Faulted"),
                                                 RegistryDirectory(lambda: REGISTRY)), start=10_000):
        for fold in (rm.stations_projection,):
            fold.offer(Record(event, 0, offset, Position({0: offset + 1})))
    changed = await rm.stations()
    assert changed is not stations and changed[0] is cp1 and changed[1] is not cp2  # a new list; unchanged views kept
    assert [s.chargePointId for s in stations] == ["CP1", "CP2", "CP9"] and stations[1] is cp2  # the old one as it was


async def test_sessions_by_user_connector_and_history_paging():
    rm, _ = read_models(cp_trace("CP1", [(1, 1000), (2, 3000), (3, 0)]))
    assert [s.transactionId for s in await rm.active_sessions("alice")] == [3]
    assert (await rm.active_session_at("CP1", 1)).transactionId == 3
    assert await rm.active_session_at("CP1", 2) is None
    history = await rm.session_history("alice")
    assert [s.transactionId for s in history] == [3, 2, 1]  # newest first
    assert [s.transactionId for s in await rm.session_history("alice", limit=1, offset=1)] == [2]
    stopped = await rm.session(2)
    assert stopped.status == "stopped" and stopped.energyWh == 3000 and stopped.cost == 1.5
    assert (await rm.session(3)).powerW == 11000


async def test_wait_for_returns_once_folded():
    rm, count = read_models(cp_trace("CP1", []))
    async with asyncio.timeout(5):
        await rm.wait_for(Position({0: count}))
    waiter = asyncio.create_task(rm.wait_for(Position({0: count + 1})))
    await asyncio.sleep(0)
    assert not waiter.done()
    waiter.cancel()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=40))
def test_read_models_stay_consistent_for_any_interleaving(ops):
    rm, _ = read_models(source_events(ops))
    active, history, stations = rm.active, rm.history, rm.stations_projection
    for key, row in active.rows.items():
        assert row["status"] == "active"
        assert history.rows[key]["status"] == "active"  # never active in one and stopped in the other
        assert active.by_connector[(row["chargePointId"], row["connectorId"])] in active.rows
    for key, row in history.rows.items():
        if row["status"] == "stopped":
            assert key not in active.rows
            assert row["energyWh"] is None or row["energyWh"] >= 0
    for row in stations.rows.values():
        assert 0 <= row["available"] <= row["total"]
        open_tx = {c["transactionId"] for c in row["connectors"].values() if c["transactionId"] is not None}
        assert open_tx <= {int(k) for k in active.rows}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=30), st.data())
def test_redelivery_in_any_batching_has_no_effect(ops, data):
    """Records delivered again (a consumer rewinding to any earlier offset) leave every
    projection exactly as one clean pass does."""
    events = translate_all(TranslatorState(), source_events(ops))
    records = [Record(e, 0, i, Position({0: i + 1})) for i, e in enumerate(events)]
    clean, replayed = projection_folds(), projection_folds()
    for record in records:
        for fold in clean:
            fold.offer(record)
    delivered, i = [], 0
    while i < len(records):
        step = data.draw(st.integers(1, 5))
        delivered += records[i:i + step]
        i += step
        if i < len(records) and data.draw(st.booleans()):
            i = data.draw(st.integers(0, i))  # rewind: redeliver from an earlier offset
    for record in delivered:
        for fold in replayed:
            fold.offer(record)
    assert [f.snapshot() for f in replayed] == [f.snapshot() for f in clean]
