"""Acknowledge after durable, tested by SIGKILL: the gateway runs in a subprocess
(``python -m chargelog.adapters.ocpp.run``), is killed right after the station received a
CALLRESULT, and after a restart on the same data directory / topic prefix the CALL, the
CALLRESULT and the transactionId it carried are in the log; the retried StartTransaction
gets the same transactionId; the dead process's connection is recorded closed. Both engines."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import websockets

from test_ocpp_support import TIMEOUT_S, exchange, frames, source_events

START = [2, "crash-1", "StartTransaction",
         {"connectorId": 1, "idTag": "TAG", "meterStart": 100, "timestamp": "2026-01-01T10:00:00Z"}]


@asynccontextmanager
async def gateway_process(settings) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    env = {**os.environ, "CHARGELOG_LOG": settings.log, "CHARGELOG_DATA_DIR": str(settings.data_dir),
           "CHARGELOG_TOPIC_PREFIX": settings.topic_prefix, "CHARGELOG_PARTITIONS": str(settings.partitions),
           "CHARGELOG_OCPP_PORT": "0", "CHARGELOG_OCPP_HOST": "127.0.0.1"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "chargelog.adapters.ocpp.run", env=env,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("listening "), line
        yield proc, int(line.split()[1])
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_sigkill_after_callresult_loses_nothing(log, settings):
    async with gateway_process(settings) as (proc, port):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-CRASH", subprotocols=["ocpp1.6"])
        answer = await exchange(ws, START)
        os.kill(proc.pid, signal.SIGKILL)  # right after the station got its CALLRESULT
        await proc.wait()
        await ws.close()
    assert answer[0] == 3 and answer[1] == "crash-1"
    transaction_id = answer[2]["transactionId"]

    async with gateway_process(settings) as (proc, port):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ocpp/CP-CRASH", subprotocols=["ocpp1.6"]) as ws:
            retried = await exchange(ws, [*START[:1], "crash-2", *START[2:]])
        assert retried[2]["transactionId"] == transaction_id
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT_S) == 0

    events = await source_events(log, "CP-CRASH")
    fs = frames(events)
    call, result = fs[0].payload, fs[1].payload
    assert (call["direction"], call["messageId"], call["raw"]) == ("in", "crash-1", json.dumps(START))
    assert (result["direction"], result["messageTypeId"], result["messageId"]) == ("out", 3, "crash-1")
    assert result["payload"]["transactionId"] == transaction_id
    assert result["raw"] == json.dumps(answer, separators=(",", ":"))
    closed = [e.payload for e in events if e.type == "ocpp.connection.closed"]
    assert closed[0]["code"] == 1006 and closed[0]["reason"] == "gateway restarted"
    assert closed[0]["connectionId"] == events[0].payload["connectionId"]
