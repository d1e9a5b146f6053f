"""Read-model stores behind :class:`chargelog.projections.store.ReadModelStore`."""

from __future__ import annotations

from chargelog.adapters.config import Settings
from chargelog.projections.store import ReadModelStore


def open_store(settings: Settings) -> ReadModelStore:
    """PostgreSQL when ``settings.readmodel_dsn`` is set (``postgresql://…``), else SQLite at
    ``data_dir/readmodels.sqlite``. Raises the driver's connection error when unreachable."""
    if settings.readmodel_dsn:
        from .postgres import PostgresReadModelStore

        return PostgresReadModelStore(settings.readmodel_dsn)
    from .sqlite import SQLiteReadModelStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteReadModelStore(settings.data_dir / "readmodels.sqlite")
