"""A repeated record — the same event (same eventId) written twice, as a Kafka producer retry
after a lost acknowledgement can (docs/log-engines.md "Broker outages") — counts once: the
projection worker derives each domain event once and the read models equal those of the log
without the repeat. Both engines."""

from __future__ import annotations

from chargelog.domain.log import SOURCE
from chargelog.projections.dedupe import RecentIds

from test_projections_runner import REGISTRY, expected_domain, session_trace, settled_worker


def test_recent_ids_remember_a_bounded_window():
    recent = RecentIds(size=2)
    assert [recent.repeat(i) for i in ("a", "b", "a", "c", "a")] == [False, False, True, False, False]
    assert recent.repeats == 1


async def test_a_repeated_source_event_counts_once(log, settings):
    await log.append(SOURCE, REGISTRY)
    source = session_trace("CP1", 7, "TAG1")
    for event in source:  # each event, then the same event again (a retried send)
        await log.append(SOURCE, [event, event])
    async with settled_worker(log, settings, expected_domain(source)) as worker:
        session = await worker.read_models.session(7)
        assert session.status == "stopped" and session.energyWh == 5000
