"""A large embedded log, built fast, for the audit benchmarks (bench/audit_bench.py,
bench/export_memory_bench.py).

The events are those of one simulated day of ``charge_points`` stations
(``domain/trace_month.py``: real OCPP frame and connection events with their raw text, about
650 bytes each), repeated day after day: each copy gets fresh eventIds, its dates moved on by
one day per copy and ``recordedAt`` stamps at (or just after) ``occurredAt``, monotonic as
the engine writes them. The envelopes are made by text substitution into the template's own
``Event.encode`` bytes, sealed into each charge point's hash chain with
:func:`chargelog.domain.chain.seal` exactly as the engine's appender seals them (writer
``embedded``, seq = the charge point's sequence) and inserted with the engine's recorder's own INSERT
statement (``SQLiteApplicationRecorder.insert_events_statement``, ``executemany``) in
transactions of 5,000: the same stored rows an ``EmbeddedLog.append`` writes, without building
an ``Event`` per copy (several times faster), so ``chargelog verify`` passes on the result.

Usage::

    python bench/bulk_log.py DATA_DIR --events 10000000 [--charge-points 400]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's chargelog package

from chargelog.adapters.log.embedded import EMBEDDED_WRITER, MAX_BATCH, _Stream  # noqa: E402
from chargelog.domain.chain import GENESIS, seal  # noqa: E402
from chargelog.domain.envelope import Event  # noqa: E402
from chargelog.domain.log import SOURCE  # noqa: E402
from chargelog.domain.trace_month import month  # noqa: E402

DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)


def template(charge_points: int = 400) -> list[Event]:
    """One simulated day of ``charge_points`` stations (~62 source events each)."""
    return next(iter(month(charge_points, 1)))


def _pattern(event: Event, day: str, next_day: str) -> bytes:
    """``event``'s canonical bytes as a %-template with ``%(e)s`` (eventId), ``%(r)s``
    (recordedAt), ``%(d0)s``/``%(d1)s`` (its day and the next, as ``YYYY-MM-DDT``)."""
    text = event.model_copy(update={"chain": None}).encode().replace(b"%", b"%%")
    text = text.replace(b'"eventId":"%s"' % event.eventId.encode(), b'"eventId":"%(e)s"', 1)
    start = text.index(b'"recordedAt":"') + len(b'"recordedAt":"')
    text = text[:start] + b"%(r)s" + text[text.index(b'"', start):]
    return text.replace(day.encode(), b"%(d0)s").replace(next_day.encode(), b"%(d1)s")


def envelopes(day_events: list[Event], count: int) -> Iterator[tuple[str, str, bytes]]:
    """``count`` (chargePointId, type, canonical bytes): the day in order of occurrence, again
    and again, one day later each time; ``recordedAt`` = ``occurredAt`` (moved on) or 1 µs
    after the previous one, whichever is later."""
    day_events = sorted(day_events, key=lambda e: e.occurredAt)
    first = day_events[0].occurredAt.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    day, next_day = first.strftime("%Y-%m-%dT"), (first + DAY).strftime("%Y-%m-%dT")
    patterns = [(e.chargePointId, e.type, e.occurredAt.astimezone(UTC).replace(tzinfo=None) - first,
                 _pattern(e, day, next_day)) for e in day_events]
    made, copy, last = 0, 0, first
    while made < count:
        start = first + copy * DAY
        d0, d1 = start.strftime("%Y-%m-%dT").encode(), (start + DAY).strftime("%Y-%m-%dT").encode()
        for charge_point_id, kind, offset, pattern in patterns[:count - made]:
            last = max(start + offset, last + MICROSECOND)
            yield charge_point_id, kind, pattern % {b"e": str(uuid.uuid4()).encode(), b"d0": d0, b"d1": d1,
                                                   b"r": b"%sZ" % last.isoformat(timespec="microseconds").encode()}
        made += min(len(patterns), count - made)
        copy += 1


def build(data_dir: Path, count: int, charge_points: int = 400, stream: str = SOURCE) -> None:
    """Append ``count`` sealed events to ``stream`` of the embedded log in ``data_dir``
    (which must not hold that stream yet)."""
    (data_dir / "log").mkdir(parents=True, exist_ok=True)
    s = _Stream(data_dir / "log" / f"{stream}.sqlite")
    heads: dict[str, tuple[int, bytes]] = {}
    rows: list[tuple[str, int, str, bytes]] = []

    def insert() -> None:  # the recorder's own INSERT statement, one transaction per batch
        with s.datastore.transaction(commit=True) as c:
            c.executemany(s.recorder.insert_events_statement, rows)
        rows.clear()

    try:
        for charge_point_id, kind, canonical in envelopes(template(charge_points), count):
            seq, previous = heads.get(charge_point_id, (0, GENESIS))
            stored, digest = seal(canonical, EMBEDDED_WRITER, seq + 1, previous)
            heads[charge_point_id] = (seq + 1, digest)
            rows.append((charge_point_id, seq + 1, kind, stored))
            if len(rows) == MAX_BATCH:
                insert()
        if rows:
            insert()
    finally:
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--charge-points", type=int, default=400)
    args = parser.parse_args()
    began = time.perf_counter()
    build(args.data_dir, args.events, args.charge_points)
    took = time.perf_counter() - began
    size = sum(f.stat().st_size for f in (args.data_dir / "log").iterdir())
    print(f"built {args.events:,} events in {took:.0f} s ({args.events / took:,.0f}/s), "
          f"{size / 1e9:.2f} GB in {args.data_dir / 'log'}", flush=True)


if __name__ == "__main__":
    main()
