"""Gateway-side group commit: events that concurrent connections append to one stream are
gathered into one ``log.append`` call while the previous one is in flight.

Both engines take one append of many events far better than many concurrent appends of
two or three (Kafka: one record batch per partition instead of one per append, which
aiokafka sends one at a time per partition); each caller still returns only when *its*
events are durable, with their positions, and one caller's events stay contiguous and in
order (acknowledge after durable; docs/contracts.md "same batch").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chargelog.domain.envelope import Event
from chargelog.domain.log import EventLog, Position

from .tasks import cancel_and_wait

#: Most events in one ``log.append``.
MAX_EVENTS = 4000


class GroupCommitter:
    """``await append(events)`` → positions once durable; a single writer task."""

    def __init__(self, log: EventLog, stream: str) -> None:
        self.log = log
        self.stream = stream
        self._queue: asyncio.Queue[tuple[list[Event], asyncio.Future[list[Position]]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def append(self, events: Sequence[Event]) -> list[Position]:
        """Append ``events`` (contiguously, in order); raises what the log raised."""
        if not events:
            return []
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"ocpp-group-commit-{self.stream}")
        done: asyncio.Future[list[Position]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((list(events), done))
        return await done

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            count = len(batch[0][0])
            while not self._queue.empty() and count < MAX_EVENTS:
                item = self._queue.get_nowait()
                batch.append(item)
                count += len(item[0])
            try:
                positions = await self.log.append(self.stream, [e for events, _ in batch for e in events])
            except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            i = 0
            for events, fut in batch:
                if not fut.done():
                    fut.set_result(positions[i:i + len(events)])
                i += len(events)

    async def close(self) -> None:
        """Stop the writer once everything queued is written."""
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        await cancel_and_wait(self._writer)
