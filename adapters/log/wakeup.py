"""Cross-process wake-ups for the embedded engine: after a commit, the writing process tells
every other process that has the same log open which stream grew.

Each :class:`Wakeups` binds one Unix datagram socket in Linux's abstract namespace (no file
to clean up, no path-length limit) and drops a marker file ``{log dir}/wake/{name}`` so
peers find it. ``notify(stream)`` sends the stream's name to every peer (non-blocking: a
peer whose queue is full is awake anyway; a peer that is gone has its marker removed);
the receiving process calls ``on_wake(stream)`` from its event loop. The embedded engine
keeps its slow poll as the fallback (other platforms, a peer that started less than a
directory listing ago), so a lost datagram delays, never loses, a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

#: Longest stream name carried in one datagram (bytes).
MAX_NAME_BYTES = 256


def supported() -> bool:
    """Abstract-namespace Unix sockets exist on Linux only."""
    return sys.platform.startswith("linux")


class Wakeups:
    """One process's wake-up socket for the log under ``directory``; see the module docstring.

    ``open()`` needs a running event loop; ``close()`` is idempotent."""

    def __init__(self, directory: Path, on_wake: Callable[[str], None]) -> None:
        self.dir = directory / "wake"
        self._on_wake = on_wake
        self._key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:24]
        self.name = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: list[str] = []
        self._listed_at: int = -1  # the directory's mtime (ns) when ``_peers`` was listed

    def _address(self, name: str) -> bytes:
        return f"\0chargelog-{self._key}-{name}".encode()

    def open(self) -> None:
        """Bind the socket, announce it, read wake-ups on the running loop."""
        self.dir.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self._address(self.name))
        sock.setblocking(False)
        self._sock = sock
        (self.dir / self.name).touch()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(OSError):
            (self.dir / self.name).unlink()

    def _readable(self) -> None:
        streams: set[str] = set()
        while self._sock is not None:
            try:
                data = self._sock.recv(MAX_NAME_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            streams.add(data.decode(errors="replace"))
        for stream in streams:
            self._on_wake(stream)

    def _listed(self) -> list[str]:
        """The other processes' names, listed again only when the directory changed."""
        try:
            mtime = os.stat(self.dir).st_mtime_ns
        except OSError:
            return []
        if mtime != self._listed_at:
            self._listed_at = mtime
            self._peers = [n for n in os.listdir(self.dir) if n != self.name]
        return self._peers

    def notify(self, stream: str) -> None:
        """Tell every peer that ``stream`` grew (never blocks, never raises)."""
        if self._sock is None:
            return
        data = stream.encode()
        for peer in self._listed():
            try:
                self._sock.sendto(data, self._address(peer))
            except (BlockingIOError, InterruptedError):
                pass  # its queue is full: it has wake-ups to read already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):  # that process is gone
                    (self.dir / peer).unlink()
            except OSError as exc:
                logger.debug("wake-up to %s failed: %s", peer, exc)
