"""Readiness and metrics of one process, whatever roles it runs (DESIGN.md, "Scale": every
role recovers by itself; Kubernetes uses ``/health`` for liveness and ``/ready`` for
readiness, infra/k8s/).

* ``/health`` — alive: the process answers (the client API's and the gateway's own pages add
  their details);
* ``/ready`` — JSON ``{"ready": bool, "log": {...}, "consumers": {name: {"stream", "lag"
  (events; null when the log did not answer), "positions"}}, "quarantined": {consumer: unseen
  count}, "reasons": [str]}``; 200 when the log
  answers within :data:`LOG_TIMEOUT_S`, every consumer is at most
  ``Settings.ready_max_lag_events`` behind the log's end and no quarantined event is
  unacknowledged (:func:`chargelog.adapters.metrics.acknowledge_quarantine`), else 503;
* ``/metrics`` — Prometheus text (:mod:`chargelog.adapters.metrics`), consumers refreshed first.

A consumer is anything with a ``name``, a ``stream`` and ``positions()`` → next offset per
partition it reads (:class:`FoldConsumer` wraps a projection runner's folds, :class:`HubConsumer`
the API's domain hub).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chargelog.domain.log import EventLog

from . import metrics

#: How long ``/ready`` waits for the log's end positions (s).
LOG_TIMEOUT_S = 3.0


class Consumer(Protocol):
    name: str
    stream: str
    #: True when it reads every partition of its stream (lag counts all of them), False when
    #: only those in ``positions()`` (a consumer-group member's share).
    all_partitions: bool

    def positions(self) -> dict[int, int] | None:
        """Next offset per partition read; None while not started."""
        ...


@dataclass
class FoldConsumer:
    """One fold of a projection runner (``FoldRunner``): the folds' ``positions`` and the
    runner's ``owned`` partitions (None = every partition)."""

    name: str
    stream: str
    runner: Any
    fold: Any

    @property
    def all_partitions(self) -> bool:
        return getattr(self.runner, "owned", None) is None

    def positions(self) -> dict[int, int] | None:
        owned = getattr(self.runner, "owned", None)
        positions = dict(getattr(self.fold, "positions", {}))
        return positions if owned is None else {p: positions.get(p, 0) for p in owned}


@dataclass
class HubConsumer:
    """The client API's live tail of the domain stream."""

    hub: Any
    name: str = "api-hub"
    stream: str = "domain"
    all_partitions: bool = True

    def positions(self) -> dict[int, int] | None:
        return dict(self.hub.position.offsets) if self.hub.running else None


def runner_consumers(prefix: str, runner: Any) -> list[Consumer]:
    """A consumer per fold of a ``FoldRunner`` (named ``{prefix}.{fold name}``)."""
    if runner is None:
        return []
    return [FoldConsumer(f"{prefix}.{fold.name}", runner.stream, runner, fold) for fold in runner.folds]


@dataclass
class Readiness:
    """The checks behind ``/ready`` and the consumer gauges of ``/metrics``. ``consumers``
    is called at each check (roles start after the routes are built)."""

    log: EventLog
    max_lag_events: int
    consumers: Callable[[], list[Consumer]] = field(default=lambda: [])
    #: the quarantined records of this process's folds (``quarantine_summary`` entries)
    quarantined: Callable[[], list[dict[str, Any]]] = field(default=lambda: [])

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """(ready, the ``/ready`` body)."""
        reasons: list[str] = []
        body: dict[str, Any] = {"log": {"ok": True}, "consumers": {}, "quarantined": {}}
        ends: dict[str, dict[int, int]] = {}
        try:
            async with asyncio.timeout(LOG_TIMEOUT_S):
                for stream in {c.stream for c in self.consumers()} | {"source"}:
                    ends[stream] = dict((await self.log.latest(stream)).offsets)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            body["log"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            reasons.append("log unreachable")
        for consumer in self.consumers():
            positions = consumer.positions()
            if positions is None:
                reasons.append(f"{consumer.name} not started")
                continue
            if consumer.stream not in ends:  # the log did not answer: positions only
                body["consumers"][consumer.name] = {"stream": consumer.stream, "lag": None,
                                                    "positions": {str(p): o for p, o in positions.items()}}
                continue
            end = ends[consumer.stream]
            held = end if consumer.all_partitions else {p: end.get(p, 0) for p in positions}
            lag = metrics.observe_consumer(consumer.name, consumer.stream, positions, held)
            body["consumers"][consumer.name] = {"stream": consumer.stream, "lag": lag,
                                                "positions": {str(p): o for p, o in positions.items()}}
            if lag > self.max_lag_events:
                reasons.append(f"{consumer.name} is {lag} events behind (bound {self.max_lag_events})")
        counts: dict[str, int] = {}
        for entry in self.quarantined():
            counts[str(entry.get("consumer"))] = counts.get(str(entry.get("consumer")), 0) + 1
        for consumer in set(counts) | set(metrics.unseen_quarantined()):
            metrics.set_quarantined(consumer, counts.get(consumer, 0))
        unseen = metrics.unseen_quarantined()
        body["quarantined"] = unseen
        if unseen:
            reasons.append(f"quarantined events not yet acknowledged: {unseen}")
        body["ready"] = not reasons
        body["reasons"] = reasons
        return not reasons, body


def ops_routes(readiness: Readiness, *, extra_metrics: Callable[[], bytes] | None = None,
               authorize: Callable[[Request], Awaitable[Any]] | None = None) -> list[Route]:
    """``/ready`` and ``/metrics`` (``extra_metrics()``: more exposition text, e.g. the
    gateway's own registry when it runs in this process) and, with ``authorize`` (raises 401
    / 403 unless the caller is an operator), ``POST /ready/acknowledge-quarantine`` → 200
    ``{"acknowledged": {consumer: count}}``: ``/ready`` passes again until more is quarantined."""

    async def ready(_: Request) -> JSONResponse:
        ok, body = await readiness.check()
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_page(_: Request) -> Response:
        await readiness.check()  # refreshes the consumer gauges
        text = metrics.exposition() + (extra_metrics() if extra_metrics is not None else b"")
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def acknowledge(request: Request) -> JSONResponse:
        assert authorize is not None
        await authorize(request)
        await readiness.check()
        unseen = metrics.unseen_quarantined()
        metrics.acknowledge_quarantine()
        return JSONResponse({"acknowledged": unseen})

    routes = [Route("/ready", ready, methods=["GET"]), Route("/metrics", metrics_page, methods=["GET"])]
    if authorize is not None:
        routes.append(Route("/ready/acknowledge-quarantine", acknowledge, methods=["POST"]))
    return routes


def ops_app(readiness: Readiness) -> Any:
    """A Starlette app with ``/health``, ``/ready`` and ``/metrics`` alone, for a process that
    serves neither the API nor the gateway (``Settings.ops_port``)."""
    from starlette.applications import Starlette

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/health", health, methods=["GET"]), *ops_routes(readiness)])
