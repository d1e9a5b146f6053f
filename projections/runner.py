"""Projection runners: drive folds over a stream, commit rows + positions atomically, resume.

:class:`FoldRunner` reads one stream — as a consumer-group member (``log.group_subscribe``: on
Kafka the partitions are split between workers; the embedded engine has one member holding
partition 0) or as a plain catch-up subscription of the whole stream (``log.subscribe``, for
the in-memory read models of API nodes) — and applies records in batches:

1. each fold skips records at or below its stored position for that partition (duplicate
   deliveries have no effect) and applies the rest — except a record whose eventId was
   among the last ones applied (a repeat written by a producer retry, :mod:`.dedupe`): that
   one only advances the positions;
2. a translator fold's domain events are appended to the ``domain`` stream (durable);
3. every fold's changed rows and advanced positions are committed in ONE store transaction.

On assignment it loads the held partitions' rows and positions from the store and resumes
there; on revocation it forgets them (everything applied was already committed). A crash
anywhere resumes from the last commit. :class:`ProjectionWorker` runs the translator
(``source`` → ``domain``), the three domain projections (``domain`` → store) and the profile
state projection (``source`` → store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from chargelog.domain.backoff import backoff_s
from chargelog.domain.log import DOMAIN, SOURCE, EventLog, Position, PositionNotAvailable, Record
from chargelog.domain.registry import Registry
from chargelog.domain.translate import RegistryDirectory

from .base import RowFold, quarantine_name
from .dedupe import RecentIds
from .health import quarantine_summary
from .stale import StaleSweep
from .profile_state import ProfileStateProjection
from .query import ProjectionReadModels
from .sessions import ActiveSessionsProjection, SessionHistoryProjection
from .stations import StationsProjection
from .store import ReadModelStore, StaleCommit, tracking_name
from .translator import DOMAIN_OFFSET, TranslatorFold

logger = logging.getLogger(__name__)

#: Most records applied per store transaction.
BATCH_SIZE = 2000
#: How long ``stop`` waits for the batch in progress (s).
STOP_WAIT_S = 10.0
#: First pause before subscribing again after reading failed (s), doubled up to the max.
READ_RETRY_MIN_S = 0.2
READ_RETRY_MAX_S = 5.0
#: Records read ahead of the applier.
QUEUE_SIZE = 10_000


def projection_folds() -> list[RowFold]:
    """Fresh instances of the read-model projections of the ``domain`` stream, in a stable order."""
    return [StationsProjection(), ActiveSessionsProjection(), SessionHistoryProjection()]


def read_model_folds() -> list[RowFold]:
    """Fresh instances of every read-model projection (``domain`` ones, then those of ``source``)."""
    return [*projection_folds(), ProfileStateProjection()]


PROJECTION_NAMES = tuple(f.name for f in read_model_folds())


class FoldRunner:
    """Applies ``stream`` to ``folds``; see the module docstring. ``group_id`` None = plain
    subscription of every partition; ``store`` None = in memory only. ``on_batch`` is awaited
    after each applied batch (read models use it to wake ``wait_for``)."""

    def __init__(self, log: EventLog, stream: str, folds: Sequence[RowFold], store: ReadModelStore | None, *,
                 group_id: str | None = None, on_batch: Callable[[], Any] | None = None,
                 batch_size: int = BATCH_SIZE) -> None:
        self.log = log
        self.stream = stream
        self.folds = list(folds)
        self.store = store
        self.group_id = group_id
        self.on_batch = on_batch
        self.batch_size = batch_size
        self.owned: set[int] | None = set() if group_id else None  # None = every partition
        self.applied = 0
        self._recent = RecentIds()  # eventIds applied lately (repeats are skipped)
        self._lock = asyncio.Lock()
        self._generation: dict[int, int] = {}  # per partition: bumped on assign/revoke
        self._queue: asyncio.Queue[tuple[int, Record]] = asyncio.Queue(QUEUE_SIZE)
        self._tasks: list[asyncio.Task[None]] = []
        self._failed: BaseException | None = None
        self._rejoin = False
        self._progress = asyncio.Condition()
        self.progress_count = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load stored state (plain mode) and start reading; returns once started."""
        if self.group_id is None:
            await self._load(None)
        self._tasks = [asyncio.create_task(self._apply(), name=f"{self.stream}-applier"),
                       asyncio.create_task(self._read(), name=f"{self.stream}-reader")]

    async def stop(self) -> None:
        """Stop reading between batches, so everything applied is committed; a batch that does
        not finish within ``STOP_WAIT_S`` (log or store unreachable) is abandoned, and resumes
        from the last commit next time. Idempotent."""
        locked = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await self._lock.acquire()
                locked = True
        try:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        finally:
            if locked:
                self._lock.release()
        self._tasks = []

    async def join(self) -> BaseException | None:
        """Wait until the runner stops by itself (an error); return that error."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
        return self._failed

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped this runner, if any."""
        return self._failed

    # -- assignment -------------------------------------------------------------------------

    async def _load(self, partitions: set[int] | None) -> Position:
        self._recent = RecentIds()  # records are read again from the stored positions
        for fold in self.folds:
            if partitions is not None:
                fold.drop(partitions)
            if self.store is not None:
                positions, rows = await asyncio.to_thread(self.store.load, fold.name, partitions)
                fold.load(positions, rows)
                _, quarantined = await asyncio.to_thread(self.store.load, quarantine_name(fold.name), partitions)
                fold.load_quarantine(quarantined)
            if isinstance(fold, TranslatorFold):
                await self._translator_resume(fold, partitions)
        return self.start_position(partitions)

    def start_position(self, partitions: set[int] | None) -> Position:
        """Where to resume: the least position over the folds, per partition."""
        held = set().union(*(f.positions for f in self.folds)) if partitions is None else partitions
        return Position({p: min(f.positions.get(p, 0) for f in self.folds) for p in held})

    async def _translator_resume(self, fold: TranslatorFold, partitions: set[int] | None) -> None:
        """Domain events appended after the last commit (a crash in between) are not re-emitted."""
        if self.store is None:
            return
        latest = await self.log.latest(DOMAIN)
        held = set(latest.offsets) if partitions is None else partitions
        stored = {p: await asyncio.to_thread(self.store.tracked, tracking_name(DOMAIN_OFFSET, p)) for p in held}
        after = Position({**latest.offsets, **stored})
        if after == latest:
            return
        tail = await self.log.read(DOMAIN, after, until=latest)
        fold.already_appended(fold.appended | {r.event.eventId for r in tail})

    async def _assigned(self, partitions: set[int]) -> Position:
        async with self._lock:
            assert self.owned is not None
            stale = self.owned - partitions
            if stale:
                # Eager rebalancing (aiokafka): an assignment is this member's whole share, so
                # partitions held before and not assigned now were revoked, even when the
                # revocation callback did not name them.
                logger.info("%s: dropping partitions %s of %s not in the new assignment",
                            self.group_id, sorted(stale), self.stream)
                self._bump(stale)
                for fold in self.folds:
                    fold.drop(stale)
            self._bump(partitions)
            position = await self._load(partitions)
            self.owned = set(partitions)
            logger.info("%s: holds partitions %s of %s from %s", self.group_id, sorted(partitions), self.stream, position)
        await self._progressed()  # loaded positions may already satisfy a waiter
        return position

    async def _revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            self._bump(partitions)
            self._recent = RecentIds()
            for fold in self.folds:
                fold.drop(partitions)
            if self.owned is not None:
                self.owned -= partitions
            logger.info("%s: released partitions %s of %s", self.group_id, sorted(partitions), self.stream)
        await self._progressed()

    async def _progressed(self) -> None:
        async with self._progress:
            self.progress_count += 1
            self._progress.notify_all()
        if self.on_batch is not None:
            await self.on_batch()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds, re-checked after every batch commit and every
        assignment/revocation. Bound it with ``asyncio.timeout``."""
        async with self._progress:
            await self._progress.wait_for(predicate)

    def _bump(self, partitions: set[int]) -> None:
        """Records of ``partitions`` read before now are stale (the group re-delivers them)."""
        for p in partitions:
            self._generation[p] = self._generation.get(p, 0) + 1

    # -- reading and applying ---------------------------------------------------------------

    def _records(self) -> AsyncIterator[Record]:
        if self.group_id is None:
            return self.log.subscribe(self.stream, self.start_position(None))
        group_subscribe = self.log.group_subscribe  # type: ignore[attr-defined]
        return group_subscribe(self.stream, self.group_id, self._assigned, self._revoked)

    async def _read(self) -> None:
        """Queue the stream's records for the applier. When reading fails (e.g. the broker
        went away during an assignment), subscribe again after a bounded backoff: a group
        member rejoins and resumes its partitions from the store, a plain subscription from
        the folds' positions. Only a position the log no longer holds stops the runner."""
        failures = 0
        while True:
            try:
                async with contextlib.aclosing(self._records()) as records:
                    async for record in records:
                        failures = 0
                        await self._queue.put((self._generation.get(record.partition, 0), record))
                return
            except asyncio.CancelledError:
                raise
            except PositionNotAvailable as exc:
                self._failed = exc
                logger.exception("reading %s failed", self.stream)
                raise
            except Exception as exc:  # noqa: BLE001 - retried from the stored positions
                failures += 1
                delay = backoff_s(failures, READ_RETRY_MIN_S, READ_RETRY_MAX_S)
                logger.warning("reading %s failed (%s: %s); subscribing again from the stored positions in %.1f s",
                               self.stream, type(exc).__name__, exc, delay)
                if self.owned is not None:
                    await self._forget_held()
                await asyncio.sleep(delay)

    async def _apply(self) -> None:
        try:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < self.batch_size and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                async with self._lock:
                    await self.apply_batch([r for g, r in batch if g == self._generation.get(r.partition, 0)])
                if self._rejoin:
                    await self._resubscribe()
                await self._progressed()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failed = exc
            logger.exception("applying %s failed", self.stream)
            raise

    async def _resubscribe(self) -> None:
        reader = self._tasks.pop()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        while not self._queue.empty():
            self._queue.get_nowait()
        await self._forget_held()
        self._rejoin = False
        self._tasks.append(asyncio.create_task(self._read(), name=f"{self.stream}-reader"))

    async def _forget_held(self) -> None:
        """Leave every held partition (group mode): records read for them so far are stale,
        their rows are dropped; the next assignment loads them from the store."""
        async with self._lock:
            held = set(self.owned or ())
            self._bump(held)
            self._recent = RecentIds()
            for fold in self.folds:
                fold.drop(held)
            self.owned = set()

    async def apply_batch(self, records: Sequence[Record]) -> None:
        """Apply ``records`` to every fold and commit (call under the runner's lock)."""
        for record in records:
            if self.owned is not None and record.partition not in self.owned:
                continue
            if self._recent.repeat(record.event.eventId):
                past = Position({record.partition: record.offset + 1})
                for fold in self.folds:
                    fold.reached(past)
                continue
            for fold in self.folds:
                fold.offer(record)
            self.applied += 1
        await self.commit()

    async def commit(self) -> None:
        """Append translator output, then commit every fold's changes in one transaction."""
        extra: dict[str, int] = {}
        for fold in self.folds:
            if isinstance(fold, TranslatorFold):
                events = fold.take_output()
                if events:
                    for position in await self.log.append(DOMAIN, events):
                        for p, offset in position.offsets.items():
                            name = tracking_name(DOMAIN_OFFSET, p)
                            extra[name] = max(extra.get(name, 0), offset)
        changes = [fold.take_change() for fold in self.folds]
        if extra:
            changes[0].extra.update(extra)
        changes += [fold.take_quarantine_change() for fold in self.folds]
        if self.store is None or not any(changes):
            return
        try:
            await asyncio.to_thread(self.store.commit, changes)
        except StaleCommit:
            if self.owned is None:
                raise
            # Another member advanced one of our partitions (we lost it in a rebalance we have
            # not heard of yet); nothing of this batch was written. Rejoin the group: the new
            # assignment resumes every partition we hold from the store.
            logger.warning("%s: stale commit on %s; rejoining the group", self.group_id, self.stream)
            self._rejoin = True


class ProjectionWorker:
    """The ``projections`` role (docs/contracts.md, "Composition"): the translator
    (``source`` → ``domain``), the read-model projections (``domain`` → store) and the profile
    state projection (``source`` → store), each a consumer-group member (groups
    ``{topic_prefix}.translator`` / ``.projections`` / ``.profile_state``).

    ``read_models`` answers queries. On the embedded engine it is this worker's own
    projections (it holds the only partition); on Kafka, where the worker holds only a share of
    the partitions, it is a full in-memory fold of the ``domain`` stream (:class:`FollowingReadModels`).
    ``registry``: an object with a ``current`` :class:`Registry` (``LiveRegistry``); None
    starts one.
    """

    def __init__(self, log: EventLog, settings: Any, registry: Any = None, *,
                 store: ReadModelStore | None = None, translate: bool = True) -> None:
        self.log = log
        self.settings = settings
        self.registry = registry
        self._own_registry = registry is None
        self._store = store
        self.translate = translate
        self.translator: FoldRunner | None = None
        self.projections: FoldRunner | None = None
        self.profile_states: FoldRunner | None = None
        self.read_models: Any = None
        self._follower: FollowingReadModels | None = None
        self._sweep: StaleSweep | None = None

    def _current_registry(self) -> Registry:
        return self.registry.current if self.registry is not None else Registry()

    async def start(self) -> None:
        from chargelog.adapters.store import open_store

        if self.registry is None:
            from chargelog.adapters.registry import LiveRegistry

            self.registry = LiveRegistry(self.log)
            await self.registry.start()
        if self._store is None:
            self._store = open_store(self.settings)
        prefix = getattr(self.settings, "topic_prefix", "chargelog")
        folds = projection_folds()
        stations, active, history = folds
        own = ProjectionReadModels(stations, active, history, self._current_registry)  # type: ignore[arg-type]
        self.projections = FoldRunner(self.log, DOMAIN, folds, self._store, group_id=f"{prefix}.projections",
                                      on_batch=own.notify)
        if self.translate:
            self.translator = FoldRunner(self.log, SOURCE, [TranslatorFold(RegistryDirectory(self._current_registry))],
                                         self._store, group_id=f"{prefix}.translator")
            await self.translator.start()
            self._sweep = StaleSweep(self.log, self.translator.folds[0],  # type: ignore[arg-type]
                                     getattr(self.settings, "transaction_stale_after_s", 86400.0))
            self._sweep.start()
        self.profile_states = FoldRunner(self.log, SOURCE, [ProfileStateProjection()], self._store,
                                         group_id=f"{prefix}.{ProfileStateProjection.name}")
        await self.profile_states.start()
        await self.projections.start()
        if getattr(self.settings, "is_kafka", False):
            self._follower = FollowingReadModels(self.log, self._current_registry)
            await self._follower.start()
            self.read_models = self._follower
        else:
            self.read_models = own
        self.read_models.quarantine_sources.extend(self.folds())

    def folds(self) -> list[RowFold]:
        """The folds this worker runs (translator first, when it runs one)."""
        return [fold for runner in (self.translator, self.projections, self.profile_states) if runner is not None
                for fold in runner.folds]

    def quarantined(self) -> list[dict[str, Any]]:
        """Every record quarantined by this worker's folds (:func:`quarantine_summary`)."""
        return quarantine_summary(self.folds())

    async def stop(self) -> None:
        if self._sweep is not None:
            await self._sweep.stop()
        for runner in (self._follower, self.translator, self.projections, self.profile_states):
            if runner is not None:
                await runner.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._own_registry and self.registry is not None:
            await self.registry.stop()
            self.registry = None


class FollowingReadModels(ProjectionReadModels):
    """Read models folded in memory from the whole ``domain`` stream (``log.subscribe``), for
    API nodes: ``await start()`` then query; ``await stop()``."""

    def __init__(self, log: EventLog, registry: Callable[[], Registry] | None = None) -> None:
        stations, active, history = projection_folds()
        super().__init__(stations, active, history, registry)  # type: ignore[arg-type]
        self.runner = FoldRunner(log, DOMAIN, [stations, active, history], None, on_batch=self.notify)

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        await self.runner.stop()


async def follow_read_models(log: EventLog, settings: Any, registry: Any = None) -> FollowingReadModels:
    """Started :class:`FollowingReadModels` (the API role without a projection worker)."""
    read_models = FollowingReadModels(log, (lambda: registry.current) if registry is not None else None)
    await read_models.start()
    return read_models


__all__ = ["FoldRunner", "FollowingReadModels", "ProjectionWorker", "follow_read_models", "projection_folds",
           "read_model_folds"]
