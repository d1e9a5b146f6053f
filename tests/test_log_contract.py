"""The log port's contract (domain/log.py), one suite run against
both engines through the ``log``/``settings`` fixtures: the embedded SQLite engine and Kafka
on the real broker of ``infra/kafka.sh``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.domain.envelope import Event, UnknownSchemaVersion
from chargelog.domain.log import (
    DOMAIN, SOURCE, START, EventLog, InvalidPosition, LogUnavailable, Position, PositionNotAvailable,
    Record, append_one,
)
from conftest import engine_settings

TIMEOUT_S = 60
CHILD = Path(__file__).with_name("durability_child.py")


def ev(charge_point_id: str, seq: int, type_: str = "test.event") -> Event:
    return Event(type=type_, chargePointId=charge_point_id, payload={"seq": seq})


async def take(records: AsyncIterator[Record], count: int) -> list[Record]:
    """The next ``count`` records of a subscription (fails after TIMEOUT_S)."""
    got: list[Record] = []
    async with asyncio.timeout(TIMEOUT_S):
        async for record in records:
            got.append(record)
            if len(got) == count:
                break
    return got


def ids(records: list[Record]) -> list[str]:
    return [r.event.eventId for r in records]


def where(record: Record) -> tuple[int, int, str]:
    return record.partition, record.offset, record.event.eventId


def own_position(record: Record) -> Position:
    """The position just past ``record`` on its own partition (what ``append`` returned)."""
    return Position({record.partition: record.offset + 1})


async def test_append_one_and_batch_return_positions_in_order(log: EventLog) -> None:
    first = await append_one(log, SOURCE, ev("CP1", 0))
    batch = [ev("CP1", i) for i in range(1, 6)]
    positions = await log.append(SOURCE, batch)
    assert await log.append(SOURCE, []) == []
    assert len(positions) == 5
    chain = [first, *positions]
    assert all(a < b for a, b in zip(chain, chain[1:], strict=False)), [str(p) for p in chain]
    records = await log.read(SOURCE)
    assert [r.event.payload["seq"] for r in records] == list(range(6))
    assert [own_position(r) for r in records] == chain
    assert records[-1].position == await log.latest(SOURCE)
    assert all(r.event.recordedAt >= r.event.occurredAt for r in records)


async def test_order_per_charge_point_with_interleaved_batches(log: EventLog) -> None:
    charge_points = [f"CP{i}" for i in range(6)]
    for seq in range(5):
        await log.append(SOURCE, [ev(cp, seq) for cp in charge_points])
    per_cp: dict[str, list[int]] = {}
    for record in await log.read(SOURCE):
        per_cp.setdefault(record.event.chargePointId, []).append(record.event.payload["seq"])
    assert per_cp == {cp: list(range(5)) for cp in charge_points}
    history = await log.history(SOURCE, "CP3")  # type: ignore[attr-defined]
    assert [e.payload["seq"] for e in history] == list(range(5))


async def test_catch_up_subscription_has_no_gap_and_no_duplicate_under_concurrent_appends(
    log: EventLog,
) -> None:
    await log.append(SOURCE, [ev(f"CP{i % 7}", i) for i in range(50)])
    subscription = log.subscribe(SOURCE)
    first = await take(subscription, 10)  # the subscription is in its replay now

    async def appender(worker: int) -> None:
        for i in range(15):
            await log.append(SOURCE, [ev(f"W{worker}-{i % 3}", i)])

    try:
        appenders = [asyncio.create_task(appender(w)) for w in range(4)]
        rest = await take(subscription, 50 - 10 + 4 * 15)
        await asyncio.gather(*appenders)
    finally:
        await subscription.aclose()
    got = first + rest
    assert len(set(ids(got))) == len(got) == 110
    assert set(ids(got)) == set(ids(await log.read(SOURCE)))
    assert got[-1].position == await log.latest(SOURCE)
    positions = [r.position for r in got]
    assert all(a < b for a, b in zip(positions, positions[1:], strict=False))
    per_cp: dict[str, list[int]] = {}
    for record in got:
        per_cp.setdefault(record.event.chargePointId, []).append(record.event.payload["seq"])
    assert all(seqs == sorted(seqs) for seqs in per_cp.values())


async def test_live_readers_of_one_process_share_one_decoded_event(log: EventLog) -> None:
    """Records appended while two subscriptions follow the stream reach both as the same
    decoded event object (decoded once per process, docs/log-engines.md), equal to what a
    read returns."""
    await append_one(log, SOURCE, ev("CP0", -1))
    readers = [log.subscribe(SOURCE) for _ in range(2)]
    try:
        for reader in readers:
            await take(reader, 1)  # both are live now
        await log.append(SOURCE, [ev(f"CP{i % 3}", i) for i in range(30)])
        first, second = [await take(reader, 30) for reader in readers]
    finally:
        for reader in readers:
            await reader.aclose()
    by_place = {where(r): r.event for r in second}  # partitions may interleave differently
    assert sorted(by_place) == sorted(where(r) for r in first)
    assert all(by_place[where(r)] is r.event for r in first)
    read = {r.event.eventId: r.event for r in await log.read(SOURCE)}
    assert all(read[r.event.eventId] == r.event for r in first)


async def test_resume_from_a_mid_position(log: EventLog) -> None:
    await log.append(SOURCE, [ev(f"CP{i % 3}", i) for i in range(12)])
    records = await log.read(SOURCE)
    mid = Position.parse(str(records[4].position))  # as a client would send it back
    remaining = [r for r in records if not mid.covers(r)]
    assert len(remaining) == 12 - 5
    assert set(ids(await log.read(SOURCE, mid))) == set(ids(remaining))
    subscription = log.subscribe(SOURCE, mid)
    try:
        resumed = await take(subscription, len(remaining))
    finally:
        await subscription.aclose()
    assert set(ids(resumed)) == set(ids(remaining))


async def test_read_is_bounded_by_limit_and_until(log: EventLog) -> None:
    await log.append(SOURCE, [ev("CP1", i) for i in range(10)])
    until = await log.latest(SOURCE)
    await log.append(SOURCE, [ev("CP1", i) for i in range(10, 15)])
    page = await log.read(SOURCE, limit=4)
    assert [r.event.payload["seq"] for r in page] == [0, 1, 2, 3]
    rest = await log.read(SOURCE, page[-1].position, until=until)
    assert [r.event.payload["seq"] for r in rest] == list(range(4, 10))
    assert await log.read(SOURCE, until, until=until) == []


async def test_read_filters_by_type_and_charge_point(log: EventLog) -> None:
    await log.append(SOURCE, [ev(f"CP{i % 4}", i, "test.a" if i % 2 else "test.b") for i in range(40)])
    only_a = await log.read(SOURCE, types=["test.a"])  # type: ignore[call-arg]
    assert {r.event.type for r in only_a} == {"test.a"} and len(only_a) == 20
    cp2 = await log.read(SOURCE, charge_point_id="CP2")  # type: ignore[call-arg]
    assert [r.event.payload["seq"] for r in cp2] == list(range(2, 40, 4))
    both = await log.read(SOURCE, types=["test.b"], charge_point_id="CP2", limit=3)  # type: ignore[call-arg]
    assert [r.event.payload["seq"] for r in both] == [2, 6, 10]


async def test_scan_streams_what_read_returns(log: EventLog) -> None:
    await log.append(SOURCE, [ev(f"CP{i % 4}", i, "test.a" if i % 3 else "test.b") for i in range(30)])
    until = await log.latest(SOURCE)
    await log.append(SOURCE, [ev("CP1", i) for i in range(30, 35)])
    for filters in [{}, {"types": ["test.b"]}, {"charge_point_id": "CP1"}, {"types": ["test.a"], "charge_point_id": "CP3"}]:
        scanned = [r async for r in log.scan(SOURCE, until=until, **filters)]  # type: ignore[arg-type]
        read = await log.read(SOURCE, until=until, **filters)  # type: ignore[arg-type]
        # the same records; partitions may interleave differently (each in offset order)
        assert read and sorted(map(where, scanned)) == sorted(map(where, read))
        for partition in {r.partition for r in scanned}:
            offsets = [r.offset for r in scanned if r.partition == partition]
            assert offsets == sorted(offsets)
    everything = [r async for r in log.scan(SOURCE)]
    assert len(everything) == 35 and everything[-1].position == await log.latest(SOURCE)


async def test_scan_raw_gives_the_stored_bytes_of_scan_in_batches(log: EventLog) -> None:
    """The bulk read of verify and export: batches of one partition each, at most ``batch``
    records, never empty; the records, stored bytes and positions of ``scan`` (filters
    included); ``after`` of the last batch reaches ``until`` even when its tail was filtered."""
    await log.append(SOURCE, [ev(f"CP{i % 4}", i, "test.a" if i % 3 else "test.b") for i in range(60)])
    until = await log.latest(SOURCE)
    await log.append(SOURCE, [ev("CP1", i) for i in range(60, 65)])
    for filters in [{}, {"types": ["test.b"]}, {"charge_point_id": "CP1"}, {"types": ["test.a"], "charge_point_id": "CP3"}]:
        scanned = [r async for r in log.scan(SOURCE, until=until, **filters)]  # type: ignore[arg-type]
        batches = [b async for b in log.scan_raw(SOURCE, until=until, batch=4, **filters)]  # type: ignore[arg-type]
        assert batches and all(0 < len(b) <= 4 for b in batches)
        raw = [r for b in batches for r in b.records()]
        events = {(r.partition, r.offset): r.event for r in scanned}
        assert sorted((r.partition, r.offset) for r in raw) == sorted(events)
        for record in raw:
            event = Event.decode(record.value)
            assert event == events[(record.partition, record.offset)]
            assert record.chargePointId == event.chargePointId
        for previous, batch in zip(batches, batches[1:]):
            # filtered-out records between batches (on Kafka, a whole fetch of one partition) still advance
            assert previous.after <= batch.before
            if not filters:
                assert batch.before == previous.after
        for batch in batches:  # each record's resume token, and its text built in bulk
            prefix, suffix = batch.position_text()
            for record in batch.records():
                assert record.position.get(record.partition) == record.offset + 1 and record.position <= until
                assert f"{prefix}{record.offset + 1}{suffix}" == str(record.position)
        assert batches[-1].after <= until
        if not filters:
            assert batches[-1].after == until
    everything = [b async for b in log.scan_raw(SOURCE)]
    assert sum(map(len, everything)) == 65 and everything[-1].after == await log.latest(SOURCE)


async def test_timestamp_reads(log: EventLog) -> None:
    for seq in range(6):
        await log.append(SOURCE, [ev(f"CP{seq % 3}", seq), ev(f"CP{seq % 2}", 100 + seq)])
    records = await log.read(SOURCE)
    stamps = sorted({r.event.recordedAt for r in records})
    before_all = stamps[0].replace(year=stamps[0].year - 1)
    after_all = stamps[-1].replace(year=stamps[-1].year + 1)
    for moment in [before_all, *stamps, after_all]:
        position = await log.position_at(SOURCE, moment)
        assert [position.covers(r) for r in records] == [r.event.recordedAt < moment for r in records]
        later = await log.read(SOURCE, position)
        assert set(ids(later)) == {r.event.eventId for r in records if r.event.recordedAt >= moment}
    assert await log.position_at(SOURCE, after_all) == await log.latest(SOURCE)


async def test_concurrent_appenders_each_get_their_own_position(log: EventLog) -> None:
    async def appender(worker: int) -> list[tuple[str, Position]]:
        out = []
        for i in range(20):
            event = ev(f"CP{worker}", i)
            out.append((event.eventId, await append_one(log, SOURCE, event)))
        return out

    results = [pair for part in await asyncio.gather(*(appender(w) for w in range(8))) for pair in part]
    records = await log.read(SOURCE)
    assert len(records) == 160
    assert {r.event.eventId: own_position(r) for r in records} == dict(results)


async def test_streams_are_separate(log: EventLog) -> None:
    await append_one(log, SOURCE, ev("CP1", 1))
    assert await log.read(DOMAIN) == []
    assert await log.latest(DOMAIN) == START


async def test_txids_stream_is_one_total_order(log: EventLog) -> None:
    """docs/contracts.md: one partition, so a position's offset numbers transactionIds."""
    positions = await log.append("txids", [ev(f"CP{i}", i) for i in range(10)])
    assert positions == [Position({0: n}) for n in range(1, 11)]


async def test_positions_round_trip_as_strings_and_compare(log: EventLog) -> None:
    positions = await log.append(SOURCE, [ev("CP1", i) for i in range(3)])
    latest = await log.latest(SOURCE)
    for position in [*positions, latest, START]:
        assert Position.parse(str(position)) == position
    assert positions[0] < positions[1] < positions[2] <= latest
    assert START <= positions[0] and not positions[0] <= START
    with pytest.raises(InvalidPosition):
        Position.parse("not-a-position")


async def test_position_not_available(log: EventLog) -> None:
    await log.append(SOURCE, [ev("CP1", i) for i in range(3)])
    latest = await log.latest(SOURCE)
    partition = next(iter(latest.offsets))
    beyond = latest.advanced(partition, latest.get(partition) + 5)
    with pytest.raises(PositionNotAvailable):
        await log.read(SOURCE, beyond)
    with pytest.raises(PositionNotAvailable):
        await log.read(SOURCE, Position({99: 1}))
    subscription = log.subscribe(SOURCE, beyond)
    with pytest.raises(PositionNotAvailable):
        await anext(subscription)
    await subscription.aclose()


async def test_unknown_schema_version_is_an_error_naming_its_position(log: EventLog) -> None:
    await append_one(log, SOURCE, ev("CP1", 0))
    position = await append_one(log, SOURCE, Event(type="test.future", chargePointId="CP1", schemaVersion=99))
    with pytest.raises(UnknownSchemaVersion) as caught:
        await log.read(SOURCE)
    assert caught.value.position == str(position)
    assert str(position) in str(caught.value)
    subscription = log.subscribe(SOURCE)
    try:
        with pytest.raises(UnknownSchemaVersion):  # the good event may or may not come first
            async with asyncio.timeout(TIMEOUT_S):
                async for record in subscription:
                    assert record.event.payload == {"seq": 0}
    finally:
        await subscription.aclose()


async def test_acknowledged_event_survives_sigkill(settings: Settings) -> None:
    """A child appends, prints "acked <position>" once append returned and is SIGKILLed at
    once; the event is in the log when it is reopened (DESIGN.md: acknowledge after durable)."""
    event_id = str(uuid.uuid4())
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), settings.log, str(settings.data_dir), settings.topic_prefix,
        str(settings.partitions), event_id, stdout=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(child.stdout.readline(), TIMEOUT_S)  # type: ignore[union-attr]
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert line.startswith(b"acked "), line
    acked = Position.parse(line.split()[1].decode())
    reopened = open_log(settings)
    await reopened.start()
    try:
        records = await reopened.read(SOURCE)
    finally:
        await reopened.close()
    assert [(r.event.eventId, own_position(r)) for r in records] == [(event_id, acked)]


async def test_group_subscribe_starts_at_the_workers_positions(log: EventLog) -> None:
    await log.append(SOURCE, [ev(f"CP{i % 5}", i) for i in range(20)])
    records = await log.read(SOURCE)
    stored = records[9].position  # the worker's read model is at this position
    asked: list[set[int]] = []

    async def start_positions(partitions: set[int]) -> Position:
        asked.append(partitions)
        return Position({p: o for p, o in stored.offsets.items() if p in partitions})

    member = log.group_subscribe(SOURCE, f"g-{uuid.uuid4().hex[:8]}", start_positions)  # type: ignore[attr-defined]
    try:
        got = await take(member, 10)
    finally:
        await member.aclose()
    assert set(ids(got)) == {r.event.eventId for r in records if not stored.covers(r)}
    assert set().union(*asked) >= set(stored.offsets)


class _Group:
    """Members of one consumer group that store their positions like projection workers do
    (``store``: partition → next offset); every change notifies ``changed``."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.id = f"g-{uuid.uuid4().hex[:8]}"
        self.store: dict[int, int] = {}
        self.seen: list[str] = []
        self.held: list[set[int]] = []
        self.changed = asyncio.Condition()
        self.tasks: list[asyncio.Task[None]] = []

    def join(self) -> None:
        index = len(self.held)
        self.held.append(set())
        self.tasks.append(asyncio.create_task(self._member(index)))

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def _member(self, index: int) -> None:
        async def start_positions(partitions: set[int]) -> Position:
            self.held[index] |= partitions
            await self._notify()
            return Position({p: self.store.get(p, 0) for p in partitions})

        async def revoked(partitions: set[int]) -> None:
            self.held[index] -= partitions
            await self._notify()

        records = self.log.group_subscribe(SOURCE, self.id, start_positions, revoked)  # type: ignore[attr-defined]
        async with contextlib.aclosing(records):
            async for record in records:
                self.seen.append(record.event.eventId)
                self.store[record.partition] = record.offset + 1
                await self._notify()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(condition), TIMEOUT_S)

    def split(self, partitions: int) -> bool:
        """Every member holds some partitions, none twice, all of them covered."""
        held = [h for h in self.held]
        return (all(held) and sum(len(h) for h in held) == partitions
                and set().union(*held) == set(range(partitions)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_kafka_group_members_split_partitions_and_rebalance_without_loss(tmp_path: Path) -> None:
    settings = engine_settings("kafka", tmp_path)
    log = open_log(settings)
    await log.start()
    group = _Group(log)
    try:
        first = [ev(f"CP{i}", i) for i in range(40)]
        await log.append(SOURCE, first)
        group.join()
        group.join()
        await group.wait_until(lambda: set(ids_of(first)) <= set(group.seen) and group.split(settings.partitions))
        group.join()
        await group.wait_until(lambda: bool(group.held[2]) and group.split(settings.partitions))
        second = [ev(f"CP{i}", i) for i in range(40, 80)]
        await log.append(SOURCE, second)
        await group.wait_until(lambda: set(ids_of(first + second)) <= set(group.seen))
        assert set(group.seen) == set(ids_of(first + second))
    finally:
        await group.stop()
        await log.close()


def ids_of(events: list[Event]) -> list[str]:
    return [e.eventId for e in events]


async def test_kafka_unreachable_broker_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(log="kafka://127.0.0.1:1", data_dir=tmp_path)
    log = open_log(settings)
    with pytest.raises(LogUnavailable, match="127.0.0.1:1"):
        await log.start()
