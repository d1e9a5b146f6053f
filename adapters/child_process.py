"""Child processes of one ``chargelog serve`` on the embedded engine (docs/deploy.md,
"Processes"): the fold (translator + projections) and the extra OCPP gateways each run as
``serve`` again, supervised by the ``serve`` you started.

Parent side: :class:`ServeChild` starts the same command line again (``sys.orig_argv``, so
whatever launched ``serve`` launches the child too) with ``CHARGELOG_SERVE_CHILD_OF`` = the
parent's pid and ``CHARGELOG_SERVE_CHILD`` = the child's name (``fold``, ``gateway-2``, …)
in its environment, hands it its :class:`Settings` (the roles it runs) as one JSON line on
its stdin (no secret on a command line), waits for its ``ready`` line, restarts it when it
exits while the parent runs, and on ``stop`` sends SIGTERM and
waits (SIGKILL past the bound).

Child side: ``serve`` sees the variable and runs :func:`run_child`. It dies with its parent —
``PR_SET_PDEATHSIG`` SIGKILL on Linux, and wherever its stdin reaches end of file — so a
``kill -9`` of ``serve`` never leaves a child behind for the next ``serve`` to race with (a
killed fold resumes from its last commit, a killed gateway's connections are recorded closed
by the next gateway that starts, like any crash). Every process shares the SQLite files of
the embedded log; cross-process wake-ups (:mod:`chargelog.adapters.log.wakeup`) carry each
commit to the others' subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

from chargelog.adapters.config import Settings

logger = logging.getLogger("chargelog")

#: Set in a child's environment: the pid of the ``serve`` process that started it.
PARENT_ENV = "CHARGELOG_SERVE_CHILD_OF"
#: Set in a child's environment: its name (``fold``, ``gateway-2``, …).
NAME_ENV = "CHARGELOG_SERVE_CHILD"
#: What the child writes on stdout once its roles started.
READY_LINE = b"ready\n"
#: Longest wait for a child's ``ready`` line (s): the fold loads the read models first.
START_TIMEOUT_S = 300.0
#: First pause before restarting a child that exited (s), doubled up to the max.
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
#: A child that ran this long before exiting restarts after the shortest pause again (s).
STABLE_AFTER_S = 60.0


class ServeChild:
    """One supervised child running ``settings.roles``; see the module docstring.

    ``name`` names it in logs and in its environment, ``what`` says what it runs (for log
    lines), ``trusted`` are chargePointIds its gateway admits without the caps on unregistered
    ids (the parent's simulated charge points)."""

    def __init__(self, settings: Settings, log_level: str, name: str, what: str,
                 trusted: Sequence[str] = ()) -> None:
        self.settings = settings
        self.log_level = log_level
        self.name = name
        self.what = what
        self.trusted = list(trusted)
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        """Start the child and return once its roles run; raises RuntimeError when it exits
        or stays silent past START_TIMEOUT_S."""
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self.name}-process-supervisor")

    async def _spawn(self) -> None:
        spec = {"settings": json.loads(self.settings.model_dump_json()), "log_level": self.log_level,
                "trusted": self.trusted}
        argv = sys.orig_argv[1:] if "serve" in sys.orig_argv else ["-m", "chargelog", "serve"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env={**os.environ, PARENT_ENV: str(os.getpid()), NAME_ENV: self.name},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()  # stdin stays open: its end of file tells the child we are gone
        self.proc = proc
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                line = await proc.stdout.readline()
        except TimeoutError:
            line = b""
        if line != READY_LINE:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await proc.wait()
            raise RuntimeError(f"the {self.name} process ({self.what}) did not start (exit status {code})")
        logger.info("%s process %s running (%s)", self.name, proc.pid, self.what)

    async def _supervise(self) -> None:
        pause = RESTART_MIN_S
        while True:
            assert self.proc is not None
            started = time.monotonic()
            code = await self.proc.wait()
            if time.monotonic() - started > STABLE_AFTER_S:
                pause = RESTART_MIN_S
            await asyncio.sleep(pause)  # also lets a SIGINT to the whole group reach stop() first
            if self._stopping:
                return
            logger.error("%s process %s exited with status %s; starting it again", self.name, self.proc.pid, code)
            try:
                await self._spawn()
                self.restarts += 1
            except (OSError, RuntimeError) as exc:
                logger.error("restarting the %s process failed: %s", self.name, exc)
            pause = min(RESTART_MAX_S, pause * 2)

    def terminate(self) -> None:
        """Ask the child to stop (SIGTERM); no restart from now on."""
        self._stopping = True
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    async def stop(self) -> None:
        """SIGTERM, then wait for the child's graceful exit (bound it with a timeout: on
        cancellation the child is SIGKILLed)."""
        self.terminate()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.proc is None:
            return
        try:
            await self.proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            raise


async def stop_all(children: Sequence[ServeChild]) -> None:
    """:meth:`ServeChild.stop` of every child at once."""
    await asyncio.gather(*(child.stop() for child in children))


# -- child side ---------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the parent exits (Linux); exit now if it already did."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os._exit(1)


def _exit_at_end_of_stdin(loop: asyncio.AbstractEventLoop) -> None:
    """The parent holds our stdin open while it runs: end of file = it is gone."""

    def readable() -> None:
        with contextlib.suppress(BlockingIOError):
            if not os.read(0, 4096):
                os._exit(1)  # like kill -9: the fold resumes from its last commit

    os.set_blocking(0, False)
    loop.add_reader(0, readable)


def is_child() -> bool:
    """True in a child started by :class:`ServeChild`."""
    return PARENT_ENV in os.environ


async def run_child() -> int:
    """The child's ``serve``: one JSON line on stdin (``{"settings": {...}, "log_level":
    "INFO", "trusted": [chargePointId, …]}``), then its roles until SIGTERM. Returns the
    exit status."""
    from chargelog.adapters.cli.redact import install_redaction
    from chargelog.adapters.logs import configure
    from chargelog.adapters.runtime import Runtime

    _die_with_parent(int(os.environ[PARENT_ENV]))
    spec = json.loads(sys.stdin.buffer.readline())
    settings = Settings.model_validate(spec["settings"])
    configure(settings.log_format, spec["log_level"], role="+".join(settings.roles))
    install_redaction()
    _exit_at_end_of_stdin(asyncio.get_running_loop())

    def ready(runtime: Runtime) -> None:
        if runtime.gateway is not None:
            runtime.gateway.admission.trusted.update(spec.get("trusted", ()))
        os.write(1, READY_LINE)
        devnull = os.open(os.devnull, os.O_WRONLY)  # nothing else goes to the parent's pipe
        os.dup2(devnull, 1)
        os.close(devnull)

    await Runtime(settings, ops_server=False).run_until_signal(ready)
    return 0
