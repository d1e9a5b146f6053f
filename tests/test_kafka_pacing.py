"""aiokafka clients of the Kafka engine pause between failed metadata refreshes while no
broker answers (adapters/log/kafka_pacing.py; docs/log-engines.md "Broker outages"):
without the pause a consumer retries at once, about 1,400 times a second per process.

Real aiokafka client against a real, closed loopback port. The assertion is a lower bound
on the time the failed refreshes take (the sum of the pauses), which a slow machine can
only make longer — never a flaky upper bound."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaClient

from chargelog.adapters.log.kafka_pacing import METADATA_BACKOFF_MAX_S, METADATA_BACKOFF_MIN_S, pace_metadata_refreshes
from processes import free_port


def _pauses(failures: int) -> float:
    return sum(min(METADATA_BACKOFF_MAX_S, METADATA_BACKOFF_MIN_S * 2 ** i) for i in range(failures))


async def test_failed_metadata_refreshes_are_paced():
    client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{free_port()}")  # nothing listens there
    pace_metadata_refreshes(client)
    began = time.monotonic()
    results = [await client._metadata_update(client.cluster, set()) for _ in range(6)]
    took = time.monotonic() - began
    assert results == [False] * 6
    assert took >= _pauses(6)  # 0.05 + 0.1 + 0.2 + 0.4 + 0.5 + 0.5 s
    await client.close()

