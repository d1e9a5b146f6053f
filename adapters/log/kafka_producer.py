"""A self-healing idempotent Kafka producer for the Kafka log engine (../shared/DESIGN.md
"Faults of the log … degrade, never corrupt").

aiokafka's idempotent producer is unusable for good after some errors that Kafka's clients
document as fatal for a producer instance — ``OutOfOrderSequenceNumber`` (seen after a
broker restart once a batch expired client-side: its sequence numbers are gone, every later
batch is refused), ``UnknownProducerId``, ``ProducerFenced``/``InvalidProducerEpoch`` — and
its sender task then dies, so every later send fails. :class:`ResilientProducer` therefore
discards the producer instance after *any* failed send and builds a new one (a new producer
id, sequence numbers from 0), then re-sends exactly the records not yet acknowledged, with a
bounded exponential backoff (:data:`BACKOFF_MIN_S` … :data:`BACKOFF_MAX_S`) and a warning
naming what is retried. It retries until the records are acknowledged or :meth:`close` is
called; callers that must answer within a bound wrap the call in their own timeout.

Order: one partition's records are sent one batch after the other, the next only after the
previous was acknowledged, so a retry never puts a later record before an earlier one.

Duplicates: a send whose acknowledgement was lost (broker or connection gone after the
write) may have been written; the retry writes the same records (same ``eventId``, same
``recordedAt``) again, right after. Readers that must not count an event twice skip a
repeated ``eventId`` (docs/log-engines.md, "Broker outages").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chargelog.domain.backoff import backoff_s
from chargelog.domain.log import LogUnavailable

from .kafka_pacing import pace_metadata_refreshes

log = logging.getLogger("chargelog.log.kafka")

#: First pause before a retry (s); doubled per failed attempt up to :data:`BACKOFF_MAX_S`.
BACKOFF_MIN_S = 0.1
#: Longest pause between two attempts (s): bounds how late a retry notices the broker is back.
#: An attempt while the broker is down costs one refused connection, so 2 a second is cheap.
BACKOFF_MAX_S = 0.5
#: A batch not acknowledged within this long fails (ms; aiokafka's request timeout and batch
#: expiry). Short, so an outage is noticed and the instance replaced quickly.
REQUEST_TIMEOUT_MS = 5000
#: How long building a replacement instance may take before the attempt counts as failed (s):
#: short, so a broker that is back is noticed within about this plus :data:`BACKOFF_MAX_S`.
#: A refused connection fails at once; a build that runs out of this time (a broker that took
#: the connection but is still starting, or a starved machine) gets twice as long next time,
#: up to the connect timeout — so a slow start is waited for instead of being restarted
#: from scratch every few seconds.
REBUILD_TIMEOUT_S = 3.0
#: How long discarding a broken producer instance may take (s).
DISCARD_TIMEOUT_S = 2.0
#: Largest record batch sent at once (bytes).
MAX_BATCH_BYTES = 512 * 1024

#: (key, value, timestamp ms, headers) of one record.
Prepared = tuple[bytes, bytes, int, list[tuple[str, bytes]]]
#: Errors after which the send is retried on a new producer instance.
RETRIED = (KafkaError, OSError, TimeoutError)


class ProducerClosed(RuntimeError):
    """The producer was closed while records were still being retried."""


class ResilientProducer:
    """Sends records to Kafka with ``acks="all"`` and idempotence, replacing the producer
    instance after a failure (module docstring). ``unavailable``: why the last attempt
    failed while records are waiting for a retry (None when the last send succeeded)."""

    def __init__(self, bootstrap: str, *, client_id: str, connect_timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.connect_timeout_s = connect_timeout_s
        self.unavailable: str | None = None
        self.unavailable_since: float | None = None
        self.replaced = 0  # producer instances discarded after a failure
        self._producer: AIOKafkaProducer | None = None
        self._rebuild_timeout_s = REBUILD_TIMEOUT_S
        self._build_lock = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        """Build the first instance; raises LogUnavailable when no broker answers."""
        await self.ready()

    async def ready(self) -> AIOKafkaProducer:
        """The current producer instance, building one when there is none. Raises
        LogUnavailable when no broker answers within the connect timeout."""
        if self._closed:
            raise ProducerClosed("Kafka producer closed")
        if self._producer is not None:
            return self._producer
        async with self._build_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap, enable_idempotence=True, acks="all",
                    linger_ms=0, max_batch_size=MAX_BATCH_BYTES, client_id=self.client_id,
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                )
                pace_metadata_refreshes(producer.client)
                timeout_s = self.connect_timeout_s if self.replaced == 0 else self._rebuild_timeout_s
                try:
                    await asyncio.wait_for(producer.start(), timeout_s)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await self._discard(producer)
                    if isinstance(exc, TimeoutError):
                        self._rebuild_timeout_s = min(self.connect_timeout_s, 2 * self._rebuild_timeout_s)
                    raise LogUnavailable(
                        f"Kafka broker not reachable at {self.bootstrap} (waited at most "
                        f"{timeout_s:g} s): {exc or type(exc).__name__}") from exc
                self._producer = producer
                self._rebuild_timeout_s = REBUILD_TIMEOUT_S
            return self._producer

    async def send(self, topic: str, records: Mapping[int, Sequence[Prepared]]) -> dict[int, list[int]]:
        """Write ``records`` (per partition, in order) and return each record's offset, per
        partition, once all are acknowledged by every in-sync replica. Retries as the module
        docstring says; raises :class:`ProducerClosed` if closed meanwhile, ``ValueError``
        for a record larger than a batch."""
        offsets: dict[int, list[int]] = {p: [] for p in records}
        attempt = 0
        while True:
            pending = [p for p, rs in records.items() if len(offsets[p]) < len(rs)]
            if not pending:
                if self.unavailable is not None:
                    log.warning("Kafka at %s is back: appends acknowledged again after %.1f s",
                                self.bootstrap, time.monotonic() - (self.unavailable_since or time.monotonic()))
                self.unavailable = self.unavailable_since = None
                return offsets
            producer = None
            try:
                producer = await self.ready()
                results = await asyncio.gather(
                    *(self._send_partition(producer, topic, p, records[p], offsets[p]) for p in pending),
                    return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                for error in errors:
                    if not isinstance(error, RETRIED):
                        raise error
                if not errors:
                    continue
                raise errors[0]
            except RETRIED as exc:
                attempt += 1
                waiting = sum(len(records[p]) - len(offsets[p]) for p in pending)
                delay = backoff_s(attempt, BACKOFF_MIN_S, BACKOFF_MAX_S)
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                if self.unavailable is None:
                    self.unavailable_since = time.monotonic()
                self.unavailable = reason
                log.warning("Kafka append to %s failed (%s); retrying %d unacknowledged records of "
                            "partitions %s on a new idempotent producer in %.1f s (attempt %d)",
                            topic, reason, waiting, sorted(pending), delay, attempt)
                if producer is not None:
                    await self.discard()
                await asyncio.sleep(delay)
            if self._closed:
                raise ProducerClosed(f"Kafka producer closed with records for {topic} unacknowledged")

    async def _send_partition(self, producer: AIOKafkaProducer, topic: str, partition: int,
                              records: Sequence[Prepared], done: list[int]) -> None:
        """Send ``records[len(done):]`` one batch at a time, appending acknowledged offsets
        to ``done`` (so a retry resumes after the last acknowledged batch)."""
        while len(done) < len(records):
            batch = producer.create_batch()
            count = 0
            for key, value, timestamp_ms, headers in records[len(done):]:
                if batch.append(key=key, value=value, timestamp=timestamp_ms, headers=headers) is None:
                    break
                count += 1
            if count == 0:
                raise ValueError(f"a record of {len(records[len(done)][1])} bytes exceeds the Kafka batch size")
            sent = await asyncio.wait_for(producer.send_batch(batch, topic, partition=partition),
                                          REQUEST_TIMEOUT_MS / 1000)
            ack = await asyncio.wait_for(sent, 2 * REQUEST_TIMEOUT_MS / 1000)
            done.extend(range(ack.offset, ack.offset + count))

    async def discard(self) -> None:
        """Drop the current instance without waiting for its unsent batches (they fail)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            self.replaced += 1
            await self._discard(producer)

    @staticmethod
    async def _discard(producer: AIOKafkaProducer) -> None:
        # aiokafka has no abort: fail what its accumulator holds so stop() does not flush
        with contextlib.suppress(Exception):
            producer._message_accumulator.fail_all(KafkaError("producer instance replaced"))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), DISCARD_TIMEOUT_S)

    async def close(self) -> None:
        """Stop the instance (sends in retry raise :class:`ProducerClosed`)."""
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), DISCARD_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - the broker is away: drop what is left
                await self._discard(producer)

    @property
    def client(self) -> Any:
        """The current instance's cluster client (metadata), or None."""
        return self._producer.client if self._producer is not None else None
