"""OCPP-J 1.6 frames (§4): parsing raw WebSocket messages into the ``ocpp`` package's
``Call`` / ``CallResult`` / ``CallError`` objects, and the ``ocpp.frame`` /
``ocpp.frame.invalid`` events that record them (docs/contracts.md, "Source events").

Frame shapes (OCPP-J 1.6 §4.1.3–4.2.3)::

    CALL        [2, "<UniqueId>", "<Action>", {<Payload>}]
    CALLRESULT  [3, "<UniqueId>", {<Payload>}]
    CALLERROR   [4, "<UniqueId>", "<errorCode>", "<errorDescription>", {<errorDetails>}]

A frame that is not one of these is an :class:`InvalidFrame`: it carries the 1.6 errorCode
to answer with and the UniqueId when one can be recovered (§4.2.3: a CALLERROR needs it).
Besides the shapes, a frame must be something the log can hold and every reader decode:
UTF-8 text (RFC 6455 §5.6), JSON (RFC 8259) whose strings are Unicode text (no lone
UTF-16 surrogate escape such as ``"\\ud800"``, RFC 8259 §8.2) and whose numbers are finite,
nested at most :data:`MAX_NESTING` deep and at most ``max_bytes`` long. Anything else is
an :class:`InvalidFrame` too, recorded with its raw bytes escaped (:class:`RawText`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ocpp.messages import Call, CallError, CallResult

from chargelog.domain.envelope import Event, Principal, Source, new_event_id, utcnow

#: UniqueId is a string of at most 36 characters (OCPP-J 1.6 §4.1.4).
MAX_UNIQUE_ID = 36
#: Deepest nesting of arrays/objects a frame may have (the frame's own array is level 1).
#: The deepest OCPP 1.6 message (SetChargingProfile's chargingSchedulePeriod items, or
#: MeterValues' sampledValue items) is 6 levels deep; deeper frames are FormationViolations.
MAX_NESTING = 32
#: Frames up to this many times ``max_frame_bytes`` are received, recorded (the first
#: ``max_frame_bytes`` of them) and answered; longer ones close the connection with 1009
#: (the WebSocket library stops reading them: RFC 6455 §7.4.1 "message too big").
OVERSIZE_FACTOR = 16
_ID_PREFIX = re.compile(r'^\s*\[\s*(\d+)\s*,\s*"((?:[^"\\]|\\.){1,36})"')
#: A ``\\uD800``–``\\uDFFF`` escape: the only way a JSON text can yield a string that is not
#: Unicode text (a well-formed pair is joined into one character by the decoder).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

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


@dataclass(frozen=True)
class RawText:
    """A received message as the log keeps it. ``text``: the message as UTF-8 text — when it
    is not UTF-8, decoded with each bad byte escaped as ``\\xNN`` (``backslashreplace``), and
    when longer than the limit, its first ``max_bytes`` bytes; ``exact``: the exact bytes,
    base64, when they are not UTF-8 (and not truncated); ``size``: the
    message's length (bytes); ``sha256``: hex digest of the whole message, when truncated."""

    text: str
    exact: str | None = None
    size: int = 0
    sha256: str | None = None

    @property
    def truncated(self) -> bool:
        """True when ``text`` holds only the start of the message."""
        return self.sha256 is not None

    def fields(self) -> dict[str, Any]:
        """The event payload fields: ``raw`` plus ``rawBase64`` / ``rawBytes`` +
        ``rawSha256`` + ``rawTruncated`` when they apply (docs/contracts.md)."""
        out: dict[str, Any] = {"raw": self.text}
        if self.exact is not None:
            out["rawBase64"] = self.exact
        if self.truncated:
            out.update(rawBytes=self.size, rawSha256=self.sha256, rawTruncated=True)
        return out


def _recover_id(text: str) -> tuple[int | None, str | None]:
    """(MessageTypeId, UniqueId) read from the start of a frame that does not parse."""
    match = _ID_PREFIX.match(text)
    if not match:
        return None, None
    try:
        message_id = json.loads(f'"{match.group(2)}"')
    except ValueError:
        return None, None
    if not _is_text(message_id) or "\ufffd" in message_id:
        return None, None
    return int(match.group(1)), message_id


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} does not fit a 64-bit float")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def _problem(msg: Any, raw: str) -> str | None:
    """Why a decoded frame cannot be held, or None: nesting deeper than :data:`MAX_NESTING`,
    or a string that is not Unicode text. Cheap unless the raw text hints at either."""
    deep = raw.count("[") + raw.count("{") > MAX_NESTING
    surrogates = "\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None
    if not (deep or surrogates):
        return None
    stack: list[tuple[Any, int]] = [(msg, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if surrogates and not _is_text(value):
                return "a string holds a lone UTF-16 surrogate escape: not Unicode text (RFC 8259 §8.2)"
        elif isinstance(value, (list, dict)):
            if depth > MAX_NESTING:
                return f"nested deeper than {MAX_NESTING} levels"
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
    return None


def receive(data: str | bytes, max_bytes: int) -> tuple[Frame | InvalidFrame, RawText]:
    """Parse one WebSocket message (``bytes``: a text frame read undecoded, or a binary one)
    and say how the log keeps it. Never raises: anything that is not a well-formed,
    storable CALL/CALLRESULT/CALLERROR comes back as :class:`InvalidFrame`:

    * longer than ``max_bytes`` → GenericError (no 1.6 code is about size), not parsed;
    * not UTF-8 text, not JSON, NaN/Infinity or a number beyond 64-bit floats, deeper than
      :data:`MAX_NESTING`, a lone surrogate escape → FormationViolation;
    * not an array, no/unknown MessageTypeId → FormationViolation / PropertyConstraintViolation;
    * UniqueId missing, not a string or longer than 36 → ProtocolError (not answerable
      unless it can be read);
    * missing elements → ProtocolError; wrong element types → TypeConstraintViolation or
      FormationViolation (CALL payload not an object).

    Where the frame does not parse, the UniqueId is recovered from a ``[2,"…"`` prefix
    (answerable when that id is Unicode text).
    """
    raw_bytes = data if isinstance(data, bytes) else data.encode(errors="surrogatepass")
    if len(raw_bytes) > max_bytes:
        head = raw_bytes[:max_bytes].decode(errors="backslashreplace")
        raw = RawText(head, None, len(raw_bytes), hashlib.sha256(raw_bytes).hexdigest())
        type_id, message_id = _recover_id(head)
        return InvalidFrame(f"frame of {len(raw_bytes)} bytes exceeds the limit of {max_bytes} bytes",
                            "GenericError", message_id, answerable=message_id is not None and type_id == 2), raw
    if isinstance(data, bytes):
        try:
            text = raw_bytes.decode()
        except UnicodeDecodeError as exc:
            raw = RawText(raw_bytes.decode(errors="backslashreplace"),
                          base64.b64encode(raw_bytes).decode(), len(raw_bytes))
            type_id, message_id = _recover_id(raw.text)
            return InvalidFrame(f"not UTF-8 text: {exc.reason} at byte {exc.start}", "FormationViolation",
                                message_id, answerable=message_id is not None and type_id == 2), raw
    else:
        text = data  # type: ignore[assignment]
    return _parse(text), RawText(text)


def _parse(raw: str) -> Frame | InvalidFrame:
    try:
        msg = json.loads(raw, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = f"nested deeper than {MAX_NESTING} levels" if isinstance(exc, RecursionError) \
            else f"not JSON: {exc}"
        type_id, message_id = _recover_id(raw)
        return InvalidFrame(reason, "FormationViolation", message_id,
                            answerable=message_id is not None and type_id == 2)
    problem = _problem(msg, raw)
    if problem is not None:
        type_id, message_id = _recover_id(raw)
        return InvalidFrame(problem, "FormationViolation", message_id,
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
    # validated, every field given: with pydantic 2.14 this is 1.6-2.5× cheaper than
    # model_construct, whose Python loop over fields, defaults and aliases costs more than
    # pydantic-core's validation (bench/envelope_bench.py)
    now = utcnow()
    return Event(
        eventId=new_event_id(), type="ocpp.frame", chargePointId=charge_point_id, occurredAt=now,
        recordedAt=now, source=Source.OCPP,
        principal=charge_point_principal(charge_point_id) if direction == "in" else None,
        correlationId=correlation_id, causationId=causation_id, schemaVersion=1, payload=payload)


def invalid_frame_event(charge_point_id: str, direction: str, raw: RawText,
                        invalid: InvalidFrame) -> Event:
    """An ``ocpp.frame.invalid`` event: ``raw`` (plus ``rawBase64`` for bytes that are not
    UTF-8, ``rawBytes``/``rawSha256``/``rawTruncated`` for an oversize frame: see
    :class:`RawText`), ``reason``, ``errorCode``, ``messageId``."""
    return Event(type="ocpp.frame.invalid", chargePointId=charge_point_id, source=Source.OCPP,
                 principal=charge_point_principal(charge_point_id),
                 payload={"direction": direction, **raw.fields(), "reason": invalid.reason,
                          "errorCode": invalid.error_code, "messageId": invalid.message_id})
