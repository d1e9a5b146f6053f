"""One live tail of the domain stream per API process, shared by every subscriber, and the
catch-up subscriptions built on it (DESIGN.md, "Delivery to clients"; issue 5, "Delivery
guarantees").

The hub follows ``log.subscribe("domain", after=<end at start-up>)`` and appends each record,
with the hub's position just past it, to a bounded in-memory ring. Subscribers read the ring
at their own pace and wake once per batch, so a thousand subscribers cost one log consumer.

:func:`follow` gives a subscriber every record after a position without gap: it registers on
the ring first (fixing the hub position ``H`` it starts from), reads ``(after, H]`` from the
log itself, then continues with the ring, dropping what its position already covers. A
subscriber that falls more than the ring's size behind is not dropped: it goes back to
reading the log from its own position and rejoins the ring (at-least-once, no gap).

Command outcomes are followed here too: :meth:`DomainHub.watch` delivers every domain event
carrying a correlationId (or, for stops, a transactionId) to a queue registered *before* the
command is appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from chargelog.adapters import metrics
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, EventLog, Position, PositionNotAvailable, Record

logger = logging.getLogger(__name__)

#: Records read from the log per catch-up request.
CATCH_UP_BATCH = 1000
#: Pause before the hub re-subscribes after the log failed (s).
RETRY_S = 1.0
#: Domain event types that are a command's outcome (docs/contracts.md).
OUTCOME_TYPES = frozenset({"command.accepted", "command.rejected", "command.failed", "command.timed_out"})


class HubStopped(RuntimeError):
    """The hub's tail of the log ended (stopped, or the log failed); subscribers must end."""


@dataclass(eq=False)
class Watch:
    """A command's outcome watch: domain events with ``correlationId`` (and
    ``transaction.stopped`` of ``transactionId``), in log order."""

    correlationId: str
    transactionId: int | None = None
    events: asyncio.Queue[Record] = field(default_factory=asyncio.Queue)


class DomainHub:
    """The shared live tail. ``ring_size`` = records kept for subscribers that lag."""

    def __init__(self, log: EventLog, *, stream: str = DOMAIN, ring_size: int = 10_000) -> None:
        self.log = log
        self.stream = stream
        self.ring_size = ring_size
        self.position = Position()
        self._ring: list[tuple[Record, Position]] = []
        self._base = 0  # sequence number of _ring[0]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._by_correlation: dict[str, list[Watch]] = {}
        self._by_transaction: dict[int, list[Watch]] = {}
        self.published = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start tailing from the current end of the stream."""
        if self._task is not None:
            return
        self.position = await self.log.latest(self.stream)
        self._task = asyncio.create_task(self._run(), name=f"api-hub-{self.stream}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._error = self._error or HubStopped("the API is shutting down")
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        """Follow the stream; a failing log (e.g. the broker away) is retried from the hub's
        position every :data:`RETRY_S`; a position the log no longer holds ends the hub."""
        while True:
            try:
                async for record in self.log.subscribe(self.stream, self.position):
                    self._publish(record)
            except asyncio.CancelledError:
                raise
            except PositionNotAvailable as exc:
                logger.error("domain hub stopped: %s", exc)
                self._error = exc
                self._wake.set()
                return
            except Exception as exc:  # noqa: BLE001 - retried; subscribers keep waiting
                logger.warning("domain hub: reading %s failed (%s); retrying in %.0f s", self.stream, exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    def _publish(self, record: Record) -> None:
        self.position = self.position.advanced(record.partition, record.offset + 1)
        # one Record per event, carrying the hub's position, shared by every live subscriber
        record = Record(record.event, record.partition, record.offset, self.position)
        self._ring.append((record, self.position))
        self.published += 1
        if len(self._ring) > 2 * self.ring_size:
            drop = len(self._ring) - self.ring_size
            del self._ring[:drop]
            self._base += drop
        event = record.event
        if event.type in OUTCOME_TYPES:
            metrics.COMMAND_OUTCOMES.labels(str(event.payload.get("action")), event.type[8:]).inc()
        if event.correlationId and event.correlationId in self._by_correlation:
            for watch in self._by_correlation[event.correlationId]:
                watch.events.put_nowait(record)
        if event.type == "transaction.stopped" and self._by_transaction:
            tx = event.payload.get("transactionId")
            for watch in self._by_transaction.get(tx, ()) if isinstance(tx, int) else ():
                if watch.correlationId != event.correlationId:
                    watch.events.put_nowait(record)
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    # -- ring access ----------------------------------------------------------------------

    def _cursor(self) -> tuple[int, Position]:
        """(next sequence number, hub position) — everything after it will be in the ring."""
        if self._error is not None:
            raise HubStopped(str(self._error))
        return self._base + len(self._ring), self.position

    async def _next(self, seq: int) -> list[tuple[Record, Position]] | None:
        """Ring entries from ``seq`` on, waiting for at least one; None when ``seq`` has
        fallen out of the ring. Raises :class:`HubStopped`."""
        while True:
            if seq < self._base:
                return None
            if seq < self._base + len(self._ring):
                return self._ring[seq - self._base:]
            if self._error is not None:
                raise HubStopped(str(self._error))
            await self._wake.wait()

    # -- command outcomes -----------------------------------------------------------------

    def watch(self, correlation_id: str, transaction_id: int | None = None) -> Watch:
        """Start delivering matching domain events to a new :class:`Watch` (call before the
        command is appended, then :meth:`unwatch`)."""
        watch = Watch(correlation_id, transaction_id)
        self._by_correlation.setdefault(correlation_id, []).append(watch)
        if transaction_id is not None:
            self._by_transaction.setdefault(transaction_id, []).append(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        for index, key in ((self._by_correlation, watch.correlationId),
                           (self._by_transaction, watch.transactionId)):
            watches = index.get(key)  # type: ignore[call-overload]
            if watches and watch in watches:
                watches.remove(watch)
                if not watches:
                    del index[key]  # type: ignore[arg-type]


async def follow(hub: DomainHub, after: Position | None,
                 accept: Callable[[Event], bool]) -> AsyncIterator[Record]:
    """Every record of the hub's stream after ``after`` (None: from now on) that ``accept``
    keeps, then live ones, forever; each yielded :class:`Record` carries in ``position`` this
    subscription's resume token just past it. Raises
    :class:`~chargelog.domain.log.PositionNotAvailable` when the log no longer holds
    ``after`` and :class:`HubStopped` when the hub ends."""
    metrics.HUB_SUBSCRIBERS.inc()
    try:
        async with contextlib.aclosing(_follow(hub, after, accept)) as records:
            async for record in records:
                yield record
    finally:
        metrics.HUB_SUBSCRIBERS.dec()


async def _follow(hub: DomainHub, after: Position | None, accept: Callable[[Event], bool]) -> AsyncIterator[Record]:
    position = after
    while True:
        seq, start = hub._cursor()
        if position is None:
            position = start
        while not start <= position:  # catch up (position, start] from the log itself
            records = await hub.log.read(hub.stream, position, limit=CATCH_UP_BATCH, until=start)
            for record in records:
                if position.covers(record):
                    continue
                position = position.advanced(record.partition, record.offset + 1)
                if accept(record.event):
                    yield Record(record.event, record.partition, record.offset, position)
            if len(records) < CATCH_UP_BATCH:
                break
        # ahead: the caller's position is past the hub's in some partition (then positions
        # are merged per record); otherwise the hub's position and Record are used as they are
        ahead = not position <= start
        position = position.merged(start) if ahead else start
        while True:
            batch = await hub._next(seq)
            if batch is None:
                break  # fell behind the ring: read the log again from ``position``
            seq += len(batch)
            for record, hub_position in batch:
                if ahead:
                    covered = position.covers(record)
                    position = position.merged(hub_position)
                    ahead = not position <= hub_position
                    if not covered and accept(record.event):
                        yield Record(record.event, record.partition, record.offset, position)
                        metrics.observe_push(record.event.recordedAt)
                else:
                    position = hub_position
                    if accept(record.event):
                        yield record
                        metrics.observe_push(record.event.recordedAt)  # resumed: the push is written
