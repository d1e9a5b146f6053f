"""Reading the registry from the log and appending operator changes to it: registries
are changed by operator commands, which are themselves events on the log (docs/registry.md)."""

from __future__ import annotations

from collections.abc import Sequence
import logging
from pathlib import Path

from pydantic import ValidationError

from chargelog.domain.envelope import Event
from chargelog.domain.log import SOURCE, START, EventLog, Position
from chargelog.domain.registry import PASSWORD_SET, REGISTRY_KEY, REGISTRY_TYPES, Registry, verify_password

from .file import load_registry_file

logger = logging.getLogger(__name__)


async def read_registry(
    log: EventLog, registry: Registry | None = None, after: Position = START, until: Position | None = None,
) -> tuple[Registry, Position]:
    """Fold the ``registry.*`` events of the ``source`` stream after ``after`` (up to
    ``until``, default the end now) into ``registry`` (default empty). Returns the registry
    and the position read up to. Reads only the registry partition and types (the engines'
    ``read(types=…, charge_point_id=…)`` filters)."""
    end = until if until is not None else await log.latest(SOURCE)
    records = await log.read(SOURCE, after, until=end, types=REGISTRY_TYPES,  # type: ignore[call-arg]
                             charge_point_id=REGISTRY_KEY)
    registry = _fold(registry or Registry(), [r.event for r in records])
    return registry, after.merged(end)


def _fold(registry: Registry, events: list[Event]) -> Registry:
    """Fold ``events``; one whose payload is not a valid record is skipped with a warning
    (it cannot have come through :func:`apply_registry_changes`, which folds before
    appending), so a bad event never stops the registry from loading."""
    try:
        return registry.apply_all(events)
    except (ValidationError, KeyError, TypeError):
        for event in events:
            try:
                registry = registry.apply(event)
            except (ValidationError, KeyError, TypeError) as exc:
                logger.warning("skipping invalid registry event %s (%s): %s", event.eventId, event.type, exc)
        return registry


def _unchanged_password(event: Event, current: Registry, passwords: dict[str, str]) -> bool:
    """A file's plain-text password that the current hash already verifies."""
    cp_id = str(event.payload.get("chargePointId"))
    info = current.charge_point(cp_id)
    return (event.type == PASSWORD_SET and cp_id in passwords and info is not None
            and info.passwordHash is not None and verify_password(passwords[cp_id], info.passwordHash))


async def apply_registry_changes(
    log: EventLog, events: Sequence[Event], current: Registry | None = None,
) -> list[Event]:
    """Append (in one batch, to ``source``) only those of ``events`` that change the
    registry — the current one read from ``log`` unless ``current`` is given — and return
    them. Applying the same file twice appends nothing the second time. A file's
    plain-text passwords (``RegistryFileEvents.passwords``) count as unchanged when the
    current hash verifies them."""
    if current is None:
        current, _ = await read_registry(log)
    passwords: dict[str, str] = getattr(events, "passwords", {})
    changes: list[Event] = []
    for event in events:
        if _unchanged_password(event, current, passwords):
            continue
        after = current.apply(event)
        if after != current:
            changes.append(event)
            current = after
    await log.append(SOURCE, changes)
    return changes


async def apply_registry_file(log: EventLog, path: str | Path) -> list[Event]:
    """:func:`load_registry_file` then :func:`apply_registry_changes` against the registry
    on the log; returns the events appended. Raises ``RegistryFileError``."""
    current, _ = await read_registry(log)
    return await apply_registry_changes(log, load_registry_file(path, current), current)
