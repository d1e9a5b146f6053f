"""The timestamp forms of the client dialects: ``2024-01-15T10:30:00.000Z`` (Mobile and
Charging WebSocket APIs: ISO 8601, UTC, milliseconds) and ``2025-01-29T12:00:00Z`` (the
Communication Protocol: whole seconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from a datetime or ISO 8601 text (``Z`` or an offset; naive means
    UTC); None when absent or unparsable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def iso_ms(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z``; text that does not parse is returned
    unchanged; None stays None."""
    parsed = parse_time(value)
    if parsed is None:
        return value if isinstance(value, str) else None
    # isoformat truncates to whole ms, as ``microsecond // 1000``; ~5× faster than strftime
    return parsed.isoformat(timespec="milliseconds")[:-6] + "Z"


def iso_s(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with whole seconds and ``Z``; None when absent or unparsable."""
    parsed = parse_time(value)
    return None if parsed is None else parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_s() -> str:
    """Now as :func:`iso_s`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
