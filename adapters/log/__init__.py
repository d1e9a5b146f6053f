"""Log engines behind the :mod:`chargelog.domain.log` port."""

from __future__ import annotations

from chargelog.adapters.config import Settings
from chargelog.domain.log import EventLog


def open_log(settings: Settings) -> EventLog:
    """The engine ``settings.log`` names: ``embedded`` (SQLite under ``data_dir``) or
    ``kafka://HOST:PORT``. Call ``await log.start()`` before use."""
    if settings.is_kafka:
        from .kafka import KafkaLog

        return KafkaLog(settings.kafka_bootstrap, topic_prefix=settings.topic_prefix,
                        partitions=settings.partitions)
    from .embedded import EmbeddedLog

    return EmbeddedLog(settings.data_dir)
