"""Every process-wide Prometheus metric of chargelog, defined once (names per the Prometheus
conventions: ``chargelog_`` prefix, base units in the name — seconds, events — and ``_total``
on counters; prometheus_client adds ``_total``, ``_bucket``/``_sum``/``_count``).

All live in :data:`REGISTRY` together with the process (CPU s, resident memory bytes, open
fds), platform and Python GC collectors; every role serves it at ``/metrics`` on its port
(the gateway adds its own ``chargelog_ocpp_*`` registry, :mod:`chargelog.adapters.ocpp.metrics`).
Other modules feed them through the small functions below, so instruments are never
redefined (a second definition raises ``ValueError: Duplicated timeseries``).

Log:
* ``chargelog_log_append_seconds{engine,stream}`` — one ``append`` call: queued + written
  durable (s), as the caller waits for it;
* ``chargelog_log_write_seconds{engine,stream}`` / ``chargelog_log_write_batch_events{engine,stream}``
  — one group-committed write to the engine (s) and its size (events).

Consumers (refreshed at each scrape by :func:`observe_consumer`):
* ``chargelog_consumer_position{consumer,stream,partition}`` — next offset the consumer reads;
* ``chargelog_consumer_lag_events{consumer,stream}`` — records in the log it has not folded yet;
* quarantined records: ``chargelog_projection_quarantined_events_total`` and
  ``chargelog_projection_quarantine_size`` of :mod:`chargelog.projections.health`, served with
  these; :func:`set_quarantined` keeps the counts ``/ready`` compares with what an operator
  acknowledged (:func:`acknowledge_quarantine`).

Client API:
* ``chargelog_api_hub_subscribers`` — live catch-up subscriptions on the domain hub;
* ``chargelog_api_push_latency_seconds`` — event ``recordedAt`` → pushed to the subscriber's
  socket (live pushes; replays excluded);
* ``chargelog_api_connections{dialect}`` — open client WebSocket connections per dialect;
* ``chargelog_command_outcomes_total{action,outcome}`` — command outcomes seen on the domain
  stream (accepted, rejected, failed, timed_out).

Security (per surface: ``ocpp``, ``api``, or a rate limiter's name):
* ``chargelog_auth_failures_total{surface}`` — refused credentials;
* ``chargelog_rate_limit_rejections_total{surface}`` — requests refused by a rate limit.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import (CollectorRegistry, Counter, Gauge, GCCollector, Histogram, PlatformCollector,
                               ProcessCollector, generate_latest)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

#: Latency buckets (s) from 1 ms to 10 s.
SECONDS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
#: Batch-size buckets (events).
EVENTS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

LOG_APPEND_SECONDS = Histogram("chargelog_log_append_seconds", "One append call, queued to durable (s)",
                               ["engine", "stream"], buckets=SECONDS, registry=REGISTRY)
LOG_WRITE_SECONDS = Histogram("chargelog_log_write_seconds", "One group-committed engine write (s)",
                              ["engine", "stream"], buckets=SECONDS, registry=REGISTRY)
LOG_WRITE_BATCH_EVENTS = Histogram("chargelog_log_write_batch_events", "Events per group-committed engine write",
                                   ["engine", "stream"], buckets=EVENTS, registry=REGISTRY)
CONSUMER_POSITION = Gauge("chargelog_consumer_position", "Next log offset the consumer reads, per partition",
                          ["consumer", "stream", "partition"], registry=REGISTRY)
CONSUMER_LAG = Gauge("chargelog_consumer_lag_events", "Records in the log the consumer has not folded yet",
                     ["consumer", "stream"], registry=REGISTRY)
HUB_SUBSCRIBERS = Gauge("chargelog_api_hub_subscribers", "Live catch-up subscriptions on the API's domain hub",
                        registry=REGISTRY)
PUSH_LATENCY = Histogram("chargelog_api_push_latency_seconds", "Event recordedAt to pushed on the socket (s)",
                         buckets=SECONDS, registry=REGISTRY)
API_CONNECTIONS = Gauge("chargelog_api_connections", "Open client WebSocket connections", ["dialect"],
                        registry=REGISTRY)
COMMAND_OUTCOMES = Counter("chargelog_command_outcomes", "Command outcomes on the domain stream",
                           ["action", "outcome"], registry=REGISTRY)
AUTH_FAILURES = Counter("chargelog_auth_failures", "Refused credentials", ["surface"], registry=REGISTRY)
RATE_LIMIT_REJECTIONS = Counter("chargelog_rate_limit_rejections", "Requests refused by a rate limit",
                                ["surface"], registry=REGISTRY)

#: Quarantined events per consumer as last reported, and how many an operator has seen.
_quarantined: dict[str, int] = {}
_quarantine_seen: dict[str, int] = {}


def log_labels(name: str) -> tuple[str, str]:
    """(engine, stream) from a group commit's name ``"{engine}:{stream}"``."""
    engine, _, stream = name.partition(":")
    return engine or "unknown", stream or "unknown"


def observe_push(recorded_at: datetime | None, now_s: float) -> None:
    """A live push reached its subscriber's socket at ``now_s`` (epoch seconds; taken once
    for a batch of pushes written in the same event-loop turn)."""
    if recorded_at is not None:
        PUSH_LATENCY.observe(max(0.0, now_s - recorded_at.timestamp()))


def observe_consumer(consumer: str, stream: str, positions: dict[int, int], ends: dict[int, int]) -> int:
    """Set a consumer's positions (next offset per partition) and its lag against ``ends``
    (the log's end per partition it reads); returns the lag (events)."""
    lag = 0
    for partition, end in ends.items():
        at = positions.get(partition, 0)
        CONSUMER_POSITION.labels(consumer, stream, str(partition)).set(at)
        lag += max(0, end - at)
    CONSUMER_LAG.labels(consumer, stream).set(lag)
    return lag


def set_quarantined(consumer: str, count: int) -> None:
    """``count`` records of ``consumer`` are quarantined now (from
    :func:`chargelog.projections.health.quarantine_summary`)."""
    _quarantined[consumer] = count
    if count < _quarantine_seen.get(consumer, 0):  # released or rebuilt: what is new is unseen
        _quarantine_seen[consumer] = count


def acknowledge_quarantine() -> None:
    """An operator has seen every quarantined event so far (``/ready`` passes again)."""
    _quarantine_seen.update(_quarantined)


def unseen_quarantined() -> dict[str, int]:
    """Consumers with quarantined events no operator has acknowledged: consumer → count."""
    return {c: n - _quarantine_seen.get(c, 0) for c, n in _quarantined.items() if n > _quarantine_seen.get(c, 0)}


def exposition() -> bytes:
    """The Prometheus text format of :data:`REGISTRY` and the projection metrics."""
    from chargelog.projections.health import exposition as projection_exposition

    return generate_latest(REGISTRY) + projection_exposition()
