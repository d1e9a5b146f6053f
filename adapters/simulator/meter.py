"""The electrical model behind a simulated charging session: coherent meter values.

Power follows a constant-current/constant-voltage profile: ``max_power_w`` up to 80 % state
of charge, then tapering linearly to 5 % of it at 100 % (±2 % noise). Energy is the exact
integral of the power reported at each sample over the time to the next one (piecewise
constant), so ``registerWh[k+1] - registerWh[k] == powerW[k] × (t[k+1] - t[k]) / 3600 s``
up to the 0.1 Wh / 1 W the values are rounded to. SoC rises with energy / battery capacity.
Three phases (L1..L3), ~230 V line-to-neutral; per-phase current = powerW / 3 / voltage.

The OCPP 1.6 rendering (§7.31 MeterValue, §7.45 SampledValue): measurands
Energy.Active.Import.Register (Wh, Outlet), Power.Active.Import (W), Current.Import (A, per
phase L1/L2/L3), Voltage (V, per phase L1-N/L2-N/L3-N), SoC (Percent, EV).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Nominal line-to-neutral voltage (V).
NOMINAL_VOLTAGE_V = 230.0
#: State of charge (%) above which power tapers.
TAPER_FROM_SOC = 80.0
PHASES = ("L1", "L2", "L3")


def ocpp_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and ``Z`` (OCPP 1.6 §3.1.4 dateTime)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def whole_ms(moment: datetime) -> datetime:
    """``moment`` truncated to whole milliseconds (what :func:`ocpp_timestamp` shows)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class MeterSample:
    """One reading. ``registerWh``: the meter's cumulative import register (Wh);
    ``powerW``: active import power (W) from now until the next sample; ``soc`` (%);
    ``voltageV``/``currentA``: per phase L1..L3 (V, A)."""

    timestamp: datetime
    registerWh: float
    powerW: float
    soc: float
    voltageV: tuple[float, float, float]
    currentA: tuple[float, float, float]

    def to_ocpp(self, context: str = "Sample.Periodic") -> dict[str, Any]:
        """An OCPP 1.6 MeterValue dict (``timestamp``, ``sampledValue``) with ``context``
        (§7.33 ReadingContext: Sample.Periodic, Transaction.Begin, Transaction.End, Trigger)."""
        def sv(value: float, measurand: str, unit: str, fmt: str = "{:.1f}", **extra: str) -> dict[str, str]:
            return {"value": fmt.format(value), "context": context, "format": "Raw", "measurand": measurand,
                    "unit": unit, **extra}

        values = [
            sv(self.registerWh, "Energy.Active.Import.Register", "Wh", location="Outlet"),
            sv(self.powerW, "Power.Active.Import", "W", "{:.0f}", location="Outlet"),
            sv(self.soc, "SoC", "Percent", location="EV"),
        ]
        for phase, amps, volts in zip(PHASES, self.currentA, self.voltageV, strict=True):
            values.append(sv(amps, "Current.Import", "A", "{:.2f}", phase=phase, location="Outlet"))
            values.append(sv(volts, "Voltage", "V", phase=f"{phase}-N", location="Outlet"))
        return {"timestamp": ocpp_timestamp(self.timestamp), "sampledValue": values}


class ChargingSession:
    """An EV charging on one connector from ``start`` (aware datetime, whole ms).

    ``register_wh``: the meter register at start (Wh); ``max_power_w`` (W); ``battery_wh``:
    usable battery capacity (Wh); ``soc``: state of charge at start (%). :meth:`sample`
    advances time; samples must come in non-decreasing time order."""

    def __init__(self, start: datetime, register_wh: float, max_power_w: float, battery_wh: float,
                 soc: float, rng: random.Random) -> None:
        self.start = whole_ms(start)
        self.meter_start_wh = float(register_wh)
        self.max_power_w = max_power_w
        self.battery_wh = battery_wh
        self._rng = rng
        self._time = self.start
        self._register = float(register_wh)
        self._soc = soc
        self._power = self._power_at(soc)
        self.last = self._reading()

    @property
    def energy_wh(self) -> float:
        """Energy delivered since start (Wh), as of the last sample."""
        return self._register - self.meter_start_wh

    @property
    def soc(self) -> float:
        return self._soc

    def _power_at(self, soc: float) -> float:
        if soc >= 100.0:
            return 0.0
        taper = 1.0 if soc <= TAPER_FROM_SOC else max(0.05, (100.0 - soc) / (100.0 - TAPER_FROM_SOC))
        return round(self.max_power_w * taper * self._rng.uniform(0.98, 1.02))

    def _reading(self) -> MeterSample:
        volts = tuple(round(NOMINAL_VOLTAGE_V + self._rng.uniform(-3, 3), 1) for _ in PHASES)
        amps = tuple(round(self._power / len(PHASES) / v, 2) for v in volts)
        return MeterSample(self._time, round(self._register, 1), self._power, round(self._soc, 1),
                           volts, amps)  # type: ignore[arg-type]

    def sample(self, now: datetime) -> MeterSample:
        """Integrate the last power over ``now - previous sample`` (s), update SoC, pick the
        power for the next interval; returns the reading at ``now`` (whole ms)."""
        now = max(whole_ms(now), self._time)
        dt_s = (now - self._time).total_seconds()
        delta_wh = self._power * dt_s / 3600.0
        self._register += delta_wh
        self._soc = min(100.0, self._soc + delta_wh / self.battery_wh * 100.0)
        self._time = now
        self._power = self._power_at(self._soc)
        self.last = self._reading()
        return self.last
