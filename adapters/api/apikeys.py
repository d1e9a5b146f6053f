"""API keys for the client API (mobile-websocket-api.md section 2: ``auth`` with an
``apiKey`` and its ``scopes``).

Stored in ``{data_dir}/apikeys.sqlite``, one row per key: a public id (``key_…``, shown in
listings and recorded as the principal's key id), the owning ``userId``, the scopes, and the
SHA-256 of the key — never the key itself. A generated key carries 256 random bits, so a
plain hash is enough; a key given with ``--key`` is the operator's responsibility. Revoked
keys stay listed with their revocation time and no longer authenticate.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .auth import parse_scopes
from .caller import Caller, CoreError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apikeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


@dataclass(frozen=True)
class ApiKey:
    """One stored key (without its secret). Times are ISO 8601 UTC."""

    id: str
    userId: str
    scopes: frozenset[str]
    createdAt: str
    revokedAt: str | None = None

    @property
    def active(self) -> bool:
        return self.revokedAt is None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    """The key table. Methods are synchronous (one indexed SQLite statement each) and
    thread-safe."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / "apikeys.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def create(self, user_id: str, scopes: Iterable[str], key: str | None = None) -> tuple[ApiKey, str]:
        """A new key for ``user_id`` → (the stored record, the key secret — shown once).
        Raises ``ValueError`` for an unknown scope, an empty user or a key already stored."""
        if not user_id:
            raise ValueError("a key needs a user id")
        scope_set = parse_scopes(list(scopes))
        secret = key or f"clk_{secrets.token_urlsafe(32)}"
        record = ApiKey(id=f"key_{secrets.token_hex(6)}", userId=user_id, scopes=scope_set,
                        createdAt=datetime.now(UTC).isoformat())
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO apikeys (id, user_id, scopes, key_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                    (record.id, user_id, " ".join(sorted(scope_set)), _digest(secret), record.createdAt))
        except sqlite3.IntegrityError:
            raise ValueError("that key is already stored") from None
        return record, secret

    def list(self) -> list[ApiKey]:
        """Every key, oldest first (revoked ones included)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, user_id, scopes, created_at, revoked_at FROM apikeys ORDER BY created_at, id").fetchall()
        return [ApiKey(r[0], r[1], frozenset(r[2].split()), r[3], r[4]) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke by public id; False when no active key has that id."""
        with self._lock:
            cur = self._db.execute("UPDATE apikeys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                                   (datetime.now(UTC).isoformat(), key_id))
        return cur.rowcount == 1

    def authenticate(self, key: str) -> Caller:
        """The caller a key belongs to. Raises :class:`CoreError` ``unauthorized`` ("Invalid
        apiKey", mobile-websocket-api.md section 2.3) for an unknown or revoked key."""
        if not isinstance(key, str) or not key:
            raise CoreError("unauthorized", "Invalid apiKey")
        try:
            digest = _digest(key)
        except UnicodeEncodeError:  # a lone surrogate: no stored key can match
            raise CoreError("unauthorized", "Invalid apiKey") from None
        with self._lock:
            row = self._db.execute(
                "SELECT id, user_id, scopes FROM apikeys WHERE key_sha256 = ? AND revoked_at IS NULL",
                (digest,)).fetchone()
        if row is None:
            raise CoreError("unauthorized", "Invalid apiKey")
        return Caller(userId=row[1], scopes=frozenset(row[2].split()), via="apikey", keyId=row[0])
