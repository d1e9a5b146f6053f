"""A charge point's life over a real socket: Boot → StatusNotification → Authorize →
StartTransaction → MeterValues → StopTransaction → Heartbeat, every frame in the log, each
CALLRESULT appended right after its CALL (acknowledge after durable); transactionIds and
unknown-transaction anomalies. Both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from chargelog.adapters.ocpp.ports import IdTagInfo, MemoryRegistry
from chargelog.domain.log import SOURCE

from test_ocpp_support import frames, running_gateway, source_events, station

METER_VALUE = [{"timestamp": "2026-01-01T10:05:00Z", "sampledValue": [
    {"value": "1234.5", "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
     "location": "Outlet", "unit": "Wh"},
    {"value": "7.2", "measurand": "Power.Active.Import", "phase": "L1", "unit": "kW"},
    {"value": "16", "measurand": "Current.Import", "phase": "L1-N", "unit": "A"},
]}]


async def test_full_lifecycle_every_frame_is_an_event(log, settings):
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-LIFE") as cp:
        boot = await cp.call(call.BootNotification(charge_point_model="M1", charge_point_vendor="V1"))
        assert boot.status == "Accepted" and boot.interval == gateway.settings.heartbeat_interval_s
        assert gateway.connected == {"CP-LIFE"}
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
        auth = await cp.call(call.Authorize(id_tag="TAG1"))
        assert auth.id_tag_info["status"] == "Accepted"
        start = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000,
                                                    timestamp="2026-01-01T10:00:00Z"))
        tx = start.transaction_id
        assert 0 < tx < 2**31
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=METER_VALUE))
        await cp.call(call.StopTransaction(meter_stop=5000, timestamp="2026-01-01T11:00:00Z", transaction_id=tx,
                                           reason="Local", transaction_data=METER_VALUE))
        await cp.call(call.Heartbeat())

    events = await source_events(log, "CP-LIFE")
    actions = ["BootNotification", "StatusNotification", "Authorize", "StartTransaction", "MeterValues",
               "StopTransaction", "Heartbeat"]
    fs = frames(events)
    assert [(f.payload["direction"], f.payload["messageTypeId"], f.payload["action"]) for f in fs] == [
        (d, t, a) for a in actions for d, t in (("in", 2), ("out", 3))]
    for call_event, result_event in zip(fs[::2], fs[1::2]):
        assert call_event.payload["messageId"] == result_event.payload["messageId"]
        assert call_event.principal.id == "CP-LIFE"
        # raw text round-trips to the parsed form
        assert result_event.payload["raw"].startswith(f'[3,"{result_event.payload["messageId"]}"')
    start_result = fs[7]
    assert start_result.payload["payload"]["transactionId"] == tx
    assert start_result.payload["decision"]["transactionId"] == tx
    meter_call = fs[8]
    assert meter_call.payload["payload"]["meterValue"] == METER_VALUE
    assert fs[10].payload["payload"]["transactionData"] == METER_VALUE
    kinds = [e.type for e in events]
    assert kinds[0] == "ocpp.connection.opened" and kinds[-1] == "ocpp.connection.closed"
    assert "ocpp.anomaly" not in kinds
    opened = events[0].payload
    assert opened["subprotocol"] == "ocpp1.6" and opened["auth"] == "none" and opened["gatewayId"] == gateway.gateway_id


async def test_call_and_result_are_one_batch_in_order(log, settings):
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-BATCH") as cp:
        await cp.call(call.Heartbeat())
    records = [r for r in await log.read(SOURCE) if r.event.type == "ocpp.frame"]
    call_record, result_record = records
    assert call_record.partition == result_record.partition
    assert result_record.offset == call_record.offset + 1


async def test_start_transaction_retry_gets_same_id_and_ids_are_unique(log, settings):
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-TX") as cp:
        req = dict(connector_id=1, id_tag="T", meter_start=10, timestamp="2026-01-01T10:00:00Z")
        first = await cp.call(call.StartTransaction(**req))
        again = await cp.call(call.StartTransaction(**req))
        other = await cp.call(call.StartTransaction(**{**req, "meter_start": 11}))
    assert first.transaction_id == again.transaction_id != other.transaction_id
    assert first.transaction_id > 0 and other.transaction_id > 0
    # a restarted gateway rebuilds the map from the txids stream
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-TX") as cp:
        third = await cp.call(call.StartTransaction(**req))
    assert third.transaction_id == first.transaction_id


async def test_unknown_transaction_gets_result_and_anomaly(log, settings):
    async with running_gateway(log, settings) as gateway, station(gateway, "CP-ANOM") as cp:
        stop = await cp.call(call.StopTransaction(meter_stop=1, timestamp="2026-01-01T11:00:00Z",
                                                  transaction_id=987654))
        assert stop is not None  # a CALLRESULT, not a CALLERROR
        await cp.call(call.MeterValues(connector_id=1, transaction_id=987655, meter_value=METER_VALUE))
    events = await source_events(log, "CP-ANOM")
    anomalies = [e.payload for e in events if e.type == "ocpp.anomaly"]
    assert [(a["kind"], a["action"]) for a in anomalies] == [
        ("unknown-transaction", "StopTransaction"), ("unknown-transaction", "MeterValues")]
    assert all(f.payload["messageTypeId"] != 4 for f in frames(events))


async def test_id_tag_registry_policy(log, settings):
    past = datetime.now(UTC) - timedelta(days=1)
    registry = MemoryRegistry(id_tags={
        "GOOD": IdTagInfo("Accepted", userId="u1", parentIdTag="GROUP"),
        "BLOCKED": IdTagInfo("Blocked"),
        "OLD": IdTagInfo("Accepted", expiryDate=past),
    }, charge_points={"CP-REG"})
    async with running_gateway(log, settings, registry, id_tag_policy="registry",
                               registration_policy="registry") as gateway:
        async with station(gateway, "CP-REG") as cp:
            boot = await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert boot.status == "Accepted"
            statuses = {tag: (await cp.call(call.Authorize(id_tag=tag))).id_tag_info
                        for tag in ("GOOD", "BLOCKED", "OLD", "NOPE")}
            start = await cp.call(call.StartTransaction(connector_id=1, id_tag="BLOCKED", meter_start=0,
                                                        timestamp="2026-01-01T10:00:00Z"))
        async with station(gateway, "CP-STRANGER") as cp:
            boot = await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            assert boot.status == "Rejected"
    assert statuses["GOOD"] == {"status": "Accepted", "parent_id_tag": "GROUP"}  # station-side snake_case
    assert statuses["BLOCKED"]["status"] == "Blocked"
    assert statuses["OLD"]["status"] == "Expired"
    assert statuses["NOPE"]["status"] == "Invalid"
    assert start.transaction_id > 0 and start.id_tag_info["status"] == "Blocked"
    results = [e.payload for e in frames(await source_events(log, "CP-REG"))
               if e.payload["messageTypeId"] == 3 and e.payload["action"] == "Authorize"]
    assert results[0]["decision"] == {"idTagStatus": "Accepted", "userId": "u1"}


async def test_pending_registration_and_other_messages(log, settings):
    async with running_gateway(log, settings, registration_policy="pending", heartbeat_interval_s=42) as gateway, \
            station(gateway, "CP-MISC") as cp:
        boot = await cp.call(call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        assert (boot.status, boot.interval) == ("Pending", 42)
        dt = await cp.call(call.DataTransfer(vendor_id="acme", message_id="x", data="{}"))
        assert dt.status == "UnknownVendorId"
        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
    answered = [f.payload["action"] for f in frames(await source_events(log, "CP-MISC"))
                if f.payload["messageTypeId"] == 3]
    assert answered == ["BootNotification", "DataTransfer", "DiagnosticsStatusNotification",
                        "FirmwareStatusNotification"]
