"""The bounded fuzz run (tests/fuzz/ocpp_fuzz.py) against ``chargelog serve`` on both
engines: a few thousand generated frames and handshakes — 0 crashes, 0 hangs, 0 unanswered
CALLs, 0 connections dropped for answerable frames, only OCPP 1.6 error codes, /health
answering after every batch and domain processing advancing after every batch. The full run (100,000 cases) and its figures: docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import require_kafka
from fuzz.ocpp_fuzz import run_fuzz

CASES = 3000


@pytest.mark.timeout(900)  # a watchdog, not a threshold: ~20-40 s each on an idle 2-core machine
@pytest.mark.parametrize("engine", ["embedded", "kafka"])
async def test_bounded_fuzz_leaves_the_gateway_answering(engine: str, tmp_path: Path) -> None:
    if engine == "kafka":
        require_kafka()
    report = await run_fuzz(CASES, stations=6, engine=engine, seed=11, batch=1000, work_dir=tmp_path)
    assert report.cases >= CASES and report.frames >= CASES * 0.95
    assert report.expectedAnswers > CASES / 2  # the oracle expected answers for most frames
    assert (report.crashes, report.hangs, report.unanswered, report.droppedAnswerable) == (0, 0, 0, 0), report
    assert report.droppedOther == 0, report.closeCodes
    assert report.non16ErrorCodes == 0, report.answers
    assert report.healthFailures == 0, report
    # domain processing advanced after every batch and caught up with the last valid frame
    assert report.domainChecks >= 3 and report.domainStalls == 0, report
    assert report.domainFinalStatusSeen is True, report
    assert not report.serverLogErrors, report.serverLogErrors
