"""Audit benchmark: export and verify rates on a large log, and the append cost of the hash
chain, on both engines (docs/benchmarks.md, "Audit: export, verify, hash chain").

Usage::

    python bench/audit_bench.py [--events 1000000] [--chain-events 100000] [--engines embedded,kafka]
                                [--bootstrap 127.0.0.1:9092]

Per engine:

1. **chain cost** — ``--chain-events`` events appended (batches of 4,000, each awaited until
   durable) twice without the chain and twice with it, alternating; the process CPU time
   (``time.process_time``: every thread, so the embedded engine's SQLite writer too) per
   event, best of two each. "Without" keeps the per-charge-point sequence bookkeeping the
   engines had before the chain and only skips hashing and sealing.
2. a ``--events`` source stream (sealed), from a template of one simulated day
   (``domain/trace_month.py``: real OCPP frame events with their raw text, ~650 bytes each)
   repeated with fresh eventIds: on Kafka appended through the engine (batches of 4,000), on
   the embedded engine written by ``bench/bulk_log.py`` (the same sealed rows, ~10 × faster);
3. **raw scan** (the floor: ``scan_raw`` reading every stored record, nothing else),
   **verify** (``verify_stream``: every chain re-computed) and **export** (``export`` to
   Parquet: parse, flatten, row groups of 65,536, zstd) over the whole stream, in events/s
   of wall time and per CPU-second of the process (every thread), with the ratio to the
   floor. As in the CLI, the collector is tuned for bulk reads first
   (``adapters/gc_tuning.py``), and pyarrow's one-time import of pandas (~1 s, on its first
   array) happens before the clock starts.

Prints a markdown table and the load averages (1 min) before and after each step, and the
Parquet file's size and the process's peak RSS after the export (memory stays bounded by
one row group, whatever the log's size). Topics
and data directories it creates are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from aiokafka.admin import AIOKafkaAdminClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's chargelog package
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bulk_log  # noqa: E402 - a sibling script
from chargelog.adapters.audit.export import export
from chargelog.adapters.audit.verify import verify_stream
from chargelog.adapters.gc_tuning import tune_for_bulk_read
from chargelog.adapters.log import chaining
from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.adapters.log.kafka import KafkaLog
from chargelog.domain.envelope import Event, new_event_id
from chargelog.domain.log import SOURCE, EventLog

BATCH = 4000


def stream_of(events: list[Event], count: int) -> Iterator[list[Event]]:
    """``count`` events in batches of BATCH: the template again and again, fresh eventIds."""
    made = 0
    while made < count:
        for start in range(0, len(events), BATCH):
            batch = [e.model_copy(update={"eventId": new_event_id()})
                     for e in events[start:start + min(BATCH, count - made)]]
            if not batch:
                return
            made += len(batch)
            yield batch
            if made >= count:
                return


@contextlib.contextmanager
def chain_disabled() -> Iterator[None]:
    """Appends that keep the per-charge-point sequence but neither hash nor seal."""
    original = chaining.SealBatch.seal

    def unsealed(self: chaining.SealBatch, event: Event) -> tuple[bytes, int]:
        key = event.chargePointId
        head = self._heads.get(key) or self._sealer._heads.get(key) or self._sealer._load(key)
        self._heads[key] = (head[0] + 1, head[1])
        return event.encode(), head[0] + 1

    chaining.SealBatch.seal = unsealed  # type: ignore[method-assign]
    try:
        yield
    finally:
        chaining.SealBatch.seal = original  # type: ignore[method-assign]


@dataclass
class Row:
    engine: str
    step: str
    events: int
    seconds: float
    cpu_s: float
    load_before: float
    load_after: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_rate(self) -> float:
        return self.events / self.cpu_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6


async def measured(engine: str, step: str, events: int, work: Callable[[], Awaitable[object]]) -> Row:
    load = os.getloadavg()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    row = Row(engine, step, events, time.perf_counter() - wall, time.process_time() - cpu, load, os.getloadavg()[0])
    print(f"  {engine:9} {step:22} {row.rate:>10,.0f} events/s  {row.cpu_rate:>10,.0f} events/CPU-s  "
          f"({row.seconds:.1f} s, load {row.load_before:.1f}→{row.load_after:.1f})", flush=True)
    return row


async def append_all(log: EventLog, stream: str, batches: Iterator[list[Event]]) -> None:
    for batch in batches:
        await log.append(stream, batch)


async def bench_engine(engine: str, make_log: Callable[[str], Awaitable[EventLog]], events: int,
                       chain_events: int, day: list[Event], workdir: Path,
                       build: Callable[[str], None] | None = None) -> list[Row]:
    rows: list[Row] = []
    # 1. chain cost: alternate without / with, best of two each (own streams, fresh chains)
    costs: dict[str, list[Row]] = {"append, no chain": [], "append, chained": []}
    for attempt in range(2):
        for label in costs:
            log = await make_log(f"c{attempt}{label[-5:].replace(' ', '')}")
            batches = list(stream_of(day, chain_events))
            try:
                if label.endswith("no chain"):
                    with chain_disabled():
                        costs[label].append(await measured(engine, label, chain_events,
                                                           lambda: append_all(log, "bench", iter(batches))))
                else:
                    costs[label].append(await measured(engine, label, chain_events,
                                                       lambda: append_all(log, "bench", iter(batches))))
            finally:
                await log.close()
    rows += [min(r, key=lambda row: row.cpu_s) for r in costs.values()]
    # 2. the large stream
    if build is not None:
        began = time.perf_counter()
        build("big")
        print(f"  {engine:9} built {events:,} events in {time.perf_counter() - began:.0f} s (bench/bulk_log.py)",
              flush=True)
    log = await make_log("big")
    try:
        if build is None:
            rows.append(await measured(engine, "append (build the log)", events,
                                       lambda: append_all(log, SOURCE, stream_of(day, events))))
        tune_for_bulk_read()
        pa.array(["pyarrow loads pandas on its first array"])

        async def raw_scan() -> None:
            async for _ in log.scan_raw(SOURCE):
                pass  # the records of a batch, in columns

        async def verify() -> None:
            report = await verify_stream(log, SOURCE)
            assert report.verified == events and not report.breaks, report.breaks[:1]

        async def to_parquet() -> None:
            out = workdir / f"{engine}.parquet"
            result = await export(log, SOURCE, "parquet", out)
            assert result.rows == events
            print(f"  {engine:9} parquet: {out.stat().st_size / 1e6:.0f} MB, "
                  f"{pq.ParquetFile(out).num_row_groups} row groups; peak RSS so far "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
            out.unlink()

        rows.append(await measured(engine, "raw scan (floor)", events, raw_scan))
        rows.append(await measured(engine, "verify", events, verify))
        rows.append(await measured(engine, "export parquet", events, to_parquet))
    finally:
        await log.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--chain-events", type=int, default=100_000)
    parser.add_argument("--engines", default="embedded,kafka")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, events {args.events:,}, "
          f"chain events {args.chain_events:,}", flush=True)
    day = bulk_log.template()
    print(f"template: {len(day):,} events, {sum(len(e.encode()) for e in day) / len(day):.0f} bytes each", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    rows: list[Row] = []
    prefixes: list[str] = []
    try:
        for engine in args.engines.split(","):
            build: Callable[[str], None] | None = None  # Kafka: appended through the engine
            if engine == "embedded":
                async def make_log(name: str) -> EventLog:
                    log = EmbeddedLog(workdir / name)
                    await log.start()
                    return log

                def build_embedded(name: str) -> None:
                    bulk_log.build(workdir / name, args.events)

                build = build_embedded
            else:
                async def make_log(name: str) -> EventLog:
                    prefix = f"bench{uuid.uuid4().hex[:8]}"
                    prefixes.append(prefix)
                    log = KafkaLog(args.bootstrap, topic_prefix=prefix, partitions=8)
                    await log.start()
                    return log
            rows += await bench_engine(engine, make_log, args.events, args.chain_events, day, workdir, build)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if prefixes:
            admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
            await admin.start()
            try:
                topics = [t for t in await admin.list_topics() if t.split(".")[0] in prefixes]
                if topics:
                    await admin.delete_topics(topics)
            finally:
                await admin.close()
    print()
    print("| engine | step | events | events/s | events/CPU-s | CPU µs/event | vs floor | load (1 min) |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in rows:
        floor = next((r for r in rows if r.engine == row.engine and r.step == "raw scan (floor)"), None)
        base = next((r for r in rows if r.engine == row.engine and r.step == "append, no chain"), None)
        ratio = ""
        if row.step in ("verify", "export parquet") and floor:
            ratio = f"{row.rate / floor.rate:.2f} × floor rate"
        elif row.step == "append, chained" and base:
            ratio = f"{row.cpu_us / base.cpu_us:.3f} × CPU unchained"
        print(f"| {row.engine} | {row.step} | {row.events:,} | {row.rate:,.0f} | {row.cpu_rate:,.0f} | {row.cpu_us:.1f} "
              f"| {ratio} "
              f"| {row.load_before:.1f} → {row.load_after:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
