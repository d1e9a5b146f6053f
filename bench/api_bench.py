"""Client API benchmark. Three measurements:

* ``push``: latency from a charge point's frame to a Mobile API client's receipt of the push.
  The whole server runs in this process (OCPP gateway, projection worker, API under uvicorn);
  ``--stations`` raw OCPP-J stations send StatusNotification CALLs at ``--rate`` frames/s in
  total (one outstanding CALL per station), and ``--subscribers`` mobile clients (each
  ``auth`` + ``subscribe`` all) receive ``connector.status.changed`` pushes. Stations run in
  one child process, subscribers in ``--client-procs`` others. Also reported: where the time
  goes — frame → domain event durable (gateway + translator), domain → the API's hub, hub →
  client receipt (the API's fan-out, websocket and client decoding). The CALL's ``timestamp`` is its send time
  (ms); latency = receipt time − that, over every push to every client. Reports p50/p99/max
  and the pushes received vs expected.
* ``stations``: ``getStations`` round trip with ``--count`` charge points on the map (domain
  events appended to the log, folded by the projection worker), ``--requests`` sequential
  requests from one client.
* ``subscribe``: ``--clients`` Mobile clients (raw websockets, in ``--client-procs`` processes)
  each ``auth`` + ``subscribe`` to every event with ``--count`` charge points on the map, all
  at once; reports the wall time until every client has its snapshot, the snapshot's bytes
  and the server process's CPU seconds.
* ``events``: ``getEventsSince`` of ``--limit`` events from the middle of a ``--total``-event
  domain stream (by position and by timestamp), ``--requests`` each.

Usage (from the repository root)::

    python bench/api_bench.py push --engine embedded --subscribers 200 --rate 200 --seconds 10
    python bench/api_bench.py stations --engine embedded --count 10000 --requests 200
    python bench/api_bench.py subscribe --engine embedded --count 5000 --clients 5000
    python bench/api_bench.py events --engine embedded --total 1000000 --limit 1000 --requests 20

Prints one JSON object per run. Kafka: ``--engine kafka`` (broker at $KAFKA_BOOTSTRAP or
127.0.0.1:9092, fresh topic prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's chargelog package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"p50_ms": round(pick(0.50), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(values[-1], 2),
            "mean_ms": round(statistics.fmean(values), 2), "n": len(values)}


def make_settings(engine: str, data_dir: Path, **extra: Any) -> Any:
    from chargelog.adapters.config import Settings

    base: dict[str, Any] = {"data_dir": data_dir, "ocpp_port": 0, "ocpp_host": "127.0.0.1",
                            "api_rate_per_s": 1e6, "api_rate_burst": 10**6,
                            # thousands of unregistered charge points from one loopback address
                            "unknown_charge_points_per_address_per_hour": 10**6, "unknown_charge_points_max": 10**6,
                            "http_header_timeout_s": 60.0, **extra}
    if engine == "kafka":
        return Settings(log=f"kafka://{KAFKA}", topic_prefix=f"bench{uuid.uuid4().hex[:10]}", partitions=8, **base)
    return Settings(log="embedded", **base)


def tune_gc(settings: Any) -> None:
    """The garbage-collector settings ``chargelog serve`` applies once started
    (``adapters/gc_tuning.py``), for the server running in this process."""
    from chargelog.adapters.gc_tuning import tune_after_start

    tune_after_start(freeze=settings.gc_freeze, threshold0=settings.gc_threshold0)


# -- push latency ---------------------------------------------------------------------------

async def run_push(args: argparse.Namespace) -> dict[str, Any]:
    from chargelog.adapters.log import open_log
    from test_api_support import api_stack

    settings = make_settings(args.engine, Path(tempfile.mkdtemp()) / "data", heartbeat_interval_s=3600)
    log = open_log(settings)
    await log.start()
    try:
        async with api_stack(log, settings) as stack:
            tune_gc(settings)
            keys = [stack.key(f"bench-user-{i}", "read:stations") for i in range(args.subscribers)]
            # where the time goes: frame send → domain event durable → the API's hub has it
            to_domain: list[float] = []
            to_source: list[float] = []  # frame send → its CALL event durable on ``source`` (gateway)
            source_to_domain: list[float] = []  # → the translated domain event durable
            to_hub: list[float] = []
            source_durable: dict[str, float] = {}  # source eventId → when its append returned
            append = log.append

            async def timed_append(stream: str, events: Any) -> Any:
                positions = await append(stream, events)
                if stream == "source":
                    now = time.time()
                    for event in events:
                        source_durable[event.eventId] = now
                return positions

            log.append = timed_append  # type: ignore[method-assign]
            hub_at: dict[str, float] = {}
            hub = stack.app.state.core.hub
            publish = hub._publish

            def instrumented(record: Any) -> None:
                event = record.event
                stamp = event.payload.get("timestamp")
                if event.type == "connector.status.changed" and event.chargePointId.startswith("BENCH-") and stamp:
                    sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                    to_domain.append((event.recordedAt.timestamp() - sent) * 1000)
                    durable = source_durable.pop(event.causationId or "", None)
                    if durable is not None:
                        to_source.append((durable - sent) * 1000)
                        source_to_domain.append((event.recordedAt.timestamp() - durable) * 1000)
                    now = time.time()
                    to_hub.append((now - event.recordedAt.timestamp()) * 1000)
                    hub_at[event.eventId] = now
                publish(record)

            hub._publish = instrumented
            procs = max(1, min(args.client_procs, args.subscribers))
            slices = [keys[i::procs] for i in range(procs)]
            children = []
            for part in slices:
                child = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "_subscribers", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    limit=2**30)
                child.stdin.write((json.dumps({"ws_url": stack.ws_url, "keys": part}) + "\n").encode())
                await child.stdin.drain()
                children.append(child)
            for child in children:
                assert (await asyncio.wait_for(child.stdout.readline(), 300)).strip() == b"READY"
            stations = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "_stations", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            spec = {"ocpp": f"ws://127.0.0.1:{stack.gateway.port}/ocpp/", "stations": args.stations,
                    "rate": args.rate, "seconds": args.seconds}
            out, _ = await stations.communicate(json.dumps(spec).encode())
            result = json.loads(out)
            parts = []
            for child in children:
                child.stdin.write(f"STOP {result['frames_sent']}\n".encode())
                await child.stdin.drain()
                parts.append(json.loads(await child.stdout.readline()))
                await child.wait()
            latencies = [x for part in parts for x in part["latencies"]]
            result.update(pushes_expected=result["frames_sent"] * len(keys),
                          pushes_received=sum(part["received"] for part in parts), client_procs=procs,
                          **percentiles(latencies))
            result["receipts"] = [r for part in parts for r in part["receipts"]]
            receipts = result.pop("receipts")
            result["frame_to_domain"] = percentiles(to_domain)
            result["frame_to_source"] = percentiles(to_source)
            result["source_to_domain"] = percentiles(source_to_domain)
            result["domain_to_hub"] = percentiles(to_hub)
            result["hub_to_client"] = percentiles([(t - hub_at[e]) * 1000 for e, t in receipts if e in hub_at])
    finally:
        await log.close()
    result.update(engine=args.engine, subscribers=args.subscribers, stations=args.stations,
                  target_rate=args.rate, seconds=args.seconds)
    return result


async def subscribers_main() -> None:
    """Child process: mobile clients (auth + subscribe); READY, then until "STOP n" on stdin
    and n pushes each; prints latencies and receipts as JSON."""
    spec = json.loads(sys.stdin.readline())
    latencies: list[float] = []
    receipts: list[tuple[str, float]] = []
    received = 0
    sockets = []
    for key in spec["keys"]:
        ws = await websockets.connect(spec["ws_url"], max_size=None, ping_interval=None)
        await ws.send(json.dumps({"id": "a", "action": "auth", "params": {"apiKey": key}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "s", "action": "subscribe", "params": {"events": ["connector.status.changed"]}}))
        await ws.recv()
        sockets.append(ws)
    done = asyncio.Event()

    async def receive(ws: Any) -> None:
        nonlocal received
        while not done.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 1.0)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(text)
            stamp = message.get("data", {}).get("timestamp")
            if stamp and message["data"].get("stationId", "").startswith("BENCH-"):
                sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                latencies.append((now - sent) * 1000)
                receipts.append((message["eventId"], now))
                received += 1

    tasks = [asyncio.create_task(receive(ws)) for ws in sockets]
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    expected = int(line.split()[1]) * len(sockets)
    deadline = time.monotonic() + 60
    while received < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"received": received, "latencies": latencies, "receipts": receipts}), flush=True)


async def stations_main() -> None:
    """Child process: raw OCPP-J stations sending StatusNotification at the total rate, one
    outstanding CALL each; prints frames sent."""
    spec = json.loads(sys.stdin.read())
    frames_sent = 0

    async def station(index: int, interval_s: float, stop_at: float) -> None:
        nonlocal frames_sent
        async with websockets.connect(spec["ocpp"] + f"BENCH-{index:04d}", subprotocols=["ocpp1.6"],
                                      ping_interval=None) as ws:
            n = 0
            next_at = time.monotonic() + interval_s * (index / spec["stations"])
            statuses = ("Available", "Preparing")
            while time.monotonic() < stop_at:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                await ws.send(json.dumps([2, f"m{n}", "StatusNotification", {
                    "connectorId": 1, "errorCode": "NoError", "status": statuses[n % 2], "timestamp": stamp}]))
                await ws.recv()
                frames_sent += 1
                n += 1
                next_at += interval_s

    t0 = time.monotonic()
    await asyncio.gather(*(station(i, spec["stations"] / spec["rate"], t0 + spec["seconds"])
                           for i in range(spec["stations"])))
    elapsed = time.monotonic() - t0
    print(json.dumps({"frames_sent": frames_sent, "frames_per_s": round(frames_sent / elapsed, 1)}))


# -- getStations -----------------------------------------------------------------------------

async def fill_map(log: Any, stack: Any, count: int) -> None:
    """``count`` charge points with two Available connectors each on the map (domain events
    appended, folded by the stack's projection worker)."""
    from chargelog.domain.envelope import Event, Source
    from chargelog.domain.log import DOMAIN

    now = datetime.now(UTC).isoformat()
    batch: list[Event] = []
    for i in range(count):
        cp = f"CP{i:05d}"
        batch.append(Event(type="station.connected", chargePointId=cp, source=Source.SYSTEM,
                           payload={"chargePointId": cp, "at": now}))
        for connector in (1, 2):
            batch.append(Event(type="connector.status.changed", chargePointId=cp, source=Source.SYSTEM,
                               payload={"chargePointId": cp, "connectorId": connector,
                                        "status": "Available", "errorCode": "NoError", "timestamp": now}))
        if len(batch) >= 3000:
            await log.append(DOMAIN, batch)
            batch = []
    await log.append(DOMAIN, batch)
    await stack.worker.read_models.wait_for(await log.latest(DOMAIN))


@contextlib.asynccontextmanager
async def map_stack(args: argparse.Namespace) -> AsyncIterator[Any]:
    """A client API stack (no gateway) on a fresh ``args.engine`` log whose map holds
    ``args.count`` charge points (:func:`fill_map`); the log is closed on exit."""
    from chargelog.adapters.log import open_log
    from test_api_support import api_stack

    settings = make_settings(args.engine, Path(tempfile.mkdtemp()) / "data")
    log = open_log(settings)
    await log.start()
    try:
        async with api_stack(log, settings, gateway=False) as stack:
            await fill_map(log, stack, args.count)
            tune_gc(settings)
            print(f"map of {args.count} charge points ready", file=sys.stderr, flush=True)  # (profilers start here)
            yield stack
    finally:
        await log.close()


async def run_subscribe(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    async with map_stack(args) as stack:
        key = stack.key("u1", "read:stations")
        per = [args.clients // args.client_procs] * args.client_procs
        per[-1] += args.clients - sum(per)
        me = psutil.Process()
        times0 = me.cpu_times()
        t0 = time.perf_counter()
        procs = [await asyncio.create_subprocess_exec(
            sys.executable, __file__, "_subscribe_clients", stack.ws_url, key, str(n),
            stdout=asyncio.subprocess.PIPE) for n in per]
        outs = [json.loads((await p.communicate())[0]) for p in procs]
        wall = time.perf_counter() - t0
        times = me.cpu_times()
        user, system = times.user - times0.user, times.system - times0.system
    return {"engine": args.engine, "charge_points": args.count, "clients": args.clients,
            "all_subscribed_s": round(wall, 2), "snapshot_bytes": outs[0]["bytes"],
            "snapshots": sum(o["snapshots"] for o in outs), "server_cpu_s": round(user + system, 2),
            "server_user_s": round(user, 2), "server_system_s": round(system, 2),
            "load1": os.getloadavg()[0]}


async def subscribe_clients_main() -> None:
    """Child: ``_subscribe_clients URL API_KEY N`` — N clients auth + subscribe at once; prints
    how many got their snapshot and its size."""
    url, key, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    sizes: list[int] = []

    async def client() -> None:
        async with websockets.connect(url, max_size=None, open_timeout=300, ping_interval=None,
                                      compression=None) as ws:  # as serve: no per-message deflate
            await ws.send(json.dumps({"id": "a", "action": "auth", "params": {"apiKey": key}}))
            await ws.recv()
            await ws.send(json.dumps({"id": "s", "action": "subscribe", "params": {"events": ["all"]}}))
            data = await ws.recv(decode=False)  # the text frame's bytes, not decoded: the clients' CPU is the server's too
            assert b'"snapshot"' in data, data[:200]
            sizes.append(len(data))

    await asyncio.gather(*(client() for _ in range(count)))
    print(json.dumps({"snapshots": len(sizes), "bytes": max(sizes)}))


async def run_stations(args: argparse.Namespace) -> dict[str, Any]:
    from test_api_support import mobile

    async with map_stack(args) as stack:
        timings = []
        async with mobile(stack, stack.key("u1", "read:stations")) as client:
            first = await client.result("getStations")
            assert len(first) == args.count, len(first)
            size = len(json.dumps(first))
            await client.close()
        async with websockets.connect(stack.ws_url, max_size=None) as ws:  # raw: time to receipt, unparsed
            await ws.send(json.dumps({"id": "a", "action": "auth", "params": {"apiKey": stack.key("u2", "read:stations")}}))
            await ws.recv()
            cpu0 = time.process_time()
            for n in range(args.requests):
                t0 = time.perf_counter()
                await ws.send(json.dumps({"id": n, "action": "getStations"}))
                await ws.recv(decode=False)
                timings.append((time.perf_counter() - t0) * 1000)
            cpu_ms = (time.process_time() - cpu0) * 1000 / args.requests
    # process CPU per request: the server's and this one client's (an upper bound of the server's)
    return {"engine": args.engine, "charge_points": args.count, "response_bytes": size,
            "process_cpu_ms_per_request": round(cpu_ms, 2), "load1": os.getloadavg()[0], **percentiles(timings)}


# -- getEventsSince --------------------------------------------------------------------------

class NoReadModels:
    """getEventsSince reads the log only; the benchmark needs no projections."""

    async def positions(self) -> dict:
        return {}


async def run_events(args: argparse.Namespace) -> dict[str, Any]:
    from chargelog.adapters.api.apikeys import ApiKeyStore
    from chargelog.adapters.api.app import create_app
    from chargelog.adapters.log import open_log
    from chargelog.domain.envelope import Event, Source
    from chargelog.domain.log import DOMAIN
    from test_api_support import MobileClient, serve_app

    data_dir = Path(tempfile.mkdtemp()) / "data"
    settings = make_settings(args.engine, data_dir)
    log = open_log(settings)
    await log.start()
    try:
        t0 = time.perf_counter()
        middle_time = None
        now = datetime.now(UTC).isoformat()
        batch_size = 5000
        for first in range(0, args.total, batch_size):
            if first >= args.total // 2 and middle_time is None:
                middle_time = datetime.now(UTC)
            events = [Event(type="connector.status.changed", chargePointId=f"CP{i % 1000:04d}", source=Source.SYSTEM,
                            payload={"chargePointId": f"CP{i % 1000:04d}", "connectorId": 1, "status": "Available",
                                     "errorCode": "NoError", "timestamp": now})
                      for i in range(first, min(first + batch_size, args.total))]
            await asyncio.gather(*(log.append(DOMAIN, events[j:j + 1000]) for j in range(0, len(events), 1000)))
        fill_s = time.perf_counter() - t0
        latest = await log.latest(DOMAIN)
        middle = await log.position_at(DOMAIN, middle_time)
        tune_gc(settings)
        print(f"log of {latest.total} events ready", file=sys.stderr, flush=True)  # (profilers start here)
        apikeys = ApiKeyStore(data_dir)
        key = apikeys.create("u1", ["read:stations"])[1]
        app = create_app(log, NoReadModels(), settings, apikeys=apikeys)  # type: ignore[arg-type]
        results: dict[str, Any] = {}
        async with serve_app(app) as port:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                client = MobileClient(ws)
                await client.result("auth", {"apiKey": key})
                for name, since in (("by_position", str(middle)),
                                    ("by_timestamp", middle_time.isoformat().replace("+00:00", "Z"))):
                    timings = []
                    cpu0 = time.process_time()
                    for _ in range(args.requests):
                        t1 = time.perf_counter()
                        page = await client.result("getEventsSince", {"since": since, "limit": args.limit})
                        timings.append((time.perf_counter() - t1) * 1000)
                        assert len(page["events"]) >= args.limit and page["hasMore"]  # a page ends on a ms boundary
                    # process CPU per request: the server's and this client's parsing (an upper bound)
                    cpu_ms = round((time.process_time() - cpu0) * 1000 / args.requests, 2)
                    results[name] = {"process_cpu_ms_per_request": cpu_ms, **percentiles(timings)}
                await client.close()
        apikeys.close()
    finally:
        await log.close()
    return {"engine": args.engine, "log_events": latest.total, "limit": args.limit,
            "fill_s": round(fill_s, 1), "load1": os.getloadavg()[0], **results}


def main() -> None:
    if sys.argv[1:2] == ["_subscribers"]:
        asyncio.run(subscribers_main())
        return
    if sys.argv[1:2] == ["_subscribe_clients"]:
        asyncio.run(subscribe_clients_main())
        return
    if sys.argv[1:2] == ["_stations"]:
        asyncio.run(stations_main())
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    push = sub.add_parser("push")
    push.add_argument("--engine", default="embedded", choices=["embedded", "kafka"])
    push.add_argument("--subscribers", type=int, default=100)
    push.add_argument("--stations", type=int, default=50)
    push.add_argument("--rate", type=float, default=100.0, help="frames/s over all stations")
    push.add_argument("--seconds", type=float, default=10.0)
    push.add_argument("--client-procs", type=int, default=2, help="processes the subscribers are spread over")
    stations = sub.add_parser("stations")
    stations.add_argument("--engine", default="embedded", choices=["embedded", "kafka"])
    stations.add_argument("--count", type=int, default=10_000)
    stations.add_argument("--requests", type=int, default=200)
    subscribe = sub.add_parser("subscribe")
    subscribe.add_argument("--engine", default="embedded", choices=["embedded", "kafka"])
    subscribe.add_argument("--count", type=int, default=5000, help="charge points on the map")
    subscribe.add_argument("--clients", type=int, default=5000)
    subscribe.add_argument("--client-procs", type=int, default=2)
    events = sub.add_parser("events")
    events.add_argument("--engine", default="embedded", choices=["embedded", "kafka"])
    events.add_argument("--total", type=int, default=1_000_000)
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    runner = {"push": run_push, "stations": run_stations, "subscribe": run_subscribe, "events": run_events}[args.what]
    print(json.dumps(asyncio.run(runner(args))))


if __name__ == "__main__":
    main()
