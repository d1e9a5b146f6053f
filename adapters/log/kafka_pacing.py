"""Paced metadata refreshes for aiokafka clients while no broker answers (docs/log-engines.md,
"Broker outages").

aiokafka (0.14) refreshes cluster metadata without any pause after a failed attempt: while
the broker is down, a consumer's fetcher (a partition without a known leader) and an
idempotent producer's producer-id lookup ask for a refresh again as soon as the previous one
failed. Measured with ``bench/fault_bench.py``: about 1,300 failed refreshes per second per
process, each logged ("Unable connect to node …", "Unable to update metadata …") — three
role processes each busy on a CPU for the whole outage, competing with the broker that is
starting again. The Java client pauses between reconnects (``reconnect.backoff.ms`` 50 ms,
doubling to ``reconnect.backoff.max.ms`` 1 s); aiokafka has no such setting.

:func:`pace_metadata_refreshes` gives one client that pause: after a failed refresh the next
one starts :data:`METADATA_BACKOFF_MIN_S` later, doubled per consecutive failure up to
:data:`METADATA_BACKOFF_MAX_S`; a successful refresh resets it. Callers waiting for a
refresh wait for the pause too, so their retry loops are paced by it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from chargelog.domain.backoff import backoff_s

log = logging.getLogger("chargelog.log.kafka")

#: Pause after the first failed metadata refresh (s; the Java client's reconnect.backoff.ms).
METADATA_BACKOFF_MIN_S = 0.05
#: Longest pause between failed refreshes (s): a broker that is back again is noticed at most
#: this late (the Java client's reconnect.backoff.max.ms is 1 s).
METADATA_BACKOFF_MAX_S = 0.5


def pace_metadata_refreshes(client: Any) -> None:
    """Wrap the metadata refresh of ``client`` (an ``aiokafka.AIOKafkaClient``: a consumer's
    ``_client``, a producer's ``client``, an admin client's ``_client``) with the bounded
    backoff of the module docstring. A client without that method (another aiokafka
    version) is left as it is, with a warning."""
    update = getattr(client, "_metadata_update", None)
    if update is None:
        log.warning("aiokafka client %r has no _metadata_update: metadata refreshes are not paced", client)
        return
    failures = 0

    async def paced(cluster_metadata: Any, topics: Any) -> bool:
        nonlocal failures
        updated = await update(cluster_metadata, topics)
        if updated:
            failures = 0
        else:
            failures += 1
            await asyncio.sleep(backoff_s(failures, METADATA_BACKOFF_MIN_S, METADATA_BACKOFF_MAX_S))
        return bool(updated)

    client._metadata_update = paced
