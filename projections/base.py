"""A fold whose state is a set of JSON rows keyed by string, each owned by one log partition.

Subclasses implement :meth:`RowFold.apply` (pure: no I/O) and may keep indexes through the
:meth:`RowFold.indexed`/:meth:`RowFold.unindexed` hooks. The runner tracks which keys changed
(:meth:`take_change`) and commits them with the fold's positions in one store transaction.

Positions: ``positions[partition]`` = records of that partition applied. A record at or
below it (``offset < positions[partition]``) is a duplicate delivery and is ignored
(:meth:`offer`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from chargelog.domain.envelope import Event
from chargelog.domain.log import Position, Record

from .store import Change


class RowFold:
    """Rows (``key`` → JSON-native dict) folded from one stream."""

    name: ClassVar[str] = "fold"
    stream: ClassVar[str] = "domain"
    #: The event types ``apply`` reacts to (None = all): a rebuild reads only these.
    types: ClassVar[frozenset[str] | None] = None

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.partition_of: dict[str, int] = {}
        self.positions: dict[int, int] = {}
        self.version: dict[str, int] = {}
        self._dirty: set[str] = set()
        #: Keys changed since a query cache last took them (:meth:`take_touched`).
        self.touched: set[str] = set()
        self._advanced: set[int] = set()
        self._clock = 0
        self._partition = 0

    # -- folding ----------------------------------------------------------------------------

    def offer(self, record: Record) -> bool:
        """Apply ``record`` unless already applied; True when applied."""
        partition = record.partition
        if record.offset < self.positions.get(partition, 0):
            return False
        self._partition = partition
        self.apply(record.event)
        self.positions[partition] = record.offset + 1
        self._advanced.add(partition)
        return True

    def apply(self, event: Event) -> None:
        """Fold one event (subclasses). Use :meth:`put`, :meth:`touch`, :meth:`delete`."""
        raise NotImplementedError

    def reached(self, position: Position) -> None:
        """Everything up to ``position`` has been considered (e.g. a rebuild that read only
        :attr:`types`): advance the stored positions to it."""
        for partition, offset in position.offsets.items():
            if offset > self.positions.get(partition, 0):
                self.positions[partition] = offset
                self._advanced.add(partition)

    @property
    def position(self) -> Position:
        """The position this fold reached (records applied per partition)."""
        return Position(self.positions)

    def put(self, key: str, row: dict[str, Any]) -> None:
        """Insert or replace a row (owned by the partition of the record being applied)."""
        old = self.rows.get(key)
        if old is not None and old is not row:
            self.unindexed(key, old)
        self.rows[key] = row
        self.partition_of[key] = self._partition
        if old is not row:
            self.indexed(key, row)
        self.touch(key)

    def touch(self, key: str) -> None:
        """Mark a row changed in place."""
        self._dirty.add(key)
        self.touched.add(key)
        self._clock += 1
        self.version[key] = self._clock

    def delete(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is not None:
            self.unindexed(key, row)
            self.partition_of.pop(key, None)
            self.touch(key)

    def indexed(self, key: str, row: dict[str, Any]) -> None:
        """Hook: ``row`` was stored under ``key``."""

    def unindexed(self, key: str, row: dict[str, Any]) -> None:
        """Hook: ``row`` is leaving ``key``."""

    # -- persistence ------------------------------------------------------------------------

    def take_change(self) -> Change:
        """The rows and positions changed since the last call (then forgets them)."""
        change = Change(self.name, positions={p: self.positions[p] for p in self._advanced})
        for key in self._dirty:
            row = self.rows.get(key)
            if row is None:
                change.deletes.append(key)
            else:
                change.upserts.append((key, self.partition_of[key], self.encode_row(row)))
        self._dirty.clear()
        self._advanced.clear()
        return change

    def encode_row(self, row: Any) -> str:
        """A row as stored (JSON text)."""
        return json.dumps(row, separators=(",", ":"))

    def decode_row(self, text: str) -> Any:
        """Inverse of :meth:`encode_row`."""
        return json.loads(text)

    def load(self, positions: dict[int, int], rows: Iterable[tuple[str, int, str]]) -> None:
        """Add stored rows and positions (for newly held partitions)."""
        self.positions.update(positions)
        for key, partition, value in rows:
            self._partition = partition
            self.put(key, self.decode_row(value))
            self._dirty.discard(key)

    def drop(self, partitions: set[int]) -> None:
        """Forget the rows and positions of ``partitions`` (no longer held)."""
        for key in [k for k, p in self.partition_of.items() if p in partitions]:
            row = self.rows.pop(key)
            self.partition_of.pop(key)
            self.unindexed(key, row)
            self._dirty.discard(key)
            self.touched.add(key)
        for p in partitions:
            self.positions.pop(p, None)
            self._advanced.discard(p)

    def take_touched(self) -> set[str]:
        """The keys changed since the last call (for query-side caches)."""
        touched, self.touched = self.touched, set()
        return touched

    def snapshot(self) -> dict[str, Any]:
        """Rows and positions, for comparing a rebuilt fold with a live one."""
        return {"rows": self.rows, "positions": Position(self.positions)}
