"""Property tests of the whole fold (translator + read-model projections) over arbitrary logs:
valid frames, CALLs answered with a CALLERROR, answered CALLs whose payloads break the 1.6
schema (logs from before the gateway checked them), frames naming other charge points'
transactions, duplicated and reordered events, and crashes between any two events.

Whatever the log holds: nothing raises, nothing is quarantined (bad input is never a
defect), the translator's output after crashes equals the output without them, the live read
models equal a rebuild from the domain stream byte for byte, every read model passes its
view models, and no session holds another charge point's frames."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargelog.domain.envelope import Event
from chargelog.domain.log import Position, Record
from chargelog.domain.trace import Trace
from chargelog.projections.base import RowFold
from chargelog.projections.query import ProjectionReadModels
from chargelog.projections.runner import projection_folds
from chargelog.projections.translator import TranslatorFold

CPS = ["CP1", "CP2", "CP3"]
PARTITIONS = 2
STATUSES = ["Available", "Preparing", "Charging", "Finishing", "Unavailable", "Faulted"]
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6) | st.sampled_from(["9999-99-99", "9999-12-31T23:59:59-01:00", "", "Available"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)
cp = st.sampled_from(CPS)
op = st.one_of(
    st.tuples(st.just("open"), cp), st.tuples(st.just("close"), cp), st.tuples(st.just("offline"), cp),
    st.tuples(st.just("status"), cp, st.integers(0, 2), st.sampled_from(STATUSES)),
    st.tuples(st.just("start"), cp, st.integers(1, 2), st.integers(0, 5000)),
    st.tuples(st.just("meter"), cp, st.integers(0, 9), st.integers(0, 20000), st.booleans()),
    st.tuples(st.just("stop"), cp, st.integers(0, 9), st.integers(0, 20000), st.booleans()),
    st.tuples(st.just("callerror"), cp, st.sampled_from(["StatusNotification", "MeterValues", "StopTransaction"])),
    st.tuples(st.just("junk"), cp, st.sampled_from(["StatusNotification", "StartTransaction", "MeterValues",
                                                    "StopTransaction"]), st.text(max_size=12), junk),
    st.tuples(st.just("command"), cp, st.sampled_from(["Reset", "ChangeAvailability", "UnlockConnector",
                                                       "RemoteStartTransaction", "ReserveNow"]),
              st.one_of(st.sampled_from(["Accepted", "Rejected", "Scheduled", "UnlockFailed", "Occupied"]), junk)),
    st.tuples(st.just("tick"), cp, st.integers(0, 200_000)),
    st.tuples(st.just("dup"), st.integers(0, 200)),
    st.tuples(st.just("swap"), st.integers(0, 200)),
)


def source_log(ops: list[tuple[Any, ...]]) -> tuple[list[Event], dict[int, str]]:
    """The source events of ``ops`` and which charge point each transactionId was allocated to."""
    traces = {c: Trace(c) for c in CPS}
    events: list[Event] = []
    owner: dict[int, str] = {}
    txids = itertools.count(1)
    for o in ops:
        match o:
            case ("open", c):
                events += traces[c].opened()
            case ("close", c):
                events += traces[c].closed()
            case ("offline", c):
                events += traces[c].offline()
            case ("status", c, connector, status):
                events += traces[c].status(connector, status)
            case ("start", c, connector, meter):
                tx = next(txids)
                owner[tx] = c
                events += traces[c].start(connector, "TAG", meter, tx)
            case ("meter", c, pick, register, foreign):
                events += traces[c].energy(1, pick_transaction(owner, c, pick, foreign), register)
            case ("stop", c, pick, meter, foreign):
                events += traces[c].stop(pick_transaction(owner, c, pick, foreign) or 1, meter)
            case ("callerror", c, action):
                events += traces[c].call_error(action, {"connectorId": 1, "transactionId": 1, "meterStop": 1,
                                                        "meterValue": [{"sampledValue": [{"value": 1}]}]})
            case ("junk", c, action, field, value):
                valid = {"connectorId": 1, "status": "Available", "errorCode": "NoError", "idTag": "T",
                         "meterStart": 0, "meterStop": 10, "transactionId": 1, "timestamp": traces[c].now(),
                         "meterValue": [{"timestamp": traces[c].now(), "sampledValue": [{"value": "5"}]}]}
                response = {"transactionId": value} if field == "transactionId" else {}
                events += traces[c].call_in(action, {**valid, field: value}, response or None)
            case ("command", c, action, answer):
                events += traces[c].command(action, {"connectorId": 1, "idTag": "TAG"}, "user-1", {"status": answer})
            case ("tick", c, seconds):
                traces[c].wait(seconds)
                events += traces[c].tick(3600)
            case ("dup", i) if events:
                events.append(events[i % len(events)])
            case ("swap", i) if len(events) > 1:
                j = i % (len(events) - 1)
                events[j], events[j + 1] = events[j + 1], events[j]
    return events, owner


def pick_transaction(owner: dict[int, str], charge_point_id: str, pick: int, foreign: bool) -> int | None:
    """One of the charge point's own transactionIds, or (``foreign``) any allocated one."""
    candidates = sorted(owner) if foreign else [tx for tx, c in sorted(owner.items()) if c == charge_point_id]
    return candidates[pick % len(candidates)] if candidates else None


def records(events: list[Event]) -> list[Record]:
    """``events`` on a log of ``PARTITIONS`` partitions (by chargePointId), with offsets."""
    counts = [0] * PARTITIONS
    out = []
    for event in events:
        partition = CPS.index(event.chargePointId) % PARTITIONS if event.chargePointId in CPS else 0
        out.append(Record(event, partition, counts[partition], Position({partition: counts[partition] + 1})))
        counts[partition] += 1
    return out


class MemoryStore:
    """Committed rows and positions of folds (what a crash leaves)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[int, str]]] = {}
        self.positions: dict[str, dict[int, int]] = {}

    def commit(self, fold: RowFold) -> None:
        for change in (fold.take_change(), fold.take_quarantine_change()):
            rows = self.rows.setdefault(change.name, {})
            for key in change.deletes:
                rows.pop(key, None)
            for key, partition, value in change.upserts:
                rows[key] = (partition, value)
            self.positions.setdefault(change.name, {}).update(change.positions)

    def restore(self, fold: RowFold) -> RowFold:
        fresh = type(fold)() if not isinstance(fold, TranslatorFold) else TranslatorFold()
        fresh.load(dict(self.positions.get(fold.name, {})),
                   [(k, p, v) for k, (p, v) in self.rows.get(fold.name, {}).items()])
        return fresh


def translate_with_crashes(source: list[Record], crashes: set[int], batch: int,
                           between: bool) -> tuple[list[Event], TranslatorFold]:
    """The runner's protocol: per batch, fold, append the output (skipping ids already
    appended after the last commit), commit. A crash after record ``i`` of a batch loses the
    uncommitted state (after appending the output when ``between``) and resumes."""
    store, domain = MemoryStore(), []
    fold = TranslatorFold()
    committed_len = 0
    i = 0
    while i < len(source):
        chunk = source[i:i + batch]
        crashed = False
        for j, record in enumerate(chunk):
            fold.offer(record)
            if i + j in crashes:
                crashes.discard(i + j)
                if between:
                    domain += fold.take_output()
                fold = store.restore(fold)
                fold.already_appended({e.eventId for e in domain[committed_len:]})
                i = min(fold.positions.get(p, 0) for p in range(PARTITIONS)) if fold.positions else 0
                # resume each partition at its own position: re-offer everything from the
                # least one (records below a partition's position are skipped as duplicates)
                crashed = True
                break
        if crashed:
            continue
        domain += fold.take_output()
        store.commit(fold)
        committed_len = len(domain)
        i += len(chunk)
    return domain, fold


def fold_domain(domain: list[Event], redeliver: list[int], crashes: set[int]) -> list[RowFold]:
    """The projections over ``domain``, with records delivered again and crashes (resume from
    the last commit, which is every 7 records)."""
    recs = records(domain)
    store = MemoryStore()
    folds = projection_folds()
    i = 0
    while i < len(recs):
        for fold in folds:
            fold.offer(recs[i])
            for back in redeliver:
                fold.offer(recs[max(i - back, 0)])  # a duplicate delivery: no effect
        if i in crashes:
            crashes.discard(i)
            folds = [store.restore(f) for f in folds]
            i = min((f.positions.get(p, 0) for f in folds for p in range(PARTITIONS)), default=0)
            continue
        if i % 7 == 6:
            for fold in folds:
                store.commit(fold)
        i += 1
    return folds


def encoded(fold: RowFold) -> dict[str, str]:
    return {key: fold.encode_row(row) for key, row in sorted(fold.rows.items())}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(op, max_size=60), st.sets(st.integers(0, 150), max_size=4), st.integers(1, 9), st.booleans(),
       st.lists(st.integers(1, 5), max_size=2), st.sets(st.integers(0, 150), max_size=3))
async def test_the_fold_is_total_deterministic_and_rebuildable(ops, crashes, batch, between, redeliver,
                                                               projection_crashes):
    events, owner = source_log(ops)
    source = records(events)

    reference, translator = translate_with_crashes(source, set(), len(source) + 1, False)
    assert translator.quarantined == {}  # bad input is never a defect
    crashed, _ = translate_with_crashes(source, set(crashes), batch, between)
    assert [e.model_dump_json() for e in crashed] == [e.model_dump_json() for e in reference]

    live = fold_domain(reference, redeliver, set(projection_crashes))
    rebuilt = fold_domain(reference, [], set())
    for a, b in zip(live, rebuilt, strict=True):
        assert a.quarantined == {} and b.quarantined == {}
        assert encoded(a) == encoded(b)
        assert a.positions == b.positions

    stations, active, history = live
    read_models = ProjectionReadModels(stations, active, history)  # type: ignore[arg-type]
    await read_models.stations()  # every row passes its view model
    await read_models.sites()
    for key, row in history.rows.items():
        view = await read_models.session(int(key))
        assert view is not None
        assert owner.get(view.transactionId) == view.chargePointId  # never another charge point's
    for key in active.rows:
        assert (await read_models.session(int(key))).status == "active"  # type: ignore[union-attr]
    assert {k for k, r in history.rows.items() if r["status"] == "active"} == set(active.rows)


KEYS = ["direction", "messageTypeId", "messageId", "action", "payload", "errorCode", "schemaError", "reason",
        "request", "staleAfterSeconds", "connectorId", "transactionId", "status", "timestamp", "meterValue"]
envelope_payload = st.dictionaries(st.sampled_from(KEYS), st.one_of(
    junk, st.sampled_from(["in", "out", 2, 3, 4, "StartTransaction", "StopTransaction", "MeterValues",
                           "StatusNotification", "RemoteStartTransaction", "timeout"])), max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["ocpp.frame", "ocpp.frame.invalid", "ocpp.connection.opened",
                                           "ocpp.connection.closed", "system.tick", "command.requested",
                                           "command.failed", "ocpp.anomaly"]),
                          envelope_payload, st.one_of(st.none(), st.text(max_size=4))), max_size=30))
def test_any_payload_of_any_source_type_folds_without_raising(items):
    fold = TranslatorFold()
    events = [Event(type=type_, chargePointId="CP1", payload=payload, correlationId=correlation)
              for type_, payload, correlation in items]
    for record in records(events):
        fold.offer(record)
    assert fold.quarantined == {}
    stations, active, history = projection_folds()
    for record in records(fold.take_output()):
        for projection in (stations, active, history):
            projection.offer(record)
            assert projection.quarantined == {}
