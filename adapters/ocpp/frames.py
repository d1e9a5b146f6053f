"""OCPP-J 1.6 frames (§4): parsing raw WebSocket text into the ``ocpp`` package's
``Call`` / ``CallResult`` / ``CallError`` objects, and the ``ocpp.frame`` /
``ocpp.frame.invalid`` events that record them (docs/contracts.md, "Source events").

Frame shapes (OCPP-J 1.6 §4.1.3–4.2.3)::

    CALL        [2, "<UniqueId>", "<Action>", {<Payload>}]
    CALLRESULT  [3, "<UniqueId>", {<Payload>}]
    CALLERROR   [4, "<UniqueId>", "<errorCode>", "<errorDescription>", {<errorDetails>}]

A frame that is not one of these is an :class:`InvalidFrame`: it carries the 1.6 errorCode
to answer with and the UniqueId when one can be recovered (§4.2.3: a CALLERROR needs it).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from ocpp.messages import Call, CallError, CallResult

from chargelog.domain.envelope import Event, Principal, Source, new_event_id, utcnow

#: UniqueId is a string of at most 36 characters (OCPP-J 1.6 §4.1.4).
MAX_UNIQUE_ID = 36
_ID_PREFIX = re.compile(r'^\s*\[\s*(\d+)\s*,\s*"((?:[^"\\]|\\.){1,36})"')

Frame = Call | CallResult | CallError


@dataclass(frozen=True)
class InvalidFrame:
    """A frame that does not parse as OCPP-J. ``error_code``: the 1.6 CallError code to
    answer with; ``message_id``: the UniqueId when recoverable; ``answerable``: True when it
    was (or may have been) a CALL, the only frame a CALLERROR may answer (§4.2.3)."""

    reason: str
    error_code: str
    message_id: str | None = None
    answerable: bool = False


def _recover_id(raw: str) -> tuple[int | None, str | None]:
    match = _ID_PREFIX.match(raw)
    if not match:
        return None, None
    try:
        return int(match.group(1)), json.loads(f'"{match.group(2)}"')
    except ValueError:
        return None, None


def parse_frame(raw: str | bytes) -> Frame | InvalidFrame:
    """Parse one WebSocket message. Never raises: anything that is not a well-formed
    CALL/CALLRESULT/CALLERROR comes back as :class:`InvalidFrame`:

    * not UTF-8 text or not JSON → FormationViolation (UniqueId recovered from a
      ``[2,"…"`` prefix when present);
    * not an array, no/unknown MessageTypeId → FormationViolation / PropertyConstraintViolation;
    * UniqueId missing, not a string or longer than 36 → ProtocolError (not answerable
      unless it can be read);
    * missing elements → ProtocolError; wrong element types → TypeConstraintViolation or
      FormationViolation (CALL payload not an object).
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            return InvalidFrame("binary frame is not UTF-8 text", "FormationViolation")
    try:
        msg = json.loads(raw)
    except ValueError as exc:
        type_id, message_id = _recover_id(raw)
        return InvalidFrame(f"not JSON: {exc}", "FormationViolation", message_id,
                            answerable=message_id is not None and type_id == 2)
    if not isinstance(msg, list) or not msg:
        return InvalidFrame("frame is not a non-empty JSON array", "FormationViolation")
    type_id = msg[0]
    message_id = msg[1] if len(msg) > 1 and isinstance(msg[1], str) and len(msg[1]) <= MAX_UNIQUE_ID else None
    is_call = type_id == 2
    if type_id not in (2, 3, 4) or isinstance(type_id, bool):
        return InvalidFrame(f"unknown MessageTypeId {type_id!r}", "PropertyConstraintViolation",
                            message_id, answerable=message_id is not None)
    if message_id is None:
        return InvalidFrame("UniqueId missing, not a string or longer than 36 characters",
                            "ProtocolError")
    expected = {2: 4, 3: 3, 4: 5}[type_id]
    if len(msg) != expected:
        return InvalidFrame(f"MessageTypeId {type_id} frame has {len(msg)} elements, expected {expected}",
                            "ProtocolError" if len(msg) < expected else "FormationViolation",
                            message_id, answerable=is_call)
    if type_id == 2:
        if not isinstance(msg[2], str):
            return InvalidFrame("Action is not a string", "TypeConstraintViolation", message_id, True)
        if not isinstance(msg[3], dict):
            return InvalidFrame("CALL payload is not a JSON object", "FormationViolation", message_id, True)
        return Call(message_id, msg[2], msg[3])
    if type_id == 3:
        if not isinstance(msg[2], dict):
            return InvalidFrame("CALLRESULT payload is not a JSON object", "FormationViolation", message_id)
        return CallResult(message_id, msg[2])
    if not (isinstance(msg[2], str) and isinstance(msg[3], str) and isinstance(msg[4], dict)):
        return InvalidFrame("CALLERROR elements have wrong types", "TypeConstraintViolation", message_id)
    return CallError(message_id, msg[2], msg[3], msg[4])


@functools.lru_cache(maxsize=65536)
def charge_point_principal(charge_point_id: str) -> Principal:
    """The principal of everything a charge point says (immutable, cached)."""
    return Principal(kind="chargePoint", id=charge_point_id)


def frame_event(charge_point_id: str, direction: str, frame: Frame, raw: str, *,
                action: str | None = None, correlation_id: str | None = None,
                causation_id: str | None = None, decision: dict[str, Any] | None = None,
                schema_error: dict[str, Any] | None = None) -> Event:
    """An ``ocpp.frame`` event (docs/contracts.md) for a parsed frame. ``direction`` is
    "in" (from the charge point) or "out"; ``action`` names the CALL a CALLRESULT/CALLERROR
    answers, when known; ``decision`` (optional, CALLRESULTs we send) adds what the central
    system decided that is not in the OCPP payload (e.g. ``userId``); ``schema_error``
    (optional, CALLRESULTs received) marks a result that breaks its 1.6 schema
    (``{"errorCode", "cause", "path"}``; a ``command.failed`` "invalid" follows it)."""
    payload: dict[str, Any] = {"direction": direction, "messageTypeId": frame.message_type_id,
                               "messageId": frame.unique_id}
    if isinstance(frame, Call):
        payload["action"] = frame.action
        payload["payload"] = frame.payload
    elif isinstance(frame, CallResult):
        payload["action"] = action or frame.action
        payload["payload"] = frame.payload
    else:
        payload["action"] = action
        payload["payload"] = {}
        payload["errorCode"] = frame.error_code
        payload["errorDescription"] = frame.error_description
        payload["errorDetails"] = frame.error_details
    if decision:
        payload["decision"] = decision
    if schema_error:
        payload["schemaError"] = schema_error
    payload["raw"] = raw
    # model_construct with every field given: pydantic's validation (~40 µs per event, a
    # quarter of a frame's CPU) is skipped, and so is its default resolution (which
    # inspects each default factory's signature on every call).
    now = utcnow()
    return Event.model_construct(
        eventId=new_event_id(), type="ocpp.frame", chargePointId=charge_point_id, occurredAt=now,
        recordedAt=now, source=Source.OCPP,
        principal=charge_point_principal(charge_point_id) if direction == "in" else None,
        correlationId=correlation_id, causationId=causation_id, schemaVersion=1, payload=payload)


def invalid_frame_event(charge_point_id: str, direction: str, raw: str | bytes,
                        invalid: InvalidFrame) -> Event:
    """An ``ocpp.frame.invalid`` event; binary frames are recorded as latin-1 text."""
    text = raw if isinstance(raw, str) else raw.decode("latin-1")
    return Event(type="ocpp.frame.invalid", chargePointId=charge_point_id, source=Source.OCPP,
                 principal=charge_point_principal(charge_point_id),
                 payload={"direction": direction, "raw": text, "reason": invalid.reason,
                          "errorCode": invalid.error_code, "messageId": invalid.message_id})
