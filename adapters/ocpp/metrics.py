"""Health and Prometheus metrics of one gateway (the TODO list of
../shared/specs/ocpp-websocket-service.md: "health check", "metrics"), served on the OCPP
port itself to plain HTTP GETs (no WebSocket upgrade): ``/health`` and ``/metrics``.

Metrics (``prometheus_client``, one registry per gateway):

* ``chargelog_ocpp_frames_total{direction,message_type}`` — frames recorded (in/out;
  call/callresult/callerror/invalid);
* ``chargelog_ocpp_connections`` — open charge-point connections;
* ``chargelog_ocpp_connection_events_total{event}`` — opened/closed/replaced/offline;
* ``chargelog_ocpp_commands_total{outcome}`` — commands executed here, by outcome;
* ``chargelog_ocpp_ack_seconds`` — CALL received → its CALLRESULT durable and sent (s).
* ``chargelog_ocpp_log_unavailable_total{outcome}`` — what the log being down cost:
  ``refused`` (an upgrade answered 503), ``closed`` (a connection closed with 1011 because
  its frame or its opening was not durable within ``durable_timeout_s``);
* ``chargelog_ocpp_log_degraded`` — 1 while the gateway reports the log unavailable;

and the process's projection metrics (``chargelog_projection_quarantined_events_total`` …).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chargelog.adapters import metrics as process_metrics

MESSAGE_TYPES = {2: "call", 3: "callresult", 4: "callerror"}


class GatewayMetrics:
    """The gateway's instruments in their own registry (several gateways per process work)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._frame_children: dict[tuple[str, int | None], Any] = {}
        self.frames = Counter("chargelog_ocpp_frames", "OCPP-J frames recorded",
                              ["direction", "message_type"], registry=self.registry)
        self.connections = Gauge("chargelog_ocpp_connections", "Open charge-point connections",
                                 registry=self.registry)
        self.connection_events = Counter("chargelog_ocpp_connection_events", "Connection events",
                                         ["event"], registry=self.registry)
        self.commands = Counter("chargelog_ocpp_commands", "Commands executed, by outcome",
                                ["outcome"], registry=self.registry)
        self.log_unavailable = Counter("chargelog_ocpp_log_unavailable",
                                       "Upgrades refused / connections closed because the log was down",
                                       ["outcome"], registry=self.registry)
        self.log_degraded = Gauge("chargelog_ocpp_log_degraded", "1 while the event log is unavailable",
                                  registry=self.registry)
        self.ack_seconds = Histogram("chargelog_ocpp_ack_seconds",
                                     "CALL received to CALLRESULT durable and sent (s)",
                                     buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5),
                                     registry=self.registry)

    def frame(self, direction: str, message_type_id: int | None) -> None:
        key = (direction, message_type_id)
        child = self._frame_children.get(key)
        if child is None:
            child = self._frame_children[key] = self.frames.labels(
                direction, MESSAGE_TYPES.get(message_type_id or 0, "invalid"))
        child.inc()

    def exposition(self) -> bytes:
        """The Prometheus text format: this gateway's instruments and the process-wide ones
        (:mod:`chargelog.adapters.metrics`, with the projection metrics of this process)."""
        return generate_latest(self.registry) + process_metrics.exposition()

    def own_exposition(self) -> bytes:
        """This gateway's instruments alone."""
        return generate_latest(self.registry)
