"""One ``chargelog serve`` on the embedded engine uses every core by default (docs/deploy.md
"Processes"): the fold — translator and projections — runs in a supervised child, and more
OCPP gateway processes share the port (SO_REUSEPORT). A SIGKILLed child is started again;
every push still arrives once and in order; a resume by position has no gap; commands reach
a station whichever gateway process holds it; the stations of a killed gateway are recorded
closed and reconnect without losing an acknowledged frame; SIGTERM stops every process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from fold_wire_support import RawStation, create_keys, mobile, run_cli, serve_env
from processes import Server

#: The variables a child of ``serve`` carries (chargelog.adapters.child_process).
PARENT_ENV = "CHARGELOG_SERVE_CHILD_OF"
NAME_ENV = "CHARGELOG_SERVE_CHILD"
STATUSES = ["Available", "Preparing", "Unavailable"]
TIMEOUT_S = 60


def children(parent: int, name: str) -> list[psutil.Process]:
    """The child processes called ``name`` (``fold``, ``gateway-2``, …) that ``serve`` (pid
    ``parent``) started and that still run."""
    found = []
    for child in psutil.Process(parent).children():
        try:
            env = child.environ()
            if env.get(PARENT_ENV) == str(parent) and env.get(NAME_ENV) == name \
                    and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def fold_children(parent: int) -> list[psutil.Process]:
    return children(parent, "fold")


def another_child(parent: int, name: str, before: int, listening_on: int | None = None) -> psutil.Process:
    """The child ``name`` that replaced pid ``before`` (with ``listening_on``: once it listens
    on that port) — polled: a process we do not control."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for child in children(parent, name):
            if child.pid != before and (listening_on is None or any(
                    c.status == psutil.CONN_LISTEN and c.laddr.port == listening_on for c in child.net_connections())):
                return child
        time.sleep(0.1)
    raise AssertionError(f"no {name} process replaced {before} within {TIMEOUT_S} s")


async def status_pushes(client: Any, count: int) -> list[object]:
    """The statuses of the next ``count`` connector.status.changed pushes to ``client``."""
    pushes = [await client.push(lambda p: p["event"] == "connector.status.changed") for _ in range(count)]
    return [p["data"]["status"] for p in pushes]


def statuses_of(events: list[dict[str, object]], station: str) -> list[object]:
    return [e["data"]["status"] for e in events  # type: ignore[index]
            if e["eventType"] == "connector.status.changed" and e["stationId"] == station]


async def test_serve_folds_in_a_supervised_child_and_resumes_without_a_gap(tmp_path: Path) -> None:
    env = serve_env("embedded", tmp_path)
    server = Server(env, log_path=tmp_path / "serve.log").start()
    assert server.proc is not None
    parent = server.proc.pid
    try:
        (first,) = fold_children(parent)
        create_keys(env)
        live = await mobile(server.ws_url, "fold-a")
        start = (await live.result("subscribe", {"events": ["all"]}))["position"]
        sent: list[str] = []
        async with RawStation(server.ocpp_url, "PROC-1") as station:
            await station.boot()
            for n in range(6):
                sent.append(STATUSES[n % 3])
                await station.status(1, sent[-1])
            pushed = await status_pushes(live, len(sent))

            first.send_signal(signal.SIGKILL)  # the fold crashes; the gateway keeps acknowledging
            for n in range(6, 12):
                sent.append(STATUSES[n % 3])
                await station.status(1, sent[-1])
            second = another_child(parent, "fold", first.pid)
            assert second.is_running()

        pushed += await status_pushes(live, len(sent) - len(pushed))
        assert pushed == sent  # the live subscription saw both children's output

        resumer = await mobile(server.ws_url, "fold-b")  # a resume by position from before the crash
        page, events = {"hasMore": True, "position": start}, []
        async with asyncio.timeout(TIMEOUT_S):
            while page["hasMore"]:
                page = await resumer.result("getEventsSince", {"since": page["position"], "limit": 100})
                events.extend(page["events"])
        assert statuses_of(events, "PROC-1") == sent  # nothing missing, nothing twice, in order
        assert len({e["eventId"] for e in events}) == len(events)
        await live.close()
        await resumer.close()
    finally:
        code = server.stop()
    assert code == 0
    assert not psutil.pid_exists(second.pid) or psutil.Process(second.pid).status() == psutil.STATUS_ZOMBIE


async def test_one_process_when_asked(tmp_path: Path) -> None:
    server = Server(serve_env("embedded", tmp_path), extra_args=["--processes", "1"]).start()
    assert server.proc is not None
    try:
        assert fold_children(server.proc.pid) == [] and children(server.proc.pid, "gateway-2") == []
    finally:
        assert server.stop() == 0


def source_events(env: dict[str, str], *types: str) -> list[dict[str, Any]]:
    """``chargelog events --stream source --type …`` as an operator reads them."""
    out = run_cli(env, "events", "--stream", "source", "--type", *types)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def connections_at(env: dict[str, str], gateway_id: str) -> dict[str, str]:
    """chargePointId → connectionId of the connections the log says are open at
    ``gateway_id`` (opened, and neither closed, replaced nor offline since)."""
    open_: dict[str, tuple[str, str]] = {}
    for e in source_events(env, "ocpp.connection.opened", "ocpp.connection.closed",
                           "ocpp.connection.replaced", "ocpp.connection.offline"):
        p = e["payload"]
        if e["type"] == "ocpp.connection.opened":
            open_[e["chargePointId"]] = (p["gatewayId"], p["connectionId"])
        elif e["type"] != "ocpp.connection.replaced" and open_.get(e["chargePointId"], ("", ""))[1] == \
                p["connectionId"]:
            del open_[e["chargePointId"]]
    return {cp: c for cp, (g, c) in open_.items() if g == gateway_id}


async def booted(server: Server, charge_point_id: str) -> RawStation:
    station = await RawStation(server.ocpp_url, charge_point_id).__aenter__()
    await station.boot()
    return station


async def remote_start(client: Any, station: RawStation) -> None:
    """``startCharging`` from the Mobile API reaches ``station`` as a RemoteStartTransaction
    CALL, which it accepts."""
    started = asyncio.ensure_future(client.request("startCharging", {"stationId": station.id, "connectorId": 1}))
    frame = await station.answer_next_call({"status": "Accepted"})
    assert frame[2] == "RemoteStartTransaction"
    answer = await started
    assert "error" not in answer, answer


async def test_gateway_processes_share_the_port_and_survive_a_killed_one(tmp_path: Path) -> None:
    """``--processes 3``: ``serve`` (API + gateway), the fold, and gateway-2 on the same port."""
    env = serve_env("embedded", tmp_path)
    server = Server(env, log_path=tmp_path / "serve.log", extra_args=["--processes", "3"]).start()
    assert server.proc is not None
    parent = server.proc.pid
    stations: dict[str, RawStation] = {}
    try:
        (killed,) = children(parent, "gateway-2")
        create_keys(env)
        live = await mobile(server.ws_url, "fold-a")
        start = (await live.result("subscribe", {"events": ["all"]}))["position"]
        sent: dict[str, list[str]] = defaultdict(list)

        async def status(station: RawStation, value: str) -> None:
            await station.status(1, value)
            sent[station.id].append(value)  # acknowledged: it must be in the log once

        # the kernel spreads connections by their addresses: connect until both gateways hold some
        held: dict[str, set[str]] = {}
        while len(held) < 2:
            assert len(stations) < 64, f"every connection landed on one gateway process: {held}"
            batch = [await booted(server, f"RP-{len(stations) + n:02d}") for n in range(8)]
            for station in batch:
                stations[station.id] = station
                await status(station, "Available")
            held = defaultdict(set)
            for opened in source_events(env, "ocpp.connection.opened"):
                held[opened["payload"]["gatewayId"]].add(opened["chargePointId"])
        assert len(held) == 2
        killed_id = next(g for g in held if g.endswith(f":{killed.pid}"))
        for gateway_id, held_here in held.items():  # a command reaches a station at each process
            await remote_start(live, stations[min(held_here)])

        # a station reconnecting to the other process replaces its connection there: the old
        # socket is closed by the process that held it (the kernel picks the process: retry)
        moving = stations[min(held[killed_id])]
        for _ in range(32):
            newer = await booted(server, moving.id)
            async with asyncio.timeout(TIMEOUT_S):
                await moving.ws.wait_closed()
            reason, moving = moving.ws.close_reason, newer
            if reason == "replaced by a connection to another gateway":
                break
        assert reason == "replaced by a connection to another gateway", reason
        stations[moving.id] = moving
        await status(moving, "Unavailable")

        open_at_kill = connections_at(env, killed_id)
        assert open_at_kill
        killed.send_signal(signal.SIGKILL)
        replacement = another_child(parent, "gateway-2", killed.pid, listening_on=server.ocpp_port)
        # the replacement recorded the killed gateway's connections closed before it listened
        assert connections_at(env, killed_id) == {}
        closes = {e["payload"]["connectionId"]: e["payload"]["reason"]
                  for e in source_events(env, "ocpp.connection.closed")}
        assert {closes.get(c) for c in open_at_kill.values()} == {"gateway restarted"}

        for cp in sorted(held[killed_id]):  # its stations reconnect (to whichever process) and go on
            with contextlib.suppress(Exception):
                await stations[cp].ws.close()
            stations[cp] = await booted(server, cp)
        for station in stations.values():
            await status(station, "Preparing")
        await remote_start(live, stations[min(held[killed_id])])

        folded = set(stations)  # the fold has every last status once each was pushed
        while folded:
            push = await live.push(lambda p: p["event"] == "connector.status.changed"
                                   and p["data"]["status"] == "Preparing")
            folded.discard(push["data"]["stationId"])

        resumer = await mobile(server.ws_url, "fold-b")  # a resume by position from the start
        page, events = {"hasMore": True, "position": start}, []
        async with asyncio.timeout(TIMEOUT_S):
            while page["hasMore"]:
                page = await resumer.result("getEventsSince", {"since": page["position"], "limit": 100})
                events.extend(page["events"])
        for cp, values in sent.items():
            assert statuses_of(events, cp) == values  # no acknowledged frame lost, none twice
        assert len({e["eventId"] for e in events}) == len(events)
        await live.close()
        await resumer.close()
    finally:
        for station in stations.values():
            with contextlib.suppress(Exception):
                await station.ws.close()
        code = server.stop()
    assert code == 0
    assert not psutil.pid_exists(replacement.pid) or psutil.Process(replacement.pid).status() == psutil.STATUS_ZOMBIE
