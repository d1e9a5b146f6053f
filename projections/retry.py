"""Re-apply quarantined records after a fix (``chargelog projections retry``).

A record whose fold raised was quarantined (:mod:`chargelog.projections.base`) and the fold
went on without it. After the defect is fixed, :func:`retry` loads the fold's rows, positions
and quarantine from the store, reads each quarantined record back from the log (same stream,
partition and offset) and applies it to the current rows; a record that applies is released
from the quarantine, one that still raises stays (with the new error). The translator's
derived domain events are appended to ``domain``. Rows, released entries and remaining
entries commit in one store transaction. Positions do not move.

Run it with the projection workers stopped (like a rebuild): a live worker keeps its in-memory
rows and would overwrite these.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chargelog.domain.log import DOMAIN, EventLog, Position
from chargelog.domain.translate import NO_DIRECTORY, Directory

from .base import RowFold, quarantine_name
from .store import ReadModelStore
from .translator import TranslatorFold


@dataclass
class RetryResult:
    """``released``: records that applied this time; ``remaining``: still quarantined;
    ``missing``: quarantined records no longer on the log (retention), dropped."""

    released: int = 0
    remaining: int = 0
    missing: int = 0


def fold_for_retry(name: str, directory: Directory = NO_DIRECTORY) -> RowFold:
    """A fresh fold by name, the translator included. Raises KeyError."""
    if name == TranslatorFold.name:
        return TranslatorFold(directory)
    from .rebuild import fold_named

    return fold_named(name)


async def retry(log: EventLog, store: ReadModelStore, fold: RowFold) -> RetryResult:
    """Re-apply ``fold``'s quarantined records (see the module docstring)."""
    positions, rows = await asyncio.to_thread(store.load, fold.name)
    fold.load(positions, rows)
    _, entries = await asyncio.to_thread(store.load, quarantine_name(fold.name))
    fold.load_quarantine(entries)
    result = RetryResult()
    if not fold.quarantined:
        return result
    latest = await log.latest(fold.stream)
    for key in sorted(fold.quarantined):
        entry = fold.quarantined[key]
        partition, offset = int(entry["partition"]), int(entry["offset"])
        # only this partition has records after this position: the next one is the quarantined one
        after = Position({**latest.offsets, partition: offset})
        records = await log.read(fold.stream, after, limit=1)
        if not records or records[0].offset != offset or records[0].event.eventId != entry["eventId"]:
            fold.release(key)
            result.missing += 1
            continue
        if fold.retry(records[0]):
            result.released += 1
    result.remaining = len(fold.quarantined)
    if isinstance(fold, TranslatorFold):
        events = fold.take_output()
        if events:
            await log.append(DOMAIN, events)
    changes = [c for c in (fold.take_change(), fold.take_quarantine_change()) if c]
    if changes:
        await asyncio.to_thread(store.commit, changes)
    return result
