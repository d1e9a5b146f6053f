"""Composition root: builds the roles ``chargelog serve`` runs from one :class:`Settings`.

Roles: ``gateway`` (OCPP 1.6-J central system, port 9000), ``api`` (client
dialects + REST, port 8082), ``projections`` (translator to domain events + read models).
All three share one log engine; on Kafka each role can run in its own process. On the
embedded engine a :class:`~chargelog.adapters.serve_layout.Layout` moves the projections
role and more gateways (on the same port) into supervised child processes
(:mod:`chargelog.adapters.child_process`; docs/deploy.md, "Processes").
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from chargelog.adapters.child_process import stop_all
from chargelog.adapters.config import Settings
from chargelog.adapters.serve_layout import Layout
from chargelog.adapters.gc_tuning import tune_after_start
from chargelog.adapters.log import open_log
from chargelog.domain.log import EventLog

logger = logging.getLogger("chargelog")

#: Part of the shutdown budget kept for closing the log after the roles stopped (s).
LOG_CLOSE_RESERVE_S = 3.0
#: Part of the shutdown budget left for the interpreter to exit after ``stop`` returned (s).
EXIT_MARGIN_S = 1.0


class PortInUse(OSError):
    """A port of this process could not be bound; the message says which and what to do."""

    @classmethod
    def of(cls, exc: OSError, what: str, host: str, port: int, flag: str) -> PortInUse:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return cls(f"{what}: cannot listen on {host}:{port} ({reason}); "
                   f"choose another with --{flag}-port or CHARGELOG_{flag.upper()}_PORT")


def _log_level() -> str:
    """This process's log level name, for its child processes."""
    return logging.getLevelName(logging.getLogger().getEffectiveLevel())


def _check_port_free(host: str, port: int) -> None:
    """Raise OSError (EADDRINUSE) when ``host``:``port`` is taken, binding it without
    ``SO_REUSEPORT`` for a moment (port 0 is always free)."""
    if port:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve(config: uvicorn.Config, name: str,
                 sockets: list[socket.socket] | None = None) -> tuple[_Uvicorn, asyncio.Task[None]]:
    """A started uvicorn server (on ``sockets`` when given) and its task; raises what made it
    exit during start-up."""
    server = _Uvicorn(config)
    task = asyncio.create_task(server.serve(sockets=sockets), name=name)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"{name} exited during start-up")
        await asyncio.sleep(0.01)
    return server, task


class Runtime:
    """Starts and stops the configured roles in dependency order.

    ``await start()`` returns once every role listens; ``await stop()`` shuts down in reverse
    order (stop accepting, finish in-flight acknowledgements, close sockets with 1001) within
    ``shutdown_timeout_s`` whatever the log's state: each step gets what is left of that
    budget (the log keeps :data:`LOG_CLOSE_RESERVE_S` to close), a step that overruns is
    abandoned with an error naming it.
    """

    def __init__(self, settings: Settings, *, layout: Layout | None = None, ops_server: bool = True) -> None:
        self.settings = settings
        #: which roles run in supervised child processes (default: all in this one)
        self.layout = layout or Layout()
        self.ops_server = ops_server
        self.fold: Any = None
        #: the OCPP gateway processes beside this one's (:class:`ServeChild`), same port
        self.gateway_children: list[Any] = []
        self.stored_fold: Any = None
        self.log: EventLog = open_log(settings)
        self.registry: Any = None
        self.gateway: Any = None
        self.worker: Any = None
        self.read_models: Any = None
        self.fleet: Any = None
        self._api: _Uvicorn | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._ops: _Uvicorn | None = None
        self._ops_task: asyncio.Task[None] | None = None
        self._hub: Any = None
        from chargelog.adapters.ops import Readiness

        self.readiness = Readiness(self.log, settings.ready_max_lag_events, self.consumers, self.quarantined)

    @property
    def api_port(self) -> int | None:
        """The bound client API port (useful with api_port=0)."""
        if self._api is None or not self._api.servers:
            return None
        return self._api.servers[0].sockets[0].getsockname()[1]

    def consumers(self) -> list[Any]:
        """Every log consumer of this process, for ``/ready`` and the lag gauges."""
        from chargelog.adapters.ops import HubConsumer, runner_consumers

        found: list[Any] = []
        if self.stored_fold is not None:
            found += self.stored_fold.consumers()
        if self.worker is not None:
            found += runner_consumers("translator", self.worker.translator)
            found += runner_consumers("projection", self.worker.projections)
            found += runner_consumers("projection", self.worker.profile_states)
        follower = getattr(self.read_models, "runner", None)
        if follower is not None and self.worker is None:
            found += runner_consumers("api-readmodel", follower)
        if self._hub is not None:
            found.append(HubConsumer(self._hub))
        return found

    def quarantined(self) -> list[dict[str, Any]]:
        """Records the folds of this process quarantined (``quarantine_summary`` entries)."""
        if self.worker is not None:
            return list(self.worker.quarantined())
        report = getattr(self.read_models, "quarantined", None)
        return list(report()) if report is not None else []

    async def start(self) -> None:
        from chargelog.adapters.registry import LiveRegistry

        roles = set(self.settings.roles)
        await self.log.start()
        self.registry = LiveRegistry(self.log)
        if self.settings.registry_file:
            from chargelog.adapters.registry.changes import apply_registry_file

            await apply_registry_file(self.log, self.settings.registry_file)
        await self.registry.start()
        if "projections" in roles and self.layout.fold:
            from chargelog.adapters.fold_process import StoredFold, fold_child
            from chargelog.adapters.store import open_store

            self.fold = fold_child(self.settings, _log_level())
            await self.fold.start()
            self.stored_fold = StoredFold(open_store(self.settings))
        elif "projections" in roles:
            from chargelog.projections.runner import ProjectionWorker

            self.worker = ProjectionWorker(self.log, self.settings, self.registry)
            await self.worker.start()
        if "gateway" in roles:
            from chargelog.adapters.ocpp.gateway import OcppGateway

            shared = self.layout.gateways > 1
            gateway_settings = self.settings.model_copy(update={"ocpp_reuse_port": True}) if shared else self.settings
            self.gateway = OcppGateway(self.log, gateway_settings, self.registry)
            self.gateway.readiness = self.readiness
            try:
                if shared:  # SO_REUSEPORT would let a port another user's process holds look free
                    _check_port_free(self.settings.ocpp_host, self.settings.ocpp_port)
                await self.gateway.start()
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                    raise
                raise PortInUse.of(exc, "OCPP gateway", self.settings.ocpp_host, self.settings.ocpp_port,
                                   "ocpp") from None
            if shared:
                await self._start_gateway_children()
        if "api" in roles:
            await self._start_api()
        elif self.gateway is None and self.ops_server:
            await self._start_ops()
        if self.settings.simulate and self.gateway is not None:
            from chargelog.adapters.simulator import Fleet

            host = "127.0.0.1"
            url = f"ws://{host}:{self.gateway.port}{self.settings.ocpp_path_prefix}"
            # the demo's charge points charge only when a user starts them (remote start), so
            # every connector is free for the README's examples
            self.fleet = Fleet(url, self.settings.simulate, auto_transactions=False,
                               meter_interval_s=self.settings.simulate_meter_interval_s)
            # this process's own simulated charge points are not strangers: no cap on them
            self.gateway.admission.trusted.update(s.charge_point_id for s in self.fleet.stations)
            await self.fleet.start()

    async def _start_gateway_children(self) -> None:
        """The gateway processes 2…N on this gateway's port (started together)."""
        from chargelog.adapters.child_process import ServeChild
        from chargelog.adapters.serve_layout import gateway_settings
        from chargelog.adapters.simulator.fleet import station_ids

        trusted = station_ids(self.settings.simulate)  # the simulated fleet's ids (started below)
        self.gateway_children = [
            ServeChild(gateway_settings(self.settings, self.gateway.port, n), _log_level(), f"gateway-{n}",
                       "OCPP gateway", trusted)
            for n in range(2, self.layout.gateways + 1)]
        await asyncio.gather(*(child.start() for child in self.gateway_children))

    async def _start_api(self) -> None:
        from chargelog.adapters.api.app import create_app
        from chargelog.adapters.api.timeouts import header_timeout_protocol

        if self.worker is not None:
            self.read_models = self.worker.read_models
        else:
            from chargelog.projections.runner import follow_read_models

            self.read_models = await follow_read_models(self.log, self.settings, self.registry)
            if self.stored_fold is not None:
                self.read_models.quarantine_sources.extend(self.stored_fold.quarantine_sources)
        from chargelog.adapters.api.app import UVICORN_WS_OPTIONS, http_authorizer
        from chargelog.adapters.ops import ops_routes

        gateway_metrics = self.gateway.metrics.own_exposition if self.gateway is not None else None
        app = create_app(self.log, self.read_models, self.settings, gateway=self.gateway)
        # the operator check of the acknowledgement needs the app's core: routes added after
        app.router.routes.extend(ops_routes(self.readiness, extra_metrics=gateway_metrics,
                                            authorize=http_authorizer(app.state.core)))
        self._hub = app.state.core.hub
        try:  # bound here, so a busy port is one OSError (uvicorn would log and sys.exit)
            sock = socket.create_server((self.settings.api_host, self.settings.api_port), backlog=2048,
                                        family=socket.AF_INET6 if ":" in self.settings.api_host else socket.AF_INET)
        except OSError as exc:
            raise PortInUse.of(exc, "client API", self.settings.api_host, self.settings.api_port, "api") from None
        config = uvicorn.Config(app, log_config=None, log_level="warning", lifespan="on", **UVICORN_WS_OPTIONS,
                                http=header_timeout_protocol(self.settings.http_header_timeout_s),
                                timeout_keep_alive=max(1, round(self.settings.http_keepalive_timeout_s)),
                                # the dialects answer an oversized message in their own error
                                # form (then close 1009): uvicorn's own cap sits above theirs
                                ws_max_size=2 * self.settings.api_max_message_bytes,
                                ws_ping_interval=30.0, ws_ping_timeout=30.0)  # comms protocol: 30 s
        self._api, self._api_task = await _serve(config, "client API", [sock])

    async def _start_ops(self) -> None:
        """``/health``, ``/ready``, ``/metrics`` on ``ops_port`` for a process without the API
        and the gateway (e.g. ``--role projections``)."""
        from chargelog.adapters.ops import ops_app

        config = uvicorn.Config(ops_app(self.readiness), host=self.settings.api_host, port=self.settings.ops_port,
                                log_config=None, log_level="warning", lifespan="off")
        try:
            self._ops, self._ops_task = await _serve(config, "metrics server")
        except (OSError, SystemExit) as exc:  # e.g. two workers on one host: the role still runs
            logger.warning("no /metrics server: port %s unavailable (%s); set CHARGELOG_OPS_PORT",
                           self.settings.ops_port, exc)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_timeout_s - EXIT_MARGIN_S
        roles_deadline = deadline - min(LOG_CLOSE_RESERVE_S, self.settings.shutdown_timeout_s / 3)
        if self.gateway_children and self.gateway is not None:
            self.gateway.stop_accepting()  # the others' charge points reconnect nowhere now
        for child in (self.fold, *self.gateway_children):
            if child is not None:
                child.terminate()  # it stops its roles meanwhile, within the same bound
        if self._ops is not None and self._ops_task is not None:
            self._ops.should_exit = True
            await self._step("metrics server", self._ops_task, roles_deadline)
        if self.fleet is not None:
            await self._step("simulated fleet", self.fleet.stop(), roles_deadline)
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            await self._step("client API", self._api_task, roles_deadline)
        if self.gateway is not None:
            await self._step("OCPP gateway", self.gateway.stop(max(0.0, roles_deadline - loop.time())),
                             roles_deadline + 1.0)
        if self.gateway_children:  # their own log close comes after their roles: past ours, SIGKILL
            await self._step("gateway processes", stop_all(self.gateway_children), max(roles_deadline, deadline - 1.0))
        if self.fold is not None:
            await self._step("fold process", self.fold.stop(), max(roles_deadline, deadline - 1.0))
        for name, part in (("projections", self.worker), ("registry", self.registry)):
            if part is not None:
                await self._step(name, part.stop(), roles_deadline)
        if self.stored_fold is not None:
            self.stored_fold.close()
        await self._step("log", self.log.close(), deadline)

    async def _step(self, name: str, awaitable: Awaitable[Any], deadline: float) -> None:
        """Await one shutdown step until ``deadline`` (loop time); past it, log and go on."""
        logger.info("stopping %s", name)
        left = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait_for(asyncio.ensure_future(awaitable), max(left, 0.1))
        except TimeoutError:
            logger.error("stopping %s did not finish within the shutdown bound (%g s); abandoned",
                         name, self.settings.shutdown_timeout_s)
            return
        except Exception:  # noqa: BLE001 - the other steps still run
            logger.exception("stopping %s failed", name)
            return
        logger.info("stopped %s", name)

    async def run_until_signal(self, on_started: Callable[[Runtime], None] | None = None) -> None:
        """Start, call ``on_started(self)`` (e.g. print the banner), wait for SIGTERM or
        SIGINT, stop gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        tune_after_start(freeze=self.settings.gc_freeze, threshold0=self.settings.gc_threshold0)
        if on_started is not None:
            on_started(self)
        try:
            await stop.wait()
        finally:
            await self.stop()
