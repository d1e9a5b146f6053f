"""``export``: one stream's events as flat typed rows (:mod:`chargelog.domain.flatten`) to a
Parquet (pyarrow, one row group per :data:`ROW_GROUP` rows, zstd), CSV or JSON Lines file,
with bounded memory: rows are gathered :data:`ROW_GROUP` at a time, written, and dropped.

The stored records are read in batches (``scan_raw``) on the event loop while earlier chunks
of them are parsed (the Arrow JSON reader, in C++: :data:`CONVERTING` chunks at once) and the
previous row group is written, in worker threads.

Incremental: the output remembers where it ended — Parquet in its key-value metadata
(``chargelog.export``: ``{"stream", "position", "types", "chargePointId"}``), CSV and JSON
Lines in the ``position`` column of their last row — and an export to an existing file goes on
from there: Parquet by copying the old row groups one at a time into a new file and adding
the new ones (then an atomic rename), CSV and JSON Lines by appending.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import io
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from chargelog.domain.flatten import (
    COLUMNS, DOMAIN_FIELDS, OCPP_FIELDS, SOURCE_FIELDS, flatten, payload_bytes, payload_text,
)
from chargelog.domain.log import START, EventLog, Position, RawBatch

#: Rows per Parquet row group (and per CSV/JSON Lines write).
ROW_GROUP = 65_536
#: Records per chunk converted in one go (a few MB of envelopes).
CHUNK = 8192
#: Chunks converted at once in worker threads (the Arrow JSON reader releases the GIL).
CONVERTING = 2
#: Text columns with a value per event: not dictionary-encoded (the writer would build a
#: dictionary, find it too large and fall back: a fifth of the write CPU, a larger file).
UNIQUE_TEXT = frozenset({"position", "event_id", "correlation_id", "causation_id", "message_id", "connection_id",
                         "raw", "payload_json"})
#: Parquet key-value metadata key of the export's state.
METADATA_KEY = b"chargelog.export"
FORMATS = ("parquet", "csv", "jsonl")
_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
          "time": pa.timestamp("us", tz="UTC")}


class ExportMismatch(ValueError):
    """The existing output was written by an export of another stream or other filters."""


@functools.cache
def schema(stream: str) -> pa.Schema:
    """The Arrow schema of ``stream``'s rows (times as UTC microsecond timestamps)."""
    return pa.schema([pa.field(name, _ARROW[kind]) for name, kind in COLUMNS.get(stream, COLUMNS["domain"])])


@dataclass(frozen=True)
class ExportResult:
    """``rows`` written by this run, ``scanned`` records read, and ``position``: where the
    output now ends (the next export of the same file resumes there)."""

    rows: int
    scanned: int
    position: Position


@functools.cache
def _json_schema(stream: str) -> pa.Schema:
    """The envelope as the Arrow JSON reader should parse it: typed payload fields (times as
    text), everything else ignored."""
    def struct(fields: dict[str, tuple[str, str]]) -> list[pa.Field]:
        return [pa.field(key, pa.string() if kind == "time" else _ARROW[kind]) for key, (_, kind) in fields.items()]

    text = pa.string()
    payload = struct(SOURCE_FIELDS) + [pa.field("payload", pa.struct(struct(OCPP_FIELDS)))] \
        if stream == "source" else struct(DOMAIN_FIELDS)
    return pa.schema([("eventId", text), ("type", text), ("chargePointId", text), ("occurredAt", text),
                      ("recordedAt", text), ("source", text),
                      ("principal", pa.struct([("kind", text), ("id", text)])), ("correlationId", text),
                      ("causationId", text), ("payload", pa.struct(payload))])


_ENVELOPE_KEYS = {"event_id": "eventId", "type": "type", "charge_point_id": "chargePointId",
                  "occurred_at": "occurredAt", "recorded_at": "recordedAt", "source": "source",
                  "correlation_id": "correlationId", "causation_id": "causationId"}


class _Chunk:
    """About :data:`CHUNK` stored records (slices of one or more :class:`RawBatch` es, so
    Kafka's small per-partition batches are parsed together), turned into a table in bulk
    (:meth:`table`, in a worker thread): the Arrow JSON reader parses the envelopes in C++
    (:meth:`_parsed`; chunks of a few MB parse a third faster than a whole row group at once:
    the buffers are re-used, not mapped afresh); a chunk it refuses (a value of the wrong JSON
    kind somewhere) goes row by row through :func:`flatten` instead."""

    def __init__(self, stream: str, target: pa.Schema) -> None:
        self.stream, self.target = stream, target
        self.pieces: list[tuple[RawBatch, int, int]] = []
        self.values: list[bytes] = []

    def __len__(self) -> int:
        return len(self.values)

    def add(self, raw: RawBatch, start: int, stop: int) -> None:
        """Records ``start`` to ``stop`` (exclusive) of ``raw``."""
        self.pieces.append((raw, start, stop))
        self.values += raw.values[start:stop]

    def table(self) -> pa.Table:
        """The chunk's rows in ``target``'s schema."""
        pieces = []
        for raw, start, stop in self.pieces:  # each record's position text, built in bulk
            prefix, suffix = raw.position_text()
            offsets = pa.array(raw.offsets[start:stop], pa.int64())
            pieces.append((pc.binary_join_element_wise(prefix, pc.cast(pc.add(offsets, 1), pa.string()), suffix, ""),
                           pa.repeat(pa.scalar(raw.partition, pa.int64()), stop - start), offsets))
        positions, partitions, offsets = (pa.concat_arrays([piece[i] for piece in pieces]) for i in range(3))
        table = self._parsed(positions, partitions, offsets)
        if table is None:
            rows = [flatten(self.stream, json.loads(v), payload_text(v), pos, part, off)
                    for v, pos, part, off in zip(self.values, positions.to_pylist(), partitions.to_pylist(),
                                                 offsets.to_pylist(), strict=True)]
            table = pa.Table.from_pylist(rows, schema=self._text_times())
        return self._typed_times(table)

    def _text_times(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in self.target])

    def _parsed(self, positions: pa.Array, partitions: pa.Array, offsets: pa.Array) -> pa.Table | None:
        buffer = b"\n".join(self.values)
        try:
            parsed = pajson.read_json(
                io.BytesIO(buffer), read_options=pajson.ReadOptions(block_size=len(buffer) + 1, use_threads=False),
                parse_options=pajson.ParseOptions(explicit_schema=_json_schema(self.stream),
                                                  unexpected_field_behavior="ignore"))
        except pa.ArrowInvalid:
            return None
        payload = parsed.column("payload").combine_chunks()
        principal = parsed.column("principal").combine_chunks()
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "position": positions, "partition": partitions, "offset": offsets,
            "principal_kind": principal.field("kind"), "principal_id": principal.field("id"),
            "payload_json": pa.array([payload_bytes(v) for v in self.values], pa.binary()).cast(pa.string()),
        }
        for column, key in _ENVELOPE_KEYS.items():
            columns[column] = parsed.column(key)
        fields = SOURCE_FIELDS if self.stream == "source" else DOMAIN_FIELDS
        for key, (column, _) in fields.items():
            columns[column] = payload.field(key)
        if self.stream == "source":
            frames = pc.equal(parsed.column("type").combine_chunks(), "ocpp.frame")
            inner = payload.field("payload")
            for key, (column, _) in OCPP_FIELDS.items():
                values = inner.field(key)
                columns[column] = pc.if_else(frames, values, pa.nulls(len(values), values.type))
        schema = self._text_times()
        return pa.table([columns[f.name] for f in schema], schema=schema)

    def _typed_times(self, table: pa.Table) -> pa.Table:
        """Time columns parsed in bulk from their ISO text (a value that is no time: null)."""
        for index, field in enumerate(self.target):
            if pa.types.is_timestamp(field.type):
                column = table.column(index)
                try:
                    typed = pc.cast(column, field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    typed = pa.array([_time_or_none(v, field.type) for v in column.to_pylist()], field.type)
                table = table.set_column(index, field, typed)
        return table


def _time_or_none(text: str | None, kind: pa.DataType) -> Any:
    try:
        return pc.cast(pa.array([text]), kind)[0].as_py() if text is not None else None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


class _Sink:
    """Where batches of rows go; ``close`` makes the output final."""

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class _ParquetSink(_Sink):
    def __init__(self, out: Path, target: pa.Schema, state: dict[str, Any], previous: pq.ParquetFile | None) -> None:
        self.out, self.tmp = out, out.with_name(out.name + ".partial")
        metadata = {METADATA_KEY: json.dumps(state).encode()}
        dictionary = [f.name for f in target if pa.types.is_string(f.type) and f.name not in UNIQUE_TEXT]
        self.writer = pq.ParquetWriter(self.tmp, target.with_metadata(metadata), compression="zstd",
                                       use_dictionary=dictionary)
        if previous is not None:  # carry the earlier row groups over, one at a time
            for index in range(previous.num_row_groups):
                self.writer.write_table(previous.read_row_group(index).cast(target))

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=ROW_GROUP)

    def close(self) -> None:
        self.writer.close()
        os.replace(self.tmp, self.out)


class _CsvSink(_Sink):
    def __init__(self, out: Path, target: pa.Schema, append: bool) -> None:
        self.file: BinaryIO = open(out, "ab" if append else "wb")  # noqa: SIM115 - closed in close()
        options = pacsv.WriteOptions(include_header=not append)
        self.writer = pacsv.CSVWriter(self.file, target, write_options=options)

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
        self.file.close()


class _JsonLinesSink(_Sink):
    def __init__(self, out: Path, append: bool) -> None:
        self.file: BinaryIO = open(out, "ab" if append else "wb")  # noqa: SIM115 - closed in close()

    def write(self, table: pa.Table) -> None:
        lines = []
        for row in table.to_pylist():
            lines.append(json.dumps({k: v.isoformat() if isinstance(v, datetime) else v
                                     for k, v in row.items() if v is not None}, separators=(",", ":")))
        self.file.write(("\n".join(lines) + "\n").encode())

    def close(self) -> None:
        self.file.close()


def _last_line(path: Path) -> bytes | None:
    """The last non-empty line of a text file (read from the end)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        block = b""
        while size > 0:
            step = min(65_536, size)
            size -= step
            f.seek(size)
            block = f.read(step) + block
            lines = block.rstrip(b"\n").rsplit(b"\n", 1)
            if len(lines) == 2 or size == 0:
                return lines[-1] or None
    return None


def resume_position(out: Path, fmt: str, state: dict[str, Any]) -> tuple[Position, pq.ParquetFile | None]:
    """Where an export into an existing ``out`` goes on (START when there is none), and the
    old Parquet file to carry over. Raises :class:`ExportMismatch`."""
    if not out.exists() or out.stat().st_size == 0:
        return START, None
    if fmt == "parquet":
        previous = pq.ParquetFile(out)
        stored = json.loads((previous.schema_arrow.metadata or {}).get(METADATA_KEY, b"{}"))
        mine = {k: v for k, v in stored.items() if k != "position"}
        if mine != {k: v for k, v in state.items() if k != "position"}:
            raise ExportMismatch(f"{out} holds an export of {mine}, not {state}: choose another --out")
        return Position.parse(stored.get("position", "")), previous
    last = _last_line(out)
    if last is None:
        return START, None
    if fmt == "jsonl":
        return Position.parse(json.loads(last)["position"]), None
    first = last.split(b",", 1)[0].strip(b'"').decode()  # position: the first column
    return (START if first == "position" else Position.parse(first)), None


async def export(
    log: EventLog, stream: str, fmt: str, out: Path, *, since: datetime | None = None,
    until: datetime | None = None, charge_point_id: str | None = None, types: Sequence[str] = (),
    progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None,
) -> ExportResult:
    """Export ``stream`` (filtered) to ``out`` in ``fmt`` (one of :data:`FORMATS`), after what
    ``out`` already holds. ``total(n)`` is told the records to scan, ``progress(n)`` each
    batch scanned. Raises :class:`ExportMismatch`, and what the log raises."""
    state = {"stream": stream, "types": sorted(types), "chargePointId": charge_point_id}
    after, previous = resume_position(out, fmt, state)
    if since is not None:
        after = after.merged(await log.position_at(stream, since))
    end = await log.position_at(stream, until) if until is not None else await log.latest(stream)
    end = end.merged(after)
    if total is not None:
        total(max(0, end.total - after.total))
    target = schema(stream)
    if fmt == "parquet":
        sink: _Sink = _ParquetSink(out, target, {**state, "position": str(end)}, previous)
    elif fmt == "csv":
        sink = _CsvSink(out, target, append=out.exists() and out.stat().st_size > 0)
    else:
        sink = _JsonLinesSink(out, append=out.exists())
    gathered: list[pa.Table] = []  # the row group being filled
    in_group = written = 0
    last_offsets = after
    converting: collections.deque[asyncio.Future[pa.Table]] = collections.deque()
    writing: asyncio.Future[None] | None = None
    chunk = _Chunk(stream, target)

    async def hand_over() -> None:
        """Convert ``chunk`` in a worker thread; start a new one."""
        nonlocal chunk
        converting.append(asyncio.ensure_future(asyncio.to_thread(chunk.table)))
        chunk = _Chunk(stream, target)
        await collect(CONVERTING)

    async def collect(keep: int) -> None:
        """Take converted chunks, in order, until at most ``keep`` are in flight; hand a
        complete row group to the writer thread (one write in flight)."""
        nonlocal writing, gathered
        while len(converting) > keep:
            table = await converting.popleft()
            gathered.append(table)
            if sum(map(len, gathered)) == ROW_GROUP or (keep == 0 and not converting):
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(asyncio.to_thread(sink.write, pa.concat_tables(gathered)))
                gathered = []

    try:
        scan = log.scan_raw(stream, after, until=end, types=types, charge_point_id=charge_point_id)
        async with contextlib.aclosing(scan):
            async for raw in scan:
                start = 0
                while start < len(raw):  # chunks of about CHUNK records, cut at row group boundaries
                    stop = min(len(raw), start + ROW_GROUP - in_group, start + CHUNK - len(chunk))
                    chunk.add(raw, start, stop)
                    in_group = (in_group + stop - start) % ROW_GROUP
                    written += stop - start
                    start = stop
                    if len(chunk) == CHUNK or in_group == 0:
                        await hand_over()
                if progress is not None:
                    progress(raw.after.total - last_offsets.total)
                last_offsets = raw.after
        if len(chunk):
            await hand_over()
        await collect(0)
        if writing is not None:
            await writing
        if progress is not None:
            progress(max(0, end.total - last_offsets.total))
        scanned = end.total - after.total
    except BaseException:
        for pending in [*converting, writing]:  # never close the writer under a thread still using it
            if pending is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.shield(pending)
        if isinstance(sink, _ParquetSink):
            sink.writer.close()
            sink.tmp.unlink(missing_ok=True)
        else:
            sink.close()
        raise
    sink.close()
    return ExportResult(written, scanned, end)
