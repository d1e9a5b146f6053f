"""Cost per frame of ``chargelog serve`` side by side with its floor, in one invocation.

One load generator (:mod:`ocpp_bench`'s station workers: N raw OCPP-J 1.6 stations over
``websockets``, one outstanding CALL each, MeterValues alternating with Heartbeat — or with
``--load status`` with a StatusNotification flipping Available/Preparing, a public
``connector.status.changed`` push — for a bounded ``--duration``) runs in turn against:

* ``floor`` — a bare ``ocpp``-library central system with no persistence (``ocpp_floor.py``);
* ``embedded`` — ``chargelog serve`` (all roles) on the embedded log (``city_bench``'s
  :class:`~city_bench.ServerProcess`) in its default layout (docs/deploy.md, "Processes": on
  2 cores ``serve`` with the API and a gateway, the fold, and a second gateway on the same
  port); ``embedded-1process``, ``embedded-2process`` (``serve`` + the fold),
  ``embedded-4process`` (+ a third gateway) — the same with ``CHARGELOG_PROCESSES`` = 1, 2, 4;
* ``kafka`` — the same on Kafka, when ``KAFKA_BOOTSTRAP`` (default 127.0.0.1:9092) answers;
* ``embedded-gc-default`` — embedded with Python's garbage-collector defaults (no
  ``gc.freeze``, threshold 700), to measure ``adapters/gc_tuning.py``.

``--subscribers M`` connects M Mobile API clients (each with its own API key; client k
subscribed to ``all`` events of station ``BENCH{k mod N}``) once the stations are connected and
before the window: ``--audience owner`` (default) — each is a plain user (it sees its station's
public events; the load's Heartbeat and MeterValues outside a session push nothing to it): the
cost of connected subscribers not interested in most records; ``admin`` — each also sees its
station's non-public events (``meter.update``); ``everything`` — admins subscribed to every
station (fan-out: every record to every client).

Per server it prints: CPU s of the server's processes (user + system, psutil) per 1,000
acknowledged CALLs (a CALL counts when its CALLRESULT reaches the station; chargelog sends it
only after the CALL and CALLRESULT events are durable, so each is 2 events on the log),
acknowledged CALLs/s, round trip p50/p99 (ms), RSS growth per connection (KB, idle server →
middle of the load window, over stations and subscribers), pushes/s received by the
subscribers, context switches of the server's processes per acknowledged CALL (every
thread, voluntary + involuntary), the CPU per 1,000 CALLs of the busiest of its processes
(``1,000 /`` that = the CALLs/s it sustains once each process has a core: the load generator
shares this machine's cores, so the server is rarely saturated here), and each figure's
ratio to the floor; plus the 1-min load average
at the start and end of each window, since this machine is shared. A second table sets each
``chargelog`` server against ``embedded-1process`` (when it ran): measured CALLs/s, and the
*capacity* — the CALLs/s the server would sustain with this machine's cores to itself, the
smaller of ``1,000 /`` its busiest process's CPU per 1,000 CALLs (a process uses one core at
most) and ``cores × 1,000 /`` its total CPU per 1,000 CALLs (all processes share the cores).

Usage::

    python bench/side_by_side.py --stations 200 --duration 20
    python bench/side_by_side.py --servers floor,embedded --runs 3 --json

The CPU window runs from the moment every station starts sending until the last one stops
(connection set-up and BootNotification are outside it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import city_bench  # noqa: E402  (bench/ is not a package)
import ocpp_bench  # noqa: E402

FLOOR = Path(__file__).resolve().parent / "ocpp_floor.py"
#: Environment for ``chargelog serve``: thousands of unregistered charge points from one
#: loopback address are admitted (as in ``ocpp_bench.gateway_env``).
SERVE_ENV = {k: v for k, v in ocpp_bench.gateway_env("embedded", "").items()
             if k.startswith("CHARGELOG_UNKNOWN_")}


#: Server name → (log engine, extra environment of ``chargelog serve``).
CHARGELOG_SERVERS: dict[str, tuple[str, dict[str, str]]] = {
    "embedded": ("embedded", {}),  # the default: the fold in a second process on 2+ cores
    "embedded-1process": ("embedded", {"CHARGELOG_PROCESSES": "1"}),
    "embedded-2process": ("embedded", {"CHARGELOG_PROCESSES": "2"}),  # serve + the fold
    "embedded-4process": ("embedded", {"CHARGELOG_PROCESSES": "4"}),  # serve + the fold + 2 more gateways
    "kafka": ("kafka", {}),
    # Python's collector defaults, to measure what adapters/gc_tuning.py buys
    "embedded-gc-default": ("embedded", {"CHARGELOG_GC_FREEZE": "false", "CHARGELOG_GC_THRESHOLD0": "700"}),
}


def kafka_answers(bootstrap: str) -> bool:
    """True when a TCP connection to the first ``host:port`` of ``bootstrap`` opens in 2 s."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    with contextlib.suppress(OSError, ValueError):
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    return False


@contextlib.asynccontextmanager
async def floor_server() -> Any:
    """``ocpp_floor.py`` as a subprocess → (psutil process, OCPP URL base)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, str(FLOOR), stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line.startswith("listening "):
            raise RuntimeError(f"floor did not start: {line!r}")
        yield psutil.Process(proc.pid), f"ws://127.0.0.1:{int(line.split()[1])}", []
    finally:
        proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def chargelog_server(name: str, bootstrap: str, subscribers: int, audience: str, stations: int) -> Any:
    """``chargelog serve`` as :data:`CHARGELOG_SERVERS` names it (fresh data dir / topics)
    with ``subscribers`` Mobile API clients of ``audience`` (``city_bench``'s: owner = its
    own user's events only, admin = everything) subscribed to ``all`` → (process, OCPP URL
    base)."""
    engine, extra = CHARGELOG_SERVERS[name]
    for key in ("CHARGELOG_GC_FREEZE", "CHARGELOG_GC_THRESHOLD0", "CHARGELOG_PROCESSES"):
        os.environ.pop(key, None)
    os.environ.update(SERVE_ENV, **extra)
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        data_dir = Path(tmp)
        registry, keys = city_bench.write_setup(data_dir, subscribers, "owner" if audience == "owner" else "admin")
        spec = city_bench.Engine(engine, bootstrap, f"sbs{uuid.uuid4().hex[:8]}" if engine == "kafka" else "")
        server = city_bench.ServerProcess(spec, data_dir, registry, data_dir / "serve.log")
        ps = await asyncio.to_thread(server.start)
        clients = [StationSubscriber(f"ws://127.0.0.1:{server.api_port}/ws", key, {},
                                     None if audience == "everything" else f"BENCH{k % stations}")
                   for k, key in enumerate(keys)]
        try:
            yield ps, f"ws://127.0.0.1:{server.ocpp_port}", clients
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            await asyncio.to_thread(server.stop)
            if engine == "kafka":
                with contextlib.suppress(Exception):
                    await city_bench.delete_topics(bootstrap, spec.topic_prefix)


def _switches(processes: list[psutil.Process]) -> int:
    """Voluntary + involuntary context switches of every thread of ``processes`` (Linux
    ``/proc/PID/task/TID/status``; a thread that ended since is not counted)."""
    total = 0
    for p in processes:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p.pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    for line in (task / "status").read_text().splitlines():
                        if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                            total += int(line.split()[-1])
    return total


async def measure(ps: psutil.Process, base: str, stations: int, workers: int, duration: float,
                  clients: list[StationSubscriber], mix: str, profile: Path | None = None) -> dict[str, Any]:
    """Run the load on one server; CPU / RSS of ``ps`` and its children around the load
    window. ``clients`` open once the stations are connected and before the window starts.
    ``profile``: py-spy samples each of the server's processes over the window
    (:class:`city_bench.Profile`: ``{stem}-{pid}.raw`` beside this path), at some CPU cost."""
    tree = city_bench.process_tree(ps)
    rss_idle = city_bench.rss_bytes(tree)
    per = [stations // workers] * workers
    per[-1] += stations - sum(per)
    booted_at = time.time() + 3 + stations / 500
    start_at = booted_at + len(clients) / 50
    load = asyncio.create_task(ocpp_bench.run_workers(
        [["_throughput", f"{base}/ocpp", str(sum(per[:i])), str(n), str(duration), str(start_at)]
         + (["status"] if mix == "status" else []) for i, n in enumerate(per)]))
    if clients:
        await asyncio.sleep(max(0.0, booted_at - time.time()))
        await open_all(clients)
        if time.time() > start_at:
            city_bench.note(f"subscribers opened {time.time() - start_at:.1f} s after the window started")
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0, load0, pushes0 = city_bench.cpu_s_by_pid(tree), os.getloadavg()[0], sum(c.pushes for c in clients)
    switches0 = _switches(tree)
    spy = await city_bench.Profile.start(ps, duration - 1, profile)
    await asyncio.sleep(duration / 2)
    rss_load = city_bench.rss_bytes(tree)
    results = await load
    cpu1 = city_bench.cpu_s_by_pid(tree)
    await spy.wait()
    per_process = [cpu1[pid] - cpu0.get(pid, 0.0) for pid in cpu1]
    cpu = sum(per_process)
    switches = _switches(tree) - switches0
    pushes = sum(c.pushes for c in clients) - pushes0
    acked = sum(r["acked"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies_ms"])
    elapsed = max(r["elapsed_s"] for r in results)
    return {"acked_calls": acked, "calls_per_s": acked / elapsed,
            "cpu_s_per_1000": cpu * 1000 / acked if acked else math.nan,
            # the process that spends most per CALL bounds what the server sustains with a
            # core of its own: 1,000 / this = acknowledged CALLs/s at one full core
            "busiest_cpu_s_per_1000": max(per_process) * 1000 / acked if acked else math.nan,
            "capacity_calls_per_s": min(acked / max(per_process), (os.cpu_count() or 1) * acked / cpu)
            if acked else math.nan,
            "p50_ms": city_bench.percentile(latencies, 50), "p99_ms": city_bench.percentile(latencies, 99),
            "rss_kb_per_conn": (rss_load - rss_idle) / 1024 / (stations + len(clients)),
            "server_cores": cpu / elapsed, "switches_per_call": switches / acked if acked else math.nan, "pushes_per_s": pushes / elapsed, "errors": sum(r["errors"] for r in results),
            "load1_start": load0, "load1_end": os.getloadavg()[0]}


class StationSubscriber(city_bench.Subscriber):
    """A Mobile API client subscribed to ``all`` events of one charge point (``stationId``; None: every one,
    mobile spec section 8.1); subscribing retries while the station is not on the map yet."""

    def __init__(self, url: str, api_key: str, timestamps: dict[str, float], station_id: str | None) -> None:
        super().__init__(url, api_key, timestamps)
        self.station_id = station_id

    async def open(self) -> None:
        self._ws = await city_bench.websockets.connect(self.url, max_size=2**24, ping_interval=None)
        await self._request("auth", {"apiKey": self.api_key})
        for _ in range(120):
            try:
                params = {"events": ["all"]} if self.station_id is None else {"events": ["all"], "stationId": self.station_id}
                await self._request("subscribe", params)
                break
            except RuntimeError as exc:
                if "404" not in str(exc) and "not_found" not in str(exc):
                    raise
                await asyncio.sleep(0.5)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Count every push (section 7: ``{"event", ...}``)."""
        with contextlib.suppress(city_bench.websockets.ConnectionClosed):
            async for text in self._ws:
                if text.startswith('{"event"'):
                    self.pushes += 1


async def open_all(clients: list[StationSubscriber]) -> None:
    gate = asyncio.Semaphore(city_bench.CONNECT_CONCURRENCY)

    async def one(client: StationSubscriber) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(one(c) for c in clients))


async def run(opts: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    ocpp_bench.raise_nofile()
    unknown = set(opts.servers.split(",")) - {"floor", *CHARGELOG_SERVERS}
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; known: floor, {', '.join(CHARGELOG_SERVERS)}")
    servers = [s for s in opts.servers.split(",") if s != "kafka" or kafka_answers(opts.bootstrap)]
    skipped = sorted(set(opts.servers.split(",")) - set(servers))
    if skipped:
        city_bench.note(f"skipped (broker does not answer at {opts.bootstrap}): {', '.join(skipped)}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for n in range(opts.runs):
        for name in servers:  # interleaved, so that a change in the machine's load hits all
            city_bench.note(f"run {n + 1}/{opts.runs}: {name}")
            server = (floor_server() if name == "floor"
                      else chargelog_server(name, opts.bootstrap, opts.subscribers, opts.audience, opts.stations))
            async with server as (ps, base, clients):
                runs[name].append(await measure(ps, base, opts.stations, opts.workers, opts.duration, clients,
                                                opts.load, Path(opts.profile) / f"{name}-{n + 1}.raw" if opts.profile else None))
    return runs


def summary(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Median per figure over the runs of each server, and the ratio to the floor's median."""
    rows = []
    for name, samples in runs.items():
        row: dict[str, Any] = {"server": name, "runs": len(samples)}
        for key in samples[0]:
            row[key] = statistics.median(s[key] for s in samples)
        rows.append(row)
    floor = next((r for r in rows if r["server"] == "floor"), None)
    single = next((r for r in rows if r["server"] == "embedded-1process"), None)
    for row in rows:
        for key in ("cpu_s_per_1000", "calls_per_s", "p50_ms", "p99_ms"):
            row[f"{key}_x_floor"] = row[key] / floor[key] if floor and floor[key] else math.nan
        for key in ("calls_per_s", "capacity_calls_per_s"):
            row[f"{key}_x_1process"] = row[key] / single[key] if single and single[key] else math.nan
    return rows


def table_vs_one_process(rows: list[dict[str, Any]]) -> str:
    """Each chargelog server against ``embedded-1process`` (see the module docstring)."""
    lines = ["| server | acked CALLs/s | × 1 process | capacity CALLs/s on this machine's cores | × 1 process "
             "| busiest process CPU s / 1,000 | all processes CPU s / 1,000 |",
             "| " + " | ".join(["---"] + ["---:"] * 6) + " |"]
    for r in rows:
        if r["server"] != "floor":
            lines.append(f"| {r['server']} | {r['calls_per_s']:.0f} | {r['calls_per_s_x_1process']:.2f} "
                         f"| {r['capacity_calls_per_s']:.0f} | {r['capacity_calls_per_s_x_1process']:.2f} "
                         f"| {r['busiest_cpu_s_per_1000']:.3f} | {r['cpu_s_per_1000']:.3f} |")
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| server | CPU s / 1,000 acked CALLs | × floor | acked CALLs/s | × floor | p50 ms | p99 ms "
            "| RSS KB / conn | server cores | busiest process CPU s / 1,000 | context switches / CALL | pushes/s "
            "| load avg 1 min | errors |")
    lines = [head, "| " + " | ".join(["---"] + ["---:"] * 13) + " |"]
    for r in rows:
        lines.append(f"| {r['server']} | {r['cpu_s_per_1000']:.3f} | {r['cpu_s_per_1000_x_floor']:.2f} "
                     f"| {r['calls_per_s']:.0f} | {r['calls_per_s_x_floor']:.2f} | {r['p50_ms']:.1f} "
                     f"| {r['p99_ms']:.1f} | {r['rss_kb_per_conn']:.1f} | {r['server_cores']:.2f} "
                     f"| {r['busiest_cpu_s_per_1000']:.3f} | {r['switches_per_call']:.2f} "
                     f"| {r['pushes_per_s']:.0f} "
                     f"| {r['load1_start']:.1f} → {r['load1_end']:.1f} | {r['errors']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", default="floor,embedded,kafka",
                        help=f"comma list of floor, {', '.join(CHARGELOG_SERVERS)}")
    parser.add_argument("--stations", type=int, default=200, help="concurrent stations (one CALL outstanding each)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per server and run")
    parser.add_argument("--runs", type=int, default=1, help="runs per server (interleaved); medians reported")
    parser.add_argument("--workers", type=int, default=1, help="station worker processes")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--load", choices=["heartbeat", "status"], default="heartbeat",
                        help="MeterValues alternating with Heartbeat, or with StatusNotification (pushed)")
    parser.add_argument("--subscribers", type=int, default=0,
                        help="Mobile API clients subscribed to 'all' on each chargelog server")
    parser.add_argument("--audience", choices=["owner", "admin", "everything"], default="owner",
                        help="owner/admin: client k follows station BENCH{k mod N} as a user/an admin; "
                             "everything: an admin following every station")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON")
    parser.add_argument("--profile", default="", help="directory for a py-spy profile of each chargelog run "
                        "(SERVER-RUN-PID.raw; summarise with bench/spy_summary.py); costs the runs some CPU")
    opts = parser.parse_args()
    runs = asyncio.run(run(opts))
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, {opts.stations} stations, "
          f"{opts.duration:.0f} s × {opts.runs} run(s), {opts.workers} station worker(s), "
          f"{opts.subscribers} {opts.audience} subscriber(s) on chargelog, load {opts.load}")
    rows = summary(runs)
    print(table(rows))
    if any(r["server"] == "embedded-1process" for r in rows):
        print()
        print(table_vs_one_process(rows))
    if opts.json:
        print(json.dumps(runs))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
