"""A defect (a fold that raises) quarantines only the record it raised on, on both engines:
the translator and the projections go on with every other record, the quarantine is stored
with consumer, position and error, counted in the metric, shown by ``projections status``,
and ``projections retry`` re-applies it once the defect is fixed."""

from __future__ import annotations

import asyncio
import subprocess
from types import SimpleNamespace

import pytest

from chargelog.adapters.store import open_store
from chargelog.domain.log import DOMAIN, SOURCE, Position
from chargelog.domain.registry import Registry
from chargelog.domain.trace import Trace
from chargelog.projections import translator as translator_module
from chargelog.projections.health import exposition
from chargelog.projections.retry import fold_for_retry, retry
from chargelog.projections.runner import ProjectionWorker
from chargelog.projections.stations import StationsProjection
from processes import chargelog_cmd

TIMEOUT_S = 60


def session(cp: str, tx: int) -> list:
    t = Trace(cp)
    return (t.opened() + t.status(1, "Available") + t.start(1, "T", 1000, tx) + t.status(1, "Charging")
            + t.energy(1, tx, 3000) + t.stop(tx, 4000) + t.status(1, "Available"))


def defects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The translator raises on CP-BAD's answered MeterValues; the station map on CP-BAD's
    connector changes."""
    translate, apply = translator_module.translate, StationsProjection.apply

    def broken_translate(state, event, directory, at=None):
        p = event.payload
        if event.chargePointId == "CP-BAD" and p.get("action") == "MeterValues" and p.get("direction") == "out":
            state.charge_point("CP-BAD").online = False  # a half-done change, to be undone
            raise RuntimeError("translator defect")
        return translate(state, event, directory, at)

    def broken_apply(self, event):
        if event.chargePointId == "CP-BAD" and event.type == "connector.status.changed":
            self.rows["CP-BAD"]["online"] = False  # a half-done change, to be undone
            raise KeyError("stations defect")
        apply(self, event)

    monkeypatch.setattr(translator_module, "translate", broken_translate)
    monkeypatch.setattr(StationsProjection, "apply", broken_apply)


async def status(settings) -> str:
    """``chargelog projections status`` output (a subprocess, as an operator runs it)."""
    args = ["projections", "status", "--data-dir", str(settings.data_dir), "--log", settings.log]
    if settings.is_kafka:
        args += ["--topic-prefix", settings.topic_prefix]
    done = await asyncio.to_thread(subprocess.run, chargelog_cmd(*args), capture_output=True, text=True,
                                   timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def caught_up(log, worker: ProjectionWorker) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        source = await log.latest(SOURCE)
        assert worker.translator is not None
        await worker.translator.wait_until(lambda: source <= Position(worker.translator.folds[0].positions))
        await worker.read_models.wait_for(await log.latest(DOMAIN))


async def test_a_defect_quarantines_one_record_and_retry_applies_it_after_the_fix(log, settings, monkeypatch):
    defects(monkeypatch)
    await log.append(SOURCE, session("CP-BAD", 7) + session("CP1", 8))
    worker = ProjectionWorker(log, settings, SimpleNamespace(current=Registry()))
    await worker.start()
    try:
        await caught_up(log, worker)
        quarantined = worker.quarantined()
        assert [(q["consumer"], q["type"], q["chargePointId"]) for q in quarantined] == \
            [("translator", "ocpp.frame", "CP-BAD")] + [("stations", "connector.status.changed", "CP-BAD")] * 3
        assert all(q["error"].startswith(("RuntimeError: translator", "KeyError: 'stations"))
                   and q["position"] == f"{q['partition']}-{q['offset']}" for q in quarantined)
        # everything else was folded: CP1 fully, CP-BAD's session without the quarantined record
        cp1 = await worker.read_models.station("CP1")
        assert cp1 is not None and [c.status for c in cp1.connectors] == ["Available"]
        bad = await worker.read_models.session(7)
        assert bad is not None and bad.status == "stopped" and bad.energyWh == 3000
        assert (await worker.read_models.station("CP-BAD")).online  # the half-done changes were undone
        assert b'chargelog_projection_quarantined_events_total{consumer="translator"}' in exposition()
    finally:
        await worker.stop()

    out = await status(settings)
    assert "quarantined: translator at source" in out and "RuntimeError: translator defect" in out
    assert [line.split()[-1] for line in out.splitlines()[1:5]] == ["1", "3", "0", "0"]

    monkeypatch.undo()  # the fix is deployed
    store = open_store(settings)
    try:
        results = {name: await retry(log, store, fold_for_retry(name)) for name in ("translator", "stations")}
        assert {n: (r.released, r.remaining) for n, r in results.items()} == {"translator": (1, 0), "stations": (3, 0)}
    finally:
        store.close()
    assert "quarantined:" not in await status(settings)

    worker = ProjectionWorker(log, settings, SimpleNamespace(current=Registry()))
    await worker.start()
    try:
        await caught_up(log, worker)
        assert worker.quarantined() == []
        bad = await worker.read_models.station("CP-BAD")
        assert bad is not None and [c.status for c in bad.connectors] == ["Available"]
    finally:
        await worker.stop()
