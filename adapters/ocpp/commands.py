"""Central-system-initiated OCPP 1.6 operations as events.

Anyone (client API, operator REST, ``chargelog command``, simulator) requests an operation
with :func:`request_command`, which appends a ``command.requested`` event to the ``source``
stream and returns its ``correlationId``. The gateway holding the charge point's connection
sends the CALL; everything that follows carries the same ``correlationId``:

* ``ocpp.frame`` direction "out", messageTypeId 2 — the CALL sent;
* ``ocpp.frame`` direction "in", messageTypeId 3 — the CALLRESULT (the outcome), or
  messageTypeId 4 — a CALLERROR, followed by ``command.failed`` reason "callerror";
* ``command.failed`` reason "offline" (nobody holds the connection), "timeout" (no answer
  within ``timeoutSeconds``) or "invalid" (request or response breaks the 1.6 schema).

:class:`CommandOutcome` folds those events; :func:`wait_for_outcome` follows the log until
one is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from ocpp.exceptions import OCPPError

from chargelog.domain.command_outcomes import command_outcome
from chargelog.domain.envelope import Event, Principal, Source
from chargelog.domain.log import SOURCE, START, EventLog, Position, Record

from .sealing import Sealer, secret_field
from .validation import validate

REQUESTED = "command.requested"
FAILED = "command.failed"

#: Every operation a central system initiates in OCPP 1.6 (Core, Firmware Management, Local
#: Auth List Management, Reservation, Smart Charging, Remote Trigger profiles; §5).
CORE_ACTIONS = frozenset({
    "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "ChangeAvailability",
    "ChangeConfiguration", "GetConfiguration", "ClearCache", "UnlockConnector", "DataTransfer",
    "TriggerMessage", "GetDiagnostics", "UpdateFirmware", "SendLocalList", "GetLocalListVersion",
    "ReserveNow", "CancelReservation", "SetChargingProfile", "ClearChargingProfile",
    "GetCompositeSchedule",
})
#: The central system's operations of the Security Extensions (Security Whitepaper ed. 3).
SECURITY_ACTIONS = frozenset({
    "CertificateSigned", "InstallCertificate", "DeleteCertificate", "GetInstalledCertificateIds",
    "GetLog", "SignedUpdateFirmware", "ExtendedTriggerMessage",
})
CS_ACTIONS = CORE_ACTIONS | SECURITY_ACTIONS

_SOURCE_OF_KIND = {"operator": Source.OPERATOR, "system": Source.SYSTEM}


class InvalidCommand(ValueError):
    """The action is not a central-system-initiated 1.6 operation, or the request breaks
    its 1.6 JSON schema. ``error_code`` is the 1.6 CallError code it would earn."""

    def __init__(self, message: str, error_code: str = "NotSupported") -> None:
        super().__init__(message)
        self.error_code = error_code


def check_command(action: str, request: Any) -> None:
    """Raise :class:`InvalidCommand` unless ``action`` is in :data:`CS_ACTIONS` and
    ``request`` is valid for its OCPP 1.6 schema."""
    if action not in CS_ACTIONS:
        raise InvalidCommand(f"{action!r} is not a central-system-initiated OCPP 1.6 operation")
    try:
        validate(2, action, request)
    except OCPPError as exc:
        raise InvalidCommand(f"{action} request: {exc.details.get('cause', exc.description)}"
                             f" at {exc.details.get('path') or 'payload'}", exc.code) from exc


def _principal(principal: Principal | dict[str, str] | str) -> Principal:
    if isinstance(principal, Principal):
        return principal
    if isinstance(principal, dict):
        return Principal(**principal)
    return Principal(kind="operator", id=str(principal))


def command_requested_event(charge_point_id: str, action: str, request: dict[str, Any], *,
                            principal: Principal | dict[str, str] | str,
                            correlation_id: str | None = None,
                            timeout_s: float | None = None, sealer: Sealer | None = None) -> Event:
    """The ``command.requested`` event (validated with :func:`check_command`). A credential
    in the request (:func:`~.sealing.secret_field`) is sealed with ``sealer``; without one
    such a request raises :class:`InvalidCommand` ("SecurityError")."""
    check_command(action, request)
    payload: dict[str, Any] = {"action": action, "request": request, "timeoutSeconds": timeout_s}
    if secret_field(action, request) is not None:
        if sealer is None:
            raise InvalidCommand(f"{action} {request.get('key')} carries a credential: only the operator API and "
                                 "CLI (which seal it) may send it", "SecurityError")
        payload["request"], payload["sealed"] = sealer.seal_request(action, request)
    who = _principal(principal)
    return Event(type=REQUESTED, chargePointId=charge_point_id,
                 source=_SOURCE_OF_KIND.get(who.kind, Source.CLIENT), principal=who,
                 correlationId=correlation_id or str(uuid.uuid4()), payload=payload)


async def request_command(log: EventLog, charge_point_id: str, action: str, request: dict[str, Any], *,
                          principal: Principal | dict[str, str] | str, correlation_id: str | None = None,
                          timeout_s: float | None = None, sealer: Sealer | None = None) -> str:
    """Request OCPP 1.6 ``action`` with ``request`` (its camelCase payload) on
    ``charge_point_id``; returns the ``correlationId`` once the request is durable.

    ``principal``: who asks (a Principal, ``{"kind", "id"}``, or an operator id string);
    ``timeout_s``: how long the gateway waits for the CALLRESULT (default: the gateway's
    ``command_timeout_s``); ``sealer``: seals a credential in the request (:mod:`.sealing`).
    Raises :class:`InvalidCommand` before appending anything."""
    event = command_requested_event(charge_point_id, action, request, principal=principal,
                                    correlation_id=correlation_id, timeout_s=timeout_s, sealer=sealer)
    await log.append(SOURCE, [event])
    assert event.correlationId is not None
    return event.correlationId


def command_failed_event(charge_point_id: str, correlation_id: str | None, action: str | None,
                         reason: str, *, error_code: str | None = None, detail: str = "",
                         causation_id: str | None = None, source: Source = Source.OCPP) -> Event:
    """A ``command.failed`` event (reason "offline", "timeout", "callerror" or "invalid")."""
    return Event(type=FAILED, chargePointId=charge_point_id, source=source,
                 correlationId=correlation_id, causationId=causation_id,
                 payload={"action": action, "reason": reason, "errorCode": error_code, "detail": detail})


@dataclass
class CommandOutcome:
    """What became of one command. ``status``: "pending" (requested), "sent" (CALL sent),
    "answered" (CALLRESULT received: ``response`` is its payload, e.g. ``{"status":
    "Accepted"}``) or "failed" (``reason`` offline/timeout/callerror/invalid, ``errorCode``,
    ``detail``); :attr:`outcome` what the answer means (the fold's table, so operators and
    clients see the same outcome)."""

    correlationId: str
    chargePointId: str | None = None
    action: str | None = None
    request: dict[str, Any] | None = None
    status: str = "pending"
    response: dict[str, Any] | None = None
    reason: str | None = None
    errorCode: str | None = None
    detail: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in ("answered", "failed")

    def apply(self, event: Event) -> None:
        """Fold one event with this ``correlationId`` (others are ignored)."""
        if event.correlationId != self.correlationId:
            return
        p = event.payload
        if event.type == REQUESTED:
            self.chargePointId, self.action, self.request = event.chargePointId, p["action"], p["request"]
        elif event.type == "ocpp.frame" and p.get("direction") == "out" and p.get("messageTypeId") == 2:
            self.chargePointId, self.action = event.chargePointId, p.get("action")
            if self.status == "pending":
                self.status = "sent"
        elif event.type == "ocpp.frame" and p.get("direction") == "in" and p.get("messageTypeId") == 3:
            if self.status != "failed" and not p.get("schemaError"):
                self.status, self.response = "answered", p.get("payload")
        elif event.type == "ocpp.frame" and p.get("direction") == "in" and p.get("messageTypeId") == 4:
            self.errorCode, self.detail = p.get("errorCode"), p.get("errorDescription")
        elif event.type == FAILED:
            self.chargePointId = self.chargePointId or event.chargePointId
            self.status, self.reason = "failed", p.get("reason")
            self.errorCode = p.get("errorCode") or self.errorCode
            self.detail = p.get("detail") or self.detail
        else:
            return
        self.events.append(event.eventId)

    @property
    def outcome(self) -> str | None:
        """What the answer means per OCPP 1.6 (:mod:`chargelog.domain.command_outcomes`):
        "accepted", "scheduled", "rejected" or "failed"; None while not final."""
        if self.status == "failed":
            return "failed"
        if self.status == "answered":
            return command_outcome(self.action, self.response or {})[0]
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("events")
        data["outcome"] = self.outcome
        return data


async def wait_for_outcome(log: EventLog, correlation_id: str, *, after: Position,
                           timeout_s: float) -> CommandOutcome:
    """Follow ``source`` from ``after`` until the command's outcome is final or
    ``timeout_s`` (s) passes; returns the outcome as far as seen (maybe not final)."""
    outcome = CommandOutcome(correlation_id)

    async def follow() -> None:
        async with contextlib.aclosing(log.subscribe(SOURCE, after)) as records:
            async for record in records:
                outcome.apply(record.event)
                if outcome.final:
                    return

    try:
        await asyncio.wait_for(follow(), timeout_s)
    except TimeoutError:
        pass
    return outcome


async def find_outcome(log: EventLog, correlation_id: str, *, page: int = 5000) -> CommandOutcome | None:
    """The outcome of a command requested at any time: finds its ``command.requested``
    (a typed read of ``source``), then folds that charge point's events after it. None
    when no such command exists. Cost: a scan of the ``command.requested`` events."""
    position = START
    while True:
        records = await log.read(SOURCE, position, limit=page, types=(REQUESTED,))
        if not records:
            return None
        for record in records:
            if record.event.correlationId == correlation_id:
                return await _fold_from(log, record)
        position = records[-1].position


async def _fold_from(log: EventLog, requested: Record) -> CommandOutcome:
    outcome = CommandOutcome(requested.event.correlationId or "")
    outcome.apply(requested.event)
    position = requested.position
    while not outcome.final:
        records = await log.read(SOURCE, position, limit=1000, charge_point_id=requested.event.chargePointId,
                                 types=(REQUESTED, FAILED, "ocpp.frame"))
        if not records:
            break
        for record in records:
            outcome.apply(record.event)
        position = records[-1].position
    return outcome
