"""The OCPP 1.6-J gateway: a ``websockets`` server that charge points connect to at
``ws[s]://HOST:PORT{ocpp_path_prefix}/{chargePointId}`` (or ``/{chargePointId}``) with
subprotocol ``ocpp1.6`` (../shared/specs/ocpp-websocket-service.md).

* Handshake (``process_request``): unknown path → 404; then :class:`~.admission.Admission`
  (unknown charge points, HTTP Basic auth of security profile 1 — required for every charge
  point that has a password —, pinning, throttling, the cap on unregistered ids); no
  ``ocpp1.6`` offered → 400 (``websockets`` subprotocol negotiation). ``tls_cert`` /
  ``tls_key`` → wss:// (profile 2).
* Connection events on ``source``: ``ocpp.connection.opened`` (with ``connectionId``), and
  exactly one end per connection: ``closed`` (code, reason), ``replaced`` (a newer
  connection of the same chargePointId took over, here or at another gateway) or
  ``offline`` (no frame for ``heartbeat_interval_s × offline_after_heartbeats`` s; the
  socket is then closed). End events go through an :class:`~chargelog.adapters.log.outbox.Outbox`:
  queued and retried while the log is down; what is still unwritten when the process ends
  is closed out by the next start of this gateway id ("gateway restarted").
* While the log is down (docs/ocpp.md, "While the log is down"): a CALL whose events are
  not durable within ``durable_timeout_s`` is not answered — the connection is closed with
  1011 so the charge point queues and resends (OCPP 1.6 "Transaction-Related Messages");
  new connections are refused with HTTP 503 on the upgrade; ``/health`` says ``degraded``
  with the reason.
* Commands: the gateway follows ``source`` from its position at start; a
  ``command.requested`` for a charge point it holds is executed here; for one nobody holds,
  the one gateway :class:`~.presence.Presence` names appends ``command.failed`` "offline".
* ``stop()``: stop accepting, let in-flight frames finish (their answers are sent), close
  sockets with 1001, record the end events and ``ocpp.gateway.stopped`` — all within the
  given deadline, logging what could not be written.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chargelog.adapters import logs
from chargelog.adapters.config import Settings
from chargelog.domain.envelope import Event, Source
from chargelog.adapters.log.follow import follow
from chargelog.adapters.log.outbox import Outbox, describe
from chargelog.domain.log import SOURCE, START, EventLog, LogUnavailable, Position

from . import presence as pr
from . import tls
from .commands import REQUESTED, command_failed_event
from .admission import Admission
from .connection import received_messages
from .frames import OVERSIZE_FACTOR
from .handlers import CentralSystemConnection
from .metrics import GatewayMetrics
from .tasks import cancel_and_wait
from .txids import TransactionIds

logger = logging.getLogger("chargelog.ocpp")

SUBPROTOCOL = "ocpp1.6"
#: Longest chargePointId accepted in the URL (OCPP 1.6 chargeBoxIdentity is CiString(48)... we allow 64).
MAX_ID_LENGTH = 64
#: Longest a graceful stop waits for in-flight frames before closing the sockets (s).
DRAIN_S = 5.0
#: Longest a graceful stop waits for the sockets' closing handshakes (s).
CLOSE_S = 2.0


class NotDurable(LogUnavailable):
    """Events were not durable within ``durable_timeout_s`` (the log is down or too slow)."""


class OcppGateway:
    """See the module docstring. ``registry``: any object with the methods of
    :mod:`.ports` (``lookup``, ``password_hash``, ``is_known``), or None."""

    def __init__(self, log: EventLog, settings: Settings, registry: Any = None) -> None:
        self.log = log
        self.settings = settings
        self.registry = registry
        self.gateway_id = settings.gateway_id or f"{socket.gethostname()}:{os.getpid()}"
        self.txids = TransactionIds(log, self.gateway_id)
        self.presence = pr.Presence()
        self.metrics = GatewayMetrics()
        #: ``/ready`` on the OCPP port: a :class:`chargelog.adapters.ops.Readiness` (set by the runtime)
        self.readiness: Any = None
        self.admission = Admission(settings, registry, self.append, lambda: set(self._connections))
        self._connections: dict[str, CentralSystemConnection] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._follower: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._ends = Outbox(self._append_unbounded, name=f"gateway {self.gateway_id} end events",
                            on_written=self._log_recovered)
        self._log_error: str | None = None  # why the last bounded append failed, until one succeeds

    # -- public ---------------------------------------------------------------------------

    @property
    def connected(self) -> set[str]:
        """chargePointIds with an open connection to this gateway."""
        return set(self._connections)

    @property
    def port(self) -> int:
        """The bound TCP port (useful with ``ocpp_port = 0``)."""
        if self._server is None:
            raise RuntimeError("gateway not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def degraded(self) -> str | None:
        """Why the log cannot take events now (docs/ocpp.md, "While the log is down"), or None."""
        return getattr(self.log, "unavailable", None) or self._log_error

    @property
    def offline_after_s(self) -> float:
        """No frame for this long (s) → offline."""
        return self.settings.heartbeat_interval_s * self.settings.offline_after_heartbeats

    async def start(self) -> None:
        """Fold ``txids`` and presence, record ``ocpp.gateway.started``, follow ``source``
        and listen. Returns once the socket is bound."""
        await self.txids.start()
        position = await self._catch_up()
        await self._close_stale()
        await self.append([Event(type=pr.GATEWAY_STARTED, source=Source.SYSTEM,
                                 payload={"gatewayId": self.gateway_id})])
        self.presence.gateways.add(self.gateway_id)
        self._follower = asyncio.create_task(self._follow(position), name="ocpp-command-follower")
        self._server = await serve(
            self._handle, self.settings.ocpp_host, self.settings.ocpp_port,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._process_request,
            max_size=self.settings.max_frame_bytes * OVERSIZE_FACTOR,
            compression=None, ssl=self._ssl_context(), server_header=None,
            ping_interval=min(20.0, float(self.settings.heartbeat_interval_s)), ping_timeout=20,
            backlog=4096, open_timeout=self.settings.http_header_timeout_s,
            reuse_port=self.settings.ocpp_reuse_port or None,
        )
        self._watchdog = asyncio.create_task(self._watch_offline(), name="ocpp-offline-watchdog")
        logger.info("OCPP gateway %s listening on port %d", self.gateway_id, self.port)

    def stop_accepting(self) -> None:
        """Close the listening socket (connections already open go on); the first step of
        :meth:`stop`, taken early when other gateway processes share the port and stop first
        (their charge points must not reconnect here meanwhile)."""
        if self._server is not None:
            self._server.server.close()

    async def stop(self, timeout_s: float | None = None) -> None:
        """Graceful stop (module docstring) within ``timeout_s`` (default
        ``shutdown_timeout_s``), whatever the log's state; logs the events it could not
        write. Idempotent."""
        if self._server is None or self._stopping:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_timeout_s if timeout_s is None else timeout_s)

        def left(at_most: float) -> float:
            return max(0.0, min(at_most, deadline - loop.time()))

        self._stopping = True
        self.stop_accepting()
        with contextlib.suppress(TimeoutError):  # in-flight CALLs get their durable answer
            await asyncio.wait_for(self._idle.wait(), left(DRAIN_S))
        self._server.close(code=1001, reason="central system shutting down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), left(CLOSE_S + self.settings.durable_timeout_s))
        for task in (self._watchdog, self._follower, *self._tasks):
            await cancel_and_wait(task)
        await self.txids.stop()
        self._ends.put([Event(type=pr.GATEWAY_STOPPED, source=Source.SYSTEM,
                              payload={"gatewayId": self.gateway_id})])
        await self._ends.flush(left(deadline - loop.time()))
        unwritten = await self._ends.close()
        if unwritten:
            logger.error("gateway %s stopped without recording %s in the log (%s); the next start of "
                         "this gateway id records its connections closed", self.gateway_id,
                         describe(unwritten), self.degraded or "log closed")
        else:
            logger.info("ocpp.gateway.stopped recorded for gateway %s", self.gateway_id)

    async def append(self, events: Sequence[Event]) -> None:
        """Append to ``source`` (the engine group-commits it with other connections' events,
        contiguous and in order); returns once durable. Raises :class:`NotDurable` when
        that takes longer than ``durable_timeout_s`` (the events are then dropped if still
        queued, or written late if already being sent), else what the log raises."""
        try:
            await asyncio.wait_for(self.log.append(SOURCE, events), self.settings.durable_timeout_s)
        except TimeoutError:
            self._log_error = f"events not durable within {self.settings.durable_timeout_s:g} s"
            raise NotDurable(self._log_error) from None
        except Exception as exc:
            self._log_error = f"{type(exc).__name__}: {exc}"
            raise
        self._log_error = None

    async def _append_unbounded(self, events: Sequence[Event]) -> None:
        await self.log.append(SOURCE, events)

    def _log_recovered(self) -> None:
        self._log_error = None

    def _end(self, event: Event) -> None:
        """Record a connection's end event (queued and retried until durable)."""
        self._ends.put([event])
        self.metrics.connection_events.labels(event.type.rsplit(".", 1)[1]).inc()

    # -- handshake -------------------------------------------------------------------------

    def charge_point_id(self, path: str) -> str | None:
        """The chargePointId in ``{prefix}/{id}`` or ``/{id}`` (URL-decoded), else None."""
        path = urllib.parse.urlsplit(path).path
        prefix = self.settings.ocpp_path_prefix.rstrip("/")
        rest = path[len(prefix) + 1:] if prefix and path.startswith(prefix + "/") else path[1:]
        cp = urllib.parse.unquote(rest)
        if not cp or "/" in cp or len(cp) > MAX_ID_LENGTH or not cp.isprintable():
            return None
        return cp

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if urllib.parse.urlsplit(request.path).path == "/ready" and self.readiness is not None:
                ok, body = await self.readiness.check()
                response = connection.respond(http.HTTPStatus.OK if ok else http.HTTPStatus.SERVICE_UNAVAILABLE,
                                              json.dumps(body) + "\n")
                response.headers["Content-Type"] = "application/json"
                return response
            plain = self._plain_http(connection, request.path)
            if plain is not None:
                return plain
        cp = self.charge_point_id(request.path)
        if cp is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Use /ocpp/{chargePointId}\n")
        if self._stopping:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Shutting down\n")
        degraded = self.degraded
        if degraded is not None:  # nothing could be acknowledged: let the station retry later
            self.metrics.log_unavailable.labels("refused").inc()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"Event log unavailable: {degraded}\n")
        connection.charge_point_id = cp  # type: ignore[attr-defined]
        refused = tls.check_profile(connection, cp, getattr(self.registry, "current", None))
        if refused is not None:
            return connection.respond(http.HTTPStatus.FORBIDDEN, refused + "\n")
        if tls.client_certificate_name(connection) is not None:
            return None  # profile 3: a certificate from the trusted CA names the charge point
        return await self.admission.admit(connection, request, cp)

    def _plain_http(self, connection: ServerConnection, path: str) -> Response | None:
        """``GET /health`` → 200 JSON (503 while stopping); ``GET /metrics`` → Prometheus."""
        path = urllib.parse.urlsplit(path).path
        if path == "/health":
            degraded = self.degraded
            status = "stopping" if self._stopping else "degraded" if degraded else "ok"
            document: dict[str, Any] = {"status": status, "gatewayId": self.gateway_id,
                                        "connected": len(self._connections)}
            if degraded:
                document["reason"] = f"event log unavailable: {degraded}"
            response = connection.respond(http.HTTPStatus.OK if status == "ok"
                                          else http.HTTPStatus.SERVICE_UNAVAILABLE, json.dumps(document) + "\n")
            response.headers["Content-Type"] = "application/json"
            return response
        if path == "/metrics":
            self.metrics.connections.set(len(self._connections))
            self.metrics.log_degraded.set(1 if self.degraded else 0)
            response = connection.respond(http.HTTPStatus.OK, self.metrics.exposition().decode())
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        return None

    def _ssl_context(self) -> ssl.SSLContext | None:
        return tls.server_context(self.settings)

    def _auth_label(self, ws: ServerConnection) -> str:
        if tls.client_certificate_name(ws) is not None:
            return "tls-client-cert"
        if getattr(ws, "username", None):
            return "basic-ok"
        return "tls" if self.settings.tls_cert is not None else "none"

    # -- connections ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        cp: str = ws.charge_point_id  # type: ignore[attr-defined]
        host, port = ws.remote_address[:2]
        conn = CentralSystemConnection(cp, ws, self, remote_address=f"{host}:{port}", auth=self._auth_label(ws))
        logs.bind(chargePointId=cp, connectionId=conn.connection_id)  # every line of this connection
        logger.info("charge point connected from %s", conn.remote_address)
        previous = self._connections.get(cp)
        elsewhere = self.presence.online_elsewhere(cp, self.gateway_id)
        self._connections[cp] = conn
        events = []
        if previous is not None or elsewhere is not None:
            if previous is not None:
                previous.ended_by = "replaced"
            events.append(Event(type=pr.REPLACED, chargePointId=cp, source=Source.OCPP, payload={
                "previousRemoteAddress": previous.remote_address if previous else elsewhere.remote_address,  # type: ignore[union-attr]
                "previousConnectionId": previous.connection_id if previous else elsewhere.connection_id,  # type: ignore[union-attr]
                "previousGatewayId": self.gateway_id if previous else elsewhere.gateway_id,  # type: ignore[union-attr]
                "remoteAddress": conn.remote_address, "gatewayId": self.gateway_id}))
        events.append(Event(type=pr.OPENED, chargePointId=cp, source=Source.OCPP, payload={
            "remoteAddress": conn.remote_address, "subprotocol": ws.subprotocol, "auth": conn.auth,
            "gatewayId": self.gateway_id, "connectionId": conn.connection_id}))
        try:
            try:
                await self.append(events)
            except Exception as exc:  # noqa: BLE001 - not recorded: the connection did not happen
                logger.warning("%s: could not record the connection (%s); closing with 1011", cp, exc)
                self.metrics.log_unavailable.labels("closed").inc()
                if previous is not None and previous.ended_by == "replaced":
                    previous.ended_by = None  # still its own connection: it ends by itself
                    if previous.finished:
                        self._end_closed(previous)
                # the open may still be written late: end it too (an end of a connection whose
                # open never reached the log changes nothing — unless a previous one is live)
                conn.opened_recorded = previous is None
                await ws.close(1011, "central system could not record the connection")
                return
            self.metrics.connection_events.labels("opened").inc()
            if len(events) > 1:
                self.metrics.connection_events.labels("replaced").inc()
            if previous is not None:
                self._spawn(previous._connection.close(1000, "replaced by a new connection"))
            await self._serve(conn, ws)
        finally:
            conn.connection_lost()
            conn.finished = True
            if self._connections.get(cp) is conn:
                del self._connections[cp]
            if conn.ended_by is None and conn.opened_recorded:
                self._end_closed(conn)

    async def _serve(self, conn: CentralSystemConnection, ws: ServerConnection) -> None:
        """Route the connection's frames until it closes; a frame the log cannot record
        (within ``durable_timeout_s``) is not answered: close with 1011."""
        conn.opened_recorded = True
        try:
            async for raw in received_messages(ws):
                self._inflight += 1
                self._idle.clear()
                try:
                    await conn.route_message(raw)
                except ConnectionClosed:
                    raise
                except Exception as exc:  # noqa: BLE001 - the log failed: nothing was acknowledged
                    logger.warning("%s: could not record a frame (%s); closing with 1011", conn.id, exc)
                    self.metrics.log_unavailable.labels("closed").inc()
                    await ws.close(1011, "central system could not record the frame")
                    break
                finally:
                    self._inflight -= 1
                    if self._inflight == 0:
                        self._idle.set()
        except ConnectionClosed:
            pass

    def _end_closed(self, conn: CentralSystemConnection) -> None:
        """Record ``conn``'s end as ``ocpp.connection.closed`` (the close frames it saw)."""
        conn.ended_by = "closed"
        code, reason, by = _close_info(conn._connection)
        self._end(Event(type=pr.CLOSED, chargePointId=conn.id, source=Source.OCPP, payload={
            "code": code, "reason": reason, "closedBy": by,
            "gatewayId": self.gateway_id, "connectionId": conn.connection_id}))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_offline(self) -> None:
        period = max(0.05, min(5.0, self.offline_after_s / 4))
        while True:
            await asyncio.sleep(period)
            deadline = time.monotonic() - self.offline_after_s
            for cp, conn in list(self._connections.items()):
                if conn.last_frame_at < deadline and conn.ended_by is None and conn.opened_recorded:
                    conn.ended_by = "offline"
                    idle_s = time.monotonic() - conn.last_frame_at
                    last = time.time() - idle_s
                    self._end(Event(type=pr.OFFLINE, chargePointId=cp, source=Source.SYSTEM, payload={
                        "lastFrameAt": _iso_ts(last), "timeoutSeconds": self.offline_after_s,
                        "gatewayId": self.gateway_id, "connectionId": conn.connection_id}))
                    if self._connections.get(cp) is conn:
                        del self._connections[cp]
                    self._spawn(_close_half_open(conn._connection))

    # -- presence and commands ---------------------------------------------------------------

    async def _catch_up(self) -> Position:
        """Fold presence from the start of ``source`` up to its end now; returns that end."""
        end = await self.log.latest(SOURCE)
        position = START
        while True:
            records = await self.log.read(SOURCE, position, limit=10000, until=end, types=pr.TYPES)
            if not records:
                return end
            for record in records:
                self.presence.apply(record.event)
            position = records[-1].position

    async def _close_stale(self) -> None:
        """Gateways that are gone — this gateway's own id (a restart with a stable
        ``gateway_id``) and default ``host:pid`` ids of dead processes on this host — are
        dropped from the live set, and the connections the log says they hold are recorded
        closed (code 1006): their sockets died with the process."""
        known = self.presence.gateways | {h.gateway_id for h in self.presence.holders.values()}
        dead = {self.gateway_id} | {g for g in known if _dead_local_process(g)}
        self.presence.gateways -= dead
        events = [Event(type=pr.CLOSED, chargePointId=cp, source=Source.SYSTEM, payload={
            "code": 1006, "reason": "gateway restarted", "gatewayId": holder.gateway_id,
            "connectionId": holder.connection_id}) for cp, holder in self.presence.stale_for(dead)]
        for start in range(0, len(events), 1000):
            await self.append(events[start:start + 1000])
        for event in events:
            self.presence.apply(event)

    async def _follow(self, after: Position) -> None:
        records = follow(self.log, SOURCE, after, name=f"gateway {self.gateway_id}", types=(*pr.TYPES, REQUESTED))
        async with contextlib.aclosing(records):
            async for record in records:
                event = record.event
                if event.type in pr.TYPES:
                    self._on_presence(event)
                elif event.type == REQUESTED:
                    self._on_command(event)

    def _on_presence(self, event: Event) -> None:
        self.presence.apply(event)
        conn = self._connections.get(event.chargePointId)
        if event.type != pr.OPENED or conn is None:
            return
        if event.payload.get("connectionId") == conn.connection_id:
            conn.opened_seen = True
        elif event.payload.get("gatewayId") != self.gateway_id and conn.opened_seen:
            # a later connection at another gateway took over (same partition: log order)
            conn.ended_by = "replaced"
            del self._connections[event.chargePointId]
            self._spawn(conn._connection.close(1000, "replaced by a connection to another gateway"))

    def _on_command(self, event: Event) -> None:
        conn = self._connections.get(event.chargePointId)
        if conn is not None:
            self._spawn(conn.execute(event))
        elif self.presence.answers_offline(event.chargePointId, self.gateway_id):
            self._spawn(self.append([command_failed_event(
                event.chargePointId, event.correlationId, event.payload.get("action"), "offline",
                detail="the charge point is not connected", causation_id=event.eventId,
                source=Source.SYSTEM)]))


async def _close_half_open(ws: ServerConnection) -> None:
    """Close with 1001; a socket whose peer is gone is aborted after the close timeout."""
    with contextlib.suppress(Exception):
        await ws.close(1001, "offline: no frame within the heartbeat timeout")


def _close_info(ws: ServerConnection) -> tuple[int, str, str]:
    """(code, reason, closedBy) of a finished connection: the close frame the charge point
    sent ("chargePoint"), else the one we sent ("centralSystem", e.g. 1009 for an oversized
    frame), else 1006 with no close frame at all ("network")."""
    received, sent = ws.protocol.close_rcvd, ws.protocol.close_sent
    if received is not None and (sent is None or ws.protocol.close_rcvd_then_sent):
        return int(received.code), received.reason, "chargePoint"
    if sent is not None:
        return int(sent.code), sent.reason, "centralSystem"
    return 1006, "", "network"


def _dead_local_process(gateway_id: str) -> bool:
    """True for a default ``host:pid`` gateway id of this host whose process is gone."""
    host, _, pid = gateway_id.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _iso_ts(epoch_s: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")
