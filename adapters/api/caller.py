"""Who is calling the client API, and the errors every dialect maps to its own format.

Scopes (mobile-websocket-api.md section 2): ``read:stations`` (station map and
connector status), ``write:charging`` (start/stop), ``admin`` (everything, every user's data,
operator routes), ``audit`` (read-only: the audit timelines of any transaction, command or
charge point, ``GET /api/audit/…``, docs/audit.md; and the web console, without commands).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from chargelog.domain.envelope import Principal

READ_STATIONS = "read:stations"
WRITE_CHARGING = "write:charging"
ADMIN = "admin"
AUDIT = "audit"
#: Every scope a key or token may carry.
SCOPES: frozenset[str] = frozenset({READ_STATIONS, WRITE_CHARGING, ADMIN, AUDIT})
#: Scopes of a JWT that carries no ``scopes`` claim.
DEFAULT_JWT_SCOPES: frozenset[str] = frozenset({READ_STATIONS, WRITE_CHARGING})

ErrorKind = Literal["bad_request", "unauthorized", "forbidden", "not_found", "offline",
                    "rejected", "timeout", "internal", "rate_limited"]


@dataclass(frozen=True)
class Caller:
    """An authenticated client: ``userId`` (the owning user), ``scopes``, ``via`` ("jwt" or
    "apikey") and ``keyId`` (the API key's public id; never its secret)."""

    userId: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    via: str = "jwt"
    keyId: str | None = None

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.scopes

    def has(self, scope: str) -> bool:
        """True when the caller holds ``scope`` (``admin`` holds every scope)."""
        return scope in self.scopes or self.is_admin

    @property
    def principal(self) -> Principal:
        """The principal recorded on the events this caller causes: the user (DESIGN.md,
        "the acting principal"); the key id is never the secret."""
        return Principal(kind="user", id=self.userId)


class CoreError(Exception):
    """A refusal every dialect renders in its own error format.

    ``kind``: bad_request (400), unauthorized (401), forbidden (403), not_found (404),
    offline / rejected / timeout (a command's outcome), internal (500), rate_limited (429:
    too many failed authentications, :class:`~.throttle.Throttled`). ``correlationId``
    names the command concerned, when there is one.
    """

    def __init__(self, kind: ErrorKind, message: str, correlationId: str | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.correlationId = correlationId

    def __repr__(self) -> str:
        return f"CoreError({self.kind!r}, {self.message!r})"
