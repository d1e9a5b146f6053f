"""The fold (translator + read-model projections) of ``chargelog serve`` in a process of its
own, so that one ``serve`` on the embedded engine uses two cores (docs/deploy.md, "Processes").

Parent side: :class:`FoldProcess` starts the same command line again (``sys.orig_argv``, so
whatever launched ``serve`` launches the fold too) with ``CHARGELOG_FOLD_PROCESS_OF`` = the
parent's pid in its environment, hands it the parent's :class:`Settings` (roles =
projections) as one JSON line on its stdin (no secret on a command line), waits for its
``ready`` line, restarts it when it exits while the parent runs, and on ``stop`` sends
SIGTERM and waits (SIGKILL past the bound). :class:`StoredFold` shows the child's progress
and quarantine (committed in the read-model store) in the parent's ``/ready``, ``/metrics``
and ``/health``.

Child side: ``serve`` sees the variable and runs :func:`run_child`. It dies with its parent — ``PR_SET_PDEATHSIG`` SIGKILL on Linux,
and wherever its stdin reaches end of file — so a ``kill -9`` of ``serve`` never leaves a
second fold behind for the next ``serve`` to race with (a killed fold resumes from its last
commit, like any crash). Both processes share the SQLite files of the embedded log and the
read-model store; cross-process wake-ups (:mod:`chargelog.adapters.log.wakeup`) carry each
commit to the other's subscriptions.
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
from typing import Any

from chargelog.adapters.config import Settings
from chargelog.domain.log import SOURCE

logger = logging.getLogger("chargelog")

#: Set in the child's environment: the pid of the ``serve`` process it folds for.
PARENT_ENV = "CHARGELOG_FOLD_PROCESS_OF"
#: What the child writes on stdout once its roles started.
READY_LINE = b"ready\n"
#: Longest wait for the child's ``ready`` line (s): it loads the read models first.
START_TIMEOUT_S = 300.0
#: First pause before restarting a fold process that exited (s), doubled up to the max.
RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
#: A child that ran this long before exiting restarts after the shortest pause again (s).
STABLE_AFTER_S = 60.0


def fold_processes(settings: Settings) -> int:
    """How many processes ``serve`` runs: 2 (fold in a child) or 1.

    Only the embedded engine with the projections role and at least one other role splits
    (on Kafka the roles are separate deployments already, docs/deploy.md).
    ``settings.processes`` 1 keeps one process; 0 (automatic) means one per core, at most 2
    (this layout has two halves)."""
    if settings.is_kafka or "projections" not in settings.roles or len(set(settings.roles)) < 2:
        return 1
    if settings.processes:
        return min(settings.processes, 2)
    return min(os.cpu_count() or 1, 2)


class FoldProcess:
    """The supervised child running the ``projections`` role; see the module docstring."""

    def __init__(self, settings: Settings, log_level: str) -> None:
        self.settings = settings.model_copy(update={"roles": ["projections"], "registry_file": None, "simulate": 0})
        self.log_level = log_level
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
        self._supervisor = asyncio.create_task(self._supervise(), name="fold-process-supervisor")

    async def _spawn(self) -> None:
        spec = {"settings": json.loads(self.settings.model_dump_json()), "log_level": self.log_level}
        argv = sys.orig_argv[1:] if "serve" in sys.orig_argv else ["-m", "chargelog", "serve"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env={**os.environ, PARENT_ENV: str(os.getpid())},
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
            raise RuntimeError(f"the fold process (translator, projections) did not start (exit status {code})")
        logger.info("fold process %s running (translator, projections)", proc.pid)

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
            logger.error("fold process %s exited with status %s; starting it again", self.proc.pid, code)
            try:
                await self._spawn()
                self.restarts += 1
            except (OSError, RuntimeError) as exc:
                logger.error("restarting the fold process failed: %s", exc)
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
    """True in a fold process started by :class:`FoldProcess`."""
    return PARENT_ENV in os.environ


async def run_child() -> int:
    """The child's ``serve``: one JSON line on stdin (``{"settings": {...}, "log_level":
    "INFO"}``), then the projections role until SIGTERM. Returns the exit status."""
    from chargelog.adapters.cli.redact import install_redaction
    from chargelog.adapters.logs import configure
    from chargelog.adapters.runtime import Runtime

    _die_with_parent(int(os.environ[PARENT_ENV]))
    spec = json.loads(sys.stdin.buffer.readline())
    settings = Settings.model_validate(spec["settings"])
    configure(settings.log_format, spec["log_level"], role="projections")
    install_redaction()
    _exit_at_end_of_stdin(asyncio.get_running_loop())

    def ready(_: Any) -> None:
        os.write(1, READY_LINE)
        devnull = os.open(os.devnull, os.O_WRONLY)  # nothing else goes to the parent's pipe
        os.dup2(devnull, 1)
        os.close(devnull)

    await Runtime(settings, ops_server=False).run_until_signal(ready)
    return 0
