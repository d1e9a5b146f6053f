"""What the gateway needs from the registries (implemented by ``chargelog.adapters.registry``;
the in-memory :class:`MemoryRegistry` here serves tests and the stand-alone runner).

One ``registry`` object may implement any subset; the gateway looks each method up by name
and treats a missing method as "nothing registered". Methods may be plain or ``async``.

* :class:`IdTagLookup` — ``lookup(id_tag) -> IdTagInfo | None`` (OCPP 1.6 §7.18 IdTagInfo
  plus the owning ``userId``), for ``id_tag_policy = "registry"``.
* :class:`ChargePointCredentials` — ``password_hash(charge_point_id) -> str | None`` in the
  :mod:`chargelog.domain.registry` scrypt format, for security profile 1.
* :class:`ChargePointDirectory` — ``is_known(charge_point_id) -> bool``, for
  ``unknown_charge_points = "refuse"`` and ``registration_policy = "registry"``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

from chargelog.domain.registry import hash_password

T = TypeVar("T")


@dataclass(frozen=True)
class IdTagInfo:
    """An id tag's registry entry. ``status``: OCPP 1.6 AuthorizationStatus (Accepted,
    Blocked, Expired, Invalid, ConcurrentTx); ``expiryDate``: aware UTC datetime or None;
    ``parentIdTag``: group id tag or None; ``userId``: the owning user (not sent to the
    charge point)."""

    status: str = "Accepted"
    expiryDate: datetime | None = None
    parentIdTag: str | None = None
    userId: str | None = None


@runtime_checkable
class IdTagLookup(Protocol):
    def lookup(self, id_tag: str) -> IdTagInfo | None | Awaitable[IdTagInfo | None]: ...


@runtime_checkable
class ChargePointCredentials(Protocol):
    def password_hash(self, charge_point_id: str) -> str | None | Awaitable[str | None]: ...


@runtime_checkable
class ChargePointDirectory(Protocol):
    def is_known(self, charge_point_id: str) -> bool | Awaitable[bool]: ...


async def maybe_await(value: T | Awaitable[T]) -> T:
    """``value``, awaited when it is awaitable (registry methods may be either)."""
    if inspect.isawaitable(value):
        return await value
    return value  # type: ignore[return-value]


async def call_registry(registry: Any, method: str, *args: Any, default: Any = None) -> Any:
    """``registry.method(*args)`` (awaited if needed), or ``default`` when the registry is
    None or lacks the method."""
    fn = getattr(registry, method, None) if registry is not None else None
    if fn is None:
        return default
    return await maybe_await(fn(*args))


@dataclass
class MemoryRegistry:
    """In-memory id tags, charge points and password hashes (tests, the stand-alone runner)."""

    id_tags: dict[str, IdTagInfo] = field(default_factory=dict)
    charge_points: set[str] = field(default_factory=set)
    password_hashes: dict[str, str] = field(default_factory=dict)

    def lookup(self, id_tag: str) -> IdTagInfo | None:
        return self.id_tags.get(id_tag)

    def password_hash(self, charge_point_id: str) -> str | None:
        return self.password_hashes.get(charge_point_id)

    def is_known(self, charge_point_id: str) -> bool:
        return charge_point_id in self.charge_points

    def set_password(self, charge_point_id: str, password: str) -> None:
        """Register ``charge_point_id`` with ``password`` (stored hashed)."""
        self.charge_points.add(charge_point_id)
        self.password_hashes[charge_point_id] = hash_password(password)
