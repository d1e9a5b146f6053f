"""The fold (translator + read-model projections) of ``chargelog serve`` in a process of its
own (docs/deploy.md, "Processes"): :func:`fold_child` is the supervised child
(:class:`~chargelog.adapters.child_process.ServeChild`) running the ``projections`` role, and
:class:`StoredFold` shows its progress and quarantine (committed in the read-model store) in
the parent's ``/ready``, ``/metrics`` and ``/health``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from chargelog.adapters.child_process import ServeChild
from chargelog.adapters.config import Settings
from chargelog.domain.log import SOURCE


def fold_child(settings: Settings, log_level: str) -> ServeChild:
    """The child process running ``settings``' projections role (translator, projections,
    stale-transaction sweep) over the same log and read-model store."""
    return ServeChild(settings.model_copy(update={"roles": ["projections"], "registry_file": None, "simulate": 0}),
                      log_level, "fold", "translator, projections")


class StoredFold:
    """The child's folds as the parent sees them: their positions and quarantined records as
    committed in the read-model store (``store``: a :class:`ReadModelStore`, read only).

    ``consumers()`` are ``/ready`` and ``/metrics`` consumers named as in one process
    (``translator.translator``, ``projection.{name}`` on each projection's own stream);
    ``quarantine_sources`` report, for ``/health``, the folds the parent does not run itself:
    the translator and the ``source`` projections (the parent's read models report the
    ``domain`` projections' quarantine themselves: they fold the same records with the same
    code)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._positions: dict[str, dict[int, int]] = {}
        self._read_at = -1.0
        from chargelog.projections.runner import read_model_folds

        self._folds = read_model_folds()
        self.quarantine_sources = [_StoredQuarantine(store, name) for name in
                                   ("translator", *(f.name for f in self._folds if f.stream == SOURCE))]

    def positions(self, name: str) -> dict[int, int]:
        """Fold ``name``'s committed positions (re-read at most every 0.2 s)."""
        now = time.monotonic()
        if now - self._read_at > 0.2:
            self._positions = self.store.positions()
            self._read_at = now
        return dict(self._positions.get(name, {}))

    def consumers(self) -> list[Any]:
        return [_StoredConsumer(self, "translator.translator", SOURCE, "translator"),
                *(_StoredConsumer(self, f"projection.{f.name}", f.stream, f.name) for f in self._folds)]

    def close(self) -> None:
        self.store.close()


class _StoredConsumer:
    all_partitions = True

    def __init__(self, fold: StoredFold, name: str, stream: str, fold_name: str) -> None:
        self.name, self.stream, self._fold, self._fold_name = name, stream, fold, fold_name

    def positions(self) -> dict[int, int]:
        return self._fold.positions(self._fold_name)


class _StoredQuarantine:
    """``name`` and ``quarantined`` (key → entry) of one fold, read from the store."""

    def __init__(self, store: Any, name: str) -> None:
        self.store, self.name = store, name

    @property
    def quarantined(self) -> dict[str, dict[str, Any]]:
        from chargelog.projections.base import quarantine_name

        return {key: json.loads(value) for key, _, value in self.store.load(quarantine_name(self.name))[1]}
