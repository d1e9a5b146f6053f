"""Apache Kafka log engine (aiokafka): the :class:`~chargelog.domain.log.EventLog` port for
more than one machine (../shared/DESIGN.md "The log is the system of
record").

Mapping (see docs/log-engines.md):

* stream ``s`` → topic ``{topic_prefix}.{s}``, created with ``partitions`` partitions when
  missing (stream ``txids``: always 1 partition, so its offsets are a total order);
* record key = ``chargePointId`` (UTF-8), so one charge point's events share a partition and
  are totally ordered; value = the JSON envelope; header ``type`` = the event type (filters
  skip records without decoding them); record timestamp (CreateTime, ms) = ``recordedAt``,
  which the engine sets at append time, rounded up to a whole millisecond so the two agree;
* producer: idempotent, ``acks="all"`` — ``append`` returns once the broker has the records
  on every in-sync replica (acknowledge after durable). After any failed send the producer
  instance is replaced and the unacknowledged records re-sent, in order, until acknowledged
  (:mod:`.kafka_producer`); ``unavailable`` says why while that lasts;
* a :class:`~chargelog.domain.log.Position` is a per-partition offset vector
  ``{partition: next offset}``; ``latest`` = the end offsets (high watermarks);
  ``position_at`` = ``offsets_for_times``;
* ``group_subscribe``: a Kafka consumer group for projection workers; the worker's own store
  holds the authoritative positions (``start_positions``), committed offsets are only for lag
  visibility (at most once a second);
* every reader has a consumer of its own, but a record is decoded once per process
  (:mod:`.kafka_decoded`); no client is ever left without topics, since aiokafka refreshes
  such a client with the metadata of every topic of the cluster (docs/log-engines.md,
  "Kafka engine: latency settings").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from chargelog.domain.envelope import Event, EventDecodeError, new_event_id, utcnow
from chargelog.domain.log import RAW_BATCH, START, LogUnavailable, Position, PositionNotAvailable, RawBatch, Record

from .chaining import ChainSealer, SealBatch
from .group_commit import GroupCommit
from .kafka_decoded import DecodedRecords
from .kafka_pacing import pace_metadata_refreshes
from .kafka_producer import ResilientProducer

log = logging.getLogger(__name__)

#: Streams whose topic always has exactly one partition (contracts.md: ``txids``).
SINGLE_PARTITION_STREAMS = frozenset({"txids"})
#: How long ``start`` (and a new reader) may take to reach the broker before
#: :class:`LogUnavailable` (s).
CONNECT_TIMEOUT_S = 10.0
#: How long ``close`` waits for appends still in progress (s).
CLOSE_DRAIN_S = 1.0
#: How long ``close`` waits for one client to stop (s).
CLOSE_CLIENT_S = 2.0
#: A consumer-group member that stops heartbeating (e.g. a worker killed with SIGKILL) holds
#: its partitions this long (ms; the broker's group.min.session.timeout.ms is 6000).
GROUP_SESSION_TIMEOUT_MS = 6000
#: Least time between two offset commits of a consumer-group member (s; the committed offsets
#: only show the lag: the worker's store holds its positions).
OFFSET_COMMIT_INTERVAL_S = 1.0
#: Most events gathered into one group-committed send.
MAX_GROUP_EVENTS = 4000
#: A bounded ``read`` gives up with :class:`LogUnavailable` after this long without a record (s).
READ_STALL_TIMEOUT_S = 30.0
#: Started reader consumers kept for reuse by ``read``/``latest``/``position_at``.
READER_POOL_SIZE = 4
#: Bytes fetched per partition and request by bounded reads (a page, not the whole backlog).
READ_FETCH_BYTES = 256 * 1024
#: Bytes a bulk scan (``scan_raw``: verify, export) fetches per partition and per request.
SCAN_PARTITION_FETCH_BYTES = 16 * 1024 * 1024
SCAN_FETCH_BYTES = 64 * 1024 * 1024
#: Records taken from the consumer at a time by subscriptions.
FETCH_BATCH = 500
#: TopicAlreadyExists (Kafka protocol error code).
_TOPIC_ALREADY_EXISTS = 36


class _TopicsBeingCreated(logging.Filter):
    """Drops aiokafka's ERROR "Topic … not found in cluster metadata" for a topic this process
    is creating right now: a metadata refresh may reach the broker before the new topic is in
    its metadata (it is retried until the topic has leaders, :meth:`KafkaLog._partitions`), so
    the line is expected there and would read as a fault. For any other topic it passes."""

    def __init__(self) -> None:
        super().__init__()
        self.topics: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Topic %s not found in cluster metadata"
                    and isinstance(record.args, tuple) and record.args and record.args[0] in self.topics)


_CREATING = _TopicsBeingCreated()
logging.getLogger("aiokafka.cluster").addFilter(_CREATING)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _to_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, rounded up (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole, rest = divmod(moment - _EPOCH, _MS)
    return max(0, whole + (1 if rest else 0))


async def _stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a consumer within :data:`CLOSE_CLIENT_S` (a broker that is away may not answer)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(consumer.stop(), CLOSE_CLIENT_S)


StartPositions = Callable[[set[int]], Awaitable[Position]]
OnRevoked = Callable[[set[int]], Awaitable[None]]


class KafkaLog:
    """The log port on Apache Kafka at ``bootstrap`` (``"HOST:PORT[,HOST:PORT]"``).

    ``partitions``: partition count for topics this engine creates; ``replication_factor``:
    their replication (1 for the single-node broker of ``infra/kafka.sh``). Raises
    :class:`~chargelog.domain.log.LogUnavailable` (naming ``bootstrap``) from ``start`` when
    no broker answers within :data:`CONNECT_TIMEOUT_S`.
    """

    def __init__(
        self, bootstrap: str, *, topic_prefix: str = "chargelog", partitions: int = 8,
        replication_factor: int = 1,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic_prefix = topic_prefix
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._producer: ResilientProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._topics: dict[str, list[int]] = {}
        self._topic_lock = asyncio.Lock()
        self._readers: list[AIOKafkaConsumer] = []
        self._commits: dict[str, GroupCommit] = {}
        self._chains: dict[str, ChainSealer] = {}
        self._last_recorded_ms = 0
        self._partitioner = DefaultPartitioner()
        self._partition_cache: dict[tuple[int, str], int] = {}
        self._decoded = DecodedRecords()

    @property
    def unavailable(self) -> str | None:
        """Why appends are waiting for the broker (the last failed attempt), else None."""
        return self._producer.unavailable if self._producer is not None else None

    def topic(self, stream: str) -> str:
        """The Kafka topic of ``stream``: ``{topic_prefix}.{stream}``."""
        return f"{self.topic_prefix}.{stream}"

    # -- lifecycle ---------------------------------------------------------------------

    async def _connect(self, client: Any) -> None:
        """Start an aiokafka client within the connect timeout or raise LogUnavailable."""
        try:
            await asyncio.wait_for(client.start(), CONNECT_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
            raise LogUnavailable(
                f"Kafka broker not reachable at {self.bootstrap} (waited at most {CONNECT_TIMEOUT_S:g} s): "
                f"{exc or type(exc).__name__}") from exc

    async def start(self) -> None:
        """Connect the producer and the admin client; idempotent. Raises LogUnavailable."""
        if self._producer is not None:
            return
        producer = ResilientProducer(self.bootstrap, client_id="chargelog", connect_timeout_s=CONNECT_TIMEOUT_S)
        await producer.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="chargelog-admin")
        pace_metadata_refreshes(admin._client)
        try:
            await self._connect(admin)
        except LogUnavailable:
            await producer.close()
            raise
        self._producer, self._admin = producer, admin

    async def close(self) -> None:
        """Give appends in progress up to :data:`CLOSE_DRAIN_S` to be acknowledged (logging
        how many were not), then close every client this engine holds (not subscriptions:
        close those with ``aclose()``). Bounded whatever the broker's state."""
        commits, self._commits = self._commits, {}
        for stream, commit in commits.items():
            lost = await commit.close(drain_s=CLOSE_DRAIN_S)
            if lost:
                log.error("closing the Kafka log: %d appends to stream %r were not acknowledged by %s "
                          "(%s) and are not in the log", lost, stream, self.bootstrap, self.unavailable or "closed")
        readers, self._readers = self._readers, []
        for consumer in readers:
            await _stop_quietly(consumer)
        if self._producer is not None:
            await self._producer.close()
            self._producer = None
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._admin.close(), CLOSE_CLIENT_S)
            self._admin = None

    def _started(self) -> tuple[ResilientProducer, AIOKafkaAdminClient]:
        if self._producer is None or self._admin is None:
            raise RuntimeError("KafkaLog.start() was not awaited")
        return self._producer, self._admin

    async def _partitions(self, stream: str) -> list[int]:
        """The partition ids of ``stream``'s topic, creating the topic when missing."""
        known = self._topics.get(stream)
        if known is not None:
            return known
        producer, admin = self._started()
        async with self._topic_lock:
            if stream not in self._topics:
                topic = self.topic(stream)
                count = 1 if stream in SINGLE_PARTITION_STREAMS else self.partitions
                _CREATING.topics.add(topic)
                try:
                    response = await admin.create_topics([NewTopic(topic, count, self.replication_factor)])
                    for name, code, *message in response.topic_errors:
                        if code not in (0, _TOPIC_ALREADY_EXISTS):
                            raise LogUnavailable(f"cannot create Kafka topic {name!r} at {self.bootstrap}: "
                                                 f"error {code} {message}")
                    # tracked, so that the admin client's metadata refreshes ask for this log's
                    # topics: aiokafka refreshes a client without topics with the metadata of
                    # *every* topic of the cluster, parsed in this event loop (0.2 s with 6,000)
                    await admin._client.add_topic(topic)
                    current = await producer.ready()
                    partitions = sorted(await current.partitions_for(topic))
                    await self._wait_for_leaders(current, topic, partitions)
                finally:
                    _CREATING.topics.discard(topic)
                self._topics[stream] = partitions
            return self._topics[stream]

    async def _wait_for_leaders(self, producer: AIOKafkaProducer, topic: str, partitions: list[int]) -> None:
        """Refresh metadata until every partition of a (new) topic has a leader, so the first
        sends are not bounced with NotLeaderForPartition (bounded by CONNECT_TIMEOUT_S)."""
        cluster = producer.client.cluster
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            while any(cluster.leader_for_partition(TopicPartition(topic, p)) in (None, -1) for p in partitions):
                await producer.client.force_metadata_update()

    # -- appending ---------------------------------------------------------------------

    def _stamp(self) -> tuple[datetime, int]:
        """``recordedAt`` for the next event, and as ms since the epoch: now rounded up to a
        whole ms (so never before an ``occurredAt`` taken earlier), never before the previous one."""
        ms = max(_to_ms(utcnow()), self._last_recorded_ms)
        self._last_recorded_ms = ms
        return _EPOCH + ms * _MS, ms

    def _record(self, event: Event, sealing: SealBatch) -> tuple[bytes, bytes, int, list[tuple[str, bytes]]]:
        """(key, value, timestamp ms, headers) of ``event`` stamped with ``recordedAt`` now and
        sealed into its charge point's chain of this writer (:mod:`.chaining`)."""
        recorded, ms = self._stamp()
        value, _ = sealing.seal(event.model_copy(update={"recordedAt": recorded, "chain": None}))
        return event.chargePointId.encode(), value, ms, [("type", event.type.encode())]

    async def append(self, stream: str, events: Sequence[Event]) -> list[Position]:
        """See the port. Concurrent appends to one stream are group-committed
        (:mod:`.group_commit`) into one :meth:`_send` while the previous one is in flight."""
        if not events:
            return []
        commit = self._commits.get(stream)
        if commit is None:
            commit = self._commits[stream] = GroupCommit(
                lambda batch: self._send(stream, batch), max_events=MAX_GROUP_EVENTS, name=f"kafka:{stream}")
        return await commit.append(events)

    async def _send(self, stream: str, events: Sequence[Event]) -> list[Position]:
        """Split ``events`` per partition (the producer's murmur2 key partitioner), stamp each
        once (a retry re-sends the same ``recordedAt``), seal it into this writer's chain of its
        charge point (:mod:`.chaining`) and send them with :meth:`ResilientProducer.send` — which
        retries until every record is acknowledged (``acks="all"``). Raises ``ProducerClosed``
        when the log is closed meanwhile; the chains then go on under a new writer id."""
        producer, _ = self._started()
        partitions = self._topics.get(stream) or await self._partitions(stream)
        sealer = self._chains.get(stream)
        if sealer is None:
            sealer = self._chains[stream] = ChainSealer(new_event_id())
        sealing = sealer.batch()
        by_partition: dict[int, list[Any]] = {}
        placed: list[tuple[int, int]] = []  # (partition, index within it) per event
        for event in events:
            partition = self.partition_of(partitions, event.chargePointId)
            records = by_partition.setdefault(partition, [])
            placed.append((partition, len(records)))
            records.append(self._record(event, sealing))
        try:
            offsets = await producer.send(self.topic(stream), by_partition)
        except BaseException:
            sealer.forget(new_event_id())
            raise
        sealing.commit()
        return [Position({p: offsets[p][i] + 1}) for p, i in placed]

    # -- reading -----------------------------------------------------------------------

    def _consumer(self, **extra: Any) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, client_id="chargelog",
            auto_offset_reset="earliest", **{"max_partition_fetch_bytes": 4 * 1024 * 1024, **extra},
        )
        pace_metadata_refreshes(consumer._client)
        return consumer

    @contextlib.asynccontextmanager
    async def _reader(self) -> AsyncIterator[AIOKafkaConsumer]:
        """A started group-less consumer from the pool, returned to it afterwards."""
        self._started()
        consumer = self._readers.pop() if self._readers else None
        if consumer is None:
            # bounded reads take a page at a time: fetch little per partition
            consumer = self._consumer(fetch_max_wait_ms=100, max_partition_fetch_bytes=READ_FETCH_BYTES)
            await self._connect(consumer)
        ok = False
        try:
            yield consumer
            ok = True
        except (PositionNotAvailable, EventDecodeError):
            ok = True  # the consumer is fine: only the request was not
            raise
        finally:
            if ok and len(self._readers) < READER_POOL_SIZE and self._producer is not None:
                # paused, not unsubscribed: aiokafka's unsubscribe clears the client's topics,
                # and a client without topics refreshes the metadata of *every* topic of the
                # cluster — parsed in this event loop, 0.2 s per refresh with 6,000 topics
                # (docs/benchmarks.md, "Kafka latency"). The next ``assign`` replaces this one.
                consumer.pause(*consumer.assignment())
                self._readers.append(consumer)
            else:
                await _stop_quietly(consumer)

    async def _bounds(
        self, consumer: AIOKafkaConsumer, stream: str,
    ) -> tuple[list[TopicPartition], dict[int, int], dict[int, int]]:
        """The topic's partitions with their log start and end (high watermark) offsets."""
        topic = self.topic(stream)
        tps = [TopicPartition(topic, p) for p in await self._partitions(stream)]
        begin = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        return tps, {tp.partition: o for tp, o in begin.items()}, {tp.partition: o for tp, o in end.items()}

    def _check(self, stream: str, after: Position, begin: dict[int, int], end: dict[int, int]) -> None:
        """Raise PositionNotAvailable unless every component of ``after`` lies in
        [log start offset, end offset] of an existing partition."""
        for p, o in after.offsets.items():
            if p not in end:
                raise PositionNotAvailable(
                    f"position {after} names partition {p}; stream {stream!r} has partitions "
                    f"{sorted(end)}")
            if o > end[p]:
                raise PositionNotAvailable(
                    f"position {after} is beyond the end of stream {stream!r} (partition {p} ends at {end[p]})")
        for p, start in begin.items():
            if after.get(p) < start:
                raise PositionNotAvailable(
                    f"position {after} is before the start of stream {stream!r} (partition {p} starts at {start})")

    def _decode(self, message: ConsumerRecord, progress: Position) -> Record:
        """A record, decoded once per process (:mod:`.kafka_decoded`), whose decode errors name
        the position just past it (as ``append`` returned)."""
        event = self._decoded.event(message.topic, message.partition, message.offset, message.value)
        return Record(event, message.partition, message.offset, progress)

    @staticmethod
    def _wanted(message: ConsumerRecord, types: frozenset[bytes], key: bytes | None) -> bool:
        if key is not None and message.key != key:
            return False
        if not types:
            return True
        for name, value in message.headers or ():
            if name == "type":
                return value in types
        return True  # no header (not written by this engine): decode and let the caller see it

    def partition_of(self, partitions: list[int], charge_point_id: str) -> int:
        """The partition the producer's default (murmur2) partitioner gives ``charge_point_id``."""
        cache_key = (len(partitions), charge_point_id)
        partition = self._partition_cache.get(cache_key)
        if partition is None:
            if len(self._partition_cache) > 100_000:
                self._partition_cache.clear()
            partition = self._partition_cache[cache_key] = self._partitioner(
                charge_point_id.encode(), partitions, partitions)
        return partition

    async def read(
        self, stream: str, after: Position = START, *, limit: int | None = None,
        until: Position | None = None, types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> list[Record]:
        """See the port. ``types`` keeps only those event types (by record header, without
        decoding the others) and ``charge_point_id`` only that charge point (only its partition
        is read); ``limit`` counts kept records. Each record's ``position`` is the read's
        progress vector (``after`` advanced past it), so the last one resumes the next page.
        Records of different partitions are interleaved in fetch order; within a partition,
        in offset order."""
        if limit == 0:
            return []
        records: list[Record] = []
        async with self._reader() as consumer:
            async with contextlib.aclosing(
                    self._scan(consumer, stream, after, until, types, charge_point_id)) as scan:
                async for record in scan:
                    records.append(record)
                    if len(records) == limit:
                        break
        return records

    async def scan(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> AsyncIterator[Record]:
        """``read`` without a limit, as a stream: every kept record after ``after`` up to
        ``until`` (default: the end when called), decoded one at a time on a consumer of its
        own (for exports such as ``chargelog events``). Raises as ``read``."""
        async for record in self._scan_own(stream, after, until, types, charge_point_id):
            yield record

    async def scan_raw(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None, batch: int = RAW_BATCH,
    ) -> AsyncIterator[RawBatch]:
        """See the port: the records of ``scan``, undecoded, keyed by their record key, one
        :class:`RawBatch` per partition and fetch (large fetches: up to
        :data:`SCAN_PARTITION_FETCH_BYTES` per partition), split at ``batch`` records."""
        consumer = self._consumer(fetch_max_wait_ms=100, max_partition_fetch_bytes=SCAN_PARTITION_FETCH_BYTES,
                                  fetch_max_bytes=SCAN_FETCH_BYTES)
        await self._connect(consumer)
        try:
            progress = after
            async for p, messages, reached in self._fetched(consumer, stream, after, until, types, charge_point_id,
                                                            batch):
                for start in range(0, len(messages), batch):
                    part = messages[start:start + batch]
                    before = progress
                    progress = progress.advanced(p, reached if start + batch >= len(messages)
                                                 else part[-1].offset + 1)
                    yield RawBatch(p, [(m.key or b"-").decode(errors="replace") for m in part],
                                   [m.value for m in part], [m.offset for m in part], before, progress)
                progress = progress.advanced(p, reached)
        finally:
            await _stop_quietly(consumer)

    async def _scan_own(
        self, stream: str, after: Position, until: Position | None, types: Sequence[str],
        charge_point_id: str | None,
    ) -> AsyncIterator[Record]:
        consumer = self._consumer(fetch_max_wait_ms=100)
        await self._connect(consumer)
        try:
            async with contextlib.aclosing(
                    self._scan(consumer, stream, after, until, types, charge_point_id)) as scan:
                async for record in scan:
                    yield record
        finally:
            await _stop_quietly(consumer)

    async def _fetched(
        self, consumer: AIOKafkaConsumer, stream: str, after: Position, until: Position | None,
        types: Sequence[str], charge_point_id: str | None, max_records: int,
    ) -> AsyncIterator[tuple[int, list[ConsumerRecord], int]]:
        """The bounded read under ``read``, ``scan`` and ``scan_raw``: assign ``consumer`` the
        partitions with records between ``after`` and the stop offsets (``until``, default the
        end now; only ``charge_point_id``'s partition when given), seek, and fetch until every
        one reached its stop; per partition and fetch: (partition, the kept records in offset
        order — ``types`` by header, ``charge_point_id`` by key, without decoding —, the offset
        read up to). Raises PositionNotAvailable as ``read``, LogUnavailable after a stall."""
        tps, begin, end = await self._bounds(consumer, stream)
        self._check(stream, after, begin, end)
        if charge_point_id is not None:
            only = self.partition_of([tp.partition for tp in tps], charge_point_id)
            tps = [tp for tp in tps if tp.partition == only]
        stop = {tp.partition: min(end[tp.partition], until.get(tp.partition)) if until is not None
                else end[tp.partition] for tp in tps}
        pending = [tp for tp in tps if after.get(tp.partition) < stop[tp.partition]]
        if not pending:
            return
        consumer.assign(pending)
        for tp in pending:
            consumer.seek(tp, after.get(tp.partition))
        type_set = frozenset(t.encode() for t in types)
        key = charge_point_id.encode() if charge_point_id is not None else None
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=int(READ_STALL_TIMEOUT_S * 1000),
                                             max_records=max_records)
            if not batches:
                raise LogUnavailable(f"no records from {self.bootstrap} for {READ_STALL_TIMEOUT_S:g} s "
                                     f"while reading stream {stream!r}")
            for tp, messages in batches.items():
                if not messages:
                    continue
                last = stop[tp.partition]
                if messages[-1].offset >= last:
                    messages = [m for m in messages if m.offset < last]
                    reached = last
                else:
                    reached = messages[-1].offset + 1
                if reached >= last:
                    pending.remove(tp)
                if type_set or key is not None:
                    messages = [m for m in messages if self._wanted(m, type_set, key)]
                yield tp.partition, messages, reached

    async def _scan(
        self, consumer: AIOKafkaConsumer, stream: str, after: Position, until: Position | None,
        types: Sequence[str], charge_point_id: str | None,
    ) -> AsyncIterator[Record]:
        """``read`` and ``scan``: the kept records of :meth:`_fetched`, decoded, each with the
        read's progress vector just past it."""
        progress = after
        async for p, messages, reached in self._fetched(consumer, stream, after, until, types, charge_point_id,
                                                        FETCH_BATCH):
            for message in messages:
                progress = progress.advanced(p, message.offset + 1)
                yield self._decode(message, progress)
            progress = progress.advanced(p, reached)

    async def history(self, stream: str, charge_point_id: str) -> list[Event]:
        """Every event of one charge point in order (a scan of its partition, for audits)."""
        return [r.event for r in await self.read(stream, charge_point_id=charge_point_id)]

    async def latest(self, stream: str) -> Position:
        """See the port: the end offsets (high watermarks) of every partition."""
        async with self._reader() as consumer:
            _, _, end = await self._bounds(consumer, stream)
        return Position(end)

    async def position_at(self, stream: str, timestamp: datetime) -> Position:
        """See the port: per partition, ``offsets_for_times`` at ``timestamp`` rounded up to a
        whole ms (``recordedAt`` is whole ms, so this is exact); the end offset where none."""
        target = _to_ms(timestamp)
        async with self._reader() as consumer:
            tps, _, end = await self._bounds(consumer, stream)
            found = await consumer.offsets_for_times({tp: target for tp in tps})
        return Position({tp.partition: found[tp].offset if found.get(tp) else end[tp.partition] for tp in tps})

    async def subscribe(self, stream: str, after: Position = START, *,
                        types: Sequence[str] = ()) -> AsyncIterator[Record]:
        """See the port (``types`` is not used: every record comes). One consumer per
        subscription, assigned every partition (as the topic has at subscription time) and
        seeked to ``after``; each record's ``position`` is the subscription's whole progress
        vector. Raises PositionNotAvailable as ``read``."""
        consumer = self._consumer(fetch_max_wait_ms=200)
        await self._connect(consumer)
        try:
            tps, begin, end = await self._bounds(consumer, stream)
            self._check(stream, after, begin, end)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, after.get(tp.partition))
            progress = after
            while True:
                # small batches: thousands of fetched records alive at once would survive young
                # GC collections and slow the catch-up down (docs/benchmarks.md)
                batches = await consumer.getmany(timeout_ms=1000, max_records=FETCH_BATCH)
                for tp, messages in batches.items():
                    for message in messages:
                        if message.offset < progress.get(tp.partition):
                            continue
                        progress = progress.advanced(tp.partition, message.offset + 1)
                        yield self._decode(message, progress)
        finally:
            await _stop_quietly(consumer)

    # -- consumer groups ---------------------------------------------------------------

    async def group_subscribe(
        self, stream: str, group_id: str, start_positions: StartPositions,
        on_revoked: OnRevoked | None = None,
    ) -> AsyncIterator[Record]:
        """Join consumer group ``group_id`` on ``stream`` and yield the records of the
        partitions this member holds, forever (close with ``aclose()``, which leaves the group).

        On each assignment it awaits ``start_positions(partitions)`` — the positions the worker
        stored with its read model — and seeks those partitions there; ``on_revoked(partitions)``
        is awaited before partitions go to another member. Exactly-once effect is the worker's
        store transaction; offsets are also committed to Kafka after records were processed,
        for lag visibility only. Each record's ``position`` is this member's progress over the
        partitions it currently holds. An error raised by either callback is raised here.
        """
        await self._partitions(stream)
        consumer = self._consumer(group_id=group_id, session_timeout_ms=GROUP_SESSION_TIMEOUT_MS,
                                  heartbeat_interval_ms=1_000, fetch_max_wait_ms=200)
        listener = _GroupListener(consumer, start_positions, on_revoked)
        consumer.subscribe([self.topic(stream)], listener=listener)
        await self._connect(consumer)
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=FETCH_BATCH)
                listener.raise_error()
                epoch = listener.epoch
                for tp, messages in batches.items():
                    for message in messages:
                        if listener.epoch != epoch or tp.partition not in listener.progress:
                            break  # rebalanced meanwhile: the seek re-fetches what is still ours
                        if message.offset < listener.progress[tp.partition]:
                            continue
                        listener.progress[tp.partition] = message.offset + 1
                        yield self._decode(message, Position(listener.progress))
                        listener.raise_error()
                await listener.commit()
        finally:
            await _stop_quietly(consumer)


class _GroupListener(ConsumerRebalanceListener):
    """Seeks newly assigned partitions to the worker's stored positions; tracks progress."""

    def __init__(self, consumer: AIOKafkaConsumer, start_positions: StartPositions,
                 on_revoked: OnRevoked | None) -> None:
        self.consumer = consumer
        self.start_positions = start_positions
        self.on_revoked = on_revoked
        self.progress: dict[int, int] = {}
        self.epoch = 0
        self.error: BaseException | None = None
        self.committed_at = -OFFSET_COMMIT_INTERVAL_S

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self.epoch += 1
        partitions = {tp.partition for tp in revoked}
        for p in partitions:
            self.progress.pop(p, None)
        if partitions and self.on_revoked is not None:
            try:
                await self.on_revoked(partitions)
            except Exception as exc:  # noqa: BLE001 - aiokafka would only log it
                self.error = exc

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self.epoch += 1
        tps = list(assigned)
        if not tps:
            return
        try:
            start = await self.start_positions({tp.partition for tp in tps})
        except Exception as exc:  # noqa: BLE001 - aiokafka would only log it
            self.error = exc
            self.consumer.pause(*tps)
            return
        for tp in tps:
            self.consumer.seek(tp, start.get(tp.partition))
            self.progress[tp.partition] = start.get(tp.partition)

    async def commit(self) -> None:
        """Commit the progress of held partitions (lag visibility; failures are harmless), at
        most once per :data:`OFFSET_COMMIT_INTERVAL_S`: each commit is a broker round trip the
        member waits for before its next fetch."""
        now = time.monotonic()
        if now - self.committed_at < OFFSET_COMMIT_INTERVAL_S:
            return
        offsets = {tp: self.progress[tp.partition] for tp in self.consumer.assignment()
                   if self.progress.get(tp.partition)}
        if not offsets:
            return
        self.committed_at = now
        try:
            await self.consumer.commit(offsets)
        except KafkaError as exc:
            log.debug("offset commit skipped: %s", exc)
