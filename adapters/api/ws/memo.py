"""Bounded memos for the text a codec builds once and hands to many sockets (a push's frame,
an event's data, a station's JSON): keyed by a value (an eventId) or by an object's identity.

``functools.lru_cache`` does not fit: it keys by equality, so it needs hashable arguments
(read-model views and Records are not all hashable) and would hold an equal but different
object's result; cachetools' FIFOCache fits :class:`FifoMemo` but runs its lookups in
Python on the per-subscriber path, where this one is an ``OrderedDict`` lookup.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


class FifoMemo(OrderedDict[K, V]):
    """Values by key, at most ``size`` of them: past that the oldest entry (first stored, a
    hit does not refresh it) is dropped."""

    def __init__(self, size: int = sys.maxsize) -> None:
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` (a stored key keeps its place); returns ``value``."""
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value stored under ``key``, else ``build()`` stored there."""
        try:
            return self[key]
        except KeyError:
            pass
        return self.put(key, build())


class IdentityMemo(Generic[T, V]):
    """``build(obj, variant)`` memoised on the object's identity — keyed by ``id(obj)``, or
    ``(id(obj), variant)`` when a variant is given — each value kept beside its object, so a
    new object that reuses a dropped one's id is never given the old value; at most ``size``
    entries, the oldest dropped first (:class:`FifoMemo`)."""

    def __init__(self, build: Callable[[T, Any], V], size: int = sys.maxsize) -> None:
        self._build = build
        self._memo: FifoMemo[Hashable, tuple[T, V]] = FifoMemo(size)

    def __len__(self) -> int:
        return len(self._memo)

    def get(self, obj: T, variant: Hashable = None) -> V:
        """The value built for this very ``obj`` and ``variant``, else ``build(obj, variant)``."""
        key = id(obj) if variant is None else (id(obj), variant)
        hit = self._memo.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        return self._memo.put(key, (obj, self._build(obj, variant)))[1]

    def get_all(self, objs: Iterable[T]) -> list[V]:
        """:meth:`get` of each of ``objs`` (no variant), in order; a hit costs no call."""
        memo = self._memo
        return [hit[1] if (hit := memo.get(id(obj))) is not None and hit[0] is obj else self.get(obj) for obj in objs]

    def retain(self, objs: Iterable[T]) -> None:
        """Drop the entries of every object not among ``objs``."""
        keep = {id(obj) for obj in objs}
        memo = self._memo
        for key in [key for key, (obj, _) in memo.items() if id(obj) not in keep]:
            del memo[key]
