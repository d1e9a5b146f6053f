"""One log format for every line a process writes — ours, uvicorn's, websockets', aiokafka's —
through structlog's ``ProcessorFormatter`` on the root handler of the standard ``logging``
module: ``text`` (``timestamp level [logger] event key=value…``) or ``json`` (one object per
line, for a log pipeline).

Each line carries ``timestamp`` (ISO 8601 UTC), ``level``, ``logger``, ``event`` (the
message), ``role`` (the roles this process runs, e.g. ``gateway+api+projections``) and, where
the code runs for one, ``chargePointId`` (an OCPP connection), ``connectionId`` (a client
WebSocket connection) and ``correlationId`` (a command) — bound with :func:`bind` in the task
that serves it (contextvars: tasks it starts inherit them).

Never a credential (DESIGN.md, "Security": no credential in any log): values of keys named
like a secret are replaced, and ``Bearer …``, ``Basic …``, ``token=…``, ``apiKey=…`` and
``password=…`` in messages are masked, by :func:`redact`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

#: Keys whose values never reach a log line.
SECRET_KEYS = frozenset({"password", "apikey", "api_key", "token", "credential", "authorization", "secret"})
SECRET_PATTERN = re.compile(r"(?i)((?<![a-z])(?:bearer\s+|basic\s+|token=|apikey=|api_key=|password=)"
                            r"|\"(?:apiKey|token|credential|password)\":\s*\")([^\s\"'&,;]+)")
MASK = "[redacted]"


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop credentials from keys and from the message text."""
    for key in list(event_dict):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = MASK
    message = event_dict.get("event")
    if isinstance(message, str):
        event_dict["event"] = SECRET_PATTERN.sub(lambda m: m.group(1) + MASK, message)
    return event_dict


def bind(**values: Any) -> None:
    """Attach ``chargePointId`` / ``connectionId`` / ``correlationId`` … to every line the
    current task (and the tasks it starts) logs from now on."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})


def configure(log_format: Literal["text", "json"] = "text", level: str = "INFO", role: str = "") -> None:
    """Route every logger of the process through one structlog formatter on stderr."""

    def add_role(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if role:
            event_dict.setdefault("role", role)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_role,
        redact,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if log_format == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "aiokafka"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(), cache_logger_on_first_use=True)
