"""The request dispatch every WebSocket dialect shares, like ``ocpp``'s ``@on(Action…)``: a
dialect marks each handler with :func:`route` (message name, params model, whether it needs a
signed-in caller, whether it runs alongside later messages) and supplies three hooks — how to
read its envelope, how to wrap a handler's result, how to word a refusal. :meth:`RoutedSession.dispatch`
does the rest, the same way for all (docs/dialects.md, "Bad input"):

1. count the message against the dialect's rate limit (:meth:`RoutedSession.throttle`);
2. parse it (:func:`.wire.loads`: invalid JSON, nesting too deep, lone surrogates →
   ``malformed``) and read the id to answer with (:func:`.wire.reply_id`);
3. refuse it when over the rate limit (``throttled``);
4. read the dialect's envelope (:meth:`RoutedSession.envelope` → name, params; ``malformed``);
5. look the name up (``unknown``, with the supported names);
6. check the caller (``unauthenticated``, ``expired`` — a JWT past its ``exp``);
7. check the route's required params (``missing``: absent, null or ``""``) and validate them
   with its model (``invalid``: the first problem, ``loc: msg``);
8. run the handler — inline, so requests are answered in the order received, or alongside
   (``background``) for one that waits for a charge point — and send :meth:`RoutedSession.reply`.

An oversized text is refused as ``oversized`` (:meth:`~.session.Session.serve`). Every
refusal, and every :class:`~..caller.CoreError` or other failure a handler raises (an
unexpected one is logged and becomes ``internal``), is sent as :meth:`RoutedSession.error`
gives it, with the request's id; the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect

from ..caller import Caller, CoreError
from .session import Session
from .wire import BadMessage, loads, reply_id

logger = logging.getLogger(__name__)


class Refusal(Exception):
    """A request answered with the dialect's error. ``reason``: what the dispatcher found
    (malformed, oversized, throttled, unknown, unauthenticated, expired, missing, invalid,
    internal), a :class:`~..caller.CoreError` kind (bad_request, unauthorized, forbidden, not_found, offline,
    rejected, timeout, rate_limited) or a dialect's own code; ``text`` the human-readable part;
    ``details`` a JSON object (``missing``, ``supported``, ``correlationId``, …)."""

    def __init__(self, reason: str, text: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.reason, self.text, self.details = reason, text, details or {}

    @classmethod
    def of(cls, exc: BaseException) -> Refusal:
        """``exc`` as a refusal: a ValidationError is ``invalid`` (its first problem); a
        CoreError keeps its kind and ``correlationId``; anything else is ``internal``."""
        if isinstance(exc, Refusal):
            return exc
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            return cls("invalid", f"{'.'.join(str(p) for p in first['loc']) or 'message'}: {first['msg']}")
        if isinstance(exc, CoreError):
            return cls(exc.kind, exc.message, {"correlationId": exc.correlationId} if exc.correlationId else None)
        return cls("internal", f"Internal error: {type(exc).__name__}")


@dataclass(frozen=True)
class Request:
    """One routed request: ``id`` to answer with (None when unreadable), ``name`` (the action
    or type), ``caller`` at the time it arrived (None before sign-in)."""

    id: Any = None
    name: str = ""
    caller: Caller | None = None

    @property
    def user(self) -> Caller:
        """The caller of a route that needs one (``auth``: the dispatcher checked it)."""
        assert self.caller is not None
        return self.caller


@dataclass(frozen=True)
class Route:
    """A routing-table entry: the handler's attribute name, its ``params`` model (None: the
    raw params object), the ``required`` params, ``auth`` (needs a signed-in caller) and
    ``background`` (runs alongside the requests after it)."""

    handler: str
    params: type[BaseModel] | None = None
    required: tuple[str, ...] = ()
    auth: bool = True
    background: bool = False


Handler = Callable[[Any, Request, Any], Awaitable[Any]]


def route(name: str, params: type[BaseModel] | None = None, *, required: tuple[str, ...] = (), auth: bool = True,
          background: bool = False) -> Callable[[Handler], Handler]:
    """Mark a :class:`RoutedSession` method as the handler of message ``name``:
    ``handler(self, request, params) -> result`` (see :class:`Route`)."""

    def mark(handler: Handler) -> Handler:
        handler.routes = (*getattr(handler, "routes", ()), (name, params, required, auth, background))  # type: ignore[attr-defined]
        return handler

    return mark


class RoutedSession(Session):
    """A :class:`~.session.Session` answering requests through its routing table
    (:attr:`routes`, built from the :func:`route` marks of the class and its bases)."""

    routes: ClassVar[dict[str, Route]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.routes = {name: Route(attr, *spec) for klass in reversed(cls.__mro__) for attr, fn in vars(klass).items()
                      for name, *spec in getattr(fn, "routes", ())}

    # -- the dialect's hooks ----------------------------------------------------------------

    def envelope(self, message: Any) -> tuple[str, Any]:
        """(name, params) of a parsed message; raises :class:`Refusal` ``malformed`` or
        ValidationError."""
        raise NotImplementedError

    def reply(self, request: Request, result: Any) -> Any:
        """The message answering ``request`` with a handler's ``result`` (None: nothing)."""
        return result

    def error(self, request: Request, refusal: Refusal) -> Any:
        """The dialect's error message for ``refusal`` of ``request``."""
        raise NotImplementedError

    def throttle(self) -> Refusal | None:
        """Count one message; a ``throttled`` refusal when over the limit. Default: the
        per-user message limit of the app's :class:`~..ratelimit.ChargingLimits` once signed in."""
        if self.caller is None:
            return None
        verdict = self.state.limits.messages.hit(f"user:{self.caller.userId}")
        return None if verdict.allowed else Refusal("throttled", "Too many messages; slow down",
                                                    {"limit": verdict.limit, "retryAfter": verdict.retry_after_s})

    async def refuse(self, request_id: Any, text: str) -> None:
        await self.send_refusal(Request(request_id), Refusal("oversized", text))

    async def send_refusal(self, request: Request, exc: BaseException) -> None:
        """Send :meth:`error` for ``exc`` (as :meth:`Refusal.of` reads it) refusing ``request``
        — also for a refusal outside a request's answer (a command's later outcome)."""
        await self.sender.send(self.error(request, Refusal.of(exc)))

    # -- dispatch ---------------------------------------------------------------------------

    async def dispatch(self, text: str) -> None:
        """Answer one client text (see the module docstring)."""
        over = self.throttle()
        request = Request(caller=self.caller)
        try:
            try:
                message = loads(text)
            except BadMessage as exc:
                request = Request(exc.request_id, caller=self.caller)
                raise Refusal("malformed", str(exc)) from None
            request = Request(reply_id(message), caller=self.caller)
            if over is not None:
                raise over
            name, raw = self.envelope(message)
            request = Request(request.id, name, self.caller)
            entry = self.routes.get(name)
            if entry is None:
                raise Refusal("unknown", f"unknown {name!r}", {"type": name, "supported": list(self.routes)})
            if entry.auth and self.caller is None:
                raise Refusal("unauthenticated", "not authenticated")
            if entry.auth and self.expires_at is not None and datetime.now(UTC) >= self.expires_at:
                raise Refusal("expired", "token expired")
            params = self._params(entry, raw)
        except (Refusal, ValidationError) as exc:
            await self.send_refusal(request, exc)
            return
        if entry.background:
            self.spawn(self._answer(entry, request, params))
        else:
            await self._answer(entry, request, params)

    @staticmethod
    def _params(entry: Route, raw: Any) -> Any:
        missing = [f for f in entry.required if not isinstance(raw, dict) or raw.get(f) in (None, "")]
        if missing:
            raise Refusal("missing", f"Missing required parameters: {', '.join(missing)}", {"missing": missing})
        return raw if entry.params is None else entry.params.model_validate(raw or {})

    async def _answer(self, entry: Route, request: Request, params: Any) -> None:
        try:
            result = await getattr(self, entry.handler)(request, params)
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - answered in the dialect's form, the connection lives on
            if not isinstance(exc, Refusal | CoreError | ValidationError):
                logger.exception("%s request %s failed", type(self).__name__, request.name)
            await self.send_refusal(request, exc)
            return
        message = self.reply(request, result)
        if message is not None:
            await self.sender.send(message)

