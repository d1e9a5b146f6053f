"""What every WebSocket dialect does with a client's text before its own codec sees it: parse
it safely and read the id to answer with.

Any text is answered (docs/dialects.md, "Bad input"): JSON nested deeper
than the parser's recursion limit, ``\\ud800``-style lone surrogates (they cannot be encoded
as UTF-8, so they would fail later in the log or on the wire) and invalid JSON all raise
:class:`BadMessage`, which each dialect answers in its own error form, keeping the connection.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: A ``\\uD800``–``\\uDFFF`` escape: the only way a lone surrogate gets into parsed JSON.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadMessage(ValueError):
    """A client message that is not well-formed JSON text (see the module docstring);
    ``request_id``: its id when it could still be read (:func:`reply_id`), else None."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def loads(text: str | bytes) -> Any:
    """The JSON value of ``text``. Raises :class:`BadMessage` for invalid JSON (RFC 8259),
    nesting beyond the parser's recursion limit, or a string with a lone surrogate."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadMessage("JSON nested too deeply") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadMessage(f"not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadMessage("a string holds a lone UTF-16 surrogate", reply_id(value)) from None
        except RecursionError:
            raise BadMessage("JSON nested too deeply") from None
    return value


#: An id a reply echoes exactly as the request gave it: any JSON scalar (:func:`reply_id`).
ReplyId = str | int | float | bool


def reply_id(message: Any) -> ReplyId | None:
    """The ``id`` of a parsed request to echo in its reply, exactly as given when it is a JSON
    scalar (string, number, boolean, null) — mobile-websocket-api.md section 3 echoes the id;
    a structured id is not echoed (None)."""
    value = message.get("id") if isinstance(message, dict) else None
    return value if value is None or isinstance(value, ReplyId) else None


def peek_id(text: str | bytes | None) -> ReplyId | None:
    """:func:`reply_id` of raw text (None when it does not parse) — for answers to messages
    refused before their codec reads them (rate limit, size limit)."""
    try:
        return reply_id(loads(text or ""))
    except BadMessage as exc:
        return exc.request_id
