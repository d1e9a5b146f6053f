"""``chargelog simulate`` (adapters/cli/simulate.py) as a real process against the in-test
central system: it boots the fleet, stops cleanly on SIGTERM; an unreachable URL or a bad
flag is one line on stderr with exit code 2."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from chargelog.adapters.cli.main import main
from test_simulator_support import CentralSystem

CLI = [sys.executable, "-m", "chargelog.adapters.cli.main", "simulate"]


async def test_simulate_boots_the_fleet_and_stops_on_sigterm() -> None:
    async with CentralSystem() as cs:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "--url", cs.url, "--stations", "3", "--connectors", "1", "--prefix", "X",
            "--auto-transactions", "--meter-interval", "0.05", "--id-tag", "CLI", "--seed", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            for cp in ("X001", "X002", "X003"):
                await cs.expect("BootNotification", cp, timeout_s=60)
            start = await cs.expect("StartTransaction", timeout_s=60)
            assert start.payload["idTag"] == "CLI"
            await cs.expect("MeterValues", start.chargePointId, timeout_s=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "3 charge points connected" in err.decode() and "transactions started" in err.decode()


@pytest.mark.parametrize(("argv", "message"), [
    (["--url", "ws://127.0.0.1:1/ocpp", "--stations", "2"], "cannot connect to ws://127.0.0.1:1/ocpp/CP00"),
    (["--url", "http://host/ocpp", "--stations", "2"], "--url must be ws://"),
    (["--url", "ws://127.0.0.1:9000/ocpp", "--stations", "0"], "--stations must be at least 1"),
    (["--url", "ws://127.0.0.1:9000/ocpp", "--stations", "1", "--meter-interval", "0"], "--meter-interval"),
])
def test_user_mistakes_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["simulate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.strip().count("\n") == 0
