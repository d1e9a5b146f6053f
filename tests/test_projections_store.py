"""The read-model store contract (rows + positions in one transaction, positions only move
forward), on SQLite here and on PostgreSQL in tests/test_projections_postgres.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargelog.adapters.store.sqlite import SQLiteReadModelStore
from chargelog.projections.store import Change, ReadModelStore, StaleCommit


def loaded(store: ReadModelStore, name: str, partitions: set[int] | None = None):
    positions, rows = store.load(name, partitions)
    return positions, sorted(rows)


def check_commit_and_load(store: ReadModelStore) -> None:
    store.commit([Change("p", positions={0: 3, 1: 2}, upserts=[("a", 0, '{"x":1}'), ("b", 1, '{"x":2}')]),
                  Change("q", positions={0: 1}, upserts=[("a", 0, '{"y":1}')], extra={"q.extra#0": 9})])
    assert loaded(store, "p") == ({0: 3, 1: 2}, [("a", 0, '{"x":1}'), ("b", 1, '{"x":2}')])
    assert loaded(store, "p", {1}) == ({1: 2}, [("b", 1, '{"x":2}')])
    assert store.tracked("q.extra#0") == 9 and store.tracked("never#0") == 0
    store.commit([Change("p", positions={0: 4}, upserts=[("a", 0, '{"x":3}')], deletes=["b"])])
    assert loaded(store, "p") == ({0: 4, 1: 2}, [("a", 0, '{"x":3}')])
    assert store.positions()["q"] == {0: 1}


def check_stale_commit_writes_nothing(store: ReadModelStore) -> None:
    store.commit([Change("p", positions={0: 5}, upserts=[("a", 0, "1")])])
    with pytest.raises(StaleCommit):
        store.commit([Change("other", positions={0: 1}, upserts=[("z", 0, "1")]),
                      Change("p", positions={0: 5}, upserts=[("a", 0, "2")])])  # not beyond 5
    assert loaded(store, "p") == ({0: 5}, [("a", 0, "1")])
    assert loaded(store, "other") == ({}, [])


def check_reset_forgets_one_projection(store: ReadModelStore) -> None:
    store.commit([Change("p_1", positions={0: 2}, upserts=[("a", 0, "1")]),
                  Change("p", positions={0: 2}, upserts=[("a", 0, "1")])])
    store.reset("p")
    assert loaded(store, "p") == ({}, [])
    assert loaded(store, "p_1") == ({0: 2}, [("a", 0, "1")])  # LIKE wildcards are escaped
    store.commit([Change("p", positions={0: 1}, upserts=[("a", 0, "2")])])  # starts over
    assert loaded(store, "p") == ({0: 1}, [("a", 0, "2")])


def check_get_reads_one_row_with_the_positions(store: ReadModelStore) -> None:
    assert store.get("p", "a") == ({}, None)
    store.commit([Change("p", positions={0: 3, 1: 2}, upserts=[("a", 1, '{"x":1}'), ("b", 0, '{"x":2}')]),
                  Change("p_", positions={0: 9, 7: 1}, upserts=[("a", 0, '{"y":1}')])])
    assert store.get("p", "a") == ({0: 3, 1: 2}, (1, '{"x":1}'))
    assert store.get("p", "c") == ({0: 3, 1: 2}, None)
    assert store.get("p_", "a") == ({0: 9, 7: 1}, (0, '{"y":1}'))
    store.commit([Change("p", positions={1: 4}, deletes=["a"])])
    assert store.get("p", "a") == ({0: 3, 1: 4}, None)


CHECKS = [check_commit_and_load, check_stale_commit_writes_nothing, check_reset_forgets_one_projection,
          check_get_reads_one_row_with_the_positions]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_sqlite_store(check, tmp_path: Path):
    store = SQLiteReadModelStore(tmp_path / "rm.sqlite")
    try:
        check(store)
    finally:
        store.close()
