"""Several processes appending to one embedded log at once (``chargelog serve`` runs its
gateways and its fold as processes over the same files, docs/deploy.md "Processes"): every
append lands once, the hash chains of the charge points they share verify, and
``recordedAt`` rises with the position whichever process wrote."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from chargelog.adapters.audit.verify import verify_log
from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.domain.log import SOURCE, Record

WRITERS = 3
BATCHES = 40
#: One process's appends: concurrent batches of events of charge points every writer shares.
WRITER = """
import asyncio, sys
from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.domain.envelope import Event, Source

async def main(data_dir, name, batches):
    log = EmbeddedLog(data_dir)
    await log.start()
    async def batch(n):
        await log.append("source", [Event(type="ocpp.call", chargePointId=f"SHARED-{(n + k) % 4}",
                                          source=Source.OCPP, payload={"writer": name, "n": n, "k": k})
                                    for k in range(3)])
    await asyncio.gather(*(batch(n) for n in range(batches)))
    await log.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_processes_appending_to_one_file_keep_chains_and_time_order(tmp_path: Path) -> None:
    writers = [await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(tmp_path), f"w{i}",
                                                    str(BATCHES)) for i in range(WRITERS)]
    assert [await w.wait() for w in writers] == [0] * WRITERS
    log = EmbeddedLog(tmp_path)
    await log.start()
    try:
        records = await log.read(SOURCE)
        reports = await verify_log(log, [SOURCE])
    finally:
        await log.close()
    written = {(r.event.payload["writer"], r.event.payload["n"], r.event.payload["k"]) for r in records}
    assert len(records) == len(written) == WRITERS * BATCHES * 3
    assert [r.event.recordedAt for r in records] == sorted(r.event.recordedAt for r in records)
    assert len({r.event.recordedAt for r in records}) == len(records)
    (report,) = reports
    assert report.breaks == [] and report.verified == len(records)


async def test_a_typed_subscription_skips_another_processs_other_records(tmp_path: Path) -> None:
    """``subscribe(types=…)`` (the gateways' presence and command followers): of another
    process's appends only those types come, in order, and it goes on past the rest."""
    log = EmbeddedLog(tmp_path)
    await log.start()
    try:
        wanted: list[tuple[str, int]] = []
        got: list[Record] = []
        async with contextlib.aclosing(log.subscribe(SOURCE, types=("ocpp.call",))) as records:
            for round_ in range(2):  # the second round's records come after the first's skipped rest
                writer = await asyncio.create_subprocess_exec(sys.executable, "-c", MIXED, str(tmp_path), str(round_))
                assert await writer.wait() == 0
                wanted += [(f"r{round_}", n) for n in range(0, 30, 3)]
                async with asyncio.timeout(60):
                    while len(got) < len(wanted):
                        got.append(await anext(records))
        assert [(r.event.payload["writer"], r.event.payload["n"]) for r in got] == wanted
        assert {r.event.type for r in got} == {"ocpp.call"}
    finally:
        await log.close()


#: Another process's appends: every third event an ``ocpp.call``, the rest other types.
MIXED = """
import asyncio, sys
from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.domain.envelope import Event, Source

async def main(data_dir, round_):
    log = EmbeddedLog(data_dir)
    await log.start()
    for n in range(30):
        await log.append("source", [Event(type="ocpp.call" if n % 3 == 0 else "ocpp.frame", chargePointId="MIX",
                                          source=Source.OCPP, payload={"writer": f"r{round_}", "n": n})])
    await log.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""
