"""Rebuild throughput per projection: events/s of ``chargelog projections
rebuild NAME`` over a domain stream of realistic domain events, on both log engines.

Command (Kafka broker of ``infra/kafka.sh`` on 127.0.0.1:9092)::

    python bench/rebuild_bench.py --events 1000000 [--engine embedded|kafka|both]

The stream: charge points cycling through charging sessions the way the translator reports
them — connector status changes, station status changes, connect/disconnect, a
``transaction.started``, ``meter.update`` every sample (most of the volume, as in real
traffic), a ``transaction.stopped``, and command outcomes. Each projection is rebuilt from
position zero into a fresh SQLite read-model store (what the command does: read, decode,
fold, commit in pages); the figure is the stream's records passed per second of wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.adapters.store.sqlite import SQLiteReadModelStore
from chargelog.domain.envelope import Event, Principal, Source
from chargelog.domain.log import DOMAIN, EventLog
from chargelog.projections.rebuild import rebuild
from chargelog.projections.runner import projection_folds

SAMPLES_PER_SESSION = 40
APPEND_BATCH = 5000


def session_events(cp: str, connector: int, tx: int, user: str, start: datetime) -> list[Event]:
    """One charging session as the translator reports it (about 50 domain events)."""
    principal = Principal(kind="user", id=user)
    t = start
    out: list[Event] = []

    def add(type_: str, payload: dict, user_owned: bool = False, correlation: str | None = None) -> None:
        nonlocal t
        t += timedelta(seconds=30)
        out.append(Event(type=type_, chargePointId=cp, occurredAt=t, recordedAt=t, source=Source.OCPP,
                         principal=principal if user_owned else None, correlationId=correlation,
                         causationId=str(uuid.uuid4()), payload=payload))

    corr = str(uuid.uuid4())
    add("command.accepted", {"correlationId": corr, "action": "RemoteStartTransaction", "chargePointId": cp,
                             "reason": None, "userId": user}, True, corr)
    for status, prev in (("Preparing", "Available"), ("Charging", "Preparing")):
        add("connector.status.changed", {"chargePointId": cp, "connectorId": connector, "status": status,
                                         "previousStatus": prev, "errorCode": "NoError", "info": None,
                                         "vendorId": None, "vendorErrorCode": None, "timestamp": t.isoformat()})
    add("station.status.changed", {"chargePointId": cp, "status": "Charging", "availability": "available",
                                   "available": 1, "total": 2, "inUse": 1, "maintenance": False})
    start_time = t.isoformat()
    add("transaction.started", {"transactionId": tx, "chargePointId": cp, "connectorId": connector, "idTag": user[:20],
                                "userId": user, "meterStart": 100_000, "startTime": start_time,
                                "correlationId": corr}, True, corr)
    energy = 0.0
    for i in range(SAMPLES_PER_SESSION):
        energy += 7400 * 30 / 3600
        add("meter.update", {"transactionId": tx, "chargePointId": cp, "connectorId": connector, "userId": user,
                             "energyWh": round(energy, 1), "powerW": 7400.0, "currentA": 32.0, "voltageV": 231.0,
                             "soc": min(20 + i, 100), "timestamp": t.isoformat(), "durationS": 30.0 * (i + 1),
                             "cost": round(energy / 1000 * 0.4, 2), "currency": "EUR",
                             "context": "Sample.Periodic"}, True, corr)
    add("transaction.stopped", {"transactionId": tx, "chargePointId": cp, "connectorId": connector, "userId": user,
                                "meterStop": 100_000 + int(energy), "energyWh": round(energy, 1),
                                "durationS": 30.0 * SAMPLES_PER_SESSION, "cost": round(energy / 1000 * 0.4, 2),
                                "currency": "EUR", "reason": "Local", "stopTime": t.isoformat(),
                                "correlationId": corr, "known": True}, True, corr)
    for status, prev in (("Finishing", "Charging"), ("Available", "Finishing")):
        add("connector.status.changed", {"chargePointId": cp, "connectorId": connector, "status": status,
                                         "previousStatus": prev, "errorCode": "NoError", "info": None,
                                         "vendorId": None, "vendorErrorCode": None, "timestamp": t.isoformat()})
    add("station.status.changed", {"chargePointId": cp, "status": "Available", "availability": "available",
                                   "available": 2, "total": 2, "inUse": 0, "maintenance": False})
    return out


def generate(total: int, charge_points: int = 2000) -> Iterator[list[Event]]:
    """Batches of ``total`` domain events, sessions interleaved across charge points
    (generated lazily: 1,000,000 events never sit in memory at once)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[Event] = []
    tx = count = 0
    while count < total:
        for c in range(charge_points):
            if count >= total:
                break
            tx += 1
            events = session_events(f"CP{c:05d}", 1 + tx % 2, tx, f"user-{tx % 5000}", start)
            events = events[: total - count]
            batch.extend(events)
            count += len(events)
            if len(batch) >= APPEND_BATCH:
                yield batch
                batch = []
        start += timedelta(hours=1)
    if batch:
        yield batch


async def fill(log: EventLog, total: int) -> float:
    began = time.perf_counter()
    for batch in generate(total):
        await log.append(DOMAIN, batch)
    return time.perf_counter() - began


async def bench_engine(engine: str, events: int, work: Path, bootstrap: str) -> list[tuple]:
    if engine == "kafka":
        settings = Settings(log=f"kafka://{bootstrap}", topic_prefix=f"rb{uuid.uuid4().hex[:8]}", partitions=8,
                            data_dir=work / "kafka")
    else:
        settings = Settings(log="embedded", data_dir=work / "embedded")
    log = open_log(settings)
    await log.start()
    rows = []
    try:
        filled = await fill(log, events)
        total = (await log.latest(DOMAIN)).total
        print(f"{engine}: generated and appended {total:,} events in {filled:.1f} s", file=sys.stderr)
        for name in [f.name for f in projection_folds()]:  # the projections of the generated domain stream
            store = SQLiteReadModelStore(work / f"{engine}-{name}.sqlite")
            try:
                began = time.perf_counter()
                folded = await rebuild(log, store, name)
                seconds = time.perf_counter() - began
                rows.append((engine, name, total, folded, seconds, total / seconds))
                print(f"{engine} {name}: {total / seconds:,.0f} events/s", file=sys.stderr)
            finally:
                store.close()
    finally:
        await log.close()
    return rows


async def query_bench(charge_points: int = 10_000, repeat: int = 50) -> list[tuple[str, float]]:
    """ms per ``stations()`` over ``charge_points`` charge points (2 connectors each): cold (views
    built), warm (nothing changed), and after one connector status change."""
    from chargelog.domain.log import Position, Record
    from chargelog.projections.query import ProjectionReadModels
    folds = projection_folds()
    rm = ProjectionReadModels(*folds)  # type: ignore[arg-type]
    offset = 0

    def feed(event: Event) -> None:
        nonlocal offset
        record = Record(event, 0, offset, Position({0: offset + 1}))
        offset += 1
        for fold in folds:
            fold.offer(record)

    for c in range(charge_points):
        cp = f"CP{c:05d}"
        feed(Event(type="station.connected", chargePointId=cp, payload={"chargePointId": cp}))
        for connector in (1, 2):
            feed(Event(type="connector.status.changed", chargePointId=cp,
                       payload={"chargePointId": cp, "connectorId": connector, "status": "Available"}))
        feed(Event(type="station.status.changed", chargePointId=cp,
                   payload={"chargePointId": cp, "status": "Available", "availability": "available",
                            "available": 2, "total": 2}))
    results = []
    began = time.perf_counter()
    assert len(await rm.stations()) == charge_points
    results.append(("cold (views built)", (time.perf_counter() - began) * 1000))
    began = time.perf_counter()
    for _ in range(repeat):
        await rm.stations()
    results.append(("warm", (time.perf_counter() - began) * 1000 / repeat))
    began = time.perf_counter()
    for i in range(repeat):
        feed(Event(type="connector.status.changed", chargePointId="CP00001",
                   payload={"chargePointId": "CP00001", "connectorId": 1, "status": "Charging" if i % 2 else "Available"}))
        await rm.stations()
    results.append(("after one change", (time.perf_counter() - began) * 1000 / repeat))
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=["embedded", "kafka", "both"], default="both")
    parser.add_argument("--query-only", action="store_true", help="only the stations() query timing")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    args = parser.parse_args()
    print("| stations() over 10,000 charge points | ms |")
    print("| --- | ---: |")
    for label, ms in await query_bench():
        print(f"| {label} | {ms:.2f} |")
    if args.query_only:
        return
    engines = ["embedded", "kafka"] if args.engine == "both" else [args.engine]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rebuild-bench-") as tmp:
        for engine in engines:
            rows += await bench_engine(engine, args.events, Path(tmp), args.bootstrap)
    print("| engine | projection | stream events | events folded | s | events/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for engine, name, total, folded, seconds, rate in rows:
        print(f"| {engine} | {name} | {total:,} | {folded:,} | {seconds:.1f} | {rate:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
