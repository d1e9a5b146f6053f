"""Embedded log engine: one SQLite file per stream under a data directory (the default).

Built on the ``eventsourcing`` library's ``SQLiteApplicationRecorder`` (WAL journal, one
transaction per batch): each event is stored with ``originator_id`` = ``chargePointId``,
``originator_version`` = its sequence within that charge point (so a charge point's history
is an index lookup and its order is enforced by the recorder's unique key), ``topic`` = the
event ``type`` and ``state`` = the JSON envelope. The notification id is the position.

What we added on top of the library (it has no push subscription on SQLite):

* group commit: concurrent appenders are queued and written by one writer task in one
  transaction, then all are acknowledged — acknowledge after durable (a committed WAL
  transaction survives ``kill -9``); the transaction is ``BEGIN IMMEDIATE``, so several
  processes appending to one file take turns, and each stamps ``recordedAt`` and reads the
  chain heads under that lock (both stay right whichever process wrote last);
* the hash chain: each event sealed into its charge point's chain as it is written
  (``.chaining``; seq = ``originator_version``; docs/audit.md);
* notification for catch-up subscriptions: in-process after each commit, and across
  processes by a datagram to every other process with the log open (``.wakeup``), plus a
  slow poll as the fallback;
* timestamp reads by binary search over notification ids (``recordedAt`` is monotonic);
* reads select (notification id, state) rows with the recorder's own query shape, plus a
  charge point filter on its primary key, without a ``Notification`` object per row, and
  subscriptions and scans decode one row at a time while the next page is read (see
  docs/log-engines.md, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from chargelog.domain.chain import GENESIS, unseal
from chargelog.domain.envelope import Event, EventDecodeError, utcnow
from chargelog.domain.log import RAW_BATCH, START, Position, PositionNotAvailable, RawBatch, Record

from .chaining import ChainSealer
from .group_commit import GroupCommit
from .wakeup import Wakeups, supported as wakeups_supported

#: The writer id of the embedded engine's chains (every process: they write under SQLite's write lock).
EMBEDDED_WRITER = "embedded"
#: Largest number of events written in one SQLite transaction.
MAX_BATCH = 5000
#: Rows fetched per query by a catch-up subscription.
SUBSCRIBE_PAGE = 1000
#: Records this process appended kept decoded for its own readers (per stream).
RECENT_DECODED = 1024
T = TypeVar("T")

#: Past this many rows appended by other processes since this one's last commit, every
#: chain head is read again rather than finding the charge points those rows extended.
PEER_ROWS_CHECKED = 10000
#: ``"recordedAt":"…"`` in a stored envelope (``Event.encode``'s field order: it comes before
#: the payload, so a payload cannot fake it).
RECORDED_AT = re.compile(rb'"recordedAt":"([0-9T:.+\-]+)Z?"')

#: How often an idle subscription re-reads the file even without a wake-up (s).
POLL_INTERVAL_S = 0.5


def _recorded_at(row: tuple[int, bytes]) -> datetime:
    """``recordedAt`` of a stored (notification id, envelope) row, read without decoding the
    whole envelope (a full decode when the text is not as expected)."""
    found = RECORDED_AT.search(row[1])
    if found is None:
        return EmbeddedLog._record(row).event.recordedAt
    return datetime.fromisoformat(found[1].decode()).replace(tzinfo=UTC)


class _Stream:
    """One stream's recorder, group commit and wake-up signal. Every use of the SQLite
    connections goes through :meth:`call` (in a worker thread), so :meth:`close` can wait
    for the calls in flight: closing a connection under a running query crashes SQLite."""

    def __init__(self, path: Path) -> None:
        self.name = path.stem
        self.datastore = SQLiteDatastore(str(path), originator_id_type="text", pool_size=4)
        self.recorder = SQLiteApplicationRecorder(self.datastore, events_table_name="events")
        self.recorder.create_table()
        self.chain = ChainSealer(EMBEDDED_WRITER, self._head)
        self._changed = asyncio.Event()
        self.generation = 0
        #: ``recordedAt`` and notification id of the last record this process wrote: when the
        #: file's last record is another, another process wrote since (heads re-read)
        self.last_recorded: datetime | None = None
        self.last_id: int | None = None
        #: the write transaction's cursor while a batch is sealed (chain heads are read in it)
        self.cursor: sqlite3.Cursor | None = None
        self.commit: GroupCommit | None = None
        #: the one long-lived thread that writes this stream (group commits queue for it)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embedded-writer-{self.name}")
        #: this process's last appended records and the other processes' last ones read by
        #: a subscription at the tail, decoded once (notification id → Record)
        self.recent: OrderedDict[int, Record] = OrderedDict()
        #: the file's last notification id when no other process has appended since this
        #: process's last commit; None when unknown (a subscription there must read the file)
        self.end: int | None = None
        #: wake-ups from other processes so far
        self.peer_wakes = 0
        self._busy = 0
        self._idle = threading.Condition()
        self._closed = False

    def tail_after(self, start: int) -> list[Record]:
        """This process's records ``start`` + 1, + 2, … as far as they follow one another in
        :attr:`recent` (no file read, no decoding)."""
        run = []
        record = self.recent.get(start + 1)
        while record is not None:
            run.append(record)
            record = self.recent.get(record.offset + 2)
        return run

    def keep(self, record: Record) -> None:
        """Keep ``record`` (appended by this process or read from the file) decoded in
        :attr:`recent` for this process's readers (the oldest kept record goes past
        :data:`RECENT_DECODED`)."""
        self.recent[record.offset + 1] = record
        if len(self.recent) > RECENT_DECODED:
            self.recent.popitem(last=False)

    def peer_appended(self) -> None:
        """Another process committed to this stream: the end is unknown until read."""
        self.peer_wakes += 1
        self.end = None
        self.wake()

    def wake(self) -> None:
        """The stream grew (here or in another process): wake every waiting subscription."""
        self.generation += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def grown(self, seen: int) -> None:
        """Return once the generation moved past ``seen``."""
        while self.generation == seen:
            await self._changed.wait()

    def _head(self, charge_point_id: str) -> tuple[int, bytes]:
        """The last (seq = originator_version, hash) of a charge point's chain in the file, read
        in the write transaction (:attr:`cursor`)."""
        assert self.cursor is not None
        latest = self.cursor.execute(
            f"SELECT originator_version, state FROM {self.recorder.events_table_name} "
            "WHERE originator_id=? ORDER BY originator_version DESC LIMIT 1", (charge_point_id,)).fetchone()
        if latest is None:
            return 0, GENESIS
        link = unseal(latest[1])
        return latest[0], link.hash if link else GENESIS

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` (blocking, in a worker thread). Raises RuntimeError once closed."""
        with self._idle:
            if self._closed:
                raise RuntimeError("the embedded log is closed")
            self._busy += 1
        try:
            return fn(*args)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def close(self) -> None:
        """Refuse new calls, wait for those in flight, close the connections (blocking)."""
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._busy == 0)
        self.writer.shutdown(wait=True)
        self.datastore.close()


class EmbeddedLog:
    """The :class:`~chargelog.domain.log.EventLog` port on SQLite files in ``data_dir/log``.

    One partition (0) per stream. Shared by the tasks of one process; several processes may
    append to and follow the same files (``chargelog serve`` runs its fold in a second
    process, docs/log-engines.md): SQLite serialises their transactions, the chains reload
    their heads after another process's append, and each commit wakes the other processes'
    subscriptions.
    """

    def __init__(self, data_dir: str | Path) -> None:
        self.dir = Path(data_dir) / "log"
        self._streams: dict[str, _Stream] = {}
        self._wakeups: Wakeups | None = None

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        for stream in self._streams.values():
            if stream.commit is not None:
                await stream.commit.close()
            await asyncio.to_thread(stream.close)
        self._streams.clear()
        if self._wakeups is not None:
            self._wakeups.close()
            self._wakeups = None

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            stream = self._streams[name] = _Stream(self.dir / f"{name}.sqlite")
            if self._wakeups is None and wakeups_supported():
                self._wakeups = Wakeups(self.dir, self._woken)
                try:
                    self._wakeups.open()
                except OSError:  # the slow poll still sees other processes' appends
                    self._wakeups = None
        return stream

    def _woken(self, name: str) -> None:
        """Another process committed to stream ``name``."""
        stream = self._streams.get(name)
        if stream is not None:
            stream.peer_appended()

    # -- appending ------------------------------------------------------------------------

    async def append(self, stream: str, events: Sequence[Event]) -> list[Position]:
        if not events:
            return []
        s = self._stream(stream)
        if s.commit is None:
            s.commit = GroupCommit(lambda batch: self._write_and_notify(s, batch), max_events=MAX_BATCH,
                                   name=f"embedded:{stream}")
        return await s.commit.append(events)

    async def _write_and_notify(self, s: _Stream, events: list[Event]) -> list[Position]:
        """One transaction for the gathered batch in the stream's writer thread, then wake this
        process's subscriptions (they take the records from :attr:`_Stream.recent`)."""
        peer_wakes = s.peer_wakes
        written = await asyncio.get_running_loop().run_in_executor(s.writer, s.call, self._write, s, events)
        for _, record in written:
            if record is not None:
                s.keep(record)
        # the end is known unless another process appended meanwhile (its wake-up came during
        # the write; one that comes later resets it again)
        s.end = written[-1][0] if peer_wakes == s.peer_wakes else None
        s.wake()
        if self._wakeups is not None:
            self._wakeups.notify(s.name)
        return [Position({0: n}) for n, _ in written]

    def _write(self, s: _Stream, events: list[Event]) -> list[tuple[int, Record | None]]:
        """Runs in the stream's writer thread: one ``BEGIN IMMEDIATE`` transaction for the whole
        batch (it waits for another process's write to finish); the records as stored, decoded
        once here for every reader in this process."""
        with s.datastore.get_connection(commit=True) as connection:
            raw = connection._sqlite_conn  # the library's transaction is a deferred BEGIN
            cursor = raw.cursor()
            cursor.row_factory = None
            cursor.execute("BEGIN IMMEDIATE")
            try:
                written = self._insert(s, cursor, events)
                raw.commit()
            except BaseException:
                raw.rollback()
                s.chain.forget()  # the heads of the rolled-back batch were never written
                s.last_id = None
                raise
        return written

    def _insert(self, s: _Stream, cursor: sqlite3.Cursor, events: list[Event]) -> list[tuple[int, Record | None]]:
        """Under the write lock: stamps ``recordedAt`` (after the file's last record, whichever
        process wrote it), seals each event into its charge point's chain (seq = its
        ``originator_version``; heads read again when another process wrote since this one's
        last commit) and inserts the batch."""
        top = cursor.execute(f"SELECT rowid, state FROM {s.recorder.events_table_name} "
                             "ORDER BY rowid DESC LIMIT 1").fetchone()
        if top is None or top[0] != s.last_id:  # another process wrote (or first write here)
            if s.last_id is None or top is None or top[0] - s.last_id > PEER_ROWS_CHECKED:
                s.chain.forget()
            else:  # only the chains another process extended since are read again
                s.chain.drop(row[0] for row in cursor.execute(
                    f"SELECT DISTINCT originator_id FROM {s.recorder.events_table_name} WHERE rowid>?",
                    (s.last_id,)))
            s.last_recorded = _recorded_at(top) if top is not None else None
        last = s.last_recorded
        stored = []
        s.cursor = cursor
        try:
            sealing = s.chain.batch()
            for event in events:
                now = utcnow()
                if last is not None and now <= last:
                    now = last + timedelta(microseconds=1)
                last = now
                event = event.model_copy(update={"recordedAt": now, "chain": None})
                state, seq = sealing.seal(event)
                stored.append(StoredEvent(event.chargePointId, seq, event.type, state))
        finally:
            s.cursor = None
        ids = s.recorder._insert_events(SQLiteCursor(cursor), stored)
        assert ids is not None and len(ids) == len(stored)
        sealing.commit()
        s.last_recorded = last
        s.last_id = ids[-1]
        return [(n, self._decoded(n, stored_event.state)) for n, stored_event in zip(ids, stored)]

    @classmethod
    def _decoded(cls, notification_id: int, state: bytes) -> Record | None:
        """The record as readers will see it, or None (never raises: the batch is durable)."""
        try:
            return cls._record((notification_id, state))
        except Exception:  # noqa: BLE001 - readers decode it themselves
            return None

    # -- reading --------------------------------------------------------------------------

    async def latest(self, stream: str) -> Position:
        s = self._stream(stream)
        return Position({0: await asyncio.to_thread(s.call, s.recorder.max_notification_id) or 0})

    async def read(
        self, stream: str, after: Position = START, *, limit: int | None = None,
        until: Position | None = None, types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> list[Record]:
        """See the port. ``types`` optionally keeps only those event types (a scan in SQLite,
        no decoding), ``charge_point_id`` only that charge point (a primary-key index lookup)."""
        s = self._stream(stream)
        rows = await asyncio.to_thread(
            s.call, self._select, s, stream, after, limit, until, tuple(types), charge_point_id)
        return [s.recent.get(n[0]) or self._record(n) for n in rows]

    def _select(
        self, s: _Stream, stream: str, after: Position, limit: int | None, until: Position | None,
        types: tuple[str, ...], charge_point_id: str | None, with_key: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Runs in a worker thread: the undecoded (notification id, state[, originator_id])
        rows ``read`` returns, in one thread hop. Raises PositionNotAvailable beyond the end."""
        start = after.get(0)
        end = s.recorder.max_notification_id() or 0
        if start > end or set(after.offsets) - {0}:
            raise PositionNotAvailable(f"position {after} is beyond the end of stream {stream!r} ({end})")
        stop = min(end, until.get(0)) if until is not None else end
        if stop <= start:
            return []
        return self._select_rows(s, start, stop, limit or (stop - start), types, charge_point_id, with_key)

    async def scan(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> AsyncIterator[Record]:
        """``read`` without a limit, as a stream (for exports such as ``chargelog events``):
        pages of rows up to ``until`` (default: the end when called), decoded one at a time."""
        async for rows in self._pages(stream, after, until, types, charge_point_id, False, SUBSCRIBE_PAGE):
            for row in rows:
                yield self._record(row)  # type: ignore[arg-type]

    async def scan_raw(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None, batch: int = RAW_BATCH,
    ) -> AsyncIterator[RawBatch]:
        """See the port: pages of ``batch`` rows of ``scan``, undecoded, keyed by their
        ``originator_id``, the next page read while this one is used."""
        before = after
        async for rows in self._pages(stream, after, until, types, charge_point_id, True, batch):
            ids, values, keys = zip(*rows)
            after = Position({0: ids[-1]})
            yield RawBatch(0, list(keys), list(values), [n - 1 for n in ids], before, after)
            before = after

    async def _pages(
        self, stream: str, after: Position, until: Position | None, types: Sequence[str],
        charge_point_id: str | None, with_key: bool, page: int,
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Non-empty pages of at most ``page`` rows after ``after`` up to ``until`` (default:
        the end now); the next page is selected in a worker thread while the caller uses this one."""
        s = self._stream(stream)
        until = until if until is not None else await self.latest(stream)

        def select(position: Position) -> asyncio.Future[list[tuple[Any, ...]]]:
            return asyncio.ensure_future(asyncio.to_thread(
                s.call, self._select, s, stream, position, page, until, tuple(types), charge_point_id, with_key))

        pending: asyncio.Future[list[tuple[Any, ...]]] | None = select(after)
        try:
            while pending is not None:
                rows = await pending
                pending = select(Position({0: rows[-1][0]})) if len(rows) == page else None
                if rows:
                    yield rows
        finally:
            if pending is not None:  # never close the stream under a query still running
                with contextlib.suppress(BaseException):
                    await pending

    @staticmethod
    def _select_rows(
        s: _Stream, start: int, stop: int, limit: int, types: tuple[str, ...], charge_point_id: str | None,
        with_key: bool = False,
    ) -> list[tuple[Any, ...]]:
        """(notification id, state[, originator_id]) with ``start`` < id <= ``stop``: the
        recorder's ``select_notifications`` query without building a Notification per row (a
        third of the catch-up cost), plus a charge point filter on its (originator_id,
        originator_version) primary key."""
        columns = "rowid, state, originator_id" if with_key else "rowid, state"
        sql = f"SELECT {columns} FROM {s.recorder.events_table_name} WHERE rowid>? AND rowid<=? "
        params: list[object] = [start, stop]
        if charge_point_id is not None:
            sql += "AND originator_id=? "
            params.append(charge_point_id)
        if types:
            sql += f"AND topic IN ({','.join('?' * len(types))}) "
            params += types
        sql += "ORDER BY rowid LIMIT ?"
        params.append(limit)
        with s.datastore.transaction(commit=False) as c:
            # plain tuples, no sqlite3.Row per row: on the sqlite3 cursor itself (the library's
            # wrapper has no row_factory; setting one there did nothing)
            c.sqlite_cursor.row_factory = None
            c.execute(sql, params)
            return c.fetchall()

    @staticmethod
    def _record(row: tuple[int, bytes]) -> Record:
        """The decoded (notification id, state) row; a decode error names its position."""
        notification_id, state = row
        position = Position({0: notification_id})
        try:
            event = Event.decode(state)
        except EventDecodeError:
            event = Event.decode(state, str(position))
        return Record(event, 0, notification_id - 1, position)

    async def position_at(self, stream: str, timestamp: datetime) -> Position:
        s = self._stream(stream)

        def search() -> int:
            lo, hi = 1, s.recorder.max_notification_id() or 0
            answer = hi + 1
            while lo <= hi:
                mid = (lo + hi) // 2
                n = s.recorder.select_notifications(mid, 1)[0]
                if self._record((n.id, n.state)).event.recordedAt >= timestamp:
                    answer, hi = mid, mid - 1
                else:
                    lo = mid + 1
            return answer - 1

        return Position({0: await asyncio.to_thread(s.call, search)})

    async def subscribe(self, stream: str, after: Position = START, *,
                        types: Sequence[str] = ()) -> AsyncIterator[Record]:
        """See the port; with ``types``, pages read from the file hold only those types (other
        processes' other records are skipped undecoded), this process's own appends come as
        they are (every type)."""
        s = self._stream(stream)
        position = after
        types = tuple(types)
        ahead: asyncio.Future[tuple[list[tuple[int, bytes]], int]] | None = None  # the next page, read meanwhile
        read_file = True  # the first look, and one after a silent poll interval, goes to the file
        try:
            while True:
                seen = s.generation
                if ahead is None:
                    # at the tail: this process's own appends come from memory, and at the
                    # known end there is nothing to read (no thread hop either way)
                    run = s.tail_after(position.get(0))
                    if run:
                        for record in run:
                            yield record
                            position = record.position
                        continue
                    if not read_file and s.end is not None and position.get(0) >= s.end:
                        read_file = not await self._wait_for_append(s, seen)
                        continue
                read_file = False
                fresh = ahead is None
                rows, scanned_to = await (ahead or self._page(s, stream, position, types))
                ahead = None
                if len(rows) == SUBSCRIBE_PAGE:
                    ahead = asyncio.ensure_future(self._page(s, stream, Position({0: rows[-1][0]}), types))
                # decoded one at a time: a page of live Events would survive young GC
                # collections and make the catch-up ~2.5x slower (docs/benchmarks.md); at the
                # tail (a short page: another process's latest appends) each record is kept
                # decoded for this process's other subscriptions, which then read no file
                share = len(rows) < SUBSCRIBE_PAGE
                for row in rows:
                    record = s.recent.get(row[0])
                    if record is None:
                        record = self._record(row)
                        if share:
                            s.keep(record)
                    yield record
                    position = record.position
                if ahead is None and scanned_to > position.get(0):  # past rows of other types
                    position = Position({0: scanned_to})
                if rows or not fresh:
                    continue
                read_file = not await self._wait_for_append(s, seen)
        finally:
            if ahead is not None:
                ahead.cancel()

    def _page(self, s: _Stream, stream: str, after: Position,
              types: tuple[str, ...]) -> Awaitable[tuple[list[tuple[int, bytes]], int]]:
        """The next SUBSCRIBE_PAGE rows after ``after`` (of ``types``, when given) and the
        notification id the page covers up to, read in a worker thread (the file's end is
        looked up only for a typed page, which may cover rows it leaves out)."""
        def page() -> tuple[list[tuple[int, bytes]], int]:
            if not types:
                rows = self._select(s, stream, after, SUBSCRIBE_PAGE, None, (), None)
                return rows, rows[-1][0] if rows else after.get(0)
            end = s.recorder.max_notification_id() or 0
            rows = self._select(s, stream, after, SUBSCRIBE_PAGE, Position({0: end}), types, None)
            return rows, rows[-1][0] if len(rows) == SUBSCRIBE_PAGE else max(end, after.get(0))

        return asyncio.to_thread(s.call, page)

    @staticmethod
    async def _wait_for_append(s: _Stream, seen: int) -> bool:
        """Until the stream grew past generation ``seen`` (woken by this process's writer or
        another process's wake-up): True; or POLL_INTERVAL_S passed: False."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (gh-86296)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_INTERVAL_S):
                await s.grown(seen)
                return True
        return False

    async def group_subscribe(
        self, stream: str, group_id: str, start_positions: Callable[[set[int]], Awaitable[Position]],
        on_revoked: Callable[[set[int]], Awaitable[None]] | None = None,
    ) -> AsyncIterator[Record]:
        """The consumer-group subscription of the Kafka engine with one member: this process
        holds partition 0 for good. Awaits ``start_positions({0})`` (the positions the worker
        stored with its read model) and subscribes from there; ``group_id`` and ``on_revoked``
        are accepted for the same signature and unused."""
        start = await start_positions({0})
        async with contextlib.aclosing(self.subscribe(stream, start)) as records:
            async for record in records:
                yield record

    async def history(self, stream: str, charge_point_id: str) -> list[Event]:
        """Every event of one charge point in order (an index lookup, for audits)."""
        s = self._stream(stream)
        rows = await asyncio.to_thread(s.call, s.recorder.select_events, charge_point_id)
        return [Event.decode(r.state) for r in rows]
