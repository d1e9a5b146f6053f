"""A request-head timeout for the client API's HTTP server (uvicorn closes idle keep-alive
connections after ``timeout_keep_alive``, but waits for ever for the head of a first request
that never completes — a slowloris). :func:`header_timeout_protocol` is uvicorn's own HTTP
protocol class with one more timer: a connection that has not sent a complete request head
(request line and headers, or a WebSocket upgrade) within ``timeout_s`` seconds is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def header_timeout_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (httptools or h11) closing connections without a
    complete request head after ``timeout_s`` s (pass it as ``uvicorn.Config(http=…)``)."""
    base: Any = AutoHTTPProtocol

    class HeaderTimeoutProtocol(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(timeout_s, self._head_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

        def _head_timeout(self) -> None:
            # no request cycle yet, and the socket was not handed over to a WebSocket
            if self.cycle is None and self.transport.get_protocol() is self and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol
