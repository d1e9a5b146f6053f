"""Per-key rate limits over a moving one-minute window (the ``limits`` library's moving-window
strategy, in-process memory storage), and the ``X-RateLimit-*`` headers that report them.

The Charging WebSocket API's limits (specs/charging-websocket-api.md, "Rate Limiting"):
connections per minute per IP (10), messages per minute per authenticated user (100),
authentication attempts per minute per IP (5) — :class:`ChargingLimits`, configured by
``Settings.charging_connections_per_min``, ``charging_messages_per_min`` and
``charging_auth_per_min``. The window moves: a burst of N+1 within any 60 s is refused
whatever the clock says, and each hit frees up 60 s after it was made.

Headers (same section): ``X-RateLimit-Limit`` (hits per window), ``X-RateLimit-Remaining``
(left now), ``X-RateLimit-Reset`` (Unix time, s, when the oldest hit in the window expires),
and ``Retry-After`` (s) on a refusal.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from chargelog.adapters import metrics
from chargelog.adapters.config import Settings


@dataclass(frozen=True)
class Decision:
    """One hit's verdict: ``allowed``; ``limit`` hits per window; ``remaining`` hits left;
    ``reset`` Unix time (s) when the window frees its oldest hit."""

    allowed: bool
    limit: int
    remaining: int
    reset: int

    @property
    def retry_after_s(self) -> int:
        """Seconds until a refused caller may try again (≥ 1)."""
        return max(1, self.reset - int(time.time()))

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` and, when
        refused, ``Retry-After``."""
        out = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
               "X-RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after_s)
        return out


class RateLimiter:
    """``per_minute`` hits per key in any moving 60 s window. ``name`` separates limiters that
    share a storage. Thread- and task-safe (the storage locks per key); never blocks on I/O."""

    def __init__(self, per_minute: int, name: str, storage: MemoryStorage | None = None) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be ≥ 1")
        self.item = RateLimitItemPerMinute(per_minute)
        self.name = name
        self.storage = storage or MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self.storage)

    @property
    def limit(self) -> int:
        return int(self.item.amount)

    def hit(self, key: str) -> Decision:
        """Count one hit for ``key`` if the window has room; the verdict either way."""
        allowed = self._limiter.hit(self.item, self.name, key)
        if not allowed:
            metrics.RATE_LIMIT_REJECTIONS.labels(self.name).inc()
        return self._decision(key, allowed)

    def peek(self, key: str) -> Decision:
        """The state for ``key`` without counting a hit."""
        return self._decision(key, self._limiter.test(self.item, self.name, key))

    def _decision(self, key: str, allowed: bool) -> Decision:
        stats = self._limiter.get_window_stats(self.item, self.name, key)
        return Decision(allowed, self.limit, max(0, int(stats.remaining)), int(math.ceil(stats.reset_time)))


@dataclass
class ChargingLimits:
    """The three limits of the Charging WebSocket API: ``connections`` (key: client IP),
    ``messages`` (key ``user:<userId>`` — WebSocket messages and HTTP requests of a user share
    one budget — or ``ip:<address>`` for HTTP requests without a valid token), ``auth`` (key:
    client IP)."""

    connections: RateLimiter
    messages: RateLimiter
    auth: RateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> ChargingLimits:
        storage = MemoryStorage()
        return cls(RateLimiter(settings.charging_connections_per_min, "connections", storage),
                   RateLimiter(settings.charging_messages_per_min, "messages", storage),
                   RateLimiter(settings.charging_auth_per_min, "auth", storage))
