"""The HS256 secret of the client API's JWTs: the configured ``Settings.jwt_secret``, else a
random 256-bit secret kept in ``{data_dir}/jwt-secret`` (created with mode 0600 on first use,
by ``chargelog serve`` or any CLI command that signs tokens), so no two installations share a
secret and the CLI signs with the server's (DESIGN.md, "Security": no shared default secret).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .settings import MIN_SECRET_BYTES, Settings

#: File name of the generated secret under the data directory.
SECRET_FILE = "jwt-secret"


def secret_path(settings: Settings) -> Path:
    """Where the generated secret lives: ``{data_dir}/jwt-secret``."""
    return Path(settings.data_dir) / SECRET_FILE


def jwt_secret(settings: Settings) -> str:
    """The configured secret, else the generated one (created now when missing: 32 random
    bytes, URL-safe base64, file mode 0600, written exclusively so concurrent first starts
    agree). Raises ``ValueError`` when the stored file holds fewer than 32 bytes and
    ``OSError`` when the data directory is not writable."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = secret_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text().strip()
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"{path} holds fewer than {MIN_SECRET_BYTES} bytes; delete it to generate a new one") from None
        return value
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def secret_source(settings: Settings) -> str:
    """Where the secret comes from, for the startup banner: ``CHARGELOG_JWT_SECRET`` or the
    file path (never the secret)."""
    if settings.jwt_algorithm == "RS256":
        return f"RS256 public key {settings.jwt_public_key}"
    return "configured (CHARGELOG_JWT_SECRET)" if settings.jwt_secret else str(secret_path(settings).resolve())
