"""Configuration (pydantic-settings): flags, ``CHARGELOG_*`` environment variables and an
optional TOML/JSON file named by ``CHARGELOG_CONFIG``."""

from .settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
