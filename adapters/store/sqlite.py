"""Read models in SQLite (embedded): the ``eventsourcing`` library's ``SQLiteTrackingRecorder``
(its ``tracking`` table, single-row upsert that only moves forward) plus a ``readmodel_rows``
table, written in one SQLite transaction (WAL journal)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from chargelog.projections.store import (Change, StaleCommit, like_prefix, split_get, split_tracking_name,
                                         tracking_name)

ROWS_TABLE = (
    "CREATE TABLE IF NOT EXISTS readmodel_rows ("
    "projection TEXT NOT NULL, key TEXT NOT NULL, partition INTEGER NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (projection, key)) WITHOUT ROWID"
)
ROWS_INDEX = "CREATE INDEX IF NOT EXISTS readmodel_rows_partition ON readmodel_rows (projection, partition)"


class _Recorder(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), ROWS_TABLE, ROWS_INDEX]


class SQLiteReadModelStore:
    """A :class:`~chargelog.projections.store.ReadModelStore` in the SQLite file ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.datastore = SQLiteDatastore(str(path), pool_size=4)
        self.recorder = _Recorder(self.datastore)
        self.recorder.create_table()

    def load(self, name: str, partitions: Iterable[int] | None = None) -> tuple[dict[int, int], list[tuple[str, int, str]]]:
        wanted = None if partitions is None else set(partitions)
        positions = {p: o for p, o in self.positions().get(name, {}).items() if wanted is None or p in wanted}
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key, partition, value FROM readmodel_rows WHERE projection = ?", (name,))
            rows = [(k, p, v) for k, p, v in c.fetchall() if wanted is None or p in wanted]
        return positions, rows

    def get(self, name: str, key: str) -> tuple[dict[int, int], tuple[int, str] | None]:
        with self.datastore.transaction(commit=False) as c:
            # one statement: positions and row from one snapshot
            c.execute("SELECT application_name, notification_id, NULL FROM tracking "
                      "WHERE application_name LIKE ? ESCAPE '!' "
                      "UNION ALL SELECT '', partition, value FROM readmodel_rows WHERE projection = ? AND key = ?",
                      (like_prefix(name), name, key))
            return split_get(c.fetchall(), name)

    def tracked(self, name: str) -> int:
        return self.recorder.max_tracking_id(name) or 0

    def commit(self, changes: Sequence[Change]) -> None:
        try:
            with self.datastore.transaction(commit=True) as c:
                for change in changes:
                    for partition, offset in change.positions.items():
                        self.recorder._insert_tracking(c, Tracking(tracking_name(change.name, partition), offset))
                    for extra, value in change.extra.items():
                        self.recorder._insert_tracking(c, Tracking(extra, value))
                    if change.deletes:
                        c.executemany("DELETE FROM readmodel_rows WHERE projection = ? AND key = ?",
                                      [(change.name, k) for k in change.deletes])
                    if change.upserts:
                        c.executemany("INSERT OR REPLACE INTO readmodel_rows VALUES (?, ?, ?, ?)",
                                      [(change.name, k, p, v) for k, p, v in change.upserts])
        except IntegrityError as exc:
            raise StaleCommit(str(exc)) from exc

    def reset(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM readmodel_rows WHERE projection = ?", (name,))
            c.execute("DELETE FROM tracking WHERE application_name LIKE ? ESCAPE '!'", (like_prefix(name),))

    def positions(self) -> dict[str, dict[int, int]]:
        result: dict[str, dict[int, int]] = {}
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT application_name, notification_id FROM tracking")
            for application_name, offset in c.fetchall():
                parsed = split_tracking_name(application_name)
                if parsed is not None:
                    result.setdefault(parsed[0], {})[parsed[1]] = offset
        return result

    def close(self) -> None:
        self.datastore.close()
