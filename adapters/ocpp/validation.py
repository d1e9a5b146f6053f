"""OCPP 1.6 JSON-schema validation (the ``ocpp`` package's schemas and validators) with
CALLERROR codes as OCPP-J 1.6 spells them.

OCPP-J 1.6 §4.2.3 lists the CallError codes: NotImplemented, NotSupported, InternalError,
ProtocolError, SecurityError, FormationViolation, PropertyConstraintViolation,
OccurenceConstraintViolation (sic, errata 5.1), TypeConstraintViolation, GenericError.
The ``ocpp`` package validates with 2.0.1 spellings in places (FormatViolation) and maps
every schema failure of one kind to one code; this module maps the failing JSON-schema
keyword instead:

=====================================  ==============================================
schema keyword                          1.6 errorCode
=====================================  ==============================================
payload is not an object,               FormationViolation ("not conform the PDU
``additionalProperties``                structure")
``required``                            ProtocolError ("Payload for Action is
                                        incomplete")
``minItems`` / ``maxItems``             OccurenceConstraintViolation (cardinality)
``type``, ``maxLength``, an integer     TypeConstraintViolation
outside 32-bit signed range
``enum``, ``pattern``, ``format``,      PropertyConstraintViolation
``minimum``…
=====================================  ==============================================

Beyond the bare schemas (which a plain JSON-schema validator applies loosely):

* ``format`` is checked (:data:`FORMATS`): ``date-time`` is an RFC 3339 date-time
  (``rfc3339-validator``, the checker ``jsonschema`` uses) in upper-case ``T``/``Z`` form
  that is a representable UTC instant (years 1–9999 after applying the offset; Python's
  ``datetime`` holds no leap second), so "9999-99-99" or "2026-02-30T00:00:00Z" is a
  PropertyConstraintViolation; ``uri`` is an RFC 3986 URI (``rfc3986-validator``).
* ``integer`` is 32-bit signed (−2^31 … 2^31−1): the OCPP 1.6 SOAP schemas type these
  fields ``xs:int`` and OCPP 2.0.1 Part 2 §2.1 defines integer as 32 bit; a larger
  connectorId, transactionId or meterStart is a TypeConstraintViolation.
* The lower bounds the OCPP 1.6 message tables state but the JSON schemas omit
  (:data:`MINIMA`, e.g. StartTransaction.req connectorId > 0) are PropertyConstraintViolations.
"""

from __future__ import annotations

import copy
import decimal
import json
from datetime import UTC, datetime
from typing import Any

import fastjsonschema
from jsonschema import FormatChecker
from jsonschema.exceptions import best_match
from rfc3339_validator import validate_rfc3339
from rfc3986_validator import validate_rfc3986
from ocpp.exceptions import (
    FormationViolationError,
    GenericError,
    NotImplementedError as OcppNotImplemented,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.messages import MessageType, get_validator

OCPP_VERSION = "1.6"

#: The CallError codes of OCPP-J 1.6 §4.2.3, spelled as 1.6 spells them.
ERROR_CODES_16 = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
})

#: Other spellings some libraries send (OCPP 2.0.1/2.1) → the 1.6 code.
_RESPELL = {"FormatViolation": "FormationViolation",
            "OccurrenceConstraintViolation": "OccurenceConstraintViolation"}

_BY_KEYWORD: dict[str, type[OCPPError]] = {
    "additionalProperties": FormationViolationError,
    "required": ProtocolError,
    "minItems": OccurenceConstraintViolationError,
    "maxItems": OccurenceConstraintViolationError,
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "minLength": PropertyConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "pattern": PropertyConstraintViolationError,
    "format": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
    "multipleOf": PropertyConstraintViolationError,
}

#: Schemas with 1-decimal floats, validated on ``decimal.Decimal`` as the ``ocpp`` package does.
_DECIMAL = {(MessageType.Call, "SetChargingProfile"), (MessageType.Call, "RemoteStartTransaction"),
            (MessageType.CallResult, "GetCompositeSchedule")}


#: The range of an OCPP ``integer``: 32-bit signed (module docstring).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: Longest ``cause`` quoted back in a CALLERROR's errorDetails (characters): the validator's
#: message repeats the offending value, which may be as long as the frame.
MAX_CAUSE = 255


def is_date_time(value: object) -> bool:
    """True for an RFC 3339 date-time in upper-case form that is a representable UTC instant
    (module docstring); non-strings pass (``type`` judges them)."""
    if not isinstance(value, str):
        return True
    if not validate_rfc3339(value):
        return False
    try:
        datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return False
    return True


def is_uri(value: object) -> bool:
    """True for an RFC 3986 URI; non-strings pass (``type`` judges them)."""
    return not isinstance(value, str) or bool(validate_rfc3986(value, rule="URI"))


#: The formats the OCPP 1.6 schemas use, one check each for both validators.
FORMATS = {"date-time": is_date_time, "uri": is_uri}
_FORMAT_CHECKER = FormatChecker(formats=())
for _name, _check in FORMATS.items():
    _FORMAT_CHECKER.checks(_name)(_check)


#: Lower bounds from the OCPP 1.6 message tables (Part 6, "Messages") that the JSON schemas
#: leave out: (MessageTypeId, action) → {field: minimum}.
MINIMA: dict[tuple[int, str], dict[str, int]] = {
    (MessageType.Call, "StartTransaction"): {"connectorId": 1},    # §6.45: connectorId > 0
    (MessageType.Call, "StatusNotification"): {"connectorId": 0},  # §6.47: connectorId >= 0
    (MessageType.Call, "MeterValues"): {"connectorId": 0},         # §6.31: connectorId >= 0
}


def _with_int32(schema: Any) -> Any:
    """A copy of ``schema`` whose every ``"type": "integer"`` carries the int32 bounds."""
    if isinstance(schema, dict):
        out = {key: _with_int32(value) for key, value in schema.items()}
        if out.get("type") == "integer":
            out.setdefault("minimum", INT32_MIN)
            out.setdefault("maximum", INT32_MAX)
        return out
    if isinstance(schema, list):
        return [_with_int32(item) for item in schema]
    return schema


class _Checks:
    """One action's schema, prepared: ``full`` (the ``jsonschema`` validator with int32 bounds
    and format checks, which names the failing keyword) and ``fast`` (its ``fastjsonschema``
    compilation: the fast path for valid payloads, ~20x faster; None for the ``Decimal``
    schemas)."""

    def __init__(self, validator: Any, minima: dict[str, int], *, compile_fast: bool) -> None:
        schema = _with_int32(copy.deepcopy(validator.schema))
        for field, minimum in minima.items():
            schema["properties"][field]["minimum"] = minimum
        self.full = type(validator)(schema, format_checker=_FORMAT_CHECKER)
        self.fast = fastjsonschema.compile(schema, formats=FORMATS) if compile_fast else None

    def accepts(self, payload: Any) -> bool:
        """True when the compiled schema accepts ``payload`` (False: look closer)."""
        if self.fast is None:
            return False
        try:
            self.fast(payload)
        except fastjsonschema.JsonSchemaException:
            return False
        return True


_prepared: dict[tuple[int, str], _Checks] = {}


def _error_class(error: Any) -> type[OCPPError]:
    """The exception (and so the 1.6 code) for one ``jsonschema`` error (module table)."""
    keyword = str(error.validator)
    if keyword in ("minimum", "maximum") and error.schema.get("type") == "integer" \
            and not INT32_MIN <= error.instance <= INT32_MAX:
        return TypeConstraintViolationError
    return _BY_KEYWORD.get(keyword, GenericError)


def error_code_16(error: BaseException) -> str:
    """The 1.6 errorCode for an exception: an ``OCPPError``'s code re-spelled to 1.6, else
    ``InternalError``."""
    code = getattr(error, "code", None) if isinstance(error, OCPPError) else None
    if code is None:
        return "InternalError"
    code = _RESPELL.get(code, code)
    return code if code in ERROR_CODES_16 else "GenericError"


def validate(message_type_id: int, action: str, payload: Any) -> None:
    """Validate a CALL (``message_type_id`` 2) or CALLRESULT (3) payload of ``action``
    against the OCPP 1.6 JSON schema shipped with the ``ocpp`` package, with formats, int32
    bounds and :data:`MINIMA` (module docstring). The ``ocpp`` package's ``jsonschema``
    validator class decides; a ``fastjsonschema`` compilation of the same schema lets valid
    payloads through ~20x faster.

    Raises an ``ocpp.exceptions.OCPPError`` whose ``code`` is the 1.6 errorCode of the
    table above (``NotImplemented`` when no schema exists for ``action``); ``details`` holds
    ``cause`` (the validator's message) and ``path`` (the failing field, dotted).
    """
    as_decimal = (message_type_id, action) in _DECIMAL
    checks = _prepared.get((message_type_id, action))
    if checks is None:
        try:
            validator = get_validator(message_type_id, action, OCPP_VERSION,
                                      parse_float=decimal.Decimal if as_decimal else float)
        except (OSError, ValueError) as exc:
            raise OcppNotImplemented(details={"cause": f"no OCPP 1.6 schema for action {action!r}"}) from exc
        checks = _prepared[(message_type_id, action)] = _Checks(
            validator, MINIMA.get((message_type_id, action), {}), compile_fast=not as_decimal)
    if checks.accepts(payload):
        return
    if as_decimal:
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    if not isinstance(payload, dict):
        raise FormationViolationError(details={"cause": "payload is not a JSON object"})
    error = best_match(checks.full.iter_errors(payload))
    if error is None:
        return
    path = ".".join(str(p) for p in error.absolute_path)
    cause = error.message if len(error.message) <= MAX_CAUSE else error.message[:MAX_CAUSE - 1] + "…"
    raise _error_class(error)(details={"cause": cause, "path": path})
