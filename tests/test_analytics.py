"""docs/analytics.md runs: a simulated January (domain/trace_month.py: source events with a
fake clock through the real translator) on the embedded log, exported with the page's own
``chargelog export`` commands, then every Python block of the page in order (DuckDB and
pandas); each result must match what the generator recorded."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from chargelog.adapters.log.embedded import EmbeddedLog
from chargelog.domain.log import DOMAIN, SOURCE
from chargelog.domain.model import TranslatorState
from chargelog.domain.trace_month import Truth, month
from chargelog.domain.translate import translate_all

from processes import chargelog_cmd

DOC = Path(__file__).resolve().parent.parent / "docs" / "analytics.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


async def simulated_month(data_dir: Path) -> Truth:
    truth = Truth()
    log = EmbeddedLog(data_dir)
    await log.start()
    state = TranslatorState()
    try:
        for day in month(10, 31, start=datetime(2026, 1, 1, tzinfo=UTC), truth=truth):
            await log.append(SOURCE, day)
            await log.append(DOMAIN, translate_all(state, day))
    finally:
        await log.close()
    return truth


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    """The month, exported by the page's bash commands into a directory of its own."""
    workdir = tmp_path_factory.mktemp("analytics")
    truth = asyncio.run(simulated_month(workdir / "data"))
    commands = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("chargelog export")]
    assert len(commands) == 2
    for command in commands:
        argv = chargelog_cmd(*shlex.split(command)[1:], "--data-dir", str(workdir / "data"))
        proc = asyncio.run(_run(argv, workdir))
        assert proc == 0
    return workdir, truth


async def _run(argv: list[str], cwd: Path) -> int:
    """``argv`` in ``cwd`` (where the page's relative paths point), with this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(DOC.parent.parent)}
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env)
    return await asyncio.wait_for(proc.wait(), 300)


def day(value: Any) -> date:
    """A date column's value as a ``date`` (DuckDB's DATE arrives in pandas as a Timestamp)."""
    return value.date() if isinstance(value, datetime) else value


def run_page(workdir: Path) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    here = os.getcwd()
    os.chdir(workdir)
    try:
        for code in blocks("python"):
            exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own examples
    finally:
        os.chdir(here)
    return namespace


def test_the_worked_examples_find_what_the_month_holds(exported: tuple[Path, Truth]) -> None:
    workdir, truth = exported
    page = run_page(workdir)
    assert page["state"]["stream"] == "domain" and page["state"]["position"]

    energy = page["energy_per_day"]
    found = {(r.charge_point_id, day(r.day)): r.energy_kwh for r in energy.itertuples()}
    assert found.keys() == truth.energy_wh.keys()
    for key, wh in truth.energy_wh.items():
        assert found[key] == pytest.approx(wh / 1000)
    assert int(energy["sessions"].sum()) == truth.sessions
    pandas_energy = {(r.charge_point_id, day(r.day)): r.energy_kwh for r in page["energy_per_day_pd"].itertuples()}
    assert pandas_energy == pytest.approx(found)

    durations = page["durations"].set_index("charge_point_id")
    for cp, seconds in truth.durations_s.items():
        assert durations.loc[cp, "sessions"] == len(seconds)
        assert durations.loc[cp, "mean_min"] == pytest.approx(sum(seconds) / len(seconds) / 60)
        assert durations.loc[cp, "longest_min"] == pytest.approx(max(seconds) / 60)
    pandas_durations = page["durations_pd"].set_index("charge_point_id")
    assert pandas_durations["median_min"].to_dict() == pytest.approx(durations["median_min"].to_dict())

    utilisation = {(r.charge_point_id, r.connector_id): r.utilisation for r in page["utilisation"].itertuples()}
    assert utilisation == pytest.approx({k: s / (31 * 86400) for k, s in truth.charging_s.items()})
    assert {(r.charge_point_id, r.connector_id): r.utilisation
            for r in page["utilisation_pd"].itertuples()} == pytest.approx(utilisation)

    errors = {(r.vendor, r.error_code): r.faults for r in page["errors_per_vendor"].itertuples()}
    assert errors == dict(truth.faults)
    assert {(r.vendor, r.error_code): r.faults for r in page["errors_per_vendor_pd"].itertuples()} == errors
    assert sum(n for (vendor, _), n in errors.items() if vendor == "Wallbox") > \
        sum(n for (vendor, _), n in errors.items() if vendor == "ABB")
