"""The PostgreSQL read-model store (read models in PostgreSQL for many nodes): the
store contract of tests/test_projections_store.py and a projection worker on it.

Collected only when ``CHARGELOG_TEST_POSTGRES_DSN`` is set (tests/conftest.py); then an
unreachable server FAILS the tests, never skips them. Each test works in its own schema.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from test_projections_store import CHECKS

from chargelog.adapters.store.postgres import PostgresReadModelStore

DSN = os.environ.get("CHARGELOG_TEST_POSTGRES_DSN", "")


@pytest.fixture
def pg_store() -> Iterator[PostgresReadModelStore]:
    schema = f"t{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(DSN, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL not reachable at CHARGELOG_TEST_POSTGRES_DSN={DSN!r}: {exc}")
    store = PostgresReadModelStore(DSN, schema=schema)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_postgres_store(check, pg_store: PostgresReadModelStore):
    check(pg_store)


async def test_worker_on_postgres_resumes_and_rebuilds(pg_store: PostgresReadModelStore, tmp_path):
    from chargelog.adapters.config import Settings
    from chargelog.adapters.log import open_log
    from chargelog.domain.log import DOMAIN, SOURCE
    from chargelog.projections.rebuild import rebuild
    from chargelog.projections.runner import ProjectionWorker
    from test_projections_runner import REGISTRY, expected_domain, session_trace, settle

    settings = Settings(log="embedded", data_dir=tmp_path / "data")
    log = open_log(settings)
    await log.start()
    try:
        await log.append(SOURCE, REGISTRY)
        source = session_trace("CP1", 31, "TAG1") + session_trace("CP2", 32, "TAG2", stop=False)
        await log.append(SOURCE, source)
        worker = ProjectionWorker(log, settings, store=pg_store)
        worker_store_close = pg_store.close
        pg_store.close = lambda: None  # the fixture closes it
        try:
            await worker.start()
            await settle(log, worker, len(expected_domain(source)))
        finally:
            await worker.stop()
            pg_store.close = worker_store_close
        live = pg_store.load("session_history")
        assert len(live[1]) == 2 and live[0] == dict((await log.latest(DOMAIN)).offsets)
        await rebuild(log, pg_store, "session_history")
        rebuilt = pg_store.load("session_history")
        assert (rebuilt[0], sorted(rebuilt[1])) == (live[0], sorted(live[1]))
        # the profile state (a projection of ``source``) too, and read back with its position
        profiles = pg_store.load("profile_state")
        assert {key for key, _, _ in profiles[1]} == {"CP1", "CP2"}
        assert profiles[0] == dict((await log.latest(SOURCE)).offsets)
        await rebuild(log, pg_store, "profile_state")
        assert sorted(pg_store.load("profile_state")[1]) == sorted(profiles[1])
        positions, (_, row) = pg_store.get("profile_state", "CP2")
        assert positions == profiles[0] and json.loads(row)["reservations"]["connectorStatus"]["1"] == "Charging"
    finally:
        await log.close()
