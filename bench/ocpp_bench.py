"""OCPP gateway benchmark: frames/s acknowledged after durable, and
connected charge points held by one gateway process. Both log engines.

The gateway runs as its own process (``python -m chargelog.adapters.ocpp.run``); simulated
stations run in separate worker processes (raw ``websockets`` clients speaking OCPP-J 1.6).

* ``throughput``: ``--stations`` connections, each sending Heartbeat and MeterValues CALLs in
  a loop (one outstanding CALL per station, as OCPP-J requires) for ``--duration`` s; a CALL
  counts when its CALLRESULT arrives (sent only after the CALL and CALLRESULT events are
  durable). Reports acknowledged CALLs/s (each is 2 frames on the log).
* ``connections``: ramps up to ``--target`` connections in steps of ``--step``, each does one
  BootNotification; reports how many were held, the gateway's RSS, and the ramp time.

Usage::

    python bench/ocpp_bench.py throughput --engine embedded --stations 200 --duration 20
    python bench/ocpp_bench.py connections --engine kafka --target 20000

Prints one JSON object per run. ``ulimit -n`` bounds both sides (the gateway needs one file
descriptor per connection): it is printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import select
import sys
import tempfile
import time
import uuid
from typing import Any

import psutil
import websockets

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
METER = {"connectorId": 1, "meterValue": [{"timestamp": "2026-01-01T10:00:00Z", "sampledValue": [
    {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"}]}]}
BOOT = {"chargePointVendor": "bench", "chargePointModel": "sim"}


def raise_nofile(wanted: int = 65536) -> int:
    """Raise this process's open-file limit to ``wanted`` (root) or the hard limit; returns it."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- stations (worker processes) ------------------------------------------------------------

async def _station_loop(uri: str, state: dict[str, float], counts: list[int], ready: asyncio.Event,
                        latencies_ms: list[float], status: bool = False) -> None:
    """Boot, then until the deadline: MeterValues alternating with Heartbeat — or, with
    ``status``, with a StatusNotification flipping connector 1 between Available and
    Preparing (a public ``connector.status.changed`` every other CALL)."""
    async with websockets.connect(uri, subprotocols=["ocpp1.6"], compression=None, open_timeout=60,
                                  ping_interval=None, max_queue=4) as ws:
        await ws.send(json.dumps([2, "b", "BootNotification", BOOT]))
        await ws.recv()
        await ready.wait()
        i = 0
        while time.monotonic() < state["deadline"]:
            i += 1
            if i % 2 == 0:
                frame = [2, str(i), "MeterValues", METER]
            elif status:
                frame = [2, str(i), "StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                           "status": "Available" if i % 4 == 1 else "Preparing"}]
            else:
                frame = [2, str(i), "Heartbeat", {}]
            sent = time.perf_counter()
            await ws.send(json.dumps(frame))
            await ws.recv()
            latencies_ms.append(round((time.perf_counter() - sent) * 1000, 2))
            counts[0] += 1


async def stations_throughput(base: str, first: int, count: int, duration: float, start_at: float,
                              status: bool = False) -> dict[str, Any]:
    """Connect ``count`` stations, start all at wall time ``start_at``, loop ``duration`` s.
    ``latencies_ms``: every CALL → CALLRESULT round trip (ms) in the order answered."""
    counts, state, ready, latencies = [0], {"deadline": 0.0}, asyncio.Event(), []
    tasks = [asyncio.create_task(_station_loop(f"{base}/BENCH{first + i}", state, counts, ready, latencies, status))
             for i in range(count)]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    t0 = time.monotonic()
    state["deadline"] = t0 + duration
    ready.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {"acked": counts[0], "elapsed_s": time.monotonic() - t0, "errors": len(errors),
            "first_error": errors[0] if errors else None, "latencies_ms": latencies}


async def stations_hold(base: str, first: int, count: int, step: int, hold_s: float) -> dict[str, Any]:
    held: list[Any] = []
    failures = 0
    errors: dict[str, str] = {}
    t0 = time.monotonic()
    for start in range(0, count, step):
        async def one(n: int) -> Any:
            ws = await websockets.connect(f"{base}/HOLD{n}", subprotocols=["ocpp1.6"], compression=None,
                                          open_timeout=120, ping_interval=None, max_queue=2)
            await ws.send(json.dumps([2, "b", "BootNotification", BOOT]))
            await asyncio.wait_for(ws.recv(), 120)
            return ws

        results = await asyncio.gather(*(one(first + n) for n in range(start, min(count, start + step))),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                failures += 1
                errors.setdefault(type(r).__name__, repr(r)[:200])
            else:
                held.append(r)
        print(json.dumps({"progress": len(held), "failures": failures}), file=sys.stderr, flush=True)
    ramp = time.monotonic() - t0
    await asyncio.sleep(hold_s)
    alive = sum(1 for ws in held if ws.close_code is None)
    for ws in held:
        ws.transport.abort()
    return {"held": alive, "failures": failures, "ramp_s": ramp, "errors": errors}


# -- orchestration ---------------------------------------------------------------------------

def gateway_env(engine: str, data_dir: str) -> dict[str, str]:
    env = {**os.environ, "CHARGELOG_OCPP_PORT": "0", "CHARGELOG_OCPP_HOST": "127.0.0.1",
           "CHARGELOG_DATA_DIR": data_dir, "CHARGELOG_LOG": "embedded",
           # thousands of unregistered charge points from one loopback address, opened at once
           "CHARGELOG_UNKNOWN_CHARGE_POINTS_PER_ADDRESS_PER_HOUR": "1000000",
           "CHARGELOG_UNKNOWN_CHARGE_POINTS_MAX": "1000000", "CHARGELOG_HTTP_HEADER_TIMEOUT_S": "60"}
    if engine == "kafka":
        env.update(CHARGELOG_LOG=f"kafka://{KAFKA}", CHARGELOG_TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:8]}",
                   CHARGELOG_PARTITIONS="8")
    return env


async def start_gateway(engine: str, data_dir: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import resource as r, runpy; n = r.getrlimit(r.RLIMIT_NOFILE)[0]; "
        "r.setrlimit(r.RLIMIT_NOFILE, (n, n)); "
        "runpy.run_module('chargelog.adapters.ocpp.run', run_name='__main__')",
        env=gateway_env(engine, data_dir), stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
    if not line.startswith("listening "):
        raise RuntimeError(f"gateway did not start: {line!r}")
    return proc, int(line.split()[1])


async def run_workers(args: list[list[str]]) -> list[dict[str, Any]]:
    procs = [await asyncio.create_subprocess_exec(sys.executable, __file__, *a, stdout=asyncio.subprocess.PIPE)
             for a in args]
    outs = await asyncio.gather(*(p.communicate() for p in procs))
    return [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outs]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    nofile = raise_nofile()
    with tempfile.TemporaryDirectory(prefix="ocpp-bench-") as data_dir:
        proc, port = await start_gateway(args.engine, data_dir)
        gateway = psutil.Process(proc.pid)
        base = f"ws://127.0.0.1:{port}/ocpp"
        per = [args.__dict__["stations" if args.mode == "throughput" else "target"] // args.workers] * args.workers
        try:
            cpu0 = gateway.cpu_times()
            if args.mode == "throughput":
                start_at = time.time() + 3 + per[0] / 500
                results = await run_workers([["_throughput", base, str(i * per[0]), str(n), str(args.duration),
                                              str(start_at)] for i, n in enumerate(per)])
                acked = sum(r["acked"] for r in results)
                elapsed = max(r["elapsed_s"] for r in results)
                result = {"acked_calls": acked, "calls_per_s": round(acked / elapsed),
                          "frames_per_s": round(2 * acked / elapsed), "stations": sum(per)}
            else:
                results = await run_workers([["_hold", base, str(i * per[0]), str(n), str(args.step // args.workers),
                                              str(args.hold)] for i, n in enumerate(per)])
                result = {"held": sum(r["held"] for r in results), "failures": sum(r["failures"] for r in results),
                          "ramp_s": round(max(r["ramp_s"] for r in results), 1),
                          "errors": [r["errors"] for r in results if r["errors"]],
                          "gateway_rss_mb": round(gateway.memory_info().rss / 2**20)}
            cpu1 = gateway.cpu_times()
            result["gateway_cpu_s"] = round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 1)
        finally:
            proc.terminate()
            await proc.wait()
    return {"mode": args.mode, "engine": args.engine, "workers": args.workers, "ulimit_n": nofile,
            "cpus": os.cpu_count(), **result}


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, also when the event loop left the pipe non-blocking
    (a plain print then stops at the pipe's 64 KiB)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        raise_nofile()
        kind, base, first, count, *rest = sys.argv[1:]
        import uvloop

        if kind == "_throughput":
            out = uvloop.run(stations_throughput(base, int(first), int(count), float(rest[0]), float(rest[1]),
                                                 rest[2:] == ["status"]))
        else:
            out = uvloop.run(stations_hold(base, int(first), int(count), int(rest[0]), float(rest[1])))
        write_all(sys.stdout.fileno(), (json.dumps(out) + "\n").encode())
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["throughput", "connections"])
    parser.add_argument("--engine", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--stations", type=int, default=200, help="throughput: concurrent stations")
    parser.add_argument("--duration", type=float, default=20.0, help="throughput: seconds of load")
    parser.add_argument("--target", type=int, default=20000, help="connections: how many to open")
    parser.add_argument("--step", type=int, default=1000, help="connections: opened per ramp step")
    parser.add_argument("--hold", type=float, default=10.0, help="connections: seconds to hold them")
    parser.add_argument("--workers", type=int, default=1, help="station worker processes")
    print(json.dumps(asyncio.run(bench(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
