"""Read models in PostgreSQL (many nodes share one store): the ``eventsourcing`` library's
``PostgresTrackingRecorder`` (table ``projection_tracking``, single-row upsert that only moves
forward) plus a ``readmodel_rows`` table, written in one transaction. Same interface and
semantics as :mod:`chargelog.adapters.store.sqlite`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from chargelog.projections.store import (Change, StaleCommit, like_prefix, split_get, split_tracking_name,
                                         tracking_name)

TRACKING_TABLE = "projection_tracking"
ROWS_TABLE = "readmodel_rows"


class _Recorder(PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0}.{1} (projection text NOT NULL, key text NOT NULL, "
            "partition integer NOT NULL, value text NOT NULL, PRIMARY KEY (projection, key))"
        ).format(Identifier(datastore.schema), Identifier(ROWS_TABLE)))


class PostgresReadModelStore:
    """A :class:`~chargelog.projections.store.ReadModelStore` in the PostgreSQL database named
    by ``dsn`` (``postgresql://user:password@host:port/dbname`` or ``key=value`` form). Raises
    ``eventsourcing.persistence.OperationalError`` when the server cannot be reached."""

    def __init__(self, dsn: str, schema: str = "") -> None:
        params = conninfo_to_dict(dsn)
        self.datastore = PostgresDatastore(
            dbname=str(params.get("dbname", "postgres")), host=str(params.get("host", "localhost")),
            port=str(params.get("port", 5432)), user=str(params.get("user", "postgres")),
            password=str(params.get("password", "")), schema=schema, pool_size=2, max_overflow=2,
        )
        self.schema = Identifier(self.datastore.schema)
        self.recorder = _Recorder(self.datastore)
        self.recorder.create_table()

    def _sql(self, text: str) -> SQL:
        return SQL(text).format(schema=self.schema, rows=Identifier(ROWS_TABLE), tracking=Identifier(TRACKING_TABLE))

    def load(self, name: str, partitions: Iterable[int] | None = None) -> tuple[dict[int, int], list[tuple[str, int, str]]]:
        wanted = None if partitions is None else set(partitions)
        positions = {p: o for p, o in self.positions().get(name, {}).items() if wanted is None or p in wanted}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT key, partition, value FROM {schema}.{rows} WHERE projection = %s"), (name,))
            rows = [(r["key"], r["partition"], r["value"]) for r in curs.fetchall()
                    if wanted is None or r["partition"] in wanted]
        return positions, rows

    def get(self, name: str, key: str) -> tuple[dict[int, int], tuple[int, str] | None]:
        with self.datastore.transaction(commit=False) as curs:
            # one statement: positions and row from one snapshot
            curs.execute(self._sql(
                "SELECT application_name AS label, notification_id AS number, NULL AS value FROM {schema}.{tracking} "
                "WHERE application_name LIKE %s ESCAPE '!' "
                "UNION ALL SELECT '', partition, value FROM {schema}.{rows} WHERE projection = %s AND key = %s"),
                (like_prefix(name), name, key))
            return split_get(((r["label"], r["number"], r["value"]) for r in curs.fetchall()), name)

    def tracked(self, name: str) -> int:
        return self.recorder.max_tracking_id(name) or 0

    def commit(self, changes: Sequence[Change]) -> None:
        try:
            with self.datastore.transaction(commit=True) as curs:
                for change in changes:
                    for partition, offset in change.positions.items():
                        self.recorder._insert_tracking(curs, Tracking(tracking_name(change.name, partition), offset))
                    for extra, value in change.extra.items():
                        self.recorder._insert_tracking(curs, Tracking(extra, value))
                    if change.deletes:
                        curs.executemany(self._sql("DELETE FROM {schema}.{rows} WHERE projection = %s AND key = %s"),
                                         [(change.name, k) for k in change.deletes])
                    if change.upserts:
                        curs.executemany(self._sql(
                            "INSERT INTO {schema}.{rows} VALUES (%s, %s, %s, %s) ON CONFLICT (projection, key) "
                            "DO UPDATE SET partition = EXCLUDED.partition, value = EXCLUDED.value"),
                            [(change.name, k, p, v) for k, p, v in change.upserts])
        except IntegrityError as exc:
            raise StaleCommit(str(exc)) from exc

    def reset(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._sql("DELETE FROM {schema}.{rows} WHERE projection = %s"), (name,))
            curs.execute(self._sql("DELETE FROM {schema}.{tracking} WHERE application_name LIKE %s ESCAPE '!'"),
                         (like_prefix(name),))

    def positions(self) -> dict[str, dict[int, int]]:
        result: dict[str, dict[int, int]] = {}
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._sql("SELECT application_name, notification_id FROM {schema}.{tracking}"))
            for row in curs.fetchall():
                parsed = split_tracking_name(row["application_name"])
                if parsed is not None:
                    result.setdefault(parsed[0], {})[parsed[1]] = row["notification_id"]
        return result

    def close(self) -> None:
        self.datastore.close()
