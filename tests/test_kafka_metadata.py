"""The Kafka engine's clients ask the broker for the metadata of this log's topics only, never
for every topic of the cluster (adapters/log/kafka.py; docs/log-engines.md "Kafka engine:
latency"): aiokafka refreshes a client that tracks no topic with the whole cluster's
metadata, parsed in the event loop — 0.2 s per refresh on a broker with 6,000 topics, which
made push latency on a shared broker 100× that on a private one (docs/benchmarks.md).

Real broker; every metadata request of every aiokafka client is recorded (not replaced)."""

from __future__ import annotations

import logging

import pytest
from aiokafka import AIOKafkaClient

from chargelog.adapters.log import open_log
from chargelog.adapters.log.kafka import KafkaLog
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE
from conftest import engine_settings


async def test_readers_and_the_admin_refresh_only_this_logs_topics(tmp_path, monkeypatch: pytest.MonkeyPatch):
    requested: list[list[str] | None] = []  # topics of each metadata request (None: every topic)
    update = AIOKafkaClient._metadata_update

    async def recorded(self: AIOKafkaClient, cluster_metadata, topics):  # noqa: ANN001
        requested.append(sorted(topics) if topics else None)
        return await update(self, cluster_metadata, topics)

    monkeypatch.setattr(AIOKafkaClient, "_metadata_update", recorded)
    log = open_log(engine_settings("kafka", tmp_path))
    assert isinstance(log, KafkaLog)
    await log.start()
    try:
        await log.append(SOURCE, [Event(type="test.event", chargePointId=f"CP{i}") for i in range(8)])
        for _ in range(3):  # what the live registry does every second
            end = await log.latest(SOURCE)
            assert len(await log.read(SOURCE, until=end, types=["test.event"], charge_point_id="CP1")) == 1
        # the refresh every client makes every metadata_max_age_ms (5 min), made now
        for reader in log._readers:
            await reader._client.force_metadata_update()
        await log._admin._client.force_metadata_update()
    finally:
        await log.close()
    assert None not in requested
    assert {topic for topics in requested for topic in topics or ()} <= {log.topic(SOURCE)}


def test_a_missing_topic_error_is_dropped_only_for_a_topic_being_created(caplog: pytest.LogCaptureFixture):
    """aiokafka's "Topic … not found in cluster metadata" is expected while this process creates
    that topic (the broker's metadata may lag the creation) and reported for any other."""
    from chargelog.adapters.log import kafka

    cluster_log = logging.getLogger("aiokafka.cluster")
    kafka._CREATING.topics.add("chargelog.new.source")
    try:
        with caplog.at_level(logging.ERROR, logger="aiokafka.cluster"):
            cluster_log.error("Topic %s not found in cluster metadata", "chargelog.new.source")
            cluster_log.error("Topic %s not found in cluster metadata", "someone.else")
    finally:
        kafka._CREATING.topics.discard("chargelog.new.source")
    assert [record.args[0] for record in caplog.records] == ["someone.else"]
