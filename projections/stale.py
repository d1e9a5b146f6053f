"""Lets log time pass for offline charge points, so their vanished transactions close.

A transaction whose charge point went offline and sent nothing for ``stale_after_s`` (setting
``transaction_stale_after_s``, default 24 h) is closed as ``Stale``
(:func:`chargelog.domain.translate.translate`, ``system.tick``). The fold decides that from
log time only; this sweep, run beside the translator, supplies the time: every ``interval_s``
it appends one ``system.tick`` source event (payload ``staleAfterSeconds``) per charge point
the translator holds that is offline, has active transactions and whose last event is at least
``stale_after_s`` old by the wall clock. The tick carries its own time, so a replay of the log
closes the same transactions at the same point. One tick per charge point per silence (a new
frame re-arms it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from chargelog.domain.envelope import Event, Source, utcnow
from chargelog.domain.log import SOURCE, EventLog
from chargelog.domain.ocpp_checks import parse_time
from chargelog.domain.translate import TICK

from .translator import TranslatorFold

logger = logging.getLogger(__name__)

#: Longest wait between sweeps (s).
MAX_INTERVAL_S = 60.0


class StaleSweep:
    """``start()`` runs the sweep every ``min(60, stale_after_s / 4)`` s; ``await stop()``."""

    def __init__(self, log: EventLog, fold: TranslatorFold, stale_after_s: float) -> None:
        self.log = log
        self.fold = fold
        self.stale_after_s = stale_after_s
        self.interval_s = max(min(MAX_INTERVAL_S, stale_after_s / 4), 0.05)
        self._ticked: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stale-transaction-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the log may be down: the next sweep retries
                logger.warning("stale-transaction sweep failed", exc_info=True)

    def due(self) -> list[Event]:
        """The ticks to append now."""
        now = utcnow()
        ticks = []
        for charge_point_id, cp in list(self.fold.rows.items()):
            if cp.online or not cp.transactions or self._ticked.get(charge_point_id) == cp.lastSeenAt:
                continue
            last = parse_time(cp.lastSeenAt)
            if last is None or (now - last).total_seconds() < self.stale_after_s:
                continue
            ticks.append(Event(type=TICK, chargePointId=charge_point_id, source=Source.SYSTEM, occurredAt=now,
                               recordedAt=now, payload={"staleAfterSeconds": self.stale_after_s,
                                                        "lastSeenAt": cp.lastSeenAt}))
        return ticks

    async def sweep(self) -> int:
        """Append the due ticks; returns how many."""
        ticks = self.due()
        if ticks:
            await self.log.append(SOURCE, ticks)
        for tick in ticks:
            self._ticked[tick.chargePointId] = tick.payload["lastSeenAt"]
        return len(ticks)
