"""The registry of WebSocket dialects served at ``/ws`` (see :mod:`.base` for how one is
chosen). Each module listed exposes ``DIALECT`` (a :class:`~..ws.base.Dialect`); a module not
installed yet is left out."""

from __future__ import annotations

import importlib

from ..ws.base import ApiContext, Dialect

#: Dialect modules of this package, in dispatch order.
#: "comms" claims ``?token=`` handshakes (the Communication Protocol push socket, which also
#: carries the test guide's commands); "charging" a first ``{"type": …}``.
DIALECT_MODULES: tuple[str, ...] = ("mobile", "charging", "comms")


def load_dialects(names: tuple[str, ...] = DIALECT_MODULES) -> list[Dialect]:
    """The ``DIALECT`` of every module in ``names`` that exists, in order."""
    dialects = []
    for name in names:
        module_name = f"{__name__}.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        dialect = getattr(module, "DIALECT", None)
        if dialect is not None:  # a module without one is not (yet) a dialect
            dialects.append(dialect)
    return dialects


__all__ = ["ApiContext", "DIALECT_MODULES", "Dialect", "load_dialects"]
