"""Session cost from a tariff: price per kWh and per minute (issue 4, "Registries": tariffs have
a price per kWh and per minute, and a currency)."""

from __future__ import annotations

from typing import Protocol


class TariffLike(Protocol):
    """What the cost rule reads of a tariff (``chargelog.domain.registry.Tariff`` fits):
    ``pricePerKwh`` (currency units per kWh), ``pricePerMinute`` (per minute), ``currency``
    (ISO 4217)."""

    @property
    def pricePerKwh(self) -> float: ...  # noqa: N802 - wire name

    @property
    def pricePerMinute(self) -> float: ...  # noqa: N802

    @property
    def currency(self) -> str: ...


def session_cost(tariff: TariffLike | None, energy_wh: float, duration_s: float) -> tuple[float | None, str | None]:
    """``(cost, currency)`` = pricePerKwh × energy_wh / 1000 + pricePerMinute × duration_s / 60,
    rounded to 2 decimals; ``(None, None)`` without a tariff. Negative inputs count as 0."""
    if tariff is None:
        return None, None
    kwh = max(energy_wh, 0.0) / 1000.0
    minutes = max(duration_s, 0.0) / 60.0
    price_kwh = float(getattr(tariff, "pricePerKwh", 0.0) or 0.0)
    price_min = float(getattr(tariff, "pricePerMinute", 0.0) or 0.0)
    return round(price_kwh * kwh + price_min * minutes, 2), tariff.currency
