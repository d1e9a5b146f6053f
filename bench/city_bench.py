"""City benchmark: N charge points send MeterValues every S s while M mobile
clients are subscribed, against a real ``chargelog serve`` process, on the embedded engine and
on Kafka, side by side with a raw aiokafka produce/consume baseline at the same frame rate.

Usage::

    python bench/city_bench.py [--levels 100:100,250:250,500:500,1000:1000] [--interval 1]
                               [--engines embedded,kafka] [--bootstrap 127.0.0.1:9092]
                               [--audience owner|admin] [--measure 10] [--plot docs/city-latency.png]

Processes: the server (``chargelog serve`` subprocess, all roles), the fleet (this script's
``fleet`` sub-command in a subprocess: :class:`chargelog.adapters.simulator.Fleet`, one
connector per charge point, each charging all the time) and the M WebSocket clients (in this
process). Each client authenticates with its own API key and sends ``subscribe`` with events
``all`` (mobile-websocket-api.md sections 2 and 8). ``--audience owner`` (default): client
*k* is the user owning the idTag of charge point *k* (a registry loaded with ``--registry``),
so it sees the ``meter.update`` pushes of its own session (M ≤ N); ``admin``: every client
has the ``admin`` scope and sees every ``meter.update`` (fan-out N × M / S pushes/s).

Per load level, three windows: the idle server (``--baseline-window`` s), then

A. fleet only (clients not yet connected), ``--baseline-window`` s: server CPU and the growth
   of its resident memory over the idle server give the cost per connected charge point;
B. fleet and M subscribed clients, ``--measure`` s: acknowledged frames/s, push latency, and
   the extra CPU and memory give the cost per client socket.

Measured:

* **acked frames/s**: MeterValues CALLRESULTs received by the stations in the window (the
  gateway answers a frame only once its event is durable) / window (s); and their **ack**
  round trip p50/p99 (ms, CALL sent → CALLRESULT received). The fleet is a closed loop: a
  station sends its next MeterValues ``S`` s after the previous one was answered, so a slow
  answer lowers the offered rate below N / S;
* **push latency** (ms): receipt of a ``meter.update`` push by a client (wall clock) minus
  the MeterValues ``timestamp`` of the sample it carries, which the station takes right
  before it serialises and sends the frame (whole ms, so up to 1 ms low); all samples whose
  timestamp falls in window B, received until ``--grace`` s after it;
* **server CPU** (cores): (user + system CPU s of the ``chargelog serve`` process and its
  children — the fold process on the embedded engine) / wall s, also per acknowledged frame
  (ms = CPU s per 1,000 frames) and of its busiest process; **RSS** (MB): the sum of their
  resident set sizes (psutil);
* **server-bound / generator-bound frames/s**: the window B rate scaled to the cores each
  side would have to itself — ``os.cpu_count()`` cores for all its processes, one core for its
  busiest process (the generator is two: fleet and clients); **limit**: the side whose bound is
  lower, i.e. which one caps the acknowledged rate when they share the machine;
* **raw baseline**: an idempotent ``acks="all"`` aiokafka producer sending MeterValues-sized
  records at the level's frame rate to a fresh topic and one consumer reading them; latency
  = consumer receipt minus the producer's ``time.time()`` before ``send()`` (ms).

Everything (server, fleet, clients, Kafka broker) shares the machine; the CPU of the load
generators is printed too. Kafka topics created are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

#: Scopes of a client's API key per audience (mobile-websocket-api.md section 2).
AUDIENCE_SCOPES = {"owner": ["read:stations"], "admin": ["read:stations", "admin"]}
#: Clients opening their connection at the same time.
CONNECT_CONCURRENCY = 50
#: Charge point n (1..N) is the fleet's CP{n:03d}, its idTag T{n:04d}; client k is user{k:04d}.
TAG_FORMAT, USER_FORMAT = "T{:04d}", "user{:04d}"


# -- helpers ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    """Block until ``port`` accepts connections; RuntimeError if ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open within {timeout_s} s")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100, nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def process_tree(ps: psutil.Process) -> list[psutil.Process]:
    """``ps`` and its child processes (``serve``'s fold process on the embedded engine)."""
    with contextlib.suppress(psutil.Error):
        return [ps, *ps.children(recursive=True)]
    return [ps]


def cpu_s_by_pid(processes: list[psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds of each of ``processes`` that still runs, by pid."""
    spent = {}
    for p in processes:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            spent[p.pid] = times.user + times.system
    return spent


def rss_bytes(processes: list[psutil.Process]) -> int:
    """Sum of the resident set sizes of ``processes`` that still run (bytes)."""
    total = 0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@dataclass
class CpuWindow:
    """CPU (s) of a process (and its children unless ``alone``) between :meth:`start` and
    :meth:`stop`, per wall-clock s: ``cores`` for all, ``busiest`` for the busiest process."""

    proc: psutil.Process
    alone: bool = False
    cpu0: dict[int, float] = field(default_factory=dict)
    wall0: float = 0.0
    cores: float = 0.0
    busiest: float = 0.0

    def start(self) -> CpuWindow:
        self.cpu0, self.wall0 = cpu_s_by_pid(self._processes()), time.monotonic()
        return self

    def _processes(self) -> list[psutil.Process]:
        return [self.proc] if self.alone else process_tree(self.proc)

    def stop(self) -> float:
        """CPU s / wall s of the tree since :meth:`start` (1.0 = one core busy); a process
        started since counts from 0."""
        wall = time.monotonic() - self.wall0
        spent = [cpu - self.cpu0.get(pid, 0.0) for pid, cpu in cpu_s_by_pid(self._processes()).items()]
        self.cores, self.busiest = sum(spent) / wall, max(spent, default=0.0) / wall
        return self.cores


def note(text: str) -> None:
    """A progress line on stderr, with the time of day."""
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def rss_mb(proc: psutil.Process) -> float:
    """Resident set size of ``proc`` and its children (MB)."""
    return rss_bytes(process_tree(proc)) / 2**20


# -- the fleet (child process) ---------------------------------------------------------------


async def run_fleet(url: str, stations: int, interval_s: float, boot_timeout_s: float) -> None:
    """Child process: ``stations`` charge points CP001… on ``url`` with idTags T0001…, one
    connector each, charging all the time, MeterValues every ``interval_s`` s. Writes JSON
    lines to stdout: ``{"booted": n}``, ``{"charging": n}`` once all charge (or after 60 s), and after stdin
    closes ``{"acks": [[wall s, round trip ms], …]}``, one pair per MeterValues CALLRESULT;
    ``{"error": message}`` if not all booted within ``boot_timeout_s`` s."""
    from chargelog.adapters.simulator import Fleet, SimulationProfile

    profile = SimulationProfile(battery_wh=(1e9, 1e9), idle_s=(0.0, 2 * interval_s),
                                session_energy_wh=(1e12, 1e12))  # never full, never stopping
    fleet = Fleet(url, stations, connectors=1, prefix="CP", auto_transactions=True,
                  meter_interval_s=interval_s, seed=7, profile=profile)
    acks: list[tuple[float, float]] = []
    for n, station in enumerate(fleet.stations, start=1):
        station.id_tag = TAG_FORMAT.format(n)  # the idTag client n's user owns (write_setup)
        station.call = _timed(station.call, acks)  # type: ignore[method-assign]
    try:
        await fleet.start(timeout_s=boot_timeout_s)
    except (TimeoutError, ConnectionError) as exc:
        _emit({"error": f"the fleet did not boot within {boot_timeout_s:g} s ({type(exc).__name__}: {exc})"})
        return
    _emit({"booted": fleet.connected})
    _emit({"charging": await _all_charging(fleet, timeout_s=60.0)})
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    _emit({"acks": [(round(t, 3), round(ms, 2)) for t, ms in acks]})
    await fleet.stop()


async def run_raw_fleet(url: str, stations: int, interval_s: float, boot_timeout_s: float) -> None:
    """Child process, the same JSON lines as :func:`run_fleet` from ``stations`` raw OCPP-J
    charge points (``websockets`` and pre-built frames, no ``ocpp`` library, no schema
    validation): BootNotification, StatusNotification Available, StartTransaction with idTag
    T{n}, StatusNotification Charging, then a MeterValues of the simulator's shape (energy
    register, power, SoC, current and voltage per phase; Sample.Periodic) ``interval_s`` s
    after the previous one was answered. A generator light enough that the server, not the
    load, sets the rate on a small machine."""
    acks: list[tuple[float, float]] = []
    charge_points = [RawStation(f"{url}/CP{n:03d}", TAG_FORMAT.format(n), acks) for n in range(1, stations + 1)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def boot(station: RawStation) -> None:
        async with gate:
            await station.start()

    try:
        await asyncio.wait_for(asyncio.gather(*(boot(s) for s in charge_points)), boot_timeout_s)
    except (TimeoutError, OSError, websockets.WebSocketException, RuntimeError) as exc:
        _emit({"error": f"the fleet did not boot within {boot_timeout_s:g} s ({type(exc).__name__}: {exc})"})
        return
    _emit({"booted": stations})
    _emit({"charging": stations})
    loops = [asyncio.create_task(s.meter_loop(interval_s)) for s in charge_points]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    _emit({"acks": [(round(t, 3), round(ms, 2)) for t, ms in acks]})
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)
    await asyncio.gather(*(s.close() for s in charge_points), return_exceptions=True)


#: A MeterValues sampledValue list of the simulator's shape (adapters/simulator/meter.py
#: MeterSample.to_ocpp); ``{wh}`` is the energy register (Wh).
_SAMPLED = json.dumps([
    {"value": "{wh}", "context": "Sample.Periodic", "format": "Raw", "measurand": "Energy.Active.Import.Register",
     "unit": "Wh", "location": "Outlet"},
    {"value": "11000", "context": "Sample.Periodic", "format": "Raw", "measurand": "Power.Active.Import",
     "unit": "W", "location": "Outlet"},
    {"value": "42.0", "context": "Sample.Periodic", "format": "Raw", "measurand": "SoC", "unit": "Percent",
     "location": "EV"},
    *({"value": value, "context": "Sample.Periodic", "format": "Raw", "measurand": measurand, "unit": unit,
       "phase": phase, "location": "Outlet"}
      for p in ("L1", "L2", "L3")
      for value, measurand, unit, phase in (("15.93", "Current.Import", "A", p), ("230.1", "Voltage", "V", f"{p}-N"))),
])


class RawStation:
    """One charge point of :func:`run_raw_fleet` (OCPP-J 1.6 over ``websockets``)."""

    def __init__(self, url: str, id_tag: str, acks: list[tuple[float, float]]) -> None:
        self.url, self.id_tag, self.acks = url, id_tag, acks
        self.transaction_id = 0
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._seq = 0

    async def start(self) -> None:
        """Connect, boot and start a transaction; RuntimeError if the central system refuses."""
        self._ws = await websockets.connect(self.url, subprotocols=["ocpp1.6"], open_timeout=None,
                                            ping_interval=None, max_size=2**20)
        self._reader = asyncio.create_task(self._read())
        boot = await self.call("BootNotification", {"chargePointVendor": "bench", "chargePointModel": "raw"})
        if boot.get("status") != "Accepted":
            raise RuntimeError(f"BootNotification {boot}")
        await self.status("Available")
        started = await self.call("StartTransaction", {"connectorId": 1, "idTag": self.id_tag, "meterStart": 0,
                                                       "timestamp": _now()})
        self.transaction_id = started["transactionId"]
        await self.status("Charging")

    async def status(self, status: str) -> None:
        await self.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status,
                                               "timestamp": _now()})

    async def call(self, action: str, payload: dict[str, Any] | str) -> Any:
        """Send a CALL (``payload`` as a dict or JSON text) → the CALLRESULT payload;
        RuntimeError on a CALLERROR."""
        self._seq += 1
        unique_id = str(self._seq)
        body = payload if isinstance(payload, str) else json.dumps(payload)
        answer = self._pending[unique_id] = asyncio.get_running_loop().create_future()
        await self._ws.send(f'[2,"{unique_id}","{action}",{body}]')
        return await answer

    async def meter_loop(self, interval_s: float) -> None:
        """MeterValues every ``interval_s`` s on a fixed schedule (as a charge point samples
        every ``MeterValueSampleInterval``, whatever the answer time), timing each; a CALL
        answered after its next slot is followed at once by the next (one CALL outstanding:
        OCPP-J 1.6, "Synchronicity"). Each station's schedule starts at a random phase of the
        interval, so a fleet's samples spread over it as independent stations' do."""
        wh = 0
        loop = asyncio.get_running_loop()
        due = loop.time() + random.random() * interval_s - interval_s
        while True:
            due += interval_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            wh += 3
            payload = (f'{{"connectorId":1,"transactionId":{self.transaction_id},"meterValue":[{{"timestamp":'
                       f'"{_now()}","sampledValue":{_SAMPLED.replace("{wh}", str(wh))}}}]}}')
            start = time.monotonic()
            await self.call("MeterValues", payload)
            self.acks.append((time.time(), (time.monotonic() - start) * 1000.0))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self._ws:
                message = json.loads(text)
                if message[0] == 2:  # a CALL from the central system: accept whatever it is
                    await self._ws.send(json.dumps([3, message[1], {"status": "Accepted"}]))
                    continue
                answer = self._pending.pop(message[1], None)
                if answer is None or answer.done():
                    continue
                if message[0] == 3:
                    answer.set_result(message[2])
                else:
                    answer.set_exception(RuntimeError(f"CALLERROR {message[2:]}"))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def _now() -> str:
    """Now as OCPP 1.6 §3.1.4 dateTime (UTC, whole ms, ``Z``)."""
    from chargelog.adapters.simulator.meter import ocpp_timestamp

    return ocpp_timestamp(datetime.now(timezone.utc))


async def _all_charging(fleet: Any, timeout_s: float) -> int:
    """Poll (every 0.2 s, up to ``timeout_s`` s) until every connector is in a transaction;
    how many are."""
    deadline = time.monotonic() + timeout_s
    while True:
        charging = sum(c.transactionId is not None for s in fleet.stations for c in s.connectors.values())
        if charging == len(fleet.stations) or time.monotonic() > deadline:
            return charging
        await asyncio.sleep(0.2)  # a bench's own readiness poll, not test synchronisation


def _timed(station_call: Any, acks: list[tuple[float, float]]) -> Any:
    """Wrap a station's ``call`` to record (wall s of the CALLRESULT, round trip ms) of every
    MeterValues it sends."""
    async def call(payload: Any, unique_id: str | None = None) -> Any:
        start = time.monotonic()
        result = await station_call(payload, unique_id)
        if type(payload).__name__ == "MeterValues":
            acks.append((time.time(), (time.monotonic() - start) * 1000.0))
        return result
    return call


def _emit(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


# -- server and fleet processes --------------------------------------------------------------


@dataclass
class Engine:
    """How a server runs: ``name`` embedded|kafka; for Kafka the ``bootstrap`` servers."""

    name: str
    bootstrap: str = ""
    topic_prefix: str = ""


@dataclass
class ServerProcess:
    """``chargelog serve`` (all roles) as a subprocess on free loopback ports."""

    engine: Engine
    data_dir: Path
    registry: Path
    log_path: Path
    ocpp_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> psutil.Process:
        args = [sys.executable, "-m", "chargelog.adapters.cli.main", "serve", "--host", "127.0.0.1",
                "--ocpp-port", str(self.ocpp_port), "--api-port", str(self.api_port),
                "--data-dir", str(self.data_dir), "--registry", str(self.registry), "--log-level", "WARNING"]
        if self.engine.name == "kafka":
            args += ["--log", f"kafka://{self.engine.bootstrap}", "--topic-prefix", self.engine.topic_prefix]
        env = {**os.environ, "CHARGELOG_HEARTBEAT_INTERVAL_S": "3600", "CHARGELOG_API_PING_TIMEOUT_S": "3600",
               "CHARGELOG_HTTP_HEADER_TIMEOUT_S": "60",
               # the fleet's charge points, unregistered, all from one loopback address
               "CHARGELOG_UNKNOWN_CHARGE_POINTS_PER_ADDRESS_PER_HOUR": "1000000",
               "CHARGELOG_UNKNOWN_CHARGE_POINTS_MAX": "1000000"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.ocpp_port, self.proc)
        wait_for_port(self.api_port, self.proc)
        return psutil.Process(self.proc.pid)

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            note("chargelog serve still running 30 s after SIGTERM: SIGKILL")
            self.proc.kill()
            self.proc.wait()


class FleetProcess:
    """This script's ``fleet`` sub-command in a subprocess, talking JSON lines on stdout."""

    def __init__(self, ocpp_url: str, stations: int, interval_s: float, boot_timeout_s: float, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "fleet", "--url", ocpp_url, "--stations", str(stations),
             "--interval", str(interval_s), "--boot-timeout", str(boot_timeout_s), "--kind", kind],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ps = psutil.Process(self.proc.pid)

    async def expect(self, key: str) -> Any:
        """The value of the next stdout line's ``key`` (waits in a thread); RuntimeError if the
        fleet reports an error or exits first."""
        line = await asyncio.to_thread(self.proc.stdout.readline)  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"fleet exited with {self.proc.wait()} before reporting {key!r}")
        message = json.loads(line)
        if "error" in message:
            raise RuntimeError(message["error"])
        return message[key]

    async def finish(self) -> list[tuple[float, float]]:
        """Close stdin → (wall s, round trip ms) of every MeterValues acknowledged; the
        process ends."""
        self.proc.stdin.close()  # type: ignore[union-attr]
        acks = await self.expect("acks")
        await asyncio.to_thread(self.proc.wait, 60)
        return [(t, ms) for t, ms in acks]


def acks_in(acks: list[tuple[float, float]], t0: float, t1: float) -> tuple[float, float, float]:
    """MeterValues acknowledged in [t0, t1) → (per s, round trip p50 ms, p99 ms)."""
    inside = [ms for t, ms in acks if t0 <= t < t1]
    return len(inside) / (t1 - t0), percentile(inside, 50), percentile(inside, 99)


def sent_in(acks: list[tuple[float, float]], t0: float, t1: float) -> int:
    """How many acknowledged MeterValues were sent in [t0, t1) (ack time minus round trip)."""
    return sum(t0 <= t - ms / 1000.0 < t1 for t, ms in acks)


# -- mobile clients --------------------------------------------------------------------------


class Subscriber:
    """One mobile WebSocket API client (mobile-websocket-api.md sections 2, 7.4, 8.1): ``auth``
    with an API key, ``subscribe`` to ``all``, then it records the latency (ms) of every
    ``meter.update`` push whose sample timestamp lies in [``window``)."""

    def __init__(self, url: str, api_key: str, timestamps: dict[str, float]) -> None:
        self.url = url
        self.api_key = api_key
        self.window = (math.inf, math.inf)
        self.latencies_ms: list[float] = []
        self.pushes = 0
        self._timestamps = timestamps  # shared memo: ISO timestamp -> epoch s
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Connect, authenticate, subscribe; RuntimeError on an error response."""
        self._ws = await websockets.connect(self.url, max_size=2**24, ping_interval=None, open_timeout=120)
        await self._request("auth", {"apiKey": self.api_key})
        await self._request("subscribe", {"events": ["all"]})
        self._reader = asyncio.create_task(self._read())

    async def _request(self, action: str, params: dict[str, Any]) -> None:
        await self._ws.send(json.dumps({"id": action, "action": action, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") == action:
                if "error" in message:
                    raise RuntimeError(f"{action}: {message['error']}")
                return

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self._ws:
                received = time.time()
                if '"meter.update"' not in text:
                    continue
                self.pushes += 1
                sent = self._sample_time(text)
                if self.window[0] <= sent < self.window[1]:
                    self.latencies_ms.append((received - sent) * 1000.0)

    def _sample_time(self, text: str) -> float:
        """Epoch s of the push's ``data.timestamp`` (ISO 8601 UTC, ms), found without a full
        JSON parse."""
        start = text.index('"', text.index(":", text.index('"timestamp"') + 11)) + 1
        stamp = text[start:text.index('"', start)]
        epoch = self._timestamps.get(stamp)
        if epoch is None:
            epoch = self._timestamps[stamp] = datetime.fromisoformat(stamp).timestamp()
        return epoch

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader


async def open_subscribers(url: str, keys: list[str]) -> list[Subscriber]:
    """One connected, subscribed :class:`Subscriber` per API key."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    timestamps: dict[str, float] = {}
    clients = [Subscriber(url, key, timestamps) for key in keys]

    async def open_one(client: Subscriber) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(open_one(c) for c in clients))
    return clients


def write_setup(data_dir: Path, clients: int, audience: str) -> tuple[Path, list[str]]:
    """The registry file (idTag T{k} owned by user{k}, k = 1..``clients``) and one API key per
    client in ``data_dir`` → (registry path, keys)."""
    from chargelog.adapters.api.apikeys import ApiKeyStore

    registry = data_dir / "registry.json"
    registry.write_text(json.dumps({"idTags": [
        {"idTag": TAG_FORMAT.format(k), "userId": USER_FORMAT.format(k), "status": "Accepted"}
        for k in range(1, clients + 1)]}))
    store = ApiKeyStore(data_dir)
    try:
        keys = [store.create(USER_FORMAT.format(k), AUDIENCE_SCOPES[audience], key=f"bench-key-{k}")[1]
                for k in range(1, clients + 1)]
    finally:
        store.close()
    return registry, keys


# -- one load level --------------------------------------------------------------------------


@dataclass
class Result:
    """One load level (or one raw baseline). Rates per s, latencies ms, CPU in cores (CPU s
    per wall s), memory MB / KB. Window A: fleet only; window B: fleet and clients."""

    engine: str
    stations: int
    clients: int
    target_fps: float
    acked_fps_a: float = math.nan
    acked_fps: float = math.nan  # window B
    pushes_per_s: float = math.nan
    ack_p50_ms: float = math.nan  # MeterValues CALL → CALLRESULT round trip at the station, window B
    ack_p99_ms: float = math.nan
    delivered: float = math.nan  # pushes received within the grace / (frames sent in B × fan-out)
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    server_cpu_idle: float = math.nan  # no charge point, no client
    server_cpu_a: float = math.nan
    server_cpu: float = math.nan  # window B, every process of the server
    server_busiest_cpu: float = math.nan  # window B, the server's busiest process
    server_rss_mb: float = math.nan
    kb_per_cp: float = math.nan  # RSS growth idle → window A, per charge point
    kb_per_client: float = math.nan  # RSS growth window A → B, per client socket
    fleet_cpu: float = math.nan
    clients_cpu: float = math.nan
    broker_cpu: float = math.nan
    failure: str = ""  # why the level has no figures

    @property
    def cpu_ms_per_cp(self) -> float:
        """Server CPU ms per s per connected charge point (window A minus idle)."""
        return (self.server_cpu_a - self.server_cpu_idle) * 1000 / self.stations

    @property
    def cpu_ms_per_frame_a(self) -> float:
        """Server CPU ms per acknowledged frame, fleet only (window A)."""
        return self.server_cpu_a * 1000 / self.acked_fps_a if self.acked_fps_a else math.nan

    @property
    def cpu_ms_per_frame(self) -> float:
        """Server CPU ms per acknowledged frame with the clients (window B, pushes included)."""
        return self.server_cpu * 1000 / self.acked_fps if self.acked_fps else math.nan

    @property
    def server_bound_fps(self) -> float:
        """Frames/s the server would acknowledge with the machine's cores to itself: its CPU
        per frame (window B) spread over ``os.cpu_count()`` cores, capped by its busiest
        process on one core."""
        return _bound_fps(self.acked_fps, self.server_cpu, self.server_busiest_cpu)

    @property
    def generator_bound_fps(self) -> float:
        """Frames/s the load generator (fleet and clients, one process each) would drive with
        the machine's cores to itself, at its CPU per frame of window B."""
        return _bound_fps(self.acked_fps, self.fleet_cpu + self.clients_cpu, max(self.fleet_cpu, self.clients_cpu))

    @property
    def limit(self) -> str:
        """Which side caps the acknowledged rate first: ``server`` or ``generator``."""
        return "server" if self.server_bound_fps <= self.generator_bound_fps else "generator"

    @property
    def cpu_ms_per_client(self) -> float:
        """Extra server CPU ms per s per client socket (window B minus A)."""
        return (self.server_cpu - self.server_cpu_a) * 1000 / self.clients


def _bound_fps(acked_fps: float, cores: float, busiest_cores: float) -> float:
    """``acked_fps`` scaled to the cores a set of processes would have to itself: every core
    of the machine for the whole set, one for its busiest process (NaN without frames)."""
    if not acked_fps or not cores:
        return math.nan
    return min(acked_fps * (os.cpu_count() or 1) / cores, acked_fps / busiest_cores)


@dataclass
class Level:
    """``stations`` charge points every ``interval_s`` s, ``clients`` subscribers."""

    stations: int
    clients: int
    interval_s: float

    @property
    def target_fps(self) -> float:
        return self.stations / self.interval_s


def broker_process(bootstrap: str) -> psutil.Process | None:
    """The process listening on the first of ``bootstrap``'s ports (the local Kafka broker's
    JVM, for its CPU), if found."""
    port = int(bootstrap.split(",")[0].rsplit(":", 1)[1])
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    return None


async def measure_window(processes: dict[str, psutil.Process | None],
                         seconds: float) -> tuple[float, float, dict[str, CpuWindow]]:
    """Sleep ``seconds`` s → (wall start, wall end, CPU of each named process and its
    children; of this process alone)."""
    windows = {name: CpuWindow(p, alone=p.pid == os.getpid()).start() for name, p in processes.items() if p is not None}
    t0 = time.time()
    await asyncio.sleep(seconds)
    t1 = time.time()
    for window in windows.values():
        window.stop()
    return t0, t1, windows


class Profile:
    """py-spy sampling every process of a server (the process and its children) for a while:
    one raw collapsed-stack file per process, ``{path stem}-{pid}.raw`` beside ``path``
    (``bench/spy_summary.py`` reads them). :meth:`start` with ``path`` None does nothing."""

    def __init__(self) -> None:
        self.spies: list[asyncio.subprocess.Process] = []

    @classmethod
    async def start(cls, ps: psutil.Process, seconds: float, path: Path | None) -> Profile:
        profile = cls()
        if path is None:
            return profile
        for p in process_tree(ps):
            profile.spies.append(await asyncio.create_subprocess_exec(
                str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(p.pid), "--rate", "100",
                "--format", "raw", "--duration", str(max(1, int(seconds))),
                "--output", str(path.with_name(f"{path.stem}-{p.pid}.raw")),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
        return profile

    async def wait(self) -> None:
        """Until every sampler has written its file."""
        await asyncio.gather(*(spy.wait() for spy in self.spies))


async def run_level(engine: Engine, level: Level, audience: str, opts: argparse.Namespace) -> Result:
    """Start a server, the fleet, then the clients; measure windows A and B; stop all."""
    with tempfile.TemporaryDirectory(prefix="city-bench-") as tmp:
        data_dir = Path(tmp)
        registry, keys = write_setup(data_dir, level.clients, audience)
        server = ServerProcess(engine, data_dir, registry,
                               Path(opts.log_dir) / f"serve-{engine.name}-{level.stations}x{level.clients}.log")
        fleet: FleetProcess | None = None
        clients: list[Subscriber] = []
        result = Result(engine.name, level.stations, level.clients, level.target_fps)
        try:
            ps = server.start()
            await asyncio.sleep(2)  # let start-up settle before the idle CPU and RSS
            _, _, cpu = await measure_window({"server": ps}, opts.baseline_window)
            result.server_cpu_idle, rss_idle = cpu["server"].cores, rss_mb(ps)
            fleet = FleetProcess(f"ws://127.0.0.1:{server.ocpp_port}/ocpp", level.stations, level.interval_s,
                                 opts.boot_timeout, opts.fleet)
            note(f"server up; fleet booted {await fleet.expect('booted')} charge points")
            note(f"{await fleet.expect('charging')} charging; window A (fleet only)")
            await asyncio.sleep(opts.warmup)
            ta0, ta1, cpu = await measure_window({"server": ps}, opts.baseline_window)
            result.server_cpu_a, rss_fleet = cpu["server"].cores, rss_mb(ps)

            clients = await open_subscribers(f"ws://127.0.0.1:{server.api_port}/ws", keys)
            note(f"{len(clients)} clients subscribed; window B")
            await asyncio.sleep(opts.warmup)
            result.server_rss_mb = rss_mb(ps)
            for client in clients:
                client.window = (time.time(), time.time() + opts.measure)
            broker = broker_process(engine.bootstrap) if engine.name == "kafka" else None
            spy = await Profile.start(ps, opts.measure, Path(opts.profile) / f"{engine.name}-{level.stations}x"
                                      f"{level.clients}.raw" if opts.profile else None)
            t0, t1, cpu = await measure_window(
                {"server": ps, "fleet": fleet.ps, "clients": psutil.Process(), "broker": broker}, opts.measure)
            await asyncio.sleep(opts.grace)
            await spy.wait()
            acks = await fleet.finish()
            note("fleet stopped")
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            note("clients closed")
            if fleet is not None and fleet.proc.poll() is None:
                fleet.proc.kill()
            server.stop()
            note("server stopped")
    result.server_cpu, result.server_busiest_cpu = cpu["server"].cores, cpu["server"].busiest
    result.fleet_cpu, result.clients_cpu = cpu["fleet"].cores, cpu["clients"].cores
    result.broker_cpu = cpu["broker"].cores if "broker" in cpu else math.nan
    result.kb_per_cp = (rss_fleet - rss_idle) * 1024 / level.stations
    result.kb_per_client = (result.server_rss_mb - rss_fleet) * 1024 / level.clients
    result.acked_fps_a, _, _ = acks_in(acks, ta0, ta1)
    result.acked_fps, result.ack_p50_ms, result.ack_p99_ms = acks_in(acks, t0, t1)
    fanout = level.clients / level.stations if audience == "owner" else level.clients
    record_latencies(result, clients, opts.measure, sent_in(acks, t0, t1) * fanout)
    return result


def record_latencies(result: Result, clients: list[Subscriber], window_s: float, expected: float) -> None:
    """Push rate, delivered share and p50/p99 from the clients' window B latencies;
    ``expected``: pushes for the frames sent in the window."""
    latencies = [ms for c in clients for ms in c.latencies_ms]
    result.pushes_per_s = len(latencies) / window_s
    result.delivered = len(latencies) / expected if expected else math.nan
    result.p50_ms, result.p99_ms = percentile(latencies, 50), percentile(latencies, 99)


# -- raw aiokafka baseline -------------------------------------------------------------------


def sample_frame(seq: int) -> bytes:
    """A MeterValues CALL as the simulator sends it (about 1 KB of JSON)."""
    from chargelog.adapters.simulator import MeterSample

    sample = MeterSample(datetime.now().astimezone(), 12345.6, 11000.0, 42.0, (230.1, 229.8, 230.4),
                         (15.9, 15.96, 15.92))
    return json.dumps([2, str(seq), "MeterValues", {"connectorId": 1, "transactionId": seq,
                                                    "meterValue": [sample.to_ocpp()]}]).encode()


async def raw_baseline(bootstrap: str, rate_per_s: float, duration_s: float, partitions: int = 8) -> Result:
    """Produce ``rate_per_s`` records/s for ``duration_s`` s to a fresh topic (idempotent,
    ``acks="all"``, keyed by charge point) and consume them; latency = consumer receipt minus
    the producer's wall clock before ``send()`` (ms). The topic is deleted afterwards."""
    topic = f"citybench-raw-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                group_id=None, fetch_max_wait_ms=100)
    await producer.start()
    for partition in range(partitions):  # the producer retries until each partition has a leader
        await (await producer.send(topic, b"warm-up", partition=partition))
    await consumer.start()
    await consumer.seek_to_end()
    latencies: list[float] = []
    value = sample_frame(1)
    try:
        consuming = asyncio.create_task(_consume(consumer, latencies))
        await asyncio.sleep(1)  # the consumer's first fetch is out
        ack_ms: list[float] = []
        acked = await _produce(producer, topic, value, rate_per_s, duration_s, ack_ms)
        await asyncio.sleep(2)
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    finally:
        await producer.stop()
        await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.delete_topics([topic])
        await admin.close()
    return Result("raw aiokafka", stations=0, clients=1, target_fps=rate_per_s,
                  acked_fps=acked / duration_s, pushes_per_s=len(latencies) / duration_s,
                  ack_p50_ms=percentile(ack_ms, 50), ack_p99_ms=percentile(ack_ms, 99),
                  p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99))


async def _produce(producer: AIOKafkaProducer, topic: str, value: bytes, rate_per_s: float, duration_s: float,
                   ack_ms: list[float]) -> int:
    """Send at ``rate_per_s`` (in 10 ms ticks) for ``duration_s`` s, appending each record's
    send → acknowledgement time (ms) to ``ack_ms``; the number acknowledged."""
    tick_s, sent, acks = 0.01, 0, []
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < duration_s:
        while sent < int(elapsed * rate_per_s):
            t = time.monotonic()
            ack = await producer.send(topic, value, key=f"CP{sent % 1000:03d}".encode(),
                                      headers=[("t", str(time.time()).encode())])
            ack.add_done_callback(lambda _, t=t: ack_ms.append((time.monotonic() - t) * 1000.0))
            acks.append(ack)
            sent += 1
        await asyncio.sleep(tick_s)
    done = await asyncio.gather(*acks, return_exceptions=True)
    return sum(not isinstance(d, BaseException) for d in done)


async def _consume(consumer: AIOKafkaConsumer, latencies: list[float]) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=100)
        now = time.time()
        for records in batches.values():
            for record in records:
                latencies.append((now - float(dict(record.headers)["t"])) * 1000.0)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if topics:
            await admin.delete_topics(topics)
    finally:
        await admin.close()


# -- report ----------------------------------------------------------------------------------


def fmt(value: float, digits: int = 0) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def markdown_tables(results: list[Result]) -> str:
    """Two markdown tables: throughput and latency; server resources and load generators."""
    perf = ["| engine | charge points | clients | target frames/s | acked frames/s, fleet only "
            "| acked frames/s, with clients | ack p50 ms | ack p99 ms | pushes/s | delivered | push p50 ms | push p99 ms |",
            "| --- |" + " ---: |" * 11]
    resources = ["| engine | charge points | clients | server CPU, idle | server CPU, fleet only | server CPU, with clients "
                 "| CPU ms per frame, fleet only | CPU ms per frame, with clients "
                 "| CPU ms/s per CP | CPU ms/s per client | server RSS MB | RSS KB per CP | RSS KB per client "
                 "| fleet CPU | clients CPU | broker CPU | server busiest process CPU | server-bound frames/s "
                 "| generator-bound frames/s | limit |", "| --- |" + " ---: |" * 18 + " --- |"]
    for r in results:
        who = f"| {r.engine} | {fmt(r.stations) if r.stations else '–'} | {fmt(r.clients)} "
        delivered = "–" if math.isnan(r.delivered) else f"{r.delivered * 100:.1f} %"
        perf.append(who + f"| {fmt(r.target_fps)} | {fmt(r.acked_fps_a)} | {fmt(r.acked_fps)} "
                    f"| {fmt(r.ack_p50_ms, 1)} | {fmt(r.ack_p99_ms, 1)} "
                    f"| {fmt(r.pushes_per_s)} | {delivered} | {fmt(r.p50_ms, 1)} | {fmt(r.p99_ms, 1)} |")
        if r.stations:
            resources.append(who + f"| {fmt(r.server_cpu_idle, 2)} | {fmt(r.server_cpu_a, 2)} | {fmt(r.server_cpu, 2)} "
                             f"| {fmt(r.cpu_ms_per_frame_a, 2)} | {fmt(r.cpu_ms_per_frame, 2)} | {fmt(r.cpu_ms_per_cp, 2)} "
                             f"| {fmt(r.cpu_ms_per_client, 2)} | {fmt(r.server_rss_mb)} | {fmt(r.kb_per_cp)} "
                             f"| {fmt(r.kb_per_client)} | {fmt(r.fleet_cpu, 2)} | {fmt(r.clients_cpu, 2)} "
                             f"| {fmt(r.broker_cpu, 2)} | {fmt(r.server_busiest_cpu, 2)} | {fmt(r.server_bound_fps)} "
                             f"| {fmt(r.generator_bound_fps)} | {r.limit if r.acked_fps else '–'} |")
    return "\n".join(perf) + "\n\n" + "\n".join(resources)


def plot(results: list[Result], path: Path, audience: str) -> None:
    """Push latency p50 (solid) and p99 (dashed), ms on a log scale, against the offered load
    N / S frames/s, per engine and the raw baseline; each engine point is labelled with the
    frames/s actually acknowledged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for engine, colour in (("embedded", "tab:blue"), ("kafka", "tab:orange"), ("raw aiokafka", "tab:green")):
        rows = sorted((r for r in results if r.engine == engine and not math.isnan(r.p50_ms)),
                      key=lambda r: r.target_fps)
        if not rows:
            continue
        x = [r.target_fps for r in rows]
        ax.plot(x, [r.p50_ms for r in rows], "o-", color=colour, label=f"{engine} p50")
        ax.plot(x, [r.p99_ms for r in rows], "s--", color=colour, label=f"{engine} p99")
        if engine != "raw aiokafka":  # embedded labels under p50, Kafka's over p99
            below = engine == "embedded"
            for r in rows:
                ax.annotate(f"acked {r.acked_fps:.0f}/s", (r.target_fps, r.p50_ms if below else r.p99_ms),
                            fontsize=7, color=colour, textcoords="offset points", xytext=(-20, -12 if below else 6))
    for goal_ms in (50, 100):
        ax.axhline(goal_ms, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(f"goal {goal_ms} ms", (1, goal_ms), xycoords=("axes fraction", "data"), fontsize=7,
                    color="grey", xytext=(-40, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xlabel("offered load: charge points × MeterValues per s (frames/s)")
    ax.set_ylabel("meter.update push latency, ms (log)")
    ax.set_title(f"City benchmark ({audience} clients, as many as charge points); raw = aiokafka produce → consume",
                 fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


# -- main ------------------------------------------------------------------------------------


def parse_levels(text: str, interval_s: float) -> list[Level]:
    """``N:M,N:M`` → levels (N charge points, M clients)."""
    levels = []
    for item in text.split(","):
        stations, clients = (int(x) for x in item.split(":"))
        levels.append(Level(stations, clients, interval_s))
    return levels


async def bench(opts: argparse.Namespace) -> None:
    levels = parse_levels(opts.levels, opts.interval)
    if opts.audience == "owner" and any(lv.clients > lv.stations for lv in levels):
        raise SystemExit("--audience owner needs clients ≤ charge points (each client owns one)")
    results: list[Result] = []
    run_id = uuid.uuid4().hex[:8]
    load_before = os.getloadavg()[1]
    for engine_name in opts.engines.split(","):
        for level in levels:
            engine = Engine(engine_name, opts.bootstrap, f"citybench{run_id}{level.stations}x{level.clients}")
            print(f"# {engine_name}: {level.stations} charge points every {level.interval_s:g} s, "
                  f"{level.clients} clients …", file=sys.stderr, flush=True)
            try:
                results.append(await run_level(engine, level, opts.audience, opts))
            except RuntimeError as exc:
                note(f"level failed: {exc}")
                results.append(Result(engine_name, level.stations, level.clients, level.target_fps, failure=str(exc)))
            finally:
                if engine_name == "kafka":
                    await delete_topics(opts.bootstrap, engine.topic_prefix)
            note(markdown_tables(results[-1:]).splitlines()[2])
            if engine_name == "kafka" and not opts.no_raw:
                results.append(await raw_baseline(opts.bootstrap, level.target_fps, opts.measure))
                note(markdown_tables(results[-1:]).splitlines()[2])
    print(f"Machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB, "
          f"Python {platform.python_version()}, {platform.system()}; load average (5 min) before "
          f"{load_before:.1f}, after {os.getloadavg()[1]:.1f}; audience {opts.audience}; "
          f"MeterValues every {opts.interval:g} s; window {opts.measure:g} s\n")
    print(markdown_tables(results))
    for r in results:
        if r.failure:
            print(f"\n{r.engine} {r.stations}:{r.clients} failed: {r.failure}")
    if opts.plot:
        plot(results, Path(opts.plot), opts.audience)
        print(f"\nplot: {opts.plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    fleet = sub.add_parser("fleet", help="(internal) the charge point fleet child process")
    fleet.add_argument("--url", required=True)
    fleet.add_argument("--stations", type=int, required=True)
    fleet.add_argument("--interval", type=float, required=True)
    fleet.add_argument("--boot-timeout", type=float, required=True)
    fleet.add_argument("--kind", choices=["raw", "simulator"], default="raw")
    parser.add_argument("--levels", default="100:100,250:250,500:500,1000:1000",
                        help="N:M pairs, charge points:clients (default 100:100,250:250,500:500,1000:1000)")
    parser.add_argument("--interval", type=float, default=1.0, help="MeterValues interval S (s; default 1)")
    parser.add_argument("--engines", default="embedded,kafka")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    parser.add_argument("--audience", choices=["owner", "admin"], default="owner",
                        help="owner: each client sees its own session's pushes; admin: every push")
    parser.add_argument("--warmup", type=float, default=3.0, help="settle time before each window (s)")
    parser.add_argument("--baseline-window", type=float, default=5.0, help="idle and window A, fleet only (s)")
    parser.add_argument("--measure", type=float, default=10.0, help="window B, fleet and clients (s)")
    parser.add_argument("--profile", default="", help="directory for py-spy profiles of the server's processes "
                        "over window B (ENGINE-CPSxCLIENTS-PID.raw; bench/spy_summary.py); costs the run some CPU")
    parser.add_argument("--grace", type=float, default=3.0, help="pushes of window B still counted after it (s)")
    parser.add_argument("--boot-timeout", type=float, default=120.0,
                        help="a level fails when the fleet has not booted within this (s)")
    parser.add_argument("--log-dir", default=os.path.join(tempfile.gettempdir(), "city-bench"),
                        help="where each level's server output is kept (default $TMPDIR/city-bench)")
    parser.add_argument("--fleet", choices=["raw", "simulator"], default="raw",
                        help="raw: pre-built OCPP-J frames over websockets (light); simulator: "
                             "chargelog.adapters.simulator.Fleet on the ocpp library (about 2 ms CPU per frame)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw aiokafka baseline")
    parser.add_argument("--plot", default="", help="write the latency plot (PNG) here")
    opts = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # retried NotLeaderForPartition on new topics
    if opts.command == "fleet":
        fleet_main = run_raw_fleet if opts.kind == "raw" else run_fleet
        asyncio.run(fleet_main(opts.url, opts.stations, opts.interval, opts.boot_timeout))
    else:
        asyncio.run(bench(opts))


if __name__ == "__main__":
    main()
