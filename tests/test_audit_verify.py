"""The tamper-evident log (domain/chain.py, adapters/cli/verify.py) on both engines: the
appender chains every event; ``chargelog verify`` — the real CLI as a subprocess — passes on
an untouched log and names the first broken link when a row of the SQLite file is edited or
deleted, or a record on Kafka is re-produced (a copy of the topic with one record edited, or a
replayed duplicate); a signed checkpoint catches a rewrite that re-computes the chain."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from chargelog.adapters.config import Settings
from chargelog.adapters.log.kafka import KafkaLog
from chargelog.domain.chain import link_hash, unseal
from chargelog.domain.envelope import Event
from chargelog.domain.log import DOMAIN, SOURCE, EventLog
from chargelog.domain.trace import Trace
from conftest import require_kafka
from processes import chargelog_cmd

TIMEOUT_S = 120


async def verify_cli(settings: Settings, *args: str, prefix: str | None = None) -> tuple[int, dict[str, Any]]:
    """``chargelog verify --format json`` over ``settings``' log: exit code and report."""
    proc = await asyncio.create_subprocess_exec(
        *chargelog_cmd("verify", "--log", settings.log, "--data-dir", str(settings.data_dir),
                       "--topic-prefix", prefix or settings.topic_prefix, "--format", "json", *args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    assert proc.returncode in (0, 1), err.decode()
    return proc.returncode or 0, json.loads(out)


def session(charge_point_id: str, transaction_id: int) -> list[Event]:
    trace = Trace(charge_point_id)
    return [*trace.opened(), *trace.boot(), *trace.status(1, "Available"),
            *trace.start(1, "TAG", 1000, transaction_id), *trace.energy(1, transaction_id, 1500, 7400),
            *trace.energy(1, transaction_id, 2500, 7400), *trace.stop(transaction_id, 3000)]


async def fill(log: EventLog) -> list[Event]:
    events = [e for i in range(3) for e in session(f"CP{i}", i + 1)]
    for i in range(0, len(events), 5):  # several group commits
        await log.append(SOURCE, events[i:i + 5])
    await log.append(DOMAIN, [Event(type="station.connected", chargePointId="CP1", payload={"chargePointId": "CP1"})])
    return events


def first_break(report: dict[str, Any], stream: str = SOURCE) -> dict[str, Any]:
    (found,) = [s for s in report["streams"] if s["stream"] == stream]
    assert found["breaks"], report
    return found["breaks"][0]


async def test_every_appended_event_carries_a_link_of_its_charge_points_chain(log: EventLog) -> None:
    events = await fill(log)
    records = await log.read(SOURCE, charge_point_id="CP1")
    assert [r.event.eventId for r in records] == [e.eventId for e in events if e.chargePointId == "CP1"]
    links = [r.event.chain for r in records]
    assert all(link is not None for link in links)
    assert [link.seq for link in links] == list(range(1, len(links) + 1))  # type: ignore[union-attr]
    assert len({link.writer for link in links}) == 1  # type: ignore[union-attr]
    raw = [r async for batch in log.scan_raw(SOURCE, charge_point_id="CP1") for r in batch.records()]
    previous = bytes(32)
    for record in raw:
        link = unseal(record.value)
        assert link is not None
        assert link_hash(previous, link.writer, link.seq, link.canonical) == link.hash
        assert Event.decode(link.canonical).chain is None
        previous = link.hash


async def test_verify_passes_on_an_untouched_log(log: EventLog, settings: Settings) -> None:
    await fill(log)
    code, report = await verify_cli(settings)
    assert code == 0, report
    by_stream = {s["stream"]: s for s in report["streams"]}
    assert by_stream[SOURCE]["verified"] == 3 * len(session("CP", 1)) and by_stream[SOURCE]["chains"] == 3
    assert by_stream[DOMAIN]["verified"] == 1


async def test_several_writers_of_one_charge_point_keep_the_chains_whole(log: EventLog, settings: Settings) -> None:
    """Two log instances (two processes: a gateway and an API node, say) append events of
    the same charge point in turn: on Kafka each is a chain of its own, on the embedded
    engine the second writer's appends meet the recorder's key and link on after the first's."""
    from chargelog.adapters.log import open_log

    other = open_log(settings)
    await other.start()
    try:
        for i in range(6):
            writer = log if i % 2 == 0 else other
            await writer.append(SOURCE, session("CP1", i + 1)[i:i + 2])
    finally:
        await other.close()
    code, report = await verify_cli(settings, "--stream", SOURCE)
    assert code == 0, report
    (source,) = report["streams"]
    assert source["verified"] == 12
    assert source["chains"] == (2 if settings.is_kafka else 1)


def sqlite_rows(settings: Settings) -> sqlite3.Connection:
    return sqlite3.connect(settings.data_dir / "log" / f"{SOURCE}.sqlite")


async def test_embedded_verify_names_an_edited_row_and_a_deleted_one(tmp_path: Path) -> None:
    settings = Settings(log="embedded", data_dir=tmp_path / "data")
    from chargelog.adapters.log import open_log

    log = open_log(settings)
    await log.start()
    await fill(log)
    await log.close()
    with sqlite_rows(settings) as db:  # an edit by hand: 3000 Wh at the stop becomes 2000 Wh
        rowid, state = next(row for row in db.execute("SELECT rowid, state FROM events WHERE originator_id='CP1' "
                                                      "ORDER BY rowid") if b'"meterStop":3000' in row[1])
        db.execute("UPDATE events SET state=? WHERE rowid=?", (state.replace(b'"meterStop":3000', b'"meterStop":2000'),
                                                               rowid))
    code, report = await verify_cli(settings)
    assert code == 1
    found = first_break(report)
    assert (found["position"], found["chargePointId"], found["reason"]) == (f"0-{rowid}", "CP1", "edited")
    assert found["eventId"] == Event.decode(state).eventId
    code, report = await verify_cli(settings, "--charge-point", "CP0")
    assert code == 0, report  # the other charge points' chains hold

    with sqlite_rows(settings) as db:  # undo the edit, delete another event of CP2 instead
        db.execute("UPDATE events SET state=? WHERE rowid=?", (state, rowid))
        deleted = db.execute("SELECT rowid FROM events WHERE originator_id='CP2' ORDER BY rowid LIMIT 1 OFFSET 4"
                             ).fetchone()[0]
        db.execute("DELETE FROM events WHERE rowid=?", (deleted,))
        after = db.execute("SELECT rowid FROM events WHERE originator_id='CP2' AND rowid>? ORDER BY rowid LIMIT 1",
                           (deleted,)).fetchone()[0]
    code, report = await verify_cli(settings)
    assert code == 1
    found = first_break(report)
    assert (found["position"], found["chargePointId"], found["reason"]) == (f"0-{after}", "CP2", "missing")


async def test_a_signed_checkpoint_catches_a_rewritten_chain(tmp_path: Path) -> None:
    settings = Settings(log="embedded", data_dir=tmp_path / "data")
    from chargelog.adapters.log import open_log

    log = open_log(settings)
    await log.start()
    await fill(log)
    key = tmp_path / "auditor.pem"
    await verify_cli(settings, "--generate-key", str(key))
    code, _ = await verify_cli(settings, "--sign-key", str(key), "--checkpoint-out", str(tmp_path / "cp.json"))
    assert code == 0
    await log.append(SOURCE, session("CP1", 9)[:3])  # the log goes on after the checkpoint
    await log.close()
    checked = ("--checkpoint", str(tmp_path / "cp.json"), "--public-key", f"{key}.pub")
    code, report = await verify_cli(settings, *checked)
    assert code == 0, report

    # whoever can write the file edits an event AND re-computes every later hash of its chain
    with sqlite_rows(settings) as db:
        rows = db.execute("SELECT rowid, state FROM events WHERE originator_id='CP1' ORDER BY rowid").fetchall()
        previous = bytes(32)
        assert sum(b'"meterStop":3000' in state for _, state in rows) == 1
        for rowid, state in rows:
            link = unseal(state)
            assert link is not None
            canonical = link.canonical.replace(b'"meterStop":3000', b'"meterStop":2000')
            digest = link_hash(previous, link.writer, link.seq, canonical)
            rewritten = canonical[:-5] + b'{"writer":"%s","seq":%d,"hash":"%s"}}' % (
                link.writer.encode(), link.seq, digest.hex().encode())
            db.execute("UPDATE events SET state=? WHERE rowid=?", (rewritten, rowid))
            previous = digest
    code, report = await verify_cli(settings)
    assert code == 0, report  # the chain alone cannot see a consistent rewrite …
    code, report = await verify_cli(settings, *checked)
    assert code == 1  # … the auditor's signed heads do
    assert first_break(report)["reason"] == "checkpoint"
    assert first_break(report)["chargePointId"] == "CP1"


async def test_kafka_verify_names_a_re_produced_record(tmp_path: Path) -> None:
    bootstrap = require_kafka()
    prefix, forged_prefix = f"t{uuid.uuid4().hex[:12]}", f"t{uuid.uuid4().hex[:12]}"
    settings = Settings(log=f"kafka://{bootstrap}", topic_prefix=prefix, partitions=4, data_dir=tmp_path / "d")
    log = KafkaLog(bootstrap, topic_prefix=prefix, partitions=4)
    forged = KafkaLog(bootstrap, topic_prefix=forged_prefix, partitions=4)
    await log.start()
    await forged.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await fill(log)
        code, report = await verify_cli(settings)
        assert code == 0, report
        # a copy of the source topic with one record edited, as a rewrite of the topic would be
        await forged._partitions(SOURCE)
        records = [r async for batch in log.scan_raw(SOURCE) for r in batch.records()]
        target = next(r for r in records if r.chargePointId == "CP2" and b'"meterStop":3000' in r.value)
        copied = {}
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            value = r.value.replace(b'"meterStop":3000', b'"meterStop":30') if r is target else r.value
            ack = await producer.send_and_wait(forged.topic(SOURCE), value, key=r.chargePointId.encode(),
                                               partition=r.partition)
            copied[(r.partition, r.offset)] = ack.offset
        code, report = await verify_cli(settings, "--stream", SOURCE, prefix=forged_prefix)
        assert code == 1
        found = first_break(report)
        assert found["position"] == f"{target.partition}-{copied[(target.partition, target.offset)] + 1}"
        assert (found["chargePointId"], found["reason"]) == ("CP2", "edited")

        # a faithful copy of a record replayed onto the original topic
        replayed = next(r for r in records if r.chargePointId == "CP0")
        ack = await producer.send_and_wait(log.topic(SOURCE), replayed.value, key=b"CP0", partition=replayed.partition)
        code, report = await verify_cli(settings)
        assert code == 1
        found = first_break(report)
        assert (found["position"], found["reason"]) == (f"{ack.partition}-{ack.offset + 1}", "duplicate")
    finally:
        await producer.stop()
        await forged.close()
        await log.close()
