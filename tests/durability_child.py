"""Child process for the durability contract test (tests/test_log_contract.py).

Usage: ``python tests/durability_child.py LOG DATA_DIR TOPIC_PREFIX PARTITIONS EVENT_ID``.
Opens the log, appends one event with ``EVENT_ID`` to stream ``source``, prints
``acked <position>`` once ``append`` has returned, then waits forever: the test SIGKILLs it
on reading that line, and the event must still be in the log afterwards.
"""

from __future__ import annotations

import asyncio
import sys

from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, append_one


async def main(log_url: str, data_dir: str, topic_prefix: str, partitions: str, event_id: str) -> None:
    settings = Settings(log=log_url, data_dir=data_dir, topic_prefix=topic_prefix, partitions=int(partitions))
    log = open_log(settings)
    await log.start()
    position = await append_one(log, SOURCE, Event(eventId=event_id, type="test.durable", chargePointId="CPK"))
    sys.stdout.write(f"acked {position}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
