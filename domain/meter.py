"""Reading OCPP 1.6 MeterValues into one sample in SI-ish units (Wh, W, A, V, %).

Rules (OCPP 1.6 §7.31 MeterValue, §7.45 SampledValue, §7.43 ReadingContext, §7.46 UnitOfMeasure,
§7.42 Phase, §7.35 Location, §7.41 Measurand):

* ``measurand`` defaults to ``Energy.Active.Import.Register``; ``unit`` defaults to the
  measurand's base unit (Wh for energy, W for power, A, V, Percent).
* ``kWh`` × 1000 → Wh, ``kW`` × 1000 → W (rounded to 3 decimals: mWh, mW); other units
  for these measurands are ignored.
* ``format`` ``SignedData`` is not a number and is ignored.
* ``location`` defaults to ``Outlet``; only ``Outlet`` (and ``Cable``) readings describe what the
  EV received, except SoC which is read at any location (normally ``EV``).
* Phases: a value without ``phase`` is the total and wins. Otherwise energy and power are the
  **sum** of the phase values (L1, L2, L3 or L1-N, L2-N, L3-N), current the **average** of
  L1..L3 (the neutral ``N`` is excluded), voltage the **average** of the line-to-neutral
  values (L1-N…, or L1… when only those are sent; line-to-line values are used only when
  nothing else is present).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"

_BASE_UNIT = {ENERGY: "Wh", POWER: "W", CURRENT: "A", VOLTAGE: "V", SOC: "Percent"}
_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0, "V": 1.0, "Percent": 1.0}
_ACCEPTED_UNITS = {ENERGY: {"Wh", "kWh"}, POWER: {"W", "kW"}, CURRENT: {"A"}, VOLTAGE: {"V"},
                   SOC: {"Percent"}}
_OUTLET_LOCATIONS = {"Outlet", "Cable"}
_PHASES = ("L1", "L2", "L3")
_PHASES_N = ("L1-N", "L2-N", "L3-N")
_PHASES_LL = ("L1-L2", "L2-L3", "L3-L1")


@dataclass(frozen=True)
class MeterSample:
    """One MeterValue converted: ``energyRegisterWh`` is the meter register (Wh, not yet
    relative to meterStart), ``powerW`` W, ``currentA`` A, ``voltageV`` V, ``soc`` %,
    ``timestamp`` as sent (ISO 8601 text), ``context`` as sent. Absent readings are None."""

    timestamp: str | None
    context: str | None = None
    energyRegisterWh: float | None = None
    powerW: float | None = None
    currentA: float | None = None
    voltageV: float | None = None
    soc: float | None = None


def _number(sampled: Mapping[str, Any], measurand: str) -> float | None:
    if sampled.get("format") == "SignedData":
        return None
    unit = sampled.get("unit") or _BASE_UNIT[measurand]
    if unit not in _ACCEPTED_UNITS[measurand]:
        return None
    try:
        return round(float(sampled["value"]) * _SCALE[unit], 3)  # no float noise (kWh × 1000)
    except (KeyError, TypeError, ValueError):
        return None


def _combine(by_phase: dict[str | None, float], measurand: str) -> float | None:
    if None in by_phase:
        return by_phase[None]
    if measurand in (ENERGY, POWER):
        for group in (_PHASES, _PHASES_N, _PHASES_LL):
            values = [by_phase[p] for p in group if p in by_phase]
            if values:
                return sum(values)
        return None
    groups = (_PHASES, _PHASES_N) if measurand == CURRENT else (_PHASES_N, _PHASES, _PHASES_LL)
    for group in groups:
        values = [by_phase[p] for p in group if p in by_phase]
        if values:
            return sum(values) / len(values)
    return None


def read_meter_value(meter_value: Mapping[str, Any]) -> MeterSample:
    """Convert one OCPP ``MeterValue`` (``{"timestamp", "sampledValue": [...]}``) to a
    :class:`MeterSample`. Never raises for malformed sampled values: they are skipped."""
    readings: dict[str, dict[str | None, float]] = {}
    context: str | None = None
    for sampled in meter_value.get("sampledValue") or ():
        if not isinstance(sampled, Mapping):
            continue
        measurand = sampled.get("measurand") or ENERGY
        if measurand not in _BASE_UNIT:
            continue
        location = sampled.get("location") or "Outlet"
        if measurand != SOC and location not in _OUTLET_LOCATIONS:
            continue
        value = _number(sampled, measurand)
        if value is None:
            continue
        context = context or sampled.get("context")
        readings.setdefault(measurand, {})[sampled.get("phase")] = value
    combined = {m: _combine(v, m) for m, v in readings.items()}
    return MeterSample(
        timestamp=meter_value.get("timestamp"),
        context=context,
        energyRegisterWh=combined.get(ENERGY),
        powerW=combined.get(POWER),
        currentA=combined.get(CURRENT),
        voltageV=combined.get(VOLTAGE),
        soc=combined.get(SOC),
    )


def read_meter_values(meter_values: Iterable[Mapping[str, Any]]) -> list[MeterSample]:
    """:func:`read_meter_value` over a MeterValues.req ``meterValue`` list, in order."""
    return [read_meter_value(mv) for mv in meter_values if isinstance(mv, Mapping)]
