"""``chargelog projections rebuild|status`` on an embedded data directory: a rebuilt store
equals the live one, and status shows every fold caught up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_projections_runner import REGISTRY, expected_domain, session_trace, settle

from chargelog.adapters.cli.main import main
from chargelog.adapters.config import Settings
from chargelog.adapters.log import open_log
from chargelog.adapters.store import open_store
from chargelog.domain.log import SOURCE
from chargelog.projections.runner import PROJECTION_NAMES, ProjectionWorker


async def run_worker_until_settled(settings: Settings) -> None:
    log = open_log(settings)
    await log.start()
    try:
        await log.append(SOURCE, REGISTRY)
        source = session_trace("CP1", 1, "TAG1") + session_trace("CP2", 2, "TAG2", stop=False)
        await log.append(SOURCE, source)
        worker = ProjectionWorker(log, settings)
        await worker.start()
        try:
            await settle(log, worker, len(expected_domain(source)))
        finally:
            await worker.stop()
    finally:
        await log.close()


def stored(settings: Settings) -> dict:
    store = open_store(settings)
    try:
        return {name: (store.load(name)[0], sorted(store.load(name)[1])) for name in PROJECTION_NAMES}
    finally:
        store.close()


def test_rebuild_and_status(tmp_path: Path, capsys):
    settings = Settings(log="embedded", data_dir=tmp_path / "data")
    asyncio.run(run_worker_until_settled(settings))
    live = stored(settings)
    assert main(["projections", "rebuild", "--data-dir", str(settings.data_dir), "--no-progress"]) == 0
    assert stored(settings) == live
    assert main(["projections", "rebuild", "stations", "--data-dir", str(settings.data_dir)]) == 0
    assert stored(settings) == live
    capsys.readouterr()
    assert main(["projections", "status", "--data-dir", str(settings.data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert {line.split()[0] for line in lines} == {"translator", *PROJECTION_NAMES}
    assert all(line.split()[3:] == ["0", "0"] for line in lines)  # no lag, nothing quarantined
