"""Registry files: sites, charge points, id tags and tariffs in TOML or JSON (example: examples/registry.toml; reference: docs/registry.md).

Top-level keys, each a list of tables whose fields are those of the records in
:mod:`chargelog.domain.registry`: ``tariffs``, ``sites``, ``chargePoints``, ``idTags``.
A site may nest its charge points (``[[sites.chargePoints]]``, their ``siteId`` is implied)
and lists ``chargePointIds``; a charge point may carry ``password`` (plain text, hashed here)
or ``passwordHash`` (from ``chargelog registry hash-password``).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from chargelog.domain.envelope import Event
from chargelog.domain.registry import (
    ChargePointInfo, IdTag, Registry, Site, Tariff, charge_point_upserted, hash_password,
    id_tag_upserted, password_salt, password_set, site_upserted, tariff_upserted,
)

M = TypeVar("M", bound=BaseModel)

_SECTIONS = ("tariffs", "sites", "chargePoints", "idTags")


class RegistryFileError(ValueError):
    """A registry file that cannot be read or holds an invalid entry; the message is one
    line naming the file and the entry (e.g. ``registry.toml: idTags[2].idTag: …``)."""


class RegistryFileEvents(list[Event]):
    """The events of a registry file, in order. ``passwords`` keeps the plain-text passwords
    the file gave (chargePointId → password) in memory only, so that
    :func:`~chargelog.adapters.registry.changes.apply_registry_changes` can tell an unchanged
    password from a new one although each hash has a fresh salt."""

    passwords: dict[str, str]

    def __init__(self, events: list[Event], passwords: dict[str, str]) -> None:
        super().__init__(events)
        self.passwords = passwords


def _parse(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RegistryFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryFileError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'}: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryFileError(f"{path}: the top level must be a table/object")
    unknown = set(data) - set(_SECTIONS)
    if unknown:
        raise RegistryFileError(f"{path}: unknown section(s) {sorted(unknown)}; expected {list(_SECTIONS)}")
    return data


def _entries(path: Path, data: dict[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
    items = data.get(section, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RegistryFileError(f"{path}: {section} must be a list of tables/objects")
    return [(f"{section}[{i}]", dict(item)) for i, item in enumerate(items)]


def _record(path: Path, where: str, model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(part) for part in err["loc"])
        raise RegistryFileError(f"{path}: {where}{'.' + loc if loc else ''}: {err['msg']}") from None


def load_registry_file(path: str | Path, current: Registry | None = None) -> RegistryFileEvents:
    """Upsert events for every record in the file at ``path`` (``.json`` is JSON, anything
    else TOML), in the order tariffs, sites, charge points (with password events), id tags.

    A plain-text ``password`` is hashed with the salt of ``current``'s hash for that charge
    point when there is one (so an unchanged password gives an identical event), else with a
    fresh salt. Raises :class:`RegistryFileError` for an unreadable file or invalid entry."""
    path = Path(path)
    data = _parse(path)
    events: list[Event] = []
    passwords: dict[str, str] = {}
    events += [tariff_upserted(_record(path, w, Tariff, f)) for w, f in _entries(path, data, "tariffs")]

    charge_points = _entries(path, data, "chargePoints")
    for where, fields in _entries(path, data, "sites"):
        nested = fields.pop("chargePoints", [])
        if not isinstance(nested, list) or not all(isinstance(n, dict) for n in nested):
            raise RegistryFileError(f"{path}: {where}.chargePoints must be a list of tables/objects")
        site_id = fields.get("siteId")
        nested_ids = [n.get("chargePointId") for n in nested if isinstance(n.get("chargePointId"), str)]
        listed = list(fields.get("chargePointIds", []))
        fields["chargePointIds"] = list(dict.fromkeys(listed + nested_ids))
        events.append(site_upserted(_record(path, where, Site, fields)))
        charge_points += [(f"{where}.chargePoints[{i}]", {"siteId": site_id, **n}) for i, n in enumerate(nested)]

    for where, fields in charge_points:
        password = fields.pop("password", None)
        password_hash = fields.pop("passwordHash", None)
        info = _record(path, where, ChargePointInfo, fields)
        events.append(charge_point_upserted(info))
        if password is not None:
            if not isinstance(password, str) or not password:
                raise RegistryFileError(f"{path}: {where}.password: must be a non-empty string")
            old = current.charge_point(info.chargePointId) if current else None
            salt = password_salt(old.passwordHash) if old and old.passwordHash else None
            password_hash = hash_password(password, salt)
            passwords[info.chargePointId] = password
        if password_hash is not None:
            try:
                events.append(password_set(info.chargePointId, password_hash))
            except ValueError as exc:
                raise RegistryFileError(f"{path}: {where}.passwordHash: {exc}") from None

    events += [id_tag_upserted(_record(path, w, IdTag, f)) for w, f in _entries(path, data, "idTags")]
    return RegistryFileEvents(events, passwords)
