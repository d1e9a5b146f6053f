"""The projection worker on both engines (``log`` fixture): source events in, domain events and
read models out; resume after a stop and after a crash between append and commit without
emitting a domain event twice; duplicate deliveries without effect; rebuild equals live."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from chargelog.adapters.store import open_store
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, SOURCE, EventLog
from chargelog.domain.model import TranslatorState
from chargelog.domain.registry import (
    ChargePointInfo,
    IdTag,
    Registry,
    Site,
    Tariff,
    charge_point_upserted,
    id_tag_upserted,
    site_upserted,
    tariff_upserted,
)
from chargelog.domain.trace import Trace
from chargelog.domain.translate import RegistryDirectory, translate_all
from chargelog.projections.rebuild import fold_named, rebuild
from chargelog.projections.runner import FoldRunner, ProjectionWorker, projection_folds
from chargelog.projections.store import Change

TIMEOUT_S = 60

REGISTRY = [
    site_upserted(Site(siteId="S1", name="Mall", address="Main St 1", latitude=52.5, longitude=13.4)),
    charge_point_upserted(ChargePointInfo(chargePointId="CP1", siteId="S1", name="Left")),
    charge_point_upserted(ChargePointInfo(chargePointId="CP2", siteId="S1", name="Right")),
    tariff_upserted(Tariff(tariffId="default", pricePerKwh=0.4, pricePerMinute=0.0, currency="EUR")),
    id_tag_upserted(IdTag(idTag="TAG1", userId="alice")),
    id_tag_upserted(IdTag(idTag="TAG2", userId="bob")),
]


def session_trace(cp: str, tx: int, tag: str, stop: bool = True) -> list[Event]:
    t = Trace(cp)
    events = t.opened() + t.boot() + t.status(1, "Available") + t.status(2, "Available")
    events += t.start(1, tag, 1000, tx) + t.status(1, "Charging")
    events += t.energy(1, tx, 3000, power_w=7000, soc=50) + t.energy(1, tx, 5000, power_w=7100, soc=60)
    if stop:
        events += t.stop(tx, 6000, reason="Local") + t.status(1, "Available")
    return events


def expected_domain(source: Sequence[Event]) -> list[Event]:
    registry = Registry().apply_all(REGISTRY)
    return translate_all(TranslatorState(), source, RegistryDirectory(lambda: registry))


async def domain_count_reaches(log: EventLog, count: int) -> list[Event]:
    """Every domain event once ``count`` are on the log (subscription, bounded by a timeout)."""
    seen: list[Event] = []
    async with asyncio.timeout(TIMEOUT_S):
        async with contextlib.aclosing(log.subscribe(DOMAIN)) as records:
            async for record in records:
                seen.append(record.event)
                if len(seen) >= count:
                    break
    return seen


async def settle(log: EventLog, worker: ProjectionWorker, count: int) -> list[Event]:
    events = await domain_count_reaches(log, count)
    async with asyncio.timeout(TIMEOUT_S):
        await worker.read_models.wait_for(await log.latest(DOMAIN))
        source_end, profiles = await log.latest(SOURCE), worker.profile_states
        await profiles.wait_until(lambda: source_end <= profiles.folds[0].position)
    return events


@contextlib.asynccontextmanager
async def settled_worker(log: EventLog, settings, expected: Sequence[Event]) -> AsyncIterator[ProjectionWorker]:
    """A started :class:`ProjectionWorker` once its translator appended exactly the domain
    events ``expected`` (compared by eventId) and every projection caught up; stopped on exit."""
    worker = ProjectionWorker(log, settings)
    await worker.start()
    try:
        events = await settle(log, worker, len(expected))
        assert sorted(e.eventId for e in events) == sorted(e.eventId for e in expected)
        yield worker
    finally:
        await worker.stop()


async def test_worker_translates_and_projects(log, settings):
    await log.append(SOURCE, REGISTRY)
    source = session_trace("CP1", 101, "TAG1") + session_trace("CP2", 202, "TAG2", stop=False)
    await log.append(SOURCE, source)
    async with settled_worker(log, settings, expected_domain(source)) as worker:
        rm = worker.read_models
        cp1, cp2 = await rm.station("CP1"), await rm.station("CP2")
        assert cp1.online and cp1.siteId == "S1" and cp1.name == "Left" and cp1.latitude == 52.5
        assert (cp1.status, cp1.availability, cp1.available, cp1.total) == ("Available", "available", 2, 2)
        assert (cp2.status, cp2.availability, cp2.available, cp2.total) == ("Charging", "available", 1, 2)
        assert cp2.connectors[0].transactionId == 202
        [site] = await rm.sites()
        assert (site.available, site.total, site.availability) == (3, 4, "available")
        stopped = await rm.session(101)
        assert stopped.status == "stopped" and stopped.energyWh == 5000 and stopped.userId == "alice"
        assert stopped.cost == 2.0 and stopped.currency == "EUR"
        [active] = await rm.active_sessions("bob")
        assert active.transactionId == 202 and active.energyWh == 4000 and active.soc == 60 and active.powerW == 7100
        assert (await rm.active_session_at("CP2", 1)).transactionId == 202
        assert await rm.active_sessions("alice") == []
        assert [s.transactionId for s in await rm.session_history("alice")] == [101]
        assert set(await rm.positions()) == {"stations", "active_sessions", "session_history"}


async def test_restart_resumes_without_duplicates(log, settings):
    await log.append(SOURCE, REGISTRY)
    first = session_trace("CP1", 1, "TAG1")
    await log.append(SOURCE, first)
    worker = ProjectionWorker(log, settings)
    await worker.start()
    try:
        await settle(log, worker, len(expected_domain(first)))
    finally:
        await worker.stop()
    second = session_trace("CP2", 2, "TAG2")
    await log.append(SOURCE, second)
    expected = expected_domain(first + second)
    worker = ProjectionWorker(log, settings)
    await worker.start()
    try:
        events = await settle(log, worker, len(expected))
        assert len(events) == len(expected) == len({e.eventId for e in events})
        assert (await worker.read_models.session(1)).status == "stopped"  # loaded from the store
        assert (await worker.read_models.session(2)).status == "stopped"
    finally:
        await worker.stop()


class CrashingStore:
    """The real store, failing the next ``fail`` commits after the domain append (a crash
    between append and commit)."""

    def __init__(self, store, fail: int) -> None:
        self.store, self.fail = store, fail

    def __getattr__(self, name):
        return getattr(self.store, name)

    def commit(self, changes: Sequence[Change]) -> None:
        if self.fail and any(c.name == "translator" for c in changes):
            self.fail -= 1
            raise OSError("simulated crash before commit")
        self.store.commit(changes)


async def test_crash_between_append_and_commit_emits_nothing_twice(log, settings):
    await log.append(SOURCE, REGISTRY)
    source = session_trace("CP1", 7, "TAG1")
    await log.append(SOURCE, source)
    expected = expected_domain(source)
    store = CrashingStore(open_store(settings), fail=1)
    worker = ProjectionWorker(log, settings, store=store)  # type: ignore[arg-type]
    await worker.start()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            assert isinstance(await worker.translator.join(), OSError)
    finally:
        await worker.stop()
    async with settled_worker(log, settings, expected):
        assert await log.latest(DOMAIN) == (await log.read(DOMAIN))[-1].position
        assert len(await log.read(DOMAIN)) == len(expected)


async def test_duplicate_delivery_has_no_effect(log, settings):
    source = session_trace("CP1", 5, "TAG1")
    await log.append(SOURCE, source)
    await log.append(DOMAIN, expected_domain(source))
    records = await log.read(DOMAIN)
    store = open_store(settings)
    try:
        runner = FoldRunner(log, DOMAIN, projection_folds(), store)
        await runner.apply_batch(records)
        before = store.positions(), [store.load(f.name) for f in runner.folds]
        snapshot = [f.snapshot() for f in runner.folds]
        await runner.apply_batch(records[3:] + records)  # delivered again
        assert [f.snapshot() for f in runner.folds] == snapshot
        assert (store.positions(), [store.load(f.name) for f in runner.folds]) == before
    finally:
        store.close()


async def test_rebuilt_projection_equals_live(log, settings):
    await log.append(SOURCE, REGISTRY)
    source = session_trace("CP1", 11, "TAG1") + session_trace("CP2", 12, "TAG2", stop=False)
    await log.append(SOURCE, source)
    worker = ProjectionWorker(log, settings)
    await worker.start()
    try:
        await settle(log, worker, len(expected_domain(source)))
    finally:
        await worker.stop()  # between batches: everything applied is committed
    store = open_store(settings)
    try:
        live = {name: store.load(name) for name in ("stations", "active_sessions", "session_history")}
        assert all(rows for _, rows in live.values())
        for name in live:
            count = await rebuild(log, store, name)
            types = fold_named(name).types
            assert count == sum(1 for r in await log.read(DOMAIN) if types is None or r.event.type in types)
            positions, rows = store.load(name)
            assert (positions, sorted(rows)) == (live[name][0], sorted(live[name][1]))
    finally:
        store.close()
