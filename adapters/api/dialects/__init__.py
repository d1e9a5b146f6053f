"""The WebSocket dialects served at ``/ws`` (see :mod:`..ws.base` for how one is chosen), in
dispatch order: "mobile" claims a first ``{"action": …}``, "charging" a first ``{"type": …}``,
"comms" a ``?token=`` handshake (the Communication Protocol push socket, which also carries the
test guide's commands)."""

from __future__ import annotations

from ..ws.base import ApiContext, Dialect
from . import charging, comms, mobile


def load_dialects() -> list[Dialect]:
    """Every dialect's :class:`~..ws.base.Dialect`, in dispatch order."""
    return [mobile.DIALECT, charging.DIALECT, comms.DIALECT]


__all__ = ["ApiContext", "Dialect", "load_dialects"]
