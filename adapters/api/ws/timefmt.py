"""The timestamp form the mobile and charging dialects share:
``2024-01-15T10:30:00.000Z`` (ISO 8601, UTC, milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z``; accepts a datetime or ISO text (naive means
    UTC; text that does not parse is returned unchanged); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
