"""Shared fixtures. ``log`` runs a test on both engines: the embedded SQLite engine in a
temporary data directory, and Kafka on the broker of ``infra/kafka.sh`` (``KAFKA_BOOTSTRAP``,
default 127.0.0.1:9092) with a fresh topic prefix. A missing broker fails the Kafka variant:
it never skips."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.domain.log import EventLog

KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
#: The PostgreSQL read-model store tests run only where a server is provided (CI installs one):
#: collected when CHARGELOG_TEST_POSTGRES_DSN is set, and then an unreachable server fails them.
collect_ignore = [] if os.environ.get("CHARGELOG_TEST_POSTGRES_DSN") else ["test_projections_postgres.py"]
ENGINES = ["embedded", "kafka"]


def require_kafka() -> str:
    """The broker address; fails the test (never skips) when nothing listens there."""
    host, port = KAFKA_BOOTSTRAP.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as exc:
        pytest.fail(f"Kafka broker not reachable at {KAFKA_BOOTSTRAP} (run infra/kafka.sh start): {exc}")
    return KAFKA_BOOTSTRAP


def engine_settings(engine: str, tmp_path: Path, **extra: object) -> Settings:
    """Settings for one engine: a private data dir, and for Kafka a private topic prefix."""
    if engine == "kafka":
        return Settings(log=f"kafka://{require_kafka()}", topic_prefix=f"t{uuid.uuid4().hex[:12]}",
                        partitions=4, data_dir=tmp_path / "data", **extra)
    return Settings(log="embedded", data_dir=tmp_path / "data", **extra)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(engine: str, tmp_path: Path) -> Settings:
    return engine_settings(engine, tmp_path)


@pytest.fixture
async def log(settings: Settings) -> AsyncIterator[EventLog]:
    event_log = open_log(settings)
    await event_log.start()
    try:
        yield event_log
    finally:
        await event_log.close()
