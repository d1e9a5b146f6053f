"""The log port: what the rest of chargelog needs of an append-only event log.

Two engines implement it (``chargelog.adapters.log.embedded`` and ``…kafka``) and one
contract suite (``tests/test_log_contract.py``) runs against both. Rules (DESIGN.md):

* ``append`` returns only when every event is durable, with each event's position.
* Events with the same ``chargePointId`` are totally ordered, in append order.
* Positions are opaque resume tokens: a :class:`Position` says how many records of each
  partition have been seen; ``str(position)`` and :meth:`Position.parse` round-trip; they are
  compared component-wise (a partial order that is total on one partition).
* ``subscribe(after)`` replays every record after ``after`` and then goes live, with no gap
  and no duplicate inside one subscription, while others keep appending.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .envelope import Event

#: The streams chargelog writes. ``source``: what was said (OCPP frames, commands,
#: connection events). ``domain``: what it meant (domain events, for clients and analysts).
SOURCE = "source"
DOMAIN = "domain"


class InvalidPosition(ValueError):
    """A position string that is not one this log wrote (malformed, or of another engine)."""


class PositionNotAvailable(LookupError):
    """The log no longer holds (or never held) the records a position points at."""


@dataclass(frozen=True, order=False)
class Position:
    """How far a reader has got: ``offsets[partition]`` = number of records of that
    partition already seen (so it is also the offset of the next one to read).

    The embedded engine has one partition (0). String form: ``"0-12.1-7"``; the empty
    position (nothing seen) is ``"0"``-free: ``""`` parses to it.
    """

    offsets: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", {p: o for p, o in sorted(self.offsets.items()) if o > 0})

    def __str__(self) -> str:
        return ".".join(f"{p}-{o}" for p, o in self.offsets.items()) or "0-0"

    @classmethod
    def parse(cls, text: str) -> Position:
        """Inverse of ``str()``. Raises :class:`InvalidPosition` for anything else."""
        try:
            pairs = [part.split("-") for part in text.split(".")] if text else []
            offsets = {int(p): int(o) for p, o in pairs}
        except (ValueError, TypeError) as exc:
            raise InvalidPosition(f"not a log position: {text!r}") from exc
        if any(p < 0 or o < 0 for p, o in offsets.items()):
            raise InvalidPosition(f"not a log position: {text!r}")
        return cls(offsets)

    def get(self, partition: int) -> int:
        """Records of ``partition`` already seen (0 when absent)."""
        return self.offsets.get(partition, 0)

    def advanced(self, partition: int, next_offset: int) -> Position:
        """A copy with ``partition`` moved to ``next_offset`` (never moves backwards)."""
        current = self.offsets.get(partition)
        if current is not None:  # the hot path of readers: no re-sort, no re-filter
            if next_offset <= current:
                return self
            moved = object.__new__(Position)
            object.__setattr__(moved, "offsets", {**self.offsets, partition: next_offset})
            return moved
        merged = dict(self.offsets)
        merged[partition] = max(next_offset, merged.get(partition, 0))
        return Position(merged)

    def merged(self, other: Position) -> Position:
        """The component-wise maximum of two positions."""
        merged = dict(self.offsets)
        for p, o in other.offsets.items():
            merged[p] = max(o, merged.get(p, 0))
        return Position(merged)

    @property
    def total(self) -> int:
        """Records seen over all partitions (for progress and counts)."""
        return sum(self.offsets.values())

    def __le__(self, other: Position) -> bool:
        return all(o <= other.get(p) for p, o in self.offsets.items())

    def __lt__(self, other: Position) -> bool:
        return self <= other and self != other

    def __ge__(self, other: Position) -> bool:
        return other <= self

    def __gt__(self, other: Position) -> bool:
        return other < self

    def covers(self, record: Record) -> bool:
        """True when ``record`` is among what this position has seen."""
        return self.get(record.partition) > record.offset


class LogUnavailable(ConnectionError):
    """The log cannot be reached (e.g. no Kafka broker answers at the configured address
    within the engine's connect timeout). The message names the address."""


START = Position()


@dataclass(frozen=True)
class Record:
    """An event as read from the log: where it is (``partition``, ``offset``) and the
    resume token just past it (``position``: a subscription's progress including it)."""

    event: Event
    partition: int
    offset: int
    position: Position


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as stored, undecoded: its ``chargePointId`` (the engine's key for it), the
    envelope bytes ``value``, ``partition``, ``offset`` and the reader's ``position`` just past
    it (as :class:`Record`)."""

    chargePointId: str
    value: bytes
    partition: int
    offset: int
    position: Position


#: Records per :class:`RawBatch` that ``scan_raw`` aims at (a batch may hold fewer).
RAW_BATCH = 8192


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Consecutive kept records of one ``partition`` as stored, undecoded, in columns (for
    verification and exports, which read millions): their ``chargePointIds`` (the engine's
    key), envelope bytes ``values`` and ``offsets``; ``before`` is the reader's progress just
    before the batch and ``after`` just past it (records the filters skipped included). The
    position just past record ``i`` is ``before`` with ``partition`` advanced to
    ``offsets[i] + 1`` (:meth:`position`)."""

    partition: int
    chargePointIds: list[str]
    values: list[bytes]
    offsets: list[int]
    before: Position
    after: Position

    def __len__(self) -> int:
        return len(self.values)

    def position(self, index: int) -> Position:
        """The resume token just past record ``index``."""
        return self.before.advanced(self.partition, self.offsets[index] + 1)

    def position_text(self) -> tuple[str, str]:
        """(prefix, suffix) such that ``f"{prefix}{offsets[i] + 1}{suffix}"`` is
        ``str(self.position(i))`` for every record (to build them in bulk)."""
        others = {p: o for p, o in self.before.offsets.items() if p != self.partition}
        prefix = "".join(f"{p}-{o}." for p, o in others.items() if p < self.partition)
        suffix = "".join(f".{p}-{o}" for p, o in others.items() if p > self.partition)
        return f"{prefix}{self.partition}-", suffix

    def records(self) -> Iterator[RawRecord]:
        """The batch one record at a time."""
        for i, (key, value, offset) in enumerate(zip(self.chargePointIds, self.values, self.offsets, strict=True)):
            yield RawRecord(key, value, self.partition, offset, self.position(i))


@runtime_checkable
class EventLog(Protocol):
    """An append-only, partitioned event log. All methods are coroutine-safe for the tasks
    of one process. Raises ``OSError``/engine errors when the log is unreachable."""

    async def start(self) -> None:
        """Open files or connections; idempotent."""

    async def close(self) -> None:
        """Flush and release resources."""

    async def append(self, stream: str, events: Sequence[Event]) -> list[Position]:
        """Append ``events`` (in order) and return, once all are durable, the position just
        past each one. ``recordedAt`` is set by the log. An empty batch returns ``[]``."""
        ...

    async def read(
        self, stream: str, after: Position = START, *, limit: int | None = None,
        until: Position | None = None, types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> list[Record]:
        """Records after ``after`` up to ``until`` (default: the end when called), at most
        ``limit`` of them. ``types`` (non-empty) keeps only those event types and
        ``charge_point_id`` only that charge point's events, both without decoding the others.
        Raises :class:`PositionNotAvailable` if ``after`` lies before the log's retained start
        or beyond its end."""
        ...

    def scan(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None,
    ) -> AsyncIterator[Record]:
        """``read`` without a limit, as a stream that ends at ``until`` (default: the end when
        called): for exports of large logs, decoding one record at a time. Raises as ``read``."""
        ...

    def scan_raw(
        self, stream: str, after: Position = START, *, until: Position | None = None,
        types: Sequence[str] = (), charge_point_id: str | None = None, batch: int = RAW_BATCH,
    ) -> AsyncIterator[RawBatch]:
        """``scan`` without decoding, in bulk: the kept records as :class:`RawBatch` es of at
        most ``batch`` records each (fewer at page or fetch boundaries; never empty), in the
        order ``scan`` gives them, with their stored envelope bytes (``chargelog verify``
        checks the exact bytes written; exports parse them in bulk). Raises as ``read``."""
        ...

    async def history(self, stream: str, charge_point_id: str) -> list[Event]:
        """Every event of one charge point, in log order (for audits)."""
        ...

    async def position_at(self, stream: str, timestamp: datetime) -> Position:
        """The position before the first record whose ``recordedAt`` >= ``timestamp``."""
        ...

    async def latest(self, stream: str) -> Position:
        """The position just past the last durable record."""
        ...

    def subscribe(self, stream: str, after: Position = START, *,
                  types: Sequence[str] = ()) -> AsyncIterator[Record]:
        """Catch-up subscription: every record after ``after``, then live records, forever,
        without gap or duplicate. Close it with ``aclose()``. ``types``: the event types the
        caller needs — an engine may leave other records out (the embedded engine skips other
        processes' records of other types without decoding them; Kafka yields every record),
        so the caller still checks each record's type."""
        ...

    def group_subscribe(
        self, stream: str, group_id: str, start_positions: Callable[[set[int]], Awaitable[Position]],
        on_revoked: Callable[[set[int]], Awaitable[None]] | None = None,
    ) -> AsyncIterator[Record]:
        """Consumer-group subscription for projection workers: members of ``group_id`` share
        the stream's partitions. On each assignment the engine awaits
        ``start_positions(partitions)`` (the positions the worker stored with its read model)
        and reads those partitions from there; ``on_revoked(partitions)`` is awaited before
        partitions move to another member. The embedded engine has one member holding
        partition 0."""
        ...


async def append_one(log: EventLog, stream: str, event: Event) -> Position:
    """Append a single event; returns its position once durable."""
    return (await log.append(stream, [event]))[0]
