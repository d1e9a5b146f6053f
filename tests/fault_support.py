"""Helpers for broker-fault tests and ``bench/fault_bench.py`` (no tests here): a private
Kafka broker (``infra/kafka.sh`` with its own state directory and port, sharing the jars),
stopped gracefully or killed with SIGKILL; OCPP stations over real sockets that keep one
CALL in flight, reconnect after every close or refused upgrade and remember which CALLs
were acknowledged; and the checks a user would make on the log afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

from chargelog.adapters.log.kafka import KafkaLog
from chargelog.adapters.ocpp import presence as pr
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE

REPO = Path(__file__).resolve().parent.parent
KAFKA_SH = REPO / "infra" / "kafka.sh"
#: A station waits this long for a CALLRESULT before it gives up on the connection (s).
ANSWER_TIMEOUT_S = 30.0
#: Pause of a station between a failed connection and its next attempt (s).
RECONNECT_S = 0.2
END_TYPES = (pr.CLOSED, pr.OFFLINE, pr.REPLACED)
#: Longest a private broker may take to open its port (s): generous, a loaded machine's JVM
#: start is slow (a hung start fails instead of blocking).
BROKER_START_LIMIT_S = 180.0


def _port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (Kafka's client and controller listeners)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no pair of free ports")


class PrivateBroker:
    """A single-node broker of ``infra/kafka.sh`` in ``home`` on a free port; jars are shared
    (``KAFKA_LIBS``, default infra/.kafka/libs). ``start`` raises when it does not come up."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _port_pair()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, command: str) -> None:
        env = {**os.environ, "KAFKA_HOME": str(self.home), "KAFKA_PORT": str(self.port),
               "KAFKA_START_TIMEOUT_S": str(int(BROKER_START_LIMIT_S))}
        done = subprocess.run(["bash", str(KAFKA_SH), command], env=env, capture_output=True, text=True,
                              timeout=BROKER_START_LIMIT_S + 60)
        if done.returncode != 0:
            raise RuntimeError(f"infra/kafka.sh {command} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        """Graceful stop (SIGTERM, as ``infra/kafka.sh stop``)."""
        self._run("stop")

    def kill(self) -> None:
        """SIGKILL the broker process: no flush, no controlled shutdown."""
        pidfile = self.home / "kafka.pid"
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        while _alive(pid):
            time.sleep(0.05)  # polling the process table for the kill to complete
        pidfile.unlink()

    def fault(self, kind: str) -> None:
        """``stop`` (graceful) or ``kill`` (SIGKILL)."""
        self.stop() if kind == "stop" else self.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Station:
    """One charge point keeping one CALL in flight (alternating StatusNotification
    Available/Preparing on connector 1, so each CALL also means a domain event), reconnecting
    after any failure. ``acked``: messageIds answered with a CALLRESULT; ``times``: when."""

    url: str
    charge_point_id: str
    pause_s: float = 0.0  # between an answer and the next CALL (s)
    acked: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    connections: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # HTTP status of refused upgrades
    closes: Counter[int] = field(default_factory=Counter)  # close codes received
    _sent: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with websockets.connect(f"{self.url}/{self.charge_point_id}", subprotocols=["ocpp1.6"],
                                              open_timeout=10, close_timeout=2) as ws:
                    self.connections += 1
                    await self._calls(ws, stop)
            except websockets.InvalidStatus as exc:
                self.refused[exc.response.status_code] += 1
            except websockets.ConnectionClosed as exc:
                if exc.rcvd is not None:
                    self.closes[exc.rcvd.code] += 1
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                pass
            if not stop.is_set():
                await asyncio.sleep(RECONNECT_S)

    async def _calls(self, ws: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._sent += 1
            message_id = f"{self.charge_point_id}-{self._sent}"
            status = "Available" if self._sent % 2 else "Preparing"
            await ws.send(json.dumps([2, message_id, "StatusNotification", {
                "connectorId": 1, "errorCode": "NoError", "status": status}]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))
            if answer[0] == 3 and answer[1] == message_id:
                self.acked.append(message_id)
                self.times.append(time.monotonic())
            if self.pause_s:
                await asyncio.sleep(self.pause_s)


class Fleet:
    """``count`` stations ``{prefix}{i}`` against ``url`` (ws://…/ocpp), run until ``stop``."""

    def __init__(self, url: str, count: int, prefix: str = "CP-F", pause_s: float = 0.0) -> None:
        self.stations = [Station(url, f"{prefix}{i}", pause_s) for i in range(count)]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(s.run(self._stop)) for s in self.stations]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def acked(self) -> int:
        return sum(len(s.acked) for s in self.stations)

    async def until_each_acked(self, more: int, timeout_s: float) -> None:
        """Wait until every station has had ``more`` further CALLs acknowledged."""
        targets = [len(s.acked) + more for s in self.stations]
        async with asyncio.timeout(timeout_s):
            while any(len(s.acked) < t for s, t in zip(self.stations, targets, strict=True)):
                await asyncio.sleep(0.05)  # polling counters the station tasks update

    def counts(self) -> dict[str, Any]:
        refused: Counter[int] = Counter()
        closes: Counter[int] = Counter()
        for s in self.stations:
            refused.update(s.refused)
            closes.update(s.closes)
        return {"acked": self.acked, "connections": sum(s.connections for s in self.stations),
                "refusedUpgrades": dict(refused), "closeCodes": dict(closes)}


async def http_json(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET ``path`` on 127.0.0.1:``port`` with plain HTTP/1.1 → (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")


async def wait_health(port: int, status: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll the gateway's ``/health`` until its ``status`` is ``status``; returns the body."""
    async with asyncio.timeout(timeout_s):
        while True:
            with contextlib.suppress(OSError, ValueError, IndexError):
                _, body = await http_json(port, "/health")
                if body.get("status") == status:
                    return body
            await asyncio.sleep(0.1)  # polling a server's observable state


async def source_log(bootstrap: str, topic_prefix: str) -> list[Event]:
    """Every event of the ``source`` stream on the broker (log order per partition)."""
    log = KafkaLog(bootstrap, topic_prefix=topic_prefix)
    await log.start()
    try:
        return [r.event for r in await log.read(SOURCE)]
    finally:
        await log.close()


@dataclass
class LogCheck:
    """What the log says after a run: acknowledged CALLs missing, connections with other
    than one end event, duplicate records (same eventId), charge points still online."""

    lost: list[str]
    ends: dict[str, int]  # connectionId → number of end events, where not exactly 1
    duplicates: int
    online: list[str]
    opened: int


def check_log(events: list[Event], acked: list[str]) -> LogCheck:
    """Compare the stations' acknowledged messageIds with the ``source`` events."""
    answered = {e.payload.get("messageId") for e in events
                if e.type == "ocpp.frame" and e.payload.get("direction") == "out" and e.payload.get("messageTypeId") == 3}
    calls = {e.payload.get("messageId") for e in events
             if e.type == "ocpp.frame" and e.payload.get("direction") == "in" and e.payload.get("messageTypeId") == 2}
    lost = [m for m in acked if m not in answered or m not in calls]
    seen: set[str] = set()
    unique: list[Event] = []
    for event in events:  # readers skip a repeated eventId (docs/log-engines.md)
        if event.eventId not in seen:
            seen.add(event.eventId)
            unique.append(event)
    ends: Counter[str] = Counter()
    opened = [e.payload["connectionId"] for e in unique if e.type == pr.OPENED]
    for event in unique:
        if event.type in (pr.CLOSED, pr.OFFLINE):
            ends[event.payload.get("connectionId")] += 1
        elif event.type == pr.REPLACED and event.payload.get("previousConnectionId"):
            ends[event.payload["previousConnectionId"]] += 1
    presence = pr.Presence()
    for event in unique:
        presence.apply(event)
    return LogCheck(lost=lost, ends={c: ends[c] for c in opened if ends[c] != 1},
                    duplicates=len(events) - len(unique),
                    online=sorted(cp for cp, h in presence.holders.items() if h.online), opened=len(opened))
