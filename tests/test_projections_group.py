"""Projection workers as Kafka consumer-group members on the real broker: two
workers split the partitions; a third joining and one leaving rebalance with nothing lost and
nothing applied twice. Needs the broker of ``infra/kafka.sh`` (fails, never skips, without it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.adapters.store import open_store
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, SOURCE, EventLog, Position
from chargelog.domain.trace import Trace
from chargelog.projections.base import RowFold
from chargelog.projections.rebuild import rebuild
from chargelog.projections.runner import FoldRunner, ProjectionWorker
from conftest import engine_settings

TIMEOUT_S = 120


class CountingFold(RowFold):
    """Counts the events applied per chargePointId: a lost record undercounts, a record
    applied twice overcounts."""

    name = "counting"

    def apply(self, event: Event) -> None:
        row = self.rows.get(event.chargePointId)
        if row is None:
            self.put(event.chargePointId, {"count": 1})
        else:
            row["count"] += 1
            self.touch(event.chargePointId)


async def until(predicate: Callable[[], bool], runners: Sequence[FoldRunner]) -> None:
    """Wait until ``predicate()`` holds, re-checking after any runner's progress."""
    async with asyncio.timeout(TIMEOUT_S):
        while not predicate():
            seen = [r.progress_count for r in runners]
            waits = [asyncio.create_task(r.wait_until(lambda r=r, s=s: r.progress_count > s))
                     for r, s in zip(runners, seen, strict=True)]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()


def domain_batch(charge_points: Sequence[str], per_cp: int) -> list[Event]:
    events = []
    for cp in charge_points:
        t = Trace(cp)
        for i in range(per_cp):
            events.append(Event(type="station.connected" if i % 2 == 0 else "station.disconnected",
                                chargePointId=cp, occurredAt=t.clock, payload={"chargePointId": cp, "at": t.now()}))
    return events


def kafka_settings(tmp_path: Path) -> Settings:
    return engine_settings("kafka", tmp_path)


async def test_group_members_split_and_rebalance_without_loss_or_duplicates(tmp_path: Path):
    settings = kafka_settings(tmp_path)
    log: EventLog = open_log(settings)
    await log.start()
    store = open_store(settings)
    charge_points = [f"CP{i:03d}" for i in range(40)]
    sent: dict[str, int] = {}

    async def append(per_cp: int) -> None:
        await log.append(DOMAIN, domain_batch(charge_points, per_cp))
        for cp in charge_points:
            sent[cp] = sent.get(cp, 0) + per_cp

    def member() -> FoldRunner:
        return FoldRunner(log, DOMAIN, [CountingFold()], open_store(settings), group_id=f"{settings.topic_prefix}.count")

    async def covered(runners: list[FoldRunner]) -> None:
        latest = await log.latest(DOMAIN)
        await until(lambda: store.positions().get("counting", {}) == dict(latest.offsets), runners)

    a, b, c = member(), member(), member()
    try:
        await append(5)
        await a.start()
        await b.start()
        await covered([a, b])
        await until(lambda: bool(a.owned) and bool(b.owned), [a, b])
        assert a.owned.isdisjoint(b.owned) and a.owned | b.owned == {0, 1, 2, 3}

        await c.start()  # a third joins
        await until(lambda: bool(c.owned), [a, b, c])
        await append(5)
        await covered([a, b, c])

        await a.stop()  # one leaves
        await until(lambda: (b.owned or set()) | (c.owned or set()) == {0, 1, 2, 3}, [b, c])
        await append(5)
        await covered([b, c])

        _, rows = store.load("counting")
        counts = {key: json.loads(value)["count"] for key, _, value in rows}
        assert counts == sent  # nothing lost, nothing applied twice
    finally:
        for runner in (a, b, c):
            await runner.stop()
            if runner.store is not None:
                runner.store.close()
        store.close()
        await log.close()


def sessions(first: int, count: int) -> list[Event]:
    source: list[Event] = []
    for i in range(first, first + count):
        t = Trace(f"CP{i:02d}")
        source += t.opened() + t.status(1, "Available") + t.start(1, "TAG", 0, 1000 + i) + t.energy(1, 1000 + i, 500)
        source += t.stop(1000 + i, 900)
    return source


async def test_workers_join_and_leave_translating_and_projecting(tmp_path: Path):
    """Full workers (translator + projections): two split the partitions, a third joins, the
    first leaves; every source event is translated once and every domain event projected."""
    settings = kafka_settings(tmp_path)
    log: EventLog = open_log(settings)
    await log.start()
    store = open_store(settings)
    workers: list[ProjectionWorker] = []

    async def settled() -> None:
        translators = [w.translator for w in workers]
        projectors = [w.projections for w in workers]
        source_end = await log.latest(SOURCE)

        def translated() -> bool:
            done = {p: r.folds[0].positions.get(p, 0) for r in translators for p in r.owned or ()}
            return all(done.get(p, 0) >= o for p, o in source_end.offsets.items())

        await until(translated, translators)
        domain_end = await log.latest(DOMAIN)
        await until(lambda: all(Position(store.positions().get(n, {})) >= domain_end
                                for n in ("stations", "active_sessions", "session_history")), projectors)

    try:
        await log.append(SOURCE, sessions(0, 8))
        for _ in range(2):
            workers.append(ProjectionWorker(log, settings))
            await workers[-1].start()
        await settled()
        workers.append(ProjectionWorker(log, settings))  # a third joins
        await workers[-1].start()
        await until(lambda: bool(workers[-1].projections.owned), [w.projections for w in workers])
        await log.append(SOURCE, sessions(8, 8))
        await settled()
        leaving = workers.pop(0)  # one leaves
        await leaving.stop()
        await log.append(SOURCE, sessions(16, 8))
        await settled()

        domain = await log.read(DOMAIN)
        assert len({r.event.eventId for r in domain}) == len(domain)  # nothing translated twice
        assert sum(1 for r in domain if r.event.type == "transaction.stopped") == 24
        _, live = store.load("session_history")
        assert len(live) == 24 and all('"status":"stopped"' in value for _, _, value in live)
        await rebuild(log, store, "session_history")
        assert sorted(store.load("session_history")[1]) == sorted(live)  # nothing applied twice
    finally:
        for worker in workers:
            await worker.stop()
        store.close()
        await log.close()
