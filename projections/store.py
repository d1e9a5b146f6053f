"""The read-model store port: where a projection runner keeps each read model's rows and the
position it reached, written together in one transaction.

Positions are tracked per (fold name, partition) as "records of that partition applied" —
the ``eventsourcing`` library's tracking table, with ``application_name`` =
``"{name}#{partition}"`` and ``notification_id`` = that count. Its single-row upsert only
moves forward, so a commit that would not advance a partition (a duplicate delivery, or a
stale member after a rebalance) fails with :class:`StaleCommit` and changes nothing.

Rows are JSON documents keyed by (fold name, key), each tagged with the partition of the
records that wrote it, so a consumer-group member loads only the partitions it holds.
Implementations: ``chargelog.adapters.store.sqlite.SQLiteReadModelStore`` (embedded) and
``chargelog.adapters.store.postgres.PostgresReadModelStore`` (many nodes). Methods are
blocking; runners call them in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class StaleCommit(RuntimeError):
    """A commit's position is not beyond the stored one for some partition; nothing was
    written."""


@dataclass
class Change:
    """The rows and positions one fold changed since its last commit. ``upserts``:
    ``(key, partition, json)``; ``deletes``: keys; ``positions``: partition → records applied
    (only partitions that advanced); ``extra``: more tracked counters (name → value) that
    commit atomically with it (the translator's domain-stream offsets)."""

    name: str
    positions: dict[int, int] = field(default_factory=dict)
    upserts: list[tuple[str, int, str]] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.positions or self.upserts or self.deletes or self.extra)


class ReadModelStore(Protocol):
    """Rows + positions of folds, committed atomically."""

    def load(self, name: str, partitions: Iterable[int] | None = None) -> tuple[dict[int, int], list[tuple[str, int, str]]]:
        """``(positions, rows)`` of fold ``name``: per-partition records applied, and
        ``(key, partition, json)`` rows, for ``partitions`` (None = all)."""
        ...

    def get(self, name: str, key: str) -> tuple[dict[int, int], tuple[int, str] | None]:
        """``(positions, row)`` of fold ``name`` read in ONE snapshot: every partition's
        position and the row ``key`` as ``(partition, json)`` (None when absent). The row
        reflects exactly the records below those positions."""
        ...

    def tracked(self, name: str) -> int:
        """An ``extra`` counter's stored value (0 when never stored)."""
        ...

    def commit(self, changes: Sequence[Change]) -> None:
        """Write every change in ONE transaction. Raises :class:`StaleCommit` (and writes
        nothing) when a position would not advance."""
        ...

    def reset(self, name: str) -> None:
        """Forget fold ``name``: its rows and positions (for a rebuild)."""
        ...

    def positions(self) -> dict[str, dict[int, int]]:
        """Every fold's per-partition positions, by name."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def like_prefix(name: str) -> str:
    """A LIKE pattern (escape character ``!``) matching the tracking names of fold ``name``."""
    return name.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "#%"


def split_get(rows: Iterable[tuple[str, int, str | None]], name: str) -> tuple[dict[int, int], tuple[int, str] | None]:
    """:meth:`ReadModelStore.get`'s result from one query's rows: tracking rows
    ``(application_name, offset, None)`` and at most one read-model row ``("", partition, json)``."""
    positions: dict[int, int] = {}
    row = None
    for label, number, value in rows:
        if value is not None:
            row = (number, value)
        else:
            parsed = split_tracking_name(label)
            if parsed is not None and parsed[0] == name:
                positions[parsed[1]] = number
    return positions, row


def tracking_name(name: str, partition: int) -> str:
    """The tracking table's ``application_name`` of one fold partition."""
    return f"{name}#{partition}"


def split_tracking_name(application_name: str) -> tuple[str, int] | None:
    """Inverse of :func:`tracking_name` (None for other rows, e.g. ``__migration__``)."""
    name, sep, partition = application_name.rpartition("#")
    if not sep or not partition.isdigit():
        return None
    return name, int(partition)
