"""The fields of OCPP 1.6 messages the fold believes, checked before it believes them.

The gateway validates every CALL against the 1.6 JSON schemas and answers violations with a
CALLERROR, and the fold derives state only from CALLs the central system answered with a
CALLRESULT. Logs written before that check, or by another gateway, may still hold answered
CALLs with values that break the schema (``"timestamp": "9999-99-99"``, ``"errorCode":
["x"]``, a numeric ``value``). These pydantic models restate the schema's types, enumerations,
string lengths and formats for the fields the fold reads (OCPP 1.6 §6 message definitions, §7
types, the JSON schemas of the OCPP 1.6 JSON specification); :func:`check` returns the parsed
model or an error text, never raising. Unknown extra fields are ignored here (the gateway
rejects them).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError


def parse_time(text: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 text (naive = UTC), or None (also when the instant
    is outside what a datetime holds)."""
    if isinstance(text, datetime):
        value = text
    elif isinstance(text, str) and text:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


#: RFC 3339 date-time (JSON schema ``format: date-time``); a missing offset is tolerated and
#: read as UTC (stations of the field send it).
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")


def _date_time(text: str) -> str:
    """OCPP 1.6 §7 dateTime: RFC 3339 text that is a real instant; kept as sent."""
    if _DATE_TIME.fullmatch(text) is None or parse_time(text) is None:
        raise ValueError(f"not an ISO 8601 date-time: {text[:40]!r}")
    return text


DateTime = Annotated[StrictStr, AfterValidator(_date_time)]
IdToken = Annotated[StrictStr, Field(max_length=20)]  # §7.28 IdToken: CiString20Type

ChargePointErrorCode = Literal[  # §7.6
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "OverVoltage", "WeakSignal"]
ChargePointStatus = Literal[  # §7.7
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved",
    "Unavailable", "Faulted"]
Reason = Literal[  # §7.37
    "EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss", "Reboot", "Remote",
    "SoftReset", "UnlockCommand", "DeAuthorized"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BootNotificationReq(_Message):
    """OCPP 1.6 §6.2 BootNotification.req: the identity fields the station map shows
    (CiString20/25/50 limits of §6.2)."""

    chargePointVendor: StrictStr = Field(max_length=20)
    chargePointModel: StrictStr = Field(max_length=20)
    firmwareVersion: StrictStr | None = Field(None, max_length=50)
    chargePointSerialNumber: StrictStr | None = Field(None, max_length=25)


class StatusNotificationReq(_Message):
    """§6.47 StatusNotification.req."""

    connectorId: StrictInt = Field(ge=0)
    errorCode: ChargePointErrorCode
    status: ChargePointStatus
    info: StrictStr | None = Field(None, max_length=50)
    timestamp: DateTime | None = None
    vendorId: StrictStr | None = Field(None, max_length=255)
    vendorErrorCode: StrictStr | None = Field(None, max_length=50)


class StartTransactionReq(_Message):
    """§6.45 StartTransaction.req (``meterStart`` Wh)."""

    connectorId: StrictInt = Field(gt=0)
    idTag: IdToken
    meterStart: StrictInt
    timestamp: DateTime
    reservationId: StrictInt | None = None


class StartTransactionConf(_Message):
    """§6.46 StartTransaction.conf (only ``transactionId`` is read)."""

    transactionId: StrictInt


class SampledValue(_Message):
    """§7.45 SampledValue: ``value`` is a string (the number is parsed by :mod:`.meter`)."""

    value: StrictStr
    context: StrictStr | None = None
    format: Literal["Raw", "SignedData"] | None = None
    measurand: StrictStr | None = None
    phase: StrictStr | None = None
    location: StrictStr | None = None
    unit: StrictStr | None = None


class MeterValue(_Message):
    """§7.31 MeterValue."""

    timestamp: DateTime
    sampledValue: list[SampledValue] = Field(min_length=1)


class MeterValuesReq(_Message):
    """§6.33 MeterValues.req."""

    connectorId: StrictInt = Field(ge=0)
    transactionId: StrictInt | None = None
    meterValue: list[MeterValue] = Field(min_length=1)


class StopTransactionReq(_Message):
    """§6.49 StopTransaction.req (``meterStop`` Wh)."""

    transactionId: StrictInt
    meterStop: StrictInt
    timestamp: DateTime
    idTag: IdToken | None = None
    reason: Reason | None = None
    transactionData: list[MeterValue] | None = None


M = TypeVar("M", bound=BaseModel)


def check(model: type[M], payload: Any) -> M | str:
    """``payload`` parsed as ``model``, or a one-line description of the first violation
    (field path and message). Never raises."""
    if not isinstance(payload, dict):
        return "payload is not a JSON object"
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = "/".join(str(part) for part in first.get("loc", ()))
        return f"{path or 'payload'}: {first.get('msg', 'invalid')}"
    except (RecursionError, ValueError, TypeError) as exc:  # pathological nesting
        return f"payload: {type(exc).__name__}"
