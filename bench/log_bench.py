"""Log engine benchmark: append and catch-up read throughput of the embedded
and Kafka engines, side by side with a raw aiokafka producer/consumer on the same events.

Usage::

    python bench/log_bench.py [--events 100000] [--bootstrap 127.0.0.1:9092] [--concurrency 100]
                              [--batch 1000] [--engines embedded,kafka]

Measures, in events/s (wall clock):

* append single: ``--concurrency`` tasks each appending one event at a time, every append
  awaited until acknowledged durable (embedded: committed SQLite WAL transaction; Kafka:
  ``acks="all"``, idempotent producer);
* append batched: sequential ``append`` calls of ``--batch`` events;
* catch-up read: a catch-up subscription from the start over everything written (decoded
  into :class:`~chargelog.domain.envelope.Event`); raw: a consumer fetching the same records
  as bytes, undecoded.

The raw aiokafka rows JSON-encode each event in the timed loop, as any producer of these
events must, but do no more (no envelope stamping, no positions). The broker is warmed up
first, and each Kafka operation is measured right before its raw twin. Prints a markdown
table; topics it creates are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.adapters.log.kafka import KafkaLog
from chargelog.domain.envelope import Event, Principal, Source
from chargelog.domain.log import EventLog


def sample_events(count: int, charge_points: int = 200) -> list[Event]:
    """``count`` OCPP MeterValues frames (about 600 bytes of JSON each) over ``charge_points``."""
    return [
        Event(
            type="ocpp.frame", chargePointId=f"CP{i % charge_points:04d}", source=Source.OCPP,
            principal=Principal(kind="chargePoint", id=f"CP{i % charge_points:04d}"),
            correlationId=str(uuid.uuid4()),
            payload={"direction": "in", "messageTypeId": 2, "messageId": str(i), "action": "MeterValues",
                     "payload": {"connectorId": 1, "transactionId": i // 50, "meterValue": [{
                         "timestamp": "2026-01-01T00:00:00Z", "sampledValue": [
                             {"value": str(i * 10), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                             {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"}]}]}},
        )
        for i in range(count)
    ]


@dataclass
class Row:
    engine: str
    operation: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


async def timed(engine: str, operation: str, events: int, work: Callable[[], Awaitable[None]]) -> Row:
    start = time.perf_counter()
    await work()
    row = Row(engine, operation, events, time.perf_counter() - start)
    print(f"  {engine:9} {operation:15} {row.rate:>10,.0f} events/s ({row.seconds:.2f} s)", flush=True)
    return row


async def concurrently(items: Sequence[Event], concurrency: int, one: Callable[[Event], Awaitable[object]]) -> None:
    """``concurrency`` tasks, each taking the next item and awaiting ``one(item)``."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            await one(item)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bench_engine(name: str, log: EventLog, events: list[Event], concurrency: int, batch: int) -> list[Row]:
    half = len(events) // 2
    single, batched = events[:half], events[half:]
    rows = [await timed(name, "append single", len(single),
                        lambda: concurrently(single, concurrency, lambda e: log.append("bench", [e])))]

    async def append_batches() -> None:
        for i in range(0, len(batched), batch):
            await log.append("bench", batched[i : i + batch])

    rows.append(await timed(name, "append batched", len(batched), append_batches))

    rows.append(await timed(name, "catch-up read", len(events), lambda: catch_up(log, len(events))))
    return rows


async def catch_up(log: EventLog, count: int) -> None:
    """A catch-up subscription from the start until ``count`` records (decoded) have come."""
    seen = 0
    subscription = log.subscribe("bench")
    async for _ in subscription:
        seen += 1
        if seen == count:
            break
    await subscription.aclose()


class RawKafka:
    """The baseline: a bare aiokafka producer (idempotent, ``acks="all"``) and consumer on
    their own topic, writing the same events (JSON-encoded in the timed loop, key =
    chargePointId, the same ``type`` header) and reading them back as undecoded bytes."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                         max_batch_size=512 * 1024)
        self.written = 0

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(self.topic, self.partitions, 1)])
        await admin.close()
        await self.producer.start()
        await self.producer.partitions_for(self.topic)
        await self.send_one(sample_events(1)[0])  # the first send waits for partition leaders: not timed

    async def send_one(self, event: Event) -> None:
        await (await self.producer.send(self.topic, event.encode(), key=event.chargePointId.encode(),
                                        headers=[("type", event.type.encode())]))
        self.written += 1

    async def send_batches(self, events: list[Event], batch: int) -> None:
        for i in range(0, len(events), batch):
            futures = [await self.producer.send(self.topic, e.encode(), key=e.chargePointId.encode(),
                                                headers=[("type", e.type.encode())]) for e in events[i : i + batch]]
            await asyncio.gather(*futures)
        self.written += len(events)

    async def consume_all(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024)
        await consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        while seen < self.written:
            for messages in (await consumer.getmany(timeout_ms=1000)).values():
                seen += len(messages)
        await consumer.stop()

    async def stop(self) -> None:
        await self.producer.stop()


async def bench_kafka_and_raw(bootstrap: str, prefix: str, partitions: int, events: list[Event],
                              concurrency: int, batch: int) -> list[Row]:
    """The Kafka engine and the raw baseline, operation by operation (kafka, then raw), after
    a warm-up of the broker's JVM with the raw producer on a throw-away topic."""
    warm = RawKafka(bootstrap, f"{prefix}.warmup", partitions)
    await warm.start()
    await warm.send_batches(events[: len(events) // 4], batch)
    await warm.consume_all()
    await warm.stop()
    kafka = KafkaLog(bootstrap, topic_prefix=prefix, partitions=partitions)
    await kafka.start()
    await kafka.append("bench", events[:1])  # creates the topic, waits for leaders: not timed
    raw = RawKafka(bootstrap, f"{prefix}.raw", partitions)
    await raw.start()
    half = len(events) // 2
    single, batched = events[:half], events[half:]
    rows = [await timed("kafka", "append single", len(single),
                        lambda: concurrently(single, concurrency, lambda e: kafka.append("bench", [e]))),
            await timed("raw", "append single", len(single), lambda: concurrently(single, concurrency, raw.send_one))]

    async def append_batches() -> None:
        for i in range(0, len(batched), batch):
            await kafka.append("bench", batched[i : i + batch])

    rows.append(await timed("kafka", "append batched", len(batched), append_batches))
    rows.append(await timed("raw", "append batched", len(batched), lambda: raw.send_batches(batched, batch)))
    total = len(events) + 1
    rows.append(await timed("kafka", "catch-up read", total, lambda: catch_up(kafka, total)))
    rows.append(await timed("raw", "catch-up read", raw.written, raw.consume_all))
    await raw.stop()
    await kafka.close()
    return rows


def table(rows: list[Row]) -> str:
    raw = {r.operation: r.rate for r in rows if r.engine == "raw"}
    lines = ["| engine | operation | events | s | events/s | vs raw aiokafka |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        ratio = f"{r.rate / raw[r.operation]:.2f}×" if r.engine == "kafka" and r.operation in raw else ""
        lines.append(f"| {r.engine} | {r.operation} | {r.events:,} | {r.seconds:.2f} | {r.rate:,.0f} | {ratio} |")
    return "\n".join(lines)


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
                 platform.processor())
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=100, help="concurrent single-event appenders")
    parser.add_argument("--batch", type=int, default=1000, help="events per batched append")
    parser.add_argument("--engines", default="embedded,kafka", help="embedded and/or kafka (with raw aiokafka)")
    args = parser.parse_args()
    engines = args.engines.split(",")
    events = sample_events(args.events)
    print(f"{args.events:,} events of ~{sum(len(e.encode()) for e in events[:100]) // 100} bytes; {machine()}")
    rows: list[Row] = []
    if "embedded" in engines:
        with tempfile.TemporaryDirectory() as data_dir:
            log = EmbeddedLog(data_dir)
            await log.start()
            rows += await bench_engine("embedded", log, events, args.concurrency, args.batch)
            await log.close()
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    try:
        if "kafka" in engines:
            rows += await bench_kafka_and_raw(args.bootstrap, prefix, args.partitions, events,
                                              args.concurrency, args.batch)
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
        await admin.start()
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix + ".")]
        if doomed:
            await admin.delete_topics(doomed)
        await admin.close()
    print()
    print(table(rows))


if __name__ == "__main__":
    asyncio.run(main())
