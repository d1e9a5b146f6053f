"""Composition root: builds the roles ``chargelog serve`` runs from one :class:`Settings`.

Roles (issue 7): ``gateway`` (OCPP 1.6-J central system, port 9000), ``api`` (client
dialects + REST, port 8082), ``projections`` (translator to domain events + read models).
All three share one log engine; on Kafka each role can run in its own process.
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

from chargelog.adapters.config import Settings
from chargelog.adapters.gc_tuning import tune_after_start
from chargelog.adapters.log import open_log
from chargelog.domain.log import EventLog

logger = logging.getLogger("chargelog")

#: Part of the shutdown budget kept for closing the log after the roles stopped (s).
LOG_CLOSE_RESERVE_S = 3.0


class PortInUse(OSError):
    """A port of this process could not be bound; the message says which and what to do."""

    @classmethod
    def of(cls, exc: OSError, what: str, host: str, port: int, flag: str) -> PortInUse:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        return cls(f"{what}: cannot listen on {host}:{port} ({reason}); "
                   f"choose another with --{flag}-port or CHARGELOG_{flag.upper()}_PORT")


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runtime:
    """Starts and stops the configured roles in dependency order.

    ``await start()`` returns once every role listens; ``await stop()`` shuts down in reverse
    order (stop accepting, finish in-flight acknowledgements, close sockets with 1001) within
    ``shutdown_timeout_s`` whatever the log's state: each step gets what is left of that
    budget (the log keeps :data:`LOG_CLOSE_RESERVE_S` to close), a step that overruns is
    abandoned with an error naming it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log: EventLog = open_log(settings)
        self.registry: Any = None
        self.gateway: Any = None
        self.worker: Any = None
        self.read_models: Any = None
        self.fleet: Any = None
        self._api: _Uvicorn | None = None
        self._api_task: asyncio.Task[None] | None = None

    @property
    def api_port(self) -> int | None:
        """The bound client API port (useful with api_port=0)."""
        if self._api is None or not self._api.servers:
            return None
        return self._api.servers[0].sockets[0].getsockname()[1]

    async def start(self) -> None:
        from chargelog.adapters.registry import LiveRegistry

        roles = set(self.settings.roles)
        await self.log.start()
        self.registry = LiveRegistry(self.log)
        if self.settings.registry_file:
            from chargelog.adapters.registry.changes import apply_registry_file

            await apply_registry_file(self.log, self.settings.registry_file)
        await self.registry.start()
        if "projections" in roles:
            from chargelog.projections.runner import ProjectionWorker

            self.worker = ProjectionWorker(self.log, self.settings, self.registry)
            await self.worker.start()
        if "gateway" in roles:
            from chargelog.adapters.ocpp.gateway import OcppGateway

            self.gateway = OcppGateway(self.log, self.settings, self.registry)
            try:
                await self.gateway.start()
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                    raise
                raise PortInUse.of(exc, "OCPP gateway", self.settings.ocpp_host, self.settings.ocpp_port,
                                   "ocpp") from None
        if "api" in roles:
            await self._start_api()
        if self.settings.simulate and self.gateway is not None:
            from chargelog.adapters.simulator import Fleet

            host = "127.0.0.1"
            url = f"ws://{host}:{self.gateway.port}{self.settings.ocpp_path_prefix}"
            # the demo's charge points charge only when a user starts them (remote start), so
            # every connector is free for the README's examples
            self.fleet = Fleet(url, self.settings.simulate, auto_transactions=False,
                               meter_interval_s=self.settings.simulate_meter_interval_s)
            await self.fleet.start()

    async def _start_api(self) -> None:
        from chargelog.adapters.api.app import create_app
        from chargelog.adapters.api.timeouts import header_timeout_protocol

        if self.worker is not None:
            self.read_models = self.worker.read_models
        else:
            from chargelog.projections.runner import follow_read_models

            self.read_models = await follow_read_models(self.log, self.settings, self.registry)
        app = create_app(self.log, self.read_models, self.settings, gateway=self.gateway)
        try:  # bound here, so a busy port is one OSError (uvicorn would log and sys.exit)
            sock = socket.create_server((self.settings.api_host, self.settings.api_port), backlog=2048,
                                        family=socket.AF_INET6 if ":" in self.settings.api_host else socket.AF_INET)
        except OSError as exc:
            raise PortInUse.of(exc, "client API", self.settings.api_host, self.settings.api_port, "api") from None
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                http=header_timeout_protocol(self.settings.http_header_timeout_s),
                                timeout_keep_alive=max(1, round(self.settings.http_keepalive_timeout_s)),
                                # the dialects answer an oversized message in their own error
                                # form (then close 1009): uvicorn's own cap sits above theirs
                                ws_max_size=2 * self.settings.api_max_message_bytes,
                                ws_per_message_deflate=False,
                                ws_ping_interval=30.0, ws_ping_timeout=30.0)  # comms protocol: 30 s
        self._api = _Uvicorn(config)
        self._api_task = asyncio.create_task(self._api.serve(sockets=[sock]), name="client-api")
        while not self._api.started:
            if self._api_task.done():
                self._api_task.result()
                raise RuntimeError("client API exited during start-up")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.shutdown_timeout_s
        roles_deadline = deadline - min(LOG_CLOSE_RESERVE_S, self.settings.shutdown_timeout_s / 3)
        if self.fleet is not None:
            await self._step("simulated fleet", self.fleet.stop(), roles_deadline)
        if self._api is not None and self._api_task is not None:
            self._api.should_exit = True
            await self._step("client API", self._api_task, roles_deadline)
        if self.gateway is not None:
            await self._step("OCPP gateway", self.gateway.stop(max(0.0, roles_deadline - loop.time())),
                             roles_deadline + 1.0)
        for name, part in (("projections", self.worker), ("registry", self.registry)):
            if part is not None:
                await self._step(name, part.stop(), roles_deadline)
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
