"""Group commit for log engines: appends that concurrent tasks make to one stream are
gathered into one durable write while the previous write is in flight.

Both engines take one write of many events far better than many concurrent writes of one to
three (SQLite: one transaction and fsync; Kafka: one record batch per partition instead of
one per append). Every caller still returns only when *its* events are durable, with their
positions, and one caller's events stay contiguous and in order (acknowledge after durable).
A caller that stops waiting (its ``append`` was cancelled, e.g. by a timeout) before its
events were handed to ``write`` has them dropped: they are never written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from chargelog.domain.envelope import Event
from chargelog.adapters import metrics
from chargelog.domain.log import Position

Write = Callable[[list[Event]], Awaitable[list[Position]]]


class GroupCommit:
    """``await append(events)`` → their positions once durable; one writer task calls
    ``write`` with at most ``max_events`` events (more when one caller's batch is larger)."""

    def __init__(self, write: Write, *, max_events: int, name: str) -> None:
        self._write = write
        self._max_events = max_events
        self._name = name
        self._queue: asyncio.Queue[tuple[list[Event], asyncio.Future[list[Position]]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._writing: list[asyncio.Future[list[Position]]] = []  # callers of the write in flight
        self._open: set[asyncio.Future[list[Position]]] = set()  # callers not answered yet
        labels = metrics.log_labels(name)
        self._append_seconds = metrics.LOG_APPEND_SECONDS.labels(*labels)
        self._write_seconds = metrics.LOG_WRITE_SECONDS.labels(*labels)
        self._batch_events = metrics.LOG_WRITE_BATCH_EVENTS.labels(*labels)

    async def append(self, events: Sequence[Event]) -> list[Position]:
        """Append ``events`` contiguously and in order; raises what ``write`` raised."""
        if not events:
            return []
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"group-commit-{self._name}")
        done: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        self._open.add(done)
        done.add_done_callback(self._open.discard)
        self._queue.put_nowait((list(events), done))
        started = time.perf_counter()
        positions = await done
        self._append_seconds.observe(time.perf_counter() - started)
        return positions

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            count = len(batch[0][0])
            while not self._queue.empty() and count < self._max_events:
                item = self._queue.get_nowait()
                batch.append(item)
                count += len(item[0])
            batch = [(events, fut) for events, fut in batch if not fut.done()]  # gave up: dropped
            if not batch:
                continue
            self._writing = [fut for _, fut in batch]
            started = time.perf_counter()
            try:
                positions = await self._write([e for events, _ in batch for e in events])
                self._write_seconds.observe(time.perf_counter() - started)
                self._batch_events.observe(sum(len(events) for events, _ in batch))
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            finally:
                self._writing = []
            i = 0
            for events, fut in batch:
                if not fut.done():
                    fut.set_result(positions[i:i + len(events)])
                i += len(events)

    @property
    def waiting(self) -> int:
        """Appends queued or being written whose callers still wait."""
        return len(self._open)

    async def close(self, drain_s: float = 0.0) -> int:
        """Give queued and in-flight appends up to ``drain_s`` seconds to be written, then stop
        the writer; appends not written by then fail with ``RuntimeError``. Returns how many
        appends were not written."""
        deadline = asyncio.get_running_loop().time() + drain_s
        while self.waiting and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)  # polling the queue for a bounded shutdown drain
        lost = self.waiting
        error = RuntimeError(f"log closed before the append to {self._name} was written")
        for fut in self._writing:
            if not fut.done():
                fut.set_exception(error)
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
            self._writer = None
        while not self._queue.empty():
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(error)
        return lost
