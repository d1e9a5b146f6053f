"""Registries on the log: sites, charge points, id tags, tariffs (docs/registry.md).
The pure model and fold are in :mod:`chargelog.domain.registry`."""

from __future__ import annotations

from .changes import apply_registry_changes, apply_registry_file, read_registry
from .file import RegistryFileError, RegistryFileEvents, load_registry_file
from .live import LiveRegistry

__all__ = [
    "LiveRegistry", "RegistryFileError", "RegistryFileEvents", "apply_registry_changes",
    "apply_registry_file", "load_registry_file", "read_registry",
]
