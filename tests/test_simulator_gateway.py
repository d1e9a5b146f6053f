"""The simulated fleet against the real OCPP gateway (adapters/ocpp/gateway.py) on both log
engines, with the registry on the log (LiveRegistry): HTTP Basic auth against registry
passwords, boot and status recorded, a remote start command → StartTransaction authorized by
the registry → MeterValues → remote stop → StopTransaction, all as source events."""

from __future__ import annotations

from pathlib import Path

from chargelog.adapters.config import Settings
from chargelog.adapters.ocpp.commands import request_command, wait_for_outcome
from chargelog.adapters.registry import LiveRegistry, apply_registry_changes, apply_registry_file
from chargelog.adapters.simulator import Fleet
from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, EventLog
from chargelog.domain.registry import hash_password, password_set
from test_ocpp_support import running_gateway, wait_event

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registry.toml"
PASSWORD = "fleet-password-0123"


def frame(action: str, cp: str, direction: str = "in", message_type: int = 2):  # noqa: ANN201
    def match(e: Event) -> bool:
        p = e.payload
        return (e.type == "ocpp.frame" and e.chargePointId == cp and p.get("action") == action
                and p.get("direction") == direction and p.get("messageTypeId") == message_type)
    return match


async def test_fleet_against_the_gateway(log: EventLog, settings: Settings) -> None:
    await apply_registry_file(log, EXAMPLE)
    await apply_registry_changes(log, [password_set(cp, hash_password(PASSWORD)) for cp in ("CP001", "CP002")])
    registry = LiveRegistry(log)
    await registry.start()
    fleet = Fleet("", 0)
    try:
        async with running_gateway(log, settings, registry, basic_auth=True, id_tag_policy="registry") as gateway:
            start_position = await log.latest(SOURCE)
            fleet = Fleet(f"ws://127.0.0.1:{gateway.port}/ocpp", 2, connectors=2, meter_interval_s=0.05,
                          password=PASSWORD, seed=9)
            await fleet.start(timeout_s=60)
            assert gateway.connected == {"CP001", "CP002"}
            opened = await wait_event(log, lambda e: e.type == "ocpp.connection.opened" and e.chargePointId == "CP002",
                                      after=start_position)
            assert opened.payload["auth"] == "basic-ok"
            await wait_event(log, lambda e: frame("StatusNotification", "CP002")(e) and e.payload["payload"]["connectorId"] == 2,
                             after=start_position)

            position = await log.latest(SOURCE)
            correlation_id = await request_command(log, "CP001", "RemoteStartTransaction",
                                                   {"idTag": "SIMTAG", "connectorId": 1}, principal="test")
            outcome = await wait_for_outcome(log, correlation_id, after=position, timeout_s=30)
            assert outcome.status == "answered" and outcome.response == {"status": "Accepted"}
            start = await wait_event(log, frame("StartTransaction", "CP001"), after=position)
            assert start.payload["payload"]["idTag"] == "SIMTAG"
            answer = await wait_event(log, frame("StartTransaction", "CP001", "out", 3), after=position)
            assert answer.payload["payload"]["idTagInfo"]["status"] == "Accepted"
            transaction_id = answer.payload["payload"]["transactionId"]
            after_start = position
            for _ in range(3):
                meter = await wait_event(log, frame("MeterValues", "CP001"), after=after_start)
                assert meter.payload["payload"]["transactionId"] == transaction_id
                after_start = (await log.latest(SOURCE))

            position = await log.latest(SOURCE)
            correlation_id = await request_command(log, "CP001", "RemoteStopTransaction",
                                                   {"transactionId": transaction_id}, principal="test")
            outcome = await wait_for_outcome(log, correlation_id, after=position, timeout_s=30)
            assert outcome.response == {"status": "Accepted"}
            stop = await wait_event(log, frame("StopTransaction", "CP001"), after=position)
            assert stop.payload["payload"]["transactionId"] == transaction_id
            assert stop.payload["payload"]["meterStop"] >= start.payload["payload"]["meterStart"]
            assert stop.payload["payload"]["reason"] == "Remote"
            await fleet.stop()
    finally:
        await fleet.stop()
        await registry.stop()
