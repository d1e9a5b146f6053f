"""Who may open an OCPP connection as a chargePointId (DESIGN.md, "Security": stations
authenticated before they are believed; OCPP 1.6 security whitepaper, profile 1).

At the WebSocket handshake (``process_request``), in order:

1. ``unknown_charge_points = "refuse"`` and the id is not in the registry → 404.
2. A password is required when ``basic_auth`` is on (every charge point), when the charge
   point **has** a stored password (whatever ``basic_auth`` says: a charge point with a
   password is never accepted without it, so nobody can impersonate it), or when
   ``charge_point_pinning`` is on. HTTP Basic auth, user = chargePointId. With pinning, the
   first connection of an id without a stored password stores its password
   (``registry.chargepoint.password.set``, only the hash); every later connection needs it.
   Failed attempts count against the remote address and the chargePointId
   (:class:`~chargelog.adapters.api.throttle.AuthThrottle`); once throttled → 429 with
   ``Retry-After``; a wrong or missing password → 401.
3. An id not in the registry and without a password (auto-registration) — except the
   ``trusted`` ids of this process's own simulated charge points — is capped: at most
   ``unknown_charge_points_per_address_per_hour`` distinct such ids per remote address per
   hour (429) and ``unknown_charge_points_max`` of them connected at once (503).

Every refusal except a throttled one (which would let a flood fill the log) is appended as
``ocpp.connection.refused`` ``{remoteAddress, status, reason}`` on the charge
point's partition (docs/contracts.md).
"""

from __future__ import annotations

import asyncio
import http
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from websockets.asyncio.server import ServerConnection, basic_auth
from websockets.http11 import Request, Response

from chargelog.adapters import metrics
from chargelog.adapters.api.throttle import AuthThrottle, Throttled
from chargelog.adapters.config import Settings
from chargelog.domain.envelope import Event, Source
from chargelog.domain.registry import hash_password, password_set, verify_password

from .ports import call_registry

logger = logging.getLogger("chargelog.ocpp")

REFUSED = "ocpp.connection.refused"
#: (remote address, chargePointId) pairs remembered for the hourly cap of unknown ids.
_SEEN_MAX = 100_000
_HOUR_S = 3600.0


class Admission:
    """The handshake checks of the module docstring. ``append(events)`` records on the
    ``source`` stream; ``connected()`` is the set of chargePointIds connected now."""

    def __init__(self, settings: Settings, registry: Any, append: Callable[[Sequence[Event]], Awaitable[None]],
                 connected: Callable[[], set[str]]) -> None:
        self.settings = settings
        self.registry = registry
        self.append = append
        self.connected = connected
        self.throttle = AuthThrottle(settings)
        #: Unregistered chargePointIds exempt from the caps of step 3 (the simulated charge
        #: points of ``serve --simulate``, started by this process).
        self.trusted: set[str] = set()
        self._pinned: dict[str, str] = {}
        self._unknown: set[str] = set()
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._hourly = RateLimitItemPerHour(max(1, settings.unknown_charge_points_per_address_per_hour))
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def admit(self, connection: ServerConnection, request: Request, cp: str) -> Response | None:
        """None to go on with the handshake, else the refusal to send."""
        address = str(connection.remote_address[0]) if connection.remote_address else "-"
        stored = await call_registry(self.registry, "password_hash", cp) or self._pinned.get(cp)
        known = stored is not None or bool(await call_registry(self.registry, "is_known", cp, default=False))
        if self.settings.unknown_charge_points == "refuse" and not known:
            return await self._refuse(connection, cp, address, http.HTTPStatus.NOT_FOUND, "Unknown charge point")
        if self.settings.basic_auth or stored is not None or self.settings.charge_point_pinning:
            refused = await self._authenticate(connection, request, cp, address, stored)
            if refused is not None or known:
                return refused
        if not known and cp not in self.trusted:
            return await self._cap_unknown(connection, cp, address)
        return None

    async def _authenticate(self, connection: ServerConnection, request: Request, cp: str, address: str,
                            stored: str | None) -> Response | None:
        principal = f"cp:{cp}"
        try:
            self.throttle.check(address, principal)
        except Throttled as exc:
            metrics.RATE_LIMIT_REJECTIONS.labels("ocpp-auth").inc()
            response = connection.respond(http.HTTPStatus.TOO_MANY_REQUESTS, exc.message + "\n")
            response.headers["Retry-After"] = str(exc.retry_after_s)
            return response

        async def check(username: str, password: str) -> bool:
            ok = False
            if username == cp and password:
                if stored is not None:
                    ok = await asyncio.to_thread(verify_password, password, stored)
                elif self.settings.charge_point_pinning:
                    ok = await self._pin(cp, password)
            if not ok:
                metrics.AUTH_FAILURES.labels("ocpp").inc()
                self.throttle.failed(address, principal)
            return ok

        result = basic_auth(realm="chargelog OCPP", check_credentials=check)(connection, request)
        response = await result if inspect.isawaitable(result) else result
        if response is not None:
            if "Authorization" not in request.headers:  # no credentials: a failure too (or floods go unthrottled)
                self.throttle.failed(address, principal)
            await self._record(cp, address, int(response.status_code), "HTTP Basic authentication failed")
        return response

    async def _pin(self, cp: str, password: str) -> bool:
        """Trust on first use: store ``password`` as ``cp``'s (True), unless another
        connection pinned it meanwhile (then: does ``password`` match that one)."""
        pinned = self._pinned.get(cp)
        if pinned is not None:
            return await asyncio.to_thread(verify_password, password, pinned)
        digest = await asyncio.to_thread(hash_password, password)
        if cp in self._pinned:
            return await asyncio.to_thread(verify_password, password, self._pinned[cp])
        self._pinned[cp] = digest
        await self.append([password_set(cp, digest)])
        return True

    async def _cap_unknown(self, connection: ServerConnection, cp: str, address: str) -> Response | None:
        connected = self.connected()
        self._unknown &= connected
        if cp not in self._unknown and len(self._unknown) >= self.settings.unknown_charge_points_max:
            return await self._refuse(connection, cp, address, http.HTTPStatus.SERVICE_UNAVAILABLE,
                                      "Too many unregistered charge points connected")
        now = time.monotonic()
        while self._seen and (next(iter(self._seen.values())) < now - _HOUR_S or len(self._seen) > _SEEN_MAX):
            self._seen.popitem(last=False)
        if (address, cp) not in self._seen:
            allowed = (self.settings.unknown_charge_points_per_address_per_hour > 0
                       and self._limiter.hit(self._hourly, "unknown", address))
            if not allowed:
                return await self._refuse(connection, cp, address, http.HTTPStatus.TOO_MANY_REQUESTS,
                                          "Too many unregistered charge points from this address; register them")
        self._seen[(address, cp)] = now
        self._seen.move_to_end((address, cp))
        self._unknown.add(cp)
        return None

    async def _refuse(self, connection: ServerConnection, cp: str, address: str, status: http.HTTPStatus,
                      reason: str) -> Response:
        await self._record(cp, address, int(status), reason)
        return connection.respond(status, reason + "\n")

    async def _record(self, cp: str, address: str, status: int, reason: str) -> None:
        """Append the refusal; a log failure is logged and the refusal still answered."""
        try:
            await self.append([Event(type=REFUSED, chargePointId=cp, source=Source.OCPP, payload={
                "remoteAddress": address, "status": status, "reason": reason})])
        except Exception as exc:  # noqa: BLE001 - the handshake is refused either way
            logger.warning("%s: could not record a refused connection (%s)", cp, type(exc).__name__)
