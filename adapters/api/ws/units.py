"""The field types the client dialects' wire models share: each converts a read-model or
domain value (unit in the source's name: ``energyWh``, ``powerW``, ``currentA``, ``voltageV``,
``durationS``; ``soc`` %) to the unit and form its document shows. A model annotates a field
with one of them and :class:`~.contract.WireModel` reads the field from its source name and
converts it by that type, so each rule is written once for every dialect.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from .timefmt import iso_ms, iso_s


def _number(value: Any) -> bool:
    """A JSON number: an int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


#: A whole number (``round``) of W, Wh, s or %; null for anything that is not a number —
#: mobile-websocket-api.md section 7's examples (``"power": 50000``, ``"duration": 3600``)
#: and websocket-communication-protocol.md "Field Descriptions" (``charge_percentage``,
#: ``duration``: integers).
Whole = Annotated[int | None, BeforeValidator(lambda v: round(v) if _number(v) else None)]
#: A, V with one decimal (mobile-websocket-api.md 6.2, 7.4); null for anything not a number.
Tenths = Annotated[float | None, BeforeValidator(lambda v: round(float(v), 1) if _number(v) else None)]


def kwh(wh: float | None) -> float:
    """Wh → kWh, 3 decimals; absent (None) is 0.0."""
    return round(float(wh or 0) / 1000.0, 3)


#: kWh from Wh (:func:`kwh`: 3 decimals, absent is 0) — websocket-communication-protocol.md
#: ``energy_consumed`` / ``energy_delivered``.
Kwh = Annotated[float | None, BeforeValidator(kwh)]
#: kW from W, 2 decimals; None stays None — charging-websocket-api.md ``powerKw``,
#: websocket-communication-protocol.md ``output_power`` / ``power``.
Kw = Annotated[float | None, BeforeValidator(lambda w: None if w is None else round(w / 1000.0, 2))]
#: An OCPP 1.6 ChargePointErrorCode (§7.6) as the charge point sent it; ``NoError`` is null
#: (nothing to show).
ChargePointErrorCode = Annotated[str | None, BeforeValidator(lambda v: None if v == "NoError" else v)]
#: Text read from the source's OCPP chargePointId: mobile-websocket-api.md's ``stationId``,
#: websocket-communication-protocol.md's ``charger_id``.
ChargePointId = Annotated[str, Field(validation_alias="chargePointId")]
#: ISO 8601 UTC with milliseconds, ``2024-01-15T10:30:00.000Z`` (:func:`.timefmt.iso_ms`: a
#: datetime or ISO text; other text stays as given) — the Mobile and Charging WebSocket APIs.
TimeMs = Annotated[str, BeforeValidator(iso_ms)]
#: ISO 8601 UTC with whole seconds, ``2025-01-29T12:00:00Z`` (:func:`.timefmt.iso_s`); null
#: when absent or unparsable — websocket-communication-protocol.md.
TimeS = Annotated[str | None, BeforeValidator(iso_s)]
