"""How the folds are doing, for ``/health``, ``/metrics`` and ``chargelog projections status``.

Metrics (``prometheus_client``, in :data:`PROJECTION_METRICS`, served with the gateway's
``/metrics``):

* ``chargelog_projection_quarantined_events_total{consumer}`` — records whose fold raised
  (a defect) and were quarantined by this process;
* ``chargelog_projection_quarantine_size{consumer}`` — records quarantined now (set by
  :func:`quarantine_summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

PROJECTION_METRICS = CollectorRegistry()
QUARANTINED = Counter("chargelog_projection_quarantined_events", "Records quarantined because a fold raised",
                      ["consumer"], registry=PROJECTION_METRICS)
QUARANTINE_SIZE = Gauge("chargelog_projection_quarantine_size", "Records quarantined now",
                        ["consumer"], registry=PROJECTION_METRICS)


class HasQuarantine(Protocol):
    name: str
    quarantined: dict[str, dict[str, Any]]


def quarantine_summary(folds: Iterable[HasQuarantine]) -> list[dict[str, Any]]:
    """Every quarantined record of ``folds`` (each: ``consumer``, ``stream``, ``partition``,
    ``offset``, ``position``, ``eventId``, ``type``, ``chargePointId``, ``error``), ordered by
    consumer, partition, offset; updates the size gauge."""
    entries: list[dict[str, Any]] = []
    seen: set[int] = set()
    for fold in folds:
        if id(fold) in seen:
            continue
        seen.add(id(fold))
        QUARANTINE_SIZE.labels(fold.name).set(len(fold.quarantined))
        entries.extend(fold.quarantined[key] for key in sorted(fold.quarantined))
    return entries


def exposition() -> bytes:
    """The projection metrics in the Prometheus text format."""
    return generate_latest(PROJECTION_METRICS)
