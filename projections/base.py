"""A fold whose state is a set of JSON rows keyed by string, each owned by one log partition.

Subclasses implement :meth:`RowFold.apply` (pure: no I/O) and may keep indexes through the
:meth:`RowFold.indexed`/:meth:`RowFold.unindexed` hooks. The runner tracks which keys changed
(:meth:`take_change`) and commits them with the fold's positions in one store transaction.

Positions: ``positions[partition]`` = records of that partition applied. A record at or
below it (``offset < positions[partition]``) is a duplicate delivery and is ignored
(:meth:`offer`).

Quarantine: an exception out of :meth:`RowFold.apply` is a defect, not bad input (the folds
are total over what the log can hold). :meth:`offer` then records the record in
:attr:`RowFold.quarantined` (consumer, stream, partition, offset, eventId, type, error),
counts it in ``chargelog_projection_quarantined_events_total`` and moves on: the stream never
stops. The quarantine is committed with the rows (store name ``"{fold}!quarantine"``) and
re-applied by :meth:`RowFold.retry` (``chargelog projections retry``). Changes the failed
``apply`` made before raising are undone where the fold implements :meth:`RowFold.save` /
:meth:`RowFold.restore` (the translator and the station map do; the session projections
derive and check a row on a copy before they store it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar

from chargelog.domain.envelope import Event
from chargelog.domain.log import Position, Record

from .health import QUARANTINED
from .store import Change

QUARANTINE_SUFFIX = "!quarantine"


def quarantine_name(name: str) -> str:
    """The store name of fold ``name``'s quarantined records."""
    return name + QUARANTINE_SUFFIX


def quarantine_key(partition: int, offset: int) -> str:
    """Key of one quarantined record: sorts by partition, then offset."""
    return f"{partition:05d}:{offset:015d}"


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
        #: Records whose ``apply`` raised, by :func:`quarantine_key`: JSON-native entries.
        self.quarantined: dict[str, dict[str, Any]] = {}
        self._quarantine_dirty: set[str] = set()

    # -- folding ----------------------------------------------------------------------------

    def offer(self, record: Record) -> bool:
        """Apply ``record`` unless already applied; True when applied."""
        partition = record.partition
        if record.offset < self.positions.get(partition, 0):
            return False
        self._partition = partition
        self._apply_or_quarantine(record)
        self.positions[partition] = record.offset + 1
        self._advanced.add(partition)
        return True

    def _apply_or_quarantine(self, record: Record) -> bool:
        """Apply ``record``; on an exception quarantine it instead. True when applied."""
        saved = self.save(record.event)
        try:
            self.apply_record(record)
        except Exception as exc:  # noqa: BLE001 - a defect: quarantine this one record, keep folding
            self.restore(record.event, saved)
            key = quarantine_key(record.partition, record.offset)
            self.quarantined[key] = {
                "consumer": self.name, "stream": self.stream, "partition": record.partition,
                "offset": record.offset, "position": f"{record.partition}-{record.offset}",
                "eventId": record.event.eventId, "type": record.event.type,
                "chargePointId": record.event.chargePointId,
                "error": f"{type(exc).__name__}: {exc}"[:1000],
            }
            self._quarantine_dirty.add(key)
            QUARANTINED.labels(self.name).inc()
            return False
        return True

    def apply_record(self, record: Record) -> None:
        """Fold one record (default: :meth:`apply` of its event); folds that need the
        record's position override it."""
        self.apply(record.event)

    def save(self, event: Event) -> Any:
        """Hook: what :meth:`restore` needs to undo a failed ``apply`` of ``event``."""
        return None

    def restore(self, event: Event, saved: Any) -> None:
        """Hook: undo what a failed ``apply`` of ``event`` changed, from :meth:`save`'s value."""

    def retry(self, record: Record) -> bool:
        """Re-apply a quarantined ``record`` (after a fix): True and released from the
        quarantine when it applies now; else its entry keeps the new error."""
        self.release(quarantine_key(record.partition, record.offset))
        self._partition = record.partition
        return self._apply_or_quarantine(record)

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

    def release(self, key: str) -> None:
        """Drop quarantine entry ``key`` (e.g. its record is no longer on the log)."""
        self.quarantined.pop(key, None)
        self._quarantine_dirty.add(key)

    def take_quarantine_change(self) -> Change:
        """The quarantine entries added or released since the last call (store name
        :func:`quarantine_name`)."""
        change = Change(quarantine_name(self.name))
        for key in self._quarantine_dirty:
            entry = self.quarantined.get(key)
            if entry is None:
                change.deletes.append(key)
            else:
                change.upserts.append((key, entry["partition"], json.dumps(entry, separators=(",", ":"))))
        self._quarantine_dirty.clear()
        return change

    def load_quarantine(self, rows: Iterable[tuple[str, int, str]]) -> None:
        """Add stored quarantine entries (for newly held partitions)."""
        for key, _, value in rows:
            self.quarantined[key] = json.loads(value)

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
        for key in [k for k, entry in self.quarantined.items() if entry["partition"] in partitions]:
            del self.quarantined[key]
            self._quarantine_dirty.discard(key)

    def take_touched(self) -> set[str]:
        """The keys changed since the last call (for query-side caches)."""
        touched, self.touched = self.touched, set()
        return touched

    def snapshot(self) -> dict[str, Any]:
        """Rows and positions, for comparing a rebuilt fold with a live one."""
        return {"rows": self.rows, "positions": Position(self.positions)}
