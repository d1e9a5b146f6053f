"""The appender's side of the hash chain (:mod:`chargelog.domain.chain`): the last link of
each charge point's chain for one writer of one stream, and the sealing of a batch.

Both engines call it at their single write point per stream (the group-commit writer), so
links are assigned in the order the events are written. A batch's links become the heads
only when the write succeeded (:meth:`SealBatch.commit`); after a failed write the embedded
engine forgets its heads (they are re-read from the file: the transaction rolled back) and
the Kafka engine starts new chains under a new writer id (some records of a failed send may
have been written: their chain just ends there, and nothing is linked to a record that might
not exist).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chargelog.domain.chain import GENESIS, seal
from chargelog.domain.envelope import Event

#: ``load(chargePointId) -> (seq, hash)``: the last link of that charge point's chain as
#: written (``(0, GENESIS)`` when it has none).
LoadHead = Callable[[str], tuple[int, bytes]]


def _no_history(_: str) -> tuple[int, bytes]:
    return 0, GENESIS


class ChainSealer:
    """Heads (``chargePointId`` → (seq, hash)) of ``writer``'s chains on one stream; ``load``
    fetches a head not yet known (the embedded engine reads its file; Kafka writers start new
    chains)."""

    def __init__(self, writer: str, load: LoadHead = _no_history) -> None:
        self.writer = writer
        self._load = load
        self._heads: dict[str, tuple[int, bytes]] = {}

    def batch(self) -> SealBatch:
        """A batch to seal events into, in write order."""
        return SealBatch(self)

    def forget(self, writer: str | None = None) -> None:
        """Drop the known heads (re-loaded on next use); with ``writer``, continue as that writer."""
        self._heads.clear()
        if writer is not None:
            self.writer = writer

    def drop(self, charge_point_ids: Iterable[str]) -> None:
        """Forget these charge points' heads (re-loaded on next use): another process of the
        same writer extended their chains."""
        for key in charge_point_ids:
            self._heads.pop(key, None)


class SealBatch:
    """Seals events of one write; :meth:`commit` once the write is durable."""

    def __init__(self, sealer: ChainSealer) -> None:
        self._sealer = sealer
        self._heads: dict[str, tuple[int, bytes]] = {}

    def seal(self, event: Event) -> tuple[bytes, int]:
        """(the bytes to store, the link's seq) for ``event`` (its ``chain`` must be None:
        the engine copies it with ``chain=None`` when it sets ``recordedAt``)."""
        key = event.chargePointId
        head = self._heads.get(key) or self._sealer._heads.get(key)
        if head is None:
            head = self._sealer._load(key)
        seq = head[0] + 1
        stored, digest = seal(event.encode(), self._sealer.writer, seq, head[1])
        self._heads[key] = (seq, digest)
        return stored, seq

    def commit(self) -> None:
        """The write succeeded: this batch's last links are the heads."""
        self._sealer._heads.update(self._heads)
