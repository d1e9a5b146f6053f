"""The profile state read model: one row per charge point holding its
:class:`~chargelog.domain.profile_state.ProfileState` (reservations, charging profiles and
composite schedules, local list, firmware / diagnostics / log jobs, security), folded from the
``source`` stream (``command.requested``, ``command.failed``, ``ocpp.frame``).

:class:`ProfileStateProjection` is a :class:`~chargelog.projections.base.RowFold` like the
station map and the sessions: the projection worker applies it incrementally (consumer group
``{topic_prefix}.profile_state``) and commits its rows with its position; ``chargelog
projections rebuild profile_state`` folds it again from position zero and ``chargelog
projections status`` shows its position and lag. Its apply function is the pure domain fold
(:meth:`ProfileState.apply`); the stored row is :meth:`ProfileState.dump` (with the requests and
CALLs still awaiting an answer, so folding resumes exactly).

Reading (:func:`profile_state`, behind the operator REST API and ``chargelog profile-state``):
the stored row and the projection's position, read together in one snapshot
(:meth:`ReadModelStore.get`), then the charge point's records after that position up to the
log's end (usually none: the worker is live) folded on top with the same fold. The answer is
therefore as of the log's end when asked, whichever node asks, and equals a full recomputation
from position zero (tests/test_profile_state.py).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, EventLog, Position
from chargelog.domain.profile_state import TYPES, ProfileState

from .base import RowFold
from .dedupe import RecentIds
from .store import ReadModelStore

#: Records read per log call when catching up on the stored row.
PAGE = 5000


class ProfileStateProjection(RowFold):
    """Rows: chargePointId → :class:`ProfileState` (stored as :meth:`ProfileState.dump` JSON).
    A charge point gets a row with its first event the fold keeps."""

    name = "profile_state"
    stream = SOURCE
    types = frozenset(TYPES)

    def apply(self, event: Event) -> None:
        key = event.chargePointId
        state = self.rows.get(key)
        if state is None:
            state = ProfileState(key)
            if state.apply(event):  # type: ignore[arg-type]
                self.put(key, state)  # type: ignore[arg-type]
        elif state.apply(event):  # type: ignore[union-attr]
            self.touch(key)

    def save(self, event: Event) -> str | None:
        """The charge point's state as JSON before ``event`` (a failed apply restores it)."""
        state = self.rows.get(event.chargePointId)
        return self.encode_row(state) if state is not None and event.type in TYPES else None

    def restore(self, event: Event, saved: str | None) -> None:
        if saved is not None:  # a new charge point's state is only stored once applied
            self.rows[event.chargePointId] = self.decode_row(saved)

    def encode_row(self, row: Any) -> str:
        return json.dumps(row.dump(), separators=(",", ":"))

    def decode_row(self, text: str) -> Any:
        return ProfileState.load(json.loads(text))

    def state(self, charge_point_id: str) -> ProfileState:
        """The charge point's state (an empty one when it has no row)."""
        return self.rows.get(charge_point_id) or ProfileState(charge_point_id)  # type: ignore[return-value]


async def current_state(log: EventLog, store: ReadModelStore | None, charge_point_id: str) -> ProfileState:
    """The charge point's state as of the log's end now: the stored row (``store`` None: none)
    and the records after the stored position (see the module docstring)."""
    fold = ProfileStateProjection()
    if store is not None:
        positions, row = await asyncio.to_thread(store.get, fold.name, charge_point_id)
        fold.load(positions, [(charge_point_id, row[0], row[1])] if row is not None else [])
    end = await log.latest(SOURCE)
    recent = RecentIds()
    while True:
        records = await log.read(SOURCE, fold.position, limit=PAGE, until=end, charge_point_id=charge_point_id,
                                 types=TYPES)
        if not records:
            return fold.state(charge_point_id)
        for record in records:
            if recent.repeat(record.event.eventId):  # a repeat the runner skips too (:mod:`.dedupe`)
                fold.reached(Position({record.partition: record.offset + 1}))
            else:
                fold.offer(record)


async def profile_state(log: EventLog, store: ReadModelStore | None, charge_point_id: str,
                        now: datetime | None = None) -> dict[str, Any]:
    """The JSON view (:meth:`ProfileState.view`) as of ``now`` (default: the current time)."""
    state = await current_state(log, store, charge_point_id)
    return state.view(now or datetime.now(UTC))
