"""``chargelog export`` (adapters/audit/export.py, domain/flatten.py) as a real subprocess on
both engines: typed columns with units, raw frame text, filters, Parquet metadata that an
incremental run resumes from (only new events are added), CSV and JSON Lines resuming from
their last row, and a refusal to mix exports of different filters in one file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from chargelog.adapters.config import Settings
from chargelog.domain.log import DOMAIN, SOURCE, EventLog
from chargelog.domain.model import TranslatorState
from chargelog.domain.trace import Trace
from chargelog.domain.translate import translate_all

from processes import chargelog_cmd


async def export_cli(settings: Settings, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = await asyncio.create_subprocess_exec(
        *chargelog_cmd("export", "--log", settings.log, "--data-dir", str(settings.data_dir),
                       "--topic-prefix", settings.topic_prefix, *args),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, json.loads(out) if proc.returncode == 0 else {}, err.decode()


class Sessions:
    """Source events of charging sessions, appended with their domain events (translator)."""

    def __init__(self) -> None:
        self.state = TranslatorState()
        self.traces = {cp: Trace(cp) for cp in ("CP1", "CP2")}
        self.next_tx = 1

    async def charge(self, log: EventLog, charge_point_id: str, wh: int) -> None:
        trace, tx = self.traces[charge_point_id], self.next_tx
        self.next_tx += 1
        events = [*trace.boot("Alfen", "Eve"), *trace.status(1, "Charging"), *trace.start(1, "TAG", 1000, tx),
                  *trace.energy(1, tx, 1000 + wh // 2, 7400.0, soc=55), *trace.stop(tx, 1000 + wh)]
        await log.append(SOURCE, events)
        await log.append(DOMAIN, translate_all(self.state, events))


async def test_parquet_has_typed_columns_and_resumes_from_its_metadata(
        log: EventLog, settings: Settings, tmp_path: Path) -> None:
    sessions = Sessions()
    await sessions.charge(log, "CP1", 2000)
    await sessions.charge(log, "CP2", 5000)
    out = tmp_path / "domain.parquet"
    code, result, err = await export_cli(settings, "--format", "parquet", "--out", str(out))
    assert code == 0, err
    table = pq.read_table(out)
    assert result["rows"] == table.num_rows == len(await log.read(DOMAIN))
    schema = table.schema
    assert schema.field("energy_wh").type == pa.float64() and schema.field("power_w").type == pa.float64()
    assert schema.field("duration_s").type == pa.float64() and schema.field("transaction_id").type == pa.int64()
    assert schema.field("recorded_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("stop_time").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    stops = {r["charge_point_id"]: r for r in rows if r["type"] == "transaction.stopped"}
    assert (stops["CP1"]["energy_wh"], stops["CP2"]["energy_wh"]) == (2000.0, 5000.0)
    assert stops["CP1"]["connector_id"] == 1 and stops["CP1"]["duration_s"] > 0
    meters = [r for r in rows if r["type"] == "meter.update"]
    assert {(r["charge_point_id"], r["energy_wh"], r["power_w"], r["soc_percent"]) for r in meters} == \
        {("CP1", 1000.0, 7400.0, 55.0), ("CP2", 2500.0, 7400.0, 55.0)}
    assert all(json.loads(r["payload_json"]) for r in rows)
    metadata = json.loads(pq.ParquetFile(out).schema_arrow.metadata[b"chargelog.export"])
    assert metadata["position"] == str(await log.latest(DOMAIN)) == result["position"]

    await sessions.charge(log, "CP1", 700)  # later: an incremental run adds only the new events
    code, again, err = await export_cli(settings, "--format", "parquet", "--out", str(out))
    assert code == 0, err
    table = pq.read_table(out)
    assert again["rows"] == len(await log.read(DOMAIN)) - len(rows)
    assert table.num_rows == len(rows) + again["rows"]
    assert len(set(table.column("event_id").to_pylist())) == table.num_rows
    assert sorted(r["energy_wh"] for r in table.to_pylist() if r["type"] == "transaction.stopped") == [700, 2000, 5000]
    code, again, _ = await export_cli(settings, "--format", "parquet", "--out", str(out))
    assert (code, again["rows"], pq.read_table(out).num_rows) == (0, 0, table.num_rows)

    code, _, err = await export_cli(settings, "--format", "parquet", "--out", str(out), "--type", "meter.update")
    assert code == 2 and "another --out" in err


async def test_csv_and_jsonl_of_raw_frames_with_filters_resume_from_the_last_row(
        log: EventLog, settings: Settings, tmp_path: Path) -> None:
    sessions = Sessions()
    await sessions.charge(log, "CP1", 2000)
    await sessions.charge(log, "CP2", 3000)
    csv_out, jsonl_out = tmp_path / "frames.csv", tmp_path / "frames.jsonl"
    filters = ("--stream", "source", "--type", "ocpp.frame", "--charge-point", "CP1")
    code, first, err = await export_cli(settings, "--format", "csv", "--out", str(csv_out), *filters)
    assert code == 0, err
    code, _, err = await export_cli(settings, "--format", "jsonl", "--out", str(jsonl_out), *filters)
    assert code == 0, err
    await sessions.charge(log, "CP1", 500)
    await sessions.charge(log, "CP2", 500)
    for fmt, out in (("csv", csv_out), ("jsonl", jsonl_out)):
        code, again, err = await export_cli(settings, "--format", fmt, "--out", str(out), *filters)
        assert code == 0 and again["rows"] == first["rows"], err  # the same session again, CP1 only
    frames = [r.event for r in await log.read(SOURCE, charge_point_id="CP1")]
    table = pacsv.read_csv(csv_out)
    assert table.column("event_id").to_pylist() == [e.eventId for e in frames]
    assert table.column("raw").to_pylist() == [e.payload["raw"] for e in frames]
    lines = [json.loads(x) for x in jsonl_out.read_text().splitlines()]
    assert [x["event_id"] for x in lines] == [e.eventId for e in frames]
    boot = next(x for x in lines if x.get("action") == "BootNotification" and x["message_type_id"] == 2)
    assert boot["charge_point_vendor"] == "Alfen" and json.loads(boot["raw"])[2] == "BootNotification"
    start = next(x for x in lines if x.get("action") == "StartTransaction" and x["message_type_id"] == 2)
    assert (start["connector_id"], start["meter_start_wh"], start["id_tag"]) == (1, 1000.0, "TAG")


async def test_a_value_of_the_wrong_kind_is_null_and_the_export_goes_on(log: EventLog, tmp_path: Path) -> None:
    from chargelog.adapters.audit.export import export
    from chargelog.domain.envelope import Event

    sessions = Sessions()
    await sessions.charge(log, "CP1", 2000)
    odd = Event(type="meter.update", chargePointId="CP2", payload={
        "transactionId": "seven", "energyWh": "lots", "powerW": 7400, "timestamp": "yesterday", "soc": True})
    await log.append(DOMAIN, [odd])
    result = await export(log, DOMAIN, "parquet", tmp_path / "odd.parquet")
    rows = pq.read_table(tmp_path / "odd.parquet").to_pylist()
    assert result.rows == len(rows) == len(await log.read(DOMAIN))
    (row,) = [r for r in rows if r["event_id"] == odd.eventId]
    assert (row["transaction_id"], row["energy_wh"], row["power_w"], row["measured_at"], row["soc_percent"]) == \
        (None, None, 7400.0, None, None)
    assert json.loads(row["payload_json"])["energyWh"] == "lots"
    assert sum(r["type"] == "transaction.stopped" and r["energy_wh"] == 2000.0 for r in rows) == 1
