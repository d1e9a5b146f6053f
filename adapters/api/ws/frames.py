"""Server-to-client text frames built once and written as the same bytes to every socket.

A push goes to every subscriber that sees it and a subscription snapshot (megabytes for a
large map) to every client asking for the same map version; encoding and framing them per
socket made the fan-out cost grow with the message size times the audience. Here:

* :class:`TextFrame` — one text message encoded once: its ``text`` and its whole WebSocket
  frame (RFC 6455 section 5.2: FIN, opcode 0x1 text, unmasked as every server frame, payload
  length in 7, 7+16 or 7+64 bits), shared by every socket it is written to;
* :class:`Parts` — a text message made of per-client pieces (a reply's ``id``) and shared
  pieces (:class:`SharedJson`, whose UTF-8 bytes are encoded once); its frame is a small
  per-client head, the shared bytes as they are, and a small tail;
* :class:`FrameWriter` — writes such frames straight to a connection's transport when the
  server runs uvicorn's ``websockets-sansio`` protocol without per-message deflate (as
  ``chargelog serve`` does): no ASGI message, no per-socket encoding or framing; the shared
  bytes are handed to the transport as they are (Python 3.11's transport copies only the part
  the kernel did not take at once), one write per connection per event-loop turn. The
  :class:`WebSocketFrames` middleware finds the connection's protocol from the ASGI ``send``
  callable and offers the writer in the scope (``scope["extensions"]`` under
  :data:`EXTENSION`); on any other server :class:`~.session.Sender` sends the text through
  ASGI as before — the same bytes on the wire either way.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

#: The scope extension under which :class:`WebSocketFrames` offers a :class:`FrameWriter`.
EXTENSION = "chargelog.websocket.frames"


#: Chunks from this size on are written as they are, not joined with their neighbours (bytes).
LARGE_CHUNK = 65_536


def text_header(length: int) -> bytes:
    """The head of an unmasked, final text frame of ``length`` payload bytes (RFC 6455
    section 5.2)."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


class TextFrame:
    """``text`` and its whole frame (``frame``: head + UTF-8 payload), built once."""

    __slots__ = ("text", "frame")

    def __init__(self, text: str) -> None:
        payload = text.encode()
        self.text = text
        self.frame = text_header(len(payload)) + payload


class SharedJson(str):
    """Already-encoded JSON text, spliced into a message as is; its UTF-8 bytes
    (:attr:`utf8`) are encoded once per object however many messages carry it."""

    @cached_property
    def utf8(self) -> bytes:
        return self.encode()


class Parts(tuple[str, ...]):
    """A text message as the concatenation of its pieces; :class:`SharedJson` pieces are
    written as their shared bytes, the others encoded per message."""

    @property
    def text(self) -> str:
        return "".join(self)

    def chunks(self) -> list[bytes]:
        """The frame as byte chunks: head + first pieces up to the first shared one, then
        shared bytes as they are, with the small pieces between them joined."""
        encoded = [p.utf8 if isinstance(p, SharedJson) else p.encode() for p in self]
        chunks: list[bytes] = []
        small: list[bytes] = [text_header(sum(map(len, encoded)))]
        for part, data in zip(self, encoded):
            if isinstance(part, SharedJson) and len(data) >= LARGE_CHUNK:
                chunks.append(b"".join(small))
                chunks.append(data)
                small = []
            else:
                small.append(data)
        if small:
            chunks.append(b"".join(small))
        return chunks


class FrameWriter:
    """Writes whole frames on one connection of uvicorn's ``websockets-sansio`` protocol
    (``protocol``), through its transport, honouring its flow control (waits while the
    transport is paused, as the protocol's own ``send`` does). The frames written during one
    turn of the event loop go out together at its end (one ``send`` system call for a
    subscriber's batch of pushes, not one per push); a frame's chunks are never split, so
    nothing else (the protocol's pings and pongs, a close) lands inside one. Call
    :meth:`flush` before anything else writes to the connection (a close)."""

    __slots__ = ("_protocol", "_pending")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._pending: list[bytes] | None = None

    @property
    def open(self) -> bool:
        """True while frames may be written: the handshake done, not closing or closed."""
        p = self._protocol
        return (p.handshake_complete and not p.close_sent and not p.disconnected and p.initial_response is None
                and p.conn.state is State.OPEN and not p.transport.is_closing())

    async def write(self, chunks: Iterable[bytes]) -> bool:
        """Queue one frame's chunks for the end of this loop turn; False when the connection
        can no longer take frames."""
        p = self._protocol
        if not p.writable.is_set():
            await p.writable.wait()
        if not self.open:
            return False
        if self._pending is None:
            self._pending = []
            p.loop.call_soon(self.flush)
        self._pending.extend(chunks)
        return True

    def flush(self) -> None:
        """Write what is queued: small chunks joined, large ones (a shared snapshot) as they
        are, without copying them."""
        pending, self._pending = self._pending, None
        if not pending or not self.open:
            return
        write = self._protocol.transport.write
        small: list[bytes] = []
        for chunk in pending:
            if len(chunk) < LARGE_CHUNK:
                small.append(chunk)
                continue
            if small:
                write(b"".join(small))
                small = []
            write(chunk)
        if small:
            write(b"".join(small))


def frame_writer(scope: Scope) -> FrameWriter | None:
    """The connection's :class:`FrameWriter`, or None when the server offers none."""
    writer = scope.get("extensions", {}).get(EXTENSION)
    return writer if isinstance(writer, FrameWriter) else None


class WebSocketFrames:
    """ASGI middleware (outermost, before anything wraps ``send``): for a WebSocket
    connection served by uvicorn's ``websockets-sansio`` protocol, puts a
    :class:`FrameWriter` for it in ``scope["extensions"][EXTENSION]``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol: Any = getattr(send, "__self__", None)
            # extensions are negotiated in the handshake, before the app is called; with
            # per-message deflate every frame would need compressing: no writer then
            if isinstance(protocol, WebSocketsSansIOProtocol) and not protocol.conn.extensions:
                scope.setdefault("extensions", {})[EXTENSION] = FrameWriter(protocol)
        await self.app(scope, receive, send)
