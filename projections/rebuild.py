"""Rebuild a projection from position zero (``chargelog projections rebuild``): forget its rows
and positions, fold the whole ``domain`` stream, commit in pages. The result equals the live
projection (tests/test_projections_runner.py::test_rebuilt_projection_equals_live).

Run it with the projection workers stopped: a live worker keeps its in-memory rows and would
overwrite the rebuilt ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chargelog.domain.log import DOMAIN, START, EventLog

from .base import RowFold
from .runner import projection_folds
from .store import ReadModelStore

#: Records per read page and per store transaction.
PAGE = 5000


def fold_named(name: str) -> RowFold:
    """A fresh projection by name. Raises KeyError naming the known ones."""
    for fold in projection_folds():
        if fold.name == name:
            return fold
    raise KeyError(f"no projection {name!r}; known: {', '.join(f.name for f in projection_folds())}")


async def rebuild(log: EventLog, store: ReadModelStore | None, name: str,
                  progress: Callable[[int], object] | None = None, page: int = PAGE) -> int:
    """Rebuild projection ``name`` into ``store`` (None: fold only, for benchmarks); returns the
    records folded. ``progress(n)`` is called after each page with its record count."""
    fold = fold_named(name)
    if store is not None:
        await asyncio.to_thread(store.reset, name)
    end = await log.latest(DOMAIN)
    position, total = START, 0
    while True:
        records = await log.read(DOMAIN, position, limit=page, until=end)
        if not records:
            break
        for record in records:
            fold.offer(record)
        position = records[-1].position
        total += len(records)
        change = fold.take_change()
        if store is not None and change:
            await asyncio.to_thread(store.commit, [change])
        if progress is not None:
            progress(len(records))
    return total
