"""A subscriber of the client API's domain hub that starts behind the live tail gets every
record after its position exactly once and in log order, whether the hub still holds that
stretch in memory (a recent snapshot's position) or the subscriber has to read the log (an
older position). Both engines, real logs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from chargelog.adapters.api.hub import DomainHub, follow
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, Position, Record

#: Records the hub under test keeps in memory (small, so the tests outrun it).
RECENT = 5


def meter_update(n: int) -> Event:
    return Event(type="meter.update", chargePointId=f"CP{n % 3}", payload={"n": n})


async def take(records: AsyncIterator[Record], count: int) -> list[Record]:
    taken = []
    async for record in records:
        taken.append(record)
        if len(taken) == count:
            break
    return taken


async def published(hub: DomainHub, after: Position, count: int) -> None:
    """Return once the hub has published the ``count`` records after ``after``: the last
    of them reaches a subscriber either from the hub or below the position it registered at."""
    async with contextlib.aclosing(follow(hub, after, lambda _: True)) as records:
        await take(records, count)


def in_order(records: list[Record]) -> bool:
    """Each charge point's records (one partition each) in the order they were appended."""
    by_cp: dict[str, list[int]] = {}
    for r in records:
        by_cp.setdefault(r.event.chargePointId, []).append(r.event.payload["n"])
    return all(ns == sorted(ns) for ns in by_cp.values())


async def test_catch_up_from_the_hub_memory_or_the_log_is_complete_and_in_order(log):
    hub = DomainHub(log, recent_size=RECENT)
    await hub.start()
    try:
        start = hub.position
        cuts = []  # the position just past events 0..k, for each k
        for n in range(12):  # one append each, in turn
            (just_past,) = await log.append(DOMAIN, [meter_update(n)])
            cuts.append((cuts[-1] if cuts else start).merged(just_past))
        await published(hub, start, 12)
        # after event k: 0 and 5 are too old for the hub's memory of 5 (read from the log),
        # 6 and 10 are in it
        for k in (0, 5, 6, 10):
            async with contextlib.aclosing(follow(hub, cuts[k], lambda _: True)) as subscriber:
                got = await take(subscriber, 11 - k)
            assert sorted(r.event.payload["n"] for r in got) == list(range(k + 1, 12))
            assert in_order(got)
            assert got[-1].position == hub.position  # the resume token reaches the live end
    finally:
        await hub.stop()


async def test_catch_up_keeps_only_what_the_subscriber_accepts(log):
    hub = DomainHub(log, recent_size=RECENT)
    await hub.start()
    try:
        start = hub.position
        await log.append(DOMAIN, [meter_update(n) for n in range(4)])
        await published(hub, start, 4)
        async with contextlib.aclosing(follow(hub, start, lambda e: e.chargePointId == "CP1")) as subscriber:
            got = await take(subscriber, 1)
        assert [r.event.payload["n"] for r in got] == [1]
    finally:
        await hub.stop()
