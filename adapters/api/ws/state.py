"""State the WebSocket dialects share within one app: the Charging WebSocket API's rate limits,
the live connections of every dialect (for ``/health`` and ``/api/stats``: totalConnections,
authenticatedConnections, totalUsers), the uptime clock, and views shared between sockets.

One :class:`DialectState` per :class:`~chargelog.adapters.api.core.ClientCore` (that is, per
app): :func:`state_for` creates it on first use and hands the same one to the WebSocket
dialects and the HTTP routes of :mod:`chargelog.adapters.api.rest`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chargelog.adapters.config import Settings

from ..core import ClientCore
from ..ratelimit import ChargingLimits
from .base import LimitPolicy
from .memo import FifoMemo

T = TypeVar("T")
#: Results kept by :meth:`DialectState.shared` (recent domain events' views).
SHARED_RESULTS = 512


@dataclass(eq=False)
class Connection:
    """One live client connection: ``dialect`` ("mobile", "charging" or "comms"),
    ``userId`` once authenticated."""

    id: int
    dialect: str
    userId: str | None = None
    _state: DialectState | None = field(default=None, repr=False)

    def close(self) -> None:
        """Forget this connection (idempotent)."""
        if self._state is not None:
            self._state.connections.pop(self.id, None)
            self._state = None


class DialectState:
    """Per-app state of the WebSocket dialects."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = ChargingLimits.from_settings(settings)
        self.started = time.monotonic()
        self.connections: dict[int, Connection] = {}
        self._ids = itertools.count(1)
        #: Receive limits: the message size of ``api_max_message_bytes``; the charging
        #: session closes after ``charging_session_timeout_s`` without a message; the
        #: receive-only push connection never times out on silence (WebSocket ping/pong
        #: keeps it honest).
        self.charging_receive = LimitPolicy(settings)
        self.charging_receive.idle_timeout_s = settings.charging_session_timeout_s
        self.comms_receive = LimitPolicy(settings)
        self.comms_receive.idle_timeout_s = None  # type: ignore[assignment]
        self._shared: FifoMemo[Hashable, asyncio.Future[Any]] = FifoMemo(SHARED_RESULTS)

    async def shared(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        """``await factory()`` once per ``key`` for all connections of this app (the most
        recent :data:`SHARED_RESULTS` keys are kept): every push socket receives the same
        domain event and needs the same public views for it."""
        return await asyncio.shield(self._shared.get_or_build(key, lambda: asyncio.ensure_future(factory())))

    @property
    def uptime_s(self) -> float:
        """Seconds since this app's dialects were set up."""
        return time.monotonic() - self.started

    def open(self, dialect: str) -> Connection:
        conn = Connection(next(self._ids), dialect, _state=self)
        self.connections[conn.id] = conn
        return conn

    def count(self, dialect: str) -> int:
        return sum(1 for c in self.connections.values() if c.dialect == dialect)

    def stats(self) -> dict[str, int]:
        """``totalConnections`` (open WebSocket connections of these dialects),
        ``authenticatedConnections`` (of them, authenticated), ``totalUsers`` (distinct
        authenticated users)."""
        conns = list(self.connections.values())
        users = {c.userId for c in conns if c.userId is not None}
        return {"totalConnections": len(conns),
                "authenticatedConnections": sum(1 for c in conns if c.userId is not None),
                "totalUsers": len(users)}


_STATES: weakref.WeakKeyDictionary[ClientCore, DialectState] = weakref.WeakKeyDictionary()


def state_for(core: ClientCore, settings: Settings) -> DialectState:
    """The app's :class:`DialectState` (one per core)."""
    state = _STATES.get(core)
    if state is None:
        state = _STATES[core] = DialectState(settings)
    return state
