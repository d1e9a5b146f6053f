"""``chargelog events`` (adapters/cli/events.py) as a real subprocess over
both engines: JSON Lines with positions, filters, resuming, --follow, user errors."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from chargelog.adapters.config import Settings
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, EventLog, Position

TIMEOUT_S = 60
#: The installed console script (``python -m chargelog.adapters.cli.main`` would load the
#: module twice, as ``__main__`` and by name, and UserError would not be caught).
CHARGELOG = str(Path(sys.executable).with_name("chargelog"))


def cli_args(settings: Settings, *args: str) -> list[str]:
    return [CHARGELOG, "events", "--log", settings.log,
            "--data-dir", str(settings.data_dir), "--topic-prefix", settings.topic_prefix, *args]


async def events_cli(settings: Settings, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``chargelog events`` to completion: exit code, parsed lines, stderr."""
    proc = await asyncio.create_subprocess_exec(
        *cli_args(settings, *args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    return proc.returncode or 0, [json.loads(x) for x in out.splitlines()], err.decode()


def ev(i: int) -> Event:
    return Event(type="test.a" if i % 2 else "test.b", chargePointId=f"CP{i % 3}", payload={"i": i})


async def test_prints_every_event_with_its_position(log: EventLog, settings: Settings) -> None:
    events = [ev(i) for i in range(30)]
    await log.append(SOURCE, events)
    code, lines, err = await events_cli(settings)
    assert code == 0, err
    assert sorted(x["eventId"] for x in lines) == sorted(e.eventId for e in events)
    records = {r.event.eventId: r for r in await log.read(SOURCE)}
    for x in lines:
        position = Position.parse(x.pop("position"))
        record = records[x["eventId"]]
        assert position.covers(record)
        assert Event.model_validate(x) == record.event
    per_cp = [x["payload"]["i"] for x in lines if x["chargePointId"] == "CP1"]
    assert per_cp == list(range(1, 30, 3))


async def test_filters_limit_and_resume(log: EventLog, settings: Settings) -> None:
    await log.append(SOURCE, [ev(i) for i in range(30)])
    code, lines, err = await events_cli(settings, "--charge-point", "CP2", "--type", "test.a")
    assert code == 0, err
    assert [x["payload"]["i"] for x in lines] == [5, 11, 17, 23, 29]
    code, first, _ = await events_cli(settings, "--charge-point", "CP0", "--limit", "4")
    assert [x["payload"]["i"] for x in first] == [0, 3, 6, 9]
    code, rest, _ = await events_cli(settings, "--charge-point", "CP0", "--from-position", first[-1]["position"])
    assert [x["payload"]["i"] for x in rest] == list(range(12, 30, 3))


async def test_since_and_until_select_by_recorded_time(log: EventLog, settings: Settings) -> None:
    for i in range(6):
        await log.append(SOURCE, [ev(i)])
    records = await log.read(SOURCE)
    stamps = sorted(r.event.recordedAt for r in records)
    since, until = stamps[2], stamps[4]
    code, lines, err = await events_cli(settings, "--since", since.isoformat(), "--until", until.isoformat())
    assert code == 0, err
    assert sorted(x["eventId"] for x in lines) == sorted(
        r.event.eventId for r in records if since <= r.event.recordedAt < until)


async def test_follow_prints_new_events(log: EventLog, settings: Settings) -> None:
    await log.append(SOURCE, [ev(i) for i in range(3)])
    proc = await asyncio.create_subprocess_exec(
        *cli_args(settings, "--follow", "--type", "test.a", "--limit", "3"), stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), TIMEOUT_S))
        assert first["payload"]["i"] == 1
        await log.append(SOURCE, [ev(i) for i in range(3, 7)])
        out = await asyncio.wait_for(proc.stdout.read(), TIMEOUT_S)
        assert sorted(json.loads(x)["payload"]["i"] for x in out.splitlines()) == [3, 5]  # CP0, CP2
        assert await asyncio.wait_for(proc.wait(), TIMEOUT_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_user_mistakes_are_one_line_errors(settings: Settings) -> None:
    code, lines, err = await events_cli(settings, "--since", "yesterday")
    assert (code, lines) == (2, []) and err.strip() == "chargelog: error: --since: not an ISO 8601 time: 'yesterday'"
    code, _, err = await events_cli(settings, "--from-position", "nonsense")
    assert code == 2 and err.startswith("chargelog: error: --from-position") and err.count("\n") == 1


async def test_a_missing_embedded_log_is_an_error(tmp_path: Path) -> None:
    settings = Settings(log="embedded", data_dir=tmp_path / "nowhere")
    code, lines, err = await events_cli(settings)
    assert (code, lines) == (2, []) and "no embedded log under" in err and str(tmp_path / "nowhere") in err
