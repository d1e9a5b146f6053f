"""The charge point fleet simulator (adapters/simulator/) against a minimal in-test OCPP 1.6
central system (test_simulator_support.py) on loopback: boot, status, heartbeat, remote
start → StartTransaction → coherent MeterValues → remote stop → StopTransaction, the other
central-system requests, auto transactions, reconnects, Basic auth and start-up errors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from chargelog.adapters.simulator import ChargingSession, Fleet, SimulationProfile, StationConnectError
from test_simulator_support import CentralSystem, Received

METER_INTERVAL_S = 0.05


def measurands(meter_value: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    by: dict[str, list[dict[str, str]]] = {}
    for sv in meter_value["sampledValue"]:
        by.setdefault(sv["measurand"], []).append(sv)
    return by


def reading(meter_value: dict[str, Any]) -> tuple[datetime, float, float, float]:
    """(timestamp, register Wh, power W, SoC %) of an OCPP MeterValue."""
    m = measurands(meter_value)
    ts = datetime.fromisoformat(meter_value["timestamp"].replace("Z", "+00:00"))
    return (ts, float(m["Energy.Active.Import.Register"][0]["value"]),
            float(m["Power.Active.Import"][0]["value"]), float(m["SoC"][0]["value"]))


async def booted_statuses(cs: CentralSystem, cp: str, connectors: int) -> list[Received]:
    await cs.expect("BootNotification", cp)
    return [await cs.expect("StatusNotification", cp, lambda p, n=n: p["connectorId"] == n)
            for n in range(connectors + 1)]


async def test_boot_status_and_heartbeat() -> None:
    async with CentralSystem(heartbeat_interval_s=1) as cs:
        fleet = Fleet(cs.url, 3, connectors=2, prefix="SIM", meter_interval_s=METER_INTERVAL_S, seed=1)
        progress: list[tuple[int, int]] = []
        await fleet.start(progress=lambda done, total: progress.append((done, total)))
        try:
            assert progress[-1] == (3, 3) and len(progress) == 3
            assert [s.charge_point_id for s in fleet.stations] == ["SIM001", "SIM002", "SIM003"]
            assert fleet.connected == 3 and cs.subprotocols == ["ocpp1.6"] * 3
            for cp in ("SIM001", "SIM002", "SIM003"):
                statuses = await booted_statuses(cs, cp, 2)
                assert [s.payload["status"] for s in statuses] == ["Available"] * 3
                assert all(s.payload["errorCode"] == "NoError" for s in statuses)
            boot = cs.received[0].payload
            assert boot["chargePointVendor"] == "chargelog" and boot["chargePointModel"]
            assert fleet.station("SIM001").heartbeat_interval_s == 1
            await cs.expect("Heartbeat", "SIM002", timeout_s=10)
        finally:
            await fleet.stop()


async def test_remote_start_meter_values_remote_stop() -> None:
    async with CentralSystem() as cs:
        fleet = Fleet(cs.url, 1, connectors=2, meter_interval_s=METER_INTERVAL_S, seed=7)
        await fleet.start()
        try:
            await booted_statuses(cs, "CP001", 2)
            answer = await cs.call("CP001", call.RemoteStartTransaction(id_tag="TAG-1", connector_id=2))
            assert answer.status == "Accepted"
            # the connector is taken: a second remote start on it is rejected
            busy = await cs.call("CP001", call.RemoteStartTransaction(id_tag="TAG-2", connector_id=2))
            assert busy.status == "Rejected"
            assert (await cs.expect("StatusNotification", "CP001")).payload["status"] == "Preparing"
            start = (await cs.expect("StartTransaction", "CP001")).payload
            assert start["idTag"] == "TAG-1" and start["connectorId"] == 2
            assert isinstance(start["meterStart"], int)
            charging = await cs.expect("StatusNotification", "CP001")
            assert charging.payload == {**charging.payload, "connectorId": 2, "status": "Charging"}

            meter_values = [(await cs.expect("MeterValues", "CP001")).payload for _ in range(8)]
            assert all(mv["transactionId"] == 1 and mv["connectorId"] == 2 for mv in meter_values)
            samples = [mv["meterValue"][0] for mv in meter_values]
            assert samples[0]["sampledValue"][0]["context"] == "Transaction.Begin"
            readings = [reading(s) for s in samples]
            assert abs(readings[0][1] - start["meterStart"]) <= 0.5
            for (t0, e0, p0, soc0), (t1, e1, _, soc1) in zip(readings, readings[1:]):
                assert e1 >= e0 and soc1 >= soc0 and t1 >= t0
                # energy is the integral of the power reported for the interval (0.1 Wh rounding)
                assert abs((e1 - e0) - p0 * (t1 - t0).total_seconds() / 3600) <= 0.1 + 1e-9
            assert 7000 <= readings[0][2] <= 23000
            m = measurands(samples[-1])
            assert [c["phase"] for c in m["Current.Import"]] == ["L1", "L2", "L3"]
            assert [v["phase"] for v in m["Voltage"]] == ["L1-N", "L2-N", "L3-N"]
            power = readings[-1][2]
            volts = [float(v["value"]) for v in m["Voltage"]]
            amps = [float(c["value"]) for c in m["Current.Import"]]
            assert abs(sum(v * a for v, a in zip(volts, amps)) - power) <= 0.01 * power + 10

            assert (await cs.call("CP001", call.RemoteStopTransaction(transaction_id=99))).status == "Rejected"
            assert (await cs.call("CP001", call.RemoteStopTransaction(transaction_id=1))).status == "Accepted"
            stop = (await cs.expect("StopTransaction", "CP001")).payload
            assert stop["transactionId"] == 1 and stop["reason"] == "Remote" and stop["idTag"] == "TAG-1"
            last = reading(stop["transactionData"][0])
            assert last[1] >= readings[-1][1] and abs(stop["meterStop"] - last[1]) <= 0.5
            statuses = [(await cs.expect("StatusNotification", "CP001")).payload["status"] for _ in range(2)]
            assert statuses == ["Finishing", "Available"]
            station = fleet.stations[0]
            assert station.connectors[2].transactionId is None and station.connectors[2].stopped == 1
        finally:
            await fleet.stop()


async def test_remote_start_without_connector_and_blocked_tag() -> None:
    async with CentralSystem(blocked_id_tags=frozenset({"BAD"})) as cs:
        fleet = Fleet(cs.url, 1, connectors=1, meter_interval_s=METER_INTERVAL_S, seed=3)
        await fleet.start()
        try:
            await booted_statuses(cs, "CP001", 1)
            assert (await cs.call("CP001", call.ChangeConfiguration(key="AuthorizeRemoteTxRequests",
                                                                     value="true"))).status == "Accepted"
            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="BAD"))).status == "Accepted"
            assert (await cs.expect("Authorize", "CP001")).payload == {"idTag": "BAD"}
            statuses = [(await cs.expect("StatusNotification", "CP001")).payload["status"] for _ in range(2)]
            assert statuses == ["Preparing", "Available"]
            assert not any(m.action == "StartTransaction" for m in cs.received)
            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="GOOD"))).status == "Accepted"
            await cs.expect("Authorize", "CP001")
            assert (await cs.expect("StartTransaction", "CP001")).payload["connectorId"] == 1
        finally:
            await fleet.stop()


async def test_a_full_battery_suspends_the_transaction() -> None:
    profile = SimulationProfile(start_soc=(99.5, 99.6), battery_wh=(10.0, 10.0))
    async with CentralSystem() as cs:
        fleet = Fleet(cs.url, 1, connectors=1, meter_interval_s=METER_INTERVAL_S, seed=4, profile=profile)
        await fleet.start()
        try:
            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="T"))).status == "Accepted"
            await cs.expect("StatusNotification", "CP001", lambda p: p["status"] == "Charging")
            await cs.expect("StatusNotification", "CP001", lambda p: p["status"] == "SuspendedEV")
            full = [reading((await cs.expect("MeterValues", "CP001", lambda p, i=i: reading(p["meterValue"][0])[3] >= 100))
                            .payload["meterValue"][0]) for i in range(3)]
            assert full[1][2] == 0 and full[2][2] == 0 and full[1][1] == full[2][1]  # no power, no energy
            assert (await cs.call("CP001", call.RemoteStopTransaction(transaction_id=1))).status == "Accepted"
            assert (await cs.expect("StopTransaction", "CP001")).payload["reason"] == "Remote"
        finally:
            await fleet.stop()


async def test_central_system_requests() -> None:
    async with CentralSystem() as cs:
        fleet = Fleet(cs.url, 1, connectors=2, meter_interval_s=METER_INTERVAL_S, seed=5)
        await fleet.start()
        try:
            await booted_statuses(cs, "CP001", 2)
            config = await cs.call("CP001", call.GetConfiguration(key=["NumberOfConnectors", "Nope"]))
            assert config.configuration_key == [{"key": "NumberOfConnectors", "readonly": True, "value": "2"}]
            assert config.unknown_key == ["Nope"]
            full = await cs.call("CP001", call.GetConfiguration())
            assert {"HeartbeatInterval", "MeterValueSampleInterval"} <= {k["key"] for k in full.configuration_key}
            assert (await cs.call("CP001", call.ChangeConfiguration(key="Nope", value="1"))).status == "NotSupported"
            assert (await cs.call("CP001", call.ChangeConfiguration(key="NumberOfConnectors", value="3"))).status == "Rejected"
            assert (await cs.call("CP001", call.ChangeConfiguration(key="HeartbeatInterval", value="x"))).status == "Rejected"

            answer = await cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Inoperative"))
            assert answer.status == "Accepted"
            unavailable = await cs.expect("StatusNotification", "CP001", lambda p: p["connectorId"] == 2)
            assert unavailable.payload["status"] == "Unavailable"
            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="T", connector_id=2))).status == "Rejected"
            assert (await cs.call("CP001", call.ChangeAvailability(connector_id=7, type="Operative"))).status == "Rejected"

            trigger = await cs.call("CP001", call.TriggerMessage(requested_message="StatusNotification", connector_id=1))
            assert trigger.status == "Accepted"
            await cs.expect("StatusNotification", "CP001", lambda p: p["connectorId"] == 1)
            assert (await cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat"))).status == "Accepted"
            await cs.expect("Heartbeat", "CP001")
            assert (await cs.call("CP001", call.TriggerMessage(requested_message="MeterValues", connector_id=1))).status == "Accepted"
            await cs.expect("MeterValues", "CP001")

            assert (await cs.call("CP001", call.DataTransfer(vendor_id="acme"))).status == "UnknownVendorId"
            echo = await cs.call("CP001", call.DataTransfer(vendor_id="chargelog", data="ping"))
            assert (echo.status, echo.data) == ("Accepted", "ping")

            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="T", connector_id=1))).status == "Accepted"
            await cs.expect("StartTransaction", "CP001")
            # right behind the StartTransaction (its answer may still be on the way)
            assert (await cs.call("CP001", call.UnlockConnector(connector_id=1))).status == "Unlocked"
            assert (await cs.expect("StopTransaction", "CP001")).payload["reason"] == "UnlockCommand"

            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="T", connector_id=1))).status == "Accepted"
            await cs.expect("StartTransaction", "CP001")
            assert (await cs.call("CP001", call.Reset(type="Soft"))).status == "Accepted"
            assert (await cs.expect("StopTransaction", "CP001")).payload["reason"] == "SoftReset"
            await cs.expect("BootNotification", "CP001")  # reconnected and booted again
            await cs.expect("StatusNotification", "CP001", lambda p: p["connectorId"] == 2 and p["status"] == "Unavailable")
            assert fleet.stations[0].boot_count == 2
        finally:
            await fleet.stop()


async def test_auto_transactions_run_by_themselves() -> None:
    profile = SimulationProfile(idle_s=(0.01, 0.02), session_energy_wh=(1.0, 2.0))
    async with CentralSystem() as cs:
        fleet = Fleet(cs.url, 2, connectors=1, auto_transactions=True, meter_interval_s=METER_INTERVAL_S,
                      id_tag="AUTO", seed=11, profile=profile)
        await fleet.start()
        try:
            for cp in ("CP001", "CP002"):
                assert (await cs.expect("Authorize", cp)).payload == {"idTag": "AUTO"}
                start = await cs.expect("StartTransaction", cp)
                assert start.payload["idTag"] == "AUTO"
                stop = await cs.expect("StopTransaction", cp)
                assert stop.payload["reason"] == "EVDisconnected"
                assert stop.payload["meterStop"] - start.payload["meterStart"] >= 1
                await cs.expect("StartTransaction", cp)  # and again, after a pause
        finally:
            await fleet.stop()


async def test_reconnects_after_the_connection_drops() -> None:
    async with CentralSystem() as cs:
        fleet = Fleet(cs.url, 1, connectors=1, meter_interval_s=METER_INTERVAL_S, seed=2)
        await fleet.start()
        try:
            await booted_statuses(cs, "CP001", 1)
            assert (await cs.call("CP001", call.RemoteStartTransaction(id_tag="T"))).status == "Accepted"
            await cs.expect("StartTransaction", "CP001")
            before = reading((await cs.expect("MeterValues", "CP001")).payload["meterValue"][0])
            await cs.connections["CP001"].close(1011, "test drop")
            await booted_statuses(cs, "CP001", 1)
            after = reading((await cs.expect("MeterValues", "CP001")).payload["meterValue"][0])
            assert after[1] >= before[1]  # the transaction went on; its meter values resume
            assert fleet.stations[0].boot_count == 2
        finally:
            await fleet.stop()


async def test_basic_auth_password() -> None:
    async with CentralSystem(password="right-password-123") as cs:
        fleet = Fleet(cs.url, 1, password="right-password-123")
        await fleet.start()
        await fleet.stop()
        wrong = Fleet(cs.url, 1, password="wrong")
        with pytest.raises(StationConnectError, match="HTTP 401"):
            await wrong.start()


async def test_unreachable_url_is_one_clear_error() -> None:
    async with CentralSystem() as cs:
        url = cs.url
    fleet = Fleet(url, 2)
    with pytest.raises(StationConnectError) as err:
        await fleet.start()
    assert str(err.value).startswith(f"cannot connect to {url}/CP00") and "\n" not in str(err.value)


async def test_boot_pending_times_out() -> None:
    async with CentralSystem(boot_status="Pending", heartbeat_interval_s=60) as cs:
        fleet = Fleet(cs.url, 1)
        with pytest.raises(TimeoutError):
            await fleet.start(timeout_s=0.5)
        assert fleet.stations[0].boot_count == 0


def test_meter_model_is_the_integral_of_power_and_tapers() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    session = ChargingSession(t, 1000, 22000, 50_000, 70.0, random.Random(4))
    last = session.last
    assert last.registerWh == 1000 and 21_000 <= last.powerW <= 23_000
    for _ in range(60):
        t += timedelta(seconds=60)
        sample = session.sample(t)
        expected = last.powerW * 60 / 3600
        assert abs((sample.registerWh - last.registerWh) - expected) <= 0.1 + 1e-9
        assert sample.soc >= last.soc
        if last.soc > 90:
            assert sample.powerW < 0.6 * 22000  # tapering above 80 %
        last = sample
    assert session.soc <= 100 and session.energy_wh == pytest.approx(last.registerWh - 1000, abs=0.1)
