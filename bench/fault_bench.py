"""Fault benchmark: N trials of each fault under OCPP load on Kafka, and what they cost
(../shared/DESIGN.md "Faults of the log … degrade, never corrupt"; docs/ocpp.md "While the
log is down"; docs/log-engines.md "Broker outages").

Set-up per fault: a private broker (``infra/kafka.sh`` with its own state directory and port,
never the shared one), a fresh topic prefix, three ``chargelog serve`` processes — ``--role
gateway``, ``--role projections``, ``--role api`` — ``--stations`` OCPP stations over real
sockets (one CALL in flight each, StatusNotification alternating Available/Preparing, so
every acknowledged CALL is also a ``connector.status.changed`` domain event and a push), and
a Mobile API client subscribed to those pushes that resumes by position after any drop.

Faults: ``broker-stop`` (``infra/kafka.sh stop``, down ``--down`` s, start), ``broker-kill``
(SIGKILL, down, start), ``kill-gateway`` / ``kill-projections`` / ``kill-api`` (SIGKILL of
that role's process, started again at once).

Per trial, recovery time = from the broker reachable again (``kafka.sh start`` returned: its
port is open) or the killed role listening again, to the end of the first 1 s window (so at
least 1 s) whose rate is back to ≥ 80 % of the rate in the ``--baseline`` seconds before the
fault:
acknowledged CALLs/s for broker and gateway faults, pushes/s received by the client for
projections and API faults. Each trial also records its phases, in seconds from that moment
(``phasesS``): ``brokerServing`` (a fresh consumer gets the end offsets of every ``source``
partition: the broker answers and every partition has a leader), ``gatewayAppendsBack`` /
``translatorAppendsBack`` (the producer's "Kafka … is back" log line in the gateway's /
projections worker's log), ``gatewayHealthy`` (``/health`` ok: upgrades accepted again),
``firstAck``, ``everyStationAcked``, ``acks80`` (acknowledged CALLs/s back to ≥ 80 %),
``firstPush``, ``pushes80`` (pushes/s at the client back to ≥ 80 %: translator, projections
and API hub all resumed); ``ratesAfterBack``: acknowledged CALLs/s and pushes/s in each
second after that moment; and ``faultS`` / ``startS`` (how long ``kafka.sh stop``/SIGKILL and
``kafka.sh start`` took) or ``restartS``. Per fault, after the trials: every station
disconnects and the gateway stops, then the log is read back:

* ``acked`` — CALLs the stations got a CALLRESULT for; ``lost`` — of those, not in the log;
* ``duplicates`` — repeated eventIds (``source``/``domain`` records written twice by a producer
  retry, which readers skip; pushes the client received twice, allowed by the design);
* ``clientGaps`` — domain events after the client's first position it never received;
* ``ghosts`` — charge points the log still says are online (presence fold of ``source`` and
  the station map's ``station.connected``/``disconnected``) once all have disconnected;
* ``endless`` — connections without exactly one end event;
* ``aiokafkaErrorLines`` — error lines aiokafka logged per role (failed connections and
  metadata refreshes while the broker was down).

The load is paced (``--pause`` between a station's CALLs), not saturating: the rate then
depends little on how busy the machine is, so "80 % of before" measures the system, not
the other processes on a shared machine.

Usage::

    python bench/fault_bench.py --trials 10
    python bench/fault_bench.py --faults broker-stop,kill-api --trials 3

Prints one JSON object per fault and a summary table.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import websockets
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fault_support import Fleet, PrivateBroker, check_log, http_json, source_log  # noqa: E402
from processes import Server, chargelog_cmd  # noqa: E402

from chargelog.adapters.log.kafka import KafkaLog  # noqa: E402
from chargelog.domain.log import DOMAIN, Position  # noqa: E402

FAULTS = ("broker-stop", "broker-kill", "kill-gateway", "kill-projections", "kill-api")
STATUS_CHANGED = "connector.status.changed"
KEY = "fault-bench-mobile-key-0001"
#: Rate window (s) and the share of the pre-fault rate that counts as recovered.
WINDOW_S = 1.0
RECOVERED = 0.8
#: Longest a trial waits for recovery before recording it as not recovered (s).
RECOVERY_LIMIT_S = 60.0
#: Partitions per topic.
PARTITIONS = 4


class Client:
    """A Mobile API client that stays subscribed: after any drop it reconnects and resumes
    from the position of the last push it received. ``times``: arrival of each push."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: list[str] = []
        self.times: list[float] = []
        self.first_position: str | None = None
        self.position: str | None = None
        self.reconnects = 0
        self.errors: list[dict[str, Any]] = []  # error messages received (then it subscribes again)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with websockets.connect(f"ws://127.0.0.1:{self.port}/ws", max_size=None,
                                              open_timeout=10) as ws:
                    await ws.send(json.dumps({"id": "a", "action": "auth", "params": {"apiKey": KEY}}))
                    answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if answer.get("result", {}).get("status") != "ok":
                        raise RuntimeError(f"auth failed: {answer}")
                    params: dict[str, Any] = {"events": [STATUS_CHANGED]}
                    if self.position is not None:
                        params["since"] = self.position
                    await ws.send(json.dumps({"id": "s", "action": "subscribe", "params": params}))
                    async for text in ws:
                        message = json.loads(text)
                        if message.get("id") == "s" and "result" in message:
                            if self.first_position is None:
                                self.first_position = self.position = message["result"]["position"]
                        elif "error" in message:  # e.g. the resume refused while the log is down
                            self.errors.append(message)
                            break  # reconnect and subscribe again
                        elif message.get("event") == STATUS_CHANGED:
                            self.ids.append(message["eventId"])
                            self.times.append(time.monotonic())
                            self.position = message["position"]
            except (OSError, TimeoutError, websockets.WebSocketException):
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)


def rate(times: list[float], end: float, window_s: float = WINDOW_S) -> float:
    """Events per second in (end - window, end] of the sorted ``times``."""
    return (bisect.bisect_right(times, end) - bisect.bisect_right(times, end - window_s)) / window_s


def all_times(fleet: Fleet) -> list[float]:
    return sorted(t for s in fleet.stations for t in s.times)


def recovered_at(times: list[float], baseline: float, since: float, until: float) -> float | None:
    """Seconds from ``since`` to the end of the first :data:`WINDOW_S` window, wholly after
    ``since`` and ending by ``until``, holding ≥ RECOVERED × ``baseline`` of ``times``
    (window ends probed every 0.05 s): when a whole second at that rate has been seen.
    None if there is none."""
    end = since + WINDOW_S
    while end <= until:
        if rate(times, end) >= RECOVERED * baseline:
            return round(end - since, 2)
        end += 0.05
    return None


async def recovery(series: Any, baseline: float, since: float) -> float | None:
    """:func:`recovered_at` of ``series()``, waited for live (at most :data:`RECOVERY_LIMIT_S`)."""
    while time.monotonic() - since < RECOVERY_LIMIT_S:
        await asyncio.sleep(0.25)  # sampling a rate
        took = recovered_at(series(), baseline, since, time.monotonic())
        if took is not None:
            return took
    return None


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def first_after(times: list[float], since: float) -> float | None:
    """Seconds from ``since`` to the first of ``times`` after it."""
    later = [t for t in times if t > since]
    return round(min(later) - since, 2) if later else None


def last_first_after(series: list[list[float]], since: float) -> float | None:
    """:func:`first_after` of the slowest of ``series``; None if one has none."""
    firsts = [first_after(times, since) for times in series]
    return None if None in firsts else max(f for f in firsts if f is not None)


def log_line_after(path: Path, needle: str, since_wall: float) -> float | None:
    """Seconds from ``since_wall`` (Unix time) to the first line of the log at ``path``
    containing ``needle`` whose ISO-8601 UTC timestamp is later."""
    with contextlib.suppress(OSError):
        for line in path.read_text(errors="replace").splitlines():
            if needle not in line or not line[:4].isdigit():
                continue
            with contextlib.suppress(ValueError):
                at = datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp()
                if at > since_wall:
                    return round(at - since_wall, 2)
    return None


def aiokafka_errors(path: Path) -> int:
    """Lines aiokafka logged at error level in a role's log (e.g. failed metadata refreshes
    while the broker was down)."""
    with contextlib.suppress(OSError):
        return sum(1 for line in path.read_text(errors="replace").splitlines()
                   if "[error" in line and "[aiokafka" in line)
    return 0


async def until_serving(bootstrap: str, topic: str, since: float, limit_s: float = RECOVERY_LIMIT_S) -> float | None:
    """Seconds from ``since`` until a fresh group-less consumer gets the end offsets of every
    partition of ``topic`` (the broker answers and every partition has a leader again)."""
    while time.monotonic() - since < limit_s:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(consumer.start(), 3)
            await asyncio.wait_for(consumer.end_offsets([TopicPartition(topic, p) for p in range(PARTITIONS)]), 3)
            return round(time.monotonic() - since, 2)
        except (KafkaError, OSError, TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 3)
        await asyncio.sleep(0.1)  # probing the broker
    return None


async def until_healthy(port: int, since: float, limit_s: float = RECOVERY_LIMIT_S) -> float | None:
    """Seconds from ``since`` until the gateway's ``/health`` says ``ok``."""
    while time.monotonic() - since < limit_s:
        with contextlib.suppress(OSError, ValueError, IndexError):
            _, body = await http_json(port, "/health")
            if body.get("status") == "ok":
                return round(time.monotonic() - since, 2)
        await asyncio.sleep(0.05)  # polling the gateway's health
    return None


class Roles:
    """The three role processes of one fault run."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        gateway = Server(env, roles=["gateway"], log_path=logs / "gateway.log")
        api = Server(env, roles=["api"], log_path=logs / "api.log")
        projections = Server(env, roles=["projections"], ocpp_port=0, api_port=0, log_path=logs / "projections.log")
        self.servers = {"gateway": gateway, "projections": projections, "api": api}

    def start(self) -> None:
        for server in self.servers.values():
            server.start()

    def restart(self, role: str) -> None:
        server = self.servers[role]
        server.start()

    def kill(self, role: str) -> None:
        self.servers[role].kill()

    def stop(self, role: str) -> float:
        began = time.monotonic()
        self.servers[role].stop()
        return round(time.monotonic() - began, 2)


async def domain_check(bootstrap: str, prefix: str, client: Client) -> dict[str, Any]:
    """Domain-stream duplicates, the client's gaps, and ghosts on the station map."""
    log = KafkaLog(bootstrap, topic_prefix=prefix)
    await log.start()
    try:
        records = await log.read(DOMAIN)
    finally:
        await log.close()
    ids = Counter(r.event.eventId for r in records)
    after = Position.parse(client.first_position or "")
    wanted = {r.event.eventId for r in records if r.event.type == STATUS_CHANGED and not after.covers(r)}
    missing = [r for r in records if r.event.eventId in wanted - set(client.ids)]
    gaps: dict[int, list[int]] = {}
    for r in missing:
        gaps.setdefault(r.partition, []).append(r.offset)
    online: dict[str, bool] = {}
    for r in records:
        if r.event.type == "station.connected":
            online[r.event.chargePointId] = True
        elif r.event.type == "station.disconnected":
            online[r.event.chargePointId] = False
    return {"domainDuplicates": sum(n - 1 for n in ids.values()),
            "clientGaps": len(wanted - set(client.ids)),
            "gapOffsets": {p: [min(o), max(o), len(o)] for p, o in gaps.items()},
            "mapGhosts": sorted(cp for cp, on in online.items() if on)}


async def settle_domain(bootstrap: str, prefix: str, quiet_s: float = 3.0, limit_s: float = 60.0) -> None:
    """Wait until the domain stream stops growing for ``quiet_s`` (the translator caught up)."""
    log = KafkaLog(bootstrap, topic_prefix=prefix)
    await log.start()
    try:
        last, since, began = None, time.monotonic(), time.monotonic()
        while time.monotonic() - began < limit_s:
            now = await log.latest(DOMAIN)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            await asyncio.sleep(0.5)  # sampling the stream's end
    finally:
        await log.close()


async def run_fault(fault: str, broker: PrivateBroker, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    prefix = f"fb{uuid.uuid4().hex[:8]}"
    logs = tmp / prefix
    logs.mkdir()
    env = {"CHARGELOG_LOG": f"kafka://{broker.bootstrap}", "CHARGELOG_TOPIC_PREFIX": prefix,
           "CHARGELOG_PARTITIONS": str(PARTITIONS), "CHARGELOG_DATA_DIR": str(logs / "data"),
           "CHARGELOG_GATEWAY_ID": f"gw-{prefix}", "CHARGELOG_JWT_SECRET": "fault-bench-secret-0123456789abcdef",
           # every station connects from 127.0.0.1 without being registered: lift the per-address cap
           "CHARGELOG_UNKNOWN_CHARGE_POINTS_PER_ADDRESS_PER_HOUR": str(10 * args.stations)}
    subprocess.run(chargelog_cmd("apikey", "create", "--user", "bench", "--scopes", "read:stations", "--key", KEY),
                   env={**os.environ, **env}, check=True, capture_output=True)
    roles = Roles(env, logs)
    await asyncio.to_thread(roles.start)
    gateway = roles.servers["gateway"]
    fleet = Fleet(gateway.ocpp_url, args.stations, prefix="CP-B", pause_s=args.pause)
    client = Client(roles.servers["api"].api_port)
    fleet.start()
    client.start()
    trials: list[dict[str, Any]] = []
    by_pushes = fault in ("kill-projections", "kill-api")
    acks = lambda: all_times(fleet)  # noqa: E731
    pushes = lambda: client.times  # noqa: E731
    try:
        await asyncio.sleep(args.warmup)
        for number in range(1, args.trials + 1):
            now = time.monotonic()
            baselines = {"acks": rate(acks(), now, args.baseline), "pushes": rate(pushes(), now, args.baseline)}
            trial: dict[str, Any] = {"trial": number, "loadavg": round(os.getloadavg()[0], 1),
                                     "baselineAcksPerS": round(baselines["acks"]),
                                     "baselinePushesPerS": round(baselines["pushes"])}
            began = time.monotonic()
            if fault.startswith("broker-"):
                await asyncio.to_thread(broker.fault, fault.removeprefix("broker-"))
                trial["faultS"] = round(time.monotonic() - began, 2)
                await asyncio.sleep(args.down)
                began = time.monotonic()
                await asyncio.to_thread(broker.start)
                trial["startS"] = round(time.monotonic() - began, 2)  # kafka.sh start: until the port is open
            else:
                role = fault.removeprefix("kill-")
                await asyncio.to_thread(roles.kill, role)
                await asyncio.to_thread(roles.restart, role)
                trial["restartS"] = round(time.monotonic() - began, 2)  # until the role listens again
            back, back_wall = time.monotonic(), time.time()
            probes = [until_healthy(gateway.ocpp_port, back)]
            if fault.startswith("broker-"):
                probes.append(until_serving(broker.bootstrap, f"{prefix}.source", back))
            watched = asyncio.gather(*probes)
            series = pushes if by_pushes else acks
            took = await recovery(series, baselines["pushes" if by_pushes else "acks"], back)
            await asyncio.sleep(args.settle)
            probed = await watched
            until = time.monotonic()
            phases = {"brokerServing": probed[1] if len(probed) > 1 else None,
                      "gatewayHealthy": probed[0],
                      "gatewayAppendsBack": log_line_after(logs / "gateway.log", " is back: appends", back_wall),
                      "translatorAppendsBack": log_line_after(logs / "projections.log", " is back: appends", back_wall),
                      "firstAck": first_after(acks(), back),
                      "everyStationAcked": last_first_after([s.times for s in fleet.stations], back),
                      "acks80": recovered_at(acks(), baselines["acks"], back, until),
                      "firstPush": first_after(pushes(), back),
                      "pushes80": recovered_at(pushes(), baselines["pushes"], back, until)}
            after = {"acksPerS": [round(rate(acks(), back + i + 1)) for i in range(int(until - back))],
                     "pushesPerS": [round(rate(pushes(), back + i + 1)) for i in range(int(until - back))]}
            trial.update(recoveryS=took, phasesS=phases, ratesAfterBack=after)
            trials.append(trial)
            print(f"  {fault} trial {number}: load {trial['loadavg']}, recovered in {took} s; "
                  f"{json.dumps({k: v for k, v in trial.items() if k not in ('trial', 'recoveryS')})}", flush=True)
    finally:
        await fleet.stop()
        sigterm_s = await asyncio.to_thread(roles.stop, "gateway")
        await settle_domain(broker.bootstrap, prefix)
        await client.stop()
        for role in ("api", "projections"):
            await asyncio.to_thread(roles.stop, role)
    acked = [m for s in fleet.stations for m in s.acked]
    check = check_log(await source_log(broker.bootstrap, prefix), acked)
    domain = await domain_check(broker.bootstrap, prefix, client)
    recoveries = [t["recoveryS"] for t in trials]
    done = [r for r in recoveries if r is not None]
    pushes_back = [t["phasesS"]["pushes80"] for t in trials if t["phasesS"]["pushes80"] is not None]
    return {
        "fault": fault, "trials": len(recoveries), "stations": args.stations, "acked": len(acked),
        "lost": len(check.lost), "sourceDuplicates": check.duplicates,
        "domainDuplicates": domain["domainDuplicates"],
        "clientPushes": len(client.ids), "clientReconnects": client.reconnects,
        "clientDuplicatePushes": len(client.ids) - len(set(client.ids)), "clientGaps": domain["clientGaps"],
        "gapOffsets": domain["gapOffsets"], "clientErrors": len(client.errors),
        "recoveryP50S": p50(done), "recoveryMaxS": max(done) if done else None,
        "notRecovered": len(recoveries) - len(done), "over10S": sum(1 for r in done if r > 10),
        "pushes80P50S": p50(pushes_back), "pushes80MaxS": max(pushes_back, default=None),
        "baselineAcksPerS": [min(t["baselineAcksPerS"] for t in trials), max(t["baselineAcksPerS"] for t in trials)],
        "loadavgTrials": [min(t["loadavg"] for t in trials), max(t["loadavg"] for t in trials)],
        "ghosts": len(check.online) + len(domain["mapGhosts"]), "endless": len(check.ends),
        "aiokafkaErrorLines": {role: aiokafka_errors(logs / f"{role}.log") for role in roles.servers},
        "gatewaySigtermS": sigterm_s, "recoveriesS": recoveries, "fleet": fleet.counts(), "trialsDetail": trials,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--stations", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.5, help="pause between a station's CALLs (s)")
    parser.add_argument("--down", type=float, default=3.0, help="broker down time per trial (s)")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--baseline", type=float, default=5.0, help="window of the pre-fault rate (s)")
    parser.add_argument("--settle", type=float, default=4.0, help="steady time after a recovery (s)")
    parser.add_argument("--workdir", help="keep the broker and the processes' logs here (default: a temporary directory)")
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the broker probe's errors while it is down
    with (contextlib.nullcontext(args.workdir) if args.workdir
          else tempfile.TemporaryDirectory(prefix="fault-bench-")) as tmp:
        broker = PrivateBroker(Path(tmp) / "kafka")
        broker.start()
        results = []
        try:
            for fault in args.faults.split(","):
                started = time.monotonic()
                result = await run_fault(fault, broker, args, Path(tmp))
                result["wallS"] = round(time.monotonic() - started, 1)
                result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            with contextlib.suppress(Exception):
                broker.stop()
    print("\n| fault | trials | load avg | acked | lost | dup. source/domain/pushes | client gaps | "
          "recovery p50 / max (s) | trials > 10 s | pushes ≥ 80 % p50 / max (s) | ghosts | no end |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['fault']} | {r['trials']} | {r['loadavgTrials'][0]}–{r['loadavgTrials'][1]} | {r['acked']} | "
              f"{r['lost']} | {r['sourceDuplicates']}/{r['domainDuplicates']}/{r['clientDuplicatePushes']} | "
              f"{r['clientGaps']} | {r['recoveryP50S']} / {r['recoveryMaxS']} ({r['notRecovered']} not) | "
              f"{r['over10S']} | {r['pushes80P50S']} / {r['pushes80MaxS']} | {r['ghosts']} | {r['endless']} |")

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        asyncio.run(main())
