"""What a WebSocket dialect is, and the connection limits dialects share.

A dialect is a codec plus routing over :class:`~chargelog.adapters.api.core.ClientCore`.
The ``/ws`` endpoint (:mod:`chargelog.adapters.api.app`) picks one per connection:

1. by the handshake — the first dialect whose ``claims_handshake(websocket)`` is true gets
   the connection *before* it is accepted (e.g. a ``?token=`` query), ``first=None``;
2. otherwise by the first message — the connection is accepted, one text message is read and
   parsed as JSON, and the first dialect whose ``claims(message)`` is true gets it, with the
   raw text as ``first``. (Mobile: ``{"action": …}``; charging: ``{"type": "auth_request"}``.)

Limits (mobile-websocket-api.md section 10, configurable in Settings): ``api_rate_per_s`` /
``api_rate_burst`` messages, ``api_max_message_bytes`` per message, connection closed after
``api_ping_timeout_s`` without a message.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.websockets import WebSocket, WebSocketDisconnect

from chargelog.adapters import metrics
from chargelog.adapters.config import Settings

from ..core import ClientCore
from . import contract


def _never(_: Any) -> bool:
    return False


@dataclass(frozen=True)
class Dialect:
    """One client protocol served at ``/ws``: ``name`` (logs, metrics, ``/health``);
    ``session`` — the :class:`~.session.Session` subclass run for a connection
    (``session(websocket, ctx).run(first)``); ``contract`` — the keyword arguments of
    :func:`.contract.fragment` for its AsyncAPI 3.0 fragment; ``claims`` — true to take the
    connection whose first message parsed to the given value; ``claims_handshake`` — true to
    take it from the handshake alone, before accept (``first`` is then None)."""

    name: str
    session: Callable[[WebSocket, ApiContext], Any]
    contract: dict[str, Any]
    claims: Callable[[Any], bool] = _never
    claims_handshake: Callable[[WebSocket], bool] = _never

    async def serve(self, websocket: WebSocket, ctx: ApiContext, first: str | None) -> None:
        """Run the connection to its end (accepted already unless taken by handshake)."""
        await self.session(websocket, ctx).run(first)

    def asyncapi(self) -> dict[str, Any]:
        """``{"channels", "operations", "components": {"messages", "schemas"}}``."""
        return contract.fragment(**self.contract)


class MessageTooLarge(ValueError):
    """A client message above ``api_max_message_bytes``; ``text`` is the message (its id is
    still readable and answered)."""

    def __init__(self, message: str, text: str | bytes = "") -> None:
        super().__init__(message)
        self.text = text


class IdleTimeout(TimeoutError):
    """No client message within ``api_ping_timeout_s``."""


class ConnectionLimits:
    """Per-connection limits, one instance per connection (shares the rate-limit storage of
    its :class:`LimitPolicy`)."""

    def __init__(self, policy: LimitPolicy) -> None:
        self.policy = policy
        self.key = f"conn-{next(policy.ids)}"

    async def receive_text(self, websocket: WebSocket) -> str:
        """The next text (or UTF-8 bytes) message. Raises :class:`IdleTimeout`,
        :class:`MessageTooLarge`, ``WebSocketDisconnect``."""
        try:
            message = await asyncio.wait_for(websocket.receive(), self.policy.idle_timeout_s)
        except TimeoutError:
            raise IdleTimeout(f"no message within {self.policy.idle_timeout_s:g} s") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        size = len(text.encode()) if text is not None else len(message.get("bytes") or b"")
        if size > self.policy.max_message_bytes:
            raise MessageTooLarge(f"message of {size} bytes exceeds {self.policy.max_message_bytes} bytes",
                                  text if text is not None else message.get("bytes") or b"")
        return text if text is not None else (message.get("bytes") or b"").decode("utf-8", "replace")

    def allow(self) -> bool:
        """Count one message against the rate limit; False when over it."""
        allowed = self.policy.limiter.hit(self.policy.item, self.key)
        if not allowed:
            metrics.RATE_LIMIT_REJECTIONS.labels("api-messages").inc()
        return allowed


class LimitPolicy:
    """The limits from Settings, shared by all connections of one app: a moving window of
    ``api_rate_burst`` messages per ``api_rate_burst / api_rate_per_s`` s (10 per 1 s by
    default, via the ``limits`` library)."""

    def __init__(self, settings: Settings) -> None:
        self.max_message_bytes = settings.api_max_message_bytes
        self.idle_timeout_s = settings.api_ping_timeout_s
        self.rate_per_s = settings.api_rate_per_s
        window_s = max(1, math.ceil(settings.api_rate_burst / settings.api_rate_per_s))
        self.item = RateLimitItemPerSecond(settings.api_rate_burst, window_s)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.ids = itertools.count(1)

    def connection(self) -> ConnectionLimits:
        return ConnectionLimits(self)


@dataclass(frozen=True)
class ApiContext:
    """What a dialect's connection gets: the shared core, the settings and the limits."""

    core: ClientCore
    settings: Settings
    limits: LimitPolicy
