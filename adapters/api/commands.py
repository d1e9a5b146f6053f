"""A client command in flight and its outcome.

The outcome is read off the domain stream (docs/contracts.md, "Domain events"):
``transaction.started`` / ``transaction.stopped`` with the command's correlationId (a stop
also matches ``transaction.stopped`` of its transactionId), ``command.rejected``,
``command.failed`` (reason "offline" → offline), ``command.timed_out``. ``command.accepted``
is intermediate for start/stop (the charge point said yes; the transaction follows).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from chargelog.domain.log import Record
from chargelog.projections.views import SessionView

from .hub import DomainHub, Watch

OutcomeStatus = Literal["started", "stopped", "accepted", "rejected", "offline", "timeout", "failed"]
CommandKind = Literal["start", "stop"]


@dataclass(frozen=True)
class Outcome:
    """How a command ended. ``session`` is set for started/stopped (built from the domain
    event); ``record`` is the domain event that decided it (None on our own timeout)."""

    status: OutcomeStatus
    session: SessionView | None = None
    reason: str | None = None
    record: Record | None = None


def session_from_event(payload: dict[str, Any], status: str) -> SessionView:
    """A :class:`SessionView` from a ``transaction.started``/``transaction.stopped`` payload
    (field names per docs/contracts.md; unknown fields ignored)."""
    fields = {k: v for k, v in payload.items() if k in SessionView.model_fields and v is not None}
    return SessionView(**{**fields, "status": status})


@dataclass(eq=False)
class Command:
    """A command appended as ``command.requested``. ``await outcome(timeout_s)`` follows the
    domain stream until it ends (at most ``timeout_s`` s, then ``timeout``)."""

    correlationId: str
    chargePointId: str
    kind: CommandKind
    connectorId: int | None = None
    transactionId: int | None = None
    default_timeout_s: float = 90.0
    _hub: DomainHub | None = field(default=None, repr=False)
    _watch: Watch | None = field(default=None, repr=False)
    _result: Outcome | None = field(default=None, repr=False)

    async def outcome(self, timeout_s: float | None = None) -> Outcome:
        if self._result is not None:
            return self._result
        assert self._watch is not None and self._hub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_s if timeout_s is not None else self.default_timeout_s)
        accepted = False
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                record = await asyncio.wait_for(self._watch.events.get(), remaining)
                result = self._decide(record, accepted)
                if result == "accepted":
                    accepted = True
                    continue
                if result is not None:
                    self._result = result
                    return result
        except TimeoutError:
            note = "accepted by the charge point, " if accepted else ""
            self._result = Outcome("timeout", reason=f"{note}no outcome within the timeout")
            return self._result
        finally:
            self.close()

    def _decide(self, record: Record, accepted: bool) -> Outcome | Literal["accepted"] | None:
        event = record.event
        payload = event.payload
        reason = payload.get("reason")
        if event.type == "transaction.started" and self.kind == "start":
            return Outcome("started", session_from_event(payload, "active"), reason, record)
        if event.type == "transaction.stopped" and self.kind == "stop":
            return Outcome("stopped", session_from_event(payload, "stopped"), reason, record)
        if event.correlationId != self.correlationId:
            return None
        if event.type == "command.accepted":
            return "accepted"
        if event.type == "command.rejected":
            return Outcome("rejected", reason=reason or "Rejected", record=record)
        if event.type == "command.timed_out" or (event.type == "command.failed" and reason == "timeout"):
            return Outcome("timeout", reason=reason or "timeout", record=record)
        if event.type == "command.failed":
            return Outcome("offline" if reason == "offline" else "failed", reason=reason, record=record)
        return None

    def close(self) -> None:
        """Stop following the domain stream (idempotent)."""
        if self._watch is not None and self._hub is not None:
            self._hub.unwatch(self._watch)
            self._watch = None

