"""The fold's properties on the real engines (``engine`` fixture): arbitrary hostile source
logs (the strategy of ``test_fold_properties``) appended to the log, the projection worker
stopped and restarted between any two events. The worker never stops or quarantines, the
domain stream is exactly the pure fold of the source stream (per charge point, in log order,
with the anomalies' source positions; a repeated eventId folded once), and every projection's live rows equal a rebuild from
the domain stream byte for byte."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from types import SimpleNamespace

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chargelog.adapters.log import open_log
from chargelog.domain.log import DOMAIN, SOURCE, EventLog, Position
from chargelog.domain.model import TranslatorState
from chargelog.domain.registry import Registry
from chargelog.domain.translate import SourceRef, translate
from chargelog.projections.dedupe import RecentIds
from chargelog.projections.rebuild import fold_named, rebuild
from chargelog.projections.runner import ProjectionWorker
from conftest import engine_settings
from test_fold_properties import encoded, op, source_log

TIMEOUT_S = 120


async def run_worker_until_caught_up(log: EventLog, settings) -> ProjectionWorker:
    worker = ProjectionWorker(log, settings, SimpleNamespace(current=Registry()))
    await worker.start()
    assert worker.translator is not None and worker.projections is not None
    async with asyncio.timeout(TIMEOUT_S):
        source = await log.latest(SOURCE)
        translator = worker.translator.folds[0]
        await worker.translator.wait_until(lambda: source <= Position(translator.positions))
        domain = await log.latest(DOMAIN)
        await worker.projections.wait_until(
            lambda: all(domain <= Position(f.positions) for f in worker.projections.folds))  # type: ignore[union-attr]
    return worker


def without_log_time(events) -> list[str]:
    """Events as JSON without what the log sets on append (``recordedAt``, the hash ``chain``)."""
    return [e.model_copy(update={"recordedAt": e.occurredAt, "chain": None}).model_dump_json() for e in events]


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ops=st.lists(op, min_size=4, max_size=40), cut=st.integers(0, 200))
@example(ops=[("open", "CP1"), ("open", "CP1"), ("close", "CP1"), ("dup", 0)], cut=0)  # a repeat that would fold anew
async def test_a_worker_restarted_anywhere_equals_the_pure_fold_and_a_rebuild(engine, tmp_path, ops, cut):
    settings = engine_settings(engine, tmp_path / uuid.uuid4().hex)
    log = open_log(settings)
    await log.start()
    try:
        events, _ = source_log(ops)
        cut %= len(events) + 1
        if events[:cut]:
            await log.append(SOURCE, events[:cut])
        worker = await run_worker_until_caught_up(log, settings)
        await worker.stop()  # a stop between any two events: the next worker resumes
        if events[cut:]:
            await log.append(SOURCE, events[cut:])
        worker = await run_worker_until_caught_up(log, settings)
        try:
            assert worker.quarantined() == []  # bad input is never a defect

            # the domain stream is the pure fold of the source stream, per charge point, each
            # event once: a record repeating an eventId (a producer retry) is skipped, as the
            # runner does (projections.dedupe)
            state, expected, recent = TranslatorState(), defaultdict(list), RecentIds()
            for record in await log.read(SOURCE):
                if recent.repeat(record.event.eventId):
                    continue
                _, derived = translate(state, record.event, at=SourceRef(record.partition, record.offset))
                expected[record.event.chargePointId] += derived
            actual = defaultdict(list)
            for record in await log.read(DOMAIN):
                actual[record.event.chargePointId].append(record.event)
            assert {cp: without_log_time(e) for cp, e in actual.items()} == \
                {cp: without_log_time(e) for cp, e in expected.items() if e}

            # every projection's live rows equal a rebuild from position zero
            assert worker.projections is not None
            for live in worker.projections.folds:
                rebuilt = fold_named(live.name)
                await rebuild(log, None, live.name, fold=rebuilt)
                assert encoded(live) == encoded(rebuilt), live.name
                assert rebuilt.quarantined == {}
        finally:
            await worker.stop()
    finally:
        await log.close()
