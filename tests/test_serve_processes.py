"""One ``chargelog serve`` on the embedded engine uses two processes by default (the fold —
translator and projections — in a supervised child, docs/deploy.md "Processes"): the child
exists, a SIGKILLed child is started again, every push still arrives once and in order, a
resume by position across the two children has no gap, and SIGTERM stops both."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from fold_wire_support import RawStation, create_keys, mobile, serve_env
from processes import Server

#: The variable a fold child carries (chargelog.adapters.fold_process.PARENT_ENV).
PARENT_ENV = "CHARGELOG_FOLD_PROCESS_OF"
STATUSES = ["Available", "Preparing", "Unavailable"]
TIMEOUT_S = 60


def fold_children(parent: int) -> list[psutil.Process]:
    """The fold processes ``serve`` (pid ``parent``) started and that still run."""
    found = []
    for child in psutil.Process(parent).children():
        try:
            if child.environ().get(PARENT_ENV) == str(parent) and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def another_fold_child(parent: int, before: int) -> psutil.Process:
    """The fold child that replaced pid ``before`` (polled: a process we do not control)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        children = [c for c in fold_children(parent) if c.pid != before]
        if children:
            return children[0]
        time.sleep(0.1)
    raise AssertionError(f"no fold process replaced {before} within {TIMEOUT_S} s")


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
            second = another_fold_child(parent, first.pid)
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
        assert fold_children(server.proc.pid) == []
    finally:
        assert server.stop() == 0
