"""Real processes for end-to-end tests: ``chargelog serve`` and ``chargelog simulate`` as
subprocesses on free loopback ports, stopped (or SIGKILLed) by the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    """Block until ``port`` accepts connections; fail if ``proc`` exits first or on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)  # polling a port: not synchronisation between our own tasks
    raise TimeoutError(f"port {port} did not open within {timeout_s} s")


def serve_env(engine: str, data_dir: Path, kafka_bootstrap: str | None = None) -> dict[str, str]:
    """Environment for a ``chargelog serve`` of its own: ``data_dir``, a JWT secret, and on
    ``engine`` "kafka" the broker ``kafka_bootstrap`` (default ``$KAFKA_BOOTSTRAP`` or
    127.0.0.1:9092) with a fresh topic prefix and 4 partitions."""
    values = {"CHARGELOG_DATA_DIR": str(data_dir), "CHARGELOG_JWT_SECRET": "test-secret-of-at-least-32-bytes!!",
              "PYTHONUNBUFFERED": "1"}
    if engine == "kafka":
        bootstrap = kafka_bootstrap or os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
        values |= {"CHARGELOG_LOG": f"kafka://{bootstrap}", "CHARGELOG_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:12]}",
                   "CHARGELOG_PARTITIONS": "4"}
    return values


def chargelog_cmd(*args: str) -> list[str]:
    """argv running the installed ``chargelog`` console entry point of this interpreter."""
    return [sys.executable, "-m", "chargelog", *args]


@dataclass
class Server:
    """One ``chargelog serve`` process (roles configurable)."""

    env: dict[str, str]
    roles: Sequence[str] = ()
    ocpp_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    extra_args: Sequence[str] = ()  # after the defaults, so e.g. --log-level DEBUG wins

    def start(self) -> Server:
        args = ["serve", "--host", "127.0.0.1", "--ocpp-port", str(self.ocpp_port),
                "--api-port", str(self.api_port), "--log-level", "WARNING"]
        for role in self.roles:
            args += ["--role", role]
        args += list(self.extra_args)
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(chargelog_cmd(*args), env={**os.environ, **self.env},
                                     stdout=out, stderr=subprocess.STDOUT)
        if not self.roles or "gateway" in self.roles:
            wait_for_port(self.ocpp_port, self.proc)
        if not self.roles or "api" in self.roles:
            wait_for_port(self.api_port, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM and wait for the graceful exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.api_port}/ws"
