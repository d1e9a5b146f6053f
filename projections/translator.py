"""The translator as a fold the runner can drive: source events in, domain events out
(docs/contracts.md: the ``domain`` stream is written by this module only).

Its rows are the per-charge-point :class:`~chargelog.domain.model.ChargePointState` of
:func:`chargelog.domain.translate.translate`; the runner appends :meth:`take_output` to the
``domain`` stream *before* committing rows and positions, and records the domain-stream offset
reached per partition (tracking name ``translator.domain#{partition}``). After a crash between
the two, the resumed translator re-derives the same events (deterministic eventIds) and drops
those already in the domain stream after the recorded offset (:meth:`already_appended`), so a
restart never emits a domain event twice. Assumes the ``source`` and ``domain`` streams have the
same partition count (true for both engines), so a charge point's domain events land in the
partition number of its source events.
"""

from __future__ import annotations

from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.log import Record
from chargelog.domain.model import ChargePointState, TranslatorState
from chargelog.domain.translate import NO_DIRECTORY, Directory, SourceRef, translate

from .base import RowFold

DOMAIN_OFFSET = "translator.domain"


class TranslatorFold(RowFold):
    """Per-charge-point translator state; collects the domain events it derives."""

    name = "translator"
    stream = "source"

    def __init__(self, directory: Directory = NO_DIRECTORY) -> None:
        super().__init__()
        self.directory = directory
        self.state = TranslatorState()
        self.state.chargePoints = self.rows  # type: ignore[assignment] - same mapping
        self.output: list[Event] = []
        self.appended: set[str] = set()

    def apply_record(self, record: Record) -> None:
        self.apply(record.event, SourceRef(record.partition, record.offset))

    def apply(self, event: Event, at: SourceRef | None = None) -> None:
        if event.chargePointId == "-":
            return
        new = event.chargePointId not in self.rows
        _, events = translate(self.state, event, self.directory, at)
        if new and event.chargePointId in self.rows:
            self.put(event.chargePointId, self.rows[event.chargePointId])
        else:
            self.touch(event.chargePointId)
        self.output.extend(e for e in events if e.eventId not in self.appended)

    def save(self, event: Event) -> str | None:
        """The charge point's state as JSON before ``event`` (a failed translation restores it)."""
        row = self.rows.get(event.chargePointId)
        return row.model_dump_json() if row is not None else None

    def restore(self, event: Event, saved: str | None) -> None:
        if saved is None:
            self.rows.pop(event.chargePointId, None)
        else:
            self.rows[event.chargePointId] = ChargePointState.model_validate_json(saved)

    def take_output(self) -> list[Event]:
        """The domain events derived since the last call, minus those already appended."""
        out, self.output = self.output, []
        return out

    def already_appended(self, event_ids: set[str]) -> None:
        """Domain eventIds found after the recorded domain offsets at resume: not re-emitted."""
        self.appended = event_ids

    def encode_row(self, row: Any) -> str:
        return row.model_dump_json()

    def decode_row(self, text: str) -> Any:
        return ChargePointState.model_validate_json(text)
