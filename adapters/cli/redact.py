"""No credential in any log, at any level (DESIGN.md, "Security"): a ``logging.Filter`` on
every handler of the root logger that rewrites each record's text before it is written.

Masked (replaced by ``<redacted>``): the value of ``Authorization`` headers (Basic, Bearer —
the ``websockets`` library logs request headers at DEBUG), ``X-API-Key`` headers, anything
shaped like a JWT (``eyJ….….…``), ``token=`` / ``apiKey`` / ``password`` / ``secret`` values
in query strings, JSON and reprs, generated API keys (``clk_…``), and any literal string
passed to :func:`install_redaction` (e.g. the configured JWT secret).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "<redacted>"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Authorization: Basic xxx / ('authorization', 'Bearer xxx') / authorization=...
    re.compile(r"(?i)(authorization['\"]?\s*[:,=]\s*['\"]?\s*(?:basic|bearer|digest)?\s*)[^\s'\",)]+"),
    re.compile(r"(?i)(x-api-key['\"]?\s*[:,=]\s*['\"]?\s*)[^\s'\",)]+"),
    re.compile(r"(eyJ)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"(?i)((?:[?&]|\b)(?:token|apikey|api_key|password|secret)['\"]?\s*[=:]\s*['\"]?)[^\s&'\",}]+"),
    re.compile(r"(clk_)[A-Za-z0-9_-]+"),
)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message, arguments and formatted traceback."""

    def __init__(self, literals: Iterable[str] = ()) -> None:
        super().__init__()
        self.literals = [s for s in literals if s and len(s) >= 4]

    def redact(self, text: str) -> str:
        for literal in self.literals:
            text = text.replace(literal, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: log what there is
            message = str(record.msg)
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redaction(literals: Iterable[str] = ()) -> RedactingFilter:
    """Add one :class:`RedactingFilter` to every handler of the root logger (call after
    ``logging.basicConfig``); also masks ``literals``. Returns the filter."""
    redactor = RedactingFilter(literals)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
