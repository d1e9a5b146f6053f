"""An outbox for events that must reach the log eventually even when it is down right now —
the gateway's connection end events (docs/contracts.md: exactly one end event per
connection; ../shared/DESIGN.md "presence stays true").

``put`` never blocks and never fails; one writer task appends what is queued, in order,
retrying with a bounded backoff (:data:`RETRY_MIN_S` … :data:`RETRY_MAX_S`) and a warning
naming what waits. ``flush`` waits (bounded) until everything queued so far is durable;
``close`` stops the writer and returns what could not be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from chargelog.domain.backoff import backoff_s
from chargelog.domain.envelope import Event

logger = logging.getLogger("chargelog.log.outbox")

#: First pause after a failed append (s), doubled per failure up to :data:`RETRY_MAX_S`.
RETRY_MIN_S = 0.2
#: Longest pause between two attempts (s).
RETRY_MAX_S = 1.0
#: Most events appended at once.
MAX_BATCH = 1000

Append = Callable[[Sequence[Event]], Awaitable[object]]


class Outbox:
    """Events appended with ``append`` in ``put`` order, retried until durable or closed.
    ``on_written`` is called after every successful append (e.g. to clear a degraded flag)."""

    def __init__(self, append: Append, *, name: str, on_written: Callable[[], None] | None = None) -> None:
        self._append = append
        self._name = name
        self._on_written = on_written
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> list[Event]:
        """Events not durable yet, in order."""
        return list(self._pending)

    def put(self, events: Sequence[Event]) -> None:
        """Queue ``events`` (in order) for the log; returns at once."""
        if not events:
            return
        self._pending.extend(events)
        self._idle.clear()
        self._wake.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name=f"outbox-{self._name}")

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            if not self._pending:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._pending[:MAX_BATCH]
            try:
                await self._append(batch)
            except Exception as exc:  # noqa: BLE001 - retried until written or closed
                failures += 1
                delay = backoff_s(failures, RETRY_MIN_S, RETRY_MAX_S)
                logger.warning("%s: appending %d queued events (%s) failed (%s: %s); retrying in %.1f s",
                               self._name, len(self._pending), describe(self._pending), type(exc).__name__,
                               exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            del self._pending[:len(batch)]
            if self._on_written is not None:
                self._on_written()

    async def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every queued event is durable; True if so."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), max(0.0, timeout_s))
        return not self._pending

    async def close(self) -> list[Event]:
        """Stop the writer; returns the events that were not written."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        left, self._pending = self._pending, []
        return left


def describe(events: Sequence[Event]) -> str:
    """``events`` for a log line: "2 × ocpp.connection.closed (CP1, CP2)"."""
    types: dict[str, int] = {}
    for event in events:
        types[event.type] = types.get(event.type, 0) + 1
    cps = sorted({e.chargePointId for e in events})
    shown = ", ".join(cps[:5]) + (", …" if len(cps) > 5 else "")
    return "; ".join(f"{n} × {t}" for t, n in types.items()) + f" ({shown})"
