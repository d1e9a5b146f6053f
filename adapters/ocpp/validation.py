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
``type``, ``maxLength``                 TypeConstraintViolation
``enum``, ``pattern``, ``minimum``…     PropertyConstraintViolation
=====================================  ==============================================
"""

from __future__ import annotations

import decimal
import json
from typing import Any

import fastjsonschema
from jsonschema.exceptions import best_match
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


#: Compiled (``fastjsonschema``) checks of the same schemas: the fast path for valid payloads.
_compiled: dict[tuple[int, str], Any] = {}


def _fast_check(message_type_id: int, action: str, schema: dict[str, Any], payload: Any) -> bool:
    """True when the compiled schema accepts ``payload`` (False: look closer)."""
    key = (message_type_id, action)
    check = _compiled.get(key)
    if check is None:
        check = _compiled[key] = fastjsonschema.compile(schema)
    try:
        check(payload)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


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
    against the OCPP 1.6 JSON schema shipped with the ``ocpp`` package (the ``ocpp``
    package's ``jsonschema`` validator decides; a ``fastjsonschema`` compilation of the same
    schema lets valid payloads through ~20x faster).

    Raises an ``ocpp.exceptions.OCPPError`` whose ``code`` is the 1.6 errorCode of the
    table above (``NotImplemented`` when no schema exists for ``action``); ``details`` holds
    ``cause`` (the validator's message) and ``path`` (the failing field, dotted).
    """
    as_decimal = (message_type_id, action) in _DECIMAL
    try:
        validator = get_validator(message_type_id, action, OCPP_VERSION,
                                  parse_float=decimal.Decimal if as_decimal else float)
    except (OSError, ValueError) as exc:
        raise OcppNotImplemented(details={"cause": f"no OCPP 1.6 schema for action {action!r}"}) from exc
    if not as_decimal and _fast_check(message_type_id, action, validator.schema, payload):
        return
    if as_decimal:
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    if not isinstance(payload, dict):
        raise FormationViolationError(details={"cause": "payload is not a JSON object"})
    error = best_match(validator.iter_errors(payload))
    if error is None:
        return
    path = ".".join(str(p) for p in error.absolute_path)
    cls = _BY_KEYWORD.get(str(error.validator), GenericError)
    raise cls(details={"cause": error.message, "path": path})
