"""``verify_log``: re-compute the hash chains of the log's streams from the stored bytes
(:mod:`chargelog.domain.chain_verify`), optionally against a signed checkpoint's heads."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chargelog.domain.chain_verify import Break, ChainVerifier, Heads
from chargelog.domain.log import DOMAIN, SOURCE, START, EventLog

#: The streams ``chargelog verify`` checks by default (docs/contracts.md).
STREAMS = (SOURCE, DOMAIN, "txids")


@dataclass
class StreamReport:
    """One stream's result: records ``verified``, the ``breaks`` found (first one first), the
    ``position`` read up to and the chain ``heads`` there (for a checkpoint)."""

    stream: str
    verified: int = 0
    breaks: list[Break] = field(default_factory=list)
    position: str = ""
    heads: Heads = field(default_factory=dict)


async def verify_stream(
    log: EventLog, stream: str, *, charge_point_id: str | None = None, since: datetime | None = None,
    expected: Heads | None = None, progress: Callable[[int], None] | None = None,
) -> StreamReport:
    """Verify ``stream`` up to its end as of the call (from ``since``: anchored, see
    :class:`ChainVerifier`); ``progress(n)`` is told each batch of ``n`` records checked."""
    after = await log.position_at(stream, since) if since is not None else START
    end = await log.latest(stream)
    if charge_point_id is not None and expected:
        expected = {k: v for k, v in expected.items() if k[0] == charge_point_id}
    verifier = ChainVerifier(anchored=since is not None, expected=dict(expected or {}))
    scan = log.scan_raw(stream, after, until=end, charge_point_id=charge_point_id)
    async with contextlib.aclosing(scan):
        async for batch in scan:
            verifier.check_batch(batch.partition, batch.offsets, batch.chargePointIds, batch.values)
            if progress is not None:
                progress(len(batch))
    verifier.finish()
    heads = {key: (head.seq, head.hash) for key, head in verifier.heads.items()}
    return StreamReport(stream, verifier.verified, verifier.breaks, str(end), heads)


async def verify_log(
    log: EventLog, streams: Sequence[str] = STREAMS, *, charge_point_id: str | None = None,
    since: datetime | None = None, expected: dict[str, Heads] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[StreamReport]:
    """:func:`verify_stream` for each of ``streams``."""
    return [await verify_stream(log, stream, charge_point_id=charge_point_id, since=since,
                                expected=(expected or {}).get(stream), progress=progress)
            for stream in streams]
