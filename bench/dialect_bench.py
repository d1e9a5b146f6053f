"""Charging/Communication/test-guide dialects benchmark: everything in this one process (OCPP gateway, projection
worker, API under uvicorn, one ``ocpp.v16`` station, the clients), on loopback.

* ``push``: ``--sockets`` Communication Protocol push sockets (``/?token=``, one user each);
  the station sends ``--changes`` StatusNotifications (Available ↔ Charging on connector 1,
  one at a time, each awaited). Latency = receipt of the ``charger_update``/status_changed
  push − the moment the StatusNotification was sent, over every socket. Each event also
  costs every socket a ``charger_status_update`` built from the read models.
* ``rest``: ``--cycles`` sequential ``POST /api/charging/start`` + ``/stop`` round trips
  (each waits for the charge point to start / stop the transaction).

Usage (repository root)::

    python bench/dialect_bench.py push --engine embedded --sockets 100 --changes 50
    python bench/dialect_bench.py rest --engine embedded --cycles 20

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(values[-1], 2),
            "mean_ms": round(statistics.fmean(values), 2), "n": len(values)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from chargelog.adapters.config import Settings
    from chargelog.adapters.log import open_log
    from test_dialect_support import dialect_stack, meter_station, push_client, station_ready, token

    data_dir = Path(tempfile.mkdtemp(prefix="dialect-bench-"))
    extra: dict[str, Any] = {"comms_max_connections": 100_000, "unknown_charge_points_per_address_per_hour": 10**6,
                             "unknown_charge_points_max": 10**6, "http_header_timeout_s": 60.0}
    if args.engine == "kafka":
        settings = Settings(log=f"kafka://{KAFKA}", topic_prefix=f"b{uuid.uuid4().hex[:10]}", data_dir=data_dir, **extra)
    else:
        settings = Settings(log="embedded", data_dir=data_dir, **extra)
    log = open_log(settings)
    await log.start()
    try:
        async with dialect_stack(log, settings) as stack, meter_station(stack, "BENCH1", connectors=2) as cp:
            await station_ready(stack, "BENCH1", 2)
            if args.mode == "push":
                async with contextlib.AsyncExitStack() as stack_of_sockets:
                    sockets = [await stack_of_sockets.enter_async_context(push_client(stack, token(settings, f"u{i}")))
                               for i in range(args.sockets)]
                    for ws in sockets:
                        await ws.of_type("active_session_update")
                    latencies: list[float] = []
                    started = time.perf_counter()
                    for n in range(args.changes):
                        status = "Charging" if n % 2 == 0 else "Available"
                        sent = time.perf_counter()
                        await cp.status(1, status)

                        async def receive(ws: Any, status: str = status, sent: float = sent) -> None:
                            await ws.next(lambda m: m.get("type") == "charger_update"
                                          and m.get("event") == "status_changed" and m["data"]["status"] == status)
                            latencies.append((time.perf_counter() - sent) * 1000)

                        await asyncio.gather(*(receive(ws) for ws in sockets))
                    elapsed = time.perf_counter() - started
                return {"bench": "push", "engine": args.engine, "sockets": args.sockets, "changes": args.changes,
                        "pushes_per_s": round(args.sockets * args.changes / elapsed, 1), **percentiles(latencies)}
            headers = {"Authorization": f"Bearer {token(settings, 'bench-user')}"}
            rounds: list[float] = []
            async with httpx.AsyncClient(base_url=stack.http_url, timeout=60) as http:
                for _ in range(args.cycles):
                    t0 = time.perf_counter()
                    r = await http.post("/api/charging/start", json={"charger_id": "BENCH1"}, headers=headers)
                    assert r.status_code == 200, r.text
                    r = await http.post("/api/charging/stop", json={"charger_id": "BENCH1"}, headers=headers)
                    assert r.status_code == 200, r.text
                    rounds.append((time.perf_counter() - t0) * 1000)
            return {"bench": "rest start+stop", "engine": args.engine, "cycles": args.cycles, **percentiles(rounds)}
    finally:
        await log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["push", "rest"])
    parser.add_argument("--engine", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
