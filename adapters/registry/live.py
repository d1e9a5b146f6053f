"""The registry as the running processes see it: folded from the log and kept current.

:class:`LiveRegistry` implements what the OCPP gateway asks of a registry
(``chargelog.adapters.ocpp.ports``: ``lookup``, ``password_hash``, ``is_known``) and what
the projections need (``current``: a :class:`~chargelog.domain.registry.Registry`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from chargelog.adapters.ocpp.ports import IdTagInfo
from chargelog.domain.log import START, EventLog, Position
from chargelog.domain.registry import Registry

from .changes import read_registry

logger = logging.getLogger(__name__)

#: How often the registry re-reads the log for changes made by other processes (s).
POLL_INTERVAL_S = 1.0


class LiveRegistry:
    """The registry folded from ``log``'s ``source`` stream, kept current.

    ``await start()`` reads every ``registry.*`` event so far (only the registry partition,
    filtered by type) and returns; then a background task re-reads what was appended since,
    every ``poll_interval_s`` seconds. This is a catch-up read of the registry partition
    rather than a subscription to the whole ``source`` stream, which would decode every OCPP
    frame in every process. :meth:`wait_for` gives read-your-writes: after appending a
    registry change at position P, ``await live.wait_for(P)`` returns once it is folded.
    """

    def __init__(self, log: EventLog, poll_interval_s: float = POLL_INTERVAL_S) -> None:
        self.log = log
        self.poll_interval_s = poll_interval_s
        self._registry = Registry()
        self._position: Position = START
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def current(self) -> Registry:
        """The registry as of the last read (an immutable snapshot)."""
        return self._registry

    @property
    def position(self) -> Position:
        """How far the ``source`` stream has been read for registry events."""
        return self._position

    async def start(self) -> None:
        """Load the registry; start following it. Raises the log's errors (e.g.
        ``LogUnavailable``) when the first read fails."""
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="live-registry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def refresh(self) -> Registry:
        """Fold whatever registry events were appended since the last read; returns the
        current registry."""
        async with self._lock:
            registry, self._position = await read_registry(self.log, self._registry, self._position)
        if registry is not self._registry:
            self._registry = registry
            async with self._changed:
                self._changed.notify_all()
        return self._registry

    async def wait_until(self, predicate: Callable[[Registry], bool], timeout_s: float) -> Registry:
        """The registry once ``predicate(registry)`` holds (as the background follower or
        :meth:`refresh` brings changes in). Raises ``TimeoutError`` after ``timeout_s`` s."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: predicate(self._registry))
        return self._registry

    async def wait_for(self, position: Position) -> Registry:
        """The registry once it includes every registry event up to ``position`` (a
        position ``append`` returned)."""
        if not position <= self._position:
            await self.refresh()
        return self._registry

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep following; the log may come back
                logger.warning("registry refresh failed, retrying in %.1f s: %s", self.poll_interval_s, exc)

    # -- the gateway's ports (chargelog.adapters.ocpp.ports) ------------------------------

    def lookup(self, id_tag: str) -> IdTagInfo | None:
        """IdTagLookup: the tag's OCPP 1.6 IdTagInfo with the status as of now
        (:meth:`Registry.authorize`: expiry applied) and its ``userId``; None if unknown."""
        tag = self._registry.id_tag(id_tag)
        if tag is None:
            return None
        return IdTagInfo(status=self._registry.authorize(id_tag, datetime.now(UTC)),
                         expiryDate=tag.expiryDate, parentIdTag=tag.parentIdTag, userId=tag.userId)

    def password_hash(self, charge_point_id: str) -> str | None:
        """ChargePointCredentials: the charge point's scrypt hash, None when it has none."""
        info = self._registry.charge_point(charge_point_id)
        return info.passwordHash if info else None

    def verify(self, charge_point_id: str, password: str) -> bool | None:
        """True/False for a charge point with a password; None when it has none. Costs one
        scrypt (~50 ms CPU): call it off the event loop."""
        return self._registry.verify_password(charge_point_id, password)

    def is_known(self, charge_point_id: str) -> bool:
        """ChargePointDirectory: the charge point is registered."""
        return self._registry.charge_point(charge_point_id) is not None
