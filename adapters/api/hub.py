"""One live tail of the domain stream per API process, shared by every subscriber, and the
catch-up subscriptions built on it (DESIGN.md, "Delivery to clients").

The hub follows ``log.subscribe("domain", after=<end at start-up>)``. Each live subscriber
registers an :class:`Audience` (charge point, event types, the user it reads for or every
user) and gets a bounded mailbox; the hub keeps the mailboxes indexed by (chargePointId,
event type) and, for events that are not public, by the user named by the event's principal,
so a record is offered only to the subscribers that may see it — the work per record is
proportional to who is interested, not to how many are connected. The record, with the hub's
position just past it, is one :class:`Record` object shared by every receiver (dialects
memoise the push text on it, so each frame is encoded once).

:func:`follow` gives a subscriber every record after a position without gap: it registers
its mailbox first (fixing the hub position ``H`` it starts from), takes ``(after, H]`` from
the hub's last :data:`RECENT_RECORDS` published records when they reach back to ``after``
(a subscribe right after a snapshot: shared records, no read) and else reads it from the log
itself, then continues with the mailbox, dropping what its position already covers.
A subscriber whose mailbox overflows (it fell more than ``queue_size`` records behind) is
not dropped: it goes back to reading the log from its own position and registers again
(at-least-once, no gap).

Command outcomes are followed here too: :meth:`DomainHub.watch` delivers every domain event
carrying a correlationId (or, for stops, a transactionId) to a queue registered *before* the
command is appended.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

from chargelog.adapters import metrics
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, EventLog, Position, PositionNotAvailable, Record

logger = logging.getLogger(__name__)

#: Records read from the log per catch-up request.
CATCH_UP_BATCH = 1000
#: Records the hub keeps after publishing them: a subscriber starting at most this far behind
#: the live tail (e.g. after a snapshot's position) catches up from these shared records
#: instead of reading and decoding its own copy of the log.
RECENT_RECORDS = 1024
#: Pause before the hub re-subscribes after the log failed (s).
RETRY_S = 1.0
#: Domain event types that are a command's outcome (docs/contracts.md).
OUTCOME_TYPES = frozenset({"command.accepted", "command.rejected", "command.failed", "command.timed_out"})


@dataclass(frozen=True)
class Audience:
    """Which live records a subscriber is offered: of ``station_id`` (None: every charge
    point), of ``types`` (None: every type), and — for event types the hub was not told are
    public — only those whose principal is the user ``user_id`` (None: every principal, an
    admin). A routing key only: the subscriber's own ``accept`` stays the rule."""

    station_id: str | None = None
    types: frozenset[str] | None = None
    user_id: str | None = None


class _Mailbox:
    """One live subscriber's pending (record, hub position) pairs, in log order; at most
    ``size`` of them, else ``overflowed`` (the subscriber reads the log again)."""

    __slots__ = ("audience", "accept", "records", "wake", "overflowed")

    def __init__(self, audience: Audience, accept: Callable[[Event], bool]) -> None:
        self.audience = audience
        self.accept = accept
        self.records: list[tuple[Record, Position]] = []
        self.wake = asyncio.Event()
        self.overflowed = False


@dataclass
class _Bucket:
    """The mailboxes under one (chargePointId | None, type | None) key: those reading for
    every principal, and those reading for one user, by userId."""

    everyone: set[_Mailbox] = field(default_factory=set)
    by_user: dict[str, set[_Mailbox]] = field(default_factory=dict)

    def members(self, audience: Audience) -> set[_Mailbox]:
        if audience.user_id is None:
            return self.everyone
        return self.by_user.setdefault(audience.user_id, set())

    def discard(self, mailbox: _Mailbox) -> None:
        user_id = mailbox.audience.user_id
        if user_id is None:
            self.everyone.discard(mailbox)
        elif (members := self.by_user.get(user_id)) is not None:
            members.discard(mailbox)
            if not members:
                del self.by_user[user_id]

    def __bool__(self) -> bool:
        return bool(self.everyone or self.by_user)


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
    """The shared live tail. ``queue_size`` = records buffered per subscriber before it falls
    back to reading the log; ``public_types``: event types every subscriber may see whatever
    their principal (None: every type is routed as public)."""

    def __init__(self, log: EventLog, *, stream: str = DOMAIN, queue_size: int = 10_000,
                 public_types: frozenset[str] | None = None, recent_size: int = RECENT_RECORDS) -> None:
        self.log = log
        self.stream = stream
        self.queue_size = queue_size
        self.public_types = public_types
        self.position = Position()
        #: the last ``recent_size`` published records (each carrying the hub position just
        #: past it): every record after ``_recent_after`` up to ``position``
        self._recent: deque[Record] = deque()
        self._recent_size = recent_size
        self._recent_after = Position()
        self._buckets: dict[tuple[str | None, str | None], _Bucket] = {}
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._by_correlation: dict[str, list[Watch]] = {}
        self._by_transaction: dict[int, list[Watch]] = {}
        self.published = 0
        self.subscribers = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start tailing from the current end of the stream."""
        if self._task is not None:
            return
        self.position = self._recent_after = await self.log.latest(self.stream)
        self._task = asyncio.create_task(self._run(), name=f"api-hub-{self.stream}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._end(self._error or HubStopped("the API is shutting down"))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _end(self, error: BaseException) -> None:
        self._error = error
        for bucket in self._buckets.values():
            for mailbox in (*bucket.everyone, *(m for ms in bucket.by_user.values() for m in ms)):
                mailbox.wake.set()

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
                self._end(exc)
                return
            except Exception as exc:  # noqa: BLE001 - retried; subscribers keep waiting
                logger.warning("domain hub: reading %s failed (%s); retrying in %.0f s", self.stream, exc, RETRY_S)
                await asyncio.sleep(RETRY_S)

    def _publish(self, record: Record) -> None:
        self.position = self.position.advanced(record.partition, record.offset + 1)
        # one Record per event, carrying the hub's position, shared by every receiver
        record = Record(record.event, record.partition, record.offset, self.position)
        self.published += 1
        self._recent.append(record)
        if len(self._recent) > self._recent_size:
            self._recent_after = self._recent.popleft().position
        event = record.event
        if self._buckets:
            self._route(record, self.position)
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

    def _route(self, record: Record, position: Position) -> None:
        """Offer ``record`` to the mailboxes indexed under its charge point and type (or
        None), and — unless its type is public — only those of every principal or of the
        user it names."""
        event = record.event
        public = self.public_types is None or event.type in self.public_types
        principal = event.principal
        owner = principal.id if principal is not None and principal.kind == "user" else None
        entry = (record, position)
        keys = [(None, event.type), (None, None)]
        if event.chargePointId is not None:
            keys += [(event.chargePointId, event.type), (event.chargePointId, None)]
        for key in keys:
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            groups: list[set[_Mailbox]] = [bucket.everyone]
            if public:
                groups.extend(bucket.by_user.values())
            elif owner is not None and owner in bucket.by_user:
                groups.append(bucket.by_user[owner])
            for group in groups:
                for mailbox in group:
                    if mailbox.overflowed or not mailbox.accept(event):
                        continue
                    if len(mailbox.records) >= self.queue_size:
                        mailbox.overflowed = True
                        mailbox.records.clear()
                    else:
                        mailbox.records.append(entry)
                    mailbox.wake.set()

    # -- live subscribers -----------------------------------------------------------------

    def _register(self, audience: Audience, accept: Callable[[Event], bool]) -> tuple[_Mailbox, Position]:
        """A new mailbox receiving every record published from now on that the audience's
        index keys and ``accept`` keep, and the hub position it starts after. Raises
        :class:`HubStopped`."""
        if self._error is not None:
            raise HubStopped(str(self._error))
        mailbox = _Mailbox(audience, accept)
        for key in self._keys(audience):
            self._buckets.setdefault(key, _Bucket()).members(audience).add(mailbox)
        self.subscribers += 1
        metrics.HUB_SUBSCRIBERS.inc()
        return mailbox, self.position

    def _unregister(self, mailbox: _Mailbox) -> None:
        for key in self._keys(mailbox.audience):
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.discard(mailbox)
                if not bucket:
                    del self._buckets[key]
        self.subscribers -= 1
        metrics.HUB_SUBSCRIBERS.dec()

    @staticmethod
    def _keys(audience: Audience) -> list[tuple[str | None, str | None]]:
        types: Iterable[str | None] = audience.types if audience.types is not None else (None,)
        return [(audience.station_id, t) for t in types]

    def _recent_since(self, after: Position) -> list[Record] | None:
        """The published records ``after`` does not cover, up to the hub's position, from
        memory; None when the hub no longer holds every record after ``after``."""
        if not self._recent_after <= after:
            return None
        # a prefix of records whose hub position ``after`` reaches is covered; skip it
        first = bisect.bisect_left(self._recent, True, key=lambda r: not r.position <= after)  # type: ignore[arg-type]
        return [r for r in itertools.islice(self._recent, first, None) if not after.covers(r)]

    async def _take(self, mailbox: _Mailbox) -> list[tuple[Record, Position]] | None:
        """The mailbox's pending entries, waiting for at least one; None when it overflowed.
        Raises :class:`HubStopped` once the hub ended and nothing is pending."""
        while not mailbox.records:
            if mailbox.overflowed:
                return None
            if self._error is not None:
                raise HubStopped(str(self._error))
            mailbox.wake.clear()
            await mailbox.wake.wait()
        batch, mailbox.records = mailbox.records, []
        return batch

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


async def _read_retrying(hub: DomainHub, after: Position, until: Position) -> list[Record]:
    """A catch-up page from the log; while the log fails (a broker outage) it is read again
    after :data:`RETRY_S`, so the subscription resumes where it was instead of ending.
    Raises PositionNotAvailable (retrying cannot help) and HubStopped."""
    while True:
        try:
            return await hub.log.read(hub.stream, after, limit=CATCH_UP_BATCH, until=until)
        except PositionNotAvailable:
            raise
        except Exception as exc:  # noqa: BLE001 - retried, the subscriber keeps waiting
            if hub._error is not None:
                raise HubStopped(str(hub._error)) from exc
            logger.warning("domain hub: catch-up read of %s after %s failed (%s: %s); retrying in %.0f s",
                           hub.stream, after, type(exc).__name__, exc, RETRY_S)
            await asyncio.sleep(RETRY_S)


async def follow(hub: DomainHub, after: Position | None, accept: Callable[[Event], bool],
                 audience: Audience = Audience()) -> AsyncIterator[Record]:
    """Every record of the hub's stream after ``after`` (None: from now on) that ``accept``
    keeps, then live ones, forever; each yielded :class:`Record` carries in ``position`` this
    subscription's resume token just past it. ``audience`` routes live records to this
    subscriber (it must keep every record ``accept`` keeps: it only narrows whom the hub
    asks). Raises :class:`~chargelog.domain.log.PositionNotAvailable` when the log no longer
    holds ``after`` and :class:`HubStopped` when the hub ends."""
    position = after
    while True:
        mailbox, start = hub._register(audience, accept)
        try:
            if position is None:
                position = start
            recent = hub._recent_since(position)  # (position, start] from memory, if the hub holds it
            for record in recent or ():
                position = position.advanced(record.partition, record.offset + 1)
                if accept(record.event):
                    yield Record(record.event, record.partition, record.offset, position)
            while recent is None and not start <= position:  # catch up (position, start] from the log
                records = await _read_retrying(hub, position, start)
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
                batch = await hub._take(mailbox)
                if batch is None:
                    break  # fell too far behind: read the log again from ``position``
                now_s = time.time()  # the batch is written in this loop turn
                for record, hub_position in batch:  # all kept by ``accept`` already
                    if ahead:
                        covered = position.covers(record)
                        position = position.merged(hub_position)
                        ahead = not position <= hub_position
                        if not covered:
                            yield Record(record.event, record.partition, record.offset, position)
                            metrics.observe_push(record.event.recordedAt, now_s)
                    else:
                        position = hub_position
                        yield record
                        metrics.observe_push(record.event.recordedAt, now_s)  # resumed: the push is written
        finally:
            hub._unregister(mailbox)
