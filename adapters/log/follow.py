"""A catch-up subscription that survives log outages: when ``log.subscribe`` fails (e.g. the
Kafka broker went away and a client call raised), it subscribes again from the position of
the last record it yielded, after a bounded backoff, logging what it retries — so a follower
resumes where it was, without gap or duplicate (../shared/DESIGN.md "every role recovers by
itself when the log is back")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from chargelog.domain.backoff import backoff_s
from chargelog.domain.log import EventLog, Position, PositionNotAvailable, Record

logger = logging.getLogger("chargelog.log.follow")

#: First pause before subscribing again (s), doubled per failure up to :data:`RETRY_MAX_S`.
RETRY_MIN_S = 0.2
#: Longest pause before subscribing again (s).
RETRY_MAX_S = 1.0


async def follow(log: EventLog, stream: str, after: Position, *, name: str,
                 types: Sequence[str] = ()) -> AsyncIterator[Record]:
    """Every record of ``stream`` after ``after``, then live ones, forever (close with
    ``aclose()``); ``types`` as in ``subscribe`` (others may be left out). Raises only
    :class:`PositionNotAvailable` (the log no longer holds the records: retrying cannot help)."""
    failures = 0
    while True:
        try:
            async with contextlib.aclosing(log.subscribe(stream, after, types=types)) as records:
                async for record in records:
                    failures = 0
                    after = record.position
                    yield record
            return
        except PositionNotAvailable:
            raise
        except Exception as exc:  # noqa: BLE001 - retried from the last position
            failures += 1
            delay = backoff_s(failures, RETRY_MIN_S, RETRY_MAX_S)
            logger.warning("%s: following stream %r failed (%s: %s); subscribing again after %s in %.1f s",
                           name, stream, type(exc).__name__, exc, after, delay)
            await asyncio.sleep(delay)
