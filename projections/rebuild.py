"""Rebuild a projection from position zero (``chargelog projections rebuild``): forget its rows
and positions, fold its stream (``domain``; ``source`` for the profile state) up to its
current end, commit in pages. The result
equals the live projection (tests/test_projections_runner.py::test_rebuilt_projection_equals_live).

Only the event types the projection folds are read (``log.scan(types=…)``: the embedded engine
selects them in SQLite, Kafka skips others by record header); at the end the projection's
position is the stream's end, exactly as if it had seen every record.

Run it with the projection workers stopped: a live worker keeps its in-memory rows and would
overwrite the rebuilt ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from chargelog.domain.log import START, EventLog

from .base import RowFold, quarantine_name
from .runner import read_model_folds
from .store import ReadModelStore

#: Records per store transaction.
PAGE = 5000


def fold_named(name: str) -> RowFold:
    """A fresh projection by name. Raises KeyError naming the known ones."""
    for fold in read_model_folds():
        if fold.name == name:
            return fold
    raise KeyError(f"no projection {name!r}; known: {', '.join(f.name for f in read_model_folds())}")


async def rebuild(log: EventLog, store: ReadModelStore | None, name: str,
                  progress: Callable[[int, int], object] | None = None, page: int = PAGE,
                  fold: RowFold | None = None) -> int:
    """Rebuild projection ``name`` into ``store`` (None: fold in memory only, for benchmarks);
    returns the records folded. ``progress(done, end)`` is called after each page with the
    records of the stream passed so far and the total to pass (both counts over all
    partitions). ``fold``: the instance to fold into (default a fresh one)."""
    fold = fold or fold_named(name)
    if store is not None:
        await asyncio.to_thread(store.reset, name)
        await asyncio.to_thread(store.reset, quarantine_name(name))
    end = await log.latest(fold.stream)
    total = pending = 0
    done = START

    async def flush() -> None:
        changes = [c for c in (fold.take_change(), fold.take_quarantine_change()) if c]
        if store is not None and changes:
            await asyncio.to_thread(store.commit, changes)
        if progress is not None:
            progress(done.total, end.total)

    types = sorted(fold.types) if fold.types is not None else ()
    async with contextlib.aclosing(log.scan(fold.stream, START, until=end, types=types)) as records:
        async for record in records:
            fold.offer(record)
            done = record.position
            total += 1
            pending += 1
            if pending >= page:
                await flush()
                pending = 0
    fold.reached(end)
    done = end
    await flush()
    return total
