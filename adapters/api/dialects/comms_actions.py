"""Start and stop as the Communication Protocol's REST API (``POST /api/charging/start`` and
``/stop``) and the test guide's ``start_charging`` / ``stop_charging`` commands both answer
them — one routing over :class:`~chargelog.adapters.api.core.ClientCore`, two wire forms.
Result bodies and the failures' ``error`` / ``message`` pairs (with the HTTP status the REST
route answers with): docs/dialects.md ("WebSocket Communication Protocol").
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..caller import Caller, CoreError
from ..core import ClientCore
from ..ws.router import Refusal
from ..ws.units import kwh
from .comms_models import ChargerCommandData

#: (error, message, HTTP status) per failure kind — CoreError kinds, command outcomes, and
#: "no_session" (nothing to stop) / "charger_not_found".
FAILURES: dict[str, tuple[str, str, int]] = {
    "bad_request": ("Invalid request", "The request is not valid", 422),
    "malformed": ("Invalid request", "The body is not a JSON object", 400),
    "unauthorized": ("Unauthenticated", "A valid bearer token is required", 401),
    "forbidden": ("Forbidden", "This action is not allowed for this user", 403),
    "charger_not_found": ("Charger not found", "The requested charger does not exist", 404),
    "no_session": ("No active session", "No active charging session found", 404),
    "offline": ("Charger not available", "The requested charger is currently unavailable", 409),
    "busy": ("Charger not available", "The requested connector is in use", 409),
    "rejected": ("Charger not available", "The requested charger is currently unavailable", 409),
    "timeout": ("Charger not responding", "The charger did not respond in time", 504),
    "failed": ("Charging command failed", "The charger could not carry out the command", 502),
    "internal": ("Internal error", "The request could not be completed", 500),
}


#: :class:`FAILURES` kind per other refusal reason (:class:`~..ws.router.Refusal`).
KINDS = {"missing": "bad_request", "invalid": "bad_request", "unauthenticated": "unauthorized",
         "expired": "unauthorized"}


class ActionFailed(Refusal):
    """A start or stop that did not happen: ``error`` and ``message`` for the body,
    ``status`` for HTTP, ``detail`` (the underlying reason, may be None), ``message_id``."""

    def __init__(self, kind: str, detail: str | None = None, message_id: str | None = None) -> None:
        self.kind = kind
        self.error, self.message, self.status = FAILURES.get(kind, FAILURES["internal"])
        self.detail = detail
        self.message_id = message_id
        super().__init__(kind, f"{self.error}: {detail or self.message}", {"correlationId": message_id})

    @classmethod
    def of(cls, refusal: Refusal) -> ActionFailed:
        """A refusal (the dispatcher's or the core's) in this vocabulary (:data:`KINDS`)."""
        if isinstance(refusal, ActionFailed):
            return refusal
        missing = refusal.details.get("missing")
        detail = f"{', '.join(missing)} is required" if missing else refusal.text
        return cls(KINDS.get(refusal.reason, refusal.reason), detail, refusal.details.get("correlationId"))

    def body(self) -> dict[str, Any]:
        """``{"success": false, "error", "message"}`` (+ ``message_id`` when a command was
        sent)."""
        out: dict[str, Any] = {"success": False, "error": self.error, "message": self.message}
        if self.detail and self.kind in ("bad_request", "malformed", "forbidden", "busy"):
            out["message"] = self.detail
        if self.message_id:
            out["message_id"] = self.message_id
        return out


def _core_failure(exc: CoreError, *, starting: bool) -> ActionFailed:
    kind = exc.kind
    if kind == "not_found":
        kind = "charger_not_found" if starting else "no_session"
    elif kind == "rejected" and exc.correlationId is None:  # refused before any command: in use
        kind = "busy"
    return ActionFailed(kind, exc.message, exc.correlationId)


def command_data(body: Any, *, charger_required: bool) -> ChargerCommandData:
    """``{charger_id, connector_id = 1}`` of a start, stop or status request (a REST body or
    a test-guide command's ``data``); raises :class:`ActionFailed` ``bad_request``."""
    try:
        data = ChargerCommandData.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ActionFailed("bad_request", f"{first['loc'][0] if first['loc'] else 'body'}: {first['msg']}") from None
    if charger_required and data.charger_id is None:
        raise ActionFailed("bad_request", "charger_id is required")
    return data


async def start_session(core: ClientCore, caller: Caller, charger_id: str, connector_id: int,
                        wait_s: float) -> dict[str, Any]:
    """RemoteStartTransaction via the core; waits up to ``wait_s`` s for the charge point to
    start the transaction. Returns the success body's ``data``; raises :class:`ActionFailed`."""
    try:
        command = await core.start_charging(caller, charger_id, connector_id)
    except CoreError as exc:
        raise _core_failure(exc, starting=True) from None
    outcome = await command.outcome(wait_s)
    if outcome.status != "started" or outcome.session is None:
        raise ActionFailed(outcome.status, outcome.reason, command.correlationId)
    tid = outcome.session.transactionId
    return {"success": True, "session_id": tid, "transaction_id": tid, "charger_id": charger_id,
            "connector_id": connector_id, "status": "initiated", "message_id": command.correlationId,
            "message": "Charging session started"}


async def find_active(core: ClientCore, caller: Caller, charger_id: str | None) -> Any:
    """The caller's active session on ``charger_id`` (newest), or their newest active session
    anywhere when ``charger_id`` is None; raises :class:`ActionFailed` ``no_session``."""
    if charger_id is None:
        session = await core.active_session(caller)
    else:
        sessions = [s for s in await core.my_sessions(caller, limit=100)
                    if s.status == "active" and s.chargePointId == charger_id]
        session = max(sessions, key=lambda s: s.transactionId, default=None)
    if session is None:
        raise ActionFailed("no_session", f"no active session{' on ' + charger_id if charger_id else ''}")
    return session


async def stop_session(core: ClientCore, caller: Caller, charger_id: str | None, wait_s: float) -> dict[str, Any]:
    """RemoteStopTransaction of the caller's active session (on ``charger_id`` when given);
    waits up to ``wait_s`` s for the transaction to stop. Returns the success ``data`` with
    ``energy_delivered`` kWh and ``duration`` s; raises :class:`ActionFailed`."""
    session = await find_active(core, caller, charger_id)
    try:
        command = await core.stop_charging(caller, transaction_id=session.transactionId)
    except CoreError as exc:
        raise _core_failure(exc, starting=False) from None
    outcome = await command.outcome(wait_s)
    if outcome.status != "stopped" or outcome.session is None:
        try:
            now = await core.active_session(caller, session.transactionId)
        except CoreError:
            now = None
        if now is not None and now.status != "active":  # stopped meanwhile (another stop won)
            raise ActionFailed("no_session", f"transaction {session.transactionId} already stopped",
                               command.correlationId)
        raise ActionFailed(outcome.status, outcome.reason, command.correlationId)
    stopped = outcome.session
    duration = stopped.durationS
    if duration is None and stopped.stopTime and session.startTime:
        duration = (stopped.stopTime - session.startTime).total_seconds()
    return {"success": True, "session_id": stopped.transactionId, "transaction_id": stopped.transactionId,
            "charger_id": session.chargePointId, "connector_id": session.connectorId, "status": "stopped",
            "energy_delivered": kwh(stopped.energyWh), "duration": None if duration is None else int(round(duration)),
            "message_id": command.correlationId, "message": "Charging session stopped"}
