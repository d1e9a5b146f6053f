"""The profile state read model (:mod:`chargelog.domain.profile_state`) of one charge point,
rebuilt from the log on every query: a typed read of that charge point's ``source`` events
(``command.requested``, ``command.failed``, ``ocpp.frame``; the charge point's partition, in
order) folded from offset zero. Nothing is stored, so it can never drift from the log; the
cost is one scan of the charge point's frames per query (operators' use, not a hot path).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chargelog.domain.log import SOURCE, START, EventLog
from chargelog.domain.profile_state import TYPES, ProfileState

#: Records read per log call.
PAGE = 5000


async def fold_profile_state(log: EventLog, charge_point_id: str) -> ProfileState:
    """The fold over everything the log holds now for ``charge_point_id``."""
    state = ProfileState(charge_point_id)
    position = START
    end = await log.latest(SOURCE)
    while True:
        records = await log.read(SOURCE, position, limit=PAGE, until=end, charge_point_id=charge_point_id,
                                 types=TYPES)
        if not records:
            return state
        for record in records:
            state.apply(record.event)
        position = records[-1].position


async def profile_state(log: EventLog, charge_point_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The JSON view (:meth:`ProfileState.view`) as of ``now`` (default: the current time)."""
    state = await fold_profile_state(log, charge_point_id)
    return state.view(now or datetime.now(UTC))
