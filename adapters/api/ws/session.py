"""The session engine every WebSocket dialect runs on: one connection's sending, receiving
under the limits, background tasks, push streams and its place in the ``/health`` counts.

A dialect supplies only what is its own: how to answer a text (its codec and routing table),
its error form for an oversized message, and how to turn a domain record into pushes. The
engine does the rest, the same way for all of them:

* **receive** — :meth:`Session.serve` reads text under the :class:`~.base.LimitPolicy` given
  (size limit → the dialect's :meth:`Session.refuse`, then close 1009; idle timeout → close 1000 with the
  dialect's reason; a vanished peer ends the session);
* **send** — one :class:`Sender` per connection serialises sends from every task and drops
  them once the socket is gone;
* **tasks** — :meth:`Session.spawn` runs work alongside (slow commands, heartbeats); all are
  cancelled when the connection ends;
* **pushes** — :meth:`Session.subscribe` / :meth:`Session.unsubscribe` keep named push
  streams; each runs a catch-up subscription of the core
  (:meth:`~chargelog.adapters.api.core.ClientCore.subscribe`) into the dialect's ``deliver``
  (:meth:`Session.follow`), an event reaching a client twice is sent once
  (:meth:`Session.first_delivery`);
  the hub stopping closes 1012 "service restart", any other end 1011;
* **auth stage** — :meth:`Session.verify` (JWT or API key, throttled per address) makes
  the connection the caller's, :meth:`Session.sign_out` nobody's, :meth:`Session.close_at_expiry`
  ends it with the token;
* **counts** — the connection is registered in the app's :class:`~.state.DialectState`
  (``/health`` ``websocket``) from accept to close, with its caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chargelog.domain.envelope import Event
from chargelog.domain.log import PositionNotAvailable, Record

from ..auth import token_expiry
from ..caller import Caller
from ..hub import HubStopped
from ..throttle import client_address
from .base import ApiContext, IdleTimeout, LimitPolicy, MessageTooLarge
from .frames import Parts, TextFrame, frame_writer
from .state import state_for
from .wire import peek_id

logger = logging.getLogger(__name__)


class Sender:
    """Sends on one WebSocket from several tasks, one at a time: a dict as compact JSON, a str
    as is, a :class:`~.frames.TextFrame` (a push built once) or :class:`~.frames.Parts` (a
    reply around a shared snapshot). Where the server offers a
    :class:`~.frames.FrameWriter`, frames go straight to the transport (a TextFrame's bytes
    as they are, shared by every socket); else as text through ASGI. After the socket
    closed, sends are dropped (``closed`` turns true)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()
        self.closed = False
        self._writer = frame_writer(websocket.scope)

    async def send(self, message: dict[str, Any] | str | TextFrame | Parts) -> bool:
        """Send one message; False when the connection is gone."""
        async with self._lock:
            if self.closed or self.websocket.application_state != WebSocketState.CONNECTED:
                self.closed = True
                return False
            try:
                if self._writer is not None:
                    if not await self._writer.write(_chunks(message)):
                        self.closed = True
                        return False
                else:
                    await self.websocket.send_text(_text(message))
            except Exception:  # noqa: BLE001 - a vanished peer ends the connection, not the app
                self.closed = True
                return False
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket with ``code``/``reason`` (once)."""
        async with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._writer is not None:
                self._writer.flush()  # frames queued before the close go out before it
            with contextlib.suppress(Exception):
                if self.websocket.application_state == WebSocketState.CONNECTED:
                    await self.websocket.close(code, reason)


def _text(message: dict[str, Any] | str | TextFrame | Parts) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, (TextFrame, Parts)):
        return message.text
    return json.dumps(message, separators=(",", ":"), default=str)


def _chunks(message: dict[str, Any] | str | TextFrame | Parts) -> list[bytes]:
    if isinstance(message, TextFrame):
        return [message.frame]
    if isinstance(message, Parts):
        return message.chunks()
    return [TextFrame(_text(message)).frame]


#: Event ids remembered per connection by :meth:`Session.first_delivery` (about 120 bytes
#: each: the window is most of an idle connection's memory once it has seen this many pushes).
DEDUP_WINDOW = 256


@dataclass
class Subscription:
    """One push stream of a connection: ``accept(event)`` tells whether it carries an event."""

    id: str
    accept: Callable[[Event], bool]
    task: asyncio.Task[None] | None = None


class Session:
    """One connection of dialect ``dialect`` (see the module docstring). ``limits``: the
    receive limits (size, idle timeout; None keeps the API default ``ctx.limits``)."""

    def __init__(self, websocket: WebSocket, ctx: ApiContext, dialect: str, limits: LimitPolicy | None = None) -> None:
        self.websocket = websocket
        self.ctx = ctx
        self.core = ctx.core
        self.settings = ctx.settings
        self.state = state_for(ctx.core, ctx.settings)
        self.sender = Sender(websocket)
        self.receiver = (limits or ctx.limits).connection()
        self.connection = self.state.open(dialect)
        self.address = client_address(websocket)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.caller: Caller | None = None
        self.expires_at: datetime | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self._delivered: set[str] = set()
        self._delivered_order: deque[str] = deque()

    async def verify(self, *, token: str | None = None, api_key: str | None = None) -> Caller:
        """The auth stage every dialect shares: the caller of an API key (else a JWT), with
        failures throttled per client address and principal (:mod:`..throttle`, settings
        ``auth_*``). On success the connection is the caller's (:attr:`caller`, counted in
        ``/health``; :attr:`expires_at` the JWT's ``exp``). Raises CoreError ``unauthorized``
        or ``rate_limited`` — the dialect answers it in its own form."""
        if api_key:
            caller = await self.core.authenticate_api_key(api_key, self.address)
        else:
            caller = await self.core.authenticate_jwt(token or "", self.address)
        self.caller, self.expires_at = caller, None if api_key else token_expiry(token or "")
        self.connection.userId = caller.userId
        return caller

    def sign_out(self) -> None:
        """The connection is nobody's any more."""
        self.caller = self.expires_at = self.connection.userId = None

    def close_at_expiry(self, code: int, reason: str) -> None:
        """Close the connection with ``code``/``reason`` when the caller's token expires."""
        if self.expires_at is not None:
            self.spawn(self._close_at(self.expires_at, code, reason))

    async def _close_at(self, at: datetime, code: int, reason: str) -> None:
        await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        await self.sender.close(code, reason)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` alongside the connection; cancelled when it ends."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    #: Reason of the close 1000 after the idle timeout (None: the timeout's message).
    idle_reason: str | None = None

    async def refuse(self, request_id: Any, text: str) -> None:
        """Answer a text the dialect cannot take (oversized, not JSON, …) in its own error form,
        with ``request_id`` when it was readable. Every dialect defines it."""
        raise NotImplementedError

    async def serve(self, on_text: Callable[[str], Awaitable[None]], *, first: str | None = None) -> None:
        """Answer ``first`` and every later text with ``on_text`` until the connection ends;
        then :meth:`end`. An oversized text gets :meth:`refuse` and close 1009; silence for
        the idle timeout closes 1000 (:attr:`idle_reason`)."""
        try:
            if first is not None:
                await on_text(first)
            while not self.sender.closed:
                try:
                    text = await self.receiver.receive_text(self.websocket)
                except MessageTooLarge as exc:
                    await self.refuse(peek_id(exc.text), str(exc))
                    await self.sender.close(1009, "Message too big")
                    return
                except IdleTimeout as exc:
                    await self.sender.close(1000, self.idle_reason or str(exc))
                    return
                await on_text(text)
        except WebSocketDisconnect:
            pass
        finally:
            await self.end()

    async def end(self) -> None:
        """Forget the connection and cancel its tasks (idempotent)."""
        self.connection.close()
        self.sender.closed = True
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def subscribe(self, sub_id: str, records: AsyncIterator[Record], deliver: Callable[[Record], Awaitable[bool | None]],
                  *, accept: Callable[[Event], bool] = lambda _: True,
                  on_gone: Callable[[PositionNotAvailable], Awaitable[Any]] | None = None) -> Subscription:
        """Start the push stream ``sub_id`` (ending one of that name): a catch-up subscription
        of the core fed to ``deliver`` (:meth:`follow`) once the current answer is out."""
        self.unsubscribe(sub_id)
        subscription = self.subscriptions[sub_id] = Subscription(sub_id, accept)
        subscription.task = self.spawn(self.follow(records, deliver, on_gone))
        return subscription

    def unsubscribe(self, sub_id: str) -> bool:
        """End the push stream ``sub_id``; False when there is none."""
        subscription = self.subscriptions.pop(sub_id, None)
        if subscription is not None and subscription.task is not None:
            subscription.task.cancel()
        return subscription is not None

    def first_delivery(self, event_id: str) -> bool:
        """True the first time ``event_id`` is delivered on this connection (the last
        :data:`DEDUP_WINDOW` ids are remembered): an event reaching a client by two ways — a
        subscription and a command's outcome — is sent once."""
        if event_id in self._delivered:
            return False
        self._delivered.add(event_id)
        self._delivered_order.append(event_id)
        if len(self._delivered_order) > DEDUP_WINDOW:
            self._delivered.discard(self._delivered_order.popleft())
        return True

    async def follow(self, records: AsyncIterator[Record], deliver: Callable[[Record], Awaitable[bool | None]],
                     on_gone: Callable[[PositionNotAvailable], Awaitable[Any]] | None = None) -> None:
        """Feed a subscription's records to ``deliver`` until it returns False or the
        connection ends. The log dropping the start position → ``on_gone`` (else close
        1011); the hub stopping → close 1012 "service restart"; another failure → 1011."""
        try:
            await asyncio.sleep(0)  # the answer that started the stream goes out first
            async for record in records:
                if await deliver(record) is False:
                    return
        except asyncio.CancelledError:
            raise
        except PositionNotAvailable as exc:
            await (on_gone(exc) if on_gone is not None else self.sender.close(1011, "Push stream ended"))
        except HubStopped:
            await self.sender.close(1012, "service restart")
        except Exception:  # noqa: BLE001 - the connection ends, the app lives on
            logger.exception("push stream ended")
            await self.sender.close(1011, "Push stream ended")
        finally:
            with contextlib.suppress(BaseException):
                await records.aclose()  # type: ignore[attr-defined]
