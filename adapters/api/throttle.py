"""Failed-authentication throttling shared by every surface that checks a credential
(DESIGN.md, "Security": authentication throttled on every surface): the Mobile ``auth``
action, the Charging API's ``auth_request``, the push socket's ``?token=``, REST
``Authorization: Bearer`` / ``X-API-Key`` (``/api/charging/*``, ``/api/stations``, the
operator routes) and OCPP HTTP Basic auth (security profile 1).

Two moving windows of ``Settings.auth_failure_window_s`` seconds (the ``limits`` library's
moving-window strategy, in-process memory): at most ``auth_failures_per_address`` failed
attempts per remote address, and ``auth_failures_per_principal`` per principal (the
``userId`` a JWT claims, the chargePointId of a Basic-auth handshake; API keys name no
principal before they verify). Once either window is full, every attempt of that address or
principal — right or wrong — is refused with :class:`Throttled` until the oldest failure
leaves the window; each surface answers in its own form (HTTP 429 with ``Retry-After``,
Mobile error 429, Charging ``RATE_LIMIT_EXCEEDED``, push socket close 1008, OCPP handshake
429). Successful attempts cost nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import jwt
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from chargelog.adapters import metrics
from chargelog.adapters.config import Settings

from .caller import CoreError

T = TypeVar("T")


class Throttled(CoreError):
    """Too many failed authentications; ``retry_after_s`` (≥ 1) until the next attempt may
    be made."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("rate_limited", f"too many failed authentication attempts; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class AuthThrottle:
    """The two windows of the module docstring; task-safe, never blocks on I/O."""

    def __init__(self, settings: Settings) -> None:
        window = settings.auth_failure_window_s
        self._address = RateLimitItemPerSecond(settings.auth_failures_per_address, window)
        self._principal = RateLimitItemPerSecond(settings.auth_failures_per_principal, window)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def _keys(self, address: str | None, principal: str | None) -> list[tuple[RateLimitItemPerSecond, str, str]]:
        keys = []
        if address:
            keys.append((self._address, "address", address))
        if principal:
            keys.append((self._principal, "principal", principal))
        return keys

    def check(self, address: str | None, principal: str | None = None) -> None:
        """Raises :class:`Throttled` when ``address`` or ``principal`` has used up its window."""
        waits = [self._limiter.get_window_stats(item, *key).reset_time - time.time()
                 for item, *key in self._keys(address, principal) if not self._limiter.test(item, *key)]
        if waits:
            metrics.RATE_LIMIT_REJECTIONS.labels("api-auth").inc()
            raise Throttled(max(1, math.ceil(max(waits))))

    def failed(self, address: str | None, principal: str | None = None) -> None:
        """Count one failed attempt against ``address`` and ``principal``."""
        for item, *key in self._keys(address, principal):
            self._limiter.hit(item, *key)

    async def attempt(self, address: str | None, principal: str | None,
                      verify: Callable[[], Awaitable[T]]) -> T:
        """``await verify()`` unless throttled; a :class:`CoreError` ``unauthorized`` it
        raises counts as a failure and is re-raised. Raises :class:`Throttled`."""
        self.check(address, principal)
        try:
            return await verify()
        except CoreError as exc:
            if exc.kind == "unauthorized":
                metrics.AUTH_FAILURES.labels("api").inc()
                self.failed(address, principal)
            raise


def client_address(connection: HTTPConnection) -> str:
    """The remote address of an HTTP request or WebSocket ("-" when unknown)."""
    return connection.client.host if connection.client else "-"


def claimed_user(token: object) -> str | None:
    """The ``userId`` a JWT claims, unverified (for counting failures per principal only;
    never trusted), or None for anything that does not decode."""
    if not isinstance(token, str):
        return None
    try:
        user = jwt.decode(token, options={"verify_signature": False}).get("userId")
    except (jwt.InvalidTokenError, AttributeError, ValueError):  # ValueError: e.g. a lone surrogate
        return None
    return f"user:{user}" if isinstance(user, str) and user else None
