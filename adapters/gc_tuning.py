"""Garbage-collector settings for a long-running server process.

A frame handled by ``chargelog serve`` allocates many short-lived objects (JSON, pydantic
models, events); with Python's default young-generation threshold (700) the collector runs
every few frames and each older-generation pass rescans every object kept since start-up
(modules, settings, read-model caches). :func:`tune_after_start` — called once the roles
have started — collects once, freezes what is alive (``gc.freeze``: those objects are never
scanned again) and raises the young-generation threshold. Effect measured with
``bench/side_by_side.py`` (docs/benchmarks.md, "Cost per frame side by side").

Bulk readers (``chargelog verify``, ``chargelog export``) allocate a tuple or list per stored
record read (millions), and the default threshold makes the collector rescan the loaded
libraries (pyarrow, pydantic) over and over: they call :func:`tune_for_bulk_read` once the
libraries are imported (a third of their CPU; docs/benchmarks.md, "Audit: export, verify,
hash chain").
"""

from __future__ import annotations

import gc


def tune_after_start(*, freeze: bool, threshold0: int) -> None:
    """Collect, then ``gc.freeze()`` when ``freeze``; set the young-generation threshold to
    ``threshold0`` allocations (0: automatic collection off), generations 1 and 2 keep
    Python's defaults. Raises nothing."""
    if freeze:
        gc.collect()
        gc.freeze()
    _, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, threshold2)


#: Young-generation threshold of the bulk readers (allocations between collections).
BULK_READ_THRESHOLD0 = 50_000


def tune_for_bulk_read() -> None:
    """:func:`tune_after_start` for a process reading the log in bulk: freeze what the
    imports left alive, collect the young generation every :data:`BULK_READ_THRESHOLD0`
    allocations."""
    tune_after_start(freeze=True, threshold0=BULK_READ_THRESHOLD0)
